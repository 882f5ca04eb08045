"""Stage 1 against Kafka: consume the input topics, publish partials, snapshot, commit.

:class:`IntakeStage` consumes the input topics in batches with aiokafka, validates,
de-duplicates and aggregates per input partition (:class:`~streams.pipeline.replay.Stage1`),
then publishes dead letters, sealed partials (packed per source, rule, window and owning
partition), per-event verdicts routed by series, risk facts and every moved source
watermark (to each partition) on the internal partials topic. Input offsets are
committed only after those records are acknowledged, and never past the first offset an
open window still depends on. It snapshots one owned input partition per pass to the
intake-state topic; a partition assigned to it resumes from its snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from streams.contract.events import TOPICS, TopicName
from streams.logs import get_logger
from streams.pipeline.aggregate_snapshot import resume_offset
from streams.pipeline.replay import Stage1, Stage1Output
from streams.pipeline.wire import (
    closer_partition,
    encode_event_alert,
    encode_watermark,
    pack_partials,
    pack_risk_facts,
)
from streams.rules.catalogue import RuleSet
from streams.runtime.batches import PartitionBatches
from streams.runtime.checkpoint import CheckpointSchedule, CheckpointStore
from streams.runtime.offloop import snapshot_off_loop
from streams.runtime.outage import through_outages
from streams.runtime.stage_services import RestoreGate, StageServices

__all__ = ["IntakeStage"]

log = get_logger(__name__)

#: Risk facts per partials-topic record at most (a fact is about 200 bytes).
RISK_PACK_ITEMS = 500


class IntakeStage:
    """Stage 1 of one worker process (in an intake child by default).

    Parameters
    ----------
    services
        The worker's shared connections and bookkeeping.
    rules
        The configured rules.
    """

    def __init__(self, services: StageServices, rules: RuleSet) -> None:
        settings = services.settings
        self.services = services
        self.stage1 = Stage1(
            rules,
            services.names.inputs,
            max_event_bytes=settings.max_event_bytes,
            dedup_capacity=settings.dedup_capacity,
            max_future_ms=settings.max_future_ms,
            risk=settings.risk_score,
        )
        #: Set by :meth:`attach` once the worker has joined the intake group.
        self.consumer: AIOKafkaConsumer | None = None
        self.store: CheckpointStore | None = None
        #: Partitions of the partials topic, in order (where partials are routed).
        self.partials_partitions: list[int] = []
        self.max_input_partitions = 1
        self.schedule = CheckpointSchedule(settings.checkpoint_interval_ms / 1000)
        self.gate = RestoreGate()
        #: Whether sealed output is being written: a revocation then takes no snapshot
        #: (it would claim records not yet on the broker).
        self.unsent = False
        #: Sealed partials sent so far (benchmarks).
        self.partials_sent = 0

    def attach(
        self,
        store: CheckpointStore,
        partials_partitions: list[int],
        max_input_partitions: int,
    ) -> None:
        """Where snapshots go and how the partials topic is partitioned (at start)."""
        self.store = store
        self.partials_partitions = partials_partitions
        self.max_input_partitions = max_input_partitions

    def state_partition(self, topic: TopicName, partition: int) -> int:
        """The intake-state partition of an input partition's snapshots."""
        return TOPICS.index(topic) * self.max_input_partitions + partition

    # -- rebalances ---------------------------------------------------------------------------

    async def assigned(self, assigned: list[TopicPartition]) -> None:
        """Load each new partition's snapshot and seek to where it resumes.

        The partitions are marked as restoring first (the loop skips their records,
        remembering the first skipped offset); all reads happen first and all restores
        and seeks after them, with no await in between.
        """
        consumer, store = self.consumer, self.store
        assert consumer is not None
        assert store is not None
        names = self.services.names
        self.gate.restoring.update(assigned)
        payloads: dict[TopicPartition, bytes | None] = {}
        try:
            for tp in assigned:
                topic = names.input_short_name(tp.topic)
                payloads[tp], _ = await store.read_latest(self.state_partition(topic, tp.partition))
        finally:
            restored = []
            for tp in assigned:
                topic = names.input_short_name(tp.topic)
                self.stage1.forget(topic, tp.partition)
                payload = payloads.get(tp)
                skipped = self.gate.first_skipped(tp)
                if payload is not None:
                    resume = self.stage1.aggregator(topic, tp.partition).restore(payload)
                    consumer.seek(tp, resume)
                    restored.append(f"{tp.topic}/{tp.partition}@{resume}")
                elif skipped is not None:
                    consumer.seek(tp, skipped)
            self.gate.restoring.difference_update(assigned)
        log.info(
            "intake_assigned",
            partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
            restored=restored,
        )

    async def revoked(self, revoked: list[TopicPartition]) -> None:
        """Snapshot and commit (unless output is in flight), then forget the partitions."""
        consumer = self.consumer
        if consumer is not None and revoked and not self.unsent:
            with contextlib.suppress(Exception):
                await self.commit(force=True)
        for tp in revoked:
            self.stage1.forget(self.services.names.input_short_name(tp.topic), tp.partition)
            self.schedule.forget(tp)

    # -- the loop -----------------------------------------------------------------------------

    async def loop(self) -> None:
        """Fetch, process, publish, snapshot and commit, for ever."""
        consumer = self.consumer
        assert consumer is not None
        services = self.services
        names, metrics = services.names, services.metrics
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            services.consumed["intake"] += sum(len(messages) for messages in batches.values())
            out = Stage1Output()
            for tp, messages in batches.items():
                if self.gate.skip(tp, messages):
                    continue
                topic = names.input_short_name(tp.topic)
                for message in messages:
                    self.stage1.process(
                        topic, tp.partition, message.offset, message.key, message.value, out
                    )
                highwater = consumer.highwater(tp)
                if highwater is not None and messages:
                    metrics.set_consumer_lag(
                        topic, tp.partition, max(highwater - messages[-1].offset - 1, 0)
                    )
            self.stage1.seal(out)
            if batches or out.partials or out.watermarks:
                self.unsent = True
                try:
                    await through_outages(
                        functools.partial(self.publish, out), services.broker, "partials"
                    )
                finally:
                    self.unsent = False
                self.partials_sent += len(out.partials)
                await self.commit()
            self.count()

    async def publish(self, out: Stage1Output) -> None:
        """Write one pass's output: dead letters, then the partials topic's records."""
        producer = self.services.the_producer()
        names = self.services.names
        sends = []
        for dead in out.dead_letters:
            sends.append(
                await producer.send(
                    names.dead_letter, dead.value, key=dead.key, headers=dead.headers()
                )
            )
        # Partials-topic records go out in explicit per-partition batches: about 4x cheaper
        # than one send() each (docs/architecture.md). Within a partition the order is
        # verdicts, packed partials, then watermarks.
        partitions = self.partials_partitions
        batches = PartitionBatches(producer, names.partials)
        for verdict in out.verdicts:
            route = verdict.route
            await batches.add(
                partitions[closer_partition(route, len(partitions))],
                route.encode(),
                encode_event_alert(verdict),
            )
        for index, record in pack_partials(out.partials, len(partitions)):
            await batches.add(partitions[index], None, record)
        for index, record in pack_risk_facts(out.risk_facts, len(partitions), RISK_PACK_ITEMS):
            await batches.add(partitions[index], None, record)
        for source, mark in out.watermarks:
            record = encode_watermark(source, mark)
            for partition in partitions:
                await batches.add(partition, None, record)
        sends += await batches.flush()
        if sends:
            await asyncio.gather(*sends)

    async def commit(self, *, force: bool = False) -> None:
        """Snapshot the owned input partition most overdue (every ``checkpoint_interval_ms``
        each; all of them when ``force``), then commit.

        A snapshot holds the offset to resume at (the first one an open window still
        needs) with the progress, sealed windows and norms of that moment; a restart
        seeks there. The commit is the same offset, so lag metrics stay truthful.
        """
        consumer, store = self.consumer, self.store
        assert consumer is not None
        assert store is not None
        services = self.services
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in self.schedule.due(sorted(consumer.assignment()), force=force):
            topic = services.names.input_short_name(tp.topic)
            agg = self.stage1.aggregators.get((topic, tp.partition))
            if agg is None:
                continue
            position = await consumer.position(tp)
            began = time.perf_counter()
            # Encoded in a thread so the loop (heartbeats, fetches) goes on; safe because
            # only this task's synchronous code changes the aggregator (streams.runtime.offloop).
            snapshot = await snapshot_off_loop(agg.snapshot, position)
            if self.stage1.aggregators.get((topic, tp.partition)) is not agg:
                continue  # revoked meanwhile: its new owner snapshots it from now on
            if not services.snapshot_fits("intake", str(tp), snapshot, began):
                continue
            try:
                await store.write(self.state_partition(topic, tp.partition), snapshot)
            except KafkaError as exc:
                # Not committing keeps the previous snapshot and offset consistent.
                log.warning("checkpoint_failed", stage="intake", partition=str(tp), error=repr(exc))
                continue
            offsets[tp] = OffsetAndMetadata(resume_offset(snapshot), "")
        if offsets:
            await services.commit(consumer, offsets, "intake")

    def count(self) -> None:
        """Hand the intake's counts and evictions since the last call to the metrics."""
        metrics = self.services.metrics
        counts, reasons = self.stage1.intake.drain_counts()
        metrics.add_intake_counts(counts, reasons)
        metrics.add_evictions(*self.stage1.drain_evictions())
