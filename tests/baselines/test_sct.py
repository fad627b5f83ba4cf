"""The SCT adapter, run against stand-in executables that check the authors' flags and write known masks.

The stand-ins (one Python script installed under each SCT tool's name, first on PATH) record every call,
exit non-zero unless called with exactly the command line of the paper's authors, and write a mask derived
from the image's intensities in another axis order than the input's, so that the adapter must bring it back
onto the input's grid. ``sct_deepseg`` accepts the SCT 6.x command lines when its version starts with 6, the
SCT 7 ones otherwise.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sclesion.baselines import sct
from sclesion.core.errors import InputError
from sclesion.core.nifti import axcodes
from sclesion.evaluation.evaluate import find_predictions

#: Voxel values of the test image (0 .. 209) that the stand-ins turn into masks.
CORD_FROM, SOFT_FROM, LESION_FROM = 100, 50, 180

STANDIN = r'''#!{python}
"""Stand-in for an SCT tool: checks its command line, records the call, writes a known mask."""
import json, os, sys, time
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
state = Path(os.environ["SCT_STANDIN_STATE"])
with open(state / "calls.jsonl", "a") as calls:
    calls.write(json.dumps([tool, *args]) + "\n")
version = os.environ.get("SCT_STANDIN_VERSION", "")


def fail(message):
    print(f"stand-in {{tool}}: {{message}}", file=sys.stderr)
    sys.exit(3)


if tool == "sct_version":
    print(version) if version else fail("no version")
    sys.exit(0)
sct6 = version.startswith("6.")
ofolder = lambda *flags: [["-i", "IMG", *flags, "-ofolder", "DIR"]]
expected = {{
    "sct_propseg": ofolder("-c", "t2"),
    "sct_deepseg_sc": ofolder("-c", "t2", "-kernel", "3d") + ofolder("-c", "t2", "-kernel", "2d"),
    "sct_deepseg_lesion": ofolder("-c", "t2_ax", "-centerline", "svm", "-brain", "0"),
    "sct_deepseg": [[*task, "-i", "IMG", "-o", "OUT"] for task in (
        (["-task", "seg_sc_contrast_agnostic"], ["-task", "seg_ms_lesion"]) if sct6
        else (["spinalcord"], ["lesion_ms"]))],
}}[tool]


def matches(pattern):
    if len(pattern) != len(args):
        return False
    for want, got in zip(pattern, args):
        ok = {{"IMG": lambda: Path(got).is_file(), "DIR": lambda: Path(got).is_dir(),
               "OUT": lambda: got.endswith(".nii.gz") and Path(got).parent.is_dir()}}.get(want, lambda: got == want)()
        if not ok:
            return False
    return True


if not any(matches(p) for p in expected):
    fail("unexpected command line " + " ".join(args))
print("Loading model", file=sys.stderr)
if os.environ.get("SCT_STANDIN_FAIL") == tool:
    fail("model crashed")
time.sleep(float(os.environ.get("SCT_STANDIN_SLEEP", "0")))
import nibabel as nib
import numpy as np
from nibabel import orientations as ornt

image_path = args[args.index("-i") + 1]
img = nib.load(image_path)
data = np.asanyarray(img.dataobj)
if tool == "sct_deepseg_lesion" and nib.aff2axcodes(img.affine) != ("L", "A", "S"):
    fail("input is not in RPI orientation")
if tool == "sct_deepseg_lesion" or args[:2] in (["-task", "seg_ms_lesion"], ["lesion_ms", "-i"]):
    mask = (data >= {lesion}).astype(np.uint8)
elif tool == "sct_deepseg":  # the contrast-agnostic model's soft output
    mask = np.where(data >= {cord}, 0.7, np.where(data >= {soft}, 0.3, 0.0)).astype(np.float32)
else:
    mask = (data >= {cord}).astype(np.uint8)
affine = img.affine.copy()
if os.environ.get("SCT_STANDIN_SHIFT"):
    affine[:3, 3] += 1.0
out = nib.Nifti1Image(mask, affine)
transform = ornt.ornt_transform(ornt.io_orientation(affine), ornt.axcodes2ornt(("I", "L", "P")))
out = out.as_reoriented(transform)  # another axis order than the input's
name = Path(image_path).name
stem, ext = (name[:-7], ".nii.gz") if name.endswith(".nii.gz") else (name[:-4], ".nii")
target = {{"sct_deepseg": args[-1], "sct_deepseg_lesion": os.path.join(args[-1], stem + "_lesionseg" + ext)}}.get(
    tool, os.path.join(args[-1], stem + "_seg" + ext))
if not os.environ.get("SCT_STANDIN_NO_OUTPUT"):
    nib.save(out, target)
print("Done", file=sys.stderr)
'''

TOOLS = ("sct_propseg", "sct_deepseg_sc", "sct_deepseg_lesion", "sct_deepseg", "sct_version")


@pytest.fixture
def standins(tmp_path, monkeypatch) -> Path:
    """Install the stand-ins in ``<tmp>/sct/bin``, first on PATH; return the folder holding ``calls.jsonl``."""
    bin_dir = tmp_path / "sct" / "bin"
    bin_dir.mkdir(parents=True)
    script = STANDIN.format(python=sys.executable, cord=CORD_FROM, soft=SOFT_FROM, lesion=LESION_FROM)
    for tool in TOOLS:
        (bin_dir / tool).write_text(script)
        (bin_dir / tool).chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SCT_STANDIN_STATE", str(state))
    monkeypatch.setenv("SCT_STANDIN_VERSION", "6.5")
    for name in ("SCT_DIR", "SCT_STANDIN_FAIL", "SCT_STANDIN_SLEEP", "SCT_STANDIN_SHIFT", "SCT_STANDIN_NO_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    return state


def calls(state: Path) -> list[list[str]]:
    """Every call the stand-ins received, argv[0] by its name."""
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def tool_calls(state: Path) -> list[list[str]]:
    """The calls of the segmentation tools (not the version probe)."""
    return [c for c in calls(state) if c[0] != "sct_version"]


#: Test image affine: voxel axes point posterior, superior, left (nibabel "PSL", not RPI = "LAS"); mm.
AFFINE = np.array([[0.0, 0.0, -3.0, 10.0],
                   [-0.5, 0.0, 0.0, 20.0],
                   [0.0, 0.6, 0.0, -30.0],
                   [0.0, 0.0, 0.0, 1.0]])


def make_image(folder: Path, name: str = "sub-tum001_ses-01_acq-ax_chunk-1_T2w.nii.gz", offset: float = 0.0) -> Path:
    """A 6 x 7 x 5 image of values 0 .. 209 (plus ``offset``) on :data:`AFFINE`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.arange(6 * 7 * 5, dtype=np.float32).reshape(6, 7, 5) + offset
    path = folder / name
    nib.save(nib.Nifti1Image(data, AFFINE), path)
    return path


