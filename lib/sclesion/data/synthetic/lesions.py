"""Synthetic MS lesions: ellipsoids elongated along the cord, strictly inside it, and their follow-up.

A lesion lives in cord coordinates (see ``anatomy.py``): its centre is at level ``a0`` (mm) and in-plane offset
``(u0, v0)`` (mm, right and anterior) from the centerline; it is the set of points with

    ((dx - u0) / ru)^2 + ((dy - v0) / rv)^2 + ((a - a0) / rz)^2 <= 1,

where ``(dx, dy)`` is the point's offset from the centerline *at its own level*. The ellipsoid is thus sheared
along the curve; shearing preserves volume, so its volume is exactly ``4/3 pi ru rv rz`` (mm^3).
The lesion model's parameters come from the cohort spec's ``lesions`` block.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from sclesion.data.synthetic import portable
from sclesion.data.synthetic.anatomy import Anatomy

#: Anatomical regions where lesions are placed, as nominal (a_norm) ranges in mm (top, bottom).
REGIONS: dict[str, tuple[float, float]] = {
    "cervical": (-5.0, -152.0),
    "thoracic": (-152.0, -330.0),
    "lumbar": (-330.0, -440.0),
}

#: Largest in-plane semi-axis of a lesion, as a fraction of the cord's smallest semi-axis along the lesion.
MAX_INPLANE_FRACTION = 0.6

#: Smallest in-plane semi-axis (mm), so that small lesions still cover a voxel centre in-plane.
MIN_INPLANE_MM = 0.9

#: Largest cranio-caudal semi-axis (mm).
MAX_LENGTH_MM = 30.0


@dataclass(frozen=True)
class Lesion:
    """One lesion (lengths in mm, volume in mm^3); see the module docstring for the geometry."""

    lesion_id: int
    region: str
    a0: float
    u0: float
    v0: float
    ru: float
    rv: float
    rz: float

    @property
    def volume_mm3(self) -> float:
        return float(4.0 / 3.0 * np.pi * self.ru * self.rv * self.rz)

    def to_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_volumes(params: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` lesion volumes (mm^3) from the truncated log-normal of the spec's ``lesions`` block."""
    low, high = params["volume_range_mm3"]
    mu, sigma = math.log(params["volume_median_mm3"]), params["volume_sigma"]
    out = np.empty(0)
    while out.size < n:
        draw = portable.exp(rng.normal(mu, sigma, size=2 * n + 8))
        out = np.concatenate([out, draw[(draw >= low) & (draw <= high)]])
    return out[:n]


def _cord_min_axes(anatomy: Anatomy, a0: float, rz: float) -> tuple[float, float]:
    levels = np.linspace(a0 - rz, a0 + rz, 9)
    lr, ap = anatomy.cord_semi_axes(levels)
    return float(lr.min()), float(ap.min())


def _fits(u0: float, v0: float, ru: float, rv: float, cord_lr: float, cord_ap: float) -> bool:
    """Whether the lesion's bounding box corner lies inside the cord's smallest ellipse (sufficient for
    the ellipsoid to lie strictly inside the cord)."""
    return ((abs(u0) + ru) / cord_lr) ** 2 + ((abs(v0) + rv) / cord_ap) ** 2 <= 0.95


def _shape_for_volume(volume: float, ru: float, rv: float, a0: float, anatomy: Anatomy) -> tuple:
    """Clamp the in-plane semi-axes to the cord and set rz to keep ``volume``; move ``a0`` off the conus tip.

    Returns ``(a0, ru, rv, rz)``.
    """
    tip = -anatomy.length_mm
    rz = volume / (4.0 / 3.0 * np.pi * ru * rv)
    for _ in range(4):  # the cord's width depends on the extent, which depends on the width: iterate
        rz = min(rz, MAX_LENGTH_MM)
        a0 = max(a0, tip + 8.0 + rz)
        cord_lr, cord_ap = _cord_min_axes(anatomy, a0, rz)
        ru = max(MIN_INPLANE_MM, min(ru, MAX_INPLANE_FRACTION * cord_lr))
        rv = max(MIN_INPLANE_MM, min(rv, MAX_INPLANE_FRACTION * cord_ap))
        rz = volume / (4.0 / 3.0 * np.pi * ru * rv)
    rz = min(rz, MAX_LENGTH_MM)
    return a0, ru, rv, rz


def _place_offset(ru, rv, a0, rz, anatomy, rng) -> tuple[float, float]:
    cord_lr, cord_ap = _cord_min_axes(anatomy, a0, rz)
    for _ in range(20):
        radius, angle = math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        u0, v0 = radius * cord_lr * math.cos(angle), radius * cord_ap * math.sin(angle)
        if _fits(u0, v0, ru, rv, cord_lr, cord_ap):
            return float(u0), float(v0)
    return 0.0, 0.0


