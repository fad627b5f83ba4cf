"""nnU-Net plans: the Table A1 view, the full superior-inferior patch configuration, the small CPU network.

Plans are plain JSON (``<nnUNet_preprocessed>/<dataset>/<plans name>.json``); everything here edits dicts
and never imports nnU-Net. Axis order inside plans is nnU-Net's "transposed" order: for our RPI images read
by SimpleITK (arrays ``[S-I, P-A, R-L]``) the planner keeps that order, so the thick-slice superior-inferior
axis comes first, as in the paper's Table A1 (patch ``(24, 256, 256)``, spacing ``(5.0, 0.34, 0.34)``).

Configurations may inherit: ``{"inherits_from": "3d_fullres", "patch_size": [...]}`` takes every entry of
``3d_fullres`` and overrides the patch (nnU-Net's ``PlansManager`` resolves it the same way, one level of
dict update per parent).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from pathlib import Path

import pandas as pd

from sclesion.core.errors import InputError
from sclesion.data import paper as paper_tables

#: Name of the configuration whose patch covers the whole superior-inferior extent.
FULL_SI = "3d_fullres_fullSI"
#: Columns of Table A1 (data_manifest/paper/tableA1_nnunet_plans.csv).
TABLE_A1_COLUMNS: list[str] = [
    "variant", "configuration", "batch_size", "patch_size", "spacing", "n_stages", "features_per_stage",
    "kernel_sizes", "strides",
]
#: Axis of a reader's arrays that runs inferior-superior, for RPI images (SimpleITK reverses nibabel's axes).
_SI_AXIS_OF_READER = {"SimpleITKIO": 0, "NibabelIO": 2, "NibabelIOWithReorient": 2}


def read_json(path: str | Path, missing: str) -> dict:
    """Read a JSON file written by nnU-Net's steps (plans, dataset fingerprint).

    Parameters
    ----------
    path : str or Path
    missing : str
        The problem to report when the file does not exist, saying which step writes it.

    Raises
    ------
    InputError
        If the file is missing (``missing``), unreadable or not JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(missing, path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err})", path) from None
    except (OSError, ValueError) as err:  # unreadable, or not text
        raise InputError(f"cannot read as JSON ({type(err).__name__})", path) from None


def load_plans(path: str | Path) -> dict:
    """Read a plans JSON file.

    Raises
    ------
    InputError
        If the file is missing or not JSON.
    """
    return read_json(path, "plans file not found; run the planning step first (sclesion plan)")


def resolve_configuration(plans: dict, name: str) -> dict:
    """A configuration with its ``inherits_from`` chain applied (as nnU-Net's ``PlansManager`` does).

    Raises
    ------
    InputError
        If the configuration (or a parent) is missing, or the chain is circular.
    """
    chain: list[str] = []
    while True:
        if name not in plans["configurations"]:
            raise InputError(f"configuration {name!r} not in plans {plans.get('plans_name')!r}")
        if name in chain:
            raise InputError(f"circular inherits_from chain {' -> '.join(chain + [name])}")
        chain.append(name)
        parent = plans["configurations"][name].get("inherits_from")
        if parent is None:
            break
        name = parent
    resolved: dict = {}
    for link in reversed(chain):
        resolved.update(copy.deepcopy(plans["configurations"][link]))
    resolved.pop("inherits_from", None)
    return resolved


def _tuple(values) -> str:
    return "(" + ", ".join(f"{round(float(v), 2):g}" for v in values) + ")"


def _compact(values) -> str:
    return "(" + ",".join(str(int(v)) for v in values) + ")"


def _runs(kernels) -> str:
    """``[[3,3]]*7`` -> ``"(3,3)x7"``; ``[[1,3,3]]*3 + [[3,3,3]]*4`` -> ``"(1,3,3)x3,(3,3,3)x4"``."""
    return ",".join(f"{_compact(k)}x{len(list(g))}" for k, g in itertools.groupby(tuple(x) for x in kernels))


