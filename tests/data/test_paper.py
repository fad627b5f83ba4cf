"""sclesion.data.paper: the one reader of the paper's numbers and tables."""

from __future__ import annotations

import pytest

from sclesion.core.errors import InputError
from sclesion.data import paper


def test_the_papers_numbers_and_tables():
    numbers = paper.numbers()
    assert numbers["tum_patients"] == 317 and numbers["lesions_test_chunked"] == 450
    assert {"site", "manufacturer_field", "n_scans"} <= set(paper.table1().columns)
    assert (paper.table_a1().map(type) == str).all().all()
    assert list(paper.table2("TUM").columns) == ["mean", "sd", "n_images"]


def test_a_missing_or_broken_table_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(paper, "paper_dir", lambda: tmp_path)
    with pytest.raises(InputError, match="the paper's table is missing"):
        paper.numbers()
    (tmp_path / "table1_sites.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not a CSV table"):
        paper.table1()
