"""Errors the command line shows as one clean line (shared by ``streams.cli.main`` and the
demo command, which the CLI registers: neither imports the other for it)."""

from __future__ import annotations

import click

from streams.exceptions import ConfigError

__all__ = ["ConfigProblem"]


class ConfigProblem(click.ClickException):
    """A configuration error, shown as ``Error: invalid configuration: <field>: <message>``."""

    exit_code = 2

    def __init__(self, error: ConfigError) -> None:
        super().__init__(f"invalid configuration: {error}")
