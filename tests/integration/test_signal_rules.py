"""The rules of issue 12 fire on simulated incidents of their kind, through replay with
the shipped rules: a handling-time surge, a satisfaction drop, a bad-review wave on one
SKU and a fraud-cancellation spike, nine simulated days with the four on the last ones."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from alerts.model import AlertEvent
from streams.dev.simulator import Simulation, SimulationConfig, build_labels
from streams.dev.simulator.config import DEFAULT_START
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    HandleTimeSurge,
    SatisfactionDrop,
)
from streams.dev.simulator.timefmt import parse_ts
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules

# Replay only, no broker (like test_quality): not `integration`, so `make test` runs it in
# its parallel first phase.
pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
CLASSES = {
    "handle_time_p90": "service",
    "low_satisfaction_share": "service",
    "bad_review_rate": "product",
    "cancellation_rate": "fraud",
}


@pytest.fixture(scope="module")
def run() -> tuple[list[AlertEvent], dict]:  # type: ignore[type-arg]
    """Alerts and labels of the nine-day run."""
    base = SimulationConfig(seed=7, start=DEFAULT_START, duration=9 * DAY, orders_per_day=5_000)
    config = replace(
        base,
        incidents=(
            BadReviewWave(start=DEFAULT_START + 4 * DAY, duration=2 * DAY, magnitude=6.0),
            HandleTimeSurge(
                start=DEFAULT_START + 5 * DAY + 14 * HOUR,
                duration=4 * HOUR,
                queue="returns",
                magnitude=3.0,
            ),
            SatisfactionDrop(
                start=DEFAULT_START + 6 * DAY + 10 * HOUR,
                duration=6 * HOUR,
                queue="returns",
                magnitude=4.0,
            ),
            CancellationSpike(
                start=DEFAULT_START + 7 * DAY + 13 * HOUR, duration=4 * HOUR, magnitude=25.0
            ),
        ),
    )
    sim = Simulation(config)
    records = (
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in sim.events()
    )
    alerts = list(ReplayPipeline(load_rules(), partitions=4, risk=False).run(records))
    return alerts, build_labels(sim)


@pytest.mark.parametrize(
    "kind", ["handle_time_surge", "satisfaction_drop", "bad_review_wave", "cancellation_spike"]
)
def test_rule_fires_on_its_incident(run: tuple[list[AlertEvent], dict], kind: str) -> None:  # type: ignore[type-arg]
    """An expected target of the incident fires inside the incident's label window, with
    the rule's class."""
    alerts, labels = run
    label = next(i for i in labels["incidents"] if i["type"] == kind)
    start, end = parse_ts(label["start"]), parse_ts(label["end"])
    hits = [
        a
        for a in alerts
        if a.status == "firing"
        and any(
            (a.rule, a.dimension, a.key, a.direction)
            == (t["rule"], t["dimension"], t["key"], t["direction"])
            for t in label["expected"]
        )
        and start < a.window_end.timestamp() * 1000 <= end + 86_400_000
    ]
    assert hits, f"no alert for {kind}: {label['expected']}"
    assert {a.anomaly_class for a in hits} == {CLASSES[hits[0].rule]}


def test_cancellations_by_reason_name_the_reason(run: tuple[list[AlertEvent], dict]) -> None:  # type: ignore[type-arg]
    """The fraud spike shows on the reason's series, as cancelled per placed order."""
    alerts, _ = run
    fired = [
        a
        for a in alerts
        if a.rule == "cancellation_rate" and a.dimension == "reason" and a.status == "firing"
    ]
    assert {a.key for a in fired} == {"fraud_suspected"}
    # Cancellations with that reason per placed order: a few per cent, not ~100 %.
    assert all(0 < a.observed < 0.2 for a in fired)
