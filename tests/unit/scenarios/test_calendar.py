"""The promotion calendar through ``replay`` (issue #14), on simulated traffic.

A calendar-declared promotion ramps orders to x2.5: no order_volume alert during it,
while a checkout outage inside it still fires, also on the shop's total, which is then
judged against the promotion's level (without the calendar the total, still above its
normal level, stays quiet). In its aftermath a shop-wide return wave raises no
return_rate alert, while a sizing error on one SKU still fires: with the shipped rules
(the lag-aware return rate, ``cohort = "3d"``) and with the plain return rate; a control
run without the calendar pages on the wave, so the quiet run is the calendar's doing.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from alerts.model import AlertEvent, datetime_to_ms
from streams.cli.demo import best_seller
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import OrderDrop, SkuReturnSpike
from streams.dev.simulator.promotion import Promotion
from streams.pipeline.replay import ReplayPipeline
from streams.rules.calendar import Calendar, parse_calendar
from tests.unit.oncall.helpers import shipped

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
PROMO = Promotion(
    start=START + timedelta(days=9, hours=6),
    ramp=timedelta(hours=8),
    hold=timedelta(hours=18),
    ramp_down=timedelta(hours=4),
    peak=2.5,
)
PROMO_END = PROMO.start + PROMO.ramp + PROMO.hold + PROMO.ramp_down
OUTAGE = OrderDrop(
    start=PROMO.start + timedelta(hours=12),
    duration=timedelta(hours=2),
    channel="app",
    magnitude=0.1,
)
AFTERMATH = timedelta(days=5)
#: A sizing error on the best seller inside the aftermath (its SKU is set per run).
SPIKE = SkuReturnSpike(
    start=PROMO_END + timedelta(days=1), duration=timedelta(days=3), magnitude=4.0
)
#: Returns in the aftermath, shop-wide: each SKU's usual rate times 1 + WAVE.
WAVE = 0.7


def ms(value: datetime) -> int:
    return datetime_to_ms(value)


def calendar() -> Calendar:
    return parse_calendar(
        {
            "events": [
                {
                    "name": "autumn sale",
                    "start": PROMO.start.isoformat(),
                    "end": PROMO_END.isoformat(),
                    "uplift": 2.5,
                    "scope": {},
                    "aftermath": "5d",
                }
            ]
        }
    )


def _usual_rates(events: list[Event]) -> dict[str, float]:
    """Each SKU's return requests per delivery before the promotion (by delivery)."""
    before = ms(PROMO.start)
    sku_of = {
        e.value["order_id"]: e.value["sku"]
        for e in events
        if e.topic == "orders" and e.value.get("status") == "delivered" and e.ts_ms < before
    }
    delivered = Counter(sku_of.values())
    returned = Counter(
        sku_of[e.value["order_id"]]
        for e in events
        if e.topic == "orders"
        and e.value.get("status") == "return_requested"
        and e.value.get("order_id") in sku_of
    )
    return {sku: returned[sku] / n for sku, n in delivered.items()}


def _wave(events: list[Event]) -> Iterator[Event]:
    """Extra return requests of deliveries in the aftermath (1-30 h later): every SKU
    returns 1 + WAVE times as often as it usually does, the wave the calendar's peer
    normalisation assumes (a common multiplier of each key's usual rate)."""
    rng = np.random.default_rng(11)
    usual = _usual_rates(events)
    lo, hi = ms(PROMO_END), ms(PROMO_END + AFTERMATH)
    extra = []
    for event in events:
        value = event.value
        if (
            event.topic == "orders"
            and value.get("status") == "delivered"
            and lo <= event.ts_ms < hi
            and rng.random() < WAVE * usual.get(value.get("sku"), 0.0)
        ):
            ts = event.ts_ms + int(rng.uniform(1, 30) * 3_600_000)
            extra.append(
                Event(
                    ts,
                    "orders",
                    event.key,
                    {
                        **value,
                        "event_id": f"wave-{len(extra)}",
                        "ts": ts,
                        "status": "return_requested",
                        "reason": "changed_mind",
                    },
                )
            )
    extra.sort(key=lambda e: e.ts_ms)
    return iter(extra)


