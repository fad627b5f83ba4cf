"""The four dataset variants built from the smoke cohort: layout, resume, and the way back to native."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from sclesion.data.bids import discover
from sclesion.core.errors import InputError
from sclesion.preprocessing.variants import (
    VARIANTS, build_variants, inverse_warp, plan_jobs, read_straightening, run_job, variant_root,
)
from sclesion.preprocessing.straightening.warp import warp_labels_back


@pytest.fixture(scope="module")
def built(smoke_bids, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    report = build_variants(smoke_bids, work, sites=("TUM",), n_jobs=1)
    return work, report


def _dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_every_tum_session_and_chunk_gets_each_variant(built, smoke_bids):
    work, report = built
    tum = discover(smoke_bids).query("site == 'TUM'")
    sessions = tum.groupby(["participant_id", "session"]).ngroups
    counts = report.groupby("variant").size().to_dict()
    assert counts == {"stitched_native": sessions, "chunks_straightened": len(tum), "stitched_straightened": sessions}
    assert (report["status"] == "built").all(), report[report["status"] != "built"]
    for variant in VARIANTS[1:]:
        table = discover(variant_root(variant, smoke_bids, work), require_labels=True)
        assert len(table) == counts[variant]
        if variant.startswith("stitched"):
            assert table["chunk"].isna().all()


def test_variant_masks_are_binary_and_on_their_image_grid(built, smoke_bids):
    work, _ = built
    for variant in VARIANTS[1:]:
        row = discover(variant_root(variant, smoke_bids, work), require_labels=True).iloc[0]
        image = nib.load(row["image"])
        for kind in ("cord", "lesion"):
            mask = nib.load(row[kind])
            assert mask.shape == image.shape and np.allclose(mask.affine, image.affine, atol=1e-3)
            assert set(np.unique(np.asanyarray(mask.dataobj))) <= {0, 1}


def test_stitched_image_covers_every_chunk_voxel(built, smoke_bids):
    work, _ = built
    chunks = discover(smoke_bids).query("site == 'TUM'")
    subject, session = chunks.iloc[0][["participant_id", "session"]]
    stitched = discover(variant_root("stitched_native", smoke_bids, work)).set_index(["participant_id", "session"])
    img = nib.load(stitched.loc[(subject, session), "image"])
    to_voxels = np.linalg.inv(img.affine)
    for path in chunks.query("participant_id == @subject and session == @session")["image"]:
        chunk = nib.load(path)
        corners = np.array(np.meshgrid(*[[0, n - 1] for n in chunk.shape], indexing="ij")).reshape(3, -1).T
        inside = nib.affines.apply_affine(to_voxels @ chunk.affine, corners)
        assert (inside >= -0.5 - 1e-3).all() and (inside <= np.array(img.shape) - 0.5 + 1e-3).all(), path


def test_straightened_labels_return_to_native_with_the_stored_field(built, smoke_bids):
    work, _ = built
    root = variant_root("chunks_straightened", smoke_bids, work)
    row = discover(root, require_labels=True).iloc[0]
    field, native_path = inverse_warp(row["image"])
    native = nib.load(native_path)
    cord, lesion = nib.load(row["cord"]).get_fdata(), nib.load(row["lesion"]).get_fdata()
    regions = nib.Nifti1Image(np.maximum(cord, 2 * lesion).astype(np.uint8), nib.load(row["cord"]).affine)
    back = warp_labels_back(regions, nib.load(field), native)
    native_row = discover(smoke_bids).set_index("image").loc[native_path]
    truth = nib.load(native_row["cord"]).get_fdata() > 0.5
    assert back.shape == native.shape
    assert _dice(np.asanyarray(back.dataobj) > 0, truth) > 0.9


def test_rerun_skips_finished_outputs_and_resumes_an_interrupted_job(built, smoke_bids):
    work, _ = built
    again = build_variants(smoke_bids, work, sites=("TUM",))
    assert (again["status"] == "skipped").all()
    dataset = discover(smoke_bids).query("site == 'TUM'")
    job = next(j for j in plan_jobs(dataset, smoke_bids, work, VARIANTS) if j.variant == "chunks_straightened")
    image_mtime = job.out_image.stat().st_mtime_ns
    job.marker.unlink()  # as if interrupted before the last file was written
    assert run_job(job) == "built"
    assert job.marker.exists() and job.out_image.stat().st_mtime_ns >= image_mtime


def test_missing_inverse_field_is_named(built, smoke_bids):
    work, _ = built
    row = discover(variant_root("stitched_native", smoke_bids, work)).iloc[0]
    with pytest.raises(InputError, match="no inverse warping field"):
        inverse_warp(row["image"])


def test_unknown_variant_and_site_are_refused(smoke_bids, tmp_path):
    with pytest.raises(InputError, match="unknown dataset variants"):
        build_variants(smoke_bids, tmp_path, variants=("stitched_curved",))
    with pytest.raises(InputError, match="no image of the sites"):
        build_variants(smoke_bids, tmp_path, sites=("MARS",))


def test_read_straightening_gives_the_variants_own_fields_and_masks(built, smoke_bids):
    work, _ = built
    row = discover(variant_root("chunks_straightened", smoke_bids, work), require_labels=True).iloc[0]
    _, native_path = inverse_warp(row["image"])
    native_row = discover(smoke_bids).set_index("image").loc[native_path]
    st = read_straightening(row["image"], native_row["cord"])
    assert st.image.shape == nib.load(row["image"]).shape
    warped = np.asanyarray(st.to_straight(nib.load(native_row["cord"]), interp="linear", threshold=0.5).dataobj) > 0
    stored = np.asanyarray(nib.load(row["cord"]).dataobj) > 0
    assert np.count_nonzero(warped != stored) <= 2  # the very mask the variant wrote
