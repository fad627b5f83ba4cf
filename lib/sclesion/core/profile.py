"""Profiles: the study's run settings (``profiles/<name>.yml``), read once into one typed :class:`Profile`.

A profile names the data (``bids_root``), the work folder, the split and exclusion files, how many worker
processes to use, the seed, the straightened field of view, the per-cell time limit of the book's notebooks and
the nnU-Net settings (the ``nnunet_*`` keys, explained in :mod:`sclesion.nnunet.settings`).

===================  ========  =========================================================================
key                  type      meaning
===================  ========  =========================================================================
profile              str       the profile's name (required)
synthetic            bool      the data are the embedded synthetic cohort (required)
bids_root            path      BIDS dataset (required; relative paths are relative to the repository)
work_dir             path      derivatives, nnU-Net folders, predictions, metrics (required)
n_jobs               int       worker processes (default 1)
seed                 int       seed of the split and of every random choice (default 42)
exclusions           path      TSV of excluded subjects (default: none)
split_tsv            path      patient-wise split TSV (default: ``<work_dir>/split.tsv``)
test_fraction        float     share of the pooled (TUM-like) subjects in the test set (default 0.2, as the paper)
fov_mm               float     half width of the straightened field of view, mm (default 35, as SCT)
notebook_timeout_s   int       longest time one notebook cell may run, seconds (default 3600)
nnunet_*             various   the nnU-Net settings (see :mod:`sclesion.nnunet.settings`)
===================  ========  =========================================================================

Notebooks receive these values as plain papermill parameters (:meth:`Profile.parameters`); a notebook that needs
more than its parameters reads the profile with :meth:`Profile.load`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM, TEST_FRACTION
from sclesion.core.errors import InputError
from sclesion.core.paths import profiles_dir
from sclesion.core.yamlfile import read_mapping

if TYPE_CHECKING:
    from sclesion.nnunet.settings import NnunetSettings

#: Longest time (s) one notebook cell may run when the profile does not say.
DEFAULT_NOTEBOOK_TIMEOUT_S = 3600

#: Profile key -> (accepted Python types, required); the nnU-Net keys (``nnunet_*``) are checked apart.
PROFILE_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "profile": ((str,), True),
    "synthetic": ((bool,), True),
    "bids_root": ((str,), True),
    "work_dir": ((str,), True),
    "n_jobs": ((int,), False),
    "seed": ((int,), False),
    "exclusions": ((str, type(None)), False),
    "split_tsv": ((str, type(None)), False),
    "test_fraction": ((int, float), False),
    "fov_mm": ((int, float), False),
    "notebook_timeout_s": ((int,), False),
}


def profile_path(name_or_path: str | Path) -> Path:
    """Resolve a profile name (``demo``, ``smoke``, ``paper``) or a path to its YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yml", ".yaml"):
        path = candidate
    else:
        path = profiles_dir() / f"{name_or_path}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in profiles_dir().glob("*.yml"))
        raise InputError(f"no such profile; known profiles: {', '.join(known)}", path)
    return path