@pytest.fixture(scope="module")
def traffic() -> tuple[list[tuple[str, bytes, bytes]], str, str]:
    base = SimulationConfig(
        seed=3,
        start=START,
        duration=timedelta(days=16),
        orders_per_day=5_000,
        n_skus=300,
        promotions=(PROMO,),
    )
    sku = best_seller(base)
    spike = replace(SPIKE, sku=sku)
    events = list(simulate(replace(base, incidents=(OUTAGE, spike))))
    category = next(e.value["category"] for e in events if e.value.get("sku") == sku)
    merged = heapq.merge(events, _wave(events), key=lambda e: e.ts_ms)
    records = [
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in merged
    ]
    return records, sku, category


def _replay(
    records: list[tuple[str, bytes, bytes]], cal: Calendar | None, *, plain: bool = False
) -> list[AlertEvent]:
    """The shipped rules (return_rate lag-aware, ``cohort = "3d"``); ``plain``: the plain
    return rate (every return against the window's deliveries) instead."""
    rules = shipped(
        ["order_volume", "return_rate"], dimensions={"return_rate": ["sku", "category"]}
    )
    assert rules.by_name("return_rate").cohort_ms is not None, "the shipped rule changed"
    if plain:
        rules = replace(rules, rules=tuple(replace(r, cohort_ms=None) for r in rules.rules))
    pipeline = ReplayPipeline(rules, partitions=2, max_future_ms=None, calendar=cal, risk=False)
    return [a for a in pipeline.run(records) if a.status == "firing"]


def _in(alert: AlertEvent, lo: datetime, hi: datetime) -> bool:
    return ms(lo) < datetime_to_ms(alert.window_end) and datetime_to_ms(alert.window_start) < ms(hi)


@pytest.fixture(scope="module")
def with_calendar(traffic: Any) -> list[AlertEvent]:
    return _replay(traffic[0], calendar())


@pytest.fixture(scope="module")
def without_calendar(traffic: Any) -> list[AlertEvent]:
    return _replay(traffic[0], None)


@pytest.fixture(scope="module")
def plain_with_calendar(traffic: Any) -> list[AlertEvent]:
    return _replay(traffic[0], calendar(), plain=True)


def _outage(alert: AlertEvent) -> bool:
    """Inside the outage (a channel's share dropping moves the other channels' shares up)."""
    return _in(alert, OUTAGE.start, OUTAGE.start + OUTAGE.duration + timedelta(minutes=30))


def _total_outage(alerts: list[AlertEvent]) -> list[AlertEvent]:
    return [
        a
        for a in alerts
        if a.rule == "order_volume"
        and a.dimension == "total"
        and a.direction == "down"
        and _outage(a)
    ]


class TestPromotion:
    def test_control_misses_the_outage_on_the_total(
        self, without_calendar: list[AlertEvent]
    ) -> None:
        """Without the calendar the outage leaves the total above its usual level: quiet."""
        assert _total_outage(without_calendar) == []

    def test_outage_shows_on_the_total(self, with_calendar: list[AlertEvent]) -> None:
        """With the calendar the total is judged against the promotion's level and fires."""
        fired = _total_outage(with_calendar)
        assert fired, "the outage did not show on the total"
        assert fired[0].context["calendar"][0]["factor"] > 2  # the promotion's level

    def test_no_order_volume_alert_but_the_outage(self, with_calendar: list[AlertEvent]) -> None:
        """With the calendar nothing of order_volume fires in the event but the outage."""
        inside = [
            a
            for a in with_calendar
            if a.rule == "order_volume" and _in(a, PROMO.start, PROMO_END + timedelta(hours=6))
        ]
        assert [a for a in inside if not _outage(a)] == []

    def test_outage_inside_the_promotion_fires(self, with_calendar: list[AlertEvent]) -> None:
        """The app checkout outage on the promotion's plateau fires, tagged with the event."""
        fired = [
            a
            for a in with_calendar
            if a.rule == "order_volume"
            and a.direction == "down"
            and a.dimension == "channel"
            and a.key == "app"
            and _outage(a)
        ]
        assert fired, "the outage inside the promotion did not fire"
        assert fired[0].context["calendar"][0]["event"] == "autumn sale"
        assert fired[0].context["calendar"][0]["phase"] == "event"
        assert fired[0].baseline > fired[0].observed * 3


