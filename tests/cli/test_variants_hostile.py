"""`sclesion variants` against hostile input: uncompressed datasets, bad options, stale outputs, bad images."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.provenance import record_path


@pytest.fixture(scope="module")
def plain_bids(smoke_bids, tmp_path_factory):
    """One TUM subject of the smoke cohort with every image and label stored uncompressed (.nii)."""
    root = tmp_path_factory.mktemp("plain") / "bids"
    subject = "sub-tum001"
    for path in [*smoke_bids.glob(f"{subject}/**/*.nii.gz"),
                 *smoke_bids.glob(f"derivatives/labels/{subject}/**/*.nii.gz")]:
        target = root / path.relative_to(smoke_bids)
        target = target.with_name(target.name[: -len(".gz")])
        target.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.load(path), target)
    rows = [line for line in (smoke_bids / "participants.tsv").read_text().splitlines()
            if line.startswith(("participant_id", subject))]
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_an_uncompressed_dataset_gives_every_variant(cli, h, plain_bids, tmp_path):
    before = h.digests(plain_bids)
    work = tmp_path / "work"
    result = cli("variants", plain_bids, "-o", work, "--variant", "stitched_straightened", "--fov-mm", "10")
    assert result.status == 0, result.err
    stitched = sorted((work / "variants" / "stitched_straightened").glob("sub-*/ses-*/anat/*_T2w.nii"))
    assert len(stitched) == 2  # the subject's two sessions
    labels = work / "variants" / "stitched_native" / "derivatives" / "labels"
    assert sorted(p.name for p in labels.rglob("*_seg-manual.nii"))  # the stitched labels keep .nii
    again = cli("variants", plain_bids, "-o", work, "--variant", "stitched_straightened", "--fov-mm", "10")
    assert "built" not in again.out and "skipped" in again.out
    wider = cli("variants", plain_bids, "-o", work, "--variant", "stitched_straightened", "--fov-mm", "12")
    assert "built" in wider.out
    root = work / "variants" / "stitched_straightened"
    relative = stitched[0].parent.relative_to(root)
    stem = stitched[0].name[: -len(".nii")]
    field = nib.load(root / "derivatives" / "warps" / relative / f"{stem}_from-native_to-straight_xfm.nii.gz")
    cord = nib.load(root / "derivatives" / "labels" / relative / f"{stem}_seg-manual.nii.gz")
    assert nib.load(stitched[0]).shape == field.shape[:3] == cord.shape  # one set, one run
    assert field.shape[:2] == (17, 17)  # 12 mm / 1.6 mm -> 8 voxels each side of the centre
    assert record_path(stitched[0]).is_file()
    assert h.digests(plain_bids) == before


@pytest.mark.parametrize("option", ["--jobs=0", "--jobs=-1", "--fov-mm=nan", "--fov-mm=0", "--fov-mm=1e6"])
def test_out_of_range_options_are_refused(cli, h, plain_bids, tmp_path, option):
    h.refused(cli("variants", plain_bids, "-o", tmp_path / "work", option), option.split("=")[0])
    assert not (tmp_path / "work").exists()


def test_an_unwritable_work_folder_is_one_line(cli, h, plain_bids, tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    h.refused(cli("variants", plain_bids, "-o", blocker / "work"), str(blocker), "is a file")


def test_help_names_the_three_variants_it_builds(cli):
    text = cli("variants", "--help").out
    assert "Build three" in text and "{stitched_native,chunks_straightened,stitched_straightened}" in text
    for variant in ("stitched_native", "chunks_straightened", "stitched_straightened"):
        assert variant in text
    assert np.all([word in text for word in ("reads:", "writes:", "example", "rerun:")])
