"""The notebook runner behind `make book`: toc parsing, parameters, warnings, failures."""

from __future__ import annotations

import nbformat
import pytest

from sclesion.book import execute_notebook, notebook_parameters, toc_notebooks, warnings_in
from sclesion.core.errors import InputError


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_toc_lists_existing_notebooks_in_order(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("01_a", "02_b"):
        _notebook(tmp_path / "notebooks" / f"{name}.ipynb", [("x = 1", ["parameters"])])
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: c\n    chapters:\n"
        "      - file: notebooks/02_b\n      - file: notebooks/01_a\n      - file: book/references\n"
    )
    assert [p.name for p in toc_notebooks(tmp_path)] == ["02_b.ipynb", "01_a.ipynb"]


def test_every_book_notebook_is_parameterized_and_clean():
    notebooks = toc_notebooks()
    assert notebooks, "the book lists no notebook"
    for path in notebooks:
        assert {"bids_root", "work_dir"} <= notebook_parameters(path), path
        nb = nbformat.read(path, as_version=4)
        dirty = [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name} is committed with outputs"


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    path = _notebook(tmp_path / "nb.ipynb", [("x = 1", [])])
    with pytest.raises(InputError, match="no cell tagged 'parameters'"):
        notebook_parameters(path)


def test_execute_passes_only_declared_parameters_and_never_touches_the_source(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb", [("a = 1", ["parameters"]), ("print(a * 2)", [])])
    before = src.read_bytes()
    out = execute_notebook(src, tmp_path / "out" / "nb.ipynb", {"a": 21, "unknown": 3}, cwd=tmp_path)
    nb = nbformat.read(out, as_version=4)
    assert nb.cells[-1].outputs[0]["text"].strip() == "42"
    assert src.read_bytes() == before


def test_failing_notebook_names_itself_and_keeps_a_failed_copy(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb", [("a = 1", ["parameters"]), ("1 / 0", [])])
    target = tmp_path / "out" / "nb.ipynb"
    with pytest.raises(InputError, match="ZeroDivisionError") as exc:
        execute_notebook(src, target, {}, cwd=tmp_path)
    assert "nb.ipynb" in str(exc.value)
    assert not target.exists()
    assert (tmp_path / "out" / "nb.failed.ipynb").exists()


def test_a_printed_warning_fails_the_notebook(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb",
                    [("a = 1", ["parameters"]), ("import warnings; warnings.warn('careful')", [])])
    with pytest.raises(InputError, match="warnings"):
        execute_notebook(src, tmp_path / "out" / "nb.ipynb", {}, cwd=tmp_path)
    assert warnings_in(tmp_path / "out" / "nb.failed.ipynb")
