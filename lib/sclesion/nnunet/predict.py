"""Predict with a trained model, in the input image's own orientation and grid.

Paper 2.3; book/methods.md, "nnU-Net settings" and "The model as a tool".

This is the one inference path of the project: ``sclesion predict`` (:func:`predict_files`, the study's test
sets) and ``sclesion segment`` (:mod:`sclesion.segment.run`, users' own scans) both load models with
:func:`load_model` and predict with :func:`predict_image`.

Inference settings of the study: every available fold ensembled (logits averaged), sliding window with tile
step 0.5 and Gaussian weighting, no mirroring, ``checkpoint_final.pth``.

Tiles: step and batches
-----------------------
``tile_step`` (:func:`load_model`; ``nnunet_tile_step``) is nnU-Net's ``-step_size``: the distance between two
tiles as a share of the patch (0.5, the study's, overlaps every tile by half; 1.0, the CPU demo's, only as much
as the image's size forces, about four times fewer tiles for a 3d patch).

nnU-Net passes the sliding window's tiles through the network one at a time. With ``tile_batch`` > 1
(:func:`load_model`; the demo profile's ``nnunet_tile_batch``) that many tiles go through in one forward pass and
are then added into the logits one by one, in nnU-Net's order, with its Gaussian weights and half-precision sums
(:func:`_batched_sliding_window`). On a CPU that is several times faster for small patches
(``benchmarks/bench_predict.py``). A convolution over a batch rounds differently from the same convolution over
one tile, so the logits then differ from ``nnUNetv2_predict``'s in float rounding (about 1e-5) and a voxel whose
two logits are that close can change its label; with ``tile_batch`` 1 (the paper profile) the logits are nnU-Net's
own, bit for bit.

How the model is loaded
-----------------------
Any nnU-Net v2 results folder works (``dataset.json``, ``plans.json``, ``fold_<k>/checkpoint_final.pth``):
the project's own models, whose checkpoints name nnU-Net's shipped trainer (:mod:`sclesion.nnunet.trainer`),
and folders trained elsewhere, such as the authors' released model. The network does not depend on the
trainer class, so :func:`load_model` rebuilds it from ``plans.json`` (nnU-Net's ``get_network_from_plans``),
reads each fold's weights, and hands both to ``nnUNetPredictor.manual_initialization`` (nnU-Net's public API
for an already built network), which needs no trainer lookup.

Orientation and axes
--------------------
A model expects images in the orientation its ``dataset.json`` names in ``image_orientation`` (SCT's
convention, e.g. ``"RPI"``; RPI when absent, as the study's models). Images read by SimpleITK give arrays
indexed ``[S-I, P-A, R-L]`` for RPI (nibabel's ``[i, j, k]`` reversed). :func:`predict_image` therefore
reorients the input to the model's orientation in memory (flips and permutations only), reverses the axes
(and the voxel sizes) for nnU-Net, predicts, and undoes both steps, so the label map lies on the input's
exact voxel grid and affine. Straightened images are predicted in straight space and then warped back to
native space, each label separately, with the stored inverse field
(:func:`sclesion.preprocessing.straightening.warp.warp_labels_back`: spline interpolation, > 0.5, lesion over
cord), as the authors did.

Output convention
-----------------
For an input ``<stem>.nii.gz`` (e.g. ``sub-tum001_ses-20200101_acq-ax_chunk-1_T2w``), the output folder gets::

    labelmaps/<stem>.nii.gz              region label map, uint8: 0 background, 1 cord, 2 lesion
    masks/<stem>_seg-pred.nii.gz         binary cord mask (label > 0: the cord includes its lesions)
    masks/<stem>_lesion-pred.nii.gz      binary lesion mask (label == 2)

The two kinds are kept in separate folders because :mod:`sclesion.evaluation.evaluate` reads one kind per folder; point
it at either. All files share the input's grid. A rerun keeps the outputs whose provenance records match their
image, the model's checkpoints and plans, and the folds (:mod:`sclesion.core.provenance`), and predicts the others
again: a retrained model predicts again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import types
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import save_nifti, write_text
from sclesion.core.errors import InputError
from sclesion.core.names import split_extension
from sclesion.core.nifti import axcodes, load_checked, load_field, load_image, load_nifti, reorient, voxel_sizes
from sclesion.core.provenance import OutputSet, sha256
from sclesion.nnunet.plans import read_json

#: The study's inference settings.
TILE_STEP_SIZE = 0.5
USE_GAUSSIAN = True
USE_MIRRORING = False
CHECKPOINT = "checkpoint_final.pth"

#: Orientation of a model whose dataset.json has no ``image_orientation`` (SCT's convention).
DEFAULT_ORIENTATION = "RPI"

#: Reader classes of nnU-Net whose arrays reverse nibabel's axis order.
_REVERSED_AXES_READERS = ("SimpleITKIO",)
_SAME_AXES_READERS = ("NibabelIO", "NibabelIOWithReorient")


def available_folds(model_dir: str | Path, checkpoint: str = CHECKPOINT) -> list[int]:
    """Folds of a model folder that hold ``checkpoint``, sorted."""
    folds = []
    for folder in Path(model_dir).glob("fold_*"):
        suffix = folder.name.removeprefix("fold_")
        if suffix.isdigit() and (folder / checkpoint).is_file():
            folds.append(int(suffix))
    return sorted(folds)


@dataclass
class Model:
    """A loaded model: nnU-Net's predictor plus what is needed to feed it.

    Attributes
    ----------
    predictor : nnunetv2.inference.predict_from_raw_data.nnUNetPredictor
    folds : list of int
        The folds ensembled.
    configuration : str
        E.g. ``"2d"``.
    reversed_axes : bool
        True when the model's arrays are SimpleITK-ordered (``[k, j, i]``).
    model_dir : Path
    orientation : str
        The model's input orientation in SCT's convention (``dataset.json`` ``image_orientation``), e.g. ``"RPI"``.
    weights_sha256 : str
        :func:`weights_checksum` of the folds ensembled.
    device : str
    """

    predictor: object
    folds: list[int]
    configuration: str
    reversed_axes: bool
    model_dir: Path
    orientation: str = DEFAULT_ORIENTATION
    weights_sha256: str = ""
    device: str = "cpu"


def weights_checksum(model_dir: str | Path, folds: list[int], checkpoint: str = CHECKPOINT) -> str:
    """One SHA-256 for the weights of a model's folds: the hash of ``"fold_<k>:<sha256 of its checkpoint>"``
    lines, in fold order; it changes whenever any ensembled fold is retrained."""
    lines = [f"fold_{k}:{sha256(Path(model_dir) / f'fold_{k}' / checkpoint)}" for k in sorted(folds)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sct_to_axcodes(orientation: str) -> tuple[str, str, str]:
    """nibabel axis codes of an SCT orientation string: SCT names where each axis comes *from* (``"RPI"``: axis
    0 runs right to left), nibabel where it points *to* (``("L", "A", "S")``).

    Raises
    ------
    InputError
        If the string is not three letters naming each of R/L, A/P, S/I once.
    """
    opposite = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
    text = str(orientation).upper()
    codes = tuple(opposite.get(c, "?") for c in text)
    pairs = {frozenset((c, opposite[c])) for c in text if c in opposite}
    if len(text) != 3 or "?" in codes or len(pairs) != 3:
        raise InputError(f"image_orientation {orientation!r} is not an orientation such as 'RPI'")
    return codes


def model_orientation(dataset_json: dict) -> str:
    """The input orientation a model expects (``image_orientation`` of its dataset.json, RPI when absent)."""
    return str(dataset_json.get("image_orientation", DEFAULT_ORIENTATION)).upper()


def check_model_folder(model_dir: str | Path) -> Path:
    """``model_dir`` as a Path if it holds ``plans.json`` and ``dataset.json``, else one :class:`InputError`."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InputError("model folder not found", model_dir)
    for name in ("plans.json", "dataset.json"):
        if not (model_dir / name).is_file():
            raise InputError(f"not a trained nnU-Net model folder: no {name}", model_dir)
    return model_dir


