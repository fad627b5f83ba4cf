"""Chapter 05 (spinal cord comparison): cord scores per method and chunk, statistics per chunk."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sclesion.chapters import spinal_cord_comparison as chapter

from .test_training_configurations import metric_rows


def store_metrics() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    methods = [("classical cord segmentation (stand-in)", "stand-in", "", "", -1, "image", 0.7),
               ("chunks_cervical 2d", "model", "chunks_cervical", "2d", 0, "image", 0.8),
               ("chunks_native 2d", "model", "chunks_native", "2d", 0, "image", 0.95),
               ("stitched_native 3d_fullres", "model", "stitched_native", "3d_fullres", 0, "unstitched", 0.93),
               ("stitched_native 3d_fullres", "model", "stitched_native", "3d_fullres", 0, "image", 0.1)]
    for chunk in (1, 2, 3):
        for k in range(10):
            for method, kind, dataset, configuration, fold, scoring, level in methods:
                drop = 0.3 * (chunk - 1) if kind == "stand-in" or dataset == "chunks_cervical" else 0.0
                dice = float(np.clip(level - drop + rng.normal(0, 0.02), 0, 1))
                rows.append({"method": method, "kind": kind, "dataset": dataset, "variant": dataset,
                             "configuration": configuration, "fold": fold, "site": "TUM", "scoring": scoring,
                             "label": "cord", "chunk": chunk, "image": f"sub-tum{k:03d}_chunk-{chunk}",
                             "Dice": dice, "RVE": 100 * (dice - 1)})
    return metric_rows(rows)


def test_cord_scores_take_each_method_once_with_display_names_and_the_unstitched_3d_model():
    scores = chapter.cord_scores(store_metrics())
    assert list(dict.fromkeys(scores["method"])) == [
        "classical cord segmentation (stand-in)", "2D, cervical chunks only (stand-in)", "ChunksNative 2D",
        "StitchedNative 3D"]
    assert scores.groupby("method").size().eq(30).all()
    assert scores.loc[scores["method"] == "StitchedNative 3D", "Dice"].min() > 0.8  # unstitched, not stitched rows
    assert set(scores["chunk_name"]) == {"1 (cervical)", "2 (thoracic)", "3 (lumbar)"}


def test_statistics_per_chunk_and_the_verdict_read_the_drop():
    scores = chapter.cord_scores(store_metrics())
    kruskal, pairs = chapter.chunk_statistics(scores, "Dice")
    assert kruskal["chunk"].tolist() == [1, 2, 3] and (kruskal["p"] < 0.001).all()
    assert len(pairs) == 3 * 6
    text = chapter.verdict(scores, kruskal, synthetic=True)
    assert "lumbar" in text and "stand-in" in text and "**yes**" in text
