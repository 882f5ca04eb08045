"""Warm start: build the closers' baselines from history and hand them to the workers.

Size: the warm start end to end: replaying history through the pipeline, reading the
live layout from the broker and publishing the state the workers restore from.

A new deployment's window rules learn for ``grace_period`` windows (and their
weekday profile for weeks) before they alert. ``aftersales backfill`` runs an
export of that history (JSONL, the ``replay`` format) through the replay code
path (:class:`~streams.pipeline.replay.Stage1`, the wire encoding and
:class:`~streams.pipeline.closer.WindowCloser`) with one closer per partition of the
partials topic, each series routed as the worker routes it
(:func:`~streams.pipeline.wire.closer_partition`), then writes each closer's snapshot to
the checkpoints topic. A worker assigned that partition restores the snapshot
exactly as after a restart (``Worker._closer_assigned``): same code, nothing new
to trust.

Why snapshots on the checkpoints topic rather than files a worker option loads:
the worker already restores from there with every partition handover, the
snapshot carries the routing (a file would have to be split per partition and
shipped to whichever worker gets it), and no worker needs a new option.

The hand-over point: each closer closes a rule's windows up to the history's
watermark. Windows after that are built from the live input topics, which must
hold the events from the first open window on (:attr:`BackfillResult.live_from_ms`):
an overlap is harmless (partials of closed windows are dropped as late, per-event
alerts are recognised by id), a gap reads as silence (empty windows). Episodes
still open at the end of the history are published as ``firing`` so the live
worker's later ``resolved`` has its opening event on the topic.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alerts.model import AlertEvent
from alerts.text import AlertTexts
from streams.contract.deadletter import DeadLetter
from streams.contract.events import TOPICS, TopicName
from streams.contract.validation import parse_ts
from streams.exceptions import InvalidEvent, TopicError
from streams.logs import get_logger
from streams.pipeline.aggregate import EventAlert
from streams.pipeline.closer import WindowCloser
from streams.pipeline.oncall import OnCall
from streams.pipeline.replay import KEY_FIELDS, Stage1, Stage1Output, partition_for
from streams.pipeline.wire import (
    RiskFacts,
    Watermark,
    closer_partition,
    decode,
    encode_event_alert,
    encode_watermark,
    pack_partials,
    pack_risk_facts,
)
from streams.rules.calendar import Calendar
from streams.rules.catalogue import RuleSet
from streams.runtime.checkpoint import CheckpointStore
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options
from streams.runtime.topics import TopicNames, ensure_topics

__all__ = [
    "BackfillPipeline",
    "BackfillResult",
    "Layout",
    "StateExists",
    "earliest_events",
    "hand_over_gaps",
    "publish_state",
    "read_layout",
]

log = get_logger(__name__)


class StateExists(TopicError):
    """The checkpoints topic already holds snapshots: a worker has run."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The deployment's partition counts, as the worker will see them."""

    #: Partitions of each input topic (every one is a source of its rules' watermark).
    inputs: dict[TopicName, int]
    #: Partition ids of the partials topic (one closer each).
    closers: list[int]
    #: Checkpoints-topic partitions that already hold records.
    occupied: list[int] = field(default_factory=list)