#: Seeds beyond the fixture's own on which the promotion is checked (orders only). Measured
#: on seeds 3-7: seeds 6 and 7 each raise one order_volume page inside the event, the same
#: page as in a run without the calendar (sampling noise: seed 6, 3 and 1 marketplace
#: orders in two windows of ~10; seed 7, 4 UK orders against 16), so they would test the
#: engine's false alarm rate, not the calendar.
OTHER_SEEDS = (4, 5)


@pytest.fixture(scope="module", params=OTHER_SEEDS)
def other_seed(request: pytest.FixtureRequest) -> list[AlertEvent]:
    base = SimulationConfig(
        seed=request.param,
        start=START,
        duration=timedelta(days=11),
        orders_per_day=5_000,
        n_skus=300,
        promotions=(PROMO,),
    )
    records = [
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in simulate(replace(base, incidents=(OUTAGE,)))
        if e.topic == "orders"
    ]
    pipeline = ReplayPipeline(
        shipped(["order_volume"]), partitions=2, max_future_ms=None, calendar=calendar()
    )
    return [a for a in pipeline.run(records) if a.status == "firing"]


class TestPromotionOnOtherSeeds:
    def test_no_order_volume_alert_but_the_outage(self, other_seed: list[AlertEvent]) -> None:
        """Before shares were left alone, seed 4 paged on a region and a category (their
        shares frozen for the event's day) and seed 5 on marketplace an hour after the
        outage (its share's tracker had kept the level the outage pushed it to)."""
        inside = [a for a in other_seed if _in(a, PROMO.start, PROMO_END + timedelta(hours=6))]
        assert [(a.dimension, a.key) for a in inside if not _outage(a)] == []

    def test_outage_inside_the_promotion_fires(self, other_seed: list[AlertEvent]) -> None:
        assert [
            a
            for a in other_seed
            if a.dimension == "channel" and a.key == "app" and a.direction == "down" and _outage(a)
        ]


class TestAftermath:
    def test_control_pages_on_the_wave(
        self, traffic: Any, without_calendar: list[AlertEvent]
    ) -> None:
        """Without the calendar the shop-wide wave fires return_rate beyond the bad SKU."""
        _, sku, category = traffic
        assert [
            a
            for a in without_calendar
            if a.rule == "return_rate"
            and a.key not in (sku, category)
            and _in(a, PROMO_END, PROMO_END + AFTERMATH)
        ]

    @pytest.mark.parametrize("run", ["with_calendar", "plain_with_calendar"])
    def test_only_the_sizing_error_fires(
        self, traffic: Any, run: str, request: pytest.FixtureRequest
    ) -> None:
        """With the calendar only the SKU with the sizing error (and its category) fires
        in the aftermath, within 2.5 days of its first extra returns (measured on seeds
        3-4: the SKU after 18-24 h on the lag-aware rate, 24-36 h on the plain one):
        on the shipped lag-aware return rate, and on the plain one."""
        _, sku, category = traffic
        alerts: list[AlertEvent] = request.getfixturevalue(run)
        after = [
            a
            for a in alerts
            if a.rule == "return_rate" and _in(a, PROMO_END, PROMO_END + AFTERMATH)
        ]
        assert {(a.dimension, a.key) for a in after} <= {("sku", sku), ("category", category)}
        fired = [a for a in after if a.key == sku]
        assert fired, "the sizing error inside the aftermath did not fire"
        first_extra = SPIKE.start + timedelta(days=1)  # its returns come 1-3 days later
        assert min(a.window_end for a in fired) <= first_extra + timedelta(days=2.5)
        tag = fired[0].context["calendar"][0]
        assert tag["phase"] == "aftermath" and tag["peer_factor"] > 1.0
