"""The nnU-Net settings of a profile (the ``nnunet_*`` keys of ``profiles/<name>.yml``).

=================================  ================================================================  =========
key                                meaning                                                           paper
=================================  ================================================================  =========
nnunet_grid                        dataset key -> configurations to train                            4 x 2 (+910 2d)
nnunet_folds                       folds to train                                                    [0, 1, 2]
nnunet_n_folds                     subject-level cross-validation folds (``splits_final.json``)      3
nnunet_trainer                     nnU-Net trainer the study's trainer derives from                  DiceCE noSmooth
nnunet_epochs                      epochs (a number, or one per configuration)                       1000
nnunet_iterations_per_epoch        training iterations per epoch                                     250
nnunet_val_iterations_per_epoch    validation iterations per epoch                                   50
nnunet_oversample_foreground       share of each batch centred on foreground                         0.33
nnunet_learning_rate               initial learning rate, polynomial decay (per configuration)       0.01
nnunet_optimizer                   ``sgd`` (nnU-Net's) or ``adamw`` (per configuration)              sgd
nnunet_lesion_oversample           share of training draws centred on a lesion (per configuration)   0
nnunet_plans                       plans to train with: ``nnUNetPlans`` (nnU-Net's) or a small copy  nnUNetPlans
nnunet_base_features               small copy only: feature maps of the first stage (doubling)      -
nnunet_max_features                small copy only: largest feature count of a stage                 -
nnunet_max_stages                  small copy only: largest number of stages                         -
nnunet_batch_size                  small copy only: batch size per configuration                     -
nnunet_max_patch                   small copy only: per-axis patch bound per configuration           -
nnunet_device                      ``cpu`` or ``cuda``                                               cuda
nnunet_threads                     torch threads per process                                         8
nnunet_parallel_jobs               local executor: trainings and predictions run side by side        1
nnunet_tile_batch                  sliding-window tiles per forward pass when predicting             1
nnunet_tile_step                   distance between sliding-window tiles, share of the patch         0.5
nnunet_unseen_site_models          ``<dataset> <configuration>`` models that predict BWH and UCSF    null
nnunet_n_proc                      nnU-Net worker processes (fingerprint, preprocessing, export)     8
nnunet_n_proc_da                   data-augmentation workers per training (0 = in process)           12
nnunet_validate                    run nnU-Net's final validation of each fold                       true
nnunet_executor                    ``local`` or ``slurm``                                            slurm
nnunet_slurm_*                     partition, gpus, cpus, mem_gb, time_min of each SLURM job         -
=================================  ================================================================  =========
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sclesion.core.errors import InputError
from sclesion.nnunet.datasets import dataset_spec
from sclesion.nnunet.trainer import OPTIMIZERS

#: nnU-Net's own plans identifier.
DEFAULT_PLANS = "nnUNetPlans"
#: Configurations that can be trained (the full S-I one is added to the plans by the planning step).
CONFIGURATIONS: tuple[str, ...] = ("2d", "3d_fullres", "3d_fullres_fullSI")


@dataclass(frozen=True)
class SlurmSettings:
    """Resources of each SLURM job (one training fold)."""

    partition: str = "gpu"
    gpus: int = 1
    cpus: int = 8
    mem_gb: int = 64
    time_min: int = 2880


@dataclass(frozen=True)
class NnunetSettings:
    """Everything the nnU-Net steps need from a profile; see the module docstring for the keys."""

    grid: dict[str, tuple[str, ...]]
    folds: tuple[int, ...] = (0, 1, 2)
    n_folds: int = 3
    trainer: str = "nnUNetTrainerDiceCELoss_noSmooth"
    epochs: int | dict[str, int] = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    oversample_foreground: float = 0.33
    learning_rate: float | dict[str, float] = 0.01
    optimizer: str | dict[str, str] = "sgd"
    lesion_oversample: float | dict[str, float] = 0.0
    plans: str = DEFAULT_PLANS
    base_features: int | None = None
    max_features: int | None = None
    max_stages: int | None = None
    batch_size: dict[str, int] | None = None
    max_patch: dict[str, list[int]] | None = None
    device: str = "cuda"
    threads: int = 8
    parallel_jobs: int = 1
    tile_batch: int = 1
    tile_step: float = 0.5
    unseen_site_models: tuple[str, ...] | None = None
    n_proc: int = 8
    n_proc_da: int = 12
    validate: bool = True
    executor: str = "local"
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    @property
    def small_network(self) -> dict | None:
        """Arguments of :func:`sclesion.nnunet.plans.small_network`, or None to train nnU-Net's plans."""
        if self.plans == DEFAULT_PLANS:
            return None
        return {"plans_name": self.plans, "base_features": self.base_features, "max_features": self.max_features,
                "max_stages": self.max_stages, "batch_size": self.batch_size, "max_patch": self.max_patch}

    def lesion_share(self, configuration: str) -> float:
        """``nnunet_lesion_oversample`` of one configuration (a number applies to all; a missing one is 0)."""
        value = self.lesion_oversample
        return float(value.get(configuration, 0.0)) if isinstance(value, dict) else float(value)

    def epochs_of(self, configuration: str) -> int:
        """``nnunet_epochs`` of one configuration (a number applies to all)."""
        return int(_of(self.epochs, configuration))

    def learning_rate_of(self, configuration: str) -> float:
        """``nnunet_learning_rate`` of one configuration (a number applies to all)."""
        return float(_of(self.learning_rate, configuration))

    def optimizer_of(self, configuration: str) -> str:
        """``nnunet_optimizer`` of one configuration (a name applies to all)."""
        return str(_of(self.optimizer, configuration))

    def predicts(self, dataset: str, configuration: str, site: str) -> bool:
        """Whether the grid's model ``dataset`` x ``configuration`` predicts the test set of ``site``: TUM's
        always, another site's when the model is one of ``nnunet_unseen_site_models`` (or that key is null)."""
        models = self.unseen_site_models
        return site == "TUM" or models is None or f"{dataset} {configuration}" in models

    @property
    def configurations(self) -> tuple[str, ...]:
        """Every configuration that appears in the grid, in :data:`CONFIGURATIONS` order."""
        used = {c for configs in self.grid.values() for c in configs}
        return tuple(c for c in CONFIGURATIONS if c in used)