@dataclass(frozen=True)
class Profile:
    """One profile's settings, typed and checked.

    Attributes
    ----------
    name : str
        The profile's name (``demo``, ``smoke``, ``paper`` or your own).
    synthetic : bool
        Whether the data are the embedded synthetic cohort (generated on first use).
    bids_root, work_dir : Path
        The BIDS dataset and the work folder, as written in the file (relative to the repository root when
        relative).
    n_jobs : int
        Worker processes (>= 1).
    seed : int
        Seed of the split and of every random choice.
    exclusions, split_tsv : Path or None
        Exclusion TSV and split TSV; None when the profile names none.
    test_fraction : float
        Share of the pooled (TUM-like) subjects in the test set, in (0, 1).
    fov_mm : float
        Half width of the straightened field of view, mm (> 0).
    notebook_timeout_s : int
        Longest time one notebook cell may run, seconds (> 0).
    nnunet : NnunetSettings or None
        The nnU-Net settings; None for a profile without ``nnunet_grid``.
    source : Path or None
        The YAML file the profile was read from.
    """

    name: str
    synthetic: bool
    bids_root: Path
    work_dir: Path
    n_jobs: int = 1
    seed: int = 42
    exclusions: Path | None = None
    split_tsv: Path | None = None
    test_fraction: float = TEST_FRACTION
    fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM
    notebook_timeout_s: int = DEFAULT_NOTEBOOK_TIMEOUT_S
    nnunet: NnunetSettings | None = None
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Profile:
        """Read ``profiles/<name>.yml`` (or a YAML path), apply ``overrides`` (same keys), check every value.

        Raises
        ------
        InputError
            One line naming the file and the key: a missing required key, an unknown key, a value of the wrong
            type or out of range, or an invalid nnU-Net setting.
        """
        path = profile_path(name_or_path)
        values = {**read_mapping(path), **(overrides or {})}
        return cls.from_mapping(values, source=path)

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: Path | None = None) -> Profile:
        """Build a profile from a mapping of its keys (what :meth:`load` reads from YAML).

        Raises
        ------
        InputError
            As :meth:`load`.
        """
        from sclesion.nnunet.settings import settings_from_profile

        where = source
        missing = [k for k, (_, required) in PROFILE_KEYS.items() if required and k not in values]
        if missing:
            raise InputError(f"missing required key(s) {', '.join(missing)}", where)
        unknown = sorted(k for k in values if k not in PROFILE_KEYS and not k.startswith("nnunet_"))
        if unknown:
            raise InputError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(PROFILE_KEYS)}, nnunet_*", where)
        for key, value in values.items():
            if key not in PROFILE_KEYS:
                continue
            types, _ = PROFILE_KEYS[key]
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise InputError(f"{key} must be {names}, got {value!r}", where)
        for key in ("n_jobs", "fov_mm", "notebook_timeout_s"):
            if key in values and values[key] <= 0:
                raise InputError(f"{key} must be > 0, got {values[key]!r}", where)
        if not 0 < values.get("test_fraction", TEST_FRACTION) < 1:
            raise InputError(f"test_fraction must be between 0 and 1, got {values['test_fraction']!r}", where)
        nnunet = None
        if any(k.startswith("nnunet_") for k in values):
            try:
                nnunet = settings_from_profile(values)
            except InputError as err:
                raise InputError(err.problem, where) from None
            except TypeError as err:  # a value nnU-Net's settings cannot take
                raise InputError(f"invalid nnunet setting ({err})", where) from None

        def optional_path(key: str) -> Path | None:
            return Path(values[key]) if values.get(key) else None

        return cls(
            name=values["profile"], synthetic=values["synthetic"],
            bids_root=Path(values["bids_root"]), work_dir=Path(values["work_dir"]),
            n_jobs=int(values.get("n_jobs", 1)), seed=int(values.get("seed", 42)),
            exclusions=optional_path("exclusions"), split_tsv=optional_path("split_tsv"),
            test_fraction=float(values.get("test_fraction", TEST_FRACTION)),
            fov_mm=float(values.get("fov_mm", STRAIGHT_FOV_HALF_WIDTH_MM)),
            notebook_timeout_s=int(values.get("notebook_timeout_s", DEFAULT_NOTEBOOK_TIMEOUT_S)),
            nnunet=nnunet, source=source,
        )

    def with_paths(self, bids_root: str | Path | None = None, work_dir: str | Path | None = None) -> Profile:
        """Return a copy with another BIDS root and/or work folder (command-line overrides)."""
        return replace(self, bids_root=Path(bids_root) if bids_root else self.bids_root,
                       work_dir=Path(work_dir) if work_dir else self.work_dir)

    def parameters(self) -> dict[str, Any]:
        """The profile as plain values for the notebooks' papermill parameters (paths as strings, no None).

        The nnU-Net settings are not included: a notebook that needs them reads ``Profile.load(profile).nnunet``.
        """
        plain: dict[str, Any] = {"profile": self.name}
        for f in fields(self):
            if f.name in ("name", "nnunet", "source"):
                continue
            value = getattr(self, f.name)
            plain[f.name] = "" if value is None else str(value) if isinstance(value, Path) else value
        return plain

