"""Service queues that wait longer together (a busy evening: the shop's load, not one
queue's trouble), through ``replay`` with the shipped ``wait_time_p90``
(``relative_to = "peers"`` on its log-means): the shared wave is judged away, a queue
that breaks away from it still fires, and a shop-wide surge beyond any busy evening
(x4 on every queue) still pages. Each test fails if the peer judgement stops working:
the first checks the same traffic pages without it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from streams.rules.catalogue import RuleSet
from tests.unit.scenarios.test_noise_floor import (
    DAY,
    DAYS,
    HOUR,
    MIN,
    T0,
    daily,
    end_ms,
    firing,
    iso,
    replay,
    shipped,
)

pytestmark = pytest.mark.slow

QUEUES = ("delivery", "returns", "payments", "general", "quality")
#: Median wait (s) of each queue: they differ, as real queues do.
MEDIANS = dict(zip(QUEUES, (140.0, 220.0, 90.0, 180.0, 300.0), strict=True))
PER_30MIN = 40.0
#: The evening (20:00-23:00) of the day after the history: every queue waits longer.
EVENING = T0 + DAYS * DAY + 20 * HOUR


def waits(
    seed: int, until_ms: int, factor: Callable[[str, int], float]
) -> Iterator[dict[str, Any]]:
    """Tickets of the five ``QUEUES`` in time order: Poisson arrivals (``PER_30MIN`` per
    30 min each, times the day profile), lognormal waits (log-sd 0.7 around the queue's
    median) times ``factor(queue, t)``."""
    rng = np.random.default_rng([seed, 16])
    t, i = T0, 0
    while t < until_ms:
        t += int(rng.exponential(30 * MIN / (len(QUEUES) * PER_30MIN * daily(t))))
        i += 1
        queue = QUEUES[int(rng.integers(len(QUEUES)))]
        wait = float(np.exp(rng.normal(math.log(MEDIANS[queue]), 0.7))) * factor(queue, t)
        yield {
            "topic": "wait-times",
            "key": "ticket_id",
            "value": {
                "event_id": f"w{i}",
                "ts": t,
                "ticket_id": f"T{i}",
                "queue": queue,
                "wait_seconds": round(wait, 1),
            },
        }


def evening(wave: float, breakaway: dict[str, float] | None = None) -> Callable[[str, int], float]:
    """Every queue's waits ``wave`` times longer from ``EVENING`` for 3 h; the queues of
    ``breakaway`` that much longer again."""

    def factor(queue: str, t: int) -> float:
        if EVENING <= t < EVENING + 3 * HOUR:
            return wave * (breakaway or {}).get(queue, 1.0)
        return 1.0

    return factor


def without_peers() -> RuleSet:
    """The shipped ``wait_time_p90`` judging each queue on its own."""
    rules = shipped("wait_time_p90")
    assert rules.by_name("wait_time_p90").relative_to == "peers"
    specs = [dataclasses.replace(rule, relative_to=None) for rule in rules.rules]
    return dataclasses.replace(rules, rules=specs)


def fired_queues(rules: RuleSet, seed: int, factor: Callable[[str, int], float]) -> dict[str, int]:
    """Queue -> end of its first firing window (ms), over the history and the evening."""
    alerts = replay(rules, waits(seed, EVENING + 4 * HOUR, factor))
    out: dict[str, int] = {}
    for alert in firing(alerts, "wait_time_p90"):
        out.setdefault(alert.key, end_ms(alert))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_a_busy_evening_on_every_queue_is_judged_away(seed: int) -> None:
    """Every queue x1.6 for 3 h: judged alone, most queues page; against their peers,
    none does."""
    alone = fired_queues(without_peers(), seed, evening(1.6))
    assert len(alone) >= 3, f"the wave should page without peers: {alone}"
    assert fired_queues(shipped("wait_time_p90"), seed, evening(1.6)) == {}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_queue_breaking_away_from_the_evening_fires(seed: int) -> None:
    """In the same evening, the returns queue x2.5 longer again (a staffing gap on one
    queue): it fires within an hour, and no other queue does."""
    fired = fired_queues(shipped("wait_time_p90"), seed, evening(1.6, {"returns": 2.5}))
    assert set(fired) == {"returns"}, fired
    assert fired["returns"] <= EVENING + HOUR, iso(fired["returns"])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_shop_wide_surge_beyond_any_evening_still_pages(seed: int) -> None:
    """Every queue x4 (no busy evening does that; beyond ``MOST_LOAD_WAVE`` a wave is
    not judged away): every queue pages within an hour."""
    fired = fired_queues(shipped("wait_time_p90"), seed, evening(4.0))
    assert set(fired) == set(QUEUES), fired
    assert max(fired.values()) <= EVENING + HOUR, {q: iso(t) for q, t in fired.items()}


def shift_change(hour: int, factor: float) -> Callable[[str, int], float]:
    """Every night from ``hour`` for an hour, every queue's waits ``factor`` times longer
    (fewer agents on the night shift), from the first day on."""

    def wait_factor(_queue: str, t: int) -> float:
        return factor if int((t % DAY) // HOUR) == hour else 1.0

    return wait_factor


@pytest.mark.parametrize("seed", [1, 2])
def test_a_nightly_shift_change_on_every_queue_becomes_the_profile(seed: int) -> None:
    """Every night at 23:00 every queue waits x1.8 for an hour: a wave of the peers each
    night, yet the queues learn the waits they saw (``learn_offset``), so the hour's
    profile takes the shift change in and the last four nights page nothing."""
    alerts = replay(shipped("wait_time_p90"), waits(seed, EVENING, shift_change(23, 1.8)))
    late = [a for a in firing(alerts, "wait_time_p90") if end_ms(a) > EVENING - 4 * DAY]
    assert not late, [(a.key, a.window_end) for a in late]