def make_lesion(lesion_id: int, region: str, volume: float, anatomy: Anatomy, params: dict,
                rng: np.random.Generator) -> Lesion:
    """Create one lesion of about ``volume`` mm^3 at a random level of ``region``, elongated along the cord."""
    top, bottom = REGIONS[region]
    a0 = float(rng.uniform(bottom, top) * anatomy.scale)
    elongation = rng.uniform(*params["elongation"])
    flatness = rng.uniform(0.6, 1.0)
    r = (3.0 * volume / (4.0 * np.pi * flatness * elongation)) ** (1.0 / 3.0)
    ru, rv = (r, flatness * r) if rng.uniform() < 0.5 else (flatness * r, r)
    a0, ru, rv, rz = _shape_for_volume(volume, ru, rv, a0, anatomy)
    u0, v0 = _place_offset(ru, rv, a0, rz, anatomy, rng)
    return Lesion(lesion_id, region, float(a0), u0, v0, float(ru), float(rv), float(rz))


def sample_baseline(anatomy: Anatomy, params: dict, rng: np.random.Generator) -> tuple[list[Lesion], float]:
    """Draw a subject's baseline lesions and lesion load.

    The subject is lesion-free with probability ``lesion_free_probability``; otherwise the count per region is
    Poisson with mean ``count_mean[region] * load`` (load ~ Gamma(k, 1/k)), so counts decrease cervical ->
    thoracic -> lumbar on average.

    Returns
    -------
    lesions : list of Lesion
        Ordered cranio-caudally, ids 1..n.
    load : float
        The subject's lesion-load multiplier (also used for new lesions at follow-up).
    """
    shape = params["load_gamma_shape"]
    load = float(rng.gamma(shape, 1.0 / shape))
    free = rng.uniform() < params["lesion_free_probability"]
    drafts = []
    for region in REGIONS:
        count = 0 if free else int(rng.poisson(params["count_mean"][region] * load))
        for volume in sample_volumes(params, count, rng):
            drafts.append(make_lesion(0, region, float(volume), anatomy, params, rng))
    drafts.sort(key=lambda lesion: -lesion.a0)
    return [replace(lesion, lesion_id=i + 1) for i, lesion in enumerate(drafts)], load


def evolve(lesions: list[Lesion], load: float, anatomy: Anatomy, params: dict,
           rng: np.random.Generator) -> list[tuple[Lesion, str]]:
    """Follow-up session: each baseline lesion persists, grows or vanishes; new lesions may appear.

    Returns
    -------
    list of (Lesion, status)
        ``status`` is "persisting", "grown", "vanished" (the baseline lesion, absent now) or "new";
        new lesions get ids after the baseline ones.
    """
    follow = params["followup"]
    high = params["volume_range_mm3"][1]
    out = []
    for lesion in lesions:
        u = rng.uniform()
        if u < follow["vanish_probability"]:
            out.append((lesion, "vanished"))
        elif u < follow["vanish_probability"] + follow["grow_probability"]:
            volume = min(high, lesion.volume_mm3 * rng.uniform(*follow["growth_factor"]))
            grow = (volume / lesion.volume_mm3) ** (1.0 / 3.0)
            a0, ru, rv, rz = _shape_for_volume(volume, lesion.ru * grow, lesion.rv * grow, lesion.a0, anatomy)
            cord_lr, cord_ap = _cord_min_axes(anatomy, a0, rz)
            u0, v0 = lesion.u0, lesion.v0
            while not _fits(u0, v0, ru, rv, cord_lr, cord_ap) and abs(u0) + abs(v0) > 1e-3:
                u0, v0 = 0.8 * u0, 0.8 * v0  # pull the grown lesion towards the cord's centre
            out.append((Lesion(lesion.lesion_id, lesion.region, a0, u0, v0, ru, rv, rz), "grown"))
        else:
            out.append((lesion, "persisting"))
    next_id = max((lesion.lesion_id for lesion in lesions), default=0) + 1
    regions = list(REGIONS)
    weights = np.array([params["count_mean"][r] for r in regions], dtype=float)
    n_new = int(rng.poisson(follow["new_mean"] * load))
    for volume in sample_volumes(params, n_new, rng):
        region = regions[rng.choice(len(regions), p=weights / weights.sum())]
        out.append((make_lesion(next_id, region, float(volume), anatomy, params, rng), "new"))
        next_id += 1
    return out