def load_model(model_dir: str | Path, folds: list[int] | None = None, device: str = "cpu",
               checkpoint: str = CHECKPOINT, tile_batch: int = 1, tile_step: float = TILE_STEP_SIZE) -> Model:
    """Load a trained model folder (``<trainer>__<plans>__<configuration>``) for prediction.

    Parameters
    ----------
    model_dir : str or Path
        Holds ``plans.json``, ``dataset.json`` and ``fold_<k>/<checkpoint>``.
    folds : list of int, optional
        Folds to ensemble; default: every fold with the checkpoint.
    device : str, default "cpu"
        ``"cpu"`` or ``"cuda"``.
    checkpoint : str, default ``checkpoint_final.pth``
    tile_batch : int, default 1
        Sliding-window tiles per forward pass; 1 is nnU-Net's own loop (module docstring, "Tiles: step and batches").
    tile_step : float, default 0.5
        Distance between tiles as a share of the patch, in (0, 1] (nnU-Net's ``-step_size``).

    Raises
    ------
    InputError
        If the folder lacks its plans, dataset.json or any requested checkpoint, ``tile_batch`` < 1 or
        ``tile_step`` outside (0, 1].
    """
    import torch

    with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net prints path notices at import
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    model_dir = check_model_folder(model_dir)
    if device not in ("cpu", "cuda"):
        raise InputError(f"device must be cpu or cuda, got {device!r}")
    if int(tile_batch) < 1:
        raise InputError(f"tile_batch must be at least 1, got {tile_batch!r}")
    if not 0 < float(tile_step) <= 1:
        raise InputError(f"tile_step must lie in (0, 1], got {tile_step!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch finds no CUDA device here; use --device cpu")
    folds = available_folds(model_dir, checkpoint) if folds is None else list(folds)
    if not folds:
        raise InputError(f"no fold_<k>/{checkpoint}: is training finished?", model_dir)
    parameters, first = [], None
    for fold in folds:
        path = model_dir / f"fold_{fold}" / checkpoint
        if not path.is_file():
            raise InputError("checkpoint not found", path)
        # nnU-Net's checkpoints hold numpy scalars, so they cannot be loaded with weights_only=True
        # (nnU-Net's own predictor loads them the same way).
        try:
            saved = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # a truncated or foreign file: torch raises many kinds
            raise InputError(f"cannot read the checkpoint ({type(err).__name__})", path) from None
        first = first or saved
        parameters.append(saved["network_weights"])
    plans = read_json(model_dir / "plans.json", "not a trained nnU-Net model folder: no plans.json")
    dataset_json = read_json(model_dir / "dataset.json", "not a trained nnU-Net model folder: no dataset.json")
    orientation = model_orientation(dataset_json)
    sct_to_axcodes(orientation)  # checked before any prediction
    plans_manager = PlansManager(plans)
    configuration = first["init_args"]["configuration"]
    config = plans_manager.get_configuration(configuration)
    label_manager = plans_manager.get_label_manager(dataset_json)
    network = get_network_from_plans(
        config.network_arch_class_name, config.network_arch_init_kwargs, config.network_arch_init_kwargs_req_import,
        len(dataset_json["channel_names"]), label_manager.num_segmentation_heads, allow_init=False,
        deep_supervision=False,
    )
    network.load_state_dict(parameters[0])
    with contextlib.redirect_stdout(io.StringIO()):
        predictor = nnUNetPredictor(
            tile_step_size=float(tile_step), use_gaussian=USE_GAUSSIAN, use_mirroring=USE_MIRRORING,
            perform_everything_on_device=device == "cuda", device=torch.device(device), verbose=False,
            allow_tqdm=False,
        )
    predictor.manual_initialization(network, plans_manager, config, parameters, dataset_json,
                                    first["trainer_name"], first.get("inference_allowed_mirroring_axes"))
    if int(tile_batch) > 1:
        predictor._internal_predict_sliding_window_return_logits = types.MethodType(
            functools.partial(_batched_sliding_window, batch=int(tile_batch)), predictor)
    reader = plans["image_reader_writer"]
    if reader not in _REVERSED_AXES_READERS + _SAME_AXES_READERS:
        raise InputError(f"plans use the image reader {reader!r}, whose axis order is not known here", model_dir)
    return Model(predictor, folds, configuration, reader in _REVERSED_AXES_READERS, model_dir, orientation,
                 weights_checksum(model_dir, folds, checkpoint), device)


