"""Chapter 07 (lesion detection): pooled rates with Wilson intervals, the paper's rates, the synthetic truth."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.chapters import lesion_detection as chapter
from sclesion.data.bids import discover
from sclesion.evaluation.detection import detect_lesions
from sclesion.core.nifti import voxel_sizes


def lesion_rows(volumes, detected, chunk=1, fold=0, dataset="chunks_native"):
    return pd.DataFrame({"method": f"{dataset} 2d", "kind": "model", "dataset": dataset, "variant": dataset,
                         "configuration": "2d", "fold": fold, "site": "TUM", "scoring": "image",
                         "image": [f"img{i}_chunk-{chunk}" for i in range(len(volumes))], "chunk": chunk,
                         "lesion": 1, "volume_mm3": volumes,
                         "volume_bin": pd.cut(volumes, [3, 10, 50, 100, np.inf], right=False,
                                              labels=["3-10", "10-50", "50-100", ">=100"]).astype(str),
                         "coverage": 0.5, "detected": detected})


def test_rates_are_pooled_per_bin_with_wilson_intervals():
    table = pd.concat([lesion_rows([5.0] * 10, [True] * 8 + [False] * 2),
                       lesion_rows([20.0] * 4, [True] * 4, chunk=2),
                       lesion_rows([20.0] * 4, [False] * 4, fold=1),  # another fold: left out
                       lesion_rows([20.0] * 4, [False] * 4, dataset="chunks_two_sites")], ignore_index=True)
    chosen = chapter.model_lesions(table)
    assert len(chosen) == 14
    rates = chapter.rates(chosen).set_index("volume_bin")
    assert rates.loc["3-10", "rate"] == 0.8
    assert rates.loc["3-10", "low"] == pytest.approx(0.4902, abs=1e-4)
    assert rates.loc["3-10", "high"] == pytest.approx(0.9433, abs=1e-4)
    assert rates.loc["50-100", "n_lesions"] == 0 and np.isnan(rates.loc["50-100", "low"])
    by_chunk = chapter.rates(chosen, by=("chunk",)).set_index("chunk")
    assert by_chunk.loc[2, "rate"] == 1.0


def test_paper_rates_give_both_sources():
    paper = chapter.paper_rates()
    notebook = paper[paper["source"].str.contains("notebook")].set_index("volume_bin")["rate"]
    assert notebook.to_dict() == {"3-10": 0.27, "10-50": 0.72, "50-100": 0.94, ">=100": 0.95}
    assert len(paper[paper["source"].str.contains("text")]) == 3  # the text says nothing below 10 mm^3


def test_true_lesions_follow_their_reference_lesions(smoke_bids):
    images = discover(smoke_bids, require_labels=True)
    chunk = images[(images["site"] == "TUM") & (images["chunk"] == 1)].iloc[0]
    reference = nib.load(chunk["lesion"])
    mask = np.asarray(reference.dataobj) > 0
    detections = detect_lesions(mask, mask, voxel_sizes(reference.affine))  # a perfect prediction
    assert len(detections) and detections["detected"].all()
    name = f"{chunk['participant_id']}_{chunk['session']}_acq-ax_chunk-1"
    lesions = detections.assign(method="chunks_native 2d", kind="model", dataset="chunks_native", configuration="2d",
                                fold=0, site="TUM", scoring="image", image=name, chunk=1)
    metrics = pd.DataFrame([{"method": "chunks_native 2d", "kind": "model", "dataset": "chunks_native",
                             "configuration": "2d", "fold": 0, "site": "TUM", "scoring": "image", "label": "lesion",
                             "image": name, "chunk": 1, "participant_id": chunk["participant_id"],
                             "session": chunk["session"], "reference": str(chunk["lesion"])}])
    truth = chapter.true_lesions(metrics, lesions, smoke_bids)
    assert len(truth) >= 1  # true lesions centred in this chunk (a lesion may render as several components)
    assert (truth["detected"] == truth["in_reference"]).all()  # found exactly when it made it into the reference
    assert truth["in_reference"].sum() >= 1
    assert (truth["true_volume_mm3"] > 0).all() and (truth["position_mm"] >= 0).all()
