"""Event-time helpers: RFC 3339 formatting/parsing and short duration strings.

All simulator times are integer epoch milliseconds in UTC.

Examples
--------
>>> format_ts(1_793_614_503_120)
'2026-11-02T10:15:03.120Z'
>>> parse_ts("2026-11-02T10:15:03.120+00:00")
1793614503120
>>> parse_duration_ms("1d2h30m")
95400000
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_MS = {"d": MS_PER_DAY, "h": MS_PER_HOUR, "m": MS_PER_MINUTE, "s": MS_PER_SECOND, "ms": 1}


def format_ts(ts_ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC with millisecond precision and a ``Z``."""
    seconds, millis = divmod(ts_ms, MS_PER_SECOND)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def parse_ts(text: str) -> int:
    """Parse an RFC 3339 timestamp with an offset into epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        msg = f"timestamp {text!r} has no UTC offset"
        raise ValueError(msg)
    return to_ms(dt)


def to_ms(dt: datetime) -> int:
    """Convert an aware datetime to epoch milliseconds."""
    if dt.tzinfo is None:
        msg = f"datetime {dt!r} has no timezone"
        raise ValueError(msg)
    return round(dt.timestamp() * MS_PER_SECOND)


def from_ms(ts_ms: int) -> datetime:
    """Convert epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ts_ms / MS_PER_SECOND, tz=UTC)


def parse_duration_ms(text: str) -> int:
    """Parse a compact duration such as ``"3d"``, ``"2h30m"`` or ``"90s"`` into milliseconds."""
    body = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        msg = f"duration {text!r} is not like '3d', '2h30m', '90s'"
        raise ValueError(msg)
    return round(total)


def parse_duration(text: str) -> timedelta:
    """Parse a compact duration string into a :class:`timedelta`."""
    return timedelta(milliseconds=parse_duration_ms(text))