def expected_mask(image: Path, start: float) -> np.ndarray:
    return (np.asanyarray(nib.load(image).dataobj) >= start).astype(np.uint8)


def hidden_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if not p.name.endswith(".provenance.json")]


def test_registry_keys_labels_and_the_papers_plot_order():
    assert list(sct.METHODS) == ["propseg", "deepsegsc3d", "deepsegsc2d", "contrastagnostic",
                                 "deepseglesion", "segmslesion"]
    assert [m.key for m in sct.METHODS.values() if m.label == "cord"] == list(sct.METHODS)[:4]
    assert all(m.label == "lesion" for m in list(sct.METHODS.values())[4:])
    assert all(re.fullmatch(r"[A-Za-z0-9]+", key) for key in sct.METHODS)  # BIDS entity values
    assert [m.key for m in sct.METHODS.values() if m.rpi] == ["deepseglesion"]
    with pytest.raises(InputError, match="unknown SCT method 'nope'"):
        sct.get_method("nope")


EXPECTED_ARGV = {
    "propseg": ["sct_propseg", "-i", "IMG", "-c", "t2", "-ofolder", "DIR"],
    "deepsegsc3d": ["sct_deepseg_sc", "-i", "IMG", "-c", "t2", "-kernel", "3d", "-ofolder", "DIR"],
    "deepsegsc2d": ["sct_deepseg_sc", "-i", "IMG", "-c", "t2", "-kernel", "2d", "-ofolder", "DIR"],
    "contrastagnostic": ["sct_deepseg", "-task", "seg_sc_contrast_agnostic", "-i", "IMG", "-o", "OUT"],
    "deepseglesion": ["sct_deepseg_lesion", "-i", "RPI", "-c", "t2_ax", "-centerline", "svm", "-brain", "0",
                      "-ofolder", "DIR"],
    "segmslesion": ["sct_deepseg", "-task", "seg_ms_lesion", "-i", "IMG", "-o", "OUT"],
}


