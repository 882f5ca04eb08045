"""Severity escalation through Kafka: an open episode whose score crosses a higher severity
is published as ``firing`` again (same ``alert_id`` and ``started_at``, higher severity),
and the worker's ``/metrics`` follow it while it is open and after it resolves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import CustomerBurst
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

from .test_parity import collect_alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAST_RULES = Path(__file__).parent / "data" / "fast_rules.toml"
START = datetime(2026, 11, 2, tzinfo=UTC)
BURST = CustomerBurst(
    start=START + timedelta(hours=11),
    customer_id="C-0000007",
    address_id="A-0000007",
    magnitude=12.0,
)
RULE = "customer_order_burst"


def rules() -> RuleSet:
    document = tomllib.loads(FAST_RULES.read_text())
    return parse_rules({"settings": document["settings"], "rules": {RULE: document["rules"][RULE]}})


def metric_samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    """The samples ``/metrics`` serves (the worker's page is ``generate_latest``)."""
    text = generate_latest(registry).decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v
        for n, lab, v in samples
        if n == name and all(lab.get(k) == want for k, want in labels.items())
    )


async def test_an_escalation_reaches_the_alerts_topic_and_metrics(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    config = SimulationConfig(
        seed=5, start=START, duration=timedelta(hours=14), orders_per_day=5_000, incidents=(BURST,)
    )
    events = list(simulate(config))
    expected = [
        a.to_dict()
        for a in ReplayPipeline(rules(), partitions=3).run(
            (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
            for e in events
        )
    ]
    by_id: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for alert in expected:
        by_id.setdefault(alert["alert_id"], []).append(alert)
    escalated = {
        i: a
        for i, a in by_id.items()
        if [(x["status"], x["severity"]) for x in a]
        == [("firing", "warning"), ("firing", "critical"), ("resolved", "critical")]
    }
    assert len(escalated) == 2, f"scenario changed: {by_id}"
    # Stream up to 20 minutes past the escalation: its window closes, the resolve's not yet.
    escalation_end = max(datetime.fromisoformat(a[1]["window_end"]) for a in escalated.values())
    resolve_end = min(datetime.fromisoformat(a[2]["window_end"]) for a in escalated.values())
    cut = int((escalation_end + timedelta(minutes=20)).timestamp() * 1000)
    assert cut < int(resolve_end.timestamp() * 1000)

    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",
            "AFTERSALES_TOPIC_PARTITIONS": "3",
            "AFTERSALES_INTAKE_PROCESSES": "0",
        }
    )
    registry = CollectorRegistry()
    worker = Worker(settings, rules(), AlertMetrics.create(registry, topics=TOPICS))
    task = asyncio.create_task(worker.run())
    topic = f"{topic_prefix}alerts"
    try:
        await asyncio.wait_for(worker.started.wait(), 90)
        await produce_events(
            [e for e in events if e.ts_ms < cut], broker.bootstrap_servers, topic_prefix
        )
        open_alerts = await collect_alerts(broker, topic, 4, 120)
        records = [
            (a["alert_id"], a["status"], a["severity"], a["started_at"])
            for a in open_alerts
            if a["alert_id"] in escalated
        ]
        assert sorted(records) == sorted(
            (i, "firing", severity, a[0]["started_at"])
            for i, a in escalated.items()
            for severity in ("warning", "critical")
        ), records
        for alert_id in escalated:  # the warning, then the critical, on the topic
            assert [r[2] for r in records if r[0] == alert_id] == ["warning", "critical"]

        samples = metric_samples(registry)
        for alert_id in escalated:
            info = [
                (lab["severity"], v)
                for n, lab, v in samples
                if n == "aftersales_alert_info" and lab.get("alert_id") == alert_id
            ]
            assert info == [("critical", 1.0)], f"{alert_id}: alert_info shows {info}"
        assert value(samples, "aftersales_alerts_active", rule=RULE, severity="critical") == 2
        assert value(samples, "aftersales_alerts_active", rule=RULE, severity="warning") == 0
        for severity in ("warning", "critical"):
            assert (
                value(
                    samples,
                    "aftersales_alerts_total",
                    rule=RULE,
                    severity=severity,
                    status="firing",
                )
                == 2
            ), severity

        await produce_events(
            [e for e in events if e.ts_ms >= cut], broker.bootstrap_servers, topic_prefix
        )
        alerts = await collect_alerts(broker, topic, 6, 120)
        assert sorted(
            (a["alert_id"], a["status"], a["severity"])
            for a in alerts
            if a["alert_id"] in escalated
        ) == sorted(
            (a["alert_id"], a["status"], a["severity"])
            for alerts_of in escalated.values()
            for a in alerts_of
        )
        samples = metric_samples(registry)
        assert not [
            lab
            for n, lab, _ in samples
            if n == "aftersales_alert_info" and lab.get("alert_id") in escalated
        ]
        assert value(samples, "aftersales_alerts_active", rule=RULE) == 0
        assert (
            value(
                samples,
                "aftersales_alerts_total",
                rule=RULE,
                severity="critical",
                status="resolved",
            )
            == 2
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
