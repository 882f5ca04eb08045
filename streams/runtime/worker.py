"""The stream processor against Kafka: the two stages, their processes and their health.

:class:`Worker` connects to the cluster, joins the consumer groups and runs the loops of
its stages side by side, with the probes that keep ``/health`` and ``/metrics`` honest:

* **Intake** (stage 1, :class:`~streams.runtime.intake_stage.IntakeStage`) consumes the
  input topics and publishes sealed partials, per-event verdicts, risk facts and
  watermarks on the internal partials topic. By default it runs in child processes
  (:mod:`streams.runtime.intake_process`), each a worker with only this stage.
* **Closer** (stage 2, :class:`~streams.runtime.closer_stage.CloserStage`) consumes the
  partials topic, closes windows, runs episodes and publishes alerts and risk records.

The worker itself starts and stops them, supervises the intake children, measures each
consumer's backlog (``/health`` stalls), probes the broker (and exits when it lost the
service's topics) and reads on-call feedback. What the stages share (the producer,
metrics, commits, snapshot size checks) is in :mod:`streams.runtime.stage_services`.

Size: start-up (topics, partitions, groups), stop, the supervision of the children and
the three probes (progress, broker, feedback) each need the connections it owns; the
stages themselves live in their own modules.

Why not a Faust agent per event: Faust's consumer pipeline costs ~170 us per
message (about 6,000 events/s on the reference machine, see docs/architecture.md "Broker
notes"); batching with aiokafka and aggregating in memory removes that
per-event cost, and the partials topic carries packed records per window
instead of one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from alerts.incidents import IncidentFolder
from alerts.metrics import AlertMetrics
from alerts.model import SeriesRef
from alerts.sinks import AlertSink
from alerts.text import AlertTexts
from streams.contract.events import TOPICS, TopicName
from streams.exceptions import TopicError, WorkerFailure
from streams.logs import get_logger
from streams.pipeline.closer import WindowCloser
from streams.pipeline.feedback import FeedbackBook, InvalidVerdict, Verdict
from streams.pipeline.replay import Stage1
from streams.rules.calendar import Calendar, load_calendar
from streams.rules.catalogue import RuleSet
from streams.runtime.checkpoint import CheckpointStore
from streams.runtime.closer_queue import CloserQueue
from streams.runtime.closer_stage import CloserStage
from streams.runtime.commits import CommitFailures
from streams.runtime.config import Settings
from streams.runtime.gc_tuning import tune_gc
from streams.runtime.intake_process import REPORT_INTERVAL_S, IntakeChild, RelayMetrics
from streams.runtime.intake_stage import IntakeStage
from streams.runtime.kafka_options import client_options
from streams.runtime.outage import PROBE_INTERVAL_S, PROBE_TIMEOUT_S, BrokerState
from streams.runtime.progress import Progress
from streams.runtime.stage_services import StageServices
from streams.runtime.topics import TopicNames, ensure_state_topic, ensure_topics

__all__ = ["Worker"]

log = get_logger(__name__)

_MAX_REQUEST_BYTES = 64 * 1_048_576
_FETCH_MAX_WAIT_MS = 100
#: Consecutive broker probes that must miss one of the service's topics before it exits.
_MISSING_TOPIC_PROBES = 2
#: Seconds a failed worker gives each Kafka client to close.
_FAILED_CLOSE_S = 5.0


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
        self.create_input_topics = create_input_topics
        self.names = TopicNames.from_settings(settings)
        self.texts = AlertTexts(locale=settings.locale)
        self.services = StageServices(settings, self.names, metrics)
        self.intake = IntakeStage(self.services, rules)
        self.closer = CloserStage(
            self.services,
            rules,
            self.texts,
            calendar=calendar,
            sensitivity=self.sensitivity,
            folder=self.folder,
            sinks=sinks,
        )
        self.input_partitions: dict[TopicName, int] = {}
        self.partials_partitions: list[int] = []
        self.started = asyncio.Event()
        #: Set when a loop died; /health then reports not ready and the process exits.
        self.failed = False
        #: Each consumer loop's backlog (``/health``).
        self.backlog = {"intake": 0, "closer": 0}
        self.progress = Progress(settings.stall_timeout_ms / 1000)
        split = settings.intake_processes > 0 and roles == {"intake", "closer"}
        self._runs_intake = "intake" in roles and not split
        self._runs_closer = "closer" in roles
        self._children = [
            IntakeChild(settings, rules, create_input_topics=create_input_topics, runner=Worker)
            for _ in range(settings.intake_processes if split else 0)
        ]

    # -- what the stages hold, for /health, the demo, benchmarks and tests ------------------

    @property
    def producer(self) -> AIOKafkaProducer | None:
        """The producer both stages write with (``None`` before :meth:`start`)."""
        return self.services.producer

    @property
    def broker(self) -> BrokerState:
        """What this process's broker probe saw."""
        return self.services.broker

    @property
    def commit_failures(self) -> CommitFailures:
        """Failed offset commits of both stages."""
        return self.services.commit_failures

    @property
    def consumed(self) -> dict[str, int]:
        """Records each consumer loop consumed so far (``/health``)."""
        return self.services.consumed

    @property
    def stage1(self) -> Stage1:
        """The intake's pure stage 1."""
        return self.intake.stage1

    @property
    def closers(self) -> dict[int, WindowCloser]:
        """The closer of each owned partials partition."""
        return self.closer.closers

    @property
    def closer_queue(self) -> CloserQueue:
        """The closer's fetched window records not yet applied."""
        return self.closer.queue

    @property
    def sinks(self) -> list[AlertSink]:
        """Extra alert sinks (the alerts topic is always written)."""
        return self.closer.sinks

    @property
    def alerts_published(self) -> int:
        """Alerts published so far (for tests and the demo)."""
        return self.closer.alerts_published

    @property
    def risk_published(self) -> int:
        """Risk records published so far."""
        return self.closer.risk_published

    @property
    def intake_pids(self) -> list[int]:
        """Process ids of the intake child processes (none if stage 1 runs here)."""
        return [child.pid for child in self._children if child.pid is not None]

    @property
    def partials_received(self) -> int:
        """Sealed partials this process's closers applied so far (benchmarks)."""
        return self.closer.queue.partials_received

    @property
    def partials_sent(self) -> int:
        """Sealed partials the intake (here or in the child process) sent so far."""
        return self.intake.partials_sent + sum(child.partials_sent for child in self._children)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create topics, connect, join both consumer groups."""
        settings = self.settings
        await ensure_topics(settings, self.names, inputs=self.create_input_topics)
        log.debug("worker_starting", step="topics ensured")
        common: dict[str, Any] = {**client_options(settings), "client_id": settings.app_id}
        producer = self.services.producer = AIOKafkaProducer(
            **common,
            linger_ms=5,
            acks="all",
            max_request_size=_MAX_REQUEST_BYTES,
            max_batch_size=1_048_576,
        )
        await producer.start()
        metadata = await producer.client.fetch_all_metadata()
        for short, full in self.names.inputs.items():
            partitions = metadata.partitions_for_topic(full)
            if not partitions:
                raise RuntimeError(f"input topic {full} does not exist")
            self.input_partitions[short] = len(partitions)
        self.partials_partitions = sorted(metadata.partitions_for_topic(self.names.partials) or [])
        max_input_partitions = max(self.input_partitions.values())
        needed = len(TOPICS) * max_input_partitions
        await ensure_state_topic(settings, self.names.intake_state, needed)
        metadata = await producer.client.fetch_all_metadata()
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
        self.intake.attach(
            CheckpointStore(producer, connection, self.names.intake_state),
            self.partials_partitions,
            max_input_partitions,
        )
        self.closer.attach(
            CheckpointStore(producer, connection, self.names.checkpoints),
            self.input_partitions,
            self.partials_partitions,
        )
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
            closer = self.closer.consumer = AIOKafkaConsumer(
                **group, group_id=f"{settings.app_id}-closer"
            )
            closer.subscribe(
                [self.names.partials],
                listener=_Revocations(self.closer.revoked, self.closer.assigned),
            )
            await closer.start()
        log.debug("worker_starting", step="joining groups")
        if self._runs_intake:
            intake = self.intake.consumer = AIOKafkaConsumer(
                **group, group_id=f"{settings.app_id}-intake"
            )
            intake.subscribe(
                list(self.names.inputs.values()),
                listener=_Revocations(self.intake.revoked, self.intake.assigned),
            )
            await intake.start()
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
                if self.intake.consumer is not None:
                    await self.intake.commit(force=True)
                await self.closer.checkpoint(force=True)
            except Exception as exc:  # noqa: BLE001 - a failed final checkpoint must not block stop
                log.warning("final_checkpoint_failed", error=str(exc))
        limit = _FAILED_CLOSE_S if failed else None
        for consumer in (self.intake.consumer, self.closer.consumer):
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
                loops.append(self.intake.loop())
            if self._runs_closer:
                loops += [self.closer.loop(), self._feedback_loop()]
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
            for source, consumer in (
                ("intake", self.intake.consumer),
                ("closer", self.closer.consumer),
            ):
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
            if self._restoring(tp) or tp not in consumer.assignment():
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

    def _restoring(self, tp: TopicPartition) -> bool:
        """Whether either stage is loading ``tp``'s snapshot."""
        return tp in self.intake.gate.restoring or tp in self.closer.gate.restoring

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
