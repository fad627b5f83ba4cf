"""Execute the book's parameterized notebooks with papermill, then render them with Jupyter Book.

The pipeline behind ``make book``:

1. for a synthetic profile, generate the cohort (cached: regenerated only when its spec changes);
2. execute every notebook listed in ``_toc.yml``, in order, with the profile's parameters, into
   ``_build/executed/<profile>/`` (an executed copy per notebook; the sources are never modified);
3. stage the executed copies with ``_config.yml``, ``_toc.yml`` and ``book/`` in ``_build/src/``;
4. run ``jupyter-book build`` on the staging folder with execution off and warnings as errors, which
   writes ``_build/html/index.html``.

A notebook that raises, runs a cell longer than the profile's ``notebook_timeout_s``, loses its kernel or prints
a Python warning stops the pipeline with a :class:`~sclesion.core.errors.BookError` naming it (and the cell).
The rendered chapters read like the paper: code is collapsed behind a "show code" toggle and the parameters are
shown once, with the values used (:func:`prepare_for_reading`).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Any

import nbformat
import yaml

from sclesion.core.atomic import atomic_path
from sclesion.core.errors import BookError, InputError
from sclesion.core.paths import repo_root
from sclesion.core.profile import DEFAULT_NOTEBOOK_TIMEOUT_S, Profile

_WARNING = re.compile(r"\b\w*Warning\b")
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.*)$")
#: First line of a rendered parameters cell (the values are this build's, not the notebook's defaults).
PARAMETERS_HEADER = "# Parameters of this build (the profile's values; the notebook's defaults where it has none)"
#: Seconds a kernel may take to start and answer its first request.
KERNEL_START_TIMEOUT_S = 120
#: Seconds ``jupyter-book build`` may take to render the executed notebooks.
RENDER_TIMEOUT_S = 1800


def toc_notebooks(root: Path | None = None) -> list[Path]:
    """Return the notebooks listed in ``_toc.yml``, in reading order, as paths under ``root``.

    Parameters
    ----------
    root : Path, optional
        Repository root; defaults to :func:`sclesion.core.paths.repo_root`.
    """
    root = repo_root() if root is None else Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def notebook_parameters(path: Path) -> set[str]:
    """Return the names declared in the notebook's cell tagged ``parameters``.

    Raises
    ------
    InputError
        If the notebook has no cell tagged ``parameters``.
    """
    import papermill

    declared = papermill.inspect_notebook(str(path))
    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise InputError("no cell tagged 'parameters'", path)
    return set(declared)


def warnings_in(nb_path: Path) -> list[str]:
    """Return the lines of stderr output that report a Python warning in an executed notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found += [line for line in out.get("text", "").splitlines() if _WARNING.search(line)]
    return found


