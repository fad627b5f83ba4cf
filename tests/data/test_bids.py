"""sclesion.data.bids: entity parsing, discovery with and without sessions/chunks, and check()."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.cli.main import main
from sclesion.data.bids import COLUMNS, check, discover, label_path, missing_labels, parse_entities
from sclesion.core.errors import InputError

SHAPE = (4, 4, 3)


def write_image(path: Path, data=None, affine=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.ones(SHAPE, np.float32) if data is None else data
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)
    return path


def add_image(root: Path, sub: str, ses: str | None, chunk: int | None, labels=("cord", "lesion")) -> Path:
    """Write one image (and the chosen labels) at the data contract's paths."""
    parts = [f"sub-{sub}"] + ([f"ses-{ses}"] if ses else []) + ["acq-ax"] + ([f"chunk-{chunk}"] if chunk else [])
    stem = "_".join(parts) + "_T2w"
    folder = Path(f"sub-{sub}") / (f"ses-{ses}" if ses else "") / "anat"
    image = write_image(root / folder / f"{stem}.nii.gz")
    suffixes = {"cord": "seg-manual", "lesion": "lesion-manual"}
    for kind in labels:
        write_image(root / "derivatives/labels" / folder / f"{stem}_{suffixes[kind]}.nii.gz", np.zeros(SHAPE, np.uint8))
    return image


def participants(root: Path, rows: dict[str, str]) -> None:
    lines = ["participant_id\tsite"] + [f"{p}\t{s}" for p, s in rows.items()]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def chunked(tmp_path):
    """Two subjects x sessions x chunks, as in the data contract."""
    root = tmp_path / "bids"
    for ses in ("20200101", "20210101"):
        for chunk in (1, 2, 3):
            add_image(root, "tum001", ses, chunk)
    add_image(root, "nyu001", "20190505", 1)
    participants(root, {"sub-tum001": "TUM", "sub-nyu001": "NYU"})
    return root


def test_parse_entities_of_image_and_label_names():
    assert parse_entities("sub-tum001_ses-20200101_acq-ax_chunk-2_T2w.nii.gz") == {
        "sub": "tum001",
        "ses": "20200101",
        "acq": "ax",
        "chunk": "2",
        "suffix": "T2w",
        "extension": ".nii.gz",
    }
    label = parse_entities(Path("/x/y/sub-a_acq-ax_T2w_lesion-manual.nii.gz"))
    assert label["sub"] == "a" and label["lesion"] == "manual" and label["suffix"] == "T2w"
    assert "chunk" not in label and "ses" not in label


@pytest.mark.parametrize(
    "name, problem",
    [
        ("ses-1_sub-a_T2w.nii.gz", "must start with sub-"),
        ("sub-a_ses-1.nii.gz", "no suffix"),
        ("sub-a_sub-b_T2w.nii", "'sub' appears twice"),
        ("sub-a_chunk-1-2_T2w.nii.gz", "malformed part 'chunk-1-2'"),
    ],
)
def test_parse_entities_rejects_non_bids_names(name, problem):
    with pytest.raises(InputError, match=problem) as err:
        parse_entities(name)
    assert str(err.value).startswith(name)


def test_discover_chunked_dataset_with_sessions(chunked):
    table = discover(chunked, require_labels=True)
    assert list(table.columns) == COLUMNS
    assert len(table) == 7
    assert table["participant_id"].tolist() == ["sub-nyu001"] + ["sub-tum001"] * 6
    assert table["session"].tolist()[:4] == ["ses-20190505", "ses-20200101", "ses-20200101", "ses-20200101"]
    assert table["chunk"].dtype == "Int64"
    assert table["chunk"].tolist() == [1, 1, 2, 3, 1, 2, 3]
    assert table["site"].tolist() == ["NYU"] + ["TUM"] * 6
    assert set(table["acq"]) == {"ax"}
    row = table.iloc[2]
    assert row["image"].name == "sub-tum001_ses-20200101_acq-ax_chunk-2_T2w.nii.gz"
    assert row["cord"] == chunked / (
        "derivatives/labels/sub-tum001/ses-20200101/anat/sub-tum001_ses-20200101_acq-ax_chunk-2_T2w_seg-manual.nii.gz"
    )
    assert row["lesion"].name.endswith("_chunk-2_T2w_lesion-manual.nii.gz")


def test_discover_without_sessions_chunks_or_participants(tmp_path):
    root = tmp_path / "bids"
    add_image(root, "01", None, None)
    add_image(root, "02", None, None)
    table = discover(root)
    assert table["participant_id"].tolist() == ["sub-01", "sub-02"]
    assert table["session"].isna().all()
    assert table["chunk"].isna().all()
    assert table["site"].isna().all()
    assert table["cord"].iloc[0] == root / "derivatives/labels/sub-01/anat/sub-01_acq-ax_T2w_seg-manual.nii.gz"


