"""Customer and address rules on injected cases, through ``replay`` with the shipped rules
(issue #13): plain traffic of many customers (10 % of deliveries returned, a pick-up
point and a B2B account busy by nature), then one case each rule must catch. They fail
if a rule stops firing, or fires on the busy-by-nature entities or the background.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from alerts.model import AlertEvent, datetime_to_ms
from tests.unit.scenarios.test_noise_floor import (
    DAY,
    HOUR,
    MIN,
    T0,
    end_ms,
    firing,
    replay,
    shipped,
)

pytestmark = pytest.mark.slow

PICKUP = "A-PICKUP"
B2B = "C-B2B"


def episodes(alerts: list[AlertEvent], rule: str) -> list[tuple[str, int]]:
    """``(key, start)`` of each of the rule's episodes (escalations share their start)."""
    return sorted({(a.key, datetime_to_ms(a.started_at)) for a in firing(alerts, rule)})


def _order(i: int, t: int, customer: str, address: str) -> Iterator[dict[str, Any]]:
    yield {
        "topic": "orders",
        "key": "order_id",
        "value": {
            "event_id": f"p{i}",
            "ts": t,
            "order_id": f"O{i}",
            "status": "placed",
            "customer_id": customer,
            "address_id": address,
            "category": "shoes",
        },
    }


def _lifecycle(
    i: int, t: int, customer: str, address: str, returned: bool
) -> list[tuple[int, dict[str, Any]]]:
    """An order's placed, delivered (2 days later) and maybe return request (2 more)."""
    events = [(t, next(_order(i, t, customer, address)))]
    delivered = t + 2 * DAY
    events.append(
        (
            delivered,
            {
                "topic": "orders",
                "key": "order_id",
                "value": {
                    "event_id": f"d{i}",
                    "ts": delivered,
                    "order_id": f"O{i}",
                    "status": "delivered",
                    "customer_id": customer,
                    "address_id": address,
                    "category": "shoes",
                },
            },
        )
    )
    if returned:
        back = delivered + 2 * DAY
        events.append(
            (
                back,
                {
                    "topic": "orders",
                    "key": "order_id",
                    "value": {
                        "event_id": f"r{i}",
                        "ts": back,
                        "order_id": f"O{i}",
                        "status": "return_requested",
                        "customer_id": customer,
                        "address_id": address,
                        "category": "shoes",
                        "reason": "size",
                    },
                },
            )
        )
    return events


def traffic(
    seed: int,
    days: int,
    injected: list[tuple[int, str, str, bool]] = (),
) -> Iterator[dict[str, Any]]:
    """``days`` of orders (~600 a day from 5,000 customers at their own addresses, 10 %
    returned), 40 a day at a pick-up point from different customers, 30 a day by one B2B
    account (returned at the population's rate), plus ``injected`` orders
    ``(t, customer, address, returned)``; all events in time order."""
    rng = np.random.default_rng(seed)
    events: list[tuple[int, dict[str, Any]]] = []
    i = 0
    for day in range(days):
        base = T0 + day * DAY
        for _ in range(int(rng.poisson(600))):
            c = int(rng.integers(0, 5_000))
            events += _lifecycle(
                i, base + int(rng.integers(0, DAY)), f"C-{c}", f"A-{c}", bool(rng.random() < 0.1)
            )
            i += 1
        for _ in range(int(rng.poisson(40))):
            c = int(rng.integers(0, 5_000))
            events += _lifecycle(
                i, base + int(rng.integers(0, DAY)), f"C-{c}", PICKUP, bool(rng.random() < 0.1)
            )
            i += 1
        for _ in range(int(rng.poisson(30))):
            events += _lifecycle(
                i, base + int(rng.integers(0, DAY)), B2B, "A-B2B", bool(rng.random() < 0.1)
            )
            i += 1
    for t, customer, address, returned in injected:
        events += _lifecycle(i, t, customer, address, returned)
        i += 1
    end = T0 + days * DAY
    for _, event in sorted((e for e in events if e[0] < end), key=lambda e: e[0]):
        yield event


@pytest.mark.parametrize("seed", [1, 2])
def test_six_customers_to_one_new_address_in_50_minutes_fires(seed: int) -> None:
    """Six new customers order to one new address within 50 minutes on day 9:
    shared_address fires for it within the hop after, and nothing else fires (the pick-up
    point is busy every day, so its own history covers it)."""
    start = T0 + 9 * DAY + 13 * HOUR
    injected = [(start + k * 10 * MIN, f"C-NEW-{k}", "A-DROP", False) for k in range(6)]
    rules = shipped("shared_address")
    alerts = replay(rules, traffic(seed, 11, injected))
    assert [key for key, _ in episodes(alerts, "shared_address")] == ["A-DROP"]
    fired = firing(alerts, "shared_address")
    hop = rules.rules[0].hop_ms
    assert start < end_ms(fired[0]) <= start + 50 * MIN + hop
    assert fired[0].observed == 6.0 and fired[0].to_dict()["class"] == "fraud"


