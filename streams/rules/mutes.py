"""Mute timings: periods in which chosen series neither alert nor (by default) train.

A rules file may hold ``[[mutes]]`` tables::

    [[mutes]]
    name = "stock-take"            # shown in logs and metrics
    rules = ["return_rate"]        # rule names, or ["*"] for every rule
    dimension = "region"           # optional: only this dimension
    key = "EU-*"                   # optional: a glob over the series key
    days = ["sun"]                 # optional: weekdays (shop's local time); every day if absent
    from = "22:00"                 # optional: local time of day the mute starts (default 00:00)
    to = "06:00"                   # optional: when it ends; earlier than `from` = the next day
    start = "2026-12-01T00:00:00Z" # optional: first moment it applies (RFC 3339)
    end = "2026-12-24T00:00:00Z"   # optional: when it stops applying
    train = false                  # learn the muted windows anyway (default false)

Without ``days``, ``from`` and ``to`` a mute with ``start`` and ``end`` is one-off.
Local time is the rules' ``settings.utc_offset``. A window is muted when it *overlaps*
a muted period, since its data then holds muted time.

Examples
--------
>>> table = parse_mutes(
...     [{"name": "night", "rules": ["order_volume"], "from": "23:00", "to": "05:00"}],
...     {"order_volume"},
...     0,
... )
>>> HOUR = 3_600_000
>>> [m.name for m in table.active("order_volume", 23 * HOUR, 23 * HOUR + 900_000)]
['night']
>>> table.active("order_volume", 12 * HOUR, 12 * HOUR + 900_000)
[]
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from alerts.exceptions import AlertValidationError
from alerts.model import datetime_to_ms, parse_time
from streams.exceptions import ConfigError

__all__ = ["Mute", "MuteTable", "mute_states", "parse_instant", "parse_mutes"]

DAY_MS: Final = 86_400_000
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KEYS: Final = frozenset(
    {"name", "rules", "dimension", "key", "days", "from", "to", "start", "end", "train"}
)
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
#: 1970-01-01 was a Thursday: weekday index (Monday 0) of day number 0.
_EPOCH_WEEKDAY: Final = 3


@dataclass(frozen=True, slots=True)
class Mute:
    """One mute timing (see the module docstring)."""

    name: str
    rules: frozenset[str]
    dimension: str | None
    key: re.Pattern[str] | None
    days: frozenset[int]
    from_ms: int
    to_ms: int
    start_ms: int | None
    end_ms: int | None
    train: bool
    recurring: bool

    def matches(self, dimension: str, key: str) -> bool:
        """Whether series ``dimension``/``key`` is covered (rule checked separately)."""
        if self.dimension is not None and dimension != self.dimension:
            return False
        return self.key is None or self.key.fullmatch(key) is not None

    def overlaps(self, start_ms: int, end_ms: int, utc_offset_ms: int) -> bool:
        """Whether ``[start_ms, end_ms)`` overlaps a muted period."""
        lo = start_ms if self.start_ms is None else max(start_ms, self.start_ms)
        hi = end_ms if self.end_ms is None else min(end_ms, self.end_ms)
        if lo >= hi:
            return False
        if not self.recurring:
            return True
        local_lo, local_hi = lo + utc_offset_ms, hi + utc_offset_ms
        length = (self.to_ms - self.from_ms) % DAY_MS or DAY_MS
        for day in range(local_lo // DAY_MS - 1, local_hi // DAY_MS + 1):
            if (day + _EPOCH_WEEKDAY) % 7 not in self.days:
                continue
            begin = day * DAY_MS + self.from_ms
            if begin < local_hi and begin + length > local_lo:
                return True
        return False


@dataclass(frozen=True, slots=True)
class MuteTable:
    """Every configured mute, with the local-time offset they are read in."""

    mutes: tuple[Mute, ...] = ()
    utc_offset_ms: int = 0

    def __bool__(self) -> bool:
        return bool(self.mutes)

    def active(self, rule: str, start_ms: int, end_ms: int) -> list[Mute]:
        """Mutes of ``rule`` overlapping the window ``[start_ms, end_ms)``."""
        return [
            m
            for m in self.mutes
            if ("*" in m.rules or rule in m.rules)
            and m.overlaps(start_ms, end_ms, self.utc_offset_ms)
        ]

    def active_at(self, ts_ms: int) -> list[Mute]:
        """Mutes in force at ``ts_ms`` (for the ``aftersales_mute_active`` gauge)."""
        return [m for m in self.mutes if m.overlaps(ts_ms, ts_ms + 1, self.utc_offset_ms)]


def parse_instant(raw: Any, where: str) -> int:
    """An RFC 3339 string (or TOML offset date-time) as epoch milliseconds."""
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ConfigError(where, "expected a time with an offset, e.g. 2026-11-11T00:00:00Z")
        return datetime_to_ms(raw)
    try:
        return datetime_to_ms(parse_time(raw, where))
    except AlertValidationError:
        raise ConfigError(
            where, f"expected an RFC 3339 time such as 2026-11-11T00:00:00+08:00, got {raw!r}"
        ) from None


def parse_mutes(raw: Any, rule_names: Iterable[str], utc_offset_ms: int) -> MuteTable:
    """Validate the ``mutes`` array of a rules document; errors name the field."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError("mutes", "expected an array of tables ([[mutes]])")
    known = set(rule_names)
    names: set[str] = set()
    mutes = []
    for index, table in enumerate(raw):
        where = f"mutes[{index}]"
        mute = _mute(table, where, known)
        if mute.name in names:
            raise ConfigError(f"{where}.name", f"{mute.name!r} is used twice")
        names.add(mute.name)
        mutes.append(mute)
    return MuteTable(tuple(mutes), utc_offset_ms)