def plans_row(plans: dict, configuration: str, variant: str = "") -> dict:
    """One row of Table A1 for one configuration of a plans dict (strings formatted as in the paper)."""
    config = resolve_configuration(plans, configuration)
    arch = config["architecture"]["arch_kwargs"]
    return {
        "variant": variant,
        "configuration": configuration,
        "batch_size": int(config["batch_size"]),
        "patch_size": _tuple(config["patch_size"]),
        "spacing": _tuple(config["spacing"]),
        "n_stages": int(arch["n_stages"]),
        "features_per_stage": ",".join(str(int(f)) for f in arch["features_per_stage"]),
        "kernel_sizes": _runs(arch["kernel_sizes"]),
        "strides": ",".join(_compact(s) for s in arch["strides"]),
    }


def plans_table(plans: dict, variant: str = "", configurations: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Table A1 rows (columns :data:`TABLE_A1_COLUMNS`) for the configurations of a plans dict.

    Parameters
    ----------
    plans : dict
        A plans dict (e.g. :func:`load_plans`).
    variant : str
        Value of the ``variant`` column.
    configurations : tuple of str, optional
        Which configurations, in order; default: all that define or inherit an architecture.
    """
    names = configurations or tuple(plans["configurations"])
    rows = [plans_row(plans, name, variant) for name in names]
    return pd.DataFrame(rows, columns=TABLE_A1_COLUMNS)


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our plans table and Table A1 side by side: one row per (variant, configuration), columns
    ``<field>`` (ours) and ``<field>_paper``."""
    paper = paper_tables.table_a1() if paper is None else paper
    ours = ours.astype({c: str for c in TABLE_A1_COLUMNS})
    merged = ours.merge(paper, on=["variant", "configuration"], how="left", suffixes=("", "_paper"))
    fields = [c for c in TABLE_A1_COLUMNS if c not in ("variant", "configuration")]
    order = ["variant", "configuration"] + [x for f in fields for x in (f, f"{f}_paper")]
    return merged[order].fillna("")


def superior_inferior_axis(plans: dict) -> int:
    """Index, in the plans' axis order, of the superior-inferior axis (images stored RPI).

    Raises
    ------
    InputError
        If the plans were made with an image reader whose axis order is not known here.
    """
    reader = plans.get("image_reader_writer")
    if reader not in _SI_AXIS_OF_READER:
        raise InputError(f"unknown image reader {reader!r} in plans; known: {', '.join(_SI_AXIS_OF_READER)}")
    return list(plans["transpose_forward"]).index(_SI_AXIS_OF_READER[reader])


def si_extents_mm(plans: dict, fingerprint: dict) -> list[float]:
    """Superior-inferior extent (mm) of every training case: ``shapes_after_crop`` x ``spacings`` of the dataset
    fingerprint (reader axis order) along the S-I axis of the plans."""
    reader_axis = plans["transpose_forward"][superior_inferior_axis(plans)]
    return [float(shape[reader_axis] * spacing[reader_axis])
            for shape, spacing in zip(fingerprint["shapes_after_crop"], fingerprint["spacings"])]


def full_si_patch(plans: dict, fingerprint: dict, parent: str = "3d_fullres") -> list[int]:
    """Patch size of ``parent`` with its superior-inferior entry enlarged to cover every training case.

    The S-I extent of each case (``shapes_after_crop`` x ``spacings`` of the dataset fingerprint, in mm) is
    divided by the parent's S-I spacing; the largest is rounded up to a multiple of the product of the
    network's S-I strides, so the patch stays divisible by the total downsampling. In-plane entries are kept.

    Parameters
    ----------
    plans : dict
        A plans dict with the ``parent`` configuration.
    fingerprint : dict
        ``dataset_fingerprint.json`` of the same dataset (shapes and spacings in reader axis order).
    parent : str, default "3d_fullres"
    """
    config = resolve_configuration(plans, parent)
    axis = superior_inferior_axis(plans)
    voxels = math.ceil(max(si_extents_mm(plans, fingerprint)) / config["spacing"][axis] - 1e-6)
    step = math.prod(int(s[axis]) for s in config["architecture"]["arch_kwargs"]["strides"])
    patch = [int(p) for p in config["patch_size"]]
    patch[axis] = max(patch[axis], step * math.ceil(voxels / step))
    return patch


def with_full_si(plans: dict, fingerprint: dict, name: str = FULL_SI, parent: str = "3d_fullres") -> dict:
    """Copy of ``plans`` with a configuration ``name`` that inherits from ``parent`` and sets the full S-I patch
    (:func:`full_si_patch`); it reuses the parent's preprocessed data."""
    plans = copy.deepcopy(plans)
    plans["configurations"][name] = {"inherits_from": parent, "patch_size": full_si_patch(plans, fingerprint, parent)}
    return plans


def _cap_patch(patch: list[int], cap: list[int], strides: list[list[int]]) -> list[int]:
    """Each patch entry reduced to at most its cap, rounded down to a multiple of the strides' product."""
    out = []
    for axis, (size, limit) in enumerate(zip(patch, cap)):
        step = math.prod(int(s[axis]) for s in strides)
        out.append(int(size) if size <= limit else max(step, step * (int(limit) // step)))
    return out


def small_network(plans: dict, plans_name: str, base_features: int, max_features: int, max_stages: int,
                  batch_size: dict[str, int], max_patch: dict[str, list[int]] | None = None) -> dict:
    """Copy of ``plans`` with a smaller U-Net, batch and patch in the given configurations, for CPU training.

    Each configuration that defines an architecture keeps its first ``max_stages`` stages (kernels, strides,
    convolutions) with ``base_features * 2**stage`` feature maps, at most ``max_features``. ``batch_size``
    and ``max_patch`` (a per-axis upper bound in the plans' axis order, rounded down to a multiple of the
    remaining strides' product so the network can still downsample it) apply to the configurations they name.
    Configurations that inherit (the full S-I one) follow their parent unless named. ``data_identifier`` is
    unchanged, so the data preprocessed for the original plans are reused. The copy is named ``plans_name``.

    Parameters
    ----------
    plans : dict
    plans_name : str
        Name of the new plans (file ``<plans_name>.json``; models go to ``<trainer>__<plans_name>__<config>``).
    base_features : int
        Feature maps of the first stage (nnU-Net: 32); doubled at every stage.
    max_features : int
        Largest number of feature maps of a stage (nnU-Net: 320 in 3D, 512 in 2D).
    max_stages : int
        Largest number of resolution stages (>= 2).
    batch_size : dict of str to int
        Batch size per configuration, e.g. ``{"2d": 16, "3d_fullres": 2}``.
    max_patch : dict of str to list of int, optional
        Per-axis patch bound per configuration, e.g. ``{"3d_fullres": [16, 64, 64]}``.
    """
    if max_stages < 2 or base_features < 1 or max_features < base_features:
        raise InputError(f"need max_stages >= 2 and 1 <= base_features <= max_features; got {max_stages}, "
                         f"{base_features}, {max_features}")
    plans = copy.deepcopy(plans)
    plans["plans_name"] = plans_name
    for name, config in plans["configurations"].items():
        if "architecture" in config:
            arch = config["architecture"]["arch_kwargs"]
            n = min(int(arch["n_stages"]), int(max_stages))
            arch["n_stages"] = n
            arch["features_per_stage"] = [min(int(base_features) * 2**i, int(max_features)) for i in range(n)]
            for key in ("kernel_sizes", "strides", "n_conv_per_stage"):
                arch[key] = arch[key][:n]
            arch["n_conv_per_stage_decoder"] = arch["n_conv_per_stage_decoder"][: n - 1]
        if name in batch_size:
            config["batch_size"] = int(batch_size[name])
        if max_patch and name in max_patch:
            resolved = resolve_configuration(plans, name)
            strides = resolved["architecture"]["arch_kwargs"]["strides"]
            config["patch_size"] = _cap_patch(resolved["patch_size"], max_patch[name], strides)
    return plans
