"""Every figure of the library fits the book's text column (<= 7.5 in wide) with text of at least 8 pt."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from sclesion.evaluation.detection_curve import fit_detection_curve  # noqa: E402
from sclesion.evaluation.detection import VOLUME_BINS  # noqa: E402
from sclesion.figures.distributions import (  # noqa: E402
    Case, detection_rate_bars, plot_lesion_volumes, qualitative_panel, raincloud, volume_histograms,
)
from sclesion.figures.flowchart import plot_flowchart  # noqa: E402
from sclesion.figures.predictions import SitePrediction, site_predictions  # noqa: E402
from sclesion.figures.results import (  # noqa: E402
    detection_by_chunk, detection_by_size, lesion_count_scatter, pvalue_matrix, raincloud_panels,
)
from sclesion.figures.slices import TEXT_WIDTH_IN, SagittalView, plot_sagittal  # noqa: E402
from sclesion.nnunet.curves import plot_curves  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def check(fig) -> None:
    width, _ = fig.get_size_inches()
    assert width <= TEXT_WIDTH_IN + 1e-9
    fig.canvas.draw()
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 8]
    assert not small, small


def test_many_groups_and_panels_stay_in_the_column():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame([{"variant": f"variant {v}", "configuration": c, "Dice": rng.uniform()}
                           for v in range(6) for c in ("2d", "3d_fullres", "3d_fullres_full_si") for _ in range(5)])
    check(raincloud(scores, "Dice", x="variant", hue="configuration"))
    lesions = pd.DataFrame({"chunk": [1, 1, 2, 2, 3, 3], "volume_mm3": [4.0, 20.0, 12.0, 60.0, 8.0, 150.0],
                            "detected": [False, True, True, False, True, True]})
    lesions["volume_bin"] = pd.Categorical(["3-10", "10-50", "10-50", "50-100", "3-10", ">=100"],
                                           categories=VOLUME_BINS)
    rates = lesions.groupby(["volume_bin", "chunk"], observed=False)["detected"].agg(["size", "sum"]).reset_index()
    rates = rates.rename(columns={"size": "n_lesions", "sum": "n_detected"}).assign(
        rate=lambda t: t["n_detected"] / t["n_lesions"].where(t["n_lesions"] > 0))
    check(detection_rate_bars(rates, hue="chunk"))
    check(volume_histograms(lesions))
    image = rng.uniform(size=(20, 20, 5))
    ref = np.zeros(image.shape)
    ref[8:12, 8:12, 2] = 1
    check(qualitative_panel([Case(image, ref, ref, f"case {k}") for k in range(5)]))


def test_cohort_figures_stay_in_the_column():
    sites = ["TUM", "NYU", "BWH", "UCSF", "XYZ"]
    counts = pd.DataFrame({"site": sites, "split": ["train", "train", "test", "test", "test"],
                           "subjects": [5, 2, 1, 1, 1], "sessions": [9, 2, 1, 1, 1], "images": [27, 2, 1, 1, 1]})
    check(plot_flowchart(counts, counts))
    volumes = pd.DataFrame({"site": ["TUM", "TUM", "NYU"], "split": ["train", "test", "train"],
                            "volume_mm3": [5.0, 50.0, 500.0]})
    check(plot_lesion_volumes(volumes))
    view = SagittalView(np.ones((60, 400)), np.zeros((60, 400), bool), np.arange(60.0), np.arange(400.0), 0.0)
    check(plot_sagittal([view, view, view], ["a", "b", "c"]))


def test_training_curves_stay_in_the_column():
    rows = [{"dataset": "chunks_native", "configuration": c, "fold": f, "epoch": e, "train_loss": 1.0 / (e + 1),
             "val_loss": 1.2 / (e + 1), "pseudo_dice_cord": 0.5, "pseudo_dice_lesion": 0.2}
            for c in ("2d", "3d_fullres") for f in (0, 1) for e in range(3)]
    check(plot_curves(pd.DataFrame(rows)))


def test_results_figures_stay_in_the_column():
    rng = np.random.default_rng(1)
    methods = ["classical cord segmentation (stand-in)", "2D model trained on cervical chunks (stand-in)",
               "sct_deepseg_sc 2D", "sct_deepseg_sc 3D", "2D chunks native", "3D stitched native"]
    scores = pd.DataFrame([{"chunk": c, "method": m, "Dice": rng.uniform(), "RVE": rng.normal(0, 10)}
                           for c in (1, 2, 3) for m in methods for _ in range(6)])
    pairs = pd.DataFrame([{"metric": "Dice", "chunk": c, "group1": a, "group2": b, "p": 0.001}
                          for c in (1, 2, 3) for i, a in enumerate(methods) for b in methods[i + 1:]])
    check(raincloud_panels(scores, {"Dice": "Cord Dice", "RVE": "RVE (%)"}, "chunk", "method", brackets=pairs))
    groups = [f"{v} | {c}" for v in ("chunks native", "chunks straightened", "stitched native",
                                     "stitched straightened") for c in ("2d", "3d_fullres")]
    check(pvalue_matrix(pd.DataFrame([{"group1": a, "group2": b, "p": rng.uniform(0, 0.1)}
                                      for i, a in enumerate(groups) for b in groups[i + 1:]])))
    counts = pd.DataFrame([{"model": g, "n_reference": rng.integers(0, 9), "n_predicted": rng.integers(0, 9)}
                           for g in groups for _ in range(5)])
    check(lesion_count_scatter(counts))
    lesions = pd.DataFrame({"chunk": rng.integers(1, 4, 40), "volume_mm3": rng.uniform(3, 300, 40),
                            "detected": rng.uniform(size=40) < 0.7})
    lesions["volume_bin"] = pd.cut(lesions["volume_mm3"], [3, 10, 50, 100, np.inf], right=False,
                                   labels=list(VOLUME_BINS))
    rates = lesions.groupby(["volume_bin", "chunk"], observed=False)["detected"].agg(["size", "sum", "mean"])
    rates = rates.reset_index().rename(columns={"size": "n_lesions", "sum": "n_detected", "mean": "rate"})
    rates = rates.assign(low=rates["rate"] * 0.7, high=rates["rate"].clip(upper=0.9) + 0.1)
    check(detection_by_chunk(lesions, rates))
    pooled = rates.groupby("volume_bin", observed=False)[["n_lesions", "n_detected"]].sum().reset_index()
    pooled = pooled.assign(rate=pooled["n_detected"] / pooled["n_lesions"])
    pooled = pooled.assign(low=pooled["rate"] * 0.8, high=pooled["rate"].clip(upper=0.9) + 0.1)
    references = pd.DataFrame({"volume_bin": list(VOLUME_BINS), "rate": [0.27, 0.72, 0.94, 0.95],
                               "source": "the authors' notebook run"})
    curve = fit_detection_curve(lesions["volume_mm3"], lesions["detected"], min_lesions=2)
    check(detection_by_size(pooled, lesions, curve, references))
    image = rng.uniform(size=(30, 30, 40))
    reference = np.zeros(image.shape, bool)
    reference[12:16, 12:16, 10:13] = True
    models = {name: reference for name in ("baseline (stand-in)", "2D chunks native", "2D two sites")}
    check(site_predictions([SitePrediction(s, image, (0.5, 0.5, 3.0), reference, models) for s in ("TUM", "BWH")]))
