"""Settings and calendar loading shared by the commands (``streams.cli.main`` and the commands
it registers, which must not import it back): a bad value exits with one clean line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from streams.cli.errors import ConfigProblem
from streams.exceptions import ConfigError
from streams.runtime.config import Settings

if TYPE_CHECKING:
    from alerts.locales import Locale
    from streams.rules.calendar import Calendar

__all__ = ["load_calendar_file", "load_locale", "load_settings"]


def load_settings() -> Settings:
    """Settings from the environment, or a clean exit naming the bad variable."""
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise ConfigProblem(error) from None


def load_locale() -> Locale:
    """``AFTERSALES_LOCALE`` for commands that need no broker (validated with the other
    ``AFTERSALES_*`` settings), or a clean exit naming the bad variable."""
    try:
        return Settings.from_env(
            {name: value for name, value in os.environ.items() if name.startswith("AFTERSALES_")}
        ).locale
    except ConfigError as error:
        raise ConfigProblem(error) from None


def load_calendar_file(path: str | Path | None) -> Calendar | None:
    """The promotion calendar at ``path`` (``None``: no calendar); raises ConfigError."""
    from streams.rules.calendar import load_calendar

    return load_calendar(path) if path else None
