"""Real alert events for tests: one simulated day with a customer burst and a wrong
price, replayed through the pipeline (firing and resolved, window and per-event rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache

from alerts.model import AlertEvent
from streams.dev.simulator.cli import incident_option
from streams.dev.simulator.config import DEFAULT_START, SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.jsonl import event_line
from streams.pipeline.replay import ReplayPipeline, read_jsonl
from streams.rules.catalogue import load_rules


@cache
def replayed_alerts() -> tuple[AlertEvent, ...]:
    """The alerts of the replay (computed once per test session)."""
    day = timedelta(days=1)
    kinds = ("customer_burst", "wrong_price")
    incidents = tuple(
        incident_option(kind, i, len(kinds), DEFAULT_START, day) for i, kind in enumerate(kinds)
    )
    config = replace(
        SimulationConfig(seed=0, start=DEFAULT_START, duration=day, orders_per_day=2_000),
        incidents=incidents,
    )
    lines = (event_line(event) for event in simulate(config))
    return tuple(ReplayPipeline(load_rules()).run(read_jsonl(lines)))