def _of(value, configuration: str):
    """A per-configuration profile value: ``value[configuration]`` for a dict, else ``value`` itself."""
    return value[configuration] if isinstance(value, dict) else value


_NUMBER = (int, float)
#: Accepted YAML value types of each ``nnunet_*`` key (without the prefix); None means the key may be null.
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "folds": (list,), "n_folds": (int,), "trainer": (str,), "epochs": (int, dict), "iterations_per_epoch": (int,),
    "val_iterations_per_epoch": (int,), "oversample_foreground": _NUMBER, "learning_rate": (*_NUMBER, dict),
    "optimizer": (str, dict), "lesion_oversample": (*_NUMBER, dict),
    "plans": (str,), "base_features": (int, type(None)), "max_features": (int, type(None)),
    "max_stages": (int, type(None)), "batch_size": (dict, type(None)), "max_patch": (dict, type(None)),
    "device": (str,), "threads": (int,), "parallel_jobs": (int,), "tile_batch": (int,), "tile_step": _NUMBER,
    "unseen_site_models": (list, type(None)), "n_proc": (int,), "n_proc_da": (int,), "validate": (bool,),
    "executor": (str,), "slurm_partition": (str,), "slurm_gpus": (int,), "slurm_cpus": (int,),
    "slurm_mem_gb": (int,), "slurm_time_min": (int,),
}


def _check_type(key: str, value: Any) -> None:
    """Refuse a value of the wrong type for ``nnunet_<key>`` (a bool is not a number here)."""
    types = KEY_TYPES.get(key)
    if types is None:
        return
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise InputError(f"nnunet_{key} must be {names}, got {value!r}")


def _check_per_configuration(settings: NnunetSettings, key: str, valid, wanted: str) -> None:
    """Refuse ``nnunet_<key>`` unless it is one valid value or a dict giving one for each configuration of the grid."""
    value = getattr(settings, key)
    values = value if isinstance(value, dict) else {"": value}
    missing = isinstance(value, dict) and any(c not in value for c in settings.configurations)
    if missing or not all(valid(v) for v in values.values()):
        raise InputError(f"nnunet_{key} must be {wanted}, or give one for each configuration of the grid "
                         f"({', '.join(settings.configurations)}); got {value!r}")