def _batched_sliding_window(predictor, data, slicers, do_on_device: bool = True, batch: int = 1):
    """nnU-Net's ``nnUNetPredictor._internal_predict_sliding_window_return_logits`` with ``batch`` tiles per
    forward pass (module docstring, "Tiles: step and batches"); bound to a predictor by :func:`load_model`.

    Parameters
    ----------
    predictor : nnunetv2.inference.predict_from_raw_data.nnUNetPredictor
    data : torch.Tensor
        Preprocessed image, padded to at least one patch, shape ``(channels, *spatial)`` in nnU-Net's axis order.
    slicers : list of tuple of slice
        nnU-Net's tiles (``_internal_get_sliding_window_slicers``), in its order.
    do_on_device : bool
        Keep the sums on the prediction device.
    batch : int
        Tiles per forward pass.

    Returns
    -------
    torch.Tensor
        Logits, shape ``(heads, *spatial)``, half precision as nnU-Net's.
    """
    import torch
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    device = predictor.device if do_on_device else torch.device("cpu")
    data = data.to(device)
    logits = torch.zeros((predictor.label_manager.num_segmentation_heads, *data.shape[1:]), dtype=torch.half,
                         device=device)
    counts = torch.zeros(data.shape[1:], dtype=torch.half, device=device)
    weights = (compute_gaussian(tuple(predictor.configuration_manager.patch_size), sigma_scale=1. / 8,
                                value_scaling_factor=10, device=device) if predictor.use_gaussian else 1)
    for start in range(0, len(slicers), batch):
        group = slicers[start:start + batch]
        tiles = torch.stack([data[sl] for sl in group]).to(predictor.device)
        predictions = predictor._internal_maybe_mirror_and_predict(tiles).to(device)
        for sl, prediction in zip(group, predictions):
            if predictor.use_gaussian:
                prediction *= weights
            logits[sl] += prediction
            counts[sl[1:]] += weights
    logits /= counts
    if torch.any(torch.isinf(logits)):
        raise RuntimeError("infinite logits in the sliding window (nnU-Net's half-precision sums overflowed)")
    return logits


