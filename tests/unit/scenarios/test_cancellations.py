"""Cancellations after a promotion, through ``replay`` with the shipped
``cancellation_rate``: cancellations come hours after their orders, so when a
promotion's orders fall back, its orders' cancellations go on arriving against fewer
placements. The lag-aware rate (``cohort``) judges them against the placements they
belong to, so the promotion's end is quiet while a payment failure still fires.
"""

from __future__ import annotations

import dataclasses
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
    end_ms,
    firing,
    orders,
    replay,
    shipped,
)

pytestmark = pytest.mark.slow

SALE = T0 + DAYS * DAY + 4 * HOUR  # x2.5 over 4 h, held 12 h, back over 2 h
END = SALE + 18 * HOUR  # the sale is over
OUTAGE = END + 30 * HOUR  # 04:00: payments fail for 3 h


def sale(t: int) -> float:
    x = (t - SALE) / HOUR
    if x < 0 or x >= 18:
        return 1.0
    if x < 16:
        return 1.0 + 1.5 * min(x / 4, 1.0)
    return 2.5 - 1.5 * (x - 16) / 2


def with_cancellations(
    rng: np.random.Generator,
    placed: Iterator[dict[str, Any]],
    failing: Callable[[int], float] = lambda _t: 0.0,
) -> Iterator[dict[str, Any]]:
    """The placed orders and 3 % of them cancelled: a third within 5-40 min (payment
    failed), the rest 0.5-20 h later (the customer changed their mind); ``failing(t)``
    more of the orders placed at ``t`` cancelled within 5-40 min."""
    events = []
    for order in placed:
        events.append(order)
        value = order["value"]
        t = value["ts"]
        extra = rng.random() < failing(t)
        if not extra and rng.random() >= 0.03:
            continue
        quick = extra or rng.random() < 1 / 3
        lag = rng.uniform(5, 40) * MIN if quick else rng.uniform(0.5, 20) * HOUR
        reason = "payment_failed" if quick else "customer_request"
        cancelled = {**value, "event_id": value["event_id"] + "c", "status": "cancelled"}
        cancelled.update(ts=t + int(lag), reason=reason)
        events.append({**order, "value": cancelled})
    events.sort(key=lambda e: e["value"]["ts"])
    return iter(events)


def without_cohort(rules: RuleSet) -> RuleSet:
    specs = [dataclasses.replace(r, cohort_ms=None, settle_ms=0) for r in rules.rules]
    return dataclasses.replace(rules, rules=specs)


def cancellation_alerts(seed: int, rules: RuleSet, until: int, failing: float = 0.0) -> list:
    rng = np.random.default_rng(seed)
    outage = lambda t: failing if OUTAGE <= t < OUTAGE + 3 * HOUR else 0.0  # noqa: E731
    return replay(rules, with_cancellations(rng, orders(rng, 40, until, sale), outage))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_end_of_a_sale_does_not_page(seed: int) -> None:
    """~40 orders per 15 min, x2.5 for 12 h: the lag-aware rate stays quiet through the
    sale and the day after, where the plain rate (every cancellation against the
    window's placements) pages on the sale's lagging cancellations."""
    rules = shipped("cancellation_rate")
    alerts = cancellation_alerts(seed, rules, END + 24 * HOUR)
    assert not firing(alerts, "cancellation_rate"), "the lag-aware rate paged"
    plain = cancellation_alerts(seed, without_cohort(rules), END + 24 * HOUR)
    assert [a for a in firing(plain, "cancellation_rate") if end_ms(a) > END]


@pytest.mark.parametrize("seed", [1, 2])
def test_payment_failures_after_a_sale_fire_while_they_last(seed: int) -> None:
    """A day after the sale, at night, 6 % more of the orders are cancelled within 40
    min for 3 h (payments fail): the lag-aware rate fires on the reason within the
    outage, as the plain rate does. The reason divides by its own exposure, from its own
    delay: against the exposure of the mixed delay, the night's few orders lent it the
    day's (twice as many) and it was not found on seed 1."""
    alerts = cancellation_alerts(
        seed, shipped("cancellation_rate"), OUTAGE + 6 * HOUR, failing=0.06
    )
    fired = firing(alerts, "cancellation_rate", "payment_failed")
    assert fired, "the payment failures did not fire"
    assert not [a for a in firing(alerts, "cancellation_rate") if end_ms(a) <= OUTAGE]
    assert end_ms(fired[0]) <= OUTAGE + 3 * HOUR, f"{(end_ms(fired[0]) - OUTAGE) / HOUR} h in"
