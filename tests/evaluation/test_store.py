"""sclesion.evaluation.store: each test set scored once, kept, and recomputed only when a prediction changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclesion.core.errors import InputError
from sclesion.evaluation import store
from sclesion.evaluation.evaluate import evaluate

from .test_evaluate import AFFINES, prediction, reference, save, stem


@pytest.fixture
def test_set(tmp_path):
    """Two subjects of three chunks each, predicted with chunk 1's second lesion missed."""
    bids, pred = tmp_path / "bids", tmp_path / "pred"
    for sub in ("a", "b"):
        for chunk in (1, 2, 3):
            cord, lesion = reference(chunk)
            labels = bids / "derivatives" / "labels" / f"sub-{sub}" / "ses-01" / "anat"
            save(labels / f"{stem(sub, chunk)}_seg-manual.nii.gz", cord, AFFINES[chunk])
            save(labels / f"{stem(sub, chunk)}_lesion-manual.nii.gz", lesion, AFFINES[chunk])
            save(pred / f"{stem(sub, chunk)}.nii.gz", prediction(chunk), AFFINES[chunk])
    return store.TestSet(method="chunks_native 2d", kind="model", site="TUM", predictions=pred, references=bids,
                         n_images=6, dataset="chunks_native", variant="chunks_native", configuration="2d", fold=0)


def test_parts_hold_the_evaluation_with_the_test_set_named(tmp_path, test_set):
    results = store.build([(test_set, "image"), (test_set, "session")], tmp_path / "work", progress=False)
    direct = evaluate(test_set.predictions, test_set.references, progress=False)
    image = results.metrics[results.metrics["scoring"] == "image"]
    assert len(image) == len(direct.metrics) == 12  # 6 chunks x 2 labels
    assert np.allclose(image["Dice"].to_numpy(float), direct.metrics["Dice"].to_numpy(float))
    session = results.metrics[results.metrics["scoring"] == "session"]
    assert len(session) == 4 and set(session["n_chunks"]) == {3}  # 2 sessions x 2 labels
    # Fig 4: per chunk recalls 1/2, 1, 1; stacked 3/4
    assert session.loc[session["label"] == "lesion", "SensL"].tolist() == [0.75, 0.75]
    assert set(results.metrics["method"]) == {"chunks_native 2d"} and set(results.metrics["fold"]) == {0}
    lesions = results.lesions
    assert len(lesions) == 8 and set(lesions["scoring"]) == {"image"}  # sessions add no lesion rows
    assert lesions["detected"].sum() == 6 and lesions["image"].str.contains("chunk-").all()
    metrics, stored_lesions = store.read(tmp_path / "work")
    assert len(metrics) == len(results.metrics) and len(stored_lesions) == len(lesions)


def test_a_second_build_evaluates_nothing_until_a_prediction_changes(tmp_path, test_set):
    parts = [(test_set, "image"), (test_set, "session")]
    first = store.build(parts, tmp_path / "work", progress=False)
    assert set(first.status["status"]) == {"evaluated"}
    again = store.build(parts, tmp_path / "work", progress=False)
    assert set(again.status["status"]) == {"kept"}
    pd.testing.assert_frame_equal(first.metrics.reset_index(drop=True), again.metrics.reset_index(drop=True),
                                  check_dtype=False)
    changed = prediction(2)
    changed[changed == 2] = 1  # the lesion of chunk 2 of subject b is no longer predicted
    save(test_set.predictions / f"{stem('b', 2)}.nii.gz", changed, AFFINES[2])
    third = store.build(parts, tmp_path / "work", progress=False)
    assert set(third.status["status"]) == {"evaluated"}
    assert third.lesions["detected"].sum() == 5


def test_an_unpaired_image_is_one_line_and_leaves_no_part(tmp_path, test_set):
    (test_set.predictions / f"{stem('b', 3)}.nii.gz").unlink()
    with pytest.raises(InputError, match="1 problem.*chunk-3: no prediction"):
        store.score_part(test_set, "image", tmp_path / "work")
    for chunk in (1, 2):  # a whole subject missing: its references are skipped, the count says it
        (test_set.predictions / f"{stem('b', chunk)}.nii.gz").unlink()
    with pytest.raises(InputError, match="3 of the 6 test images"):
        store.score_part(test_set, "image", tmp_path / "work")
    assert not (store.part_dir(tmp_path / "work", test_set, "image") / "metrics.tsv").exists()
    with pytest.raises(InputError, match="scoring must be one of"):
        store.score_part(test_set, "chunks", tmp_path / "work")


def test_reading_before_building_says_what_to_do(tmp_path):
    with pytest.raises(InputError, match="no results yet"):
        store.read(tmp_path)


def test_builds_of_other_test_sets_add_to_the_stored_tables(tmp_path, test_set):
    from dataclasses import replace

    store.build([(test_set, "image")], tmp_path / "work", progress=False)
    other = replace(test_set, method="cord segmentation (stand-in)", kind="stand-in", dataset="", variant="",
                    configuration="", fold=-1)
    store.build([(other, "image")], tmp_path / "work", progress=False)
    metrics, lesions = store.read(tmp_path / "work")
    assert metrics.groupby("method").size().to_dict() == {"chunks_native 2d": 12, "cord segmentation (stand-in)": 12}
    assert set(lesions["method"]) == {"chunks_native 2d", "cord segmentation (stand-in)"}