def predict_array(model: Model, data: np.ndarray, zooms: np.ndarray) -> np.ndarray:
    """Predict a region label map for a volume in the model's orientation.

    Parameters
    ----------
    model : Model
    data : numpy.ndarray
        Image, shape ``(X, Y, Z)`` in the model's orientation (:attr:`Model.orientation`; for RPI: R-L, P-A, I-S).
    zooms : numpy.ndarray
        Voxel sizes in mm, same axis order.

    Returns
    -------
    numpy.ndarray
        uint8 label map of shape ``(X, Y, Z)``: 0 background, 1 cord, 2 lesion.
    """
    array = np.asarray(data, dtype=np.float32)
    spacing = [float(z) for z in zooms]
    if model.reversed_axes:
        array, spacing = array.transpose(2, 1, 0), spacing[::-1]
    with contextlib.redirect_stdout(io.StringIO()):
        labels = _predict_nnunet_array(model, np.ascontiguousarray(array)[None], spacing)
    labels = np.asarray(labels, dtype=np.uint8)
    return labels.transpose(2, 1, 0) if model.reversed_axes else labels


def _predict_nnunet_array(model: Model, array: np.ndarray, spacing: list[float]) -> np.ndarray:
    """nnU-Net's ``predict_single_npy_array`` for ``array`` (shape ``(1, *spatial)``, nnU-Net's axis order), step
    by step: its preprocessing, its logits (the network keeps the weights of a single fold instead of reloading
    them for each image), its conversion back to the input's shape and labels (with our torch thread count
    instead of ``nnUNet_def_n_proc``, 8 by default, which oversubscribes small machines)."""
    import torch
    from nnunetv2.configuration import default_num_processes
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    predictor = model.predictor
    properties = {"spacing": spacing}
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    data, _ = preprocessor.run_case_npy(array, None, properties, predictor.plans_manager,
                                        predictor.configuration_manager, predictor.dataset_json)
    data = torch.from_numpy(data)
    if len(predictor.list_of_parameters) == 1:  # load_model left these weights in the network
        threads = torch.get_num_threads()
        torch.set_num_threads(min(default_num_processes, threads))  # as nnU-Net: 2d logits depend on it
        try:
            logits = predictor.predict_sliding_window_return_logits(data).to("cpu")
        finally:
            torch.set_num_threads(threads)
    else:
        logits = predictor.predict_logits_from_preprocessed_data(data).cpu()
    return convert_predicted_logits_to_segmentation_with_correct_shape(
        logits, predictor.plans_manager, predictor.configuration_manager, predictor.label_manager, properties,
        num_threads_torch=torch.get_num_threads())


