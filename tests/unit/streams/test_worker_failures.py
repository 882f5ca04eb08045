"""Worker failures: repeated commit failures are fatal (a success forgives them), and a
cancellation nobody asked for is a failure, not a quiet stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from prometheus_client import CollectorRegistry

import streams.runtime.worker
from alerts.metrics import AlertMetrics
from streams.exceptions import WorkerFailure
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker


class FakeConsumer:
    """Commits fail with the queued errors, then succeed."""

    def __init__(self, errors: list[KafkaError]) -> None:
        self.errors = errors
        self.committed: list[Any] = []

    async def commit(self, offsets: Any) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.committed.append(offsets)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Worker:
    monkeypatch.setattr(streams.runtime.worker, "_COMMIT_FAILING_S", 0.0)
    settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "0"})
    return Worker(settings, load_rules(None), AlertMetrics.create(CollectorRegistry()))


class TestCommit:
    async def test_third_failure_in_a_row_is_fatal(self, worker: Worker) -> None:
        """Three failed commits in a row raise WorkerFailure naming the stage."""
        consumer = FakeConsumer([UnknownTopicOrPartitionError()] * 3)
        await worker._commit(consumer, {}, "closer")  # type: ignore[arg-type]
        await worker._commit(consumer, {}, "closer")  # type: ignore[arg-type]
        with pytest.raises(WorkerFailure, match="3 closer commits failed"):
            await worker._commit(consumer, {}, "closer")  # type: ignore[arg-type]

    async def test_success_resets_the_count(self, worker: Worker) -> None:
        """A commit that succeeds in between starts the count again."""
        consumer = FakeConsumer([KafkaError(), KafkaError()])
        for _ in range(3):
            await worker._commit(consumer, {}, "intake")  # type: ignore[arg-type]
        consumer.errors = [KafkaError(), KafkaError()]
        for _ in range(2):
            await worker._commit(consumer, {}, "intake")  # type: ignore[arg-type]
        assert len(consumer.committed) == 1

    async def test_failures_while_the_broker_is_away_do_not_count(self, worker: Worker) -> None:
        """An outage (the probe finds no broker) is waited out, not fatal."""
        worker._broker_reachable = False
        consumer = FakeConsumer([KafkaError()] * 5)
        for _ in range(5):
            await worker._commit(consumer, {}, "closer")  # type: ignore[arg-type]
        assert worker._commit_failures == 0


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
        worker._intake_loop = cancelled_under_us  # type: ignore[method-assign]
        worker._closer_loop = forever  # type: ignore[method-assign]
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
        offline._intake_loop = offline._closer_loop  # type: ignore[method-assign]
        task = asyncio.create_task(offline.run())
        await asyncio.wait_for(offline.started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not offline.failed
