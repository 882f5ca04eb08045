"""Scenario files: a list of incidents (TOML or JSON), optionally with a default length.

TOML: optional ``days = 21`` and ``[[incidents]]`` tables. JSON: a list of incident
objects, or ``{"days": 21, "incidents": [...]}``. Each incident has ``type``, ``start``
(RFC 3339 or ``"+7d10h"`` after the simulation start), optional ``duration`` (``"3h"``),
``magnitude`` and target fields; see :mod:`streams.dev.simulator.incidents`. The name
``default`` loads the shipped ``scenarios/two_weeks.toml``.

Examples
--------
>>> from streams.dev.simulator.config import DEFAULT_START
>>> scenario = load_scenario("default", DEFAULT_START)
>>> scenario.days, len(scenario.incidents)
(21.0, 13)
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.dev.simulator.incidents import Incident, incident_from_dict

SCENARIO_DIR = Path(__file__).parent / "scenarios"
NAMED = {"default": "two_weeks.toml", "two_weeks": "two_weeks.toml"}


@dataclass(frozen=True, slots=True)
class Scenario:
    """Incidents to inject and the run length the file suggests (``None`` if unset)."""

    incidents: tuple[Incident, ...]
    days: float | None = None


def load_scenario(source: str | Path, sim_start: datetime) -> Scenario:
    """Load a scenario by file path or shipped name; ``ValueError`` names the bad field."""
    path = SCENARIO_DIR / NAMED[str(source)] if str(source) in NAMED else Path(source)
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        msg = f"scenario {path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        raise ValueError(msg) from exc
    return parse_scenario(data, sim_start)


def parse_scenario(data: Any, sim_start: datetime) -> Scenario:
    """Build a :class:`Scenario` from decoded TOML/JSON."""
    if isinstance(data, list):
        data = {"incidents": data}
    if not isinstance(data, dict):
        msg = "scenario: must be a list of incidents or an object with 'incidents'"
        raise ValueError(msg)  # noqa: TRY004 - a bad scenario file is a ValueError, as elsewhere
    unknown = set(data) - {"days", "incidents"}
    if unknown:
        msg = f"scenario.{min(unknown)}: unknown field; expected 'days' or 'incidents'"
        raise ValueError(msg)
    items = data.get("incidents", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        msg = "scenario.incidents: must be a list of objects"
        raise ValueError(msg)
    days = data.get("days")
    if days is not None and (not isinstance(days, int | float) or days <= 0):
        msg = f"scenario.days: must be a number > 0, got {days!r}"
        raise ValueError(msg)
    incidents = []
    for i, item in enumerate(items):
        try:
            incidents.append(incident_from_dict(item, sim_start))
        except (ValueError, TypeError) as exc:
            msg = f"scenario.incidents[{i}]: {exc}"
            raise ValueError(msg) from exc
    return Scenario(tuple(incidents), None if days is None else float(days))
