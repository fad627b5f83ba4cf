"""sclesion.chapters.cohort: counts, acquisition table, lesion volumes and figures, on hand-made data and the
smoke cohort."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.chapters import cohort
from sclesion.data import acquisition, split
from sclesion.data import paper as paper_tables
from sclesion.evaluation import lesions
from sclesion.figures import distributions, flowchart, slices, widgets
from sclesion.data.bids import discover
from sclesion.data.split import attach_split


def save(path: Path, data, affine) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def test_component_volumes_use_6_connectivity_and_voxel_volume():
    mask = np.zeros((6, 6, 6), np.uint8)
    mask[1:3, 1:3, 1] = 1          # 4 voxels
    mask[3, 3, 2] = 1              # touches the block only by an edge/corner: its own component
    mask[5, 5, 5] = 1
    affine = np.diag([0.5, 0.5, 4.0, 1.0])  # 1 mm^3 voxels
    np.testing.assert_allclose(lesions.lesion_volumes_mm3(mask, affine), [4.0, 1.0, 1.0])
    assert lesions.lesion_volumes_mm3(np.zeros((3, 3, 3)), affine).size == 0


def images_table() -> pd.DataFrame:
    rows = [
        ("sub-tum001", "ses-1", 1, "TUM", "train"), ("sub-tum001", "ses-1", 2, "TUM", "train"),
        ("sub-tum001", "ses-2", 1, "TUM", "train"), ("sub-tum002", "ses-1", 1, "TUM", "test"),
        ("sub-nyu001", None, None, "NYU", "train"), ("sub-bwh001", "ses-1", 1, "BWH", "test"),
    ]
    table = pd.DataFrame(rows, columns=["participant_id", "session", "chunk", "site", "split"])
    table["image"] = [f"img{i}" for i in range(len(table))]
    return table


def test_count_table_counts_subjects_sessions_images_in_study_order():
    counts = cohort.count_table(images_table())
    assert counts.values.tolist() == [
        ["TUM", "train", 1, 2, 3],
        ["TUM", "test", 1, 1, 1],
        ["NYU", "train", 1, 1, 1],
        ["BWH", "test", 1, 1, 1],
    ]


def test_paper_counts_match_the_papers_text():
    paper = cohort.paper_counts().set_index(["site", "split"])
    assert paper.loc[("TUM", "train")].tolist() == [254, 508, 1522]
    assert paper.loc[("TUM", "test")].tolist() == [63, 126, 380]
    assert paper.loc[("NYU", "train"), "subjects"] == 153 and paper.loc[("NYU", "train"), "images"] == 209
    assert paper["subjects"].sum() == 582  # the abstract's total


def test_compare_counts_puts_paper_beside_ours():
    table = cohort.compare_counts(cohort.count_table(images_table()), cohort.paper_counts())
    tum_train = table[(table["site"] == "TUM") & (table["split"] == "train")].iloc[0]
    assert tum_train["subjects"] == 1 and tum_train["subjects (paper)"] == 254
    assert len(table) == 5  # UCSF test only in the paper


def test_flowchart_draws_every_site_and_split():
    fig = flowchart.plot_flowchart(cohort.count_table(images_table()), cohort.paper_counts())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("TUM\nn=2, nvol=4\npaper: n=317") for t in texts)
    assert any(t.startswith("training\nn=2, nvol=4") for t in texts)
    plt.close(fig)


def write_scan(root: Path, name: str, shape, zooms, sidecar: dict | None, lesion=None) -> Path:
    affine = np.diag([*zooms, 1.0])
    image = save(root / name, np.ones(shape, np.float32), affine)
    if sidecar is not None:
        image.with_name(name.split("/")[-1].replace(".nii.gz", ".json")).write_text(json.dumps(sidecar))
    return image


def test_acquisition_table_from_headers_and_sidecars(tmp_path):
    siemens = {"Manufacturer": "SIEMENS", "MagneticFieldStrength": 3, "RepetitionTime": 4.0, "EchoTime": 0.1}
    scans = [
        write_scan(tmp_path, "a.nii.gz", (30, 32, 10), (0.5, 0.5, 4.0), siemens),
        write_scan(tmp_path, "b.nii.gz", (40, 36, 12), (0.7, 0.6, 3.0), {**siemens, "RepetitionTime": 5.0}),
        write_scan(tmp_path, "c.nii.gz", (20, 20, 8), (0.9, 0.9, 5.0),
                   {"Manufacturer": "Philips Medical Systems", "MagneticFieldStrength": 1.5,
                    "RepetitionTime": 3.0, "EchoTime": 0.09}),
        write_scan(tmp_path, "d.nii.gz", (10, 10, 5), (1.0, 1.0, 6.0), None),
    ]
    dataset = pd.DataFrame({"participant_id": ["sub-1", "sub-2", "sub-3", "sub-4"], "session": [None] * 4,
                            "chunk": [1, 1, 2, None], "site": ["X", "X", "X", "Y"], "image": scans})
    records = acquisition.acquisition_records(dataset)
    assert records.loc[0, ["vox_rl_mm", "vox_pa_mm", "vox_is_mm", "nx", "ny", "nz"]].tolist() == [
        0.5, 0.5, 4.0, 30, 32, 10]
    assert records.loc[0, "tr_ms"] == 4000.0 and records.loc[0, "te_ms"] == 100.0
    table = cohort.acquisition_table(records)
    x = table[table["site"] == "X"].set_index("manufacturer_field")
    assert sorted(x.index) == ["Philips 1.5T", "Siemens 3T"]
    assert x.loc["Siemens 3T", ["n_scans", "tr_ms_median", "te_ms_median"]].tolist() == [2, 4500.0, 100.0]
    assert x.loc["Siemens 3T", "n_scans_site"] == 3
    assert x.loc["Siemens 3T", "res_min_mm"] == "0.5x0.5x3" and x.loc["Siemens 3T", "res_max_mm"] == "0.9x0.9x5"
    assert x.loc["Siemens 3T", "matrix_min"] == "20x20x8" and x.loc["Siemens 3T", "matrix_max"] == "40x36x12"
    y = table[table["site"] == "Y"].iloc[0]
    assert y["manufacturer_field"] == "unknown" and np.isnan(y["tr_ms_median"])


def test_acquisition_voxel_sizes_are_in_rpi_order_for_reoriented_storage(tmp_path):
    # stored with axes (I-S, R-L, P-A): voxel sizes must come back as (R-L, P-A, I-S)
    affine = np.array([[0, 0.5, 0, 0], [0, 0, 0.6, 0], [4.0, 0, 0, 0], [0, 0, 0, 1]], float)
    image = save(tmp_path / "x.nii.gz", np.zeros((10, 30, 32), np.float32), affine)
    records = acquisition.acquisition_records(pd.DataFrame({"participant_id": ["sub-1"], "session": [None],
                                                       "chunk": [None], "site": ["X"], "image": [image]}))
    assert records.loc[0, ["vox_rl_mm", "vox_pa_mm", "vox_is_mm", "nx", "ny", "nz"]].tolist() == [
        0.5, 0.6, 4.0, 30, 32, 10]


def test_compare_table1_aligns_scanner_rows():
    ours = pd.DataFrame({"site": ["TUM"], "n_scans_site": [6], "manufacturer_field": ["Philips 3T"], "n_scans": [6],
                         "tr_ms_median": [4435.0], "te_ms_median": [90.0], "res_min_mm": ["0.9x0.9x3"],
                         "res_max_mm": ["1.1x1.1x4.5"]})
    merged = cohort.compare_table1(ours, paper_tables.table1())
    row = merged[(merged["site"] == "TUM") & (merged["manufacturer_field"] == "Philips 3T")].iloc[0]
    assert row["n_scans"] == 6 and row["n_scans (paper)"] == 1687
    assert row["res_min_mm (paper)"] == "0.19x0.19x1.95"
    assert len(merged) == 8


def test_lesion_volumes_per_lesion_and_summary(tmp_path):
    affine = np.diag([0.5, 0.5, 4.0, 1.0])
    mask = np.zeros((8, 8, 4), np.uint8)
    mask[0:2, 0:2, 0] = 1   # 4 voxels -> 4 mm^3
    mask[5, 5, 2:4] = 1     # 2 voxels -> 2 mm^3
    lesion = save(tmp_path / "l.nii.gz", mask, affine)
    dataset = pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "session": ["ses-1", "ses-1"], "chunk": [1, 2],
                            "site": ["TUM", "TUM"], "split": ["train", "train"], "lesion": [lesion, None]})
    volumes = lesions.lesion_volumes(dataset, progress=False)
    assert volumes[["participant_id", "lesion_id", "volume_mm3"]].values.tolist() == [["sub-1", 1, 4.0],
                                                                                     ["sub-1", 2, 2.0]]
    summary = cohort.lesion_summary(volumes)
    assert summary[["site", "split", "lesions", "median_mm3", "max_mm3"]].values.tolist() == [
        ["TUM", "train", 2, 3.0, 4.0]]
    fig = distributions.plot_lesion_volumes(volumes)
    assert fig.axes[-1].get_xscale() == "log"
    plt.close(fig)


def test_sagittal_view_places_chunks_in_world_space_and_projects_lesions(tmp_path):
    """Two chunks stacked in z with a lesion off the mid-sagittal plane: the MIP must still show it."""
    shape = (9, 10, 6)
    rows = []
    for chunk, z0 in ((1, 20.0), (2, 0.0)):   # chunk 1 above chunk 2, 1 mm voxels, 6 slices each
        affine = np.eye(4)
        affine[:3, 3] = [-4.0, 0.0, z0]
        image = np.full(shape, float(chunk), np.float32)
        cord = np.zeros(shape, np.uint8)
        cord[4, 4:6, :] = 1                   # cord at world x = 0
        lesion = np.zeros(shape, np.uint8)
        if chunk == 2:
            lesion[1, 7, 3] = 1               # world (x, y, z) = (-3, 7, 3): off the plane x = 0
        paths = [save(tmp_path / f"{name}{chunk}.nii.gz", data, affine)
                 for name, data in (("img", image), ("cord", cord), ("lesion", lesion))]
        rows.append(tuple(paths))
    view = slices.sagittal_view(rows)
    assert view.x_mm == 0.0
    np.testing.assert_allclose(view.si_mm, np.arange(26.0))  # voxel centres from z = 0 to 25 mm
    np.testing.assert_allclose(view.ap_mm, np.arange(10.0))
    assert view.image.shape == (len(view.ap_mm), len(view.si_mm))
    lesion_points = np.argwhere(view.lesion_mip)
    assert len(lesion_points) == 1
    ap, si = lesion_points[0]
    assert abs(view.ap_mm[ap] - 7.0) <= 0.5 and abs(view.si_mm[si] - 3.0) <= 0.5
    gap = (view.si_mm > 6) & (view.si_mm < 19)   # between the chunks: no data
    assert np.isnan(view.image[:, gap]).all()
    assert np.nanmax(view.image) == 1.0
    fig = slices.plot_sagittal(view)
    plt.close(fig)


def test_axial_panel_picks_the_slice_with_most_lesion(tmp_path):
    volume = {"image": np.zeros((5, 6, 4), np.float32), "voxel_mm": np.array([0.5, 0.5, 3.0]),
              "cord": np.ones((5, 6, 4), np.uint8), "lesion": np.zeros((5, 6, 4), np.uint8)}
    volume["lesion"][2, 2, 1] = 1
    volume["lesion"][2:4, 2, 3] = 1
    assert slices.volume_slice(volume) == 3
    fig = slices.plot_axial(volume, title="x")
    assert fig.axes[0].get_title() == "x slice 3"
    plt.close(fig)


def test_site_order_puts_study_sites_first():
    assert split.site_order(["ZZZ", "UCSF", "TUM", "AAA", "TUM"]) == ["TUM", "UCSF", "AAA", "ZZZ"]


# --- on the smoke cohort (TUM 3 x 2 sessions x 3 chunks; NYU, BWH, UCSF 1 chunk each) --------------------


@pytest.fixture(scope="module")
def smoke_data(smoke_bids):
    from sclesion.core.paths import manifest_dir
    from sclesion.data.split import read_split

    return attach_split(discover(smoke_bids, require_labels=True), read_split(manifest_dir() / "splits/smoke.tsv"))


def test_smoke_counts(smoke_data):
    counts = cohort.count_table(smoke_data)
    assert counts.values.tolist() == [
        ["TUM", "train", 2, 4, 12],
        ["TUM", "test", 1, 2, 6],
        ["NYU", "train", 1, 1, 1],
        ["BWH", "test", 1, 1, 1],
        ["UCSF", "test", 1, 1, 1],
    ]


def test_smoke_acquisition_table(smoke_data):
    import yaml

    from sclesion.core.paths import manifest_dir

    records = acquisition.acquisition_records(smoke_data)
    assert len(records) == 21
    # the smoke cohort overrides every site's acquisition: 1.6 mm pixels, 5 mm slices, 35x35 matrices
    assert records[["vox_rl_mm", "vox_pa_mm", "vox_is_mm"]].drop_duplicates().values.tolist() == [[1.6, 1.6, 5.0]]
    assert set(records["nx"]) == {35} and set(records["ny"]) == {35}
    assert records[["tr_ms", "te_ms", "field_T"]].notna().all().all()
    table = cohort.acquisition_table(records)
    assert table.groupby("site")["n_scans"].sum().to_dict() == {"TUM": 18, "NYU": 1, "BWH": 1, "UCSF": 1}
    for site, rows in table.groupby("site"):
        spec = yaml.safe_load((manifest_dir() / "sites" / f"{site.lower()}.yml").read_text())
        allowed = {f"{s['manufacturer']} {s['field_T']:g}T" for s in spec["scanners"]}
        assert set(rows["manufacturer_field"]) <= allowed
    assert set(table["res_min_mm"]) == {"1.6x1.6x5"}


def test_smoke_lesion_volumes_are_whole_voxels(smoke_data):
    volumes = lesions.lesion_volumes(smoke_data, progress=False)
    assert len(volumes) > 0 and (volumes["volume_mm3"] > 0).all()
    voxel = 1.6 * 1.6 * 5.0
    np.testing.assert_allclose(volumes["volume_mm3"] / voxel, np.round(volumes["volume_mm3"] / voxel), atol=1e-4)
    assert set(volumes["split"]) == {"train", "test"}
    summary = cohort.lesion_summary(volumes)
    assert summary["lesions"].sum() == len(volumes)


def test_smoke_whole_spine_view_uses_the_ground_truth(smoke_data, smoke_bids):
    subject, session = "sub-tum001", smoke_data.loc[smoke_data["participant_id"] == "sub-tum001", "session"].iloc[0]
    sources, kind = cohort.session_volumes(smoke_data, smoke_bids, subject, session)
    assert kind == "ground truth" and len(sources) == 1
    view = slices.sagittal_view(sources)
    assert np.ptp(view.si_mm) > 400  # the whole spine, foramen magnum to conus (> 40 cm)
    assert np.isfinite(view.image).all()
    assert view.lesion_mip.any()  # smoke subjects all have lesions
    chunks, kind = cohort.session_volumes(smoke_data.assign(), smoke_bids / "nowhere", subject, session)
    assert kind == "chunks" and len(chunks) == 3
    chunk_view = slices.sagittal_view(chunks)
    assert np.isfinite(chunk_view.image).mean() > 0.5
    same, kind = cohort.session_volumes(smoke_data, smoke_bids, subject, session, truth=False)
    assert kind == "chunks" and [c[0] for c in same] == [c[0] for c in chunks]
    fig = slices.plot_sagittal([chunk_view, view], ["chunks", "truth"])
    assert [ax.get_title() for ax in fig.axes] == ["chunks", "truth"]
    plt.close(fig)


def test_slice_browser_follows_the_chosen_image(smoke_data):
    browser = widgets.slice_browser(smoke_data)
    (choose, slider), _ = browser.children[0].children, browser.children[1]
    assert len(choose.options) == len(smoke_data)
    last = len(smoke_data) - 1
    choose.value = last
    volume = slices.load_rpi(smoke_data.iloc[last])
    assert slider.max == volume["image"].shape[2] - 1
    assert slider.value == slices.volume_slice(volume)
    plt.close("all")


def test_smoke_key_numbers_and_the_session_shown(smoke_data, smoke_bids):
    from sclesion.core.paths import manifest_dir
    from sclesion.data.split import read_split

    numbers = cohort.key_numbers(smoke_data, read_split(manifest_dir() / "splits/smoke.tsv"))
    assert numbers.loc["TUM patients"].tolist() == ["3", "317"]
    assert numbers.loc["chunks per TUM session", "ours"] == "3"
    assert numbers.loc["scans in total", "ours"] == str(len(smoke_data))
    volumes = lesions.lesion_volumes(smoke_data, progress=False)
    subject, session = cohort.whole_spine_session(smoke_data, volumes)
    per_session = volumes.groupby(["participant_id", "session"]).size()
    assert per_session[(subject, session)] == per_session[[k for k in per_session.index
                                                           if k[0].startswith("sub-tum")]].max()
    fig = cohort.show_whole_spine(smoke_data, smoke_bids, subject, session)
    assert [ax.get_title() for ax in fig.axes] == ["3 chunk(s) in world space", "synthetic ground truth"]
    fig = cohort.show_axial(smoke_data, subject, session)
    assert fig.axes[0].get_title().startswith(f"{subject} {session} chunk 1 slice ")
    plt.close("all")


def test_smoke_viewer_works_offline_and_opens_on_the_largest_lesion(smoke_data):
    import re

    row = smoke_data[smoke_data["lesion"].notna() & smoke_data["participant_id"].str.startswith("sub-tum")].iloc[0]
    view = cohort.show_viewer(smoke_data, row["participant_id"], row["session"])
    page = view.get_standalone()
    assert not re.search(r"""(src|href)=["']?https?://""", page)  # every script inlined: no network needed
    assert row["participant_id"] in page  # the title names the image
