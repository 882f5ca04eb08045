"""The China example rules stay the shipped defaults in Beijing time (no drift)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

CHINA = Path(__file__).resolve().parents[2] / "deploy" / "rules" / "china.toml"


def test_china_rules_are_the_defaults_with_utc_plus_8() -> None:
    default = tomllib.loads(resources.files("streams").joinpath("default_rules.toml")
                            .read_text(encoding="utf-8"))
    china = tomllib.loads(CHINA.read_text(encoding="utf-8"))
    assert china["settings"].pop("utc_offset") == "8h"
    default["settings"].pop("utc_offset")
    china["rules"]["order_outlier"].pop("runbook")  # the example of a runbook override
    assert china == default
