"""An interactive slice browser (ipywidgets): a dropdown over the images of a dataset, a slider over axial slices.

Interactive in a live Jupyter kernel; in a rendered book (no kernel) it shows as a static widget. Slices are drawn
with :func:`sclesion.figures.slices.draw_axial_slice` (cord outlined in cyan, lesions in red).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from sclesion.figures.slices import draw_volume, load_rpi, volume_slice


def row_label(row) -> str:
    """Short label of a dataset row, e.g. ``sub-tum001 ses-20200101 chunk 1``."""
    parts = [row.participant_id]
    if not pd.isna(row.session):
        parts.append(row.session)
    if not pd.isna(row.chunk):
        parts.append(f"chunk {row.chunk}")
    return " ".join(parts)


def slice_browser(dataset: pd.DataFrame):
    """A dropdown over the images of ``dataset`` and a slider over axial slices, with cord/lesion contours.

    The slider starts on :func:`sclesion.figures.slices.most_informative_slice` of each image chosen.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets

    labels = [(row_label(r), i) for i, r in enumerate(dataset.itertuples(index=False))]
    choose = widgets.Dropdown(options=labels, value=0, description="image")
    slider = widgets.IntSlider(min=0, max=1, value=0, description="axial slice", continuous_update=False)
    output = widgets.Output()
    cache: dict[int, dict] = {}

    def volume(index: int) -> dict:
        if index not in cache:
            cache.clear()
            cache[index] = load_rpi(next(dataset.iloc[[index]].itertuples(index=False)))
        return cache[index]

    def draw(*_):
        current = volume(choose.value)
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4.0, 4.0))
            draw_volume(ax, current, slider.value)
            ax.set_title(f"{choose.label}, slice {slider.value}", fontsize=9)
            plt.show()

    def on_image(*_):
        current = volume(choose.value)
        slider.unobserve(draw, names="value")
        slider.max = current["image"].shape[2] - 1
        slider.value = volume_slice(current)
        slider.observe(draw, names="value")
        draw()

    choose.observe(on_image, names="value")
    slider.observe(draw, names="value")
    on_image()
    return widgets.VBox([widgets.HBox([choose, slider]), output])
