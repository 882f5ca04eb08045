"""A worker whose intake is stuck with records waiting reports the stall (what /health
turns into 503) after AFTERSALES_STALL_TIMEOUT_MS, and clears it once records move."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import Stage1Output
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.integration.test_parity import PARTITIONS, RULES, parity_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``condition()`` until true (fail after ``timeout_s``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition not met in time"
        await asyncio.sleep(0.2)


class TestStallHealth:
    async def test_stuck_intake_is_reported_then_cleared(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Records waiting and none consumed for 2 s: stalled; moving again: not stalled."""
        settings = Settings.from_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "AFTERSALES_TOPIC_PREFIX": topic_prefix,
                "AFTERSALES_APP_ID": f"{topic_prefix}app",
                "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
                "AFTERSALES_INTAKE_PROCESSES": "0",
                "AFTERSALES_STALL_TIMEOUT_MS": "2000",
            }
        )
        worker = Worker(
            settings, load_rules(RULES), AlertMetrics.create(CollectorRegistry(), topics=TOPICS)
        )
        released = asyncio.Event()
        publish = worker.intake.publish

        async def stuck(out: Stage1Output) -> None:  # a producer that hangs
            await released.wait()
            await publish(out)

        worker.intake.publish = stuck  # type: ignore[method-assign]
        events = parity_events()
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.started.wait(), 90)
            await produce_events(events[:500], broker.bootstrap_servers, topic_prefix)
            await until(lambda: worker.consumed["intake"] > 0, 30)
            assert worker.progress.stalled() == []
            await produce_events(events[500:3_000], broker.bootstrap_servers, topic_prefix)
            await until(lambda: worker.progress.stalled() == ["intake"], 30)
            report = worker.progress.report()["intake"]
            assert report["backlog"] > 0
            assert report["since_progress_s"] >= 2.0, "stalled before the timeout passed"
            released.set()
            await until(lambda: worker.progress.stalled() == [], 30)
            await until(lambda: worker.backlog["intake"] == 0, 60)
            assert not task.done()
        finally:
            released.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
