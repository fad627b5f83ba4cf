"""Reading a synthetic cohort's ground truth back, and re-rendering it on any grid.

:func:`render_truth` lets stitching, straightening or evaluation code score its output against the true
anatomy on its own grid: it re-renders the session's model exactly as the chunks were rendered (same partial
volume rule), so rendering on a chunk's own grid reproduces that chunk's masks. The reference-space files in
``derivatives/groundtruth`` were rendered with one sample per voxel (``fine_mm=TRUTH_FINE_MM``); pass that
value to reproduce them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.core.errors import InputError
from sclesion.data.synthetic import layout
from sclesion.data.synthetic.model import SessionModel
from sclesion.data.synthetic.render import FINE_MM, Rendered, render_grid
from sclesion.data.synthetic.subject import TRUTH_FINE_MM


__all__ = ["TRUTH_FINE_MM", "load_session_model", "read_centerline", "read_lesions", "render_truth",
           "truth_volume_paths"]


def _truth_file(bids_root, subject, session, key) -> Path:
    subject, session = layout.strip_prefix(subject, "sub"), layout.strip_prefix(session, "ses")
    path = layout.truth_files(Path(bids_root), subject, session)[key]
    if not path.is_file():
        raise InputError("no ground truth here (only synthetic cohorts have one)", path)
    return path


def load_session_model(bids_root: str | Path, subject: str, session: str) -> SessionModel:
    """The continuous model of a session, from ``..._anatomy.json``.

    ``subject`` and ``session`` may carry their prefixes (``"sub-tum001"``, ``"ses-20180304"``) or not.
    """
    path = _truth_file(bids_root, subject, session, "anatomy")
    return SessionModel.from_dict(json.loads(path.read_text())["model"])


def render_truth(bids_root: str | Path, subject: str, session: str, affine: np.ndarray,
                 shape: tuple[int, int, int], fine_mm: float = FINE_MM) -> Rendered:
    """Render a session's true image, cord and lesion masks on the grid ``(affine, shape)``.

    Parameters
    ----------
    bids_root : str or Path
        Root of a synthetic cohort.
    subject, session : str
        E.g. ``"sub-tum001"``, ``"ses-20180304"`` (prefixes optional).
    affine : ndarray, shape (4, 4)
        Voxel -> scanner RAS+ mm of the target grid (any orientation, spacing, obliquity).
    shape : tuple of 3 int
        Target grid shape in voxels.
    fine_mm : float
        Partial-volume sampling step (mm) along the grid's longest voxel axis; the default is the one used for
        the chunks, :data:`TRUTH_FINE_MM` the one used for the reference-space files.

    Returns
    -------
    Rendered
        ``image`` (float32, noise- and bias-free), ``cord`` and ``lesion`` (uint8 {0, 1}; lesion within cord),
        all of ``shape`` in the grid's voxel order.
    """
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or len(tuple(shape)) != 3:
        raise InputError(f"need a 4x4 affine and a 3-d shape, got {affine.shape} and {tuple(shape)}")
    return render_grid(load_session_model(bids_root, subject, session), affine, tuple(shape), fine_mm)


def read_centerline(bids_root: str | Path, subject: str, session: str) -> np.ndarray:
    """True cord centerline (N, 3): scanner RAS+ x, y, z in mm, cranial to caudal, 1 mm apart in z."""
    path = _truth_file(bids_root, subject, session, "centerline")
    return pd.read_csv(path, sep="\t")[["x_mm", "y_mm", "z_mm"]].to_numpy()


def read_lesions(bids_root: str | Path, subject: str, session: str) -> pd.DataFrame:
    """True lesion table of a session.

    Columns: ``lesion_id`` (stable across a subject's sessions), ``status`` (baseline, persisting, grown, new,
    vanished: a vanished lesion is listed with volume 0 and is absent from the masks), ``region``
    (cervical/thoracic/lumbar), ``chunk`` (Int64: the first chunk whose grid holds the centre, NA if none),
    ``volume_mm3`` (exact ellipsoid volume), ``x_mm``, ``y_mm``, ``z_mm`` (centre, scanner RAS+),
    ``length_mm`` (cranio-caudal extent).
    """
    path = _truth_file(bids_root, subject, session, "lesions")
    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    table["chunk"] = table["chunk"].astype("Int64")
    return table


def truth_volume_paths(bids_root: str | Path, subject: str, session: str) -> dict[str, Path] | None:
    """The whole-spine ground-truth image, cord and lesion masks of a session, or None where there is none.

    ``subject`` and ``session`` may carry their prefixes. Returns ``{"image": ..., "cord": ..., "lesion": ...}``
    under ``derivatives/groundtruth/<sub>/<ses>/anat/`` when all three exist (synthetic cohorts), else None.
    """
    subject, session = layout.strip_prefix(subject, "sub"), layout.strip_prefix(session, "ses")
    files = layout.truth_files(Path(bids_root), subject, session)
    paths = {kind: files[kind] for kind in ("image", "cord", "lesion")}
    return paths if all(p.is_file() for p in paths.values()) else None
