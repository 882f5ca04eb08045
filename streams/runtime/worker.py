"""The stream processor against Kafka: two loops around the pure pipeline.

Size: one :class:`Worker` runs both Kafka loops, rebalances, checkpoints, publishing and
the child processes; its methods share the consumers, the producer and the closers.
The closer's queue of fetched records is its own class
(:class:`~streams.runtime.closer_queue.CloserQueue`); splitting the rest into an intake
stage and a closer stage class (issue 11) is owed, not done.

* **Intake** (stage 1) consumes the input topics in batches with aiokafka,
  validates, de-duplicates and aggregates per input partition
  (:class:`~streams.pipeline.replay.Stage1`), then publishes dead letters, sealed
  partials (packed per source, rule, window and owning partition) and per-event
  verdicts, routed by series, and every moved source watermark (to each
  partition) on the internal partials topic. Input offsets are committed only
  after those records are acknowledged, and never past the first offset an open
  window still depends on. By default it runs in child processes
  (:mod:`streams.runtime.intake_process`).
* **Closer** (stage 2) consumes the partials topic: one
  :class:`~streams.pipeline.closer.WindowCloser` per partition, so a series lives in
  exactly one place. It turns per-event verdicts into alerts as soon as they are
  fetched, applies partials and watermarks in short slices between fetches, closes
  windows, runs episodes and publishes alerts to the alerts topic (and any extra
  sinks), then commits. Both stages snapshot one partition per pass.

Why not a Faust agent per event: Faust's consumer pipeline costs ~170 us per
message (about 6,000 events/s on the reference machine, see docs/architecture.md "Broker
notes"); batching with aiokafka and aggregating in memory removes that
per-event cost, and the partials topic carries packed records per window
instead of one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from alerts.incidents import IncidentFolder
from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent, SeriesRef
from alerts.sinks import AlertSink
from alerts.text import AlertTexts
from streams.contract.events import TOPICS, TopicName
from streams.exceptions import TopicError, WorkerFailure
from streams.logs import get_logger
from streams.pipeline.aggregate_snapshot import resume_offset
from streams.pipeline.closer import WindowCloser
from streams.pipeline.feedback import FeedbackBook, InvalidVerdict, Verdict
from streams.pipeline.oncall import OnCall
from streams.pipeline.replay import Stage1, Stage1Output, fold_incidents
from streams.pipeline.wire import (
    closer_partition,
    encode_event_alert,
    encode_watermark,
    pack_partials,
    pack_risk_facts,
)
from streams.rules.calendar import Calendar, load_calendar
from streams.rules.catalogue import RuleSet
from streams.rules.mutes import mute_states
from streams.runtime.batches import PartitionBatches, keyed_partition
from streams.runtime.checkpoint import CheckpointSchedule, CheckpointStore, lowest_offsets
from streams.runtime.closer_queue import CloserQueue
from streams.runtime.commits import CommitFailures
from streams.runtime.config import Settings
from streams.runtime.gc_tuning import tune_gc
from streams.runtime.intake_process import REPORT_INTERVAL_S, IntakeChild, RelayMetrics
from streams.runtime.kafka_options import client_options
from streams.runtime.offloop import snapshot_off_loop
from streams.runtime.outage import PROBE_INTERVAL_S, PROBE_TIMEOUT_S, BrokerState, through_outages
from streams.runtime.progress import Progress
from streams.runtime.read_back import ReadBack
from streams.runtime.topics import TopicNames, ensure_state_topic, ensure_topics

__all__ = ["Worker"]

log = get_logger(__name__)

_MAX_REQUEST_BYTES = 64 * 1_048_576
_FETCH_MAX_WAIT_MS = 100
#: Risk facts per partials-topic record at most (a fact is about 200 bytes).
_RISK_PACK_ITEMS = 500
#: Longest stretch of window work (partials, watermarks) between two closer fetches.
_CLOSER_SLICE_S = 0.05
#: Bytes of queued window records at which the closer stops fetching until it has
#: worked them off (bounds memory in a catch-up: a packed record holds up to 2,000 items).
_CLOSER_MAX_PENDING_BYTES = 32 * 1_048_576
#: A commit that takes longer than this failed (aiokafka retries some errors, such as
#: an unknown topic, forever).
_COMMIT_TIMEOUT_S = 15.0
#: Consecutive broker probes that must miss one of the service's topics before it exits.
_MISSING_TOPIC_PROBES = 2
#: Seconds a failed worker gives each Kafka client to close.
_FAILED_CLOSE_S = 5.0
#: Empty one-second polls after which reading the alerts back gives up on reaching the
#: end offsets the broker reported (see ``_alerts_since``).
_READ_BACK_QUIET_POLLS = 10


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka: untyped base
    def __init__(self, on_revoked: Any, on_assigned: Any) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._on_assigned(assigned)


class Worker:
    """Both stages of the pipeline against one Kafka cluster.

    Parameters
    ----------
    settings
        Validated service settings.
    rules
        The configured rules.
    metrics
        Where counters and gauges go.
    sinks
        Extra alert sinks (e.g. the demo's console); the alerts topic is always written.
    create_input_topics
        Create missing input topics (demo and tests); production topics are usually
        managed elsewhere.
    calendar
        The promotion calendar (default: ``settings.calendar_file``, if set).
    roles
        The stages this process runs. With both (the default) and
        ``settings.intake_processes`` > 0, stage 1 runs in that many child processes
        (:mod:`streams.runtime.intake_process`) and this one runs the closer.
    """

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        metrics: AlertMetrics | RelayMetrics,
        sinks: Sequence[AlertSink] = (),
        *,
        create_input_topics: bool = True,
        roles: frozenset[str] = frozenset({"intake", "closer"}),
        calendar: Calendar | None = None,
    ) -> None:
        self.settings = settings
        if calendar is None and settings.calendar_file:
            calendar = load_calendar(settings.calendar_file)
        #: The promotion calendar every closer judges by (``None``: none).
        self.calendar = calendar
        #: Series id -> band multiplier from on-call feedback (shared by every closer).
        self.sensitivity: dict[str, float] = {}
        self.feedback = FeedbackBook(settings.feedback_step, settings.feedback_max_multiplier)
        #: Folds many alerts of a rule under one parent into incidents, over the closers
        #: this process owns (alerts.incidents).
        self.folder = IncidentFolder(rule.name for rule in rules.rules if rule.kind == "ratio")
        self.rules = rules
        self.metrics = metrics
        self.sinks = list(sinks)
        self.create_input_topics = create_input_topics
        self.names = TopicNames.from_settings(settings)
        self.texts = AlertTexts(locale=settings.locale)
        self.stage1 = Stage1(
            rules,
            self.names.inputs,
            max_event_bytes=settings.max_event_bytes,
            dedup_capacity=settings.dedup_capacity,
            max_future_ms=settings.max_future_ms,
            risk=settings.risk_score,
        )
        self.closers: dict[int, WindowCloser] = {}
        self.input_partitions: dict[TopicName, int] = {}
        self.partials_partitions: list[int] = []
        self.producer: AIOKafkaProducer | None = None
        self._intake: AIOKafkaConsumer | None = None
        self._closer: AIOKafkaConsumer | None = None
        self._checkpoint_interval_s = settings.checkpoint_interval_ms / 1000
        self._intake_schedule = CheckpointSchedule(self._checkpoint_interval_s)
        self._closer_schedule = CheckpointSchedule(self._checkpoint_interval_s)
        self._max_input_partitions = 1
        #: Partitions whose snapshot is being loaded: their records are skipped meanwhile.
        self._restoring: set[TopicPartition] = set()
        #: First offset of records skipped while restoring (where to rewind to).
        self._skipped: dict[TopicPartition, int] = {}
        #: Fetched window records not yet applied, and per closer partition the offset
        #: after the last record applied (what a snapshot covers).
        self.closer_queue = CloserQueue(self.closers, self._partials_failed)
        #: What the per-series view was last built from (see ``_export_series``).
        self._series_exported: tuple[tuple[int, int, int], ...] | None = None
        #: Per closer partition: the position of the last snapshot taken.
        self._closer_snapshot_position: dict[int, int] = {}
        #: Closer partitions revoked at the current rebalance (see ``_drop_lost``).
        self._revoked_closers: set[int] = set()
        #: Next offset per alerts-topic partition after everything this worker published.
        self._alerts_high: dict[int, int] = {}
        #: Alerts already on the topic from before a restart: never published twice.
        self._published: set[tuple[str, str, str]] = set()
        self.started = asyncio.Event()
        #: Set when a loop died; /health then reports not ready and the process exits.
        self.failed = False
        #: Records each consumer loop consumed so far and its backlog (``/health``).
        self.consumed = {"intake": 0, "closer": 0}
        self.backlog = {"intake": 0, "closer": 0}
        self.progress = Progress(settings.stall_timeout_ms / 1000)
        #: What this process's broker probe saw (every process of a worker probes).
        self.broker = BrokerState()
        #: Whether sealed intake output or alerts are being written: a revocation then
        #: takes no snapshot (it would claim records not yet on the broker).
        self._intake_unsent = False
        self._alerts_unsent = False
        #: Failed offset commits: rebalance-superseded ones are not fatal (runtime.commits).
        self.commit_failures = CommitFailures()
        #: Alerts published so far (for tests and the demo).
        self.alerts_published = 0
        self.risk_published = 0
        #: Sealed partials this process's intake sent and its closers received (benchmarks).
        self._partials_sent = 0
        split = settings.intake_processes > 0 and roles == {"intake", "closer"}
        self._runs_intake = "intake" in roles and not split
        self._runs_closer = "closer" in roles
        self._children = [
            IntakeChild(settings, rules, create_input_topics=create_input_topics, runner=Worker)
            for _ in range(settings.intake_processes if split else 0)
        ]

    @property
    def _closer_metrics(self) -> AlertMetrics:
        """The metrics the closer records to: a closer runs only in a process that exports
        them (an intake child has :class:`RelayMetrics` and no closer)."""
        if not isinstance(self.metrics, AlertMetrics):
            raise TypeError("a worker that runs a closer needs AlertMetrics")
        return self.metrics

    @property
    def intake_pids(self) -> list[int]:
        """Process ids of the intake child processes (none if stage 1 runs here)."""
        return [child.pid for child in self._children if child.pid is not None]

    @property
    def partials_received(self) -> int:
        """Sealed partials this process's closers applied so far (benchmarks)."""
        return self.closer_queue.partials_received

    @property
    def partials_sent(self) -> int:
        """Sealed partials the intake (here or in the child process) sent so far."""
        return self._partials_sent + sum(child.partials_sent for child in self._children)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create topics, connect, join both consumer groups."""
        settings = self.settings
        await ensure_topics(settings, self.names, inputs=self.create_input_topics)
        log.debug("worker_starting", step="topics ensured")
        common: dict[str, Any] = {**client_options(settings), "client_id": settings.app_id}
        self.producer = AIOKafkaProducer(
            **common,
            linger_ms=5,
            acks="all",
            max_request_size=_MAX_REQUEST_BYTES,
            max_batch_size=1_048_576,
        )
        await self.producer.start()
        metadata = await self.producer.client.fetch_all_metadata()
        for short, full in self.names.inputs.items():
            partitions = metadata.partitions_for_topic(full)
            if not partitions:
                raise RuntimeError(f"input topic {full} does not exist")
            self.input_partitions[short] = len(partitions)
        self.partials_partitions = sorted(metadata.partitions_for_topic(self.names.partials) or [])
        self._max_input_partitions = max(self.input_partitions.values())
        needed = len(TOPICS) * self._max_input_partitions
        await ensure_state_topic(settings, self.names.intake_state, needed)
        metadata = await self.producer.client.fetch_all_metadata()
        have = len(metadata.partitions_for_topic(self.names.intake_state) or ())
        if have < needed:
            # Created before an input topic was added (aftersales.reviews): snapshots of
            # the new topic's partitions would have nowhere to go.
            raise TopicError(
                f"topic {self.names.intake_state} has {have} partitions, the "
                f"worker needs {needed} (one per input partition); add "
                f"partitions (kafka-topics --alter --partitions {needed}) "
                "and start again"
            )
        connection = client_options(settings)
        self.checkpoints = CheckpointStore(self.producer, connection, self.names.checkpoints)
        self.intake_store = CheckpointStore(self.producer, connection, self.names.intake_state)
        group: dict[str, Any] = {
            **common,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": settings.session_timeout_ms,
            "heartbeat_interval_ms": settings.heartbeat_interval_ms,
            "rebalance_timeout_ms": settings.session_timeout_ms,
            "max_poll_interval_ms": 300_000,
            # A fetch with nothing to return waits this long at most (default 500 ms):
            # each stage adds up to one wait to the event-to-alert latency.
            "fetch_max_wait_ms": _FETCH_MAX_WAIT_MS,
            "fetch_max_bytes": 64 * 1_048_576,
            "max_partition_fetch_bytes": _MAX_REQUEST_BYTES,
        }
        if self._runs_closer:
            self._closer = AIOKafkaConsumer(**group, group_id=f"{settings.app_id}-closer")
            self._closer.subscribe(
                [self.names.partials],
                listener=_Revocations(self._closer_revoked, self._closer_assigned),
            )
            await self._closer.start()
        log.debug("worker_starting", step="joining groups")
        if self._runs_intake:
            self._intake = AIOKafkaConsumer(**group, group_id=f"{settings.app_id}-intake")
            self._intake.subscribe(
                list(self.names.inputs.values()),
                listener=_Revocations(self._intake_revoked, self._intake_assigned),
            )
            await self._intake.start()
        for sink in self.sinks:
            await sink.start()
        self.metrics.set_broker_connected(True)
        log.info(
            "worker_started",
            inputs=self.input_partitions,
            partials_partitions=len(self.partials_partitions),
        )

    async def stop(self) -> None:
        """Checkpoint, leave the groups and close connections.

        After a failure there is no last checkpoint (the restart resumes from the last
        periodic one, as after a crash): writing it could hang on, or re-create with the
        wrong settings, topics the broker lost. Closing then gets ``_FAILED_CLOSE_S`` per
        client.
        """
        failed = self.failed
        await asyncio.gather(*(child.stop(graceful=not failed) for child in self._children))
        if self.started.is_set() and not failed:
            try:
                if self._intake is not None:
                    await self._commit_intake(self._intake, force=True)
                await self._checkpoint_closers(force=True)
            except Exception as exc:  # noqa: BLE001 - a failed final checkpoint must not block stop
                log.warning("final_checkpoint_failed", error=str(exc))
        limit = _FAILED_CLOSE_S if failed else None
        for consumer in (self._intake, self._closer):
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), limit)
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                await sink.stop()
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), limit)
        log.info("worker_stopped", alerts_published=self.alerts_published)

    async def run(self) -> None:
        """Start, then run both loops until cancelled; always stop cleanly.

        Only a cancellation of this task is a stop. A ``CancelledError`` that nobody asked
        for (a future cancelled inside a library, under one of the loops) ends the loops
        just the same; it is a failure, raised as :class:`WorkerFailure`, not a quiet stop.
        """
        try:
            await self.start()
            await self._start_children()
            tune_gc()
            self.started.set()
            loops = [self._watch_progress(), self._watch_broker()]
            if self._runs_intake:
                loops.append(self._intake_loop())
            if self._runs_closer:
                loops += [self._closer_loop(), self._feedback_loop()]
            if self._children:
                loops.append(self._supervise_children())
            await asyncio.gather(*loops)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            self.failed = True
            log.exception("worker_failed", reason="cancelled without a stop request")
            raise WorkerFailure("a loop was cancelled without a stop request") from None
        except Exception:
            self.failed = True
            log.exception("worker_failed")
            raise
        finally:
            await self.stop()

    async def _start_children(self) -> None:
        """Spawn the intake children one at a time, each once the previous one holds
        partitions (simultaneous first joins of a new group sometimes stalled on the
        embedded broker). Every child spawned so far is supervised meanwhile: one that
        exits while another is starting fails the start at once."""
        for child in self._children:
            child.start()
            while not child.ready:
                self._poll_children()
                await asyncio.sleep(0.05)

    def _poll_children(self) -> None:
        for child in self._children:
            if child.pid is not None:
                child.poll(self.metrics)
        self._export_broker_state()

    def _export_broker_state(self) -> None:
        """``aftersales_broker_connected``: 1 while this process's probe and every intake
        child's (relayed in its reports) find the broker."""
        self.metrics.set_broker_connected(
            self.broker.reachable and all(child.broker_connected for child in self._children)
        )

    async def _supervise_children(self) -> None:
        """Relay the children's reports until one of them fails (then raise)."""
        while True:
            self._poll_children()
            await asyncio.sleep(REPORT_INTERVAL_S / 2)

    async def _watch_progress(self, every_s: float = 1.0) -> None:
        """Measure each consumer's backlog and feed :attr:`progress` (``/health``); log
        when a source stalls and when it moves again."""
        stalled: list[str] = []
        while True:
            for source, consumer in (("intake", self._intake), ("closer", self._closer)):
                if consumer is not None:
                    self.backlog[source] = await self._backlog(consumer)
                    self.progress.observe(
                        source, consumed=self.consumed[source], backlog=self.backlog[source]
                    )
            for index, child in enumerate(self._children):
                if child.ready:
                    self.progress.observe(
                        f"intake-{index}", consumed=child.consumed, backlog=child.backlog
                    )
            now_stalled = self.progress.stalled()
            if now_stalled != stalled:
                if now_stalled:
                    log.warning(
                        "worker_stalled", sources=now_stalled, progress=self.progress.report()
                    )
                else:
                    log.info("worker_progressing", sources=stalled)
                stalled = now_stalled
            await asyncio.sleep(every_s)

    async def _backlog(self, consumer: AIOKafkaConsumer) -> int:
        """Records between the consumer's positions and the ends the broker last reported
        (partitions with no fetch answered yet count as none).

        A rebalance may take partitions away while ``position`` awaits: each one is checked
        again first, as aiokafka's ``highwater`` asserts on a partition not assigned (under
        CPU pressure that assertion killed workers in rebalance storms).
        """
        total = 0
        for tp in consumer.assignment():
            if tp in self._restoring or tp not in consumer.assignment():
                continue
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), 1.0)
            except (TimeoutError, KafkaError):
                continue
            total += max(high - position, 0)
        return total

    def _own_topics(self) -> list[str]:
        names = self.names
        topics = [
            names.alerts,
            names.dead_letter,
            names.partials,
            names.checkpoints,
            names.intake_state,
            names.feedback,
            *names.inputs.values(),
        ]
        return sorted(topics)

    async def _watch_broker(
        self, every_s: float = PROBE_INTERVAL_S, timeout_s: float = PROBE_TIMEOUT_S
    ) -> None:
        """Report the broker's reachability on /metrics and in the log; fail when the
        broker no longer knows the service's topics. Every process runs it: the parent
        and each intake child (whose state reaches the parent in its reports).

        aiokafka retries fetches and commits on its own while the broker is away, so the
        loops simply stall and resume, and writes wait the outage out
        (:func:`~streams.runtime.outage.through_outages`, which relies on this probe);
        commits that fail meanwhile do not count toward ``commits_failing``. A broker that
        answers without the service's topics (e.g. restarted empty) never heals by
        itself: the worker raises :class:`WorkerFailure` so a supervisor restarts it,
        and the restart creates the topics again.
        """
        producer = self.producer
        assert producer is not None
        connected, since = True, time.monotonic()
        own = self._own_topics()
        missing_probes = 0
        while True:
            await asyncio.sleep(every_s)
            try:
                metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
                reachable = True
            except (TimeoutError, KafkaError, OSError):
                reachable = False
            self.broker.observe(reachable=reachable)
            if reachable:
                missing = [t for t in own if not metadata.partitions_for_topic(t)]
                missing_probes = missing_probes + 1 if missing else 0
                if missing_probes >= _MISSING_TOPIC_PROBES:
                    log.error(
                        "topics_missing",
                        topics=missing,
                        action="exiting; a restart creates them again",
                    )
                    raise WorkerFailure(f"the broker no longer has topics {missing}")
            if reachable != connected:
                now = time.monotonic()
                process = "worker" if self._runs_closer else "intake"
                if reachable:
                    log.info("broker_reachable", process=process, outage_s=round(now - since, 1))
                else:
                    log.warning(
                        "broker_unreachable",
                        process=process,
                        bootstrap_servers=self.settings.kafka_bootstrap_servers,
                        action="waiting; writes are retried once it answers",
                    )
                connected, since = reachable, now
                self._export_broker_state()

    # -- on-call feedback ---------------------------------------------------------------------

    async def _feedback_loop(self) -> None:
        """Read every on-call verdict (the whole compacted topic, then each new one) into
        :attr:`feedback`; the closers judge by its multipliers (:attr:`sensitivity`)."""
        consumer = AIOKafkaConsumer(
            **client_options(self.settings), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            assert self.producer is not None
            metadata = await self.producer.client.fetch_all_metadata()
            partitions = metadata.partitions_for_topic(self.names.feedback) or set()
            consumer.assign([TopicPartition(self.names.feedback, p) for p in sorted(partitions)])
            await consumer.seek_to_beginning()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1_000)
                for messages in batches.values():
                    for message in messages:
                        self.apply_feedback(message.value)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def apply_feedback(self, raw: bytes | None) -> None:
        """Apply one feedback record: log and export every change of a multiplier; an
        invalid record is logged and counted (it stays on the feedback topic)."""
        try:
            verdict = Verdict.from_json(raw)
        except InvalidVerdict as exc:
            log.warning("feedback_invalid", field=exc.field, error=str(exc))
            if isinstance(self.metrics, AlertMetrics):
                self.metrics.record_dead_letter("feedback", "invalid_verdict")
            return
        adjustment = self.feedback.apply(verdict)
        metrics = self.metrics if isinstance(self.metrics, AlertMetrics) else None
        if metrics is not None:
            metrics.record_feedback(verdict.rule, verdict.verdict)
        if adjustment is None:
            return
        if adjustment.new == 1.0:
            self.sensitivity.pop(adjustment.series, None)
        else:
            self.sensitivity[adjustment.series] = adjustment.new
        log.info(
            "feedback_adjustment",
            series=adjustment.series,
            alert_id=verdict.alert_id,
            verdict=verdict.verdict,
            old=adjustment.old,
            new=adjustment.new,
            false_verdicts=adjustment.false_verdicts,
            true_verdicts=adjustment.true_verdicts,
            limit=self.feedback.max_multiplier,
            note=verdict.note[:200],
        )
        if metrics is not None:
            metrics.set_feedback_multiplier(
                SeriesRef(verdict.rule, verdict.dimension, verdict.key), adjustment.new
            )

    # -- stage 1 -----------------------------------------------------------------------------

    async def _intake_assigned(self, assigned: list[TopicPartition]) -> None:
        """Load each new partition's snapshot and seek to where it resumes.

        aiokafka may hand out records of a new assignment while this callback awaits
        its reads, so the partitions are marked as restoring first (the loop skips
        their records, remembering the first skipped offset); all reads happen first
        and all restores and seeks after them, with no await in between.
        """
        consumer = self._intake
        assert consumer is not None
        self._restoring.update(assigned)
        payloads: dict[TopicPartition, bytes | None] = {}
        try:
            for tp in assigned:
                topic = self.names.input_short_name(tp.topic)
                payloads[tp], _ = await self.intake_store.read_latest(
                    self._intake_state_partition(topic, tp.partition)
                )
        finally:
            restored = []
            for tp in assigned:
                topic = self.names.input_short_name(tp.topic)
                self.stage1.forget(topic, tp.partition)
                payload = payloads.get(tp)
                skipped = self._skipped.pop(tp, None)
                if payload is not None:
                    resume = self.stage1.aggregator(topic, tp.partition).restore(payload)
                    consumer.seek(tp, resume)
                    restored.append(f"{tp.topic}/{tp.partition}@{resume}")
                elif skipped is not None:
                    consumer.seek(tp, skipped)
            self._restoring.difference_update(assigned)
        log.info(
            "intake_assigned",
            partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
            restored=restored,
        )

    async def _intake_revoked(self, revoked: list[TopicPartition]) -> None:
        consumer = self._intake
        if consumer is not None and revoked and not self._intake_unsent:
            with contextlib.suppress(Exception):
                await self._commit_intake(consumer, force=True)
        for tp in revoked:
            self.stage1.forget(self.names.input_short_name(tp.topic), tp.partition)
            self._intake_schedule.forget(tp)

    def _skip_restoring(self, tp: TopicPartition, messages: list[Any]) -> bool:
        """Whether ``tp``'s snapshot is loading: its fetched records are then skipped and
        re-read after the restore's seek (from the first skipped offset if there is no
        snapshot)."""
        if tp not in self._restoring:
            return False
        self._skipped.setdefault(tp, messages[0].offset)
        return True

    async def _intake_loop(self) -> None:
        consumer = self._intake
        assert consumer is not None
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            self.consumed["intake"] += sum(len(messages) for messages in batches.values())
            out = Stage1Output()
            for tp, messages in batches.items():
                if self._skip_restoring(tp, messages):
                    continue
                topic = self.names.input_short_name(tp.topic)
                for message in messages:
                    self.stage1.process(
                        topic, tp.partition, message.offset, message.key, message.value, out
                    )
                highwater = consumer.highwater(tp)
                if highwater is not None and messages:
                    self.metrics.set_consumer_lag(
                        topic, tp.partition, max(highwater - messages[-1].offset - 1, 0)
                    )
            self.stage1.seal(out)
            if batches or out.partials or out.watermarks:
                self._intake_unsent = True
                try:
                    await through_outages(
                        functools.partial(self._publish_stage1, out), self.broker, "partials"
                    )
                finally:
                    self._intake_unsent = False
                self._partials_sent += len(out.partials)
                await self._commit_intake(consumer)
            self._count_intake()

    async def _publish_stage1(self, out: Stage1Output) -> None:
        producer = self.producer
        assert producer is not None
        sends = []
        for dead in out.dead_letters:
            sends.append(
                await producer.send(
                    self.names.dead_letter, dead.value, key=dead.key, headers=dead.headers()
                )
            )
        # Partials-topic records go out in explicit per-partition batches: about 4x cheaper
        # than one send() each (docs/architecture.md). Within a partition the order is
        # verdicts, packed partials, then watermarks.
        partitions = self.partials_partitions
        batches = PartitionBatches(producer, self.names.partials)
        for verdict in out.verdicts:
            route = verdict.route
            await batches.add(
                partitions[closer_partition(route, len(partitions))],
                route.encode(),
                encode_event_alert(verdict),
            )
        for index, record in pack_partials(out.partials, len(partitions)):
            await batches.add(partitions[index], None, record)
        for index, record in pack_risk_facts(out.risk_facts, len(partitions), _RISK_PACK_ITEMS):
            await batches.add(partitions[index], None, record)
        for source, mark in out.watermarks:
            record = encode_watermark(source, mark)
            for partition in partitions:
                await batches.add(partition, None, record)
        sends += await batches.flush()
        if sends:
            await asyncio.gather(*sends)

    async def _commit_intake(self, consumer: AIOKafkaConsumer, *, force: bool = False) -> None:
        """Snapshot the owned input partition most overdue (every ``checkpoint_interval_ms``
        each; all of them when ``force``), then commit.

        A snapshot holds the offset to resume at (the first one an open window still
        needs) with the progress, sealed windows and norms of that moment; a restart
        seeks there. The commit is the same offset, so lag metrics stay truthful.
        """
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in self._intake_schedule.due(sorted(consumer.assignment()), force=force):
            topic = self.names.input_short_name(tp.topic)
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
            if not self._snapshot_fits("intake", str(tp), snapshot, began):
                continue
            try:
                await self.intake_store.write(
                    self._intake_state_partition(topic, tp.partition), snapshot
                )
            except KafkaError as exc:
                # Not committing keeps the previous snapshot and offset consistent.
                log.warning("checkpoint_failed", stage="intake", partition=str(tp), error=repr(exc))
                continue
            resume = resume_offset(snapshot)
            offsets[tp] = OffsetAndMetadata(resume, "")
        if offsets:
            await self._commit(consumer, offsets, "intake")

    def _snapshot_fits(self, stage: str, partition: str, payload: bytes, began: float) -> bool:
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

    def _intake_state_partition(self, topic: TopicName, partition: int) -> int:
        return TOPICS.index(topic) * self._max_input_partitions + partition

    def _count_intake(self) -> None:
        counts, reasons = self.stage1.intake.drain_counts()
        self.metrics.add_intake_counts(counts, reasons)
        self.metrics.add_evictions(*self.stage1.drain_evictions())

    # -- stage 2 -----------------------------------------------------------------------------

    async def _closer_assigned(self, assigned: list[TopicPartition]) -> None:
        """Restore each new partition's closer from its snapshot (see ``_intake_assigned``)."""
        consumer = self._closer
        assert consumer is not None
        self._drop_lost({tp.partition for tp in assigned})
        self._restoring.update(assigned)
        self.closer_queue.drop({tp.partition for tp in assigned})
        loaded: dict[TopicPartition, tuple[bytes | None, dict[str, Any] | None]] = {}
        published: set[tuple[str, str, str]] = set()
        try:
            highs: list[dict[str, int]] = []
            for tp in assigned:
                loaded[tp] = await self.checkpoints.read_latest(tp.partition)
                payload, marker = loaded[tp]
                # The closer recomputes from its snapshot; what it had already published
                # after the snapshot is on the alerts topic after these offsets. Without a
                # snapshot (a crash before the first one) it recomputes from the start, so
                # all of the topic counts.
                highs.append(
                    marker["alerts_high"] if payload is not None and marker is not None else {}
                )
            if highs:
                published |= await self._alerts_since(lowest_offsets(highs))
        finally:
            restored = []
            self._published |= published
            for tp in assigned:
                closer = WindowCloser(
                    self.rules,
                    self.input_partitions,
                    self.texts,
                    shards=max(1, len(self.partials_partitions)),
                    oncall=OnCall(self.rules.mutes, self.calendar, self.sensitivity),
                    risk=self.settings.risk_score,
                    folder=self.folder,
                )
                payload, marker = loaded.get(tp, (None, None))
                skipped = self._skipped.pop(tp, None)
                if payload is not None and marker is not None:
                    closer.restore(payload)
                    for event in closer.open_alerts.values():
                        self._closer_metrics.restore_open(event)
                    self.folder.seed(closer.open_alerts.values())
                    position = int(marker["position"])
                    consumer.seek(tp, position)
                    self.closer_queue.positions[tp.partition] = position
                    self._closer_snapshot_position[tp.partition] = position
                    restored.append(f"{tp.partition}@{position}")
                elif skipped is not None:
                    consumer.seek(tp, skipped)
                self.closers[tp.partition] = closer
                self._series_exported = None
            self._restoring.difference_update(assigned)
        log.info(
            "closer_assigned", partitions=sorted(tp.partition for tp in assigned), restored=restored
        )

    async def _closer_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked and not self._alerts_unsent:
            with contextlib.suppress(Exception):
                await self._checkpoint_closers(force=True)
        self._revoked_closers.update(tp.partition for tp in revoked)
        self.closer_queue.drop({tp.partition for tp in revoked})
        for tp in revoked:
            self._closer_schedule.forget(tp.partition)
            self.closers.pop(tp.partition, None)
            self._series_exported = None
            self.closer_queue.positions.pop(tp.partition, None)
            self._closer_snapshot_position.pop(tp.partition, None)

    def _drop_lost(self, assigned: set[int]) -> None:
        """Stop exporting the series and open episodes of closer partitions revoked and not
        assigned again: their new owner exports them, and a copy here would show each
        alert twice and never resolve. (aiokafka revokes every partition at a rebalance;
        waiting for the new assignment keeps the partitions that stay from vanishing
        from /metrics for the length of the rebalance.)"""
        lost, self._revoked_closers = self._revoked_closers - assigned, set()
        if lost and isinstance(self.metrics, AlertMetrics):
            partitions = self.partials_partitions
            self.metrics.drop_series(
                lambda series: (
                    partitions[closer_partition(series.kafka_key, len(partitions))] in lost
                )
            )
            log.info("closer_partitions_lost", partitions=sorted(lost))

    async def _alerts_since(self, high: dict[str, int]) -> set[tuple[str, str, str]]:
        """``(alert_id, status, severity)`` of every alert on the topic at or after ``high``
        offsets (an escalation is a second ``firing`` of one id, with a higher severity).

        Reads to the end (:class:`~streams.runtime.read_back.ReadBack`: at least to the end
        offsets the broker reports, then until a poll comes back empty). Alerts are rare,
        so this is a short read.
        """
        consumer = AIOKafkaConsumer(
            **client_options(self.settings), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        seen: set[tuple[str, str, str]] = set()
        try:
            assert self.producer is not None
            metadata = await self.producer.client.fetch_all_metadata()
            partitions = metadata.partitions_for_topic(self.names.alerts) or set()
            tps = [TopicPartition(self.names.alerts, p) for p in sorted(partitions)]
            consumer.assign(tps)
            starts = {tp: int(high.get(str(tp.partition), 0)) for tp in tps}
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            reader = ReadBack(consumer, tps, poll_ms=1_000, give_up_polls=_READ_BACK_QUIET_POLLS)
            async for message in reader.records():
                alert = json.loads(message.value)
                seen.add((alert["alert_id"], alert["status"], alert["severity"]))
            if reader.behind:
                log.warning(
                    "alerts_read_back_short",
                    partitions=sorted(tp.partition for tp in reader.behind),
                    hint="some alerts may be published twice after this restart",
                )
            return seen
        finally:
            await consumer.stop()

    async def _closer_loop(self) -> None:
        """Fetch, turn per-event verdicts into alerts at once, then work off window records.

        Partials and watermarks queue in ``closer_queue`` and are worked off in slices of
        at most ``_CLOSER_SLICE_S`` with a fetch between slices, so a burst of window work
        (every series' partial at a window seal) does not hold a per-event alert back: it
        waits for one slice, not for the whole burst.
        """
        consumer = self._closer
        assert consumer is not None
        queue = self.closer_queue
        pending = queue.pending
        while True:
            if queue.queued_bytes < _CLOSER_MAX_PENDING_BYTES:
                batches = await consumer.getmany(
                    timeout_ms=0 if pending else 200, max_records=10_000
                )
            else:  # far behind: work off what is fetched before fetching more
                batches = {}
                await asyncio.sleep(0)
            self.consumed["closer"] += sum(len(messages) for messages in batches.values())
            if not batches and not pending:
                await self._checkpoint_closers()
                continue
            alerts = self._take_fetched(batches)
            if alerts:
                await self._publish_alerts(alerts)
            alerts, closed_any = queue.work_off(time.monotonic() + _CLOSER_SLICE_S)
            if closed_any or alerts:
                alerts += fold_incidents(self.folder, self.closers.values(), alerts)
            await self._publish_alerts(alerts)
            if closed_any:
                self._export_series()
            await self._checkpoint_closers()

    def _take_fetched(self, batches: dict[TopicPartition, list[Any]]) -> list[AlertEvent]:
        """Queue fetched window records (not those of a partition being restored); return
        the alerts of the per-event verdicts (:meth:`CloserQueue.take`)."""
        alerts: list[AlertEvent] = []
        for tp, messages in batches.items():
            if not self._skip_restoring(tp, messages):
                alerts += self.closer_queue.take(tp.partition, messages)
        return alerts

    def _partials_failed(self, partition: int, message: Any, exc: Exception) -> None:
        log.error(
            "partials_record_failed",
            partition=partition,
            offset=message.offset,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        if isinstance(self.metrics, AlertMetrics):
            self.metrics.record_dead_letter("partials", "internal_error")

    async def _checkpoint_closers(self, *, force: bool = False) -> None:
        """Snapshot the owned closer most overdue (every ``checkpoint_interval_ms`` each;
        all of them when ``force``), then commit."""
        await self._publish_risk()
        consumer = self._closer
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for partition in self._closer_schedule.due(sorted(self.closers), force=force):
            closer = self.closers.get(partition)
            position = self.closer_queue.positions.get(partition)
            if (
                closer is None
                or position is None
                or position == self._closer_snapshot_position.get(partition)
            ):
                continue  # revoked while an earlier one was written, or nothing new
            marker = {
                "position": position,
                "alerts_high": {str(p): o for p, o in sorted(self._alerts_high.items())},
            }
            began = time.perf_counter()
            payload = await snapshot_off_loop(closer.snapshot)
            if self.closers.get(partition) is not closer:
                continue  # revoked meanwhile: its new owner snapshots it from now on
            if not self._snapshot_fits("closer", str(partition), payload, began):
                continue
            try:
                await self.checkpoints.write(partition, payload, marker)
            except KafkaError as exc:
                # The previous snapshot stays valid; try again at the next interval.
                log.warning(
                    "checkpoint_failed", stage="closer", partition=partition, error=repr(exc)
                )
                continue
            self._closer_snapshot_position[partition] = position
            offsets[TopicPartition(self.names.partials, partition)] = OffsetAndMetadata(
                position, ""
            )
        if offsets and consumer is not None:
            await self._commit(consumer, offsets, "closer")

    async def _commit(
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
            await asyncio.wait_for(consumer.commit(offsets), _COMMIT_TIMEOUT_S)
        except (TimeoutError, KafkaError) as exc:
            reachable = not self.broker.outage_since(started)
            try:
                self.commit_failures.failed(stage, exc, broker_reachable=reachable)
            finally:  # the fatal one too
                self.metrics.add_commit_failures(self.commit_failures.drain())
            return
        self.commit_failures.succeeded()

    async def _publish_risk(self) -> None:
        """Publish every risk record the closers' shards scored (before any snapshot: a
        snapshot holds no unpublished record). At least once: after a crash the records
        scored since the last snapshot are scored and published again, the same."""
        records = [
            record
            for partition in sorted(self.closers)
            if (shard := self.closers[partition].risk) is not None
            for record in shard.drain()
        ]
        if not records:
            return
        producer = self.producer
        assert producer is not None

        topic = self.names.order_risk

        async def send() -> None:
            # Explicit batches, each record on the partition send(key=...) would pick.
            partitions = sorted(await producer.partitions_for(topic))
            batches = PartitionBatches(producer, topic)
            for record in records:
                key = record.order_id.encode()
                await batches.add(keyed_partition(key, partitions), key, record.to_json())
            await asyncio.gather(*await batches.flush())

        await through_outages(send, self.broker, "order risk")
        if isinstance(self.metrics, AlertMetrics):
            self.metrics.record_risks(
                (
                    record.stage,
                    record.level,
                    record.score,
                    record.factors[0].name
                    if record.factors and record.factors[0].contribution > 0
                    else None,
                )
                for record in records
            )
        self.risk_published += len(records)

    def _unpublished(self, alerts: list[AlertEvent]) -> list[AlertEvent]:
        """``alerts`` without those already on the alerts topic (``_published``)."""
        if not self._published:
            return alerts
        return [a for a in alerts if (a.alert_id, a.status, a.severity) not in self._published]

    async def _publish_alerts(self, alerts: list[AlertEvent]) -> None:
        """Publish ``alerts`` once each: a write an outage interrupted is retried once the
        broker answers, after reading back which of them reached the topic."""
        alerts = self._unpublished(alerts)
        if not alerts:
            return
        # Where this write begins: a write that failed may still have reached the topic,
        # before or after offsets acknowledged in the same attempt.
        before = {str(partition): offset for partition, offset in self._alerts_high.items()}

        async def read_back() -> None:
            self._published |= await self._alerts_since(before)

        self._alerts_unsent = True
        try:
            await through_outages(
                functools.partial(self._send_alerts, alerts),
                self.broker,
                "alerts",
                before_retry=read_back,
            )
        finally:
            self._alerts_unsent = False
        now_s = time.time()
        for alert in alerts:
            self._closer_metrics.record_alert(alert)
            if isinstance(self.metrics, AlertMetrics):
                self.metrics.observe_published(alert, now_s)
            for sink in self.sinks:
                sink.add(alert)
        for sink in self.sinks:
            await sink.flush()
        self.alerts_published += len(alerts)

    async def _send_alerts(self, alerts: list[AlertEvent]) -> None:
        """Write those of ``alerts`` not yet on the topic (raise the first error if any
        write failed, after noting the offsets of those that went through)."""
        alerts = self._unpublished(alerts)
        producer = self.producer
        assert producer is not None
        sends = [
            await producer.send(self.names.alerts, alert.to_json(), key=alert.kafka_key.encode())
            for alert in alerts
        ]
        failures = []
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, BaseException):
                failures.append(result)
            elif result.offset + 1 > self._alerts_high.get(result.partition, 0):
                self._alerts_high[result.partition] = result.offset + 1
        if failures:
            raise failures[0]

    def _export_series(self) -> None:
        now_ms = time.time() * 1000
        for rule in self.rules.rules:
            ends = [
                start + rule.window_ms
                for closer in self.closers.values()
                if (start := closer.closed_through.get(rule.name)) is not None
            ]
            if ends:
                # How long after it could close (end + lateness) the newest window closed.
                lag_ms = now_ms - (max(ends) + self.rules.lateness_ms)
                self._closer_metrics.set_window_close_lag(rule.name, max(lag_ms, 0.0) / 1000)
        watermark = None
        for closer in self.closers.values():
            self.metrics.add_evictions(*closer.drain_evictions())
            if isinstance(self.metrics, AlertMetrics):
                self.metrics.add_mute_suppressed(closer.drain_suppressed())
                self.metrics.add_twin_deferred(closer.drain_twins())
            marks = list(closer.watermarks.values())
            if marks:
                low = min(marks)
                watermark = low if watermark is None else min(watermark, low)
        # The per-series view is rebuilt only when a closer closed a window or the set of
        # closers changed: it holds every series (tens of thousands with the shipped rules)
        # and this runs after every slice of window work that saw a watermark.
        version = tuple(
            (partition, id(closer), closer.windows_closed)
            for partition, closer in sorted(self.closers.items())
        )  # reset to None whenever a closer is added or dropped
        if version != self._series_exported:
            self._series_exported = version
            latest = {
                SeriesRef(closed.rule, closed.dimension, closed.key): closed.decision
                for closer in self.closers.values()
                for closed in closer.latest.values()
            }
            self._closer_metrics.replace_series(latest)  # evicted and moved-away disappear
        if watermark is not None:
            self._closer_metrics.set_watermark(watermark)
            if isinstance(self.metrics, AlertMetrics) and self.rules.mutes:
                self.metrics.set_mutes_active(mute_states(self.rules, watermark))
