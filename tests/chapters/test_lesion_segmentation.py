"""Chapter 06 (lesion segmentation across the eight models): session scores, statistics, the paper beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclesion.chapters.lesion_segmentation import (
    MODELS, empty_sessions, full_si_comparison, model_name, model_summary, paper_pairs, session_scores, statistics,
    wilcoxon_2d_vs_3d,
)
from sclesion.nnunet.plans import FULL_SI

from .test_training_configurations import metric_rows


def store_rows(n_sessions: int = 10, seed: int = 0) -> pd.DataFrame:
    """A results-store metrics table: the eight models on TUM sessions, chunk models also per image."""
    rng = np.random.default_rng(seed)
    rows = []
    for m, (dataset, configuration) in enumerate(MODELS):
        level = 0.8 - 0.05 * m  # chunks_native 2d best, stitched_straightened 3d worst
        for k in range(n_sessions):
            ref = 0 if k == 0 else 2  # the first session is lesion-free
            pred = 0 if k == 0 else 2
            dice = 1.0 if ref == 0 else float(np.clip(level + rng.normal(0, 0.02), 0, 1))
            base = {"kind": "model", "dataset": dataset, "variant": dataset, "configuration": configuration,
                    "fold": 0, "site": "TUM", "label": "lesion", "Dice": dice, "F1ScoreL": dice,
                    "NSD": np.nan if ref == 0 else dice, "PPVL": dice, "SensL": dice,
                    "RefLesionsCount": ref, "PredLesionsCount": pred}
            scoring = "session" if dataset.startswith("chunks") else "image"
            rows.append({**base, "scoring": scoring, "image": f"sub-tum{k:03d}_ses-01_acq-ax"})
            if dataset.startswith("chunks"):  # per-chunk rows must not enter the session scores
                rows.append({**base, "scoring": "image", "image": f"sub-tum{k:03d}_ses-01_acq-ax_chunk-1",
                             "Dice": 0.0})
        rows.append({**base, "dataset": "chunks_two_sites", "variant": "chunks_native", "scoring": "session",
                     "image": "sub-tum001_ses-01_acq-ax"})  # not one of the eight
    return metric_rows(rows)


def test_session_scores_take_stacked_chunks_and_stitched_images_of_the_eight_models():
    scores = session_scores(store_rows())
    assert scores["model"].unique().tolist() == [model_name(*m) for m in MODELS]
    assert (scores.groupby("model").size() == 10).all()
    assert (scores["Dice"] > 0).all()  # no per-chunk row
    assert set(scores["kernel"]) == {"2D", "3D"}
    assert scores["lesion_free"].sum() == 8


def test_summary_medians_beside_the_paper():
    summary = model_summary(session_scores(store_rows()))
    assert summary.loc["chunks_native 2d", "paper_median_Dice"] == pytest.approx(0.72)
    assert np.isnan(summary.loc["chunks_native 3d_fullres", "paper_median_Dice"])
    assert summary.loc["chunks_native 2d", "median_Dice"] > summary.loc["stitched_straightened 3d_fullres", "median_Dice"]
    assert summary.loc["chunks_native 2d", "n"] == 10


def test_statistics_over_eight_groups_give_28_pairs_and_the_paper_pairs_beside_ours():
    scores = session_scores(store_rows(n_sessions=12))
    normal, kruskal, pairs = statistics(scores, "Dice")
    assert len(pairs) == 28 and len(normal) == 8
    assert kruskal["p"] < 0.001
    beside = paper_pairs({"Dice": pairs})
    assert len(beside) == 6 and beside["p"].notna().sum() == 4  # no F1 table given: its two pairs are NaN
    strongest = beside[(beside["model_b"] == "stitched_straightened 3d_fullres") & (beside["metric"] == "Dice")]
    assert bool(strongest["agrees"].iloc[0])


def test_wilcoxon_pairs_sessions_and_drops_both_empty_sessions():
    table = wilcoxon_2d_vs_3d(session_scores(store_rows()), "Dice")
    assert len(table) == 4
    assert (table["n_pairs"] == 10).all()  # the lesion-free session is a pair with a zero difference
    assert (table["p"] < 0.01).all()  # 2D is better in every variant by construction


def test_empty_sessions_show_the_rule():
    table = empty_sessions(session_scores(store_rows()))
    assert (table["n_all"] == 10).all() and (table["n_lesion_free"] == 1).all()
    assert (table["lesion_free_predicted_empty"] == 1).all()
    assert (table["median_Dice_all"] >= table["median_Dice_with_lesions"]).all()


def test_full_si_comparison_pairs_images_of_the_same_dataset():
    rows = []
    for k in range(6):
        rows.append({"dataset": "stitched_native", "configuration": "3d_fullres", "image": f"s{k}", "label": "lesion",
                     "Dice": 0.5 + 0.05 * k})
        rows.append({"dataset": "stitched_native", "configuration": FULL_SI, "image": f"s{k}", "label": "lesion",
                     "Dice": 0.4 + 0.04 * k})  # lower for every image
        rows.append({"dataset": "chunks_native", "configuration": "3d_fullres", "image": f"c{k}", "label": "lesion",
                     "Dice": 0.3})  # no full S-I partner: left out
    metrics = metric_rows(rows)
    table = full_si_comparison(metrics, pairs=(("lesion", "Dice"),))
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["dataset"], row["n_pairs"]) == ("stitched_native", 6)
    assert row["median_3d_fullres"] == pytest.approx(0.625) and row["median_full_si"] == pytest.approx(0.5)
    assert row["p"] == pytest.approx(2 / 64)  # exact two-sided: all 6 differences of one sign
    assert full_si_comparison(metrics[metrics["dataset"] == "chunks_native"]).empty


