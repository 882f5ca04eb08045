"""Stage 2 against Kafka: consume the partials topic, close windows, publish alerts.

:class:`CloserStage` keeps one :class:`~streams.pipeline.closer.WindowCloser` per
partials partition, so a series lives in exactly one place. It turns per-event verdicts
into alerts as soon as they are fetched, applies partials, risk facts and watermarks in
short slices between fetches (:class:`~streams.runtime.closer_queue.CloserQueue`), closes
windows, runs episodes, folds incidents and publishes alerts to the alerts topic (and
any extra sinks) and risk records to the order-risk topic, exports the per-series view
to ``/metrics``, then snapshots one partition per pass and commits.

Size: rebalances (restore, reading back what was already published), the loop,
checkpoints and the three kinds of publishing share the closers and the published-alert
bookkeeping; the queue of fetched records is its own class.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from alerts.incidents import IncidentFolder
from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent, SeriesRef
from alerts.sinks import AlertSink
from alerts.text import AlertTexts
from streams.contract.events import TopicName
from streams.logs import get_logger
from streams.pipeline.closer import WindowCloser
from streams.pipeline.oncall import OnCall
from streams.pipeline.replay import fold_incidents
from streams.pipeline.wire import closer_partition
from streams.rules.calendar import Calendar
from streams.rules.catalogue import RuleSet
from streams.rules.mutes import mute_states
from streams.runtime.batches import PartitionBatches, keyed_partition
from streams.runtime.checkpoint import CheckpointSchedule, CheckpointStore, lowest_offsets
from streams.runtime.closer_queue import CloserQueue
from streams.runtime.kafka_options import client_options
from streams.runtime.offloop import snapshot_off_loop
from streams.runtime.outage import through_outages
from streams.runtime.read_back import ReadBack
from streams.runtime.stage_services import RestoreGate, StageServices

__all__ = ["CloserStage"]

log = get_logger(__name__)

#: Longest stretch of window work (partials, watermarks) between two closer fetches.
SLICE_S = 0.05
#: Bytes of queued window records at which the closer stops fetching until it has
#: worked them off (bounds memory in a catch-up: a packed record holds up to 2,000 items).
MAX_PENDING_BYTES = 32 * 1_048_576
#: Empty one-second polls after which reading the alerts back gives up on reaching the
#: end offsets the broker reported (see :meth:`CloserStage.alerts_since`).
READ_BACK_QUIET_POLLS = 10


class CloserStage:
    """Stage 2 of one worker process.

    Parameters
    ----------
    services
        The worker's shared connections and bookkeeping.
    rules, texts
        The configured rules and the alert texts.
    calendar, sensitivity, folder
        What every closer judges by: the promotion calendar, the on-call feedback's band
        multipliers (a live mapping) and the incident folder over this process's closers.
    sinks
        Extra alert sinks; the alerts topic is always written.
    """

    def __init__(
        self,
        services: StageServices,
        rules: RuleSet,
        texts: AlertTexts,
        *,
        calendar: Calendar | None,
        sensitivity: dict[str, float],
        folder: IncidentFolder,
        sinks: Sequence[AlertSink] = (),
    ) -> None:
        self.services = services
        self.rules = rules
        self.texts = texts
        self.calendar = calendar
        self.sensitivity = sensitivity
        self.folder = folder
        self.sinks = list(sinks)
        self.closers: dict[int, WindowCloser] = {}
        #: Set by :meth:`attach` once the worker has joined the closer group.
        self.consumer: AIOKafkaConsumer | None = None
        self.checkpoints: CheckpointStore | None = None
        self.input_partitions: dict[TopicName, int] = {}
        self.partials_partitions: list[int] = []
        self.schedule = CheckpointSchedule(services.settings.checkpoint_interval_ms / 1000)
        self.gate = RestoreGate()
        #: Fetched window records not yet applied, and per closer partition the offset
        #: after the last record applied (what a snapshot covers).
        self.queue = CloserQueue(self.closers, self.partials_failed)
        #: What the per-series view was last built from (see :meth:`export_series`).
        self._series_exported: tuple[tuple[int, int, int], ...] | None = None
        #: Per closer partition: the position of the last snapshot taken.
        self._snapshot_position: dict[int, int] = {}
        #: Closer partitions revoked at the current rebalance (see :meth:`drop_lost`).
        self._revoked: set[int] = set()
        #: Next offset per alerts-topic partition after everything this worker published.
        self._alerts_high: dict[int, int] = {}
        #: Alerts already on the topic from before a restart: never published twice.
        self._published: set[tuple[str, str, str]] = set()
        #: Whether alerts are being written: a revocation then takes no snapshot.
        self.unsent = False
        #: Alerts and risk records published so far (for tests and the demo).
        self.alerts_published = 0
        self.risk_published = 0

    def attach(
        self,
        checkpoints: CheckpointStore,
        input_partitions: dict[TopicName, int],
        partials_partitions: list[int],
    ) -> None:
        """Where snapshots go and how the topics are partitioned (at start)."""
        self.checkpoints = checkpoints
        self.input_partitions = input_partitions
        self.partials_partitions = partials_partitions

    @property
    def metrics(self) -> AlertMetrics:
        """The metrics the closer records to: a closer runs only in a process that exports
        them (an intake child has :class:`RelayMetrics` and no closer)."""
        metrics = self.services.metrics
        if not isinstance(metrics, AlertMetrics):
            raise TypeError("a worker that runs a closer needs AlertMetrics")
        return metrics

    # -- rebalances ---------------------------------------------------------------------------

    async def assigned(self, assigned: list[TopicPartition]) -> None:
        """Restore each new partition's closer from its snapshot, after reading back the
        alerts published since (see :meth:`IntakeStage.assigned
        <streams.runtime.intake_stage.IntakeStage.assigned>` for the order of steps)."""
        consumer, checkpoints = self.consumer, self.checkpoints
        assert consumer is not None
        assert checkpoints is not None
        self.drop_lost({tp.partition for tp in assigned})
        self.gate.restoring.update(assigned)
        self.queue.drop({tp.partition for tp in assigned})
        loaded: dict[TopicPartition, tuple[bytes | None, dict[str, Any] | None]] = {}
        published: set[tuple[str, str, str]] = set()
        try:
            highs: list[dict[str, int]] = []
            for tp in assigned:
                loaded[tp] = await checkpoints.read_latest(tp.partition)
                payload, marker = loaded[tp]
                # The closer recomputes from its snapshot; what it had already published
                # after the snapshot is on the alerts topic after these offsets. Without a
                # snapshot (a crash before the first one) it recomputes from the start, so
                # all of the topic counts.
                highs.append(
                    marker["alerts_high"] if payload is not None and marker is not None else {}
                )
            if highs:
                published |= await self.alerts_since(lowest_offsets(highs))
        finally:
            restored = []
            self._published |= published
            for tp in assigned:
                closer = self._new_closer()
                payload, marker = loaded.get(tp, (None, None))
                skipped = self.gate.first_skipped(tp)
                if payload is not None and marker is not None:
                    closer.restore(payload)
                    for event in closer.open_alerts.values():
                        self.metrics.restore_open(event)
                    self.folder.seed(closer.open_alerts.values())
                    position = int(marker["position"])
                    consumer.seek(tp, position)
                    self.queue.positions[tp.partition] = position
                    self._snapshot_position[tp.partition] = position
                    restored.append(f"{tp.partition}@{position}")
                elif skipped is not None:
                    consumer.seek(tp, skipped)
                self.closers[tp.partition] = closer
                self._series_exported = None
            self.gate.restoring.difference_update(assigned)
        log.info(
            "closer_assigned", partitions=sorted(tp.partition for tp in assigned), restored=restored
        )

    def _new_closer(self) -> WindowCloser:
        settings = self.services.settings
        return WindowCloser(
            self.rules,
            self.input_partitions,
            self.texts,
            shards=max(1, len(self.partials_partitions)),
            oncall=OnCall(self.rules.mutes, self.calendar, self.sensitivity),
            risk=settings.risk_score,
            folder=self.folder,
        )

    async def revoked(self, revoked: list[TopicPartition]) -> None:
        """Snapshot and commit (unless alerts are in flight), then drop the partitions."""
        if revoked and not self.unsent:
            with contextlib.suppress(Exception):
                await self.checkpoint(force=True)
        self._revoked.update(tp.partition for tp in revoked)
        self.queue.drop({tp.partition for tp in revoked})
        for tp in revoked:
            self.schedule.forget(tp.partition)
            self.closers.pop(tp.partition, None)
            self._series_exported = None
            self.queue.positions.pop(tp.partition, None)
            self._snapshot_position.pop(tp.partition, None)

    def drop_lost(self, assigned: set[int]) -> None:
        """Stop exporting the series and open episodes of closer partitions revoked and not
        assigned again: their new owner exports them, and a copy here would show each
        alert twice and never resolve. (aiokafka revokes every partition at a rebalance;
        waiting for the new assignment keeps the partitions that stay from vanishing
        from /metrics for the length of the rebalance.)"""
        lost, self._revoked = self._revoked - assigned, set()
        if lost and isinstance(self.services.metrics, AlertMetrics):
            partitions = self.partials_partitions
            self.services.metrics.drop_series(
                lambda series: (
                    partitions[closer_partition(series.kafka_key, len(partitions))] in lost
                )
            )
            log.info("closer_partitions_lost", partitions=sorted(lost))

    async def alerts_since(self, high: dict[str, int]) -> set[tuple[str, str, str]]:
        """``(alert_id, status, severity)`` of every alert on the topic at or after ``high``
        offsets (an escalation is a second ``firing`` of one id, with a higher severity).

        Reads to the end (:class:`~streams.runtime.read_back.ReadBack`: at least to the end
        offsets the broker reports, then until a poll comes back empty). Alerts are rare,
        so this is a short read.
        """
        services = self.services
        consumer = AIOKafkaConsumer(
            **client_options(services.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen: set[tuple[str, str, str]] = set()
        try:
            metadata = await services.the_producer().client.fetch_all_metadata()
            partitions = metadata.partitions_for_topic(services.names.alerts) or set()
            tps = [TopicPartition(services.names.alerts, p) for p in sorted(partitions)]
            consumer.assign(tps)
            starts = {tp: int(high.get(str(tp.partition), 0)) for tp in tps}
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            reader = ReadBack(consumer, tps, poll_ms=1_000, give_up_polls=READ_BACK_QUIET_POLLS)
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

    # -- the loop -----------------------------------------------------------------------------

    async def loop(self) -> None:
        """Fetch, turn per-event verdicts into alerts at once, then work off window records.

        Partials and watermarks queue in :attr:`queue` and are worked off in slices of at
        most :data:`SLICE_S` with a fetch between slices, so a burst of window work (every
        series' partial at a window seal) does not hold a per-event alert back: it waits
        for one slice, not for the whole burst.
        """
        consumer = self.consumer
        assert consumer is not None
        queue = self.queue
        pending = queue.pending
        consumed = self.services.consumed
        while True:
            if queue.queued_bytes < MAX_PENDING_BYTES:
                batches = await consumer.getmany(
                    timeout_ms=0 if pending else 200, max_records=10_000
                )
            else:  # far behind: work off what is fetched before fetching more
                batches = {}
                await asyncio.sleep(0)
            consumed["closer"] += sum(len(messages) for messages in batches.values())
            if not batches and not pending:
                await self.checkpoint()
                continue
            alerts = self.take_fetched(batches)
            if alerts:
                await self.publish_alerts(alerts)
            alerts, closed_any = queue.work_off(time.monotonic() + SLICE_S)
            if closed_any or alerts:
                alerts += fold_incidents(self.folder, self.closers.values(), alerts)
            await self.publish_alerts(alerts)
            if closed_any:
                self.export_series()
            await self.checkpoint()

    def take_fetched(self, batches: dict[TopicPartition, list[Any]]) -> list[AlertEvent]:
        """Queue fetched window records (not those of a partition being restored); return
        the alerts of the per-event verdicts (:meth:`CloserQueue.take`)."""
        alerts: list[AlertEvent] = []
        for tp, messages in batches.items():
            if not self.gate.skip(tp, messages):
                alerts += self.queue.take(tp.partition, messages)
        return alerts

    def partials_failed(self, partition: int, message: Any, exc: Exception) -> None:
        """Log and count a partials-topic record that could not be read or applied."""
        log.error(
            "partials_record_failed",
            partition=partition,
            offset=message.offset,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        if isinstance(self.services.metrics, AlertMetrics):
            self.services.metrics.record_dead_letter("partials", "internal_error")

    async def checkpoint(self, *, force: bool = False) -> None:
        """Publish the risk records scored so far, snapshot the owned closer most overdue
        (every ``checkpoint_interval_ms`` each; all of them when ``force``), then commit."""
        await self.publish_risk()
        services = self.services
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for partition in self.schedule.due(sorted(self.closers), force=force):
            closer = self.closers.get(partition)
            position = self.queue.positions.get(partition)
            if (
                closer is None
                or position is None
                or position == self._snapshot_position.get(partition)
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
            if not services.snapshot_fits("closer", str(partition), payload, began):
                continue
            checkpoints = self.checkpoints
            assert checkpoints is not None, "attach() comes before any snapshot"
            try:
                await checkpoints.write(partition, payload, marker)
            except KafkaError as exc:
                # The previous snapshot stays valid; try again at the next interval.
                log.warning(
                    "checkpoint_failed", stage="closer", partition=partition, error=repr(exc)
                )
                continue
            self._snapshot_position[partition] = position
            offsets[TopicPartition(services.names.partials, partition)] = OffsetAndMetadata(
                position, ""
            )
        if offsets and self.consumer is not None:
            await services.commit(self.consumer, offsets, "closer")

    # -- publishing ---------------------------------------------------------------------------

    async def publish_risk(self) -> None:
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
        services = self.services
        producer = services.the_producer()
        topic = services.names.order_risk

        async def send() -> None:
            # Explicit batches, each record on the partition send(key=...) would pick.
            partitions = sorted(await producer.partitions_for(topic))
            batches = PartitionBatches(producer, topic)
            for record in records:
                key = record.order_id.encode()
                await batches.add(keyed_partition(key, partitions), key, record.to_json())
            await asyncio.gather(*await batches.flush())

        await through_outages(send, services.broker, "order risk")
        if isinstance(services.metrics, AlertMetrics):
            services.metrics.record_risks(
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

    async def publish_alerts(self, alerts: list[AlertEvent]) -> None:
        """Publish ``alerts`` once each: a write an outage interrupted is retried once the
        broker answers, after reading back which of them reached the topic."""
        alerts = self._unpublished(alerts)
        if not alerts:
            return
        # Where this write begins: a write that failed may still have reached the topic,
        # before or after offsets acknowledged in the same attempt.
        before = {str(partition): offset for partition, offset in self._alerts_high.items()}

        async def read_back() -> None:
            self._published |= await self.alerts_since(before)

        self.unsent = True
        try:
            await through_outages(
                functools.partial(self._send_alerts, alerts),
                self.services.broker,
                "alerts",
                before_retry=read_back,
            )
        finally:
            self.unsent = False
        now_s = time.time()
        metrics = self.metrics
        for alert in alerts:
            metrics.record_alert(alert)
            metrics.observe_published(alert, now_s)
            for sink in self.sinks:
                sink.add(alert)
        for sink in self.sinks:
            await sink.flush()
        self.alerts_published += len(alerts)

    async def _send_alerts(self, alerts: list[AlertEvent]) -> None:
        """Write those of ``alerts`` not yet on the topic (raise the first error if any
        write failed, after noting the offsets of those that went through)."""
        alerts = self._unpublished(alerts)
        producer = self.services.the_producer()
        topic = self.services.names.alerts
        sends = [
            await producer.send(topic, alert.to_json(), key=alert.kafka_key.encode())
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

    def export_series(self) -> None:
        """Window-close lag, evictions, mutes, the watermark and (when a window closed or
        the closers changed) the per-series view, to ``/metrics``."""
        metrics = self.metrics
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
                metrics.set_window_close_lag(rule.name, max(lag_ms, 0.0) / 1000)
        watermark = None
        for closer in self.closers.values():
            metrics.add_evictions(*closer.drain_evictions())
            metrics.add_mute_suppressed(closer.drain_suppressed())
            metrics.add_twin_deferred(closer.drain_twins())
            metrics.add_cells_set_apart(closer.drain_set_apart())
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
            metrics.replace_series(latest)  # evicted and moved-away disappear
        if watermark is not None:
            metrics.set_watermark(watermark)
            if self.rules.mutes:
                metrics.set_mutes_active(mute_states(self.rules, watermark))
