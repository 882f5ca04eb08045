"""Two simulated days with a wrong price on day two: enough traffic for per-event verdicts,
partials, risk facts and watermarks; and stage 1 run over it in intake-sized batches
(shared by the closer-queue and intake-stage tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from streams.cli.demo import best_seller
from streams.contract.events import TOPICS
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.incidents import Incident, WrongPrice
from streams.pipeline.replay import Stage1, Stage1Output

START = datetime(2026, 11, 2, tzinfo=UTC)


def wrong_price_days(*more: Incident) -> SimulationConfig:
    """Seed 5, 4,000 orders a day over 40 SKUs; the best seller at x0.1 for 6 h from day
    two 02:00, then ``more`` incidents."""
    base = SimulationConfig(
        seed=5,
        start=START,
        duration=timedelta(days=2),
        orders_per_day=4_000,
        n_skus=40,
        n_customers=5_000,
    )
    wrong_price = WrongPrice(
        start=START + timedelta(days=1, hours=2),
        duration=timedelta(hours=6),
        sku=best_seller(base),
        magnitude=0.1,
    )
    return replace(base, incidents=(wrong_price, *more))


def stage1_batches(
    stage1: Stage1,
    events: Iterable[Event],
    *,
    batch: int = 500,
    first_extra: Iterable[tuple[str, bytes, bytes]] = (),
) -> Iterator[Stage1Output]:
    """Each sealed output of ``stage1`` over ``events`` (partition 0 of each topic), one
    per ``batch`` events; ``first_extra`` raw ``(topic, key, value)`` records join the
    first batch after its events."""
    offsets = dict.fromkeys(TOPICS, 0)
    events = list(events)
    extra = list(first_extra)
    for first in range(0, len(events), batch):
        out = Stage1Output()
        records = [
            (e.topic, e.key.encode(), json.dumps(e.value).encode())
            for e in events[first : first + batch]
        ]
        for topic, key, value in records + (extra if first == 0 else []):
            stage1.process(topic, 0, offsets[topic], key, value, out)
            offsets[topic] += 1
        stage1.seal(out)
        yield out
