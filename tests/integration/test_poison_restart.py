"""Poison records, then a crash: the worker dead-letters them, and a restart that reads
them again goes on too (no crash loop); the alerts are those of the clean traffic, none
published twice, whether or not the crash came before the first snapshot."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.kafka import produce_events
from tests.integration.test_hostile import poison_makers
from tests.integration.test_parity import (
    assert_same_alerts,
    collect_alerts,
    parity_events,
    parity_replay,
)
from tests.integration.test_recovery import metric_sum, start_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def dead_letters(port: int) -> float:
    """aftersales_dead_letter_total summed over topics and reasons (0 while busy)."""
    return metric_sum(port, "aftersales_dead_letter_total{")


def restored_closers(log: str) -> list[list[str]]:
    """The ``restored`` list of each ``closer_assigned`` line in a JSON ``log``."""
    lines = (json.loads(line) for line in log.splitlines() if '"closer_assigned"' in line)
    return [line["restored"] for line in lines]


class TestPoisonRestart:
    # 500 ms: snapshots are written before the kill (most runs); 10 min: none is, so the
    # restarted closers recompute from the start and must not publish any alert again.
    @pytest.mark.parametrize("checkpoint_ms", ["500", "600000"])
    async def test_poison_then_sigkill_then_restart(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, checkpoint_ms: str
    ) -> None:
        events = parity_events()
        expected = parity_replay()
        base = {
            "event_id": "p",
            "ts": "2026-11-03T10:00:00Z",
            "order_id": "O-P",
            "status": "placed",
        }
        poison = [make(i) for i, make in enumerate(poison_makers(base))]
        rng = random.Random(3)
        log = tmp_path / "worker.log"
        port = free_port()
        settings = {"AFTERSALES_CHECKPOINT_INTERVAL_MS": checkpoint_ms}
        worker = start_worker(broker, topic_prefix, port, log, **settings)
        try:
            await wait_ready(port, worker, 90)
            cut = len(events) // 2
            await produce_events(events[:cut], broker.bootstrap_servers, topic_prefix)
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            await producer.start()
            try:
                for value in poison:
                    await producer.send_and_wait(
                        f"{topic_prefix}{rng.choice(TOPICS)}", value, key=rng.randbytes(6)
                    )
            finally:
                await producer.stop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while dead_letters(port) < len(poison) and loop.time() < deadline:
                assert worker.poll() is None, "a poison record stopped the worker"
                await asyncio.sleep(0.3)
            assert dead_letters(port) >= len(poison)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            worker = start_worker(broker, topic_prefix, port, log, **settings)
            await wait_ready(port, worker, 90)
            await produce_events(events[cut:], broker.bootstrap_servers, topic_prefix)
            alerts = await collect_alerts(broker, f"{topic_prefix}alerts", len(expected), 300)
            assert worker.poll() is None, "the restarted worker stopped"
        finally:
            terminate(worker)
        text = log.read_text()
        assert "worker_failed" not in text and "Traceback" not in text, text[-3000:]
        if checkpoint_ms == "600000":
            assert restored_closers(text)[-1] == [], "a snapshot was written before the kill"
        assert_same_alerts(alerts, expected, text)
