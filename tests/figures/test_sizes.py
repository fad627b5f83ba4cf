"""Every figure of the library fits the book's text column (<= 7.5 in wide) with text of at least 8 pt."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from sclesion.evaluation.detection import VOLUME_BINS  # noqa: E402
from sclesion.figures.distributions import (  # noqa: E402
    Case, detection_rate_bars, plot_lesion_volumes, qualitative_panel, raincloud, volume_histograms,
)
from sclesion.figures.flowchart import plot_flowchart  # noqa: E402
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
