"""Both stages in one process: what ``replay`` runs, and what each worker runs per batch.

:class:`Stage1` turns raw input records into sealed partials, per-event verdicts
and watermarks (one :class:`~streams.pipeline.aggregate.SourceAggregator` per input
partition). :class:`ReplayPipeline` connects it to a
:class:`~streams.pipeline.closer.WindowCloser` in memory, through the wire encoding, so
a replay decides exactly what the Kafka pipeline decides.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from alerts.incidents import IncidentFolder
from alerts.model import AlertEvent
from alerts.text import AlertTexts
from streams.contract.deadletter import DeadLetter
from streams.contract.events import TOPICS, Event, TopicName
from streams.pipeline.aggregate import EventAlert, SealedPartial, SourceAggregator
from streams.pipeline.closer import WindowCloser
from streams.pipeline.intake import Intake
from streams.pipeline.murmur import murmur2
from streams.pipeline.oncall import OnCall
from streams.pipeline.wire import (
    RiskFacts,
    Watermark,
    decode,
    encode_event_alert,
    encode_watermark,
    pack_partials,
    pack_risk_facts,
)
from streams.risk import RiskFact, RiskRecord, RiskScorer, RiskShard, fact_from_event
from streams.risk.shard import risk_sources
from streams.rules.calendar import Calendar
from streams.rules.catalogue import RuleSet

__all__ = [
    "KEY_FIELDS",
    "ReplayPipeline",
    "Stage1",
    "Stage1Output",
    "fold_incidents",
    "partition_for",
]

#: The Kafka key of each input topic's records (contract section 1).
KEY_FIELDS: dict[TopicName, str] = {
    "orders": "order_id",
    "complaints": "complaint_id",
    "wait-times": "ticket_id",
    "reviews": "review_id",
}


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) picks for ``key``."""
    digest: int = murmur2(key)  # aiokafka is untyped
    return (digest & 0x7FFFFFFF) % partitions


