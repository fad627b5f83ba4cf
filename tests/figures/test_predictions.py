"""sclesion.figures.predictions: one row per site, reference then models, an arrow at every missed lesion."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sclesion.core.errors import InputError  # noqa: E402
from sclesion.evaluation.detection import detect_lesions  # noqa: E402
from sclesion.evaluation.detection import scored_lesions  # noqa: E402
from sclesion.figures.predictions import SitePrediction, site_predictions  # noqa: E402
from sclesion.figures.slices import TEXT_WIDTH_IN  # noqa: E402

SPACING = (0.5, 0.5, 2.0)
MODELS = ["baseline (stand-in)", "2D chunks native"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def site(name: str = "TUM") -> SitePrediction:
    """A cord along S-I with three lesions (slices 5, 12, 20) and a speck under 3 mm^3 (never scored).

    The baseline finds only the lesion at slice 12; the 2D model finds all three."""
    shape = (40, 40, 30)
    image = np.random.default_rng(0).uniform(0.2, 0.4, shape).astype(np.float32)
    cord = np.zeros(shape, bool)
    cord[15:25, 15:25, :] = True
    reference = np.zeros(shape, bool)
    for k in (5, 12, 20):
        reference[17:21, 17:21, k:k + 2] = True
    reference[23, 23, 27] = True  # 0.5 mm^3
    baseline = np.zeros(shape, bool)
    baseline[17:21, 17:21, 12:14] = True
    image[reference] = 0.9
    return SitePrediction(name, image, SPACING, reference, {MODELS[0]: baseline, MODELS[1]: reference.copy()},
                          cord=cord, slice_index=5)


def arrows(ax) -> int:
    return len([t for t in ax.texts if t.get_gid() == "missed"])


def test_reference_lesions_follow_the_detection_rule_and_its_order():
    case = site()
    labels, kept = scored_lesions(case.reference, SPACING)
    table = detect_lesions(case.predictions[MODELS[0]], case.reference, SPACING)
    assert len(kept) == len(table) == 3  # the speck is not scored
    assert [int((labels == label).sum()) for label in kept] == table["n_voxels"].tolist()
    assert [int(np.nonzero(labels == label)[2].min()) for label in kept] == [5, 12, 20]


def test_missed_lesions_get_one_arrow_each_in_the_mip_and_in_the_slice_they_cross():
    fig = site_predictions([site("TUM"), site("BWH")])
    assert fig.get_size_inches()[0] <= TEXT_WIDTH_IN
    axes = np.array(fig.axes).reshape(2, 3, 2)  # site, column (reference, models), (axial, sagittal)
    for row in range(2):
        assert [arrows(axes[row, col, 1]) for col in range(3)] == [0, 2, 0]  # baseline misses 2 of 3
        assert [arrows(axes[row, col, 0]) for col in range(3)] == [0, 1, 0]  # slice 5 crosses one of them
    titles = [t.get_text() for t in fig.texts]
    assert titles == ["reference", *MODELS]
    assert axes[1, 0, 0].get_ylabel() == "BWH\nslice 5"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["reference lesion", "predicted lesion", "missed reference lesion", "cord"]


def test_given_missed_flags_replace_the_rule():
    case = site()
    case.missed = {MODELS[1]: [True, False, True]}
    fig = site_predictions([case])
    assert [arrows(ax) for ax in fig.axes[1::2]] == [0, 2, 2]
    case.missed = {MODELS[1]: [True]}
    with pytest.raises(InputError, match="1 missed flags for 3 reference lesions"):
        site_predictions([case])


def test_the_sagittal_window_keeps_every_lesion_and_the_axial_slice_the_masks():
    fig = site_predictions([site()], field_of_view_mm=10.0)
    axial, sagittal = fig.axes[:2]
    low, high = sagittal.get_ylim()
    assert low <= 5 * SPACING[2] and high >= 21 * SPACING[2]  # lesions from slice 5 to 21 (mm)
    assert sagittal.get_xlim()[0] > sagittal.get_xlim()[1]  # anterior on the left
    assert axial.get_xlim()[1] - axial.get_xlim()[0] == pytest.approx(10.0)


def test_inconsistent_sites_are_refused():
    other = site("BWH")
    other.predictions = {MODELS[1]: other.reference}
    with pytest.raises(InputError, match="differ from the first site's"):
        site_predictions([site(), other])
    bad = site()
    bad.predictions = {MODELS[0]: bad.reference[:, :, :5], MODELS[1]: bad.reference}
    with pytest.raises(InputError, match="baseline \\(stand-in\\) mask shape"):
        site_predictions([bad])
    with pytest.raises(InputError, match="no site"):
        site_predictions([])


def test_a_lesion_is_missed_when_at_most_ten_percent_of_it_is_covered():
    case = site()
    labels, kept = scored_lesions(case.reference, SPACING)
    first = labels == kept[0]  # 32 voxels at slices 5-6
    partly = np.zeros_like(case.reference)
    partly[tuple(np.argwhere(first)[:8].T)] = True  # 8 of 32 voxels (4 mm^3, kept): 25% covered, not missed
    partly |= labels == kept[1]
    sprawling = (labels == kept[0]) | (labels == kept[1]) | (labels == kept[2])
    sprawling[0:21, 15:25, 3:9] = True  # covers the first lesion, but 97% of it lies outside every lesion
    case.predictions = {MODELS[0]: partly, MODELS[1]: sprawling}
    fig = site_predictions([case])
    assert [arrows(ax) for ax in fig.axes[1::2]] == [0, 1, 0]  # partly: only the third lesion (0% covered)
    voided = ~detect_lesions(sprawling, case.reference, SPACING)["detected"].to_numpy()
    assert voided.tolist() == [True, False, False]  # the full rule voids the sprawling detection
    case.missed = {MODELS[1]: voided}
    fig = site_predictions([case])
    assert [arrows(ax) for ax in fig.axes[1::2]] == [0, 1, 1]
