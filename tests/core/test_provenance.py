"""Provenance records: an output set is up to date only with the same inputs, parameters and outputs."""

from __future__ import annotations

import pytest

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.core.provenance import OutputSet, read_record, record_path


def _write(outputs: OutputSet, text: str) -> None:
    with outputs.writing():
        for path in outputs.outputs:
            write_text(text, path)


def test_a_set_is_current_only_while_inputs_parameters_and_outputs_are_unchanged(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a")
    outs = [tmp_path / "out" / "x.txt", tmp_path / "out" / "y.txt"]
    made = OutputSet("test", outs, {"source": source}, {"k": 1})
    assert made.status() == "missing"
    _write(made, "result")
    assert made.status() == "current" and read_record(outs[0])["parameters"] == {"k": 1}
    assert OutputSet("test", outs, {"source": source}, {"k": 2}).status() == "stale"
    source.write_text("b")
    assert OutputSet("test", outs, {"source": source}, {"k": 1}).status() == "stale"
    source.write_text("a")
    assert OutputSet("test", outs, {"source": source}, {"k": 1}).status() == "current"
    outs[1].write_text("edited")
    assert OutputSet("test", outs, {"source": source}, {"k": 1}).status() == "stale"


def test_a_failed_write_leaves_the_set_unrecorded(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a")
    outs = [tmp_path / "x.txt", tmp_path / "y.txt"]
    _write(OutputSet("test", outs, [source]), "old")
    again = OutputSet("test", outs, [source], {"k": 2})
    with pytest.raises(RuntimeError):
        with again.writing():
            write_text("new", outs[0])
            raise RuntimeError("killed half way")
    assert not record_path(outs[0]).exists() and not record_path(outs[1]).exists()
    assert OutputSet("test", outs, [source]).status() == "stale"  # x.txt holds the new run, y.txt the old


def test_an_output_that_is_an_input_is_refused(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a")
    with pytest.raises(InputError, match="is an input"):
        OutputSet("test", [tmp_path / "sub" / ".." / "in.txt"], [source])
    assert source.read_text() == "a"
