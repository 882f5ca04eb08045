"""Intake: raw input records in, typed events or dead letters out (no I/O).

The Kafka runtime and ``replay`` both feed records through :class:`Intake`, so
validation, de-duplication and the outcome counts are one code path.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal

from streams.contract.deadletter import DeadLetter
from streams.contract.events import Event, TopicName
from streams.contract.validation import decode_event
from streams.exceptions import InvalidEvent
from streams.logs import get_logger
from streams.pipeline.dedup import RecentIds

__all__ = ["EventHandler", "Intake", "Outcome"]

log = get_logger(__name__)

Outcome = Literal["ok", "invalid", "late", "duplicate"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("ok", "invalid", "late", "duplicate")

#: Receives each valid, first-seen event with its partition; returns ``False`` if late;
#: raises :class:`InvalidEvent` for an event that contradicts the partition's state (a
#: delivery before its shipment), which is then dead-lettered with that reason.
EventHandler = Callable[[TopicName, int, int, Event], bool]


class Intake:
    """Validate and de-duplicate records, hand good events on, collect dead letters.

    Parameters
    ----------
    on_event
        Called for every valid, first-seen event as ``(topic, partition, offset, event)``;
        returns ``False`` when the event is too late for its window.
    topic_names
        Full topic name for each short name (for dead-letter headers).
    max_event_bytes
        Larger values are dead-lettered as ``too_large`` without being parsed.
    dedup_capacity
        Recent ``event_id`` values remembered per input partition.
    max_future_ms
        Events stamped more than this ahead of the wall clock are dead-lettered as
        ``bad_timestamp``; ``None`` accepts any time up to 2100.
    """

    def __init__(
        self,
        on_event: EventHandler,
        topic_names: dict[TopicName, str],
        *,
        max_event_bytes: int = 1_048_576,
        dedup_capacity: int = 50_000,
        max_future_ms: int | None = None,
    ) -> None:
        self.on_event = on_event
        self.topic_names = topic_names
        self.max_event_bytes = max_event_bytes
        self.dedup_capacity = dedup_capacity
        #: Events stamped more than this ahead of the wall clock are refused (None: no limit).
        self.max_future_ms = max_future_ms
        self._recent: dict[tuple[TopicName, int], RecentIds] = {}
        #: Outcome counts since the last :meth:`drain_counts`, by (topic, outcome).
        self.counts: Counter[tuple[TopicName, Outcome]] = Counter()
        #: Dead-letter counts since the last :meth:`drain_counts`, by (topic, reason).
        self.reasons: Counter[tuple[TopicName, str]] = Counter()

    def process(
        self,
        topic: TopicName,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
    ) -> DeadLetter | None:
        """Process one record; return the dead letter to publish, if it is rejected.

        Never raises: a record whose handling fails for any reason is dead-lettered as
        ``internal_error`` (with the exception type) and the next record goes on.
        """
        try:
            return self._process(topic, partition, offset, key, value)
        except Exception as exc:  # noqa: BLE001 - one record must never stop the worker
            detail = f"{type(exc).__name__}: {exc}"
            log.error(
                "record_failed", topic=topic, partition=partition, offset=offset, error=detail[:300]
            )
            error = InvalidEvent("internal_error", detail[:300])
            return self._reject(
                error,
                "invalid",
                topic,
                partition,
                offset,
                key,
                value,
                error_type=type(exc).__name__,
            )

    def _process(
        self, topic: TopicName, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> DeadLetter | None:
        latest = (
            None if self.max_future_ms is None else int(time.time() * 1000) + self.max_future_ms
        )
        try:
            event = decode_event(topic, value, self.max_event_bytes, latest)
        except InvalidEvent as error:
            return self._reject(error, "invalid", topic, partition, offset, key, value)
        recent = self._recent.get((topic, partition))
        if recent is None:
            recent = self._recent[(topic, partition)] = RecentIds(self.dedup_capacity)
        if recent.seen(event.event_id):
            duplicate = InvalidEvent(
                "duplicate", f"event_id {event.event_id[:80]!r} already processed", "event_id"
            )
            return self._reject(duplicate, "duplicate", topic, partition, offset, key, value)
        try:
            on_time = self.on_event(topic, partition, offset, event)
        except InvalidEvent as error:  # contradicts what the partition knows (order state)
            return self._reject(error, "invalid", topic, partition, offset, key, value)
        if not on_time:
            late = InvalidEvent(
                "late",
                "its window was already sealed (event time behind the partition's watermark)",
                "ts",
            )
            return self._reject(late, "late", topic, partition, offset, key, value)
        self.counts[(topic, "ok")] += 1
        return None

    def forget_partition(self, topic: TopicName, partition: int) -> None:
        """Drop the de-duplication memory of a partition this worker no longer owns."""
        self._recent.pop((topic, partition), None)

    def drain_counts(
        self,
    ) -> tuple[Counter[tuple[TopicName, Outcome]], Counter[tuple[TopicName, str]]]:
        """Return and reset the outcome and dead-letter-reason counts."""
        counts, reasons = self.counts, self.reasons
        self.counts, self.reasons = Counter(), Counter()
        return counts, reasons

    def _reject(
        self,
        error: InvalidEvent,
        outcome: Outcome,
        topic: TopicName,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        *,
        error_type: str | None = None,
    ) -> DeadLetter:
        self.counts[(topic, outcome)] += 1
        self.reasons[(topic, error.reason)] += 1
        return DeadLetter.from_error(
            error,
            key=key,
            value=value,
            source_topic=self.topic_names.get(topic, str(topic)),
            source_partition=partition,
            source_offset=offset,
            error_type=error_type,
        )
