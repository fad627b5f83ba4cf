"""Every subcommand's --help says what it reads, what it writes, gives an example and the rerun rule."""

from __future__ import annotations

import pytest

from sclesion.cli.main import COMMANDS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_says_what_is_read_and_written_with_an_example_and_the_rerun_rule(cli, name):
    result = cli(name, "--help")
    assert result.status == 0
    text = result.out
    for section in ("reads:", "writes:", "example", "rerun:"):
        assert section in text, f"sclesion {name} --help lacks {section!r}"
    assert f"sclesion {name} " in text.split("example", 1)[1]  # the example runs this subcommand


def test_a_file_system_error_is_one_line(cli, h, monkeypatch):
    import sclesion.cli.check as check

    def refuses(args):
        raise PermissionError(13, "Permission denied", "/data/locked")

    monkeypatch.setattr(check, "run", refuses)
    h.refused(cli("check", "anything"), "/data/locked: Permission denied")