def predict_image(model: Model, image: str | Path) -> nib.Nifti1Image:
    """Predict one image file; return the label map on the image's own grid (shape and affine).

    Raises
    ------
    InputError
        If the file is not a readable 3D NIfTI image.
    """
    data, affine = load_image(image)
    if not np.isfinite(data).all():
        raise InputError("image holds NaN or infinite values", image)
    model_data, model_affine = reorient(data, affine, sct_to_axcodes(model.orientation))
    labels = predict_array(model, model_data, voxel_sizes(model_affine))
    native, _ = reorient(labels, model_affine, axcodes(affine))
    return nib.Nifti1Image(np.ascontiguousarray(native, dtype=np.uint8), affine)


def nnunet_predict_command(model_dir: str | Path, input_dir: str | Path, output_dir: str | Path,
                           folds: list[int] | None = None, device: str = "cpu", tile_step: float = TILE_STEP_SIZE
                           ) -> tuple[list[str], dict[str, str]]:
    """The ``nnUNetv2_predict`` call (nnU-Net's own command) with the study's settings (or another ``tile_step``,
    its ``-step_size``) for a model folder laid
    out as nnU-Net's (``<nnUNet_results>/Dataset<id>_<name>/<trainer>__<plans>__<configuration>``), and the
    environment variables it needs; for checking that nnU-Net's tools load our models, and for benchmarks.

    ``nnUNetv2_predict`` reads every ``<case>_0000.nii.gz`` of ``input_dir`` as it is stored (no reorientation):
    give it images in the model's orientation. ``nnUNet_raw`` and ``nnUNet_preprocessed`` point at the work
    folder's, beside the results folder, as :func:`sclesion.nnunet.environment.nnunet_environ` sets them.

    Returns
    -------
    command : list of str
        Starts with the ``nnUNetv2_predict`` script of the running Python's environment.
    environ : dict of str to str
        Variables to add to the environment.
    """
    import sys

    model_dir = Path(model_dir).resolve()
    trainer, plans, configuration = model_dir.name.split("__")
    dataset = model_dir.parent.name
    results = model_dir.parent.parent
    folds = available_folds(model_dir) if folds is None else folds
    command = [str(Path(sys.executable).parent / "nnUNetv2_predict"), "-i", str(input_dir), "-o", str(output_dir),
               "-d", dataset, "-c", configuration, "-tr", trainer, "-p", plans, "-f", *[str(f) for f in folds],
               "-chk", CHECKPOINT, "-step_size", str(tile_step), "--disable_tta", "-device", device,
               "-npp", "1", "-nps", "1"]
    environ = {"nnUNet_raw": str(results.parent / "raw"), "nnUNet_preprocessed": str(results.parent / "preprocessed"),
               "nnUNet_results": str(results)}
    return command, environ