def test_discover_mixes_chunked_and_stitched_images(tmp_path):
    root = tmp_path / "bids"
    add_image(root, "a", "1", 2)
    add_image(root, "a", "1", None)  # a stitched image: no chunk entity
    table = discover(root)
    assert table["chunk"].isna().tolist() == [True, False]


def test_discover_skips_labels_sidecars_and_other_suffixes(chunked):
    anat = chunked / "sub-nyu001/ses-20190505/anat"
    (anat / "sub-nyu001_ses-20190505_acq-ax_chunk-1_T2w.json").write_text("{}")
    write_image(anat / "sub-nyu001_ses-20190505_T1w.nii.gz")
    write_image(anat / "sub-nyu001_ses-20190505_acq-sag_T2w.nii.gz")
    assert len(discover(chunked)) == 8  # + the sagittal T2w
    assert len(discover(chunked, acq="ax")) == 7


def test_missing_label_raises_when_required_and_is_listed_otherwise(tmp_path):
    root = tmp_path / "bids"
    add_image(root, "a", "1", 1)
    image = add_image(root, "a", "1", 2, labels=("cord",))
    expected = label_path(image, "lesion")
    with pytest.raises(InputError) as err:
        discover(root, require_labels=True)
    assert str(err.value) == f"{image}: no lesion label (expected {expected})"
    table = discover(root)
    assert table["lesion"].isna().tolist() == [False, True]
    assert missing_labels(table) == [f"{image}: no lesion label (expected {expected})"]


def test_file_in_wrong_folder_is_reported(tmp_path):
    root = tmp_path / "bids"
    write_image(root / "sub-a/ses-1/anat/sub-b_ses-1_T2w.nii.gz")
    with pytest.raises(InputError, match="file name says sub-b but it lies in folder sub-a"):
        discover(root)


def test_empty_dataset_is_reported(tmp_path):
    with pytest.raises(InputError, match="no \\*_T2w.nii.gz images found"):
        discover(tmp_path)
    with pytest.raises(InputError, match="BIDS root is not a folder"):
        discover(tmp_path / "nowhere")


def test_check_reports_every_problem_and_goes_on(chunked):
    assert check(chunked, progress=False) == []
    labels = chunked / "derivatives/labels/sub-tum001/ses-20200101/anat"
    bad_shape = labels / "sub-tum001_ses-20200101_acq-ax_chunk-1_T2w_seg-manual.nii.gz"
    write_image(bad_shape, np.zeros((4, 4, 2), np.uint8))
    bad_values = labels / "sub-tum001_ses-20200101_acq-ax_chunk-2_T2w_lesion-manual.nii.gz"
    write_image(bad_values, np.full(SHAPE, 0.5, np.float32))
    nan_image = chunked / "sub-nyu001/ses-20190505/anat/sub-nyu001_ses-20190505_acq-ax_chunk-1_T2w.nii.gz"
    write_image(nan_image, np.full(SHAPE, np.nan, np.float32))
    missing = labels / "sub-tum001_ses-20200101_acq-ax_chunk-3_T2w_lesion-manual.nii.gz"
    missing.unlink()
    problems = check(chunked, progress=False)
    assert len(problems) == 4
    assert f"{bad_shape}: shape (4, 4, 2) differs from the image's shape (4, 4, 3)" in problems
    assert f"{bad_values}: mask is not binary (values 0.5)" in problems
    assert f"{nan_image}: 48 non-finite voxel values (48 NaN, 0 infinite)" in problems
    assert any(line.endswith(f"no lesion label (expected {missing})") for line in problems)
    assert len(check(chunked, require_labels=False, progress=False)) == 3


def test_check_reports_subject_missing_from_participants(chunked):
    participants(chunked, {"sub-tum001": "TUM"})
    assert check(chunked, progress=False) == [f"{chunked / 'participants.tsv'}: no row for sub-nyu001"]


def test_check_cli_exit_status_and_output(chunked, capsys):
    assert main(["check", str(chunked), "--quiet"]) == 0
    assert "7 images of 2 subjects checked: no problems" in capsys.readouterr().out
    write_image(chunked / "sub-nyu001/ses-20190505/anat/sub-nyu001_ses-20190505_acq-ax_chunk-1_T2w.nii.gz",
                np.zeros((4, 4, 3, 2), np.float32))
    assert main(["check", str(chunked), "--quiet"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("chunk-1_T2w.nii.gz: image is 4D with shape (4, 4, 3, 2); expected a 3D volume")
    assert out[-1].endswith("1 problem(s)")


def test_check_cli_on_missing_root_is_an_input_error(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert "BIDS root is not a folder" in capsys.readouterr().err


def test_participants_tsv_without_participant_id_is_reported(chunked):
    (chunked / "participants.tsv").write_text("id\tsite\nsub-a\tTUM\n")
    with pytest.raises(InputError, match="participants.tsv: no participant_id column"):
        discover(chunked)


def test_session_column_is_missing_value_not_string(tmp_path):
    root = tmp_path / "bids"
    add_image(root, "01", None, 1)
    assert pd.isna(discover(root)["session"].iloc[0])
