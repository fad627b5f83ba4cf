"""The command line, profiles and atomic writes that every step relies on."""

from __future__ import annotations

import importlib

import pytest

from sclesion import cli
from sclesion.atomic import atomic_path, write_text
from sclesion.errors import InputError
from sclesion.profiles import load_profile


def test_every_registered_subcommand_has_a_module_with_the_interface():
    missing = []
    for name, (module, _) in cli.COMMANDS.items():
        try:
            mod = importlib.import_module(f"sclesion.commands.{module}")
        except ModuleNotFoundError:
            missing.append(name)
            continue
        assert callable(mod.add_arguments) and callable(mod.run), name
    assert not missing, f"subcommands without a module: {missing}"


def test_help_lists_subcommands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "unknown subcommand 'frobnicate'" in capsys.readouterr().err


def test_input_errors_become_one_line_and_exit_status_2(capsys, tmp_path):
    status = cli.main(["book", "--profile", str(tmp_path / "nope.yml"), "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "nope.yml" in err[0] and "no such profile" in err[0]


@pytest.mark.parametrize("name", ["demo", "smoke", "paper"])
def test_profiles_declare_the_shared_keys(name):
    params = load_profile(name)
    assert params["profile"] == name
    for key in ("bids_root", "work_dir", "synthetic", "seed", "n_jobs"):
        assert key in params


def test_profile_that_is_not_a_mapping_is_refused(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="expected a YAML mapping"):
        load_profile(bad)


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