@dataclass(slots=True)
class BackfillResult:
    """What a backfill learned, for the summary line and the tests."""

    lines: int = 0
    #: Alerts the history raised, by status (not published; ``--out`` writes them).
    alerts: Counter[str] = field(default_factory=Counter)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Event time from which the live input topics must hold every event (``None``: no
    #: window was closed).
    live_from_ms: int | None = None
    #: Risk records the history's orders were scored with (not published: the history
    #: only warms the customers, SKUs and cells the live worker's risk score starts from).
    risk_records: int = 0


class BackfillPipeline:
    """Replay history into one :class:`WindowCloser` per partials partition.

    Records are routed like the live pipeline routes them: an input record to the
    partition Kafka's default partitioner picks for its key in that topic, a
    per-event verdict and a partial to the closer of its series, every watermark to
    every closer; each crosses the wire encoding, as in :class:`ReplayPipeline`.
    """

    def __init__(
        self,
        rules: RuleSet,
        layout: Layout,
        *,
        texts: AlertTexts | None = None,
        calendar: Calendar | None = None,
        topic_prefix: str = "aftersales.",
        max_future_ms: int | None = 86_400_000,
        batch_size: int = 2_000,
        risk: bool = True,
    ) -> None:
        self.rules = rules
        self.layout = layout
        self.batch_size = batch_size
        self.stage1 = Stage1(
            rules, {t: f"{topic_prefix}{t}" for t in TOPICS}, max_future_ms=max_future_ms, risk=risk
        )
        shards = len(layout.closers)
        self.closers = [
            WindowCloser(
                rules,
                layout.inputs,
                texts or AlertTexts(),
                shards=shards,
                oncall=OnCall(rules.mutes, calendar, {}),
                risk=risk,  # the worker's closers score orders; their snapshot carries it
            )
            for _ in layout.closers
        ]
        self.result = BackfillResult()
        self._offsets: dict[tuple[TopicName, int], int] = {}

    def run(self, records: Iterable[tuple[str, bytes | None, bytes | None]]) -> list[AlertEvent]:
        """Process ``(topic, key, value)`` records in order; return the history's alerts.

        Bad records are dead-lettered with a reason (:attr:`BackfillResult.dead_letters`),
        as ``replay`` does; an unknown topic too.
        """
        out = Stage1Output()
        alerts: list[AlertEvent] = []
        result = self.result
        pending = 0
        for topic, key, value in records:
            result.lines += 1
            if topic not in KEY_FIELDS:
                result.dead_letters.append(
                    DeadLetter(
                        key,
                        value,
                        f"backfill:{topic}"[:200],
                        0,
                        result.lines - 1,
                        "unknown_topic",
                        f"topic {topic[:80]!r} is not one of {sorted(KEY_FIELDS)}",
                    )
                )
                continue
            name: TopicName = topic
            partitions = self.layout.inputs[name]
            partition = partition_for(key, partitions) if key is not None else 0
            offset = self._offsets.get((name, partition), 0)
            self._offsets[(name, partition)] = offset + 1
            self.stage1.process(name, partition, offset, key, value, out)
            pending += 1
            if pending >= self.batch_size:
                pending = 0
                self.stage1.seal(out)
                alerts += self._deliver(out)
        self.stage1.seal(out)
        alerts += self._deliver(out)
        result.alerts.update(alert.status for alert in alerts)
        result.live_from_ms = self._live_from()
        return alerts

    def _deliver(self, out: Stage1Output) -> list[AlertEvent]:
        closers = self.closers
        shards = len(closers)
        alerts: list[AlertEvent] = []
        for verdict in out.verdicts:
            decoded = decode(encode_event_alert(verdict))
            assert isinstance(decoded, EventAlert)
            alerts += closers[closer_partition(decoded.route, shards)].on_event_alert(decoded)
        for index, record in pack_partials(out.partials, shards):
            partials = decode(record)
            assert isinstance(partials, list)
            for sealed in partials:
                closers[index].on_partial(sealed)
        for index, record in pack_risk_facts(out.risk_facts, shards):
            facts = decode(record)
            assert isinstance(facts, RiskFacts)
            risk = closers[index].risk
            assert risk is not None
            for fact in facts:
                risk.on_fact(fact)
        for source, mark in out.watermarks:
            decoded_mark = decode(encode_watermark(source, mark))
            assert isinstance(decoded_mark, Watermark)
            for closer in closers:
                alerts += closer.on_watermark(decoded_mark.source, decoded_mark.watermark_ms)
                if closer.risk is not None:  # None with risk=False
                    self.result.risk_records += len(closer.risk.drain())
        self.result.dead_letters.extend(out.dead_letters)
        out.partials.clear()
        out.verdicts.clear()
        out.watermarks.clear()
        out.dead_letters.clear()
        out.risk_facts.clear()
        return alerts

    def _live_from(self) -> int | None:
        """Start of the earliest window no closer has closed, over the window rules that
        closed any: the live topics must hold every event from there on."""
        starts = [
            through + rule.hop_ms
            for rule in self.rules.rules
            if rule.kind != "event"
            for closer in self.closers
            if (through := closer.closed_through.get(rule.name)) is not None
        ]
        return min(starts, default=None)

    def open_alerts(self) -> list[AlertEvent]:
        """The ``firing`` event of every episode still open at the end of the history."""
        return [event for closer in self.closers for _, event in sorted(closer.open_alerts.items())]


async def read_layout(settings: Settings) -> Layout:
    """Create the service's topics if missing (as the worker does) and read the partition
    counts the workers will run with, and which checkpoint partitions are in use."""
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, names)
    options = client_options(settings)
    producer = AIOKafkaProducer(**options)
    await producer.start()
    try:
        metadata = await producer.client.fetch_all_metadata()
    finally:
        await producer.stop()
    inputs: dict[TopicName, int] = {}
    for short, full in names.inputs.items():
        partitions = metadata.partitions_for_topic(full)
        if not partitions:
            raise TopicError(f"input topic {full} does not exist")
        inputs[short] = len(partitions)
    closers = sorted(metadata.partitions_for_topic(names.partials) or ())
    if not closers:
        raise TopicError(f"topic {names.partials} has no partitions")
    ends = await _ends(
        options, names.checkpoints, metadata.partitions_for_topic(names.checkpoints) or set()
    )
    occupied = sorted(int(p) for p, end in ends.items() if end > 0)
    return Layout(inputs, closers, occupied)


