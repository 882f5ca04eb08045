"""The intake stage's writes, without Kafka: where each kind of record goes, in what order.

Two simulated days (a wrong price on day two, so some events get per-event verdicts) and
a malformed record run through :class:`IntakeStage`'s stage 1 and :meth:`IntakeStage.publish`
against a producer that only records what it is given.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.dev.simulator.generator import simulate
from streams.pipeline.aggregate import EventAlert
from streams.pipeline.wire import RiskFacts, Watermark, closer_partition, decode
from streams.risk.facts import risk_partition
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.intake_stage import IntakeStage
from streams.runtime.stage_services import StageServices
from streams.runtime.topics import TopicNames
from tests.unit.streams.wrong_price_days import stage1_batches, wrong_price_days

PARTITIONS = [0, 1, 2, 3]


def _done() -> asyncio.Future[None]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object:
        self.records.append((key, value))
        return self

    def record_count(self) -> int:
        return len(self.records)

    def close(self) -> None:
        pass


class _Producer:
    """Records every single send and every batch, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Any]] = []
        self.batches: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Any = None
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key, value, headers))
        return _done()

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(
        self, batch: _Batch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        self.batches.append((topic, partition, batch.records))
        return _done()


@pytest.fixture(scope="module")
def published() -> tuple[IntakeStage, _Producer]:
    settings = Settings.from_env({"AFTERSALES_TOPIC_PREFIX": "p."})
    services = StageServices(
        settings, TopicNames.from_settings(settings), AlertMetrics.create(CollectorRegistry())
    )
    producer = _Producer()
    services.producer = producer  # type: ignore[assignment]
    stage = IntakeStage(services, load_rules(None))
    stage.partials_partitions = PARTITIONS
    config = wrong_price_days()

    async def run() -> None:
        malformed = [("orders", b"k", b"{not json")]
        for out in stage1_batches(stage.stage1, simulate(config), first_extra=malformed):
            await stage.publish(out)

    asyncio.run(run())
    return stage, producer


def _partials(stage: IntakeStage, producer: _Producer) -> list[tuple[int, bytes | None, bytes]]:
    return [
        (partition, key, value)
        for topic, partition, records in producer.batches
        if topic == stage.services.names.partials
        for key, value in records
    ]


def test_dead_letters_go_to_the_dead_letter_topic_with_their_reason(
    published: tuple[IntakeStage, _Producer],
) -> None:
    stage, producer = published
    assert [topic for topic, *_ in producer.sent] == [stage.services.names.dead_letter]
    _, key, value, headers = producer.sent[0]
    assert (key, value) == (b"k", b"{not json")
    assert ("reason", b"not_json") in headers


def test_every_record_is_on_the_partition_that_owns_it(
    published: tuple[IntakeStage, _Producer],
) -> None:
    stage, producer = published
    seen: dict[str, int] = {"verdict": 0, "partial": 0, "risk": 0, "watermark": 0}
    for partition, key, value in _partials(stage, producer):
        record = decode(value)
        if isinstance(record, EventAlert):
            seen["verdict"] += 1
            assert key == record.route.encode()
            assert partition == closer_partition(record.route, len(PARTITIONS))
        elif isinstance(record, Watermark):
            seen["watermark"] += 1
        elif isinstance(record, RiskFacts):
            seen["risk"] += 1
            assert all(risk_partition(fact, len(PARTITIONS)) == partition for fact in record)
        else:
            seen["partial"] += 1
            assert all(
                closer_partition(sealed.series, len(PARTITIONS)) == partition for sealed in record
            )
    assert all(seen.values()), seen


def test_each_watermark_reaches_every_partition_after_the_records_it_covers(
    published: tuple[IntakeStage, _Producer],
) -> None:
    """Within one publish, a partition gets verdicts, partials and risk facts first and
    the watermarks last, and every partition gets every watermark."""
    stage, producer = published
    by_partition: dict[int, list[bytes]] = {p: [] for p in PARTITIONS}
    for partition, _, value in _partials(stage, producer):
        by_partition[partition].append(value)
    marks = {
        p: [r for r in map(decode, values) if isinstance(r, Watermark)]
        for p, values in by_partition.items()
    }
    assert marks[0]
    assert all(marks[p] == marks[0] for p in PARTITIONS)
    for topic, _, records in producer.batches:
        kinds = [isinstance(decode(value), Watermark) for _, value in records]
        assert topic != stage.services.names.partials or kinds == sorted(kinds), (
            "a watermark before its records"
        )
