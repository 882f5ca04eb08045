"""``slot_lag_ms``: a window is filed under the hour its middle falls in, not its end.

A window is stamped with its end, so a 15-minute window ending 23:00 holds 22:45-23:00.
Filed under 23:00, the 23:00 slot mixed the last window of one regime with the first three
of the next (a service queue whose late shift starts at 23:00 with a third of the staff;
the second shop of ``benchmarks/foreign_shop.py`` paged there most nights).
"""

from __future__ import annotations

import numpy as np

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, step

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WINDOW = 15 * MINUTE


def mean_at(window_end: int) -> float:
    """100 orders a window until 23:00, 30 from 23:00 to midnight (by the window's middle)."""
    hour = ((window_end - WINDOW // 2) % DAY) // HOUR
    return 30.0 if hour == 23 else 100.0


def baselines(lag_ms: int) -> dict[int, float]:
    """Fourteen days of exact means; the last day's baseline by minute of the day."""
    cfg = DetectorConfig(kind="count", grace_period=96, slot_lag_ms=lag_ms)
    cols = Columns.empty(cfg, 1)
    last_day: dict[int, float] = {}
    for i in range(14 * 96):
        end = (i + 1) * WINDOW
        out, cols = step(cfg, cols, np.array([end]), np.array([mean_at(end)]), None)
        if end > 13 * DAY:
            last_day[(end % DAY) // MINUTE] = float(out.baseline[0])
    return last_day


def test_a_window_is_judged_by_the_hour_it_covers() -> None:
    """With the lag, the window ending 23:00 (all before the change) expects ~100 and the
    one ending midnight (all after it) ~30; stamped at the end, each expected about the
    other regime's level (36 and 91)."""
    lagged, stamped = baselines(WINDOW // 2), baselines(0)
    at_2300, at_midnight = 23 * 60, 0
    assert abs(lagged[at_2300] - 100.0) < 3.0
    assert abs(lagged[at_midnight] - 30.0) < 3.0
    assert stamped[at_2300] < 50.0
    assert stamped[at_midnight] > 80.0


def test_no_lag_is_the_end_stamp() -> None:
    assert DetectorConfig().slot_lag_ms == 0


def test_hourly_windows_only_rename_their_slots() -> None:
    """Windows an hour apart fill one slot each per day: a lag moves every window to another
    slot by the same hours, and the decisions are the same (why the rules layer leaves
    hourly and daily windows at their end)."""
    rng = np.random.default_rng(7)
    values = rng.poisson(50.0, 21 * 24).astype(float)
    values[20 * 24 + 10 : 20 * 24 + 14] *= 0.5
    outcomes = []
    for lag in (0, 3 * HOUR):
        cfg = DetectorConfig(kind="count", grace_period=24, slot_lag_ms=lag)
        cols = Columns.empty(cfg, 1)
        rows = []
        for i, value in enumerate(values):
            out, cols = step(cfg, cols, np.array([(i + 1) * HOUR]), np.array([value]), None)
            rows.append((out.baseline[0], out.upper[0], out.severity[0], out.transition[0]))
        outcomes.append(np.array(rows))
    assert np.isfinite(outcomes[0][-1, 0])
    assert (outcomes[0][:, 3] != 0).any()
    np.testing.assert_array_equal(outcomes[0], outcomes[1])
