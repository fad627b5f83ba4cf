"""One subject's session as a continuous model in scanner space: anatomy + lesions + placement + contrast.

:func:`classify` answers, for any points in scanner (RAS+ mm) coordinates, which tissue they lie in. Everything
rendered (chunks, the ground-truth volume, :func:`sclesion.data.synthetic.render_truth`) goes through it, so
all of them agree by construction. A :class:`SessionModel` round-trips through the JSON written beside the
ground truth (``sub-<id>_ses-<ses>_anatomy.json``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sclesion.data.synthetic.anatomy import BODY, DISC, RING, Anatomy
from sclesion.data.synthetic.lesions import Lesion

#: Tissue classes, in the order of their integer codes.
TISSUES: tuple[str, ...] = ("soft", "body", "disc", "bone", "csf", "cord", "lesion")
SOFT, VBODY, VDISC, BONE, CSF, CORD, LESION = range(len(TISSUES))

#: Thickness (mm) of the bony ring (pedicles, laminae) around the canal, and length of the spinous process.
RING_MM = 3.5
SPINOUS_LENGTH_MM = 25.0
SPINOUS_HALF_WIDTH_MM = 2.5


@dataclass(frozen=True)
class SessionModel:
    """Everything needed to render one session's truth on any grid.

    Attributes
    ----------
    anatomy : Anatomy
    lesions : tuple of Lesion
        Lesions present in this session.
    offset_mm : tuple of float
        Scanner (RAS+) position of the centerline's origin: C1 lies at ``(tx + cx(0), ty + cy(0), tz)``.
    contrast : dict of str to float
        Signal per tissue (keys :data:`TISSUES`), CSF ~ 1.
    gain : float
        Global intensity scale of the session (arbitrary units).
    """

    anatomy: Anatomy
    lesions: tuple[Lesion, ...]
    offset_mm: tuple[float, float, float]
    contrast: dict[str, float]
    gain: float

    def to_dict(self) -> dict:
        return {
            "anatomy": self.anatomy.to_dict(),
            "lesions": [lesion.to_dict() for lesion in self.lesions],
            "offset_mm": [float(v) for v in self.offset_mm],
            "contrast": {k: float(self.contrast[k]) for k in TISSUES},
            "gain": float(self.gain),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SessionModel":
        return cls(
            anatomy=Anatomy(**data["anatomy"]),
            lesions=tuple(Lesion(**lesion) for lesion in data["lesions"]),
            offset_mm=tuple(data["offset_mm"]),
            contrast=dict(data["contrast"]),
            gain=float(data["gain"]),
        )

    def intensity_lut(self) -> np.ndarray:
        """Signal per tissue code (float32), CSF ~ 1 (multiply by :attr:`gain` for scanner units)."""
        return np.array([self.contrast[t] for t in TISSUES], dtype=np.float32)

    def centerline(self, a: np.ndarray) -> np.ndarray:
        """Scanner coordinates (N, 3) in mm of the centerline at levels ``a`` (mm, 0 = C1, negative caudal)."""
        a = np.asarray(a, dtype=np.float64)
        cx, cy = self.anatomy.centerline_offset(a)
        tx, ty, tz = self.offset_mm
        return np.stack([tx + cx, ty + cy, tz + a], axis=1)

    def lesion_centre(self, lesion: Lesion) -> np.ndarray:
        """Scanner coordinates (3,) in mm of a lesion's centre."""
        centre = self.centerline(np.array([lesion.a0]))[0]
        return centre + np.array([lesion.u0, lesion.v0, 0.0])


#: Sampling of the level tables used by :func:`classify`: range of ``a`` (mm) and step (mm).
TABLE_RANGE_MM = (-800.0, 200.0)
TABLE_STEP_MM = 0.02


@functools.lru_cache(maxsize=8)
def level_table(anatomy: Anatomy) -> dict[str, np.ndarray]:
    """Everything that depends only on the level ``a``, tabulated every :data:`TABLE_STEP_MM` mm (float32).

    Looking these up by index is much faster than evaluating the profiles at millions of points, and the
    nearest-entry error (<= 0.01 mm in ``a``) is far below any voxel size. Levels outside
    :data:`TABLE_RANGE_MM` take the nearest end's values. Cached per anatomy; do not modify the arrays.
    """
    a = np.arange(TABLE_RANGE_MM[0], TABLE_RANGE_MM[1] + TABLE_STEP_MM / 2, TABLE_STEP_MM)
    cx, cy = anatomy.centerline_offset(a)
    cord_lr, cord_ap = anatomy.cord_semi_axes(a)
    canal_lr, canal_ap = anatomy.canal_semi_axes(a)
    body_lr, body_ap, body_offset = anatomy.body_geometry(a)
    columns = {"cx": cx, "cy": cy, "cord_lr": cord_lr, "cord_ap": cord_ap, "canal_lr": canal_lr,
               "canal_ap": canal_ap, "body_lr": body_lr, "body_ap": body_ap, "body_offset": body_offset}
    table = {k: v.astype(np.float32) for k, v in columns.items()}
    table["kind"] = anatomy.level_kind(a)
    return table


