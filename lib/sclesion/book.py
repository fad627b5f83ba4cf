"""Execute the book's parameterized notebooks with papermill, then render them with Jupyter Book.

The pipeline behind ``make book``:

1. for a synthetic profile, generate the cohort (cached: regenerated only when its spec changes);
2. execute every notebook listed in ``_toc.yml``, in order, with the profile's parameters, into
   ``_build/executed/<profile>/`` (an executed copy per notebook; the sources are never modified);
3. stage the executed copies with ``_config.yml``, ``_toc.yml`` and ``book/`` in ``_build/src/``;
4. run ``jupyter-book build`` on the staging folder with execution off and warnings as errors, which
   writes ``_build/html/index.html``.

A notebook that raises, or that prints a Python warning, stops the pipeline with an error naming it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import yaml

from sclesion.core.atomic import atomic_path
from sclesion.core.errors import InputError
from sclesion.core.paths import repo_root
from sclesion.core.profile import load_profile

_WARNING = re.compile(r"\b\w*Warning\b")


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


def execute_notebook(source: Path, target: Path, parameters: dict[str, Any], cwd: Path) -> Path:
    """Execute ``source`` with papermill into ``target`` (atomically), passing the parameters it declares.

    Parameters the notebook does not declare are not passed. On failure the partly executed copy is kept as
    ``<target stem>.failed.ipynb`` for inspection and an :class:`InputError` names the notebook.
    """
    import papermill

    declared = notebook_parameters(source)
    passed = {k: v for k, v in parameters.items() if k in declared}
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    failed.unlink(missing_ok=True)
    with atomic_path(target) as tmp:
        try:
            papermill.execute_notebook(
                str(source), str(tmp), parameters=passed, cwd=str(cwd),
                kernel_name="python3", progress_bar=False, log_output=False,
            )
        except papermill.PapermillExecutionError as err:
            shutil.copy(tmp, failed)
            raise InputError(f"notebook failed ({err.ename}: {err.evalue}); see {failed}", source) from None
        noisy = warnings_in(tmp)
        if noisy:
            shutil.copy(tmp, failed)
            raise InputError(f"notebook printed warnings: {noisy[:3]}; see {failed}", source)
    return target


def ensure_cohort(profile: str, params: dict[str, Any], root: Path) -> None:
    """Generate the synthetic cohort of a synthetic profile (a no-op when it is up to date)."""
    if not params.get("synthetic"):
        return
    from sclesion.cli.main import main as cli

    status = cli(["synth", "--profile", profile, "-o", str(root / params["bids_root"])])
    if status:
        raise InputError(f"generating the {profile} cohort failed (exit status {status})")


def stage_book(executed: list[Path], root: Path, stage: Path) -> Path:
    """Copy the book's sources and the executed notebooks into ``stage``; return it."""
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(root / name, stage / name)
    shutil.copytree(root / "book", stage / "book")
    for nb in executed:
        shutil.copy(nb, stage / "notebooks" / nb.name)
    return stage


def build_html(stage: Path, output: Path) -> Path:
    """Render the staged book with Jupyter Book (no execution, warnings are errors); return index.html."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(stage), "--path-output", str(output), "-W", "--keep-going", "--all"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise InputError(f"jupyter-book build failed:\n{tail}", stage)
    return output / "_build" / "html" / "index.html"


def build(profile: str = "demo", overrides: dict[str, Any] | None = None, only: list[str] | None = None,
          render: bool = True, root: Path | None = None) -> Path:
    """Run the whole pipeline for a profile; return the executed-notebook folder or the book's index.html.

    Parameters
    ----------
    profile : str
        Profile name (``demo``, ``smoke``, ``paper``) or path to a profile YAML.
    overrides : dict, optional
        Parameters that replace the profile's (e.g. ``{"bids_root": "/data/bids"}``).
    only : list of str, optional
        Execute only notebooks whose file name contains one of these strings (no rendering).
    render : bool
        Run ``jupyter-book build`` after executing.
    """
    from tqdm.auto import tqdm

    root = repo_root() if root is None else Path(root)
    params = {**load_profile(profile), **(overrides or {})}
    name = str(params.get("profile", Path(profile).stem))
    ensure_cohort(name, params, root)
    notebooks = toc_notebooks(root)
    if only:
        notebooks = [nb for nb in notebooks if any(o in nb.name for o in only)]
        render = False
    out_dir = root / "_build" / "executed" / name
    executed = []
    for nb in tqdm(notebooks, desc=f"executing notebooks ({name})", unit="notebook"):
        executed.append(execute_notebook(nb, out_dir / nb.name, params, cwd=root))
    if not render:
        return out_dir
    stage = stage_book(executed, root, root / "_build" / "src")
    return build_html(stage, root)
