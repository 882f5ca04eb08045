"""The simulator's promised dates and logistics incidents move what they should, and a
run without them is unchanged by their random stream."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from streams.dev.simulator import Simulation, SimulationConfig
from streams.dev.simulator.config import DEFAULT_START
from streams.dev.simulator.events import Event
from streams.dev.simulator.incidents import DeliveryDelay, LostParcels, RefundDelay, window_ms
from streams.dev.simulator.timefmt import parse_ts

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
BASE = SimulationConfig(
    seed=3,
    start=DEFAULT_START,
    duration=8 * DAY,
    orders_per_day=3_000,
    n_skus=300,
    warmup=timedelta(days=3),
)
INCIDENTS = (
    DeliveryDelay(
        start=DEFAULT_START + DAY, duration=DAY, region="EU-West", carrier="DHL", magnitude=2.0
    ),
    LostParcels(start=DEFAULT_START + DAY, duration=12 * HOUR, carrier="PostNL", magnitude=0.5),
    RefundDelay(start=DEFAULT_START + 2 * DAY, duration=3 * DAY, category="apparel", magnitude=2.0),
)


def lifecycles(events: list[Event]) -> dict[str, dict[str, Event]]:
    """Per order id, its events by status."""
    out: dict[str, dict[str, Event]] = defaultdict(dict)
    for e in events:
        if e.topic == "orders":
            out[e.key][e.value["status"]] = e
    return out


@pytest.fixture(scope="module")
def runs() -> tuple[Simulation, dict[str, dict[str, Event]], dict[str, dict[str, Event]]]:
    """The same seed without and with the three incidents."""
    quiet = lifecycles(list(Simulation(BASE).events()))
    sim = Simulation(replace(BASE, incidents=INCIDENTS))
    return sim, quiet, lifecycles(list(sim.events()))


def transit_h(order: dict[str, Event]) -> float:
    return (order["delivered"].ts_ms - order["shipped"].ts_ms) / 3_600_000


def test_every_order_event_promises_a_date(runs: tuple) -> None:  # type: ignore[type-arg]
    """promised_at is RFC 3339, after the order was placed; most parcels arrive by then."""
    _, quiet, _ = runs
    delivered = [o for o in quiet.values() if "delivered" in o and "placed" in o]
    late = [
        o for o in delivered if o["delivered"].ts_ms > parse_ts(o["delivered"].value["promised_at"])
    ]
    assert all(parse_ts(o["placed"].value["promised_at"]) > o["placed"].ts_ms for o in delivered)
    assert 0.0 < len(late) / len(delivered) < 0.1


def test_delivery_delay_stretches_transit_of_its_cell(runs: tuple) -> None:  # type: ignore[type-arg]
    """Parcels of the cell shipped in the window take twice as long; others are unchanged."""
    _, quiet, hit = runs
    start, end = window_ms(INCIDENTS[0])
    ratios, others = [], []
    for oid, order in hit.items():
        if not {"shipped", "delivered"} <= set(order) or "delivered" not in quiet.get(oid, {}):
            continue
        ratio = transit_h(order) / transit_h(quiet[oid])
        cell = (order["shipped"].value["region"], order["shipped"].value["carrier"])
        if cell == ("EU-West", "DHL") and start <= order["shipped"].ts_ms < end:
            ratios.append(ratio)
        else:
            others.append(ratio)
    assert len(ratios) > 50 and np.allclose(ratios, 2.0, atol=0.01)
    assert set(others) == {1.0}


def test_lost_parcels_never_arrive(runs: tuple) -> None:  # type: ignore[type-arg]
    """About half of the carrier's parcels shipped in the window stop after shipped; the
    label lists exactly them."""
    sim, quiet, hit = runs
    lost = set(sim.affected_orders[1])
    assert lost
    for oid in lost:
        assert set(hit[oid]) <= {"placed", "paid", "shipped"}
        assert hit[oid]["shipped"].value["carrier"] == "PostNL"
        assert "delivered" in quiet[oid]
    start, end = window_ms(INCIDENTS[1])
    shipped = [
        o
        for o, order in hit.items()
        if "shipped" in order
        and order["shipped"].value["carrier"] == "PostNL"
        and start <= order["shipped"].ts_ms < end
    ]
    assert 0.35 < len(lost) / len(shipped) < 0.65


def test_refund_delay_slows_refunds_of_its_category(runs: tuple) -> None:  # type: ignore[type-arg]
    """Refunds of the category's goods returned in the window take 2x longer after the
    return; other refunds are unchanged."""
    _, quiet, hit = runs
    start, end = window_ms(INCIDENTS[2])
    slowed = 0
    for oid, order in hit.items():
        if not {"returned", "refunded"} <= set(order) or "refunded" not in quiet.get(oid, {}):
            continue
        if (
            order["returned"].value["category"] == "apparel"
            and start <= order["returned"].ts_ms < end
        ):
            before = quiet[oid]["refunded"].ts_ms - quiet[oid]["returned"].ts_ms
            after = order["refunded"].ts_ms - order["returned"].ts_ms
            assert abs(after - 2 * before) <= 2
            slowed += 1
        elif order["returned"].ts_ms == quiet[oid]["returned"].ts_ms:
            assert order["refunded"].ts_ms == quiet[oid]["refunded"].ts_ms
    assert slowed >= 2  # few goods come back inside an 8-day run


def test_other_events_of_a_seed_are_unchanged(runs: tuple) -> None:  # type: ignore[type-arg]
    """Orders the incidents do not touch have the same events as without them."""
    _, quiet, hit = runs
    same = [
        oid
        for oid in quiet
        if oid in hit
        and "refunded" not in quiet[oid]
        and quiet[oid].get("shipped") is not None
        and quiet[oid]["shipped"].value["carrier"] not in ("DHL", "PostNL")
    ]
    assert len(same) > 1000
    assert all(
        {s: e.value for s, e in quiet[oid].items()} == {s: e.value for s, e in hit[oid].items()}
        for oid in same
    )
