"""Worker failures: repeated commit errors are fatal (a success forgives them), commits a
rebalance overtook are not, and a cancellation nobody asked for is a failure, not a quiet
stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.exceptions import WorkerFailure
from streams.rules.catalogue import load_rules
from streams.runtime.commits import CommitFailures
from streams.runtime.config import Settings
from streams.runtime.worker import Worker


class FakeConsumer:
    """Commits fail with the queued errors, then succeed."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.committed: list[Any] = []

    async def commit(self, offsets: Any) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.committed.append(offsets)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def worker(clock: FakeClock) -> Worker:
    settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "0"})
    worker = Worker(settings, load_rules(None), AlertMetrics.create(CollectorRegistry()))
    worker.services.commit_failures = CommitFailures(clock=clock)
    return worker


#: What aiokafka raises for a commit a rebalance overtook (CommitFailedError wraps the
#: three broker answers; IllegalStateError: a partition no longer assigned).
REBALANCE = [
    CommitFailedError(),
    RebalanceInProgressError("g"),
    IllegalGenerationError("g"),
    UnknownMemberIdError("g"),
    IllegalStateError("Partition TopicPartition(topic='t', partition=0) is not assigned"),
]


async def commit(worker: Worker, consumer: FakeConsumer, stage: str = "closer") -> None:
    await worker.services.commit(consumer, {}, stage)  # type: ignore[arg-type]


