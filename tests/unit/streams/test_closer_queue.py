"""The closer's fetch handling: verdicts at once, window records in time slices.

No Kafka: the records are what the intake would publish on a one-partition partials
topic, wrapped as aiokafka ``ConsumerRecord`` objects and fed to the worker's closer
methods directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

import streams.runtime.closer_stage as closer_stage_module
from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import CustomerBurst
from streams.pipeline.closer import WindowCloser
from streams.pipeline.replay import Stage1
from streams.pipeline.wire import encode_event_alert, encode_watermark, pack_partials
from streams.rules.catalogue import load_rules
from streams.runtime.checkpoint import CheckpointSchedule
from streams.runtime.closer_queue import CloserQueue
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.unit.streams.wrong_price_days import START, stage1_batches, wrong_price_days

TP = TopicPartition("p.partials", 0)


def partials_records() -> list[ConsumerRecord[bytes, bytes]]:
    """Two simulated days with a wrong price and an order burst on day two, as
    partials-topic records."""
    config = wrong_price_days(
        CustomerBurst(
            start=START + timedelta(days=1, hours=4),
            customer_id="C-0000007",
            address_id="A-0000007",
            magnitude=15.0,
        )
    )
    stage1 = Stage1(load_rules(None), {t: f"p.{t}" for t in TOPICS})
    values: list[tuple[bytes | None, bytes]] = []
    for out in stage1_batches(stage1, simulate(config)):  # one intake batch per 500 events
        values += [(v.series.encode(), encode_event_alert(v)) for v in out.verdicts]
        values += [(None, record) for _, record in pack_partials(out.partials, 1)]
        values += [(None, encode_watermark(source, mark)) for source, mark in out.watermarks]
    return [
        ConsumerRecord(TP.topic, 0, offset, 0, 0, key, value, None, 0, len(value), ())
        for offset, (key, value) in enumerate(values)
    ]


@pytest.fixture(scope="module")
def records() -> list[ConsumerRecord[bytes, bytes]]:
    records = partials_records()
    assert sum(r.key is not None for r in records) >= 5, "scenario has too few verdicts"
    return records


def closer_worker() -> Worker:
    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "AFTERSALES_TOPIC_PREFIX": "p."}
    )
    worker = Worker(
        settings,
        load_rules(None),
        AlertMetrics.create(CollectorRegistry(), topics=TOPICS),
        roles=frozenset({"closer"}),
    )
    worker.closers[0] = WindowCloser(worker.rules, dict.fromkeys(TOPICS, 1), worker.texts)
    return worker


def ids(alerts: list[Any]) -> set[tuple[str, str]]:
    return {(a.alert_id, a.status) for a in alerts}


def in_order(records: list[ConsumerRecord[bytes, bytes]]) -> set[tuple[str, str]]:
    """Every alert when the records are applied strictly in order (the reference)."""
    worker = closer_worker()
    alerts = []
    for record in records:
        alerts += worker.closer.take_fetched({TP: [record]})
        alerts += worker.closer_queue.work_off(float("inf"))[0]
    return ids(alerts)


def test_verdicts_are_handled_at_fetch_ahead_of_window_work(
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """A verdict behind thousands of window records becomes an alert when it is fetched,
    before any window work, and the alerts in the end are those of in-order handling."""
    worker = closer_worker()
    verdicts = sum(r.key is not None for r in records)
    at_fetch = worker.closer.take_fetched({TP: records})
    assert {a.rule for a in at_fetch} == {"order_outlier"}
    assert len(at_fetch) == verdicts
    assert worker.closer_queue.positions.get(0) is None, "position passed unapplied records"
    later, closed_any = worker.closer_queue.work_off(float("inf"))
    assert closed_any and later, "window rules found nothing to say"
    assert ids(at_fetch + later) == in_order(records)
    assert worker.closer_queue.positions[0] == records[-1].offset + 1
    assert not worker.closer_queue.pending


def test_window_work_stops_at_the_deadline_and_resumes_in_order(
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """An expired deadline applies one record per slice; the position follows the
    applied records only, and slicing changes no alert."""
    worker = closer_worker()
    alerts = worker.closer.take_fetched({TP: records})
    queued = len(worker.closer_queue.pending)
    alerts += worker.closer_queue.work_off(0.0)[0]
    assert len(worker.closer_queue.pending) == queued - 1
    first_window_record = next(r for r in records if r.key is None)
    assert worker.closer_queue.positions[0] == first_window_record.offset + 1
    while worker.closer_queue.pending:
        alerts += worker.closer_queue.work_off(0.0)[0]
    assert ids(alerts) == in_order(records)
    assert worker.partials_received > 0


def test_verdict_with_nothing_queued_moves_the_position(
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """With no window record waiting, a verdict's offset is done at once."""
    worker = closer_worker()
    verdict = next(r for r in records if r.key is not None)
    worker.closer.take_fetched({TP: [verdict]})
    assert worker.closer_queue.positions[0] == verdict.offset + 1


