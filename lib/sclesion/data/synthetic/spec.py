"""Cohort specifications: which sites, how many subjects, which lesion model (``data_manifest/cohorts/*.yml``).

A cohort spec names its sites; each site is described by ``data_manifest/sites/<site>.yml`` (scanner mix,
resolution, contrast, noise, orientation, chunk coverage), mirroring the paper's Table 1. :func:`load_spec`
reads both and returns one plain dict; :func:`spec_hash` fingerprints it (with the generator version) so an
unchanged cohort is not generated twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from sclesion.core.errors import InputError
from sclesion.core.paths import manifest_dir
from sclesion.core.yamlfile import read_mapping

#: Bump whenever the generator's output changes for the same spec (it invalidates caches and checksums).
GENERATOR_VERSION = "1.3.0"

#: Sites in the order their subjects are generated and listed.
SITES: tuple[str, ...] = ("TUM", "NYU", "BWH", "UCSF")

_SPEC_KEYS = ("name", "seed", "sites", "truth", "lesions")
_SITE_KEYS = ("site", "sessions", "followup_years", "coverage", "scanners", "acquisition", "contrast", "gain",
              "noise_sigma", "noise_factor_1p5T", "bias")
_ACQ_KEYS = ("orientation", "inplane_mm", "slice_mm", "fov_mm", "anterior_shift_mm", "overlap_slices",
             "slab_jitter_mm", "max_oblique_deg", "composed_stations")
_CONTRAST_KEYS = ("soft", "body", "disc", "bone", "csf", "cord", "lesion")
_TRUTH_KEYS = ("inplane_mm", "slice_mm", "margin_mm")
_LESION_KEYS = ("lesion_free_probability", "count_mean", "load_gamma_shape", "volume_median_mm3",
                "volume_sigma", "volume_range_mm3", "elongation", "followup")


def cohort_spec_path(name_or_path: str | Path) -> Path:
    """Resolve a cohort name (``demo``, ``smoke``) or a YAML path to the spec file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yml", ".yaml"):
        path = candidate
    else:
        path = manifest_dir() / "cohorts" / f"{name_or_path}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in (manifest_dir() / "cohorts").glob("*.yml"))
        raise InputError(f"no such cohort spec; known cohorts: {', '.join(known)}", path)
    return path


def _require(data: dict, keys: tuple[str, ...], path: Path, where: str = "") -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"missing key(s) {', '.join(missing)}{where}", path)


def load_site(site: str, sites_dir: Path | None = None) -> dict[str, Any]:
    """Read and check ``<sites_dir>/<site lower>.yml`` (default ``data_manifest/sites``)."""
    path = (sites_dir or manifest_dir() / "sites") / f"{site.lower()}.yml"
    if not path.is_file():
        raise InputError(f"no site description for {site}", path)
    data = read_mapping(path)
    _require(data, _SITE_KEYS, path)
    _require(data["acquisition"], _ACQ_KEYS, path, " in 'acquisition'")
    _require(data["contrast"], _CONTRAST_KEYS, path, " in 'contrast'")
    if data["site"] != site:
        raise InputError(f"'site' is {data['site']!r}, expected {site!r}", path)
    if data["sessions"] not in (1, 2):
        raise InputError("'sessions' must be 1 or 2", path)
    _check_orientation(data["acquisition"]["orientation"], path)
    return data


def _check_orientation(codes, path: Path) -> None:
    """Axial chunks: three nibabel axcodes naming each scanner axis once, the last one S or I."""
    axes = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
    if (not isinstance(codes, list) or len(codes) != 3 or any(c not in axes for c in codes)
            or sorted(axes[c] for c in codes) != [0, 1, 2] or codes[2] not in ("S", "I")):
        raise InputError(f"acquisition orientation {codes!r} must be three axcodes such as [L, A, S], "
                         "naming each axis once, with S or I last (axial slices)", path)


def load_spec(name_or_path: str | Path, seed: int | None = None) -> dict[str, Any]:
    """Load a cohort spec with its site descriptions.

    Parameters
    ----------
    name_or_path : str or Path
        ``"demo"``, ``"smoke"`` or a path to a cohort YAML.
    seed : int, optional
        Overrides the spec's seed.

    Returns
    -------
    dict
        The spec's keys (``name``, ``seed``, ``sites`` {site: n_subjects}, ``truth``, ``lesions``,
        ``acquisition_overrides``) plus ``site_params`` {site: site dict}, in which each site's
        ``acquisition`` already has the cohort's ``acquisition_overrides`` applied.

    Raises
    ------
    InputError
        If a file is missing, malformed or lacks a key, or a site is unknown.
    """
    path = cohort_spec_path(name_or_path)
    spec = read_mapping(path)
    _require(spec, _SPEC_KEYS, path)
    _require(spec["lesions"], _LESION_KEYS, path, " in 'lesions'")
    _require(spec["truth"], _TRUTH_KEYS, path, " in 'truth'")
    unknown = [s for s in spec["sites"] if s not in SITES]
    if unknown:
        raise InputError(f"unknown site(s) {', '.join(unknown)}; known: {', '.join(SITES)}", path)
    if any(int(n) < 0 for n in spec["sites"].values()):
        raise InputError("subject counts must be >= 0", path)
    spec = copy.deepcopy(spec)
    if seed is not None:
        spec["seed"] = int(seed)
    spec.setdefault("acquisition_overrides", {})
    overrides = spec["acquisition_overrides"] or {}
    bad = [k for k in overrides if k not in _ACQ_KEYS]
    if bad:
        raise InputError(f"unknown acquisition override(s) {', '.join(bad)}", path)
    spec["site_params"] = {}
    for site in SITES:
        if spec["sites"].get(site, 0):
            params = load_site(site)
            params["acquisition"].update(overrides)
            _check_orientation(params["acquisition"]["orientation"], path)
            spec["site_params"][site] = params
    return spec


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 (hex, first 16 characters) of the loaded spec, its sites and :data:`GENERATOR_VERSION`.

    Comments and key order in the YAML files do not matter; every value does.
    """
    canonical = json.dumps({"spec": spec, "generator": GENERATOR_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
