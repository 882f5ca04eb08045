"""The broker restarted empty under a running worker: the worker exits non-zero (never a
silent stall with ``/health`` ready), and started again, as a supervisor would, it creates
its topics again and publishes exactly the alerts of the events sent after the restart."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.kafka import produce_events
from tests.integration.test_parity import canonical, collect_alerts
from tests.integration.test_partition_handover import burst_scenario, replay
from tests.integration.test_recovery import events_ok, start_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def health(port: int) -> dict | None:  # type: ignore[type-arg]
    """The worker's /health answer (any status), or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
            return json.loads(reply.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        return json.loads(error.read())  # type: ignore[no-any-return]
    except OSError:
        return None


async def topics(bootstrap_servers: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


class TestBrokerRestartedEmpty:
    async def test_worker_exits_then_a_restart_recovers(self, tmp_path: Path) -> None:
        """Exit non-zero within 60 s of the empty broker coming back; a restarted worker
        re-creates the topics and its alerts equal replay's."""
        prefix = "restart."
        events = list(simulate(burst_scenario()))
        expected = replay(events)
        port, web = free_port(), free_port()
        log = tmp_path / "worker.log"
        first = EmbeddedBroker(port=port, log_path=tmp_path / "broker1.log").start()
        worker = start_worker(first, prefix, web, log)
        second: EmbeddedBroker | None = None
        try:
            await wait_ready(web, worker, 90)
            own = {t for t in await topics(first.bootstrap_servers) if t.startswith(prefix)}
            await produce_events(events[:2_000], first.bootstrap_servers, prefix)
            deadline = time.monotonic() + 60
            while events_ok(web) < 2_000 and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
            first.stop()
            second = EmbeddedBroker(port=port, log_path=tmp_path / "broker2.log").start()
            back_at = time.monotonic()
            ready_late: list[float] = []
            while worker.poll() is None and time.monotonic() - back_at < 60:
                answer = health(web)
                if answer is not None and answer.get("ready") and time.monotonic() - back_at > 15:
                    ready_late.append(time.monotonic() - back_at)
                await asyncio.sleep(0.5)
            took_s = time.monotonic() - back_at
            text = log.read_text(errors="replace")
            assert worker.poll() is not None, f"still running 60 s on:\n{text[-3000:]}"
            assert worker.returncode != 0
            assert '"topics_missing"' in text, text[-3000:]
            assert not ready_late, f"/health ready at {ready_late} s with its topics gone"
            print(f"worker exited {took_s:.1f} s after the broker came back empty")

            worker = start_worker(second, prefix, web, log)  # what a supervisor does
            await wait_ready(web, worker, 90)
            assert own <= await topics(second.bootstrap_servers)
            await produce_events(events, second.bootstrap_servers, prefix)
            alerts = await collect_alerts(second, f"{prefix}alerts", len(expected), 120)
            assert worker.poll() is None, "the restarted worker died"
        finally:
            terminate(worker)
            first.stop()
            if second is not None:
                second.stop()
        assert canonical(alerts) == canonical(expected)
