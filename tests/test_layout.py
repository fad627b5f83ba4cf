"""The package's layout is the study's stage map: every module is listed where a reader looks for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import sclesion

PACKAGE = Path(sclesion.__file__).parent
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "book.py"}


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


def test_only_book_init_and_main_sit_at_the_top():
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == TOP_LEVEL_MODULES


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_every_module_and_subpackage_is_in_its_package_docstring(package: Path):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    names = [p.stem for p in package.glob("*.py") if p.name != "__init__.py" and p.name != "__main__.py"]
    names += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    if package == PACKAGE:
        names = [n for n in names if n != "book"] + ["book"]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", doc))
    missing = [n for n in names if n not in words]
    assert not missing, f"{package.relative_to(PACKAGE.parent)}/__init__.py does not list {missing}"


def test_readme_layout_names_every_stage_package():
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name not in layout]
    assert not missing, f"README's layout section does not name {missing}"
