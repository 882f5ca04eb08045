"""The promotion calendar: planned events that move orders, and their aftermath.

A calendar file (``AFTERSALES_CALENDAR_FILE``, or ``--calendar`` on ``replay`` and
``explain``) holds ``[[events]]`` tables::

    [[events]]
    name = "spring sale"
    start = "2025-03-12T06:00:00Z"  # RFC 3339
    end = "2025-03-13T13:00:00Z"
    uplift = 2.25  # expected peak multiplier of orders (0.05..50)
    scope = {}  # whole shop; or {channel = "app"}, {category = "shoes"},
    # {sku = ["SKU-1", "SKU-2"]} (keys: channel, category,
    # sku, region)
    aftermath = "5d"  # after-effects on deliveries, returns and complaints
    recur = "yearly"  # optional: repeats on the same date and time every year
    silence = ["complaint_volume"]  # optional: rules that send no alert during the event

How the service uses it is in :mod:`streams.pipeline.oncall`. Errors name the field, e.g.
``events[2].uplift``.

Examples
--------
>>> cal = parse_calendar(
...     {
...         "events": [
...             {
...                 "name": "11.11",
...                 "start": "2026-11-11T00:00:00+08:00",
...                 "end": "2026-11-12T00:00:00+08:00",
...                 "uplift": 3.0,
...                 "scope": {},
...                 "aftermath": "5d",
...                 "recur": "yearly",
...             }
...         ]
...     }
... )
>>> from alerts.model import datetime_to_ms, parse_time
>>> t = datetime_to_ms(parse_time("2027-11-11T12:00:00Z"))
>>> [(hit.event.name, hit.phase) for hit in cal.phases(t, t + 900_000)]
[('11.11', 'event')]
>>> [hit.phase for hit in cal.phases(t + 3 * 86_400_000, t + 3 * 86_400_000 + 1)]
['aftermath']
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from alerts.exceptions import AlertValidationError
from alerts.model import datetime_to_ms, ms_to_datetime, parse_time, split_key
from streams.exceptions import ConfigError

__all__ = ["Calendar", "CalendarEvent", "Hit", "load_calendar", "parse_calendar"]

Phase = Literal["event", "aftermath"]
_KEYS: Final = frozenset(
    {"name", "start", "end", "uplift", "scope", "aftermath", "recur", "silence"}
)
SCOPE_FIELDS: Final = ("channel", "category", "sku", "region")
_MAX_SPAN: Final = timedelta(days=60)
_UNITS: Final = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One planned event (see the module docstring)."""

    name: str
    start: datetime
    duration_ms: int
    uplift: float
    scope: tuple[tuple[str, frozenset[str]], ...]
    aftermath_ms: int
    yearly: bool
    silence: frozenset[str]

    def in_scope(self, dimension: str, key: str) -> bool:
        """Whether series ``dimension``/``key`` is inside the event's scope.

        An empty scope holds every series; otherwise a series is in scope when its
        dimension names a scope field and each such field's value is listed.
        """
        if not self.scope:
            return True
        parts = dimension.split(",")
        values = split_key(key) if len(parts) > 1 else [key]
        if len(values) != len(parts):
            return False
        shared = False
        for name, allowed in self.scope:
            if name in parts:
                shared = True
                if values[parts.index(name)] not in allowed:
                    return False
        return shared

    def occurrences(self, lo_ms: int, hi_ms: int) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each occurrence whose event or aftermath overlaps
        ``[lo_ms, hi_ms)``."""
        if not self.yearly:
            starts = [datetime_to_ms(self.start)]
        else:
            year = ms_to_datetime(lo_ms).year
            starts = [datetime_to_ms(self.start.replace(year=y)) for y in range(year - 1, year + 2)]
        for start in starts:
            end = start + self.duration_ms
            if start < hi_ms and end + self.aftermath_ms > lo_ms:
                yield start, end


@dataclass(frozen=True, slots=True)
class Hit:
    """An event (or its aftermath) overlapping a window."""

    event: CalendarEvent
    phase: Phase
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Calendar:
    """Every event of a calendar file."""

    events: tuple[CalendarEvent, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.events)

    def phases(self, lo_ms: int, hi_ms: int) -> list[Hit]:
        """Events whose occurrence (``event``) or aftermath (``aftermath``) overlaps the
        window ``[lo_ms, hi_ms)``; a window touching both counts as ``event``."""
        hits = []
        for event in self.events:
            for start, end in event.occurrences(lo_ms, hi_ms):
                phase: Phase = "event" if lo_ms < end else "aftermath"
                hits.append(Hit(event, phase, start, end))
        return hits


def load_calendar(path: str | Path) -> Calendar:
    """Load and validate a calendar file; a bad one raises :class:`ConfigError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, f"cannot read calendar file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "calendar file is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML: {exc}") from None
    return parse_calendar(document)


def parse_calendar(document: dict[str, Any]) -> Calendar:
    """Validate a parsed calendar document (see :func:`load_calendar`)."""
    for key in document:
        if key != "events":
            raise ConfigError(key, "unknown setting; a calendar holds only [[events]]")
    raw = document.get("events", [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError("events", "expected an array of tables ([[events]])")
    return Calendar(tuple(_event(table, f"events[{i}]") for i, table in enumerate(raw)))


def _event(table: dict[str, Any], where: str) -> CalendarEvent:
    for key in table:
        if key not in _KEYS:
            raise ConfigError(
                f"{where}.{key}", f"unknown setting; allowed: {', '.join(sorted(_KEYS))}"
            )
    for key in ("name", "start", "end", "uplift", "scope", "aftermath"):
        if key not in table:
            raise ConfigError(f"{where}.{key}", "is required")
    name = table["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{where}.name", "expected a non-empty string (at most 100 characters)")
    start = _time(table["start"], f"{where}.start")
    end = _time(table["end"], f"{where}.end")
    if end <= start:
        raise ConfigError(f"{where}.end", "must be after start")
    if end - start > _MAX_SPAN:
        raise ConfigError(f"{where}.end", "an event lasts at most 60 days")
    uplift = table["uplift"]
    if isinstance(uplift, bool) or not isinstance(uplift, int | float) or not 0.05 <= uplift <= 50:
        raise ConfigError(f"{where}.uplift", f"expected a multiplier in 0.05..50, got {uplift!r}")
    recur = table.get("recur", "none")
    if recur not in ("none", "yearly"):
        raise ConfigError(f"{where}.recur", f"expected 'yearly' or 'none', got {recur!r}")
    if recur == "yearly" and (start.month, start.day) == (2, 29):
        raise ConfigError(f"{where}.start", "a yearly event cannot start on 29 February")
    silence = table.get("silence", [])
    if not isinstance(silence, list) or not all(isinstance(r, str) for r in silence):
        raise ConfigError(f"{where}.silence", "expected a list of rule names")
    return CalendarEvent(
        name.strip(),
        start,
        datetime_to_ms(end) - datetime_to_ms(start),
        float(uplift),
        _scope(table["scope"], f"{where}.scope"),
        _duration(table["aftermath"], f"{where}.aftermath"),
        recur == "yearly",
        frozenset(silence),
    )


def _time(raw: Any, where: str) -> datetime:
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ConfigError(where, "expected a time with an offset, e.g. 2026-11-11T00:00:00Z")
        return raw
    if not isinstance(raw, str):
        raise ConfigError(where, f"expected an RFC 3339 time, got {raw!r}")
    try:
        parse_time(raw, where)
        return datetime.fromisoformat(raw.replace("z", "Z"))
    except (AlertValidationError, ValueError):
        raise ConfigError(
            where, f"expected an RFC 3339 time such as 2026-11-11T00:00:00+08:00, got {raw!r}"
        ) from None


def _scope(raw: Any, where: str) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(where, 'expected a table: {} or e.g. {channel = "app"}')
    out = []
    for name, value in sorted(raw.items()):
        if name not in SCOPE_FIELDS:
            raise ConfigError(
                f"{where}.{name}", f"unknown scope field; allowed: {', '.join(SCOPE_FIELDS)}"
            )
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
        ):
            raise ConfigError(f"{where}.{name}", "expected a string or a list of strings")
        out.append((name, frozenset(values)))
    return tuple(out)


def _duration(raw: Any, where: str) -> int:
    if isinstance(raw, str) and raw.strip()[-1:] in _UNITS:
        try:
            value = float(raw.strip()[:-1])
        except ValueError:
            value = -1.0
        if 0 <= value <= 60 * 24 * 60:
            ms = round(value * _UNITS[raw.strip()[-1]])
            if ms <= 60 * 86_400_000:
                return ms
    raise ConfigError(
        where, f"expected a duration such as '5d', '36h' or '0d' (at most 60 days), got {raw!r}"
    )
