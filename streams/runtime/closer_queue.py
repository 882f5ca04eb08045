"""The closer stage's queue: fetched partials-topic records, worked off in time slices.

A fetch of the partials topic brings per-event verdicts (keyed records) and window
records (sealed partials, risk facts and watermarks, without a key).
:meth:`CloserQueue.take` turns the verdicts into alerts at once and queues the window
records; :meth:`CloserQueue.work_off` applies them in order until a deadline, so a burst
of window work at a window seal (every series' partial at once) holds a per-event alert
back by one slice, not by the whole burst. ``positions`` is what a closer's snapshot
covers: per partition, the offset after the last record applied.

No Kafka here: a record is anything with ``key``, ``value`` and ``offset`` (aiokafka's
``ConsumerRecord``); the worker fetches, skips the partitions it is restoring, and
snapshots and commits at ``positions``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from alerts.model import AlertEvent
from streams.pipeline.aggregate import EventAlert, SealedPartial
from streams.pipeline.closer import WindowCloser
from streams.pipeline.wire import RiskFacts, Watermark, decode

__all__ = ["CloserQueue", "Record"]


class Record(Protocol):
    """What the queue reads of a fetched record."""

    @property
    def key(self) -> bytes | None:
        """``None`` for a window record, the series for a per-event verdict."""

    @property
    def value(self) -> bytes:
        """The encoded record (:func:`streams.pipeline.wire.decode`)."""

    @property
    def offset(self) -> int:
        """Its offset in its partition."""


#: Called with the partition, the record and the error for a record that cannot be
#: read or applied (it is skipped: one record must not stop alerting).
OnUnreadable = Callable[[int, Record, Exception], None]


class CloserQueue:
    """Fetched window records of the closer partitions ``closers`` owns, in fetch order.

    ``closers`` is the worker's live mapping (partition -> closer): a record of a
    partition no longer in it is dropped when its turn comes.
    """

    def __init__(self, closers: Mapping[int, WindowCloser], on_unreadable: OnUnreadable) -> None:
        self.closers = closers
        self.on_unreadable = on_unreadable
        #: Window records not yet applied, in order: ``(partition, record)``.
        self.pending: deque[tuple[int, Record]] = deque()
        #: How many records each partition has in ``pending``, and their bytes.
        self.queued: dict[int, int] = {}
        self.queued_bytes = 0
        #: Per partition: the offset after the last record applied.
        self.positions: dict[int, int] = {}
        #: Sealed partials applied so far (benchmarks compare it with those sent).
        self.partials_received = 0

    def take(self, partition: int, records: Sequence[Record]) -> list[AlertEvent]:
        """Queue ``partition``'s fetched window records; return the alerts of its verdicts.

        A verdict may be handled before window records fetched ahead of it: it does not
        depend on them, and a restart that reads it again finds its alert id in the
        closer's memory of alerts published.
        """
        closer = self.closers.get(partition)
        if closer is None:
            return []
        alerts: list[AlertEvent] = []
        for record in records:
            if record.key is not None:
                decoded = self._decode(partition, record)
                if decoded is None or isinstance(decoded, EventAlert):
                    if decoded is not None:
                        alerts.extend(closer.on_event_alert(decoded))
                    if not self.queued.get(partition):  # nothing earlier still waits
                        self.positions[partition] = record.offset + 1
                    continue
            self.pending.append((partition, record))
            self.queued[partition] = self.queued.get(partition, 0) + 1
            self.queued_bytes += len(record.value)
        return alerts

    def work_off(self, deadline: float) -> tuple[list[AlertEvent], bool]:
        """Apply queued records in order until ``deadline`` (``time.monotonic``; at least
        one record); the alerts, and whether a watermark was applied (windows may have
        closed)."""
        pending, queued = self.pending, self.queued
        alerts: list[AlertEvent] = []
        closed_any = False
        while pending:
            partition, record = pending.popleft()
            queued[partition] -= 1
            self.queued_bytes -= len(record.value)
            closer = self.closers.get(partition)
            if closer is not None:
                decoded = self._decode(partition, record)
                try:
                    if isinstance(decoded, list):
                        for sealed in decoded:
                            closer.on_partial(sealed)
                        self.partials_received += len(decoded)
                    elif isinstance(decoded, EventAlert):
                        alerts.extend(closer.on_event_alert(decoded))
                    elif isinstance(decoded, RiskFacts):
                        if closer.risk is not None:
                            for fact in decoded:
                                closer.risk.on_fact(fact)
                    elif isinstance(decoded, Watermark):
                        alerts.extend(closer.on_watermark(decoded.source, decoded.watermark_ms))
                        closed_any = True
                except Exception as exc:  # noqa: BLE001 - one record must not stop alerting
                    self.on_unreadable(partition, record, exc)
                self.positions[partition] = record.offset + 1
            if time.monotonic() >= deadline:
                break
        return alerts, closed_any

    def drop(self, partitions: set[int]) -> None:
        """Forget the queued records of ``partitions`` (revoked, or being restored: they
        are read again from the snapshot's position)."""
        kept = [item for item in self.pending if item[0] not in partitions]
        self.pending.clear()
        self.pending.extend(kept)
        self.queued_bytes = sum(len(record.value) for _, record in kept)
        for partition in partitions:
            self.queued.pop(partition, None)

    def _decode(
        self, partition: int, record: Record
    ) -> list[SealedPartial] | EventAlert | Watermark | RiskFacts | None:
        """One record, or ``None`` (reported to ``on_unreadable``) if it cannot be read."""
        try:
            return decode(record.value)
        except Exception as exc:  # noqa: BLE001 - one record must not stop alerting
            self.on_unreadable(partition, record, exc)
            return None
