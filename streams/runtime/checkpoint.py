"""State snapshots in a Kafka topic, one writer per partition.

A snapshot is written as consecutive ``chunk`` records followed by one
``manifest`` record sent on its own (awaited after the chunks), so the newest
record batch of the partition always holds exactly one record. That matters:
tansu's ListOffsets(latest) is wrong when the newest batch holds several
records (docs/architecture.md, "Broker notes"); with a lone last record the end offset is
right on tansu and on Kafka alike, and the newest snapshot is found by reading
one record at ``end - 1``.

The manifest carries a small ``marker`` (e.g. the input position the snapshot
covers) that is read back with the snapshot.

Layout of a manifest / marker value (JSON)::

    {"first": <offset of chunk 0>, "chunks": <n>, "marker": {...} | null}
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.logs import get_logger

__all__ = ["CheckpointSchedule", "CheckpointStore", "Snapshot"]

log = get_logger(__name__)

_CHUNK_BYTES = 512 * 1024
_READ_TIMEOUT_S = 30.0

Snapshot = tuple[bytes | None, dict[str, Any] | None]

K = TypeVar("K", bound=Hashable)


def lowest_offsets(highs: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Per partition, the lowest of the offsets in ``highs`` (each maps a partition,
    as a string, to an offset); a partition missing from any of them starts at 0.

    Restored closers recompute from different points: reading the alerts topic from the
    lowest of their snapshots' markers covers what each of them had already published.
    """
    if not highs:
        return {}
    partitions = set().union(*(high.keys() for high in highs))
    return {p: min(int(high.get(p, 0)) for high in highs) for p in sorted(partitions)}


class CheckpointSchedule:
    """Which partition to snapshot next: each one every ``interval_s``, one per call.

    Snapshotting every partition at the same moment stalls the loop for the sum of
    their costs (about 200 ms for a closer's four partitions under load, delaying
    every alert behind it); one per call spreads that over the interval. A partition
    first seen counts as snapshotted then.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[Hashable, float] = {}

    def due(self, keys: Iterable[K], *, force: bool = False, now: float | None = None) -> list[K]:
        """The most overdue of ``keys`` (or none); every key when ``force``. Marks them done."""
        now = time.monotonic() if now is None else now
        keys = list(keys)
        if force:
            chosen = keys
        else:
            for key in keys:
                self._last.setdefault(key, now)
            overdue = [key for key in keys if now - self._last[key] >= self.interval_s]
            chosen = [min(overdue, key=self._last.__getitem__)] if overdue else []
        for key in chosen:
            self._last[key] = now
        return chosen

    def forget(self, key: Hashable) -> None:
        """Drop a partition that moved away (it counts as new if it comes back)."""
        self._last.pop(key, None)


class CheckpointStore:
    """Write and read the newest snapshot of each partition of ``topic``."""

    def __init__(
        self, producer: AIOKafkaProducer, client_options: Mapping[str, Any], topic: str
    ) -> None:
        self.producer = producer
        #: Connection options for the reader (:func:`streams.runtime.kafka_options.client_options`).
        self.client_options = dict(client_options)
        self.topic = topic
        self._latest: dict[int, tuple[int, int]] = {}

    async def write(
        self, partition: int, payload: bytes, marker: dict[str, Any] | None = None
    ) -> None:
        """Store ``payload`` (compressed, chunked) as the partition's newest snapshot.

        Compression runs in a thread (zlib releases the GIL), so a large snapshot does not
        hold the event loop (heartbeats, fetches) for its duration.
        """
        data = await asyncio.to_thread(zlib.compress, payload, 3)
        chunks = [data[i : i + _CHUNK_BYTES] for i in range(0, len(data), _CHUNK_BYTES)] or [b""]
        futures = [
            await self.producer.send(self.topic, chunk, key=b"chunk", partition=partition)
            for chunk in chunks
        ]
        metadata = await asyncio.gather(*futures)
        first = metadata[0].offset
        self._latest[partition] = (first, len(chunks))
        await self._lone(partition, b"manifest", marker)

    async def _lone(self, partition: int, key: bytes, marker: dict[str, Any] | None) -> None:
        first, chunks = self._latest.get(partition, (-1, 0))
        value = json.dumps({"first": first, "chunks": chunks, "marker": marker}).encode()
        await self.producer.send_and_wait(self.topic, value, key=key, partition=partition)

    async def read_latest(self, partition: int) -> Snapshot:
        """The newest snapshot's payload and its marker (``None`` when absent)."""
        tp = TopicPartition(self.topic, partition)
        consumer = AIOKafkaConsumer(
            **self.client_options,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1_048_576,
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            log.info("checkpoint_lookup", topic=self.topic, partition=partition, end=end)
            if end == 0:
                return None, None
            last = await self._newest_manifest(consumer, tp, end)
            if last is None:
                return None, None
            pointer = json.loads(last)
            marker = pointer.get("marker")
            first, chunks = int(pointer["first"]), int(pointer["chunks"])
            if first < 0:
                return None, marker
            self._latest[partition] = (first, chunks)
            consumer.seek(tp, first)
            parts: list[bytes] = []
            deadline = time.monotonic() + _READ_TIMEOUT_S
            while len(parts) < chunks:
                batch = await asyncio.wait_for(
                    consumer.getmany(tp, timeout_ms=1000), _READ_TIMEOUT_S
                )
                for message in batch.get(tp, []):
                    if len(parts) < chunks and message.key == b"chunk":
                        parts.append(message.value)
                if len(parts) < chunks and time.monotonic() > deadline:
                    msg = (
                        f"checkpoint {self.topic}/{partition}: {len(parts)} of the snapshot's "
                        f"{chunks} chunks from offset {first} read in {_READ_TIMEOUT_S:g} s"
                    )
                    raise TimeoutError(msg)
            return zlib.decompress(b"".join(parts)), marker
        finally:
            await consumer.stop()

    async def _newest_manifest(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, end: int
    ) -> bytes | None:
        """The value of the partition's newest manifest record.

        Normally that is the last record. A writer killed mid-snapshot leaves chunks
        without a manifest at the tail (and then the end offset may be low, see the
        module docstring), so look back in growing steps, reading forward until quiet,
        but never stopping before ``end``: on a busy machine a fetch can take longer
        than the quiet period, and stopping there read no manifest and restored no
        snapshot (a complete one was there; seen with one core kept busy).
        """
        back = 1
        while True:
            start = max(end - back, 0)
            consumer.seek(tp, start)
            newest: bytes | None = None
            deadline = time.monotonic() + _READ_TIMEOUT_S
            while True:
                batch = await asyncio.wait_for(
                    consumer.getmany(tp, timeout_ms=500), _READ_TIMEOUT_S
                )
                messages = batch.get(tp, [])
                if not messages:
                    if await consumer.position(tp) >= end:
                        break  # read up to the end the broker reported, and quiet since
                    if time.monotonic() > deadline:
                        msg = (
                            f"checkpoint {self.topic}/{tp.partition}: could not read up to "
                            f"offset {end} in {_READ_TIMEOUT_S:g} s"
                        )
                        raise TimeoutError(msg)
                    continue
                for message in messages:
                    if message.key == b"manifest":
                        newest = message.value
            if newest is not None or start == 0:
                if back > 1:
                    log.warning(
                        "checkpoint_incomplete_tail",
                        topic=self.topic,
                        partition=tp.partition,
                        found=newest is not None,
                    )
                return newest
            back *= 16