# Why a notebook could hang, and what prevents it. ipykernel 7 moved the shell channel to a thread of its own that
# hands requests to the main loop through in-process sockets, and its replies go out raw on the same ROUTER socket.
# With pyzmq's edge-triggered socket notification a reply can consume the "readable" edge of a request that has
# just arrived; that request and every later one then stay unread: the kernel sits idle and papermill (nbclient)
# waits for a reply forever. ipykernel 7.4.0 fixed one such race (ipykernel pull request 1529; with two requests
# kept in flight, 7.3.0 stopped answering after 100-800 replies here, 7.4.0 did not), but a full test run here
# still hung with 7.4.0: kernel and client both idle in their event loops in the middle of a chapter. Requests
# overlap exactly when a kernel starts or runs slowly, as on a fresh clone or a loaded 2-core machine. The 6.x
# kernels read and answer the shell channel on one stream of the main loop, so pyproject.toml requires
# ipykernel<7 (tests/test_book.py keeps the overlapping-requests check and the version bound). Every wait is
# bounded anyway: the kernel's start (KERNEL_START_TIMEOUT_S), each cell and the final kernel_info reply (the
# profile's notebook_timeout_s). The transport stays TCP on the loopback interface, as Jupyter's default.
def execute_notebook(source: Path, target: Path, parameters: dict[str, Any], cwd: Path,
                     timeout_s: int = DEFAULT_NOTEBOOK_TIMEOUT_S) -> Path:
    """Execute ``source`` with papermill into ``target`` (atomically), passing the parameters it declares.

    Parameters
    ----------
    source, target : Path
        The notebook and its executed copy (the source is never modified).
    parameters : dict
        Plain values; those the notebook does not declare are not passed.
    cwd : Path
        Working directory of the kernel.
    timeout_s : int
        Longest time one cell may run, seconds (the profile's ``notebook_timeout_s``). The kernel's start and its
        last reply are bounded as well, so an execution never waits forever.

    Raises
    ------
    BookError
        If a cell raises, runs longer than ``timeout_s``, the kernel dies or does not answer, or the notebook
        prints a Python warning. The partly executed copy is kept as ``<target stem>.failed.ipynb``.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    declared = notebook_parameters(source)
    passed = {k: v for k, v in parameters.items() if k in declared}
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    failed.unlink(missing_ok=True)

    def fail(problem: str, tmp: Path) -> BookError:
        if tmp.is_file():
            shutil.copy(tmp, failed)
            problem += f"; see {failed}"
        return BookError(f"{source}: {problem}")

    with atomic_path(target) as tmp:
        try:
            papermill.execute_notebook(
                str(source), str(tmp), parameters=passed, cwd=str(cwd), kernel_name="python3",
                progress_bar=False, log_output=False, execution_timeout=int(timeout_s),
                start_timeout=KERNEL_START_TIMEOUT_S,
            )
        except papermill.PapermillExecutionError as err:
            raise fail(f"{_last_started_cell(tmp)} raised {err.ename}: {err.evalue}", tmp) from None
        except CellTimeoutError:
            raise fail(f"{_last_started_cell(tmp)} still running after {timeout_s} s "
                       "(the profile's notebook_timeout_s)", tmp) from None
        except DeadKernelError:
            raise fail(f"the kernel died during {_last_started_cell(tmp)}", tmp) from None
        except (RuntimeError, TimeoutError, AssertionError) as err:
            # nbclient's RuntimeError: no answer to kernel_info within start_timeout; AssertionError: no answer
            # to the final kernel_info within timeout_s (nbclient asserts a cell where there is none).
            raise fail(f"the kernel did not answer ({type(err).__name__}: {err or 'no reply'})", tmp) from None
        noisy = warnings_in(tmp)
        if noisy:
            raise fail(f"notebook printed warnings: {noisy[:3]}", tmp)
    return target


def _last_started_cell(path: Path) -> str:
    """Name the last cell papermill started in a partly executed notebook: ``cell N (`first line`)``.

    ``N`` counts the cells of the source notebook (papermill's injected and error cells are not counted).
    """
    if not path.is_file():
        return "a cell"
    added = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [c for c in nbformat.read(path, as_version=4).cells if not added & set(c.metadata.get("tags", []))]
    started = [i for i, c in enumerate(cells)
               if c.cell_type == "code" and c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return "the first cell"
    first = next((line for line in cells[started[-1]].source.splitlines() if line.strip()), "")
    return f"cell {started[-1] + 1} (`{first[:60]}`)"


def prepare_for_reading(path: Path) -> Path:
    """Make an executed notebook read like the paper when rendered (in place; run on executed copies only).

    Code cells get the ``hide-input`` tag (Jupyter Book collapses the code behind a "show code" toggle and
    shows the outputs). The parameters are shown once: the cell tagged ``parameters`` keeps its comments and
    takes the values papermill injected under :data:`PARAMETERS_HEADER`, and papermill's ``injected-parameters``
    cell is removed.
    """
    nb = nbformat.read(path, as_version=4)
    injected = next((c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        if "parameters" in tags:
            if injected is not None:
                lines = merge_parameters(cell.source, injected.source).splitlines()
                while lines and lines[0].startswith("#"):  # the defaults' header comment no longer applies
                    lines.pop(0)
                cell.source = "\n".join([PARAMETERS_HEADER, *lines])
        elif "injected-parameters" in tags:
            tags.append("remove-cell")
        elif "hide-input" not in tags and "remove-input" not in tags and "remove-cell" not in tags:
            tags.append("hide-input")
        cell.metadata["tags"] = tags
    nbformat.write(nb, path)
    return path


def merge_parameters(defaults: str, injected: str) -> str:
    """The parameters cell with each assignment papermill injected replacing the default (comments kept).

    Parameters
    ----------
    defaults : str
        Source of the notebook's ``parameters`` cell: one ``name = value  # comment`` per line.
    injected : str
        Source of papermill's ``injected-parameters`` cell.
    """
    values = {}
    for line in injected.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            values[match["name"]] = match["value"].strip()
    merged = []
    for line in defaults.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match["name"] in values:
            comment = _comment(line)
            line = f"{match['name']} = {values.pop(match['name'])}" + (f"  {comment}" if comment else "")
        merged.append(line)
    merged += [f"{name} = {value}" for name, value in values.items()]
    return "\n".join(merged)


def _comment(line: str) -> str:
    """The ``# comment`` at the end of one line of Python, or ''."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    return next((t.string for t in tokens if t.type == tokenize.COMMENT), "")


def ensure_cohort(profile: Profile, root: Path) -> None:
    """Generate the synthetic cohort of a synthetic profile (a no-op when it is up to date)."""
    if not profile.synthetic:
        return
    from sclesion.data.synthetic import generate_cohort

    generate_cohort(profile.name, root / profile.bids_root, n_jobs=profile.n_jobs)


def stage_book(executed: list[Path], root: Path, stage: Path) -> Path:
    """Copy the book's sources and the executed notebooks into ``stage`` (notebooks prepared for reading)."""
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(root / name, stage / name)
    for folder in ("book", "_static"):
        if (root / folder).is_dir():
            shutil.copytree(root / folder, stage / folder)
    for nb in executed:
        prepare_for_reading(Path(shutil.copy(nb, stage / "notebooks" / nb.name)))
    return stage


def build_html(stage: Path, output: Path) -> Path:
    """Render the staged book with Jupyter Book (no execution, warnings are errors); return index.html.

    Raises
    ------
    BookError
        If ``jupyter-book build`` fails or runs longer than :data:`RENDER_TIMEOUT_S` (the tail of its log).
    """
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(stage), "--path-output", str(output), "-W", "--keep-going", "--all"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BookError(f"{stage}: jupyter-book build ran longer than {RENDER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BookError(f"{stage}: jupyter-book build failed:\n{tail}")
    return output / "_build" / "html" / "index.html"


def build(profile: str | Path = "demo", overrides: dict[str, Any] | None = None, only: list[str] | None = None,
          render: bool = True, root: Path | None = None) -> Path:
    """Run the whole pipeline for a profile; return the executed-notebook folder or the book's index.html.

    Parameters
    ----------
    profile : str or Path
        Profile name (``demo``, ``smoke``, ``paper``) or path to a profile YAML.
    overrides : dict, optional
        Values that replace the profile's (e.g. ``{"bids_root": "/data/bids"}``), or notebook parameters that
        are not profile keys (e.g. ``{"subject": "sub-tum001"}``; at least one notebook must declare each).
    only : list of str, optional
        Execute only notebooks whose file name contains one of these strings (no rendering).
    render : bool
        Run ``jupyter-book build`` after executing.

    Raises
    ------
    InputError
        If the profile or an override is invalid.
    BookError
        If a notebook fails or the book does not render.
    """
    from tqdm.auto import tqdm

    from sclesion.core.profile import PROFILE_KEYS

    root = repo_root() if root is None else Path(root)
    overrides = dict(overrides or {})
    extra = {k: v for k, v in overrides.items() if k not in PROFILE_KEYS and not k.startswith("nnunet_")}
    settings = Profile.load(profile, {k: v for k, v in overrides.items() if k not in extra})
    ensure_cohort(settings, root)
    notebooks = toc_notebooks(root)
    declared = set().union(*(notebook_parameters(nb) for nb in notebooks)) if notebooks else set()
    unknown = sorted(set(extra) - declared)
    if unknown:
        raise InputError(f"no notebook declares the parameter(s) {', '.join(unknown)}")
    if only:
        notebooks = [nb for nb in notebooks if any(o in nb.name for o in only)]
        render = False
    parameters = {**settings.parameters(), **extra}
    out_dir = root / "_build" / "executed" / settings.name
    executed = []
    for nb in tqdm(notebooks, desc=f"executing notebooks ({settings.name})", unit="notebook"):
        executed.append(execute_notebook(nb, out_dir / nb.name, parameters, cwd=root,
                                         timeout_s=settings.notebook_timeout_s))
    if not render:
        return out_dir
    stage = stage_book(executed, root, root / "_build" / "src")
    return build_html(stage, root)
