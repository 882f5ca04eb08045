"""benchmarks/signals.py's per-seed verdict on issue 12's targets."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.signals import summary


def result(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seed": 7,
        "false_per_day": 0.143,
        "detections": [{"type": "lost_parcels", "detected": True, "delay_hours": 120.0}],
        "lost_parcels": 40,
        "lost_flagged": 40,
        "lost_flag_max_p90_multiple": 1.96,
        "flagged_not_lost": [],
    }
    return base | overrides


def test_a_seed_that_meets_every_target() -> None:
    line, met = summary(result())
    assert met
    assert line.startswith("seed 7: 0.143 false episodes/day, 1/1 detected")
    assert line.endswith("all targets met")


@pytest.mark.parametrize(
    ("overrides", "missed"),
    [
        ({"false_per_day": 0.214}, "false <= 0.2/day"),
        ({"detections": [{"type": "x", "detected": False, "delay_hours": None}]}, "all detected"),
        ({"lost_flagged": 39}, "all lost flagged"),
        ({"lost_flag_max_p90_multiple": 2.103}, "within 2 x p90"),
        ({"lost_flag_max_p90_multiple": None, "lost_flagged": 0}, "within 2 x p90"),
        ({"flagged_not_lost": ["O-1"]}, "no delivered flagged"),
    ],
)
def test_each_missed_target_is_named(overrides: dict[str, Any], missed: str) -> None:
    line, met = summary(result(**overrides))
    assert not met
    assert "MISSED" in line and missed in line
