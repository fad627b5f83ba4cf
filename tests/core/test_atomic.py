"""Atomic writes: nothing half-written, the usual permissions, whole replacement."""

from __future__ import annotations

import pytest

from sclesion.core.atomic import atomic_path, write_text


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out" / "image.nii.gz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".nii.gz") and tmp.parent == target.parent
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        target = write_text("x\n", tmp_path / "a.txt")
    finally:
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_write_replaces_the_target_whole(tmp_path):
    target = tmp_path / "table.tsv"
    write_text("old\n", target)
    write_text("new\n", target)
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]
