"""Chapter 03's measures of the straightening, on the smoke cohort."""

from __future__ import annotations

import pandas as pd

from sclesion.chapters import straightening as chapter


def test_straightening_measures_are_the_same_in_worker_processes(smoke_bids, tmp_path):
    _, chunks, stitched = chapter.load_straightened(smoke_bids, tmp_path, fov_mm=35.0, n_jobs=1)
    chunks, stitched = chunks.head(2), stitched.head(1)
    serial = chapter.assess(chunks, stitched, smoke_bids, synthetic=True, n_jobs=1)
    parallel = chapter.assess(chunks, stitched, smoke_bids, synthetic=True, n_jobs=2)
    pd.testing.assert_frame_equal(serial[0], parallel[0])
    pd.testing.assert_frame_equal(serial[1], parallel[1])
    summary = serial[0]
    assert summary["image"].tolist() == [f"chunk {int(c)}" for c in chunks["chunk"]] + ["stitched"]
    assert summary["participant_id"].tolist() == chunks["participant_id"].tolist() + stitched["participant_id"].tolist()
    assert (summary["centerline_error_vox"] >= 0).all() and summary["voxel_mm"].gt(0).all()
