"""The first day's residuals of an hourly series stay out of its weekday slot.

A series of 15-minute windows spends its first day (the warm-up) learning the level and
the hour-of-day profile; its residuals then are mostly that profile not learned yet.
Learned into the slot of the first day's weekday, visited once a week and learned slowly
(half-life two weeks), they stayed for weeks: that weekday expected about 8 % more orders
than the others in traffic without any weekday effect (measured: +0.038 in the log of the
stabilised count after four weeks; the quality matrix's order total at 1x held +0.06 on
its first Monday against a true +0.024). Daily windows have no hour profile: their
warm-up is what teaches the weekday (a Sunday dip) and it still does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, step

HOUR = 3_600_000
DAY = 24 * HOUR
WINDOW = 15 * 60_000


def config(**changes: object) -> DetectorConfig:
    options: dict[str, object] = {
        "kind": "count",
        "grace_period": 96,
        "cusum_h": 5.0,
        "direction": "both",
        "cusum_direction": "down",
        "persistence": (2, 3),
    }
    options.update(changes)
    return DetectorConfig(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_weekday_slot_keeps_the_first_days_residuals(seed: int) -> None:
    """300 orders a window on average, a daily swing of x11 and no weekday effect: after
    four weeks every weekday slot is within 0.01 of 0 (the first day's held +0.038)."""
    cfg = config()
    cols = Columns.empty(cfg, 1)
    rng = np.random.default_rng(seed)
    for i in range(28 * 96):
        end = (i + 1) * WINDOW
        hour = ((end - WINDOW / 2) % DAY) / HOUR
        mean = 300.0 * math.exp(1.2 * math.sin(2 * math.pi * (hour - 9) / 24) - 0.36)
        _, cols = step(cfg, cols, np.array([end]), np.array([float(rng.poisson(mean))]), None)
    assert np.abs(cols.weekday[0]).max() < 0.01


def test_warm_up_of_an_hourly_series_teaches_no_weekday_slot() -> None:
    cfg = config()
    cols = Columns.empty(cfg, 1)
    for i in range(cfg.grace_period):
        _, cols = step(cfg, cols, np.array([(i + 1) * WINDOW]), np.array([50.0 + i]), None)
    assert not cols.weekday.any()
    assert cols.hour.any()
    _, cols = step(cfg, cols, np.array([(cfg.grace_period + 1) * WINDOW]), np.array([200.0]), None)
    assert cols.weekday.any()


def test_warm_up_of_a_daily_series_still_teaches_its_weekdays() -> None:
    """Daily windows during an 8-day warm-up: the quiet day's slot learns it is quiet."""
    cfg = config(grace_period=8)
    cols = Columns.empty(cfg, 1)
    for day in range(8):
        quiet = day % 7 == 3  # 1970-01-04, a Sunday, is the fourth day
        _, cols = step(
            cfg, cols, np.array([(day + 1) * DAY]), np.array([40.0 if quiet else 100.0]), None
        )
    assert cols.n[0] == 8
    assert cols.weekday[0].min() < 0.0
