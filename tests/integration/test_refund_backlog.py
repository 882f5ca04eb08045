"""``refund_delay_p90`` fires on a simulated refund backlog of its kind, through replay with
the shipped rule: five simulated weeks, the apparel refunds of three days' returns
processed four times slower from day 24; the same run without the backlog stays quiet.

The rule sees a refund only when it saw its request, so a run's first days hold only the
quick refunds; the shipped ``settle = "14d"`` keeps that climb out of the band (without
it, the band was 75 % above the baseline and the backlog never left it)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import AlertEvent
from streams.dev.simulator import Simulation, SimulationConfig, build_labels
from streams.dev.simulator.incidents import RefundDelay
from streams.dev.simulator.timefmt import parse_ts
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules

# Replay only, no broker (like test_signal_rules): `make test` runs it in its parallel phase.
pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
START = datetime(2026, 10, 5, tzinfo=UTC)
BACKLOG = RefundDelay(start=START + 24 * DAY, duration=3 * DAY, category="apparel", magnitude=4.0)


def _refund_alerts(incidents: tuple[RefundDelay, ...]) -> tuple[list[AlertEvent], dict]:  # type: ignore[type-arg]
    """Firing ``refund_delay_p90`` alerts of 35 days at 2,500 orders a day, and labels."""
    shipped = load_rules(None)
    rules = dataclasses.replace(
        shipped, rules=tuple(r for r in shipped.rules if r.name == "refund_delay_p90")
    )
    config = SimulationConfig(
        seed=7, start=START, duration=35 * DAY, orders_per_day=2_500, incidents=incidents
    )
    sim = Simulation(config)
    records = ((e.topic, e.key.encode(), json.dumps(e.value).encode()) for e in sim.events())
    alerts = [a for a in ReplayPipeline(rules, risk=False).run(records) if a.status == "firing"]
    return alerts, build_labels(sim)


@pytest.fixture(scope="module")
def backlog() -> tuple[list[AlertEvent], dict]:  # type: ignore[type-arg]
    return _refund_alerts((BACKLOG,))


def test_backlog_fires_on_its_category(backlog: tuple[list[AlertEvent], dict]) -> None:  # type: ignore[type-arg]
    """An episode opens on the backlog's category inside the incident's label window."""
    alerts, labels = backlog
    [incident] = labels["incidents"]
    assert incident["expected"] == [
        {"rule": "refund_delay_p90", "dimension": "category", "key": "apparel", "direction": "up"}
    ]
    lo, hi = parse_ts(incident["start"]), parse_ts(incident["end"])
    hits = [
        a
        for a in alerts
        if (a.dimension, a.key) == ("category", "apparel")
        and lo <= int(a.window_end.timestamp() * 1000) <= hi
    ]
    assert hits, [(a.dimension, a.key, a.window_end) for a in alerts]
    assert hits[0].observed > hits[0].baseline


def test_only_the_backlog_and_its_channels_fire(backlog: tuple[list[AlertEvent], dict]) -> None:  # type: ignore[type-arg]
    """Nothing fires before the backlog; afterwards only its category and channels do
    (the channels carry the apparel refunds too: labelled related)."""
    alerts, _ = backlog
    start_ms = int(BACKLOG.start.timestamp() * 1000)
    assert all(int(a.window_end.timestamp() * 1000) > start_ms for a in alerts)
    assert {a.dimension for a in alerts if a.key != "apparel"} <= {"channel"}


def test_without_the_backlog_nothing_fires() -> None:
    """The same five weeks without the backlog: no refund alert at all."""
    alerts, _ = _refund_alerts(())
    assert alerts == []