def settings_from_profile(profile: dict[str, Any]) -> NnunetSettings:
    """Build :class:`NnunetSettings` from the keys of a profile (:meth:`sclesion.core.profile.Profile.load` calls it).

    Raises
    ------
    InputError
        If ``nnunet_grid`` is missing, names an unknown dataset or configuration, a key is unknown or its value
        of the wrong type (:data:`KEY_TYPES`), a fold is outside ``0..nnunet_n_folds-1``, or a small-network plans
        name comes without its three sizes.
    """
    if "nnunet_grid" not in profile:
        raise InputError(f"profile {profile.get('profile', '?')!r} has no nnunet_grid")
    grid = {}
    for key, configs in dict(profile["nnunet_grid"]).items():
        spec = dataset_spec(key)
        if isinstance(configs, str) or not isinstance(configs, (list, tuple)):
            raise InputError(f"nnunet_grid: {key} must list its configurations, e.g. [2d, 3d_fullres]; got {configs!r}")
        bad = [c for c in configs if c not in CONFIGURATIONS]
        if bad:
            raise InputError(f"nnunet_grid: unknown configuration(s) {bad} for {key}; choose from {CONFIGURATIONS}")
        grid[spec.key] = tuple(configs)
    values = {k.removeprefix("nnunet_"): v for k, v in profile.items() if k.startswith("nnunet_")}
    slurm_values = {k.removeprefix("slurm_"): v for k, v in values.items() if k.startswith("slurm_")}
    simple = {k: v for k, v in values.items() if k != "grid" and not k.startswith("slurm_")}
    known = set(NnunetSettings.__dataclass_fields__) - {"grid", "slurm"}
    unknown = sorted(set(simple) - known)
    unknown += sorted(f"slurm_{k}" for k in set(slurm_values) - set(SlurmSettings.__dataclass_fields__))
    if unknown:
        raise InputError(f"unknown profile key(s) {', '.join('nnunet_' + k for k in unknown)}")
    for key, value in values.items():
        _check_type(key, value)
    slurm = SlurmSettings(**slurm_values)
    if "folds" in simple:
        simple["folds"] = tuple(int(f) for f in simple["folds"])
    if simple.get("unseen_site_models") is not None:
        models = tuple(str(m) for m in simple["unseen_site_models"])
        trained = {f"{key} {c}" for key, configs in grid.items() for c in configs}
        unknown = [m for m in models if m not in trained]
        if unknown:
            raise InputError(f"nnunet_unseen_site_models: {unknown} not in nnunet_grid (write '<dataset> "
                             f"<configuration>', e.g. 'chunks_native 2d')")
        simple["unseen_site_models"] = models
    if not 0 < simple.get("tile_step", 0.5) <= 1:
        raise InputError(f"nnunet_tile_step must lie in (0, 1], got {simple['tile_step']!r}")
    for key in ("parallel_jobs", "tile_batch"):
        if simple.get(key, 1) < 1:
            raise InputError(f"nnunet_{key} must be at least 1, got {simple[key]!r}")
    settings = NnunetSettings(grid=grid, slurm=slurm, **simple)
    shares = settings.lesion_oversample
    shares = shares if isinstance(shares, dict) else {"": shares}
    if any(c and c not in CONFIGURATIONS for c in shares):
        raise InputError(f"nnunet_lesion_oversample: unknown configuration(s) in {list(shares)}; choose from "
                         f"{CONFIGURATIONS}")
    if any(isinstance(v, bool) or not isinstance(v, _NUMBER) or not 0 <= v <= 1 for v in shares.values()):
        raise InputError(f"nnunet_lesion_oversample must lie in [0, 1], got {settings.lesion_oversample!r}")
    _check_per_configuration(settings, "epochs", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                             "a whole number >= 1")
    _check_per_configuration(settings, "learning_rate",
                             lambda v: isinstance(v, _NUMBER) and not isinstance(v, bool) and v > 0, "a number > 0")
    _check_per_configuration(settings, "optimizer", lambda v: v in OPTIMIZERS, f"one of {list(OPTIMIZERS)}")
    if any(not 0 <= f < settings.n_folds for f in settings.folds):
        raise InputError(f"nnunet_folds {list(settings.folds)} must lie in 0..{settings.n_folds - 1}")
    small = settings.small_network
    if small and None in [small[k] for k in ("base_features", "max_features", "max_stages", "batch_size")]:
        raise InputError(f"nnunet_plans {settings.plans!r} is a small network: set nnunet_base_features, "
                         "nnunet_max_features, nnunet_max_stages and nnunet_batch_size")
    return settings