@pytest.mark.parametrize("key", list(EXPECTED_ARGV))
def test_each_method_runs_the_authors_command_and_its_mask_lands_on_the_input_grid(standins, tmp_path, key):
    image = make_image(tmp_path / "in")
    out = tmp_path / "out"
    [mask] = sct.run_method(key, [image], out, progress=False)

    [argv] = tool_calls(standins)
    method = sct.METHODS[key]
    folder = Path(argv[argv.index("-ofolder") + 1]) if "-ofolder" in argv else Path(argv[-1]).parent
    placeholders = {str(image): "IMG", str(folder): "DIR", str(folder / f"{image.name[:-7]}.nii.gz"): "RPI"}
    if "-o" in argv:
        placeholders[argv[-1]] = "OUT"
    assert [placeholders.get(a, a) for a in argv] == EXPECTED_ARGV[key]
    assert folder.parent == out and not folder.exists()  # the working folder is gone

    suffix = "seg" if method.label == "cord" else "lesion"
    assert mask == out / f"sub-tum001_ses-01_acq-ax_chunk-1_T2w_{suffix}-{key}.nii.gz"
    written = nib.load(mask)
    assert written.shape == (6, 7, 5) and np.array_equal(written.affine, nib.load(image).affine)
    assert written.get_data_dtype() == np.uint8
    start = CORD_FROM if method.label == "cord" else LESION_FROM  # the soft band 0.3 (>= SOFT_FROM) is dropped
    assert np.array_equal(np.asanyarray(written.dataobj), expected_mask(image, start))
    assert expected_mask(image, start).sum() > 0

    sidecar = json.loads(mask.with_name(mask.name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["method"] == key and sidecar["sct_version"] == "6.5"
    assert sidecar["command"].split()[0] == method.executable and str(folder) in sidecar["command"]
    assert len(sidecar["input_sha256"]) == 64
    assert (out / "logs" / f"{mask.name[:-7]}.log").read_text().count("Loading model") == 1
    assert hidden_leftovers(out) == []


def test_deepseg_lesion_gets_an_rpi_copy_and_its_output_goes_back_to_the_inputs_orientation(standins, tmp_path):
    image = make_image(tmp_path / "in")
    assert axcodes(AFFINE) == ("P", "S", "L")
    [mask] = sct.run_method("deepseglesion", [image], tmp_path / "out", progress=False, version="6.5")
    [argv] = tool_calls(standins)
    assert argv[2] != str(image) and Path(argv[2]).name == image.name  # a reoriented copy (checked RPI by the tool)
    assert np.array_equal(nib.load(mask).affine, nib.load(image).affine)
    assert np.array_equal(np.asanyarray(nib.load(mask).dataobj), expected_mask(image, LESION_FROM))


def test_uncompressed_input_is_found_under_scts_output_name(standins, tmp_path):
    image = make_image(tmp_path / "in", "sub-a_T2w.nii")
    [mask] = sct.run_method("propseg", [image], tmp_path / "out", progress=False, version="6.5")
    assert mask.name == "sub-a_T2w_seg-propseg.nii.gz"
    assert np.array_equal(np.asanyarray(nib.load(mask).dataobj), expected_mask(image, CORD_FROM))


def test_predictions_pair_with_the_references_by_name(standins, tmp_path):
    image = make_image(tmp_path / "in")
    out = tmp_path / "out"
    [cord] = sct.run_method("propseg", [image], out, progress=False, version="6.5")
    [lesion] = sct.run_method("deepseglesion", [image], out, progress=False, version="6.5")
    found, problems = find_predictions(out)
    assert problems == []
    [(key, files)] = found.items()
    assert (key.participant_id, key.chunk, files.cord, files.lesion) == ("sub-tum001", 1, cord, lesion)


def test_up_to_date_outputs_are_skipped_and_changed_inputs_or_versions_redone(standins, tmp_path, monkeypatch):
    images = [make_image(tmp_path / "in", f"sub-{s}_T2w.nii.gz") for s in ("a", "b")]
    out = tmp_path / "out"
    first = sct.run_method("deepsegsc2d", images, out, progress=False)
    assert len(tool_calls(standins)) == 2
    assert sct.run_method("deepsegsc2d", images, out, progress=False) == first
    assert len(tool_calls(standins)) == 2  # nothing rerun

    make_image(tmp_path / "in", "sub-b_T2w.nii.gz", offset=60.0)
    sct.run_method("deepsegsc2d", images, out, progress=False)
    assert [Path(c[2]).name for c in tool_calls(standins)[2:]] == ["sub-b_T2w.nii.gz"]
    assert np.array_equal(np.asanyarray(nib.load(first[1]).dataobj), expected_mask(images[1], CORD_FROM))

    monkeypatch.setenv("SCT_STANDIN_VERSION", "6.4")
    sct.run_method("deepsegsc2d", images, out, progress=False)
    assert len(tool_calls(standins)) == 5  # another SCT version: both again


def test_a_failing_tool_is_one_line_naming_image_tool_and_its_last_stderr_line(standins, tmp_path, monkeypatch):
    image = make_image(tmp_path / "in")
    out = tmp_path / "out"
    [mask] = sct.run_method("propseg", [image], out, progress=False, version="6.5")
    make_image(tmp_path / "in", offset=1.0)  # the earlier mask is now stale
    monkeypatch.setenv("SCT_STANDIN_FAIL", "sct_propseg")
    with pytest.raises(InputError) as err:
        sct.run_method("propseg", [image], out, progress=False, version="6.5")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(image))
    assert "sct_propseg failed (exit 3): stand-in sct_propseg: model crashed (log: " in message
    assert not mask.exists() and not mask.with_name(mask.name.replace(".nii.gz", ".json")).exists()
    assert sorted(p.name for p in out.iterdir()) == ["logs"] and hidden_leftovers(out) == []
    assert "model crashed" in (out / "logs" / f"{mask.name[:-7]}.log").read_text()


def test_a_missing_output_or_an_output_off_the_grid_is_refused(standins, tmp_path, monkeypatch):
    image = make_image(tmp_path / "in")
    out = tmp_path / "out"
    monkeypatch.setenv("SCT_STANDIN_NO_OUTPUT", "1")
    with pytest.raises(InputError, match=r"sct_deepseg_sc wrote no sub-tum001_.*_T2w_seg\.nii\.gz: Done \(log"):
        sct.run_method("deepsegsc3d", [image], out, progress=False, version="6.5")
    monkeypatch.delenv("SCT_STANDIN_NO_OUTPUT")
    monkeypatch.setenv("SCT_STANDIN_SHIFT", "1")
    with pytest.raises(InputError, match=r"sct_deepseg_sc's output .*_T2w_seg\.nii\.gz: affine differs from the "
                                         r"input image's by up to 1 mm"):
        sct.run_method("deepsegsc3d", [image], out, progress=False, version="6.5")
    assert list(out.glob("*.nii.gz")) == [] and hidden_leftovers(out) == []


def test_a_tool_running_too_long_is_stopped(standins, tmp_path, monkeypatch):
    image = make_image(tmp_path / "in")
    monkeypatch.setenv("SCT_STANDIN_SLEEP", "60")
    started = time.monotonic()
    with pytest.raises(InputError, match="sct_propseg ran longer than 3 s"):
        sct.run_method("propseg", [image], tmp_path / "out", timeout_s=3, progress=False, version="6.5")
    assert time.monotonic() - started < 30


def test_a_missing_executable_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not sct.sct_available()
    with pytest.raises(InputError, match="^sct_propseg not found on PATH; install Spinal Cord Toolbox or use the "
                                         "stand-ins$"):
        sct.run_method("propseg", [make_image(tmp_path / "in")], tmp_path / "out", progress=False)


def test_availability_is_per_method(standins, tmp_path):
    assert sct.sct_available() and sct.sct_available(["propseg"])
    (tmp_path / "sct" / "bin" / "sct_deepseg_lesion").unlink()
    assert sct.sct_available(["propseg", "segmslesion"]) and not sct.sct_available()


@pytest.mark.parametrize("version, task", [("6.5", ["-task", "seg_sc_contrast_agnostic"]),
                                           ("7.0", ["spinalcord"]), ("7.4.dev0", ["spinalcord"])])
def test_the_contrast_agnostic_command_follows_the_sct_version(standins, tmp_path, monkeypatch, version, task):
    monkeypatch.setenv("SCT_STANDIN_VERSION", version)
    [mask] = sct.run_method("contrastagnostic", [make_image(tmp_path / "in")], tmp_path / "out", progress=False)
    [argv] = tool_calls(standins)
    assert argv[1:1 + len(task)] == task
    assert json.loads(mask.with_name(mask.name.replace(".nii.gz", ".json")).read_text())["sct_version"] == version


def test_seg_ms_lesion_uses_scts_new_task_name_from_version_7(standins, tmp_path, monkeypatch):
    monkeypatch.setenv("SCT_STANDIN_VERSION", "7.1")
    sct.run_method("segmslesion", [make_image(tmp_path / "in")], tmp_path / "out", progress=False)
    assert tool_calls(standins)[0][:2] == ["sct_deepseg", "lesion_ms"]


def test_the_version_comes_from_sct_version_or_a_git_installs_version_file(standins, tmp_path, monkeypatch):
    assert sct.sct_version() == "6.5"
    monkeypatch.setenv("SCT_STANDIN_VERSION", "git-master-3b3c5b2")
    assert sct.sct_version() == "git-master-3b3c5b2"  # no version.txt to be found
    (tmp_path / "sct" / "spinalcordtoolbox").mkdir()
    (tmp_path / "sct" / "spinalcordtoolbox" / "version.txt").write_text("7.4.dev0\n")
    assert sct.sct_version() == "7.4.dev0 (git-master-3b3c5b2)"
    assert sct.major_version(sct.sct_version()) == 7


def test_an_unknown_version_is_recorded_and_the_tool_still_runs(standins, tmp_path, monkeypatch):
    (tmp_path / "sct" / "bin" / "sct_version").unlink()
    monkeypatch.setenv("SCT_STANDIN_VERSION", "")  # the stand-in sct_deepseg then expects SCT 7's command lines
    assert sct.sct_version() == sct.UNKNOWN_VERSION
    [mask] = sct.run_method("contrastagnostic", [make_image(tmp_path / "in")], tmp_path / "out", progress=False)
    assert json.loads(mask.with_name(mask.name.replace(".nii.gz", ".json")).read_text())["sct_version"] == "unknown"
    assert tool_calls(standins)[0][1] == "spinalcord"


def test_two_images_with_one_name_are_refused(standins, tmp_path):
    images = [make_image(tmp_path / d) for d in ("x", "y")]
    with pytest.raises(InputError, match="a second image named"):
        sct.run_method("propseg", images, tmp_path / "out", progress=False, version="6.5")
