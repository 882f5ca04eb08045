"""Kafka output: explicit per-partition batches, Kafka-default key partitioning, live pacing.

Batches (``create_batch``/``send_batch``) are about 4x faster than ``send()`` on our broker
(docs/architecture.md, "Broker notes"). Each key is hashed as the producer's default partitioner
does (murmur2, as the Java client) so records land where ``send(key=...)`` would put them.
With ``realtime_speed``, event time is mapped to wall time: an event ``d`` ms after the
first one is sent ``d / realtime_speed`` ms after the start. With ``paced_from_ms`` too,
the events before it are a back-fill sent as fast as possible, and the pace starts at
that event time: an event ``d`` ms after it is sent ``d / realtime_speed`` ms after the
back-fill ends (:func:`pace_offset_s`), so at speed 1 no event is ahead of the clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import structlog
from aiokafka import AIOKafkaProducer

from streams.dev.simulator.events import Event
from streams.pipeline.murmur import murmur2
from streams.runtime.batches import PartitionBatches

log = structlog.get_logger(__name__)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PACING_SLACK_S = 0.05
_MAX_BATCH_BYTES = 256 * 1024


class _Batches:
    """Open batches per (topic, partition), sent when full or flushed: one
    :class:`~streams.runtime.batches.PartitionBatches` per topic."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._topics: dict[str, PartitionBatches] = {}
        self._futures: list[asyncio.Future[Any]] = []

    async def add(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        batches = self._topics.get(topic)
        if batches is None:
            batches = self._topics[topic] = PartitionBatches(self._producer, topic)
        await batches.add(partition, key, value)

    async def flush(self) -> None:
        """Send every open batch."""
        topics, self._topics = self._topics, {}
        for batches in topics.values():
            self._futures += await batches.flush()

    async def wait(self) -> None:
        """Wait until every sent batch is acknowledged (raises on delivery failure)."""
        futures, self._futures = self._futures, []
        if futures:
            await asyncio.gather(*futures)


class EncodedEvent(NamedTuple):
    """An event as it goes on the wire: its value JSON-encoded and its key hashed once.

    ``key_hash`` is the Java client's ``murmur2(key) & 0x7fffffff``; the partition is it
    modulo the topic's partition count (what ``send(key=...)`` does).
    """

    ts_ms: int
    topic: str
    key: bytes
    value: bytes
    key_hash: int


def encode_event(event: Event) -> EncodedEvent:
    """``event`` encoded for :func:`produce_events`.

    Encoding is most of what producing costs in Python; a benchmark encodes its traffic
    before it starts the clock, so that only sending shares the CPU with what it measures.
    """
    key = event.key.encode()
    return EncodedEvent(
        event.ts_ms, event.topic, key, _dumps(event.value).encode(), murmur2(key) & 0x7FFFFFFF
    )


def pace_offset_s(ts_ms: int, paced_from_ms: int, speed: float) -> float:
    """Seconds after the live start at which an event of time ``ts_ms`` is due.

    >>> pace_offset_s(1_000_060_000, 1_000_000_000, 60.0)
    1.0
    """
    return (ts_ms - paced_from_ms) / 1000.0 / speed


async def produce_events(
    events: Iterable[Event | EncodedEvent],
    bootstrap_servers: str | Mapping[str, Any],
    topic_prefix: str = "aftersales.",
    *,
    realtime_speed: float | None = None,
    paced_from_ms: int | None = None,
) -> Counter[str]:
    """Produce ``events`` to ``<topic_prefix><topic>``; return counts per full topic name.

    Parameters
    ----------
    events
        Events in event-time order (as the generator yields them), or the same
        encoded beforehand (:func:`encode_event`).
    bootstrap_servers
        Kafka bootstrap servers, ``host:port[,host:port]``, or the full client options
        (:func:`streams.runtime.kafka_options.client_options`) for a secured cluster.
    topic_prefix
        Prefix of the topic names (the contract's default ``aftersales.``).
    realtime_speed
        ``None`` to produce as fast as possible, else the event-time / wall-time factor
        (``60`` plays an hour of traffic per minute).
    paced_from_ms
        With ``realtime_speed``: events before this event time are sent as fast as
        possible (back-fill), the pace starts here. ``None``: at the first event.
    """
    if realtime_speed is not None and realtime_speed <= 0:
        msg = f"realtime_speed: must be > 0 or None, got {realtime_speed!r}"
        raise ValueError(msg)
    options = (
        {"bootstrap_servers": bootstrap_servers}
        if isinstance(bootstrap_servers, str)
        else dict(bootstrap_servers)
    )
    producer = AIOKafkaProducer(**options, acks=1, linger_ms=5, max_batch_size=_MAX_BATCH_BYTES)
    await producer.start()
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        batches = _Batches(producer)
        partitions: dict[str, list[int]] = {}
        wall0: float | None = None
        ts0 = 0
        for item in events:
            event = encode_event(item) if isinstance(item, Event) else item
            topic = topic_prefix + event.topic
            ids = partitions.get(topic)
            if ids is None:
                ids = partitions[topic] = sorted(await producer.partitions_for(topic))
            if realtime_speed is not None and (
                paced_from_ms is None or event.ts_ms >= paced_from_ms
            ):
                if wall0 is None:
                    wall0 = time.monotonic()
                    ts0 = event.ts_ms if paced_from_ms is None else paced_from_ms
                due = wall0 + pace_offset_s(event.ts_ms, ts0, realtime_speed)
                delay = due - time.monotonic()
                if delay > _PACING_SLACK_S:
                    await batches.flush()
                    await asyncio.sleep(delay)
            # As the producer's default partitioner: batches land where send(key=) puts them.
            partition = ids[event.key_hash % len(ids)]
            await batches.add(topic, partition, event.key, event.value)
            counts[topic] += 1
        await batches.flush()
        await batches.wait()
    finally:
        await producer.stop()
    elapsed = time.perf_counter() - started
    log.info(
        "simulator_produced",
        events=sum(counts.values()),
        seconds=round(elapsed, 3),
        topics=dict(counts),
    )
    return counts