async def earliest_events(
    settings: Settings, layout: Layout, rules: RuleSet, timeout_s: float = 5.0
) -> dict[str, int | None]:
    """Event time of the first retained record of every partition of the input topics the
    window rules read (``None``: empty, or no readable first record within ``timeout_s``),
    keyed ``"<topic>/<partition>"``."""
    names = TopicNames.from_settings(settings)
    read = {topic for rule in rules.rules if rule.kind != "event" for topic in rule.topics}
    tps = {
        TopicPartition(names.inputs[topic], p): f"{topic}/{p}"
        for topic, count in layout.inputs.items()
        if topic in read
        for p in range(count)
    }
    if not tps:
        return {}
    found: dict[str, int | None] = dict.fromkeys(tps.values())
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, max_partition_fetch_bytes=64 * 1024
    )
    await consumer.start()
    try:
        consumer.assign(list(tps))
        await consumer.seek_to_beginning()
        waiting = set(tps)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while waiting and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(*waiting, timeout_ms=500)
            for tp, messages in batch.items():
                if messages and tp in waiting:
                    waiting.discard(tp)
                    found[tps[tp]] = _event_ms(messages[0].value)
    finally:
        await consumer.stop()
    return found


def _event_ms(value: bytes | None) -> int | None:
    try:
        return parse_ts(json.loads(value or b"")["ts"])
    except (ValueError, KeyError, TypeError, InvalidEvent):
        return None


def hand_over_gaps(live_from_ms: int, earliest: Mapping[str, int | None]) -> list[str]:
    """The input partitions whose first retained event is later than ``live_from_ms`` (or
    that hold none): between the two, their windows will read as silence."""
    return sorted(
        source for source, first in earliest.items() if first is None or first > live_from_ms
    )


async def publish_state(
    settings: Settings, pipeline: BackfillPipeline, *, force: bool = False
) -> int:
    """Publish the open episodes' ``firing`` events, then write every closer's snapshot to
    its checkpoints partition; return the bytes written.

    The snapshot's marker holds the partials-topic offset to resume at (the current end:
    everything the history covers is in the snapshot) and the alerts topic's ends (what
    the worker reads back to avoid publishing an alert twice). Refused when a worker has
    already written snapshots, unless ``force`` (stop every worker first: a running one
    would overwrite these, or resume from a mix).
    """
    names = TopicNames.from_settings(settings)
    layout = pipeline.layout
    if layout.occupied and not force:
        raise StateExists(
            f"{names.checkpoints} already holds snapshots (partitions "
            f"{layout.occupied}): a worker has run here and backfill would "
            "replace its state; stop every worker and pass --force"
        )
    snapshots = [closer.snapshot() for closer in pipeline.closers]
    for partition, payload in zip(layout.closers, snapshots, strict=True):
        if len(payload) > settings.max_snapshot_bytes:
            raise TopicError(
                f"closer snapshot of partition {partition} is {len(payload):,} "
                f"bytes, over AFTERSALES_MAX_SNAPSHOT_BYTES="
                f"{settings.max_snapshot_bytes:,}: the worker would refuse it; "
                "lower max_series / idle_ttl in the rules file or raise it"
            )
    options = client_options(settings)
    producer = AIOKafkaProducer(
        **options,
        client_id=f"{settings.app_id}-backfill",
        acks="all",
        max_request_size=8 * 1_048_576,
    )
    await producer.start()
    try:
        opened = pipeline.open_alerts()
        sends = [
            await producer.send(names.alerts, alert.to_json(), key=alert.kafka_key.encode())
            for alert in opened
        ]
        await asyncio.gather(*sends)
        metadata = await producer.client.fetch_all_metadata()
        alerts_high = await _ends(
            options, names.alerts, metadata.partitions_for_topic(names.alerts) or set()
        )
        partials_end = await _ends(options, names.partials, set(layout.closers))
        store = CheckpointStore(producer, options, names.checkpoints)
        for partition, payload in zip(layout.closers, snapshots, strict=True):
            marker = {
                "position": partials_end.get(str(partition), 0),
                "alerts_high": alerts_high,
                "backfill": True,
            }
            await store.write(partition, payload, marker)
            log.info(
                "backfill_snapshot_written",
                partition=partition,
                bytes=len(payload),
                position=marker["position"],
            )
    finally:
        await producer.stop()
    return sum(len(payload) for payload in snapshots)


async def _ends(options: Mapping[str, Any], topic: str, partitions: set[int]) -> dict[str, int]:
    """End offset of each of ``partitions`` of ``topic``, keyed by the partition as text."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps)
        return {str(tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()
