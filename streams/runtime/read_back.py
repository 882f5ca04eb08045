"""Reading a topic back to its end when the broker may report a short end.

tansu can report an end offset short of the last batch (docs/architecture.md, "Broker
notes"), and on a busy machine one fetch can take longer than a quiet period, so
neither "read to the reported end" nor "read until a poll comes back empty" is enough
alone. :class:`ReadBack` reads at least to the end offsets the broker reports, then on
until a poll comes back empty; a partition that never reaches its end (e.g. a
transaction marker last) is given up on after ``give_up_polls`` empty polls in a row,
and :attr:`ReadBack.behind` names it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["ReadBack"]


class ReadBack:
    """The records of ``tps`` from the consumer's current positions to the end.

    ``tps`` must be assigned and positioned (seeked) already; each poll waits up to
    ``poll_ms``.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        tps: Sequence[TopicPartition],
        *,
        poll_ms: int,
        give_up_polls: int,
    ) -> None:
        self.consumer = consumer
        self.tps = list(tps)
        self.poll_ms = poll_ms
        self.give_up_polls = give_up_polls
        #: Partitions still short of their reported end (after :meth:`records` ends: the
        #: ones given up on).
        self.behind: set[TopicPartition] = set()

    async def records(self) -> AsyncGenerator[Any, None]:
        """Each record, in fetch order."""
        consumer = self.consumer
        ends = await consumer.end_offsets(self.tps) if self.tps else {}
        self.behind = {tp for tp in self.tps if await consumer.position(tp) < ends[tp]}
        quiet_polls = 0
        while quiet_polls < (self.give_up_polls if self.behind else 1):
            batch = await consumer.getmany(timeout_ms=self.poll_ms)
            quiet_polls = 0 if batch else quiet_polls + 1
            for messages in batch.values():
                for message in messages:
                    yield message
            self.behind = {tp for tp in self.behind if await consumer.position(tp) < ends[tp]}
