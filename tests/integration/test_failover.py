"""Two workers in one group: one is killed, its partitions move, the alerts continue
and none is published twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.kafka import produce_events
from tests.integration.test_parity import (
    assert_same_alerts,
    collect_alerts,
    parity_events,
    parity_replay,
)
from tests.integration.test_recovery import events_ok, start_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class TestFailover:
    async def test_killed_worker_hands_over_without_duplicates(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
    ) -> None:
        """With two workers sharing the partitions, killing one mid-stream still yields
        exactly the alerts of a single uninterrupted run."""
        events = parity_events()
        expected = parity_replay()
        ports = [free_port(), free_port()]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        workers = [
            start_worker(broker, topic_prefix, port, log)
            for port, log in zip(ports, logs, strict=True)
        ]
        try:
            for port, worker in zip(ports, workers, strict=True):
                await wait_ready(port, worker, 90)
            await asyncio.sleep(8)  # both members in the groups before traffic starts
            cut = len(events) // 2
            await produce_events(events[:cut], broker.bootstrap_servers, topic_prefix)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while sum(events_ok(p) for p in ports) < cut // 2 and loop.time() < deadline:
                await asyncio.sleep(0.2)
            assert events_ok(ports[1]) > 0, "the second worker never got partitions"
            workers[1].send_signal(signal.SIGKILL)
            workers[1].wait(10)
            await produce_events(events[cut:], broker.bootstrap_servers, topic_prefix)
            alerts = await collect_alerts(broker, f"{topic_prefix}alerts", len(expected), 240)
        finally:
            for worker in workers:
                terminate(worker)
        assert_same_alerts(alerts, expected, logs[0].read_text())