class TestCommit:
    async def test_third_error_in_a_row_over_30_s_is_fatal(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """Three failed commits in a row, 30 s apart in all, raise WorkerFailure naming
        the stage (an unknown topic is retried by aiokafka until the commit times out)."""
        consumer = FakeConsumer(
            [UnknownTopicOrPartitionError(), TimeoutError(), KafkaTimeoutError()]
        )
        await commit(worker, consumer)
        clock.now += 15
        await commit(worker, consumer)
        clock.now += 15
        with pytest.raises(WorkerFailure, match="3 closer commits failed"):
            await commit(worker, consumer)

    async def test_three_quick_errors_are_not_yet_fatal(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """Errors within 30 s of the first are waited out; the fourth, later, is fatal."""
        consumer = FakeConsumer([KafkaError()] * 4)
        for _ in range(3):
            await commit(worker, consumer)
            clock.now += 1
        clock.now += 30
        with pytest.raises(WorkerFailure, match="4 closer commits failed"):
            await commit(worker, consumer)

    async def test_success_resets_the_count(self, worker: Worker, clock: FakeClock) -> None:
        """A commit that succeeds in between starts the count again."""
        consumer = FakeConsumer([KafkaError(), KafkaError()])
        for _ in range(3):
            clock.now += 20
            await commit(worker, consumer, "intake")
        consumer.errors = [KafkaError(), KafkaError()]
        for _ in range(2):
            clock.now += 20
            await commit(worker, consumer, "intake")
        assert len(consumer.committed) == 1
        assert worker.commit_failures.errors_in_a_row == 2

    async def test_failures_while_the_broker_is_away_do_not_count(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """An outage (the probe finds no broker) is waited out, not fatal."""
        worker.broker.observe(reachable=False)
        consumer = FakeConsumer([KafkaError()] * 5)
        for _ in range(5):
            clock.now += 20
            await commit(worker, consumer)
        assert worker.commit_failures.errors_in_a_row == 0

    @pytest.mark.parametrize("error", REBALANCE, ids=lambda e: type(e).__name__)
    async def test_rebalance_failures_are_not_fatal(
        self, worker: Worker, clock: FakeClock, error: Exception
    ) -> None:
        """Commits a rebalance overtook, for two minutes on end (a rebalance storm under
        CPU pressure), neither raise nor count toward the error limit; the commit from
        the new assignment then goes through."""
        consumer = FakeConsumer([error] * 12)
        for _ in range(12):
            await commit(worker, consumer, "intake")
            clock.now += 10
        assert worker.commit_failures.errors_in_a_row == 0
        assert worker.commit_failures.superseded_in_a_row == 12
        await commit(worker, consumer, "intake")
        assert len(consumer.committed) == 1
        assert worker.commit_failures.superseded_in_a_row == 0
        assert worker.commit_failures.totals == {"superseded": 12, "error": 0}

    async def test_rebalance_failures_neither_forgive_nor_add_to_errors(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """A superseded commit between two errors does not reset the error streak: an
        unknown topic that lasts is fatal even while rebalances come and go."""
        consumer = FakeConsumer(
            [
                UnknownTopicOrPartitionError(),
                CommitFailedError(),
                UnknownTopicOrPartitionError(),
                IllegalGenerationError("g"),
                UnknownTopicOrPartitionError(),
            ]
        )
        for _ in range(4):
            await commit(worker, consumer)
            clock.now += 10
        assert worker.commit_failures.errors_in_a_row == 2
        with pytest.raises(WorkerFailure, match="3 closer commits failed"):
            await commit(worker, consumer)

    async def test_a_group_that_never_settles_is_fatal(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """Superseded commits with no success for five minutes: the worker exits rather
        than go on with offsets that never move."""
        consumer = FakeConsumer([CommitFailedError()] * 40)
        for _ in range(30):
            await commit(worker, consumer)
            clock.now += 10
        with pytest.raises(WorkerFailure, match="overtaken by rebalances for 300 s"):
            await commit(worker, consumer)


def failures(worker: Worker, stage: str, kind: str) -> float | None:
    """``aftersales_commit_failures_total`` of one stage and kind on the worker's registry."""
    assert isinstance(worker.metrics, AlertMetrics)
    return worker.metrics.registry.get_sample_value(
        "aftersales_commit_failures_total", {"stage": stage, "kind": kind}
    )


class TestCommitFailureMetric:
    async def test_superseded_and_errors_are_counted_apart(
        self, worker: Worker, clock: FakeClock
    ) -> None:
        """Commits a rebalance overtook count as superseded, others as errors, per stage;
        a success counts nothing."""
        consumer = FakeConsumer([CommitFailedError(), IllegalStateError("x"), KafkaError()])
        for _ in range(4):
            await commit(worker, consumer, "intake")
            clock.now += 1
        assert failures(worker, "intake", "superseded") == 2
        assert failures(worker, "intake", "error") == 1
        assert failures(worker, "closer", "superseded") == 0

    async def test_the_fatal_failure_is_counted(self, worker: Worker, clock: FakeClock) -> None:
        """The failure that makes the worker exit is on the counter too."""
        consumer = FakeConsumer([CommitFailedError()] * 32)
        with pytest.raises(WorkerFailure):
            for _ in range(32):
                await commit(worker, consumer)
                clock.now += 10
        assert failures(worker, "closer", "superseded") == 31


class RebalancingConsumer:
    """Two partitions assigned; a rebalance takes one away while the position of the
    other is awaited. ``highwater`` asserts on a partition not assigned, as
    aiokafka's does."""

    def __init__(self) -> None:
        self.tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
        self.assigned = set(self.tps)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int:
        assert tp in self.assigned, "Partition is not assigned"
        return 100

    async def position(self, tp: TopicPartition) -> int:
        # The rebalance takes away the *other* partition, whichever the probe asks first
        # (a set's order depends on the process's hash seed).
        self.assigned.intersection_update({tp})
        await asyncio.sleep(0)
        return 40


class TestBacklog:
    async def test_partition_revoked_meanwhile_is_skipped(self, worker: Worker) -> None:
        """The backlog probe (/health) survives a rebalance under its await: the revoked
        partition is left out, not asked for its high-water mark."""
        consumer = RebalancingConsumer()
        assert await worker._backlog(consumer) == 60  # type: ignore[arg-type]


class TestUnrequestedCancellation:
    @pytest.fixture
    def offline(self, worker: Worker) -> Worker:
        """The worker with its Kafka steps replaced: the intake loop awaits a future that
        something else cancels after 0.2 s, the other loops wait."""

        async def nothing() -> None:
            return None

        async def forever() -> None:
            await asyncio.Event().wait()

        async def cancelled_under_us() -> None:
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.2, future.cancel)
            await future

        worker.start = nothing  # type: ignore[method-assign]
        worker.intake.loop = cancelled_under_us  # type: ignore[method-assign]
        worker.closer.loop = forever  # type: ignore[method-assign]
        worker._watch_broker = forever  # type: ignore[method-assign]
        worker._feedback_loop = forever  # type: ignore[method-assign]
        worker._watch_progress = forever  # type: ignore[method-assign]
        return worker

    async def test_inner_cancellation_fails_the_worker(self, offline: Worker) -> None:
        """A future cancelled inside a loop makes run() raise WorkerFailure, marked failed."""
        with pytest.raises(WorkerFailure, match="without a stop request"):
            await asyncio.wait_for(offline.run(), 10)
        assert offline.failed

    async def test_cancelling_the_task_is_a_stop(self, offline: Worker) -> None:
        """Cancelling run()'s task is a clean stop, not a failure."""
        offline.intake.loop = offline.closer.loop  # type: ignore[method-assign]
        task = asyncio.create_task(offline.run())
        await asyncio.wait_for(offline.started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not offline.failed
