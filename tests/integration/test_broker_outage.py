"""The broker frozen for 30 s mid-stream: the worker reports it, survives, and catches up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.kafka import produce_events
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.integration.test_parity import (
    PARTITIONS,
    RULES,
    canonical,
    collect_alerts,
    parity_events,
    parity_replay,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 30


def connected(metrics: AlertMetrics) -> float:
    return float(metrics.broker_connected._value.get())


def processed(metrics: AlertMetrics) -> int:
    return sum(
        int(metrics.events_total.labels(t, o)._value.get())
        for t in TOPICS
        for o in ("ok", "late", "invalid", "duplicate")
    )


class TestBrokerOutage:
    async def test_outage_is_reported_and_survived(self, tmp_path: object) -> None:
        """While the broker is frozen the gauge reads 0; afterwards the worker resumes and
        the alerts equal an uninterrupted replay."""
        rules = load_rules(RULES)
        events = parity_events()
        expected = parity_replay()
        with EmbeddedBroker() as broker:  # its own broker: freezing it must not hurt others
            assert broker.pid is not None
            settings = Settings.from_env(
                {
                    "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                    "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
                    "AFTERSALES_CHECKPOINT_INTERVAL_MS": "1000",
                }
            )
            metrics = AlertMetrics.create(CollectorRegistry(), topics=TOPICS)
            worker = Worker(settings, rules, metrics)
            task = asyncio.create_task(worker.run())
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(worker.started.wait(), 90)
                cut = len(events) // 2
                await produce_events(events[:cut], broker.bootstrap_servers)
                deadline = loop.time() + 60
                while processed(metrics) < cut // 2 and loop.time() < deadline:
                    await asyncio.sleep(0.2)
                os.kill(broker.pid, signal.SIGSTOP)
                try:
                    frozen_at = loop.time()
                    seen_down = False
                    while loop.time() - frozen_at < OUTAGE_S:
                        await asyncio.sleep(0.5)
                        seen_down = seen_down or connected(metrics) == 0
                    assert seen_down, "the outage never showed on aftersales_broker_connected"
                    assert not task.done(), "the worker died during the outage"
                finally:
                    os.kill(broker.pid, signal.SIGCONT)
                deadline = loop.time() + 60
                while connected(metrics) != 1 and loop.time() < deadline:
                    await asyncio.sleep(0.5)
                assert connected(metrics) == 1, "the worker never saw the broker again"
                await produce_events(events[cut:], broker.bootstrap_servers)
                alerts = await collect_alerts(broker, "aftersales.alerts", len(expected), 240)
                assert not task.done(), "the worker stopped"
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        assert canonical(alerts) == canonical(expected)
