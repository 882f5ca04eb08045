"""Seasonal slots learned from timestamps: hour of day and day of week.

The profile is additive in the stabilised scale: ``24`` hour-of-day effects and
``7`` day-of-week effects. Which of them apply is *detected* from the spacing of
the series' own timestamps, never configured: hour-of-day slots are used when
windows are at most 2 h apart (each slot then sees data every day), day-of-week
slots when they are at most a day apart. The spacing itself is a robust
exponentially weighted mean of the positive gaps (repeats and steps back are
ignored), so irregular timestamps and gaps do not switch the profile on and off.

Each slot's gain is scaled to the number of windows per slot visit, so the
profile's half-life is ``seasonal_half_life_days`` days for hour-of-day slots and
that many weeks for weekday slots, whatever the window size.

Examples
--------
>>> import numpy as np
>>> hour, day = slot_indices(np.array([0, 90 * 60_000 + 4 * 86_400_000]), 0)
>>> hour.tolist(), day.tolist()
([0, 1], [3, 0])

References
----------
Winters, P. R. (1960). Forecasting sales by exponentially weighted moving
averages. *Management Science* 6(3), 324-342 (additive seasonal smoothing).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY_MS",
    "HOURS",
    "HOUR_MS",
    "WEEKDAYS",
    "active_slots",
    "seasonal_gains",
    "slot_indices",
    "update_spacing",
]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
HOURS = 24
WEEKDAYS = 7
_HOURLY_MAX_SPACING = 2 * HOUR_MS * 1.01
_DAILY_MAX_SPACING = DAY_MS * 1.01
_SPACING_GAIN = 0.1

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def slot_indices(ts_ms: I64, utc_offset_ms: int) -> tuple[I64, I64]:
    """Return (hour of day 0-23, weekday 0=Monday) for epoch-millisecond times."""
    local = ts_ms + utc_offset_ms
    hour = (local // HOUR_MS) % HOURS
    day = (local // DAY_MS + 3) % WEEKDAYS  # 1970-01-01 was a Thursday
    return hour, day


def update_spacing(spacing: F64, last_ts: I64, ts_ms: I64, has_last: npt.NDArray[np.bool_]) -> F64:
    """Return the new typical spacing (ms) after a window at ``ts_ms``.

    The first positive gap sets it; later gaps move it by 10 % after being
    clipped to [spacing / 4, 4 * spacing], so one long outage or burst does not.
    """
    gap = (ts_ms - last_ts).astype(np.float64)
    positive = has_last & (gap > 0)
    clipped = np.clip(gap, spacing / 4.0, spacing * 4.0)
    moved = spacing + _SPACING_GAIN * (clipped - spacing)
    new = np.where(spacing > 0, moved, gap)
    return np.where(positive, new, spacing)


def active_slots(spacing: F64) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Return (hour-of-day active, weekday active) for each series' spacing."""
    known = spacing > 0
    return known & (spacing <= _HOURLY_MAX_SPACING), known & (spacing <= _DAILY_MAX_SPACING)


def seasonal_gains(spacing: F64, half_life_days: float) -> tuple[F64, F64]:
    """Return per-window gains of the hour-of-day and weekday slots.

    A slot of length ``L`` receives ``max(L / spacing, 1)`` windows per visit; the
    gain per window makes its half-life ``half_life_days`` visits.
    """
    safe = np.maximum(spacing, 1.0)
    per_hour = np.maximum(HOUR_MS / safe, 1.0)
    per_day = np.maximum(DAY_MS / safe, 1.0)
    hour_gain = 1.0 - np.exp2(-1.0 / (half_life_days * per_hour))
    day_gain = 1.0 - np.exp2(-1.0 / (half_life_days * per_day))
    return hour_gain, day_gain