@dataclass(slots=True)
class Stage1Output:
    """What one batch of input produced."""

    partials: list[SealedPartial] = field(default_factory=list)
    verdicts: list[EventAlert] = field(default_factory=list)
    watermarks: list[tuple[str, int]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Facts for the per-order risk scorer (streams.risk), routed by customer.
    risk_facts: list[RiskFact] = field(default_factory=list)


class Stage1:
    """Intake plus one aggregator per input partition (source)."""

    def __init__(
        self,
        rules: RuleSet,
        topic_names: dict[TopicName, str],
        *,
        max_event_bytes: int = 1_048_576,
        dedup_capacity: int = 50_000,
        max_future_ms: int | None = None,
        risk: bool = True,
    ) -> None:
        self.rules = rules
        #: Whether events make facts for the per-order risk scorer.
        self.risk = risk
        self.aggregators: dict[tuple[TopicName, int], SourceAggregator] = {}
        self._verdicts: list[EventAlert] = []
        self._risk_facts: list[RiskFact] = []
        self._sent_watermarks: dict[str, int] = {}
        #: Partials sealed so far, by rule (benchmarks and tests read it).
        self.sealed: Counter[str] = Counter()
        self.intake = Intake(
            self._on_event,
            topic_names,
            max_event_bytes=max_event_bytes,
            dedup_capacity=dedup_capacity,
            max_future_ms=max_future_ms,
        )

    def aggregator(self, topic: TopicName, partition: int) -> SourceAggregator:
        """The aggregator of one input partition, created on first use."""
        agg = self.aggregators.get((topic, partition))
        if agg is None:
            agg = SourceAggregator(f"{topic}/{partition}", topic, self.rules)
            self.aggregators[(topic, partition)] = agg
        return agg

    def _on_event(self, topic: TopicName, partition: int, offset: int, event: Event) -> bool:
        on_time, verdicts = self.aggregator(topic, partition).add(event, offset)
        if verdicts:
            self._verdicts.extend(verdicts)
        if self.risk:
            fact = fact_from_event(event)
            if fact is not None:
                self._risk_facts.append(fact)
        return on_time

    def process(
        self,
        topic: TopicName,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        out: Stage1Output,
    ) -> None:
        """Feed one raw record."""
        dead = self.intake.process(topic, partition, offset, key, value)
        if dead is not None:
            out.dead_letters.append(dead)
        if self._verdicts:
            out.verdicts.extend(self._verdicts)
            self._verdicts.clear()
        if self._risk_facts:
            out.risk_facts.extend(self._risk_facts)
            self._risk_facts.clear()

    def seal(self, out: Stage1Output) -> None:
        """Seal every window the sources' watermarks passed; report moved watermarks."""
        for topic, partition in sorted(self.aggregators):
            agg = self.aggregators[(topic, partition)]
            sealed = agg.seal()
            if sealed:
                out.partials.extend(sealed)
                self.sealed.update(partial.rule for partial in sealed)
            mark = agg.watermark_ms
            if mark is not None and mark > self._sent_watermarks.get(agg.source, -(1 << 62)):
                self._sent_watermarks[agg.source] = mark
                out.watermarks.append((agg.source, mark))

    def drain_evictions(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Norms evicted by (rule, reason) and not created by rule, over every source,
        since the last call."""
        evicted: Counter[tuple[str, str]] = Counter()
        folded: Counter[str] = Counter()
        for agg in self.aggregators.values():
            more_evicted, more_folded = agg.drain_evictions()
            evicted.update(more_evicted)
            folded.update(more_folded)
        return evicted, folded

    def forget(self, topic: TopicName, partition: int) -> None:
        """Drop the state of a partition this worker no longer owns."""
        agg = self.aggregators.pop((topic, partition), None)
        if agg is not None:
            self._sent_watermarks.pop(agg.source, None)
        self.intake.forget_partition(topic, partition)


class ReplayPipeline:
    """Replay JSONL input through both stages without Kafka."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        partitions: int = 4,
        topic_prefix: str = "aftersales.",
        batch_size: int = 2_000,
        texts: AlertTexts | None = None,
        max_future_ms: int | None = 86_400_000,
        calendar: Calendar | None = None,
        sensitivity: dict[str, float] | None = None,
        risk: bool = True,
    ) -> None:
        """``risk=False`` scores no orders: alerts only, about a quarter less CPU, and no
        risk records kept for :meth:`take_risk`."""
        self.partitions = partitions
        self.batch_size = batch_size
        self.stage1 = Stage1(
            rules,
            {t: f"{topic_prefix}{t}" for t in TOPICS},
            max_future_ms=max_future_ms,
            risk=risk,
        )
        self.closer = WindowCloser(
            rules,
            dict.fromkeys(TOPICS, partitions),
            texts or AlertTexts(),
            shards=partitions,
            oncall=OnCall(rules.mutes, calendar, sensitivity),
        )
        #: Folds many alerts of a rule under one parent into an incident (alerts.incidents).
        self.folder = IncidentFolder(rule.name for rule in rules.rules if rule.kind == "ratio")
        self._offsets: dict[tuple[TopicName, int], int] = {}
        #: One risk shard per partials partition, as the worker's closers hold them.
        self.risk_shards = [
            RiskShard(
                risk_sources(dict.fromkeys(TOPICS, partitions)),
                RiskScorer(max_keys=rules.risk_max_keys),
            )
            for _ in range(partitions if risk else 0)
        ]
        #: Risk records scored so far and not yet taken (see :meth:`take_risk`).
        self.risk_records: list[RiskRecord] = []
        #: Called with each risk record as it is scored, instead of keeping it (``--risk-out``).
        self.on_risk: Callable[[RiskRecord], None] | None = None
        self.dead_letters: list[DeadLetter] = []
        self.lines = 0

    def run(
        self, records: Iterable[tuple[str, bytes | None, bytes | None]]
    ) -> Iterator[AlertEvent]:
        """Process ``(topic, key, value)`` records in order; yield alerts as they happen.

        A record of an unknown topic is dead-lettered (``unknown_topic``), never fatal.
        """
        out = Stage1Output()
        pending = 0
        for topic, key, value in records:
            if topic not in KEY_FIELDS:
                self.dead_letters.append(
                    DeadLetter(
                        key,
                        value,
                        f"replay:{topic}"[:200],
                        0,
                        self.lines,
                        "unknown_topic",
                        f"topic {topic[:80]!r} is not one of {sorted(KEY_FIELDS)}",
                    )
                )
                self.lines += 1
                continue
            partition = partition_for(key, self.partitions) if key is not None else 0
            offset = self._offsets.get((topic, partition), 0)
            self._offsets[(topic, partition)] = offset + 1
            self.stage1.process(topic, partition, offset, key, value, out)
            self.lines += 1
            pending += 1
            if out.verdicts:
                yield from self._deliver(out)
            if pending >= self.batch_size:
                pending = 0
                self.stage1.seal(out)
                yield from self._deliver(out)
        self.stage1.seal(out)
        yield from self._deliver(out)

    def _deliver(self, out: Stage1Output) -> Iterator[AlertEvent]:
        closer = self.closer
        for verdict in out.verdicts:
            decoded = decode(encode_event_alert(verdict))
            assert isinstance(decoded, EventAlert)
            yield from closer.on_event_alert(decoded)
        for _, record in pack_partials(out.partials, 1):
            decoded_partials = decode(record)
            assert isinstance(decoded_partials, list)
            for sealed in decoded_partials:
                closer.on_partial(sealed)
        for partition, record in pack_risk_facts(out.risk_facts, self.partitions):
            decoded_facts = decode(record)
            assert isinstance(decoded_facts, RiskFacts)
            for fact in decoded_facts:
                self.risk_shards[partition].on_fact(fact)
        for source, mark in out.watermarks:
            decoded_mark = decode(encode_watermark(source, mark))
            assert isinstance(decoded_mark, Watermark)
            for shard in self.risk_shards:
                shard.on_watermark(decoded_mark.source, decoded_mark.watermark_ms)
                self.risk_records.extend(shard.drain())
            closed = closer.on_watermark(decoded_mark.source, decoded_mark.watermark_ms)
            yield from closed
            yield from fold_incidents(self.folder, [closer], closed)
        self.dead_letters.extend(out.dead_letters)
        out.partials.clear()
        out.verdicts.clear()
        out.watermarks.clear()
        out.dead_letters.clear()
        out.risk_facts.clear()
        if self.on_risk is not None:
            for risk in self.take_risk():
                self.on_risk(risk)

    def take_risk(self) -> list[RiskRecord]:
        """Risk records scored since the last call (what the worker publishes)."""
        records, self.risk_records = self.risk_records, []
        return records


def fold_incidents(
    folder: IncidentFolder, closers: Iterable[WindowCloser], alerts: list[AlertEvent]
) -> list[AlertEvent]:
    """Feed ``alerts`` to ``folder``; return the incident events of every window rule up to
    the lowest watermark of ``closers`` (all of them have closed those windows)."""
    folder.add(alerts)
    closers = list(closers)
    if not closers:
        return []
    out: list[AlertEvent] = []
    for rule in closers[0].rules.rules:
        if rule.kind == "event":
            continue
        marks = [closer.rule_watermark(rule) for closer in closers]
        if any(mark is None for mark in marks):
            continue
        out.extend(folder.advance(rule.name, min(m for m in marks if m is not None)))
    return out


def read_jsonl(lines: Iterable[bytes | str]) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    """Records from replay input lines ``{"topic": ..., "value": {...}}``.

    Lines are best given as bytes (the file opened in binary): a line that is not UTF-8,
    or not such an object, is passed on as a raw value of ``orders`` so it is
    dead-lettered like a bad record on Kafka would be, and the replay goes on. A UTF-8
    byte-order mark before the first line is skipped. The topic is passed on as written;
    :meth:`ReplayPipeline.run` dead-letters an unknown one.
    """
    first = True
    for line in lines:
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        if first:
            first = False
            raw = raw.removeprefix(_BOM)
        if not raw.strip():
            continue
        try:
            try:
                # msgspec (C) first; what it refuses (NaN, lone surrogates, deep nesting)
                # as json did before, so such a line is judged as it always was.
                obj: Any = _loads(raw)
                topic = obj["topic"]
                value = obj["value"]
                encoded = _dumps(value)
            except (msgspec.DecodeError, msgspec.EncodeError, UnicodeEncodeError):
                obj = json.loads(raw)
                topic = obj["topic"]
                value = obj["value"]
                encoded = json.dumps(value, separators=(",", ":")).encode()
            if not isinstance(topic, str):
                raise TypeError("topic")  # noqa: TRY301 - handled as any malformed line
        except (ValueError, KeyError, TypeError, RecursionError):
            yield "orders", None, raw.rstrip(b"\r\n")
            continue
        # Any string may come from the file: an unknown topic simply has no key field.
        field_name = KEY_FIELDS.get(topic)  # type: ignore[call-overload]
        key_value = value.get(field_name) if field_name and isinstance(value, dict) else None
        key = None if key_value is None else str(key_value).encode("utf-8", "surrogatepass")
        yield topic, key, encoded


_loads = msgspec.json.Decoder().decode
_dumps = msgspec.json.Encoder().encode


_BOM = b"\xef\xbb\xbf"
