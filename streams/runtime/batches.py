"""Records written in explicit per-partition batches (``create_batch``/``send_batch``).

About four times cheaper per record than one ``send()`` each on the embedded broker
(docs/architecture.md): ``send()`` hashes the key in pure Python, creates a future per
record and goes through the accumulator's locks. The caller picks each record's
partition; :func:`keyed_partition` picks the one Kafka's default partitioner would, so
consumers see a key on the same partition as with ``send(key=...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams.pipeline.replay import partition_for

__all__ = ["PartitionBatches", "keyed_partition"]


def keyed_partition(key: bytes, partitions: list[int]) -> int:
    """The partition of ``partitions`` (ascending ids) Kafka's default partitioner picks."""
    return partitions[partition_for(key, len(partitions))]


class PartitionBatches:
    """Open batches of one topic, one per partition, sent as each fills.

    ``futures`` holds every sent batch's delivery future; await them (``flush`` sends the
    batches still open first).
    """

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.futures: list[asyncio.Future[Any]] = []
        self._open: dict[int, Any] = {}

    async def add(self, partition: int, key: bytes | None, value: bytes) -> None:
        """Append one record to ``partition``'s batch, sending the batch when it is full."""
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            await self._send(partition, batch)
            batch = self._open[partition] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                msg = f"record of {len(value)} bytes exceeds the batch size"
                raise ValueError(msg)

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Send every open batch; return the futures of all batches sent."""
        for partition, batch in self._open.items():
            if batch.record_count():
                await self._send(partition, batch)
        self._open = {}
        return self.futures

    async def _send(self, partition: int, batch: Any) -> None:
        batch.close()
        self.futures.append(await self.producer.send_batch(batch, self.topic, partition=partition))
