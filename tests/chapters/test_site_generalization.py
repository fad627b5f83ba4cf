"""Chapter 08 (site generalization): Table 2 in the paper's layout, directions, statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclesion.chapters import site_generalization as chapter

from .test_training_configurations import metric_rows


def store_metrics(seed: int = 0) -> pd.DataFrame:
    """Store rows: baseline stand-in, single-site and two-site models on three sites (TUM per session too)."""
    rng = np.random.default_rng(seed)
    rows = []
    methods = [("classical lesion detector (stand-in)", "stand-in", "", "", -1, 0.3),
               ("chunks_native 2d", "model", "chunks_native", "2d", 0, 0.6),
               ("chunks_two_sites 2d", "model", "chunks_two_sites", "2d", 0, 0.7),
               ("chunks_native 2d", "model", "chunks_native", "2d", 1, 0.0)]  # fold 1: left out
    for site in chapter.SITES:
        for k in range(8):
            for method, kind, dataset, configuration, fold, level in methods:
                value = float(np.clip(level + rng.normal(0, 0.05), 0, 1))
                base = {"method": method, "kind": kind, "dataset": dataset, "variant": dataset,
                        "configuration": configuration, "fold": fold, "site": site, "label": "lesion",
                        "Dice": value + 1e-4, "NSD": value, "PPVL": value, "F1ScoreL": value,
                        "abs_delta_lesion_count": 3 - 3 * level, "RefLesionsCount": 2,
                        "prediction": "p.nii.gz", "reference": "r.nii.gz"}
                rows.append({**base, "scoring": "image", "image": f"sub-{site.lower()}{k:03d}_ses-01_chunk-1"})
                if site == "TUM":
                    rows.append({**base, "scoring": "session", "image": f"sub-tum{k:03d}_ses-01"})
    return metric_rows(rows)


def test_scores_take_sessions_on_tum_images_elsewhere_fold_0_and_round_to_3_decimals():
    scores = chapter.table2_scores(store_metrics())
    assert set(scores["column"]) == {"baseline", chapter.SINGLE_SITE_NAME, chapter.TWO_SITES_NAME}
    assert scores.groupby(["site", "column"]).size().eq(8).all()
    assert scores.loc[scores["site"] == "TUM", "image"].str.endswith("_ses-01").all()
    assert scores.loc[scores["column"] == chapter.SINGLE_SITE_NAME, "Dice"].min() > 0.3  # fold 1 (zeros) left out
    assert (scores["Dice"] * 1000 == (scores["Dice"] * 1000).round()).all()


def test_table2_has_every_cell_beside_the_paper():
    table = chapter.table2(chapter.table2_scores(store_metrics()))
    assert len(table) == 15 and table.index[0] == ("TUM", "Dice")
    assert not (table == "n/a").any().any()
    assert table.loc[("UCSF", "Dice"), "ChunksNative SingleSite (paper)"] == "0.52 ± 0.18"
    assert table.loc[("BWH", "PPVL"), "n (paper)"] == 80 and table.loc[("BWH", "PPVL"), "n"] == 8
    mean, sd = table.loc[("TUM", "NSD"), "baseline"].split(" ± ")
    assert 0.2 < float(mean) < 0.4 and float(sd) > 0


def test_directions_compare_the_second_site_with_the_paper():
    direction = chapter.directions(chapter.table2_scores(store_metrics()))
    assert direction.loc[("BWH", "Dice"), "helps_here"] and direction.loc[("BWH", "Dice"), "helps_in_paper"]
    assert direction.loc[("BWH", "abs_delta_lesion_count"), "helps_here"]  # lower is better there
    assert direction.loc[("BWH", "abs_delta_lesion_count"), "paper"] == pytest.approx(3.00 - 3.27)
    assert direction["same_direction"].all()


def test_statistics_per_site_and_metric_name_the_pairs():
    table = chapter.site_statistics(chapter.table2_scores(store_metrics()))
    assert len(table) == 3 * 5 * 3
    baseline = table[(table["site"] == "UCSF") & (table["metric"] == "Dice") & (table["group1"] == "baseline")]
    assert (baseline["p"] < 0.05).all()


def test_appendix_notes_say_what_cannot_be_recomputed():
    a2, note = chapter.appendix("A2")
    assert "2.29" in note and "transcription" in note and len(a2)
    a3, note = chapter.appendix("A3")
    assert "not public" in note and (a3["test_site"] == "TUM").any()
