"""Snapshot store on the real broker: newest snapshot wins, a torn write is skipped."""

from __future__ import annotations

import os

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.embedded_broker import EmbeddedBroker
from streams.runtime.checkpoint import CheckpointStore

pytestmark = pytest.mark.integration


async def store_on(broker: EmbeddedBroker, topic: str) -> tuple[CheckpointStore, AIOKafkaProducer]:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, max_request_size=16 * 1_048_576, linger_ms=5
    )
    await producer.start()
    options = {"bootstrap_servers": broker.bootstrap_servers}
    return CheckpointStore(producer, options, topic), producer


class TestCheckpointStore:
    async def test_empty_partition_has_no_snapshot(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """A partition never written reads as no snapshot."""
        store, producer = await store_on(broker, f"{topic_prefix}state")
        try:
            assert await store.read_latest(0) == (None, None)
        finally:
            await producer.stop()

    async def test_newest_snapshot_is_read(self, broker: EmbeddedBroker, topic_prefix: str) -> None:
        """Of several snapshots, the newest comes back with its marker, multi-chunk included."""
        store, producer = await store_on(broker, f"{topic_prefix}state")
        big = os.urandom(1_500_000)  # incompressible: three chunks
        try:
            await store.write(1, b"first", {"position": 1})
            await store.write(1, big, {"position": 2})
            assert await store.read_latest(1) == (big, {"position": 2})
        finally:
            await producer.stop()

    async def test_torn_write_falls_back_to_the_previous_snapshot(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Chunks left without a manifest by a writer killed mid-snapshot are ignored."""
        topic = f"{topic_prefix}state"
        store, producer = await store_on(broker, topic)
        try:
            await store.write(0, b"complete", {"position": 7})
            sends = [
                await producer.send(topic, os.urandom(1000), key=b"chunk", partition=0)
                for _ in range(3)
            ]
            for send in sends:
                await send
            fresh = CheckpointStore(
                producer, {"bootstrap_servers": broker.bootstrap_servers}, topic
            )
            assert await fresh.read_latest(0) == (b"complete", {"position": 7})
        finally:
            await producer.stop()
