"""What the intake and closer stages of a worker share: connections, metrics, commits.

One :class:`StageServices` per worker process holds the settings, topic names, metrics,
the broker probe's state and the producer (set once the worker has started), and the
two things both stages do the same way: commit offsets (:meth:`StageServices.commit`)
and check a snapshot's size (:meth:`StageServices.snapshot_fits`).
:class:`RestoreGate` is how each stage skips the records of a partition whose snapshot
is loading and finds where to read them again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from alerts.metrics import AlertMetrics
from streams.logs import get_logger
from streams.runtime.commits import CommitFailures
from streams.runtime.config import Settings
from streams.runtime.intake_process import RelayMetrics
from streams.runtime.outage import BrokerState
from streams.runtime.topics import TopicNames

__all__ = ["COMMIT_TIMEOUT_S", "RestoreGate", "StageServices"]

log = get_logger(__name__)

#: A commit that takes longer than this failed (aiokafka retries some errors, such as
#: an unknown topic, forever).
COMMIT_TIMEOUT_S = 15.0


@dataclass(eq=False)
class StageServices:
    """The worker's connections and bookkeeping that both stages use."""

    settings: Settings
    names: TopicNames
    metrics: AlertMetrics | RelayMetrics
    #: What this process's broker probe saw (every process of a worker probes).
    broker: BrokerState = field(default_factory=BrokerState)
    #: Failed offset commits: rebalance-superseded ones are not fatal (runtime.commits).
    commit_failures: CommitFailures = field(default_factory=CommitFailures)
    #: Records each consumer loop consumed so far (``/health``).
    consumed: dict[str, int] = field(default_factory=lambda: {"intake": 0, "closer": 0})
    #: Set by :meth:`~streams.runtime.worker.Worker.start`.
    producer: AIOKafkaProducer | None = None

    def the_producer(self) -> AIOKafkaProducer:
        """The started producer (a stage runs only after the worker started)."""
        if self.producer is None:
            raise RuntimeError("the worker has not started: no producer yet")
        return self.producer

    async def commit(
        self,
        consumer: AIOKafkaConsumer,
        offsets: dict[TopicPartition, OffsetAndMetadata],
        stage: str,
    ) -> None:
        """Commit ``offsets``. A commit a rebalance overtook is left to the next one (from
        the new assignment); other failures raise :class:`WorkerFailure` once they are
        fatal (:class:`~streams.runtime.commits.CommitFailures`: e.g. a commit for a topic
        the broker lost, which aiokafka retries for ever, fails three times in a row). A
        commit that failed while this process's probe saw the broker away does not count."""
        started = self.broker.clock()
        try:
            await asyncio.wait_for(consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except (TimeoutError, KafkaError) as exc:
            reachable = not self.broker.outage_since(started)
            try:
                self.commit_failures.failed(stage, exc, broker_reachable=reachable)
            finally:  # the fatal one too
                self.metrics.add_commit_failures(self.commit_failures.drain())
            return
        self.commit_failures.succeeded()

    def snapshot_fits(self, stage: str, partition: str, payload: bytes, began: float) -> bool:
        """Record a snapshot's size and encode time; refuse it (loudly: an error log and
        ``aftersales_snapshot_too_large_total``) beyond ``max_snapshot_bytes``. The previous
        snapshot and commit then stay in force."""
        seconds = time.perf_counter() - began
        too_large = len(payload) > self.settings.max_snapshot_bytes
        self.metrics.record_snapshot(stage, len(payload), seconds, too_large=too_large)
        if too_large:
            log.error(
                "snapshot_too_large",
                stage=stage,
                partition=partition,
                size_bytes=len(payload),
                limit_bytes=self.settings.max_snapshot_bytes,
                hint="lower max_series / idle_ttl in the rules file, or raise "
                "AFTERSALES_MAX_SNAPSHOT_BYTES",
            )
        return not too_large


class RestoreGate:
    """Partitions whose snapshot is loading, and the first offset skipped of each.

    aiokafka may hand out records of a new assignment while the assignment callback
    awaits its snapshot reads: those records are skipped (:meth:`skip`) and read again
    after the restore's seek, or from the first skipped offset if there was no snapshot
    (:meth:`first_skipped`).
    """

    def __init__(self) -> None:
        self.restoring: set[TopicPartition] = set()
        self.skipped: dict[TopicPartition, int] = {}

    def skip(self, tp: TopicPartition, messages: list[Any]) -> bool:
        """Whether ``tp`` is restoring (its fetched ``messages`` are then skipped)."""
        if tp not in self.restoring:
            return False
        self.skipped.setdefault(tp, messages[0].offset)
        return True

    def first_skipped(self, tp: TopicPartition) -> int | None:
        """The first offset of ``tp`` skipped while it restored (``None``: none); forgets it."""
        return self.skipped.pop(tp, None)
