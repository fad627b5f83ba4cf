"""The QC page of a ``sclesion segment`` run: one self-contained HTML file (no network needed to open it).

Per image: the axial slices that hold lesions (at most :data:`MAX_SLICES`, the ones with the most lesion voxels)
with the cord (cyan) and lesion (red) contours, the mid-sagittal slice through the cord with the lesions'
maximum-intensity projection, the lesion table, and an interactive viewer (:mod:`sclesion.figures.viewer`) to
scroll through the volume with both overlays. Pictures are inlined as base64 PNG and the viewer as an
``<iframe srcdoc>`` whose scripts are inlined too, so the page works offline, e.g. attached to an e-mail. Images
whose segmentation failed are listed with their reason.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclesion.core.atomic import write_text
from sclesion.core.nifti import load_nifti, to_rpi, voxel_sizes
from sclesion.figures.slices import axial_lesion_panel, sagittal_mip_panel
from sclesion.figures.viewer import cord_lesion_viewer

#: Most axial slices shown per image.
MAX_SLICES = 18
#: Tiles per row of the axial mosaic.
COLUMNS = 6
#: Margin (mm) kept around the cord in each axial tile.
CROP_MM = 10.0

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: right; }
th { background: #eee; }
section { border-top: 2px solid #444; margin-top: 2em; }
.failed { color: #b00; }
img { max-width: 100%; }
iframe { border: 0; width: 100%; height: 420px; }
"""


def png_data_uri(fig: Figure, dpi: int = 110) -> str:
    """A figure as an inline ``data:image/png;base64,...`` URI.

    Figures here are plain :class:`matplotlib.figure.Figure` objects, not pyplot's, so writing a page neither
    needs a display nor changes the backend of a notebook that calls it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def lesion_slices(lesion_rpi: np.ndarray, most: int = MAX_SLICES) -> list[int]:
    """Axial (RPI axis 2) indices of the slices with lesions, the ``most`` with the most lesion voxels, sorted."""
    counts = lesion_rpi.sum(axis=(0, 1))
    with_lesion = np.flatnonzero(counts)
    chosen = with_lesion[np.argsort(-counts[with_lesion], kind="stable")[:most]]
    return sorted(int(k) for k in chosen)


def axial_mosaic(image: nib.Nifti1Image, cord: nib.Nifti1Image, lesion: nib.Nifti1Image) -> Figure | None:
    """The axial slices with lesions, both contours on each, zoomed on the cord; None when there is no lesion."""
    lesion_rpi, _ = to_rpi(np.asarray(lesion.dataobj), lesion.affine)
    slices = lesion_slices(lesion_rpi)
    if not slices:
        return None
    cord_rpi, rpi_affine = to_rpi(np.asarray(cord.dataobj) > 0, cord.affine)
    zooms = voxel_sizes(rpi_affine)
    inside = np.argwhere(cord_rpi.any(axis=2) | lesion_rpi.any(axis=2))
    low, high = inside.min(axis=0), inside.max(axis=0)
    rows = int(np.ceil(len(slices) / COLUMNS))
    fig = Figure(figsize=(7.2, 1.3 * rows + 0.3))
    axes = fig.subplots(rows, COLUMNS, squeeze=False)
    for ax in axes.flat[len(slices):]:
        ax.set_visible(False)
    for ax, k in zip(axes.flat, slices):
        axial_lesion_panel(image, lesion, cord, ax=ax, k=k)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_title(f"slice {k}", fontsize=7)
        # zoom on the cord: CROP_MM around the in-plane box of cord and lesions (axes in mm, as the panel's)
        for axis, limit in ((0, ax.set_xlim), (1, ax.set_ylim)):
            edges = (-0.5 * zooms[axis], (cord_rpi.shape[axis] - 0.5) * zooms[axis])  # the image's own extent
            limit(max(edges[0], (low[axis] - 0.5) * zooms[axis] - CROP_MM),
                  min(edges[1], (high[axis] + 0.5) * zooms[axis] + CROP_MM))
    fig.suptitle("axial slices with lesions (RPI index; cord cyan, lesion red; right of the patient on the left)",
                 fontsize=8)
    return fig


def sagittal_figure(image: nib.Nifti1Image, cord: nib.Nifti1Image, lesion: nib.Nifti1Image) -> Figure:
    """The sagittal slice through the cord's centre with the lesion maximum-intensity projection."""
    cord_rpi, rpi_affine = to_rpi(np.asarray(cord.dataobj) > 0, cord.affine)
    x_mm = None
    if cord_rpi.any():
        centre = np.argwhere(cord_rpi).mean(axis=0)
        x_mm = float(nib.affines.apply_affine(rpi_affine, centre)[0])
    extent = np.array(image.shape) * voxel_sizes(image.affine)
    height = float(np.clip(extent.max() / max(extent.min(), 1e-3), 2.5, 6.0))
    fig = Figure(figsize=(3.2, height))
    ax = fig.subplots()
    sagittal_mip_panel(image, lesion, ax=ax, x_mm=x_mm, title="sagittal, lesion MIP in red")
    return fig


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="n/a", float_format=lambda v: f"{v:.4g}", border=0)


