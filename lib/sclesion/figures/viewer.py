"""An interactive volume viewer that works in static pages: nilearn's ``view_img`` with cord and lesion overlays.

``nilearn.plotting.view_img`` renders a brainsprite viewer (three orthogonal planes; click to move through the
volume) as one HTML document with its scripts and the volume's picture inlined, so it works without a kernel
and without network access: in the rendered book, in the QC page of ``sclesion segment``, or saved as a file.
(ipywidgets slice browsers need a live kernel and load their scripts from a CDN.) The only external reference
nilearn adds, a favicon link, is removed.

The overlay is one label volume: 1 cord (:data:`CORD_COLOUR`), 2 lesion (:data:`LESION_COLOUR`, drawn over the
cord), background transparent. Images are shown as nilearn shows them: resampled to its display grid with
nearest-neighbour interpolation for the overlay.
"""

from __future__ import annotations

import re

import nibabel as nib
import numpy as np
from matplotlib.colors import ListedColormap

from sclesion.core.errors import InputError
from sclesion.core.nifti import affines_match

#: Overlay colours (CSS names): the cord and the lesions.
CORD_COLOUR = "deepskyblue"
LESION_COLOUR = "red"

_FAVICON = re.compile(r"<link[^>]*rel=[\"']?icon[\"']?[^>]*>", re.IGNORECASE)


def label_overlay(cord: nib.Nifti1Image, lesion: nib.Nifti1Image | None = None) -> nib.Nifti1Image:
    """One uint8 label volume from a cord mask and a lesion mask on the same grid: 1 cord, 2 lesion."""
    labels = (np.asarray(cord.dataobj) > 0).astype(np.uint8)
    if lesion is not None:
        if lesion.shape != cord.shape or not affines_match(lesion.affine, cord.affine):
            raise InputError("the lesion mask and the cord mask lie on different grids")
        labels[np.asarray(lesion.dataobj) > 0] = 2
    return nib.Nifti1Image(labels, cord.affine)


def cord_lesion_viewer(image: nib.Nifti1Image, cord: nib.Nifti1Image, lesion: nib.Nifti1Image | None = None,
                       title: str | None = None, opacity: float = 0.5):
    """An interactive view of an image with its cord and lesion masks (module docstring).

    Parameters
    ----------
    image : nibabel.Nifti1Image
        The background image (any orientation).
    cord, lesion : nibabel.Nifti1Image
        Binary masks on the image's grid (``lesion`` optional).
    title : str, optional
    opacity : float, default 0.5
        Opacity of the overlay.

    Returns
    -------
    nilearn.plotting.html_stat_map.StatMapView
        Displays itself in a notebook (an ``<iframe>`` with the page inlined); ``.get_standalone()`` gives the
        full HTML page, ``.save_as_html(path)`` writes it. The view opens on the centre of the largest lesion,
        else of the cord.
    """
    from nilearn import plotting

    overlay = label_overlay(cord, lesion)
    labels = np.asarray(overlay.dataobj)
    focus = labels == 2 if (labels == 2).any() else labels > 0
    if focus.any():
        from sclesion.evaluation.lesions import label_lesions

        parts, n = label_lesions(focus)
        biggest = np.argmax(np.bincount(parts.ravel())[1:]) + 1 if n > 1 else 1
        centre = np.argwhere(parts == biggest).mean(axis=0)
        cut = tuple(float(v) for v in nib.affines.apply_affine(overlay.affine, centre))
    else:
        cut = None
    colours = ListedColormap(["black", CORD_COLOUR, LESION_COLOUR])
    view = plotting.view_img(
        overlay, bg_img=image, cut_coords=cut, cmap=colours, symmetric_cmap=False, vmin=0, vmax=2, threshold=0.5,
        colorbar=False, black_bg=True, dim=0, opacity=opacity, resampling_interpolation="nearest",
        draw_cross=True, annotate=True, title=title, width_view=700,
    )
    view.html = _FAVICON.sub("", view.html)
    return view
