"""The `sclesion` command line: subcommand registry, help, usage and input errors."""

from __future__ import annotations

import importlib

import pytest

from sclesion.cli import main as cli


def test_every_registered_subcommand_has_a_module_with_the_interface():
    missing = []
    for name, (module, _) in cli.COMMANDS.items():
        try:
            mod = importlib.import_module(f"sclesion.cli.{module}")
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


def test_idle_openmp_threads_sleep_unless_the_user_says_otherwise(monkeypatch, capsys):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert cli.main(["--version"]) == 0
    assert cli.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert cli.main(["--version"]) == 0
    assert cli.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