def test_four_customers_to_one_address_stay_quiet() -> None:
    """Four distinct customers in a day are under the population's floor: no alert."""
    start = T0 + 9 * DAY + 13 * HOUR
    injected = [(start + k * 10 * MIN, f"C-NEW-{k}", "A-DROP", False) for k in range(4)]
    alerts = replay(shipped("shared_address"), traffic(3, 11, injected))
    assert not firing(alerts, "shared_address")


def test_one_customer_returning_eight_orders_in_an_hour_fires() -> None:
    """A customer whose eight orders are all returned within one hour: frequent_returner
    fires for the customer in that hour; the B2B account, returning at the population's
    rate, and the background stay quiet."""
    placed = T0 + 20 * DAY + 10 * HOUR
    injected = [(placed + k * 5 * MIN, "C-RET", "A-RET", True) for k in range(8)]
    alerts = replay(shipped("frequent_returner"), traffic(4, 25, injected))
    assert [key for key, _ in episodes(alerts, "frequent_returner")] == ["C-RET"]
    fired = firing(alerts, "frequent_returner")
    returns_at = placed + 4 * DAY
    assert returns_at < end_ms(fired[0]) <= returns_at + 2 * HOUR
    assert fired[0].observed >= 6.0 and fired[0].to_dict()["class"] == "fraud"


def test_ten_returns_in_30_days_against_a_population_of_one_fires() -> None:
    """A customer returns ten orders spread over 27 days (one every three days) where
    customers return about one in 30 days: frequent_returner fires once, when the rolling
    count gets past the edge, and keeps one episode."""
    first = T0 + 2 * DAY + 9 * HOUR
    injected = [(first + k * 3 * DAY, "C-SERIAL", "A-SERIAL", True) for k in range(10)]
    alerts = replay(shipped("frequent_returner"), traffic(5, 34, injected))
    assert [key for key, _ in episodes(alerts, "frequent_returner")] == ["C-SERIAL"]
    assert 6.0 <= firing(alerts, "frequent_returner")[0].observed <= 10.0


@pytest.mark.parametrize("seed", [1, 2])
def test_orders_twelve_minutes_apart_page_once_and_say_why(seed: int) -> None:
    """Nine orders from a fresh customer, one every 12 minutes: no 10-minute window holds
    two, so the burst crosses on its decayed count, which falls back under the edge
    between orders. Each key pages once (the episode stays open while the count is above
    three quarters of the edge) and resolves after the last order; its summary gives the
    decayed count that crossed, not only the window's one order."""
    start = T0 + 9 * DAY + 9 * HOUR
    injected = [(start + k * 12 * MIN, "C-SLOW", "A-SLOW", False) for k in range(9)]
    alerts = replay(shipped("customer_order_burst"), traffic(seed, 11, injected))
    burst = [a for a in alerts if a.rule == "customer_order_burst" and a.key.endswith("-SLOW")]
    assert sorted((a.key, a.status) for a in burst) == [
        ("A-SLOW", "firing"),
        ("A-SLOW", "resolved"),
        ("C-SLOW", "firing"),
        ("C-SLOW", "resolved"),
    ]
    last_order = start + 8 * 12 * MIN
    for alert in burst:
        context = alert.to_dict()["context"]["burst"]
        if alert.status == "firing":
            assert start < end_ms(alert) <= last_order + 10 * MIN
            assert context["horizon"] == "slow"
            assert context["decayed_orders"] > context["decayed_limit"] == 5.0
            assert alert.observed <= 2.0  # the window's own orders, as the contract says
            assert "recent orders add up past the limit of 5" in alert.summary
        else:
            assert end_ms(alert) > last_order
            assert context["decayed_orders"] <= 0.75 * context["decayed_limit"]


@pytest.mark.parametrize("seed", [1, 2])
def test_a_fresh_start_learns_its_regulars_then_pages_a_burst(seed: int) -> None:
    """From a cold start the B2B account (30 orders a day) and the pick-up point are new
    like everyone else; they paged on the first day before (both seeds). The first 12
    hours only learn, and from then on they are judged against themselves: the only
    episodes are the day-2 burst's (seven orders in 10 minutes), its customer and address."""
    burst = T0 + 2 * DAY + 10 * HOUR
    injected = [(burst + k * MIN, "C-BURST", "A-BURST", False) for k in range(7)]
    alerts = replay(shipped("customer_order_burst"), traffic(seed, 3, injected))
    assert [key for key, _ in episodes(alerts, "customer_order_burst")] == ["A-BURST", "C-BURST"]
    fired = firing(alerts, "customer_order_burst")
    assert all(burst < end_ms(a) <= burst + 15 * MIN for a in fired)
