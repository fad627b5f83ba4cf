"""Subcommands of the ``sclesion`` command line, one module each (see ``sclesion.cli.COMMANDS``)."""
