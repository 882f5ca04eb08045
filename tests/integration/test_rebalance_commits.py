"""Commits a rebalance overtook are not fatal.

On a busy machine a worker gets no CPU for seconds at a time: it misses its heartbeats,
the broker drops it from its groups, and its commits fail with ``CommitFailedError``
until it has rejoined; rebalances then follow each other for as long as the starvation
lasts. Here worker A is frozen (SIGSTOP) for longer than its session timeout, thawed
briefly and frozen again, while worker B, which joined mid-stream, takes its partitions
and hands them back. A must live through it, count those commits as superseded (never
as errors), and both together must publish exactly the alerts of an undisturbed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.kafka import produce_events
from tests.integration.test_parity import assert_same_alerts, collect_alerts
from tests.integration.test_partition_handover import burst_scenario, replay
from tests.integration.test_recovery import metric_sum, start_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Longer than the 6 s session timeout (and tansu's expiry check): A loses its membership.
FREEZE_S = 9.0
#: Too short for A to rejoin (tansu answers a JoinGroup after half the session timeout),
#: long enough for it to fetch and try commits with its old generation.
THAW_S = 2.5
#: Freezes until A has logged an overtaken commit: on a quiet machine the first one or
#: two do it; on a busy one A may notice the lost membership before it tries a commit
#: (seen with one core kept busy: two freezes, no overtaken commit, nothing wrong).
MAX_FREEZES = 4
#: Wall seconds over which the events are produced: B joins meanwhile, and they go on
#: until after the last possible freeze (A commits only what it has newly read).
PRODUCE_S = 48.0


def _thaw(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)


async def _superseded(port: int) -> float:
    """A's ``aftersales_commit_failures_total{kind="superseded"}`` (polled: 0 while it is
    too busy to answer)."""
    for _ in range(20):
        value = metric_sum(port, "aftersales_commit_failures_total", 'kind="superseded"')
        if value:
            return value
        await asyncio.sleep(0.5)
    return 0.0


class TestRebalanceCommits:
    async def test_starved_worker_survives_rebalances(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
    ) -> None:
        """A, frozen past its session twice while B has joined, stays up; its overtaken
        commits are logged as superseded and counted as such on /metrics, none as a
        commit error; the alerts equal replay's, none published twice."""
        events = list(simulate(burst_scenario()))
        expected = replay(events)
        ports = [free_port(), free_port()]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        # One process per worker (no intake children): the freeze stops all of A at once;
        # unbuffered, so A's log shows an overtaken commit as soon as it is made.
        single = {"AFTERSALES_INTAKE_PROCESSES": "0", "PYTHONUNBUFFERED": "1"}
        first = start_worker(broker, topic_prefix, ports[0], logs[0], **single)
        workers = [first]
        try:
            await wait_ready(ports[0], first, 90)
            span_s = (events[-1].ts_ms - events[0].ts_ms) / 1000
            producing = asyncio.create_task(
                produce_events(
                    events,
                    broker.bootstrap_servers,
                    topic_prefix,
                    realtime_speed=span_s / PRODUCE_S,
                )
            )
            second = start_worker(broker, topic_prefix, ports[1], logs[1], **single)
            workers.append(second)
            await wait_ready(ports[1], second, 90)
            for _ in range(MAX_FREEZES):
                first.send_signal(signal.SIGSTOP)
                await asyncio.sleep(FREEZE_S)
                _thaw(first)
                await asyncio.sleep(THAW_S)
                if '"commit_superseded"' in logs[0].read_text(errors="replace"):
                    break
            await producing
            alerts = await collect_alerts(broker, f"{topic_prefix}alerts", len(expected), 120)
            exited = [worker.poll() for worker in workers]
            superseded = await _superseded(ports[0])
            errors = metric_sum(ports[0], "aftersales_commit_failures_total", 'kind="error"')
        finally:
            for worker in workers:  # both stop at once: each may be in a rebalance
                _thaw(worker)
                with contextlib.suppress(ProcessLookupError):
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                terminate(worker)
        text = logs[0].read_text(errors="replace")
        assert exited == [None, None], f"a worker exited: {exited}\n{text[-3000:]}"
        assert '"commit_superseded"' in text, "the freezes overtook no commit"
        assert '"commit_failed"' not in text, "a rebalance counted as a commit error"
        # Scraped before the stop: commits a rebalance overtakes while stopping are logged
        # after it.
        logged = text.count('"commit_superseded"')
        assert 1 <= superseded <= logged, f"/metrics: {superseded} superseded, log: {logged}"
        assert errors == 0, "a rebalance counted as a commit error on /metrics"
        assert_same_alerts(alerts, expected, text)