def warp_back(label_map: nib.Nifti1Image, inverse_field: str | Path, native_image: str | Path) -> nib.Nifti1Image:
    """Carry a straight-space label map to native space (each label separately, lesion over cord).

    The field is a 5D ``(X, Y, Z, 1, 3)`` displacement image (:mod:`sclesion.preprocessing.straightening.warp`),
    read and checked by :func:`sclesion.core.nifti.load_field`; its grid is checked by
    :func:`sclesion.preprocessing.straightening.warp.warp_labels_back`.

    Raises
    ------
    InputError
        If the field is missing or unreadable, or the native image is not a readable 3D NIfTI file.
    """
    from sclesion.preprocessing.straightening.warp import warp_labels_back

    field = load_field(inverse_field)
    return warp_labels_back(label_map, field, load_nifti(native_image))


# --- provenance: what made an output, and whether it is still current ---------------------------------------


def generated_by(model_dir: str | Path, folds: list[int], weights_sha256: str, device: str) -> dict:
    """The ``GeneratedBy`` entry (BIDS derivatives) of an output: this package, its version, and the model
    (folder, SHA-256 of its weights, folds ensembled, device, inference settings)."""
    from sclesion import __version__

    return {
        "Name": "sclesion", "Version": __version__,
        "Model": {"Folder": str(Path(model_dir).resolve()), "WeightsSHA256": weights_sha256,
                  "Folds": [int(f) for f in folds], "Checkpoint": CHECKPOINT},
        "Device": device,
        "Inference": {"TileStepSize": TILE_STEP_SIZE, "Gaussian": USE_GAUSSIAN, "Mirroring": USE_MIRRORING},
    }


def sidecar(model_dir: str | Path, folds: list[int], device: str, inputs: dict[str, str | Path],
            weights_sha256: str | None = None, **settings) -> dict:
    """A JSON sidecar's content (BIDS derivatives style): ``GeneratedBy``, ``Sources`` (the input files),
    ``Checksums`` (SHA-256 of the inputs and the weights) and any ``settings`` (e.g. post-processing).

    Parameters
    ----------
    model_dir : str or Path
    folds : list of int
        Folds ensembled.
    device : str
    inputs : dict of str to path
        Named input files, e.g. ``{"image": path}``.
    weights_sha256 : str, optional
        Computed from the checkpoints when not given.
    """
    weights = weights_sha256 or weights_checksum(model_dir, folds)
    return {
        "GeneratedBy": [generated_by(model_dir, folds, weights, device)],
        "Sources": [str(Path(p).resolve()) for p in inputs.values()],
        "Checksums": {**{name: sha256(p) for name, p in inputs.items()}, "weights": weights},
        "Settings": settings,
    }


def write_sidecar(record: dict, path: str | Path) -> Path:
    """Write a sidecar (:func:`sidecar`) atomically as indented JSON."""
    return write_text(json.dumps(record, indent=2) + "\n", path)


def output_paths(stem: str, out_dir: str | Path) -> dict[str, Path]:
    """The output files of an image stem (module docstring): ``labelmap``, ``cord``, ``lesion``."""
    out_dir = Path(out_dir)
    return {
        "labelmap": out_dir / "labelmaps" / f"{stem}.nii.gz",
        "cord": out_dir / "masks" / f"{stem}_seg-pred.nii.gz",
        "lesion": out_dir / "masks" / f"{stem}_lesion-pred.nii.gz",
    }


def write_outputs(label_map: nib.Nifti1Image, stem: str, out_dir: str | Path) -> dict[str, Path]:
    """Write a label map and its cord and lesion masks (uint8, the label map's grid); return the paths."""
    paths = output_paths(stem, out_dir)
    labels = np.asarray(label_map.dataobj, dtype=np.uint8)
    images = {"labelmap": labels, "cord": (labels > 0).astype(np.uint8), "lesion": (labels == 2).astype(np.uint8)}
    for kind, data in images.items():
        save_nifti(nib.Nifti1Image(data, label_map.affine), paths[kind])
    return paths


