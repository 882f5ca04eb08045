"""The simulator's csat, reviews and the incidents of issue 12 move what they should."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from streams.dev.simulator import Simulation, SimulationConfig
from streams.dev.simulator.config import DEFAULT_START
from streams.dev.simulator.events import Event
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    HandleTimeSurge,
    SatisfactionDrop,
    window_ms,
)

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture(scope="module")
def run() -> tuple[Simulation, list[Event]]:
    """Four days with one incident of each new type."""
    base = SimulationConfig(
        seed=3,
        start=DEFAULT_START,
        duration=4 * DAY,
        orders_per_day=4_000,
        n_skus=300,
        warmup=timedelta(days=3),
    )
    config = replace(
        base,
        incidents=(
            HandleTimeSurge(
                start=DEFAULT_START + DAY + 10 * HOUR,
                duration=6 * HOUR,
                queue="returns",
                magnitude=3.0,
            ),
            SatisfactionDrop(
                start=DEFAULT_START + 2 * DAY + 10 * HOUR,
                duration=6 * HOUR,
                queue="returns",
                magnitude=4.0,
            ),
            BadReviewWave(start=DEFAULT_START, duration=2 * DAY, magnitude=6.0),
            CancellationSpike(
                start=DEFAULT_START + 3 * DAY + 10 * HOUR, duration=6 * HOUR, magnitude=25.0
            ),
        ),
    )
    sim = Simulation(config)
    return sim, list(sim.events())


def _inside(sim: Simulation, kind: str, e: Event) -> bool:
    inc = next(i for i in sim.incidents if i.type == kind)
    start, end = window_ms(inc)
    return start <= e.ts_ms < end


def test_reviews_and_csat_are_sent(run: tuple[Simulation, list[Event]]) -> None:
    """Reviews carry ratings 1..5; about 40 % of tickets carry a csat."""
    _, events = run
    assert sum(e.topic == "reviews" for e in events) > 100
    assert all(1 <= e.value["rating"] <= 5 for e in events if e.topic == "reviews")
    rated = [e.value["csat"] for e in events if "csat" in e.value]
    assert 0.3 < len(rated) / sum(e.topic == "wait-times" for e in events) < 0.5


def test_handle_time_surge(run: tuple[Simulation, list[Event]]) -> None:
    """Handling times of the queue are about x3 inside the window."""
    sim, events = run
    tickets = [e for e in events if e.topic == "wait-times" and e.value["queue"] == "returns"]
    inside = [e.value["handle_seconds"] for e in tickets if _inside(sim, "handle_time_surge", e)]
    outside = [
        e.value["handle_seconds"] for e in tickets if not _inside(sim, "handle_time_surge", e)
    ]
    assert np.median(inside) > 2.2 * np.median(outside)


def test_satisfaction_drop(run: tuple[Simulation, list[Event]]) -> None:
    """The queue's share of csat <= 2 is several times higher inside the window."""
    sim, events = run
    rated = [
        e
        for e in events
        if e.topic == "wait-times" and e.value["queue"] == "returns" and "csat" in e.value
    ]

    def low(items: list[Event]) -> float:
        return float(np.mean([e.value["csat"] <= 2 for e in items]))

    inside = [e for e in rated if _inside(sim, "satisfaction_drop", e)]
    outside = [e for e in rated if not _inside(sim, "satisfaction_drop", e)]
    assert low(inside) > 2.5 * low(outside)


def test_bad_review_wave(run: tuple[Simulation, list[Event]]) -> None:
    """Reviews of the sku (the best seller by default) are far more often bad."""
    sim, events = run
    sku = next(i for i in sim.incidents if i.type == "bad_review_wave").sku
    reviews = [e.value for e in events if e.topic == "reviews"]
    bad = [r["rating"] <= 2 for r in reviews if r["sku"] == sku]
    others = [r["rating"] <= 2 for r in reviews if r["sku"] != sku]
    assert len(bad) >= 10
    assert np.mean(bad) > 3 * np.mean(others)


def test_cancellation_spike(run: tuple[Simulation, list[Event]]) -> None:
    """Fraud cancellations of orders placed in the window jump; those orders never ship."""
    sim, events = run
    fraud = [
        e
        for e in events
        if e.topic == "orders"
        and e.value["status"] == "cancelled"
        and e.value.get("reason") == "fraud_suspected"
    ]
    inside = sum(_inside(sim, "cancellation_spike", e) for e in fraud)
    assert inside > 5 * max(len(fraud) - inside, 1) / 16  # per 6 h, against the other 90 h
    cancelled = {e.key for e in fraud}
    assert not any(
        e.key in cancelled and e.value["status"] in ("shipped", "delivered")
        for e in events
        if e.topic == "orders"
    )


def test_other_events_do_not_depend_on_the_new_signals() -> None:
    """A satisfaction drop changes csat ratings only: orders, complaints and waits of the
    seed stay the same (the new signals draw from their own random stream)."""
    base = SimulationConfig(
        seed=4,
        start=DEFAULT_START,
        duration=DAY / 2,
        orders_per_day=2_000,
        n_skus=200,
        warmup=timedelta(days=1),
    )
    drop = replace(
        base,
        incidents=(
            SatisfactionDrop(
                start=DEFAULT_START, duration=6 * HOUR, queue="returns", magnitude=5.0
            ),
        ),
    )

    def strip(events: list[Event]) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
        return [(e.topic, {k: v for k, v in e.value.items() if k != "csat"}) for e in events]

    plain, dropped = list(Simulation(base).events()), list(Simulation(drop).events())
    assert strip(plain) == strip(dropped)
    assert [e.value.get("csat") for e in plain] != [e.value.get("csat") for e in dropped]