def image_section(row: pd.Series, viewer: bool = True) -> str:
    """The HTML section of one image of the run."""
    name = html.escape(Path(row["image"]).name)
    if str(row["status"]).startswith("failed"):
        return f'<section><h2>{name}</h2><p class="failed">{html.escape(str(row["status"]))}</p></section>'
    image = load_nifti(row["image"])
    cord, lesion = load_nifti(row["sc_seg"]), load_nifti(row["lesion_seg"])
    lesions = pd.read_csv(row["lesions_tsv"], sep="\t", na_values="n/a")
    parts = [f"<section><h2>{name}</h2>",
             f"<p>{int(row['n_lesions'])} lesion(s), {float(row['total_lesion_volume_mm3']):.1f} mm<sup>3</sup> in "
             f"all; cord {float(row['cord_volume_mm3']):.0f} mm<sup>3</sup> ({html.escape(str(row['status']))})</p>"]
    mosaic = axial_mosaic(image, cord, lesion)
    if mosaic is not None:
        parts.append(f'<img alt="axial slices of {name}" src="{png_data_uri(mosaic)}">')
    parts.append(f'<img alt="sagittal view of {name}" src="{png_data_uri(sagittal_figure(image, cord, lesion))}">')
    parts.append("<h3>Lesions</h3>" + (_table_html(lesions) if len(lesions) else "<p>no lesion</p>"))
    if viewer:
        view = cord_lesion_viewer(image, cord, lesion)
        parts.append("<h3>Viewer</h3><p>Click a plane to move through the volume (cord blue, lesions red).</p>"
                     + view.get_iframe(height=420))
    parts.append("</section>")
    return "\n".join(parts)


def report_html(table: pd.DataFrame, model_dir: str | Path, viewer: bool = True) -> str:
    """The whole page: the run's summary table, then one section per image."""
    from sclesion import __version__

    columns = ["image", "status", "n_lesions", "total_lesion_volume_mm3", "cord_volume_mm3", "region"]
    summary = table[columns].assign(image=[Path(p).name for p in table["image"]])
    sections = "\n".join(image_section(row, viewer) for _, row in table.iterrows())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>sclesion segment QC</title><style>{_STYLE}</style></head><body>"
        f"<h1>sclesion segment: quality control</h1><p>sclesion {html.escape(__version__)}, model "
        f"<code>{html.escape(str(Path(model_dir).resolve()))}</code>. Volumes in mm<sup>3</sup>, lengths and "
        "diameters in mm, centroids in scanner coordinates (mm).</p>"
        f"{_table_html(summary)}\n{sections}\n</body></html>\n"
    )


def write_report(table: pd.DataFrame, path: str | Path, model_dir: str | Path, viewer: bool = True) -> Path:
    """Write the QC page of a run (:func:`report_html`) atomically."""
    return write_text(report_html(table, model_dir, viewer), path)
