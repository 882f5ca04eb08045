"""The stream processor against Kafka: two loops around the pure pipeline.

* **Intake** (stage 1) consumes the input topics in batches with aiokafka,
  validates, de-duplicates and aggregates per input partition
  (:class:`~streams.pipeline.Stage1`), then publishes dead letters, sealed
  partials and per-event verdicts (keyed by series) and every moved source
  watermark (to each partition) on the internal partials topic. Input offsets
  are committed only after those records are acknowledged, and never past the
  first offset an open window still depends on.
* **Closer** (stage 2) consumes the partials topic: one
  :class:`~streams.closer.WindowCloser` per partition, so a series lives in
  exactly one place. It closes windows, runs episodes and publishes alerts to
  the alerts topic (and any extra sinks), then commits.

Why not a Faust agent per event: Faust's consumer pipeline costs ~170 us per
message (about 6,000 events/s on the reference machine, see README "Broker
notes"); batching with aiokafka and aggregating in memory removes that
per-event cost, and the partials topic carries one record per series per
window instead of one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent, SeriesRef
from alerts.sinks import AlertSink
from alerts.text import AlertTexts
from streams.aggregate import EventAlert, SealedPartial
from streams.closer import WindowCloser
from streams.config import Settings
from streams.events import TopicName
from streams.logs import get_logger
from streams.pipeline import Stage1, Stage1Output
from streams.rules import RuleSet
from streams.topics import TopicNames, ensure_topics
from streams.wire import Watermark, decode, encode_event_alert, encode_partial, encode_watermark

__all__ = ["Worker"]

log = get_logger(__name__)

_MAX_REQUEST_BYTES = 64 * 1_048_576


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
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
    """

    def __init__(self, settings: Settings, rules: RuleSet, metrics: AlertMetrics,
                 sinks: Sequence[AlertSink] = (), *, create_input_topics: bool = True) -> None:
        self.settings = settings
        self.rules = rules
        self.metrics = metrics
        self.sinks = list(sinks)
        self.create_input_topics = create_input_topics
        self.names = TopicNames.from_settings(settings)
        self.texts = AlertTexts()
        self.stage1 = Stage1(rules, self.names.inputs, max_event_bytes=settings.max_event_bytes,
                             dedup_capacity=settings.dedup_capacity)
        self.closers: dict[int, WindowCloser] = {}
        self.input_partitions: dict[TopicName, int] = {}
        self.partials_partitions: list[int] = []
        self.producer: AIOKafkaProducer | None = None
        self._intake: AIOKafkaConsumer | None = None
        self._closer: AIOKafkaConsumer | None = None
        self.started = asyncio.Event()
        #: Alerts published so far (for tests and the demo).
        self.alerts_published = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create topics, connect, join both consumer groups."""
        settings = self.settings
        await ensure_topics(settings, self.names, inputs=self.create_input_topics)
        common: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers,
                                  "client_id": settings.app_id}
        self.producer = AIOKafkaProducer(**common, linger_ms=5, acks="all",
                                         max_request_size=_MAX_REQUEST_BYTES,
                                         max_batch_size=1_048_576)
        await self.producer.start()
        metadata = await self.producer.client.fetch_all_metadata()
        for short, full in self.names.inputs.items():
            partitions = metadata.partitions_for_topic(full)
            if not partitions:
                raise RuntimeError(f"input topic {full} does not exist")
            self.input_partitions[short] = len(partitions)
        self.partials_partitions = sorted(metadata.partitions_for_topic(self.names.partials) or [])
        group: dict[str, Any] = {
            **common,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": settings.session_timeout_ms,
            "heartbeat_interval_ms": settings.heartbeat_interval_ms,
            "rebalance_timeout_ms": settings.session_timeout_ms,
            "max_poll_interval_ms": 300_000,
            "fetch_max_bytes": 64 * 1_048_576,
            "max_partition_fetch_bytes": _MAX_REQUEST_BYTES,
        }
        self._closer = AIOKafkaConsumer(**group, group_id=f"{settings.app_id}-closer")
        self._closer.subscribe([self.names.partials], listener=_Revocations(
            self._closer_revoked, self._closer_assigned))
        self._intake = AIOKafkaConsumer(**group, group_id=f"{settings.app_id}-intake")
        self._intake.subscribe(list(self.names.inputs.values()), listener=_Revocations(
            self._intake_revoked, self._intake_assigned))
        await self._closer.start()
        await self._intake.start()
        for sink in self.sinks:
            await sink.start()
        self.metrics.set_broker_connected(True)
        log.info("worker_started", inputs=self.input_partitions,
                 partials_partitions=len(self.partials_partitions))

    async def stop(self) -> None:
        """Leave the groups and close connections (offsets are committed per batch)."""
        for consumer in (self._intake, self._closer):
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer.stop()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                await sink.stop()
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        log.info("worker_stopped", alerts_published=self.alerts_published)

    async def run(self) -> None:
        """Start, then run both loops until cancelled; always stop cleanly."""
        try:
            await self.start()
            self.started.set()
            await asyncio.gather(self._intake_loop(), self._closer_loop())
        finally:
            await self.stop()

    # -- stage 1 -----------------------------------------------------------------------------

    async def _intake_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("intake_assigned", partitions=sorted(f"{tp.topic}/{tp.partition}"
                                                     for tp in assigned))

    async def _intake_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.stage1.forget(self.names.input_short_name(tp.topic), tp.partition)

    async def _intake_loop(self) -> None:
        consumer = self._intake
        assert consumer is not None
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            out = Stage1Output()
            arrived_ms = 0
            for tp, messages in batches.items():
                topic = self.names.input_short_name(tp.topic)
                for message in messages:
                    self.stage1.process(topic, tp.partition, message.offset, message.key,
                                        message.value, out)
                    arrived_ms = max(arrived_ms, message.timestamp)
            self.stage1.seal(out)
            if batches or out.partials or out.watermarks:
                await self._publish_stage1(out)
                await self._commit_intake(consumer, batches)
            self._count_intake()

    async def _publish_stage1(self, out: Stage1Output) -> None:
        producer = self.producer
        assert producer is not None
        sends = []
        for dead in out.dead_letters:
            sends.append(await producer.send(self.names.dead_letter, dead.value, key=dead.key,
                                             headers=dead.headers()))
        for verdict in out.verdicts:
            sends.append(await producer.send(self.names.partials, encode_event_alert(verdict),
                                             key=verdict.series.encode()))
        for sealed in out.partials:
            sends.append(await producer.send(self.names.partials, encode_partial(sealed),
                                             key=sealed.series.encode()))
        for source, mark in out.watermarks:
            record = encode_watermark(source, mark)
            for partition in self.partials_partitions:
                sends.append(await producer.send(self.names.partials, record,
                                                 partition=partition))
        if sends:
            await asyncio.gather(*sends)

    async def _commit_intake(self, consumer: AIOKafkaConsumer,
                             batches: dict[TopicPartition, Any]) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in consumer.assignment():
            topic = self.names.input_short_name(tp.topic)
            agg = self.stage1.aggregators.get((topic, tp.partition))
            if agg is None and tp not in batches:
                continue
            position = await consumer.position(tp)
            safe = position
            if agg is not None:
                first_open = agg.min_open_offset()
                if first_open is not None:
                    safe = min(safe, first_open)
            offsets[tp] = OffsetAndMetadata(safe, "")
        if offsets:
            await consumer.commit(offsets)

    def _count_intake(self) -> None:
        counts, reasons = self.stage1.intake.drain_counts()
        for (topic, outcome), n in counts.items():
            self.metrics.events_total.labels(topic, outcome).inc(n)
        for (topic, reason), n in reasons.items():
            self.metrics.dead_letter_total.labels(topic, reason).inc(n)

    # -- stage 2 -----------------------------------------------------------------------------

    async def _closer_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            if tp.partition not in self.closers:
                self.closers[tp.partition] = WindowCloser(self.rules, self.input_partitions,
                                                          self.texts)
        log.info("closer_assigned", partitions=sorted(tp.partition for tp in assigned))

    async def _closer_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.closers.pop(tp.partition, None)

    async def _closer_loop(self) -> None:
        consumer = self._closer
        assert consumer is not None
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            if not batches:
                continue
            alerts: list[AlertEvent] = []
            closed_any = False
            for tp, messages in batches.items():
                closer = self.closers.get(tp.partition)
                if closer is None:
                    continue
                for message in messages:
                    record = decode(message.value)
                    if isinstance(record, SealedPartial):
                        closer.on_partial(record)
                    elif isinstance(record, EventAlert):
                        alerts.extend(closer.on_event_alert(record))
                    elif isinstance(record, Watermark):
                        alerts.extend(closer.on_watermark(record.source, record.watermark_ms))
                        closed_any = True
            await self._publish_alerts(alerts)
            if closed_any:
                self._export_series()
            await consumer.commit()

    async def _publish_alerts(self, alerts: list[AlertEvent]) -> None:
        if not alerts:
            return
        producer = self.producer
        assert producer is not None
        sends = [await producer.send(self.names.alerts, alert.to_json(),
                                     key=alert.kafka_key.encode()) for alert in alerts]
        await asyncio.gather(*sends)
        for alert in alerts:
            self.metrics.record_alert(alert)
            for sink in self.sinks:
                sink.add(alert)
        for sink in self.sinks:
            await sink.flush()
        self.alerts_published += len(alerts)

    def _export_series(self) -> None:
        latest = {}
        watermark = None
        for closer in self.closers.values():
            for closed in closer.latest.values():
                latest[SeriesRef(closed.rule, closed.dimension, closed.key)] = closed.decision
            marks = [m for m in closer.watermarks.values()]
            if marks:
                low = min(marks)
                watermark = low if watermark is None else min(watermark, low)
        self.metrics.update_series(latest)
        if watermark is not None:
            self.metrics.set_watermark(watermark)