def predict_files(
    model_dir: str | Path, images: list[str | Path], out_dir: str | Path, folds: list[int] | None = None,
    device: str = "cpu", threads: int | None = None, inverse_fields: list | None = None,
    native_images: list | None = None, progress: bool = True, tile_batch: int = 1,
    tile_step: float = TILE_STEP_SIZE,
) -> pd.DataFrame:
    """Predict several images with one model and write the outputs (module docstring); skip finished ones.

    Parameters
    ----------
    model_dir : str or Path
        Trained model folder.
    images : list of str or Path
        Input images (any orientation).
    out_dir : str or Path
        Output folder (gets ``labelmaps/`` and ``masks/``).
    folds : list of int, optional
        Folds to ensemble; default all available.
    device : str, default "cpu"
    threads : int, optional
        torch threads while predicting (restored afterwards); default: unchanged.
    inverse_fields, native_images : list, optional
        For straightened inputs: per image, its inverse (straight -> native) field and its native image; the
        outputs are then written on the native grid under the native image's stem.
    progress : bool, default True
    tile_batch : int, default 1
    tile_step : float, default 0.5
        Sliding-window tiles per forward pass and distance between tiles (module docstring, "Tiles: step and
        batches"); recorded with the outputs, so a change predicts again.

    Returns
    -------
    pandas.DataFrame
        One row per image: ``image``, ``labelmap``, ``cord``, ``lesion`` (output paths), ``status``
        (``predicted``, or ``kept`` when the provenance records show the same image, weights and folds).
    """
    import torch

    images = [Path(p) for p in images]
    straight = inverse_fields is not None
    if straight and (native_images is None or len(inverse_fields) != len(images) or len(native_images) != len(images)):
        raise InputError("straightened inputs need one inverse field and one native image per image")
    targets = [Path(native_images[i]) if straight else image for i, image in enumerate(images)]
    stems = [split_extension(t.name)[0] for t in targets]
    check_model_folder(model_dir)
    used_folds = available_folds(model_dir, CHECKPOINT) if folds is None else sorted(int(f) for f in folds)
    model_files = {f"fold {k}": Path(model_dir) / f"fold_{k}" / CHECKPOINT for k in used_folds}
    model_files.update(plans=Path(model_dir) / "plans.json", dataset=Path(model_dir) / "dataset.json")
    checkpoints = {role: path for role, path in model_files.items() if path.is_file()}  # else load_model says why
    sets = []
    for i, image in enumerate(images):
        inputs = {"image": image, **checkpoints}
        if straight:
            inputs.update(field=inverse_fields[i], native=native_images[i])
        outputs = list(output_paths(stems[i], out_dir).values())
        sets.append(OutputSet("predict", outputs, inputs, {"folds": used_folds, "tile_batch": int(tile_batch),
                                                                 "tile_step": float(tile_step)}))
    pending = [i for i, outputs in enumerate(sets) if not outputs.up_to_date()]
    for i in pending:  # a bad image or model folder is one line before any work starts
        load_checked(images[i], "image")
    model = load_model(model_dir, folds, device, tile_batch=tile_batch, tile_step=tile_step) if pending else None
    rows = []
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        for i, image in enumerate(tqdm(images, desc=f"predicting ({Path(model_dir).name})", unit="image",
                                       disable=not progress)):
            paths = output_paths(stems[i], out_dir)
            status = "kept"
            if i in pending:
                label_map = predict_image(model, image)
                if straight:
                    label_map = warp_back(label_map, inverse_fields[i], native_images[i])
                with sets[i].writing():
                    write_outputs(label_map, stems[i], out_dir)
                status = "predicted"
            rows.append({"image": image, **paths, "status": status})
    finally:
        torch.set_num_threads(previous_threads)
    return pd.DataFrame(rows, columns=["image", "labelmap", "cord", "lesion", "status"])