def classify(model: SessionModel, x: np.ndarray, y: np.ndarray, z: np.ndarray,
             table: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tissue at scanner points.

    Parameters
    ----------
    model : SessionModel
    x, y, z : ndarray, shape (N,)
        Scanner RAS+ coordinates in mm (float32 is fastest).
    table : dict, optional
        ``level_table(model.anatomy)``, to reuse across calls.

    Returns
    -------
    tissue : ndarray of int8, shape (N,)
        Codes into :data:`TISSUES`. Lesion points are always cord points too (a lesion replaces cord).
    lesion_id : ndarray of int16, shape (N,)
        ``lesion_id`` of the lesion a point lies in (the first one if lesions overlap), else 0.
    """
    if table is None:
        table = level_table(model.anatomy)
    tx, ty, tz = model.offset_mm
    a = np.asarray(z, dtype=np.float32) - np.float32(tz)
    n_levels = len(table["kind"])
    row = np.rint((a - np.float32(TABLE_RANGE_MM[0])) / np.float32(TABLE_STEP_MM)).astype(np.int32)
    np.clip(row, 0, n_levels - 1, out=row)
    dx = np.asarray(x, dtype=np.float32) - np.float32(tx) - table["cx"][row]
    dy = np.asarray(y, dtype=np.float32) - np.float32(ty) - table["cy"][row]
    tissue = np.zeros(len(a), dtype=np.int8)

    kind = table["kind"][row]
    body_dy = dy - table["body_offset"][row]
    in_body = (dx / table["body_lr"][row]) ** 2 + (body_dy / table["body_ap"][row]) ** 2 <= 1.0
    tissue[in_body & (kind == BODY)] = VBODY
    tissue[in_body & (kind == DISC)] = VDISC

    canal_lr, canal_ap = table["canal_lr"][row], table["canal_ap"][row]
    r_canal = (dx / canal_lr) ** 2 + (dy / canal_ap) ** 2
    posterior_elements = (kind == BODY) | (kind == RING)
    ring = (
        posterior_elements & (r_canal > 1.0) & (dy < 0.3 * canal_ap)
        & ((dx / (canal_lr + RING_MM)) ** 2 + (dy / (canal_ap + RING_MM)) ** 2 <= 1.0)
    )
    spinous = (kind == BODY) & (np.abs(dx) < SPINOUS_HALF_WIDTH_MM) & (dy < -canal_ap) & (
        dy > -canal_ap - SPINOUS_LENGTH_MM)
    tissue[ring | spinous] = BONE
    in_canal = r_canal <= 1.0
    tissue[in_canal] = CSF

    idx = np.flatnonzero(in_canal)
    cord_lr, cord_ap = table["cord_lr"][row[idx]], table["cord_ap"][row[idx]]
    has_cord = cord_lr > 0
    idx, cord_lr, cord_ap = idx[has_cord], cord_lr[has_cord], cord_ap[has_cord]
    idx = idx[(dx[idx] / cord_lr) ** 2 + (dy[idx] / cord_ap) ** 2 <= 1.0]
    tissue[idx] = CORD

    lesion_id = np.zeros(len(a), dtype=np.int16)
    for lesion in model.lesions:
        da = a[idx] - np.float32(lesion.a0)
        near = np.abs(da) <= lesion.rz
        if not near.any():
            continue
        sub = idx[near]
        inside = (
            ((dx[sub] - lesion.u0) / lesion.ru) ** 2 + ((dy[sub] - lesion.v0) / lesion.rv) ** 2
            + (da[near] / lesion.rz) ** 2 <= 1.0
        )
        hit = sub[inside & (lesion_id[sub] == 0)]
        lesion_id[hit] = lesion.lesion_id
    tissue[lesion_id > 0] = LESION
    return tissue, lesion_id
