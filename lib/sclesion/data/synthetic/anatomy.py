"""Whole-spine anatomy of one synthetic subject: the cord's curve, its cross-section, the canal and the column.

Coordinates
-----------
Everything here is a function of the *anatomical level* ``a`` in mm: 0 at C1, negative going caudally,
the conus tip at ``a = -length_mm`` (~-450 mm, true scale). Positions in the axial plane are offsets in mm from
the cord centerline, in RAS+ directions: ``dx`` towards the subject's right, ``dy`` anterior. A session
places the anatomy in scanner space with a translation (see ``model.py``):
``world = (tx + cx(a) + dx, ty + cy(a) + dy, tz + a)``.

Profiles are tabulated on a *nominal* 450 mm cord (``a_norm``) and stretched by the subject's length,
so enlargements and the conus stay at the same relative levels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sclesion.data.synthetic import portable

#: Nominal length of the cord from C1 to the conus tip (mm).
NOMINAL_LENGTH_MM = 450.0

#: Cord semi-axes (a_norm mm, left-right mm, anterior-posterior mm): lower medulla, C1, cervical enlargement
#: (C5-C6), cervico-thoracic junction, thoracic cord, lumbar enlargement (T11-T12), conus taper to the tip.
CORD_PROFILE = np.array([
    (40.0, 6.5, 4.8), (0.0, 5.8, 4.1), (-55.0, 7.0, 4.3), (-100.0, 5.6, 3.9), (-150.0, 4.3, 3.4),
    (-330.0, 4.1, 3.3), (-390.0, 4.9, 4.0), (-425.0, 4.0, 3.6), (-450.0, 1.5, 1.5),
])

#: Dural sac (CSF-filled canal) semi-axes (a_norm mm, left-right mm, anterior-posterior mm); continues below
#: the conus as the thecal sac.
CANAL_PROFILE = np.array([
    (40.0, 10.0, 8.0), (0.0, 10.0, 7.5), (-55.0, 10.5, 7.0), (-100.0, 8.5, 6.5), (-150.0, 7.5, 6.2),
    (-330.0, 7.5, 6.2), (-400.0, 8.5, 7.2), (-620.0, 9.0, 7.5),
])

#: Vertebral body semi-axes (a_norm mm, left-right mm, anterior-posterior mm), growing caudally.
BODY_PROFILE = np.array([
    (0.0, 8.0, 7.5), (-113.0, 10.0, 8.5), (-140.0, 12.0, 10.0), (-418.0, 17.0, 14.0), (-460.0, 21.0, 16.0),
    (-620.0, 23.0, 17.0),
])

#: Nominal vertebral column: (name, body height mm, disc height below it mm), from C2 down; C1 is a ring
#: from +5 to -3 mm (posterior arch only, no body).
VERTEBRAE = (
    [("C2", 20.0, 5.0)] + [(f"C{i}", 13.0, 5.0) for i in range(3, 8)]
    + [(f"T{i}", 20.0, 5.0) for i in range(1, 13)] + [(f"L{i}", 27.0, 9.0) for i in range(1, 6)]
)

#: Level kinds returned by :meth:`Anatomy.level_kind`.
NO_BONE, BODY, DISC, RING = 0, 1, 2, 3

#: Sagittal curve: (top, bottom) a_norm of the cervical lordosis, thoracic kyphosis and lumbar lordosis bumps.
CURVE_SEGMENTS = ((30.0, -125.0), (-125.0, -430.0), (-430.0, -620.0))

#: Period (mm, a_norm) of the small coronal deviation.
CORONAL_PERIOD_MM = 600.0

#: Gap (mm) between the canal's anterior wall and the back of the vertebral body.
BODY_GAP_MM = 1.5


def _column_table() -> tuple[np.ndarray, np.ndarray]:
    """Upper boundaries (a_norm, descending) of each column segment and the segment kinds."""
    tops, kinds = [5.0], [RING]
    a = -3.0
    for _, body, disc in VERTEBRAE:
        tops += [a, a - body]
        kinds += [BODY, DISC]
        a -= body + disc
    tops.append(a)
    kinds.append(NO_BONE)  # sacrum and below are not modelled
    return np.array(tops), np.array(kinds, dtype=np.int8)


_COLUMN_TOPS, _COLUMN_KINDS = _column_table()


@dataclass(frozen=True)
class Anatomy:
    """Anatomical parameters of one subject (all lengths in mm).

    Attributes
    ----------
    length_mm : float
        Cord length from C1 to the conus tip.
    width_scale : float
        Multiplier of the cord, canal and vertebral cross-sections.
    lordosis_cervical_mm, kyphosis_thoracic_mm, lordosis_lumbar_mm : float
        Sagittal amplitudes of the S-curve: anterior, posterior, anterior displacement at the apex of each bump.
    coronal_mm : float
        Amplitude of the coronal (left-right) deviation of the centerline.
    coronal_phase_mm : float
        Phase of that deviation along the cord.
    """

    length_mm: float
    width_scale: float
    lordosis_cervical_mm: float
    kyphosis_thoracic_mm: float
    lordosis_lumbar_mm: float
    coronal_mm: float
    coronal_phase_mm: float

    @property
    def scale(self) -> float:
        """Stretch from nominal to this subject's levels (``a = scale * a_norm``)."""
        return self.length_mm / NOMINAL_LENGTH_MM

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    # -- centerline -------------------------------------------------------------------------------------------
    def centerline_offset(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """In-plane position (cx, cy) in mm of the cord centerline at levels ``a`` (mm), relative to the origin.

        ``cy`` is the sagittal S-curve (anterior positive), ``cx`` the coronal deviation (right positive).
        """
        an = np.asarray(a, dtype=np.float64) / self.scale
        cy = np.zeros_like(an)
        amplitudes = (self.lordosis_cervical_mm, -self.kyphosis_thoracic_mm, self.lordosis_lumbar_mm)
        for (top, bottom), amp in zip(CURVE_SEGMENTS, amplitudes):
            t = (top - an) / (top - bottom)
            inside = (t > 0) & (t < 1)
            cy += np.where(inside, amp * portable.sin(np.pi * np.clip(t, 0, 1)) ** 2, 0.0)
        cx = self.coronal_mm * portable.sin(2 * np.pi * (an - self.coronal_phase_mm) / CORONAL_PERIOD_MM)
        return cx, cy

    # -- cross-sections ---------------------------------------------------------------------------------------
    def _profile(self, table: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        an = np.asarray(a, dtype=np.float64) / self.scale
        x, lr, ap = table[::-1, 0], table[::-1, 1], table[::-1, 2]  # np.interp needs increasing x
        return self.width_scale * np.interp(an, x, lr), self.width_scale * np.interp(an, x, ap)

    def cord_semi_axes(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cord semi-axes (left-right, anterior-posterior) in mm at levels ``a``; 0 below the conus tip."""
        lr, ap = self._profile(CORD_PROFILE, a)
        below = np.asarray(a) < -self.length_mm
        return np.where(below, 0.0, lr), np.where(below, 0.0, ap)

    def canal_semi_axes(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dural sac semi-axes (left-right, anterior-posterior) in mm at levels ``a``."""
        return self._profile(CANAL_PROFILE, a)

    def body_geometry(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vertebral body (or disc) semi-axes (left-right, anterior-posterior) and its centre's anterior offset
        from the centerline, all in mm, at levels ``a``."""
        lr, ap = self._profile(BODY_PROFILE, a)
        _, canal_ap = self.canal_semi_axes(a)
        return lr, ap, canal_ap + BODY_GAP_MM + ap

    def level_kind(self, a: np.ndarray) -> np.ndarray:
        """Column segment at levels ``a``: :data:`BODY`, :data:`DISC`, :data:`RING` (C1) or :data:`NO_BONE`."""
        an = np.asarray(a, dtype=np.float64) / self.scale
        # _COLUMN_TOPS is descending; segment i spans (tops[i+1], tops[i]].
        index = np.searchsorted(-_COLUMN_TOPS, -an, side="left") - 1
        kinds = np.where(index < 0, NO_BONE, _COLUMN_KINDS[np.clip(index, 0, len(_COLUMN_KINDS) - 1)])
        return kinds.astype(np.int8)

    def vertebra_tops(self) -> dict[str, float]:
        """Level ``a`` (mm) of the upper endplate of every modelled vertebral body (C2 to L5)."""
        body_tops = _COLUMN_TOPS[1:-1][_COLUMN_KINDS[1:-1] == BODY]
        return {name: float(top * self.scale) for (name, _, _), top in zip(VERTEBRAE, body_tops)}


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one subject's anatomy: cord length ~N(450, 12) mm, widths +-6 %, S-curve amplitudes uniform
    (cervical 5-12 mm, thoracic 12-22 mm, lumbar 6-14 mm), coronal deviation up to 3 mm."""
    return Anatomy(
        length_mm=float(np.clip(rng.normal(NOMINAL_LENGTH_MM, 12.0), 420.0, 480.0)),
        width_scale=float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)),
        lordosis_cervical_mm=float(rng.uniform(5.0, 12.0)),
        kyphosis_thoracic_mm=float(rng.uniform(12.0, 22.0)),
        lordosis_lumbar_mm=float(rng.uniform(6.0, 14.0)),
        coronal_mm=float(rng.uniform(-3.0, 3.0)),
        coronal_phase_mm=float(rng.uniform(0.0, CORONAL_PERIOD_MM)),
    )
