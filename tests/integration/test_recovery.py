"""Recovery: a worker killed with SIGKILL mid-stream and restarted publishes exactly the
alerts of an uninterrupted run, and never a second firing event for one episode."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.kafka import produce_events
from tests.integration.test_parity import (
    PARTITIONS,
    RULES,
    assert_same_alerts,
    collect_alerts,
    parity_events,
    parity_replay,
)
from tests.worker_process import child_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_worker(
    broker: EmbeddedBroker, prefix: str, port: int, log: Path, **extra: str
) -> subprocess.Popen:  # type: ignore[type-arg]
    """A ``worker`` process on ``broker`` (``extra``: more environment, e.g. settings),
    started in ``log``'s directory."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "AFTERSALES_TOPIC_PREFIX": prefix,
        # Own consumer groups per test: tansu can leave a group that crashed members
        # of an earlier test's workers belonged to stuck in rebalance.
        "AFTERSALES_APP_ID": f"{prefix}app",
        "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
        "AFTERSALES_RULES_FILE": str(RULES),
        "AFTERSALES_WEB_PORT": str(port),
        "AFTERSALES_WEB_HOST": "127.0.0.1",
        "AFTERSALES_CHECKPOINT_INTERVAL_MS": "500",
        "AFTERSALES_LOG_FORMAT": "json",
        **extra,
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "worker"],
            env=child_env(env),
            cwd=log.parent,  # Faust's data directory goes there, not into the repository
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(port: int, process: subprocess.Popen, timeout_s: float) -> None:  # type: ignore[type-arg]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        assert process.poll() is None, "worker exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                if json.loads(reply.read())["ready"]:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError("worker not ready in time")


def metric_sum(port: int, series: str, having: str = "") -> float:
    """The sum of a worker's ``/metrics`` samples that start with ``series`` and contain
    ``having`` (0 while the worker is too busy to answer; callers poll)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(series) and having in line
    )


def events_ok(port: int) -> float:
    return metric_sum(port, "aftersales_events_total{", 'outcome="ok"')


class TestRecovery:
    async def test_sigkill_and_restart_equals_uninterrupted(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
    ) -> None:
        """Kill the worker mid-stream, restart it, and get the uninterrupted run's alerts."""
        events = parity_events()
        expected = parity_replay()
        log = tmp_path / "worker.log"
        port = free_port()
        worker = start_worker(broker, topic_prefix, port, log)
        try:
            await wait_ready(port, worker, 60)
            cut = len(events) * 6 // 10
            # Paced over ~8 s: unpaced, the worker processes the whole first part in about
            # a second, before the kill can land.
            span_s = (events[cut - 1].ts_ms - events[0].ts_ms) / 1000
            producing = asyncio.create_task(
                produce_events(
                    events[:cut],
                    broker.bootstrap_servers,
                    topic_prefix,
                    realtime_speed=max(span_s / 8.0, 1.0),
                )
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            processed_before_kill = 0.0
            while processed_before_kill < cut // 3 and loop.time() < deadline:
                await asyncio.sleep(0.1)
                processed_before_kill = events_ok(port)
            assert 0 < processed_before_kill < cut, "the kill must land mid-stream"
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            await producing
            worker = start_worker(broker, topic_prefix, port, log)
            await wait_ready(port, worker, 90)
            await produce_events(events[cut:], broker.bootstrap_servers, topic_prefix)
            alerts = await collect_alerts(broker, f"{topic_prefix}alerts", len(expected), 300)
        finally:
            terminate(worker)
        assert_same_alerts(alerts, expected, log.read_text())