def test_revoked_partition_drops_its_queue(records: list[ConsumerRecord[bytes, bytes]]) -> None:
    """Queued records of a partition that moves away are dropped, not applied later."""
    worker = closer_worker()
    worker.closer.take_fetched({TP: records[:200]})
    assert worker.closer_queue.pending
    worker.closer_queue.drop({0})
    assert not worker.closer_queue.pending and worker.closer_queue.queued == {}
    assert worker.closer_queue.work_off(float("inf")) == ([], False)


def test_records_of_a_restoring_partition_are_skipped(
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """While a partition's snapshot loads, its records are neither queued nor handled."""
    worker = closer_worker()
    worker.closer.gate.restoring.add(TP)
    assert worker.closer.take_fetched({TP: records[:50]}) == []
    assert not worker.closer_queue.pending
    assert worker.closer.gate.skipped[TP] == records[0].offset


class TestCheckpointSchedule:
    def test_one_partition_per_call_most_overdue_first(self) -> None:
        schedule = CheckpointSchedule(5.0)
        assert schedule.due([0, 1, 2], now=0.0) == []  # first seen counts as done
        assert schedule.due([0, 1, 2], now=4.9) == []
        assert schedule.due([0, 1, 2], now=5.0) == [0]
        assert schedule.due([0, 1, 2], now=5.1) == [1]
        assert schedule.due([0, 1, 2], now=5.2) == [2]
        assert schedule.due([0, 1, 2], now=5.3) == []
        assert schedule.due([0, 1, 2], now=10.1) == [0]

    def test_force_takes_every_partition(self) -> None:
        schedule = CheckpointSchedule(5.0)
        schedule.due([0, 1], now=0.0)
        assert schedule.due([1, 0], force=True, now=1.0) == [1, 0]
        assert schedule.due([0, 1], now=5.5) == []

    def test_forgotten_partition_starts_afresh(self) -> None:
        schedule = CheckpointSchedule(5.0)
        schedule.due([0], now=0.0)
        schedule.forget(0)
        assert schedule.due([0], now=6.0) == []
        assert schedule.due([0], now=11.0) == [0]


class _CountingConsumer:
    """Stands in for the closer's consumer: counts fetches, returns nothing."""

    def __init__(self) -> None:
        self.fetches: list[int] = []  # queued bytes at each fetch

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        await asyncio.sleep(timeout_ms / 1000)
        self.fetches.append(self.worker.closer_queue.queued_bytes)
        return {}

    worker: Worker


async def test_closer_stops_fetching_while_its_queue_is_over_the_byte_cap(
    records: list[ConsumerRecord[bytes, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the cap it only works off the queue; it fetches again once under it."""
    packed = [r for r in records if r.key is None and b'"t":"P"' in r.value][:400]
    cap = sum(len(r.value) for r in packed) // 2
    monkeypatch.setattr(closer_stage_module, "MAX_PENDING_BYTES", cap)
    monkeypatch.setattr(closer_stage_module, "SLICE_S", 0.0)  # one record per slice
    worker = closer_worker()
    consumer = _CountingConsumer()
    consumer.worker = worker
    worker.closer.consumer = consumer  # type: ignore[assignment]
    worker.closer.take_fetched({TP: packed})
    assert worker.closer_queue.queued_bytes == sum(len(r.value) for r in packed) > cap
    task = asyncio.create_task(worker.closer.loop())
    while worker.closer_queue.pending:
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert consumer.fetches, "never fetched after catching up"
    assert all(queued < cap for queued in consumer.fetches)
    assert worker.closer_queue.queued_bytes == 0
    assert worker.partials_received == sum(len(json.loads(r.value)["i"]) for r in packed)


def test_an_unreadable_partials_record_is_skipped_and_counted(
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """Garbage on the partials topic (keyed or not) is logged, counted as an internal
    error and skipped; the closer goes on and its alerts are those without it."""
    garbage = [b"not json", b'{"t": "P", "src": 1}', b'{"t": "?"}', b"[]"]
    mixed: list[ConsumerRecord[bytes, bytes]] = []
    for record in records:
        if record.offset % 500 == 7:
            bad = garbage[len(mixed) % len(garbage)]
            mixed.append(replace(record, value=bad, key=b"k" if len(mixed) % 2 else None))
        mixed.append(record)
    mixed = [replace(r, offset=i) for i, r in enumerate(mixed)]
    worker = closer_worker()
    alerts = worker.closer.take_fetched({TP: mixed})
    alerts += worker.closer_queue.work_off(float("inf"))[0]
    assert ids(alerts) == in_order(records)
    assert isinstance(worker.metrics, AlertMetrics)
    skipped = worker.metrics.dead_letter_total.labels("partials", "internal_error")._value.get()
    assert skipped == len(mixed) - len(records) > 0
    assert worker.closer_queue.positions[0] == mixed[-1].offset + 1


def test_series_view_is_rebuilt_only_when_a_window_closed(
    records: list[ConsumerRecord[bytes, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every slice the exported per-series view equals one built from the closers'
    latest decisions, though it is rebuilt only after slices that closed a window."""
    rebuilt = []
    original = AlertMetrics.replace_series

    def counting(self: AlertMetrics, view: Any) -> None:
        rebuilt.append(1)
        original(self, view)

    monkeypatch.setattr(AlertMetrics, "replace_series", counting)
    worker = closer_worker()
    metrics = worker.closer.metrics
    assert isinstance(metrics, AlertMetrics)
    exports = 0
    for first in range(0, len(records), 40):
        worker.closer.take_fetched({TP: records[first : first + 40]})
        worker.closer_queue.work_off(float("inf"))
        worker.closer.export_series()
        exports += 1
        expected = {
            (closed.rule, closed.dimension, closed.key): closed.decision
            for closer in worker.closers.values()
            for closed in closer.latest.values()
        }
        view = metrics.series.snapshot()
        assert {(s.rule, s.dimension, s.key): d for s, d in view.items()} == expected
    assert 0 < len(rebuilt) < exports


class TestCloserQueueAlone:
    """The queue without a worker: a closers mapping and an error callback."""

    def test_in_order_alerts_and_positions_without_a_worker(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Fed slice by slice, it gives the alerts of strict in-order handling, applies
        every sealed partial once and ends at the offset after the last record."""
        closers = {
            0: WindowCloser(load_rules(None), dict.fromkeys(TOPICS, 1), closer_worker().texts)
        }
        failures: list[tuple[int, int, str]] = []
        queue = CloserQueue(
            closers, lambda p, r, exc: failures.append((p, r.offset, type(exc).__name__))
        )
        alerts = queue.take(0, records)
        while queue.pending:
            alerts += queue.work_off(0.0)[0]
        assert ids(alerts) == in_order(records)
        assert queue.positions == {0: records[-1].offset + 1}
        assert queue.queued == {0: 0} and queue.queued_bytes == 0
        sealed = sum(len(json.loads(r.value)["i"]) for r in records if b'"t":"P"' in r.value)
        assert queue.partials_received == sealed > 0
        assert failures == []

    def test_a_partition_without_a_closer_is_neither_queued_nor_applied(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Records of a partition this process does not own are dropped; a closer removed
        from the mapping while its records wait drops them when their turn comes."""
        closers: dict[int, WindowCloser] = {}
        queue = CloserQueue(closers, lambda *_: None)
        assert queue.take(3, records[:20]) == [] and not queue.pending
        closers[0] = WindowCloser(load_rules(None), dict.fromkeys(TOPICS, 1), closer_worker().texts)
        queue.take(0, [r for r in records[:50] if r.key is None])
        del closers[0]
        assert queue.work_off(float("inf")) == ([], False)
        assert queue.positions == {} and queue.partials_received == 0

    def test_an_unreadable_record_goes_to_the_callback(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """A window record that cannot be decoded is reported with its partition and
        offset, skipped, and the position moves past it."""
        closers = {
            0: WindowCloser(load_rules(None), dict.fromkeys(TOPICS, 1), closer_worker().texts)
        }
        failures: list[tuple[int, int]] = []
        queue = CloserQueue(closers, lambda p, r, exc: failures.append((p, r.offset)))
        bad = replace(records[0], key=None, value=b"not json", offset=0)
        queue.take(0, [bad])
        assert queue.work_off(float("inf")) == ([], False)
        assert failures == [(0, 0)] and queue.positions == {0: 1}