def _mute(table: dict[str, Any], where: str, known: set[str]) -> Mute:
    for setting in table:
        if setting not in _KEYS:
            raise ConfigError(
                f"{where}.{setting}", f"unknown setting; allowed: {', '.join(sorted(_KEYS))}"
            )
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{where}.name", "expected a non-empty string (at most 100 characters)")
    rules = table.get("rules")
    if not isinstance(rules, list) or not rules or not all(isinstance(rule, str) for rule in rules):
        raise ConfigError(f"{where}.rules", 'expected a non-empty list of rule names, or ["*"]')
    for rule in rules:
        if rule != "*" and rule not in known:
            raise ConfigError(
                f"{where}.rules",
                f"unknown rule {rule!r}; the catalogue is {', '.join(sorted(known))}",
            )
    dimension = table.get("dimension")
    if dimension is not None and (not isinstance(dimension, str) or not dimension):
        raise ConfigError(f"{where}.dimension", "expected a dimension name such as 'sku'")
    key = table.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise ConfigError(f"{where}.key", "expected a key or a glob such as 'SKU-1*'")
    recurring = any(field in table for field in ("days", "from", "to"))
    days = table.get("days", list(_DAYS))
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, str) and d.lower()[:3] in _DAYS for d in days)
    ):
        raise ConfigError(f"{where}.days", f"expected a non-empty list of {', '.join(_DAYS)}")
    from_ms = _clock(table.get("from", "00:00"), f"{where}.from")
    to_ms = _clock(table.get("to", "24:00"), f"{where}.to")
    start_ms = parse_instant(table["start"], f"{where}.start") if "start" in table else None
    end_ms = parse_instant(table["end"], f"{where}.end") if "end" in table else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"{where}.end", "must be after start")
    if not recurring and (start_ms is None or end_ms is None):
        raise ConfigError(
            where, "give days/from/to for a recurring mute, or start and end for a one-off one"
        )
    train = table.get("train", False)
    if not isinstance(train, bool):
        raise ConfigError(f"{where}.train", "expected true or false")
    return Mute(
        name.strip(),
        frozenset(rules),
        dimension,
        None if key is None else re.compile(fnmatch.translate(key)),
        frozenset(_DAYS.index(d.lower()[:3]) for d in days),
        from_ms,
        to_ms,
        start_ms,
        end_ms,
        train,
        recurring,
    )


def _clock(raw: Any, where: str) -> int:
    match = _CLOCK.match(raw) if isinstance(raw, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ConfigError(where, f"expected a local time of day HH:MM (00:00..24:00), got {raw!r}")
    return (int(match.group(1)) * 60 + int(match.group(2))) * 60_000


def mute_states(rules: Any, ts_ms: int) -> dict[tuple[str, str], bool]:
    """``(mute, rule) -> in force at ts_ms`` for every enabled rule each mute names (the
    ``aftersales_mute_active`` gauge); ``rules`` is a :class:`streams.rules.catalogue.RuleSet`."""
    enabled = [rule.name for rule in rules.rules]
    table: MuteTable = rules.mutes
    active = {m.name for m in table.active_at(ts_ms)}
    return {
        (m.name, rule): m.name in active
        for m in table.mutes
        for rule in enabled
        if "*" in m.rules or rule in m.rules
    }
