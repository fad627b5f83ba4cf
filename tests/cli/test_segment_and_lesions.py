"""``sclesion lesions`` and ``sclesion segment`` on bad input: one line, exit 2, nothing written.

(``sclesion segment`` with a trained model is tested in tests/nnunet/test_pipeline.py.)
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.cli.main import main


def _masks(folder):
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    cord = np.zeros((20, 20, 10), np.uint8)
    cord[6:14, 6:14, :] = 1
    lesion = np.zeros_like(cord)
    lesion[8:11, 8:11, 2:5] = 1
    lesion[9:12, 9:12, 7] = 1
    nib.save(nib.Nifti1Image(cord, affine), folder / "sub-a_chunk-1_T2w_sc_seg.nii.gz")
    nib.save(nib.Nifti1Image(lesion, affine), folder / "sub-a_chunk-1_T2w_lesion_seg.nii.gz")
    return folder / "sub-a_chunk-1_T2w_lesion_seg.nii.gz", folder / "sub-a_chunk-1_T2w_sc_seg.nii.gz"


def test_lesions_writes_one_row_per_lesion_with_units(tmp_path, capsys):
    lesion, cord = _masks(tmp_path)
    out = tmp_path / "lesions.tsv"
    assert main(["lesions", "-l", str(lesion), "-s", str(cord), "-o", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert len(table) == 2 and sorted(table["volume_mm3"]) == [9 * 0.75, 27 * 0.75]
    assert {"length_mm", "max_equivalent_diameter_mm", "centroid_x_mm"} <= set(table.columns)
    assert table["region"].tolist() == ["cervical"] * 2
    assert "2 lesion(s)" in capsys.readouterr().out


def test_lesions_refuses_masks_on_other_grids_in_one_line(tmp_path, capsys):
    lesion, cord = _masks(tmp_path)
    nib.save(nib.Nifti1Image(np.zeros((20, 20, 11), np.uint8), np.eye(4)), cord)
    out = tmp_path / "lesions.tsv"
    assert main(["lesions", "-l", str(lesion), "-s", str(cord), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shape" in err and "Traceback" not in err and not out.exists()


def test_segment_refuses_a_missing_input_or_model_in_one_line(tmp_path, capsys):
    lesion, _ = _masks(tmp_path)
    assert main(["segment", "-i", str(tmp_path / "nope.nii.gz"), "-m", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["segment", "-i", str(lesion), "-m", str(tmp_path / "model"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "model folder not found" in err and err.count("\n") == 1
    (tmp_path / "model").mkdir()
    assert main(["segment", "-i", str(lesion), "-m", str(tmp_path / "model"), "-o", str(tmp_path / "o")]) == 2
    assert "no plans.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["segment", "-i", str(lesion), "-m", str(tmp_path / "model"), "-o", str(tmp_path / "o"), "--jobs", "0"])
    assert refused.value.code == 2
    assert "argument --jobs: must be a whole number >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
