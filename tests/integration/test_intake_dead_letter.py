"""Bad input through the real broker: dead-lettered with the right reason, nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.hostile import bad_events
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

pytestmark = pytest.mark.integration

#: The simulator's reason categories mapped to the intake's reason codes.
EXPECTED_REASON = {"bad_ts": "bad_timestamp", "oversized": "too_large"}


def expected_reason(reason: str, raw: bytes) -> str:
    """The intake's reason code for a hostile value (a null ``ts`` counts as missing:
    the contract treats null like absent)."""
    if reason == "bad_ts" and json.loads(raw).get("ts") is None:
        return "missing_field"
    return EXPECTED_REASON.get(reason, reason)


def metric(metrics: AlertMetrics, topic: str, outcome: str) -> int:
    return int(metrics.events_total.labels(topic, outcome)._value.get())


async def wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return bool(predicate())


class TestDeadLetters:
    async def test_bad_input_is_dead_lettered_and_good_input_processed_once(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Every kind of bad value lands on the dead-letter topic with its reason; good ones
        are counted once; the worker stays up and the counters add up."""
        settings = Settings.from_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "AFTERSALES_TOPIC_PREFIX": topic_prefix,
                "AFTERSALES_APP_ID": f"{topic_prefix}app",  # own consumer groups per test
                "AFTERSALES_TOPIC_PARTITIONS": "2",
            }
        )
        metrics = AlertMetrics.create(CollectorRegistry(), topics=TOPICS)
        worker = Worker(settings, load_rules(), metrics)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.started.wait(), 90)
            config = SimulationConfig(
                seed=3,
                start=datetime(2026, 11, 2, tzinfo=UTC),
                duration=timedelta(hours=3),
                orders_per_day=4_000,
            )
            good = [
                (f"{topic_prefix}{e.topic}", e.key.encode(), json.dumps(e.value).encode())
                for e in simulate(config)
            ]
            bad = bad_events(np.random.default_rng(11), 18)
            expected = Counter(expected_reason(b.reason, b.raw) for b in bad if b.reason)
            originals = sum(1 for b in bad if b.reason is None)
            records = list(good)
            for i, b in enumerate(bad):  # spread the bad ones through the good traffic
                records.insert(
                    (i + 1) * len(good) // (len(bad) + 1) + i,
                    (f"{topic_prefix}{b.topic}", b.key, b.raw),
                )
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap_servers, max_request_size=4 * 1_048_576
            )
            await producer.start()
            try:
                sends = [
                    await producer.send(topic, value, key=key) for topic, key, value in records
                ]
                await asyncio.gather(*sends)
            finally:
                await producer.stop()

            def total() -> int:
                return sum(
                    metric(metrics, t, o)
                    for t in TOPICS
                    for o in ("ok", "invalid", "late", "duplicate")
                )

            assert await wait_for(lambda: total() >= len(records), 60), total()
            assert not task.done(), "the worker stopped"

            ok = sum(metric(metrics, t, "ok") + metric(metrics, t, "late") for t in TOPICS)
            invalid = sum(metric(metrics, t, "invalid") for t in TOPICS)
            duplicate = sum(metric(metrics, t, "duplicate") for t in TOPICS)
            assert ok == len(good) + originals
            assert duplicate == expected["duplicate"]
            assert invalid == sum(expected.values()) - expected["duplicate"]
            assert total() == len(records)

            consumer = AIOKafkaConsumer(
                f"{topic_prefix}dead-letter",
                bootstrap_servers=broker.bootstrap_servers,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=8 * 1_048_576,
                fetch_max_bytes=16 * 1_048_576,
            )
            await consumer.start()
            dead = []
            try:
                while len(dead) < sum(expected.values()):
                    batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 15)
                    dead.extend(m for msgs in batch.values() for m in msgs)
            finally:
                await consumer.stop()
            reasons = Counter(dict(m.headers)["reason"].decode() for m in dead)
            assert reasons == expected
            assert Counter(m.value for m in dead) == Counter(b.raw for b in bad if b.reason), (
                "raw bytes not preserved"
            )
            for message in dead:
                headers = dict(message.headers)
                assert headers["source_topic"].decode().startswith(topic_prefix)
                assert int(headers["source_offset"]) >= 0
            dead_counter = sum(
                int(metrics.dead_letter_total.labels(t, r)._value.get())
                for t in TOPICS
                for r in expected
            )
            assert dead_counter == len(dead)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
