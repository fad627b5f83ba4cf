"""Run Spinal Cord Toolbox (SCT) segmentation tools as the paper's authors did, and put their outputs beside ours.

SCT cannot be installed everywhere (not in the demo); where its ``sct_*`` executables are on PATH, this adapter
runs them with the authors' flags (paper 2.5.1, 3.1, 3.4, Table A2):

================  ======  =======================================================================================
key               label   command (SCT 6.x; SCT >= 7 where it differs)
================  ======  =======================================================================================
propseg           cord    ``sct_propseg -i IMG -c t2 -ofolder DIR``
deepsegsc3d       cord    ``sct_deepseg_sc -i IMG -c t2 -kernel 3d -ofolder DIR`` (default SVM centerline)
deepsegsc2d       cord    ``sct_deepseg_sc -i IMG -c t2 -kernel 2d -ofolder DIR``
contrastagnostic  cord    ``sct_deepseg -task seg_sc_contrast_agnostic -i IMG -o OUT``;
                          SCT >= 7: ``sct_deepseg spinalcord -i IMG -o OUT``
deepseglesion     lesion  ``sct_deepseg_lesion -i IMG -c t2_ax -centerline svm -brain 0 -ofolder DIR``, IMG first
                          reoriented to RPI (the authors ran ``sct_image -setorient RPI``; done here in Python)
segmslesion       lesion  ``sct_deepseg -task seg_ms_lesion -i IMG -o OUT``; SCT >= 7: ``sct_deepseg lesion_ms``
================  ======  =======================================================================================

:data:`METHODS` keeps them in this order, the cord methods in the plot order of the paper's Fig 5. Keys are
letters and digits only, as BIDS entity values must be. SCT 7 renamed the ``sct_deepseg`` tasks and ships newer models
under the new names: the paper's numbers were made with SCT 6.5.

Every output is read back, reoriented to the input image's axis order, checked to lie on its grid (shape, and
affine within :data:`sclesion.core.nifti.AFFINE_ATOL_MM`), binarised (> 0.5; the contrast-agnostic model's
soft output included) and saved as ``<image stem>_seg-<key>.nii.gz`` (cord) or ``<image stem>_lesion-<key>.nii.gz``
(lesion), uint8 on the input's grid, the names :func:`sclesion.evaluation.evaluate.find_predictions` pairs with
the references. Beside each lies a JSON sidecar ``<same stem>.json`` (method, command line as run, SCT version,
input sha256) and, under ``logs/``, the tool's stdout and stderr. Reruns skip images whose outputs are up to
date (:class:`sclesion.core.provenance.OutputSet`: same image, method, command and SCT version).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nibabel as nib
import numpy as np
from tqdm.auto import tqdm

from sclesion.core.atomic import save_nifti, temporary_folder, write_text
from sclesion.core.errors import InputError
from sclesion.core.names import require_nifti
from sclesion.core.nifti import axcodes, check_grid, load_nifti, nifti_stem, read_data, reorient, to_rpi
from sclesion.core.provenance import OutputSet, remove_with_record, sha256
from sclesion.core.workers import die_with_parent
from sclesion.evaluation.evaluate import REFERENCE_ENTITIES

#: Longest run of one SCT tool on one image by default, seconds (the deep models take minutes on a CPU).
DEFAULT_TIMEOUT_S: float = 1800.0

#: Longest run of ``sct_version``, seconds.
VERSION_TIMEOUT_S: float = 120.0

#: A voxel of a tool's output is foreground when its value is above this (binary and soft outputs alike).
THRESHOLD: float = 0.5

#: The version recorded when SCT's cannot be found (the tools still run, with the SCT >= 7 command lines).
UNKNOWN_VERSION: str = "unknown"


@dataclass(frozen=True)
class Method:
    """One SCT segmentation method and how its command line is built.

    Attributes
    ----------
    key : str
        Short name, letters and digits only (it becomes a BIDS entity value in the output's name).
    name : str
        Display name.
    label : {"cord", "lesion"}
        What it segments.
    command : tuple of str
        The command line (SCT 6.x); ``{image}`` stands for the input file, ``{folder}`` for the working folder,
        ``{output}`` for the output file the tool is told to write.
    output : str
        Name of the tool's output in the working folder; ``{stem}`` and ``{ext}`` stand for the input file's
        stem and extension (``.nii.gz`` or ``.nii``), as SCT names it.
    command_sct7 : tuple of str or None
        The command line under SCT >= 7 where it differs.
    rpi : bool
        Reorient the input to RPI before running the tool (and its output back after).
    """

    key: str
    name: str
    label: str
    command: tuple[str, ...]
    output: str
    command_sct7: tuple[str, ...] | None = None
    rpi: bool = False

    @property
    def executable(self) -> str:
        """The SCT executable it runs, e.g. ``"sct_propseg"``."""
        return self.command[0]

    def command_for(self, version: str) -> tuple[str, ...]:
        """The command line template for an SCT version (SCT >= 7 or unknown: :attr:`command_sct7` if set)."""
        major = major_version(version)
        if self.command_sct7 is not None and (major is None or major >= 7):
            return self.command_sct7
        return self.command


_DEEPSEG_SC = ("sct_deepseg_sc", "-i", "{image}", "-c", "t2", "-kernel")

#: Every method, cord methods first in the plot order of the paper's Fig 5, then the lesion methods.
METHODS: dict[str, Method] = {m.key: m for m in (
    Method("propseg", "sct_propseg", "cord",
           ("sct_propseg", "-i", "{image}", "-c", "t2", "-ofolder", "{folder}"), "{stem}_seg{ext}"),
    Method("deepsegsc3d", "sct_deepseg_sc 3D", "cord", _DEEPSEG_SC + ("3d", "-ofolder", "{folder}"),
           "{stem}_seg{ext}"),
    Method("deepsegsc2d", "sct_deepseg_sc 2D", "cord", _DEEPSEG_SC + ("2d", "-ofolder", "{folder}"),
           "{stem}_seg{ext}"),
    Method("contrastagnostic", "contrast-agnostic", "cord",
           ("sct_deepseg", "-task", "seg_sc_contrast_agnostic", "-i", "{image}", "-o", "{output}"),
           "{stem}_pred.nii.gz",
           command_sct7=("sct_deepseg", "spinalcord", "-i", "{image}", "-o", "{output}")),
    Method("deepseglesion", "sct_deepseg_lesion", "lesion",
           ("sct_deepseg_lesion", "-i", "{image}", "-c", "t2_ax", "-centerline", "svm", "-brain", "0",
            "-ofolder", "{folder}"), "{stem}_lesionseg{ext}", rpi=True),
    Method("segmslesion", "seg_ms_lesion", "lesion",
           ("sct_deepseg", "-task", "seg_ms_lesion", "-i", "{image}", "-o", "{output}"), "{stem}_pred.nii.gz",
           command_sct7=("sct_deepseg", "lesion_ms", "-i", "{image}", "-o", "{output}")),
)}


def get_method(key: str) -> Method:
    """The method of :data:`METHODS` with this key, or :class:`InputError` listing the keys."""
    if key not in METHODS:
        raise InputError(f"unknown SCT method {key!r}; choose one of {', '.join(METHODS)}")
    return METHODS[key]


def sct_available(keys: Iterable[str] | None = None) -> bool:
    """True when the executables of the methods ``keys`` (default: all) are on PATH."""
    return all(shutil.which(get_method(k).executable) for k in (METHODS if keys is None else keys))


def output_path(image: str | Path, folder: str | Path, key: str) -> Path:
    """Where a method's mask of ``image`` goes: ``<folder>/<image stem>_seg-<key>.nii.gz`` (cord) or
    ``..._lesion-<key>.nii.gz`` (lesion)."""
    method = get_method(key)
    return Path(folder) / f"{nifti_stem(image)}_{REFERENCE_ENTITIES[method.label][0]}-{method.key}.nii.gz"


def major_version(version: str) -> int | None:
    """The major number of a version string starting with ``<major>.<minor>`` (e.g. 6 of ``"6.5"``), else None."""
    match = re.match(r"(\d+)\.\d+", version.strip())
    return int(match[1]) if match else None


def sct_version(timeout_s: float = VERSION_TIMEOUT_S) -> str:
    """The installed SCT's version, as ``sct_version`` prints it (e.g. ``"6.5"``), or :data:`UNKNOWN_VERSION`.

    A git install prints ``git-<branch>-<commit>``; the number of its ``spinalcordtoolbox/version.txt``
    (found through ``$SCT_DIR`` or beside the executables' ``bin/`` folder) then comes first:
    ``"7.4.dev0 (git-master-3b3c5b2)"``.
    """
    printed = ""
    executable = shutil.which("sct_version")
    if executable:
        try:
            done = subprocess.run([executable], capture_output=True, text=True, timeout=timeout_s)
            lines = done.stdout.strip().splitlines() if done.returncode == 0 else []
            printed = lines[-1].strip() if lines else ""
        except (OSError, subprocess.TimeoutExpired):
            printed = ""
    if major_version(printed) is not None:
        return printed
    number = _version_file()
    if number:
        return f"{number} ({printed})" if printed else number
    return printed or UNKNOWN_VERSION


def _version_file() -> str:
    """The first line of SCT's ``spinalcordtoolbox/version.txt``, or "" when none is found."""
    roots = [Path(os.environ["SCT_DIR"])] if os.environ.get("SCT_DIR") else []
    for name in ("sct_version", *(m.executable for m in METHODS.values())):
        found = shutil.which(name)
        if found:
            roots.append(Path(found).resolve().parents[1])  # <SCT_DIR>/bin/<tool>
    for root in roots:
        try:
            lines = (root / "spinalcordtoolbox" / "version.txt").read_text().split()
        except OSError:
            continue
        if lines:
            return lines[0]
    return ""


def run_method(key: str, images: Iterable[str | Path], out_folder: str | Path, *,
               timeout_s: float = DEFAULT_TIMEOUT_S, version: str | None = None,
               progress: bool = True) -> list[Path]:
    """Segment every image with one SCT method into ``out_folder``, skipping images already done.

    Parameters
    ----------
    key : str
        A key of :data:`METHODS`, e.g. ``"propseg"``.
    images : iterable of str or Path
        3D NIfTI images (any orientation; axial T2w in the study).
    out_folder : str or Path
        Where the masks (see :func:`output_path`), their JSON sidecars and ``logs/<mask stem>.log`` go.
    timeout_s : float, default :data:`DEFAULT_TIMEOUT_S`
        Longest run of the tool on one image, seconds.
    version : str, optional
        The SCT version; asked from SCT (:func:`sct_version`) when not given. It chooses the command line of
        the ``sct_deepseg`` methods and is recorded.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    list of Path
        The masks, one per image, in the order of ``images``: uint8 {0, 1} on the image's grid.

    Raises
    ------
    InputError
        In one line: the executable is not on PATH; an image is not a readable 3D NIfTI file; two images share
        a name; the tool fails, times out or writes no output (naming the image, the tool and the last line of
        its stderr); its output does not lie on the image's grid. The failing image is left without output.
    """
    method = get_method(key)
    if shutil.which(method.executable) is None:
        raise InputError(f"{method.executable} not found on PATH; install Spinal Cord Toolbox or use the stand-ins")
    version = sct_version() if version is None else version
    command = method.command_for(version)
    parameters = {"method": method.key, "command": shlex.join(command), "sct_version": version}
    images = [require_nifti(p) for p in images]
    masks: list[Path] = []
    for image in tqdm(images, desc=method.name, unit="image", disable=not progress):
        mask = output_path(image, out_folder, method.key)
        if mask in masks:
            raise InputError(f"a second image named {image.name}; {mask.name} would be written twice", image)
        sidecar = mask.with_name(f"{nifti_stem(mask)}.json")
        outputs = OutputSet(f"sct {method.key}", [mask, sidecar], inputs={"image": image}, parameters=parameters)
        if not outputs.up_to_date():
            for path in (mask, sidecar):
                remove_with_record(path)
            with outputs.writing():
                _segment(method, command, image, mask, sidecar, version, timeout_s)
        masks.append(mask)
    return masks


def _segment(method: Method, command: tuple[str, ...], image: Path, mask: Path, sidecar: Path, version: str,
             timeout_s: float) -> None:
    """Run the tool on one image in a temporary folder, then write the mask on the image's grid and its sidecar."""
    reference = load_nifti(image)
    stem = nifti_stem(image)
    work = temporary_folder(mask)
    try:
        if method.rpi:
            tool_input, extension = work / f"{stem}.nii.gz", ".nii.gz"
            _save_rpi(reference, image, tool_input)
        else:
            tool_input, extension = image.absolute(), image.name[len(stem):]
        produced = work / method.output.format(stem=stem, ext=extension)
        argv = [part.format(image=tool_input, folder=work, output=produced) for part in command]
        log = mask.parent / "logs" / f"{nifti_stem(mask)}.log"
        last_line = _run(argv, work, log, timeout_s, image)
        if not produced.is_file():
            raise InputError(f"{method.executable} wrote no {produced.name}: {last_line} (log: {log})", image)
        data = _on_grid(produced, reference, method.executable, image)
        out = nib.Nifti1Image(data, reference.affine, reference.header)
        out.set_data_dtype(np.uint8)
        out.header.set_slope_inter(1, 0)
        save_nifti(out, mask)
        record = {"method": method.key, "name": method.name, "label": method.label, "command": shlex.join(argv),
                  "executable": shutil.which(method.executable), "sct_version": version,
                  "input": str(image.absolute()), "input_sha256": sha256(image)}
        write_text(json.dumps(record, indent=1) + "\n", sidecar)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _save_rpi(reference: nib.Nifti1Image, image: Path, target: Path) -> None:
    """Write ``image`` reoriented to RPI (flips and axis permutations only) as float32 to ``target``."""
    data, affine = to_rpi(read_data(reference, image), reference.affine)
    out = nib.Nifti1Image(np.ascontiguousarray(data), affine, reference.header)
    out.set_data_dtype(np.float32)
    out.header.set_slope_inter(1, 0)
    nib.save(out, target)


def _run(argv: list[str], cwd: Path, log: Path, timeout_s: float, image: Path) -> str:
    """Run one tool in ``cwd``, its stdout and stderr written to ``log``; return the last line of its stderr.

    The streams go to files, not pipes, so that a killed tool's own children cannot hold this process; the
    tool is killed with this process.

    Raises
    ------
    InputError
        Naming ``image`` and the tool, when it cannot start, runs longer than ``timeout_s`` or exits non-zero.
    """
    tool = Path(argv[0]).name
    streams = {name: cwd / f".{name}.txt" for name in ("stdout", "stderr")}
    try:
        with streams["stdout"].open("w") as stdout, streams["stderr"].open("w") as stderr:
            done = subprocess.run(argv, cwd=cwd, stdout=stdout, stderr=stderr, timeout=timeout_s,
                                  preexec_fn=functools.partial(die_with_parent, os.getpid()))
        outcome = f"exit {done.returncode}"
    except OSError as err:
        raise InputError(f"{tool} could not be started ({err.strerror or type(err).__name__})", image) from None
    except subprocess.TimeoutExpired:
        outcome = f"killed after {timeout_s:g} s"
    text = {name: path.read_text(errors="replace") for name, path in streams.items()}
    write_text(f"$ {shlex.join(argv)}\n# {outcome}\n--- stdout\n{text['stdout']}\n--- stderr\n{text['stderr']}\n",
               log)
    if outcome.startswith("killed"):
        raise InputError(f"{tool} ran longer than {timeout_s:g} s (log: {log})", image)
    last = next((line.strip() for name in ("stderr", "stdout")
                 for line in reversed(text[name].splitlines()) if line.strip()), "no message")
    if done.returncode != 0:
        raise InputError(f"{tool} failed ({outcome}): {last} (log: {log})", image)
    return last


def _on_grid(produced: Path, reference: nib.Nifti1Image, tool: str, image: Path) -> np.ndarray:
    """A tool's output reoriented to the input's axis order, checked against its grid and binarised (uint8)."""
    try:
        img = load_nifti(produced, in_memory=True)
        data, affine = reorient(read_data(img, produced), img.affine, axcodes(reference.affine))
        check_grid(nib.Nifti1Image(data, affine), produced, reference, "the input image")
    except InputError as err:
        raise InputError(f"{tool}'s output {produced.name}: {err.problem}", image) from None
    return (data > THRESHOLD).astype(np.uint8)
