"""sclesion.evaluation.stacking: paper Algorithm 1 and its Fig 4 toy example."""

from __future__ import annotations

import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.evaluation.metrics import compute_metrics
from sclesion.evaluation.stacking import pad_to_shape, stack_chunks, stack_pair


def test_pad_at_the_end_of_each_axis():
    padded = pad_to_shape(np.ones((2, 1, 1), np.uint8), (3, 2, 2))
    assert padded.shape == (3, 2, 2)
    assert padded[:2, :1, :1].all() and padded.sum() == 2
    with pytest.raises(InputError, match="cannot pad shape"):
        pad_to_shape(np.ones((4, 1, 1)), (3, 2, 2))


def test_chunks_sorted_padded_to_per_axis_maximum_and_concatenated_along_axis_2():
    chunks = {3: np.full((5, 5, 4), 3), 1: np.full((4, 5, 3), 1), 2: np.full((6, 4, 2), 2)}
    stacked = stack_chunks(chunks)
    assert stacked.shape == (6, 5, 12)  # max shape (6, 5, 4), three chunks along axis 2
    assert (stacked[:4, :5, 0:3] == 1).all() and stacked[:, :, 0:4].sum() == 4 * 5 * 3
    assert (stacked[:6, :4, 4:6] == 2).all() and stacked[:, :, 4:8].sum() == 2 * 6 * 4 * 2
    assert (stacked[:5, :5, 8:12] == 3).all() and stacked[:, :, 8:12].sum() == 3 * 5 * 5 * 4


def fig4_session():
    """Paper Fig 4: chunk 1 holds two reference lesions (one predicted), chunks 2 and 3 one each (predicted)."""
    ref, pred = {}, {}
    for number, shape in ((1, (8, 8, 6)), (2, (8, 8, 5)), (3, (7, 8, 6))):
        ref[number], pred[number] = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
        ref[number][2:4, 2:4, 2:4] = 1
        pred[number][2:4, 2:4, 2:4] = 1
    ref[1][5:7, 5:7, 2:4] = 1  # the missed lesion
    return pred, ref


def test_fig4_recall_chunk_average_vs_stacked():
    pred, ref = fig4_session()
    recalls = [compute_metrics(pred[k], ref[k])["SensL"] for k in (1, 2, 3)]
    assert recalls == [0.5, 1.0, 1.0]
    assert np.mean(recalls) == pytest.approx(0.833, abs=5e-4)
    stacked_pred, stacked_ref = stack_pair(pred, ref, "sub-a_ses-1")
    assert stacked_pred.shape == stacked_ref.shape == (8, 8, 18)
    result = compute_metrics(stacked_pred, stacked_ref)
    assert result["SensL"] == 0.75
    assert (result["RefLesionsCount"], result["PredLesionsCount"]) == (4, 3)


def test_missing_chunk_is_named():
    pred, ref = fig4_session()
    del pred[2]
    with pytest.raises(InputError) as err:
        stack_pair(pred, ref, "sub-a_ses-1")
    assert str(err.value) == "sub-a_ses-1: no prediction for chunk 2 (reference chunks: 1, 2, 3)"
    pred, ref = fig4_session()
    del ref[3]
    with pytest.raises(InputError, match=r"sub-a_ses-1: no reference for chunk 3 \(predicted chunks: 1, 2, 3\)"):
        stack_pair(pred, ref, "sub-a_ses-1")


def test_shape_mismatch_within_a_chunk_is_named():
    pred, ref = fig4_session()
    pred[3] = np.zeros((7, 8, 5), np.uint8)
    with pytest.raises(InputError, match=r"chunk 3: prediction shape \(7, 8, 5\) differs from reference shape"):
        stack_pair(pred, ref, "sub-a_ses-1")
