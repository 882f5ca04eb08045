"""The simulator's Kafka writer against the embedded broker: counts, keys and partitions."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator import Event, Simulation, SimulationConfig
from streams.dev.simulator.kafka import produce_events

pytestmark = pytest.mark.integration

PARTITIONS = 4
CONFIG = SimulationConfig(
    seed=4, duration=timedelta(hours=2), orders_per_day=4_000, warmup=timedelta(days=2)
)


async def _create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def _consume(bootstrap: str, names: list[str], expected: int) -> list:
    consumer = AIOKafkaConsumer(
        *names, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(60):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=1_000, max_records=10_000)
                for messages in batch.values():
                    records.extend(messages)
    finally:
        await consumer.stop()
    return records


class TestProduceEvents:
    async def test_round_trip(self, broker: EmbeddedBroker, topic_prefix: str) -> None:
        """Every event arrives once, on the partition Kafka's default partitioner picks."""
        events: list[Event] = list(Simulation(CONFIG).events())
        names = [f"{topic_prefix}{t}" for t in ("orders", "complaints", "wait-times")]
        await _create_topics(broker.bootstrap_servers, names)
        counts = await produce_events(events, broker.bootstrap_servers, topic_prefix)
        assert counts == Counter(f"{topic_prefix}{e.topic}" for e in events)

        records = await _consume(broker.bootstrap_servers, names, len(events))
        assert len(records) == len(events)
        assert Counter(r.topic for r in records) == counts
        assert {r.key.decode() for r in records} == {e.key for e in events}
        for r in records:
            assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % PARTITIONS

        per_partition: defaultdict[tuple[str, int], list[int]] = defaultdict(list)
        for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
            per_partition[(r.topic, r.partition)].append(json.loads(r.value)["event_id"])
        expected: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        for e in events:
            partition = (murmur2(e.key.encode()) & 0x7FFFFFFF) % PARTITIONS
            expected[(f"{topic_prefix}{e.topic}", partition)].append(e.value["event_id"])
        assert dict(per_partition) == dict(expected)

    async def test_realtime_pacing(self, broker: EmbeddedBroker, topic_prefix: str) -> None:
        """At speed 3600, ten minutes of event time take about a sixth of a second or more."""
        short = SimulationConfig(
            seed=1, duration=timedelta(minutes=10), orders_per_day=2_000, warmup=timedelta(0)
        )
        loop = asyncio.get_running_loop()
        began = loop.time()
        counts = await produce_events(
            Simulation(short).events(), broker.bootstrap_servers, topic_prefix, realtime_speed=3_600
        )
        assert sum(counts.values()) > 0
        assert loop.time() - began >= 0.1

    async def test_backfill_before_the_pace(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """With paced_from_ms, a day of history goes at full speed, and only the ten
        minutes after it are paced (at speed 600: about a second)."""
        day = SimulationConfig(
            seed=2,
            duration=timedelta(days=1, minutes=10),
            orders_per_day=2_000,
            warmup=timedelta(0),
        )
        live_ms = day.start_ms + 86_400_000
        loop = asyncio.get_running_loop()
        began = loop.time()
        counts = await produce_events(
            Simulation(day).events(),
            broker.bootstrap_servers,
            topic_prefix,
            realtime_speed=600,
            paced_from_ms=live_ms,
        )
        elapsed = loop.time() - began
        assert sum(counts.values()) > 5_000
        # Unpaced, the day alone would take 144 s at this speed.
        assert 0.8 <= elapsed < 60, elapsed
