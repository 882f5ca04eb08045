"""The broker frozen mid-stream: every process reports it, waits it out and catches up;
the alerts equal an uninterrupted replay.

The worker runs with its default two intake children and the broker is frozen 60 s.
Before the fix, a write in flight when the broker froze failed
after the client's 40 s request timeout (an intake child's partials, or the closer's
alerts), the process logged ``worker_failed`` and the worker exited; the intake children
ran no broker probe, so their commits failing meanwhile also counted toward
``commits_failing`` (3 x 15 s). The embedded broker keeps its data in memory, so the
outage is a freeze (SIGSTOP, then SIGCONT): the broker comes back with its data.
"""

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


def connected(metrics: AlertMetrics) -> float:
    return float(metrics.broker_connected._value.get())


def processed(metrics: AlertMetrics) -> int:
    return sum(
        int(metrics.events_total.labels(t, o)._value.get())
        for t in TOPICS
        for o in ("ok", "late", "invalid", "duplicate")
    )


#: Longer than the producer's 40 s request timeout and the 45 s that three 15 s commit
#: timeouts take: the two ways an outage used to kill an intake child.
OUTAGE_S = 60


async def test_outage_is_reported_and_survived() -> None:
    """While the broker is frozen the gauge reads 0 and no process dies (intake children
    are the same ones after it); afterwards the gauge reads 1 and the alerts equal replay's
    (none lost, none published twice)."""
    rules = load_rules(RULES)
    events = parity_events()
    expected = parity_replay()
    env = {
        "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
        "AFTERSALES_CHECKPOINT_INTERVAL_MS": "1000",
    }
    with EmbeddedBroker() as broker:  # its own broker: freezing it must not hurt others
        assert broker.pid is not None
        settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, **env})
        metrics = AlertMetrics.create(CollectorRegistry(), topics=TOPICS)
        worker = Worker(settings, rules, metrics)
        task = asyncio.create_task(worker.run())
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(worker.started.wait(), 120)
            children = list(worker.intake_pids)
            assert len(children) == 2  # the default
            cut = len(events) // 2
            await produce_events(events[:cut], broker.bootstrap_servers)
            deadline = loop.time() + 60
            while processed(metrics) < cut // 4 and loop.time() < deadline:
                await asyncio.sleep(0.1)
            os.kill(broker.pid, signal.SIGSTOP)
            try:
                frozen_at = loop.time()
                seen_down = False
                while loop.time() - frozen_at < OUTAGE_S:
                    await asyncio.sleep(0.5)
                    seen_down = seen_down or connected(metrics) == 0
                    assert not task.done(), "the worker died during the outage"
                assert seen_down, "the outage never showed on aftersales_broker_connected"
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            deadline = loop.time() + 60
            while connected(metrics) != 1 and loop.time() < deadline:
                await asyncio.sleep(0.5)
            assert connected(metrics) == 1, "the worker never saw the broker again"
            await produce_events(events[cut:], broker.bootstrap_servers)
            alerts = await collect_alerts(broker, "aftersales.alerts", len(expected), 240)
            assert not task.done(), "the worker stopped"
            assert worker.intake_pids == children, "an intake child was replaced"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    assert canonical(alerts) == canonical(expected)
