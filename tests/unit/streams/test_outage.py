"""Broker outages: writes that fail while the probe finds no broker are retried once it
answers (after ``before_retry``); failures with the broker answering are raised; the
intake child relays its probe's state (and its failed commits), and the parent's gauge
reads 0 while any process finds no broker; alerts retried after an outage reach the
topic once; a revocation during an unsent write takes no snapshot."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, RequestTimedOutError
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from alerts.model import SCHEMA, AlertEvent
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.intake_process import IntakeChild, RelayMetrics
from streams.runtime.outage import BrokerState, through_outages
from streams.runtime.worker import Worker


class Flaky:
    """An async write that raises the queued errors (changing the broker state first, as
    the probe would meanwhile), then returns how many calls it took."""

    def __init__(self, errors: list[Exception], broker: BrokerState, *, down: bool) -> None:
        self.errors = errors
        self.broker = broker
        self.down = down
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            if self.down:
                self.broker.observe(reachable=False)
                asyncio.get_running_loop().call_later(
                    0.05, functools.partial(self.broker.observe, reachable=True)
                )
            raise self.errors.pop(0)
        return self.calls


class TestBrokerState:
    def test_an_unreachable_probe_marks_an_outage_since_earlier_times(self) -> None:
        """A probe that found no broker makes every earlier start time an outage, even
        after the broker is back; later start times are not."""
        now = [100.0]
        state = BrokerState(clock=lambda: now[0])
        state.observe(reachable=False)
        now[0] = 105.0
        state.observe(reachable=True)
        assert state.outage_since(99.0)
        assert not state.outage_since(101.0)

    async def test_wait_reachable_returns_once_the_probe_finds_the_broker(self) -> None:
        """wait_reachable blocks while the broker is away and returns when it is back."""
        state = BrokerState()
        state.observe(reachable=False)
        waiter = asyncio.create_task(state.wait_reachable())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        state.observe(reachable=True)
        await asyncio.wait_for(waiter, 1)


class TestThroughOutages:
    async def test_write_failing_during_an_outage_is_retried(self) -> None:
        """Two timeouts during an outage: the write is run again until it succeeds, and
        before_retry runs before each retry."""
        state = BrokerState()
        write = Flaky([RequestTimedOutError(), KafkaTimeoutError()], state, down=True)
        retried = []

        async def before_retry() -> None:
            retried.append(write.calls)

        result = await asyncio.wait_for(
            through_outages(write, state, "test", before_retry=before_retry), 5
        )
        assert result == 3
        assert retried == [1, 2]

    async def test_failure_with_the_broker_answering_is_raised(self) -> None:
        """A write that fails while every probe finds the broker is not an outage."""
        state = BrokerState()
        write = Flaky([KafkaTimeoutError()], state, down=False)
        with pytest.raises(KafkaTimeoutError):
            await through_outages(write, state, "test", confirm_s=0.3)
        assert write.calls == 1

    async def test_other_errors_are_never_retried(self) -> None:
        """A programming error (not a Kafka or network error) is raised at once, outage
        or not."""
        state = BrokerState()
        state.observe(reachable=False)

        async def broken() -> None:
            raise ValueError("record too large")

        with pytest.raises(ValueError, match="too large"):
            await through_outages(broken, state, "test")


class TestRelay:
    def test_child_report_carries_its_probe(self) -> None:
        """The child's report says what its probe found; the parent's handle keeps it."""
        relay = RelayMetrics()
        relay.set_broker_connected(False)
        report = relay.report(partials_sent=0)
        assert report["broker_connected"] is False
        settings = Settings.from_env({})
        child = IntakeChild(settings, load_rules(None), create_input_topics=False, runner=Worker)
        child._apply({**report, "consumed": 1, "backlog": 0}, RelayMetrics())
        assert child.broker_connected is False

    def test_child_commit_failures_reach_the_parent_counter(self) -> None:
        """Failed commits counted in a child are in its next report (and only that one),
        and the parent adds them to aftersales_commit_failures_total."""
        relay = RelayMetrics()
        relay.add_commit_failures({("intake", "superseded"): 2})
        relay.add_commit_failures({("intake", "superseded"): 1, ("intake", "error"): 1})
        report = relay.report(partials_sent=0)
        assert relay.report(partials_sent=0)["commit_failures"] == {}
        registry = CollectorRegistry()
        parent = AlertMetrics.create(registry)
        child = IntakeChild(
            Settings.from_env({}), load_rules(None), create_input_topics=False, runner=Worker
        )
        child._apply({**report, "consumed": 0, "backlog": 0}, parent)
        value = registry.get_sample_value
        assert (
            value("aftersales_commit_failures_total", {"stage": "intake", "kind": "superseded"})
            == 3
        )
        assert value("aftersales_commit_failures_total", {"stage": "intake", "kind": "error"}) == 1

    def test_gauge_is_zero_while_a_child_finds_no_broker(self) -> None:
        """aftersales_broker_connected is 1 only while the parent's probe and every
        child's find the broker."""
        registry = CollectorRegistry()
        settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "2"})
        worker = Worker(settings, load_rules(None), AlertMetrics.create(registry))
        worker._export_broker_state()
        assert registry.get_sample_value("aftersales_broker_connected") == 1
        worker._children[1].broker_connected = False
        worker._export_broker_state()
        assert registry.get_sample_value("aftersales_broker_connected") == 0
        worker._children[1].broker_connected = True
        worker.broker.observe(reachable=False)
        worker._export_broker_state()
        assert registry.get_sample_value("aftersales_broker_connected") == 0


def alert(alert_id: str) -> AlertEvent:
    """A firing return_rate alert with the given id."""
    end = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    return AlertEvent(
        schema=SCHEMA,
        alert_id=alert_id,
        status="firing",
        rule="return_rate",
        dimension="sku",
        key=f"SKU-{alert_id}",
        severity="critical",
        direction="up",
        observed=0.3,
        baseline=0.1,
        lower=0.05,
        upper=0.15,
        score=3.4,
        sample_size=200,
        window_start=datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
        window_end=end,
        started_at=end,
        summary="Return rate is high.",
        runbook="Check the size chart.",
        context={},
    )


class TimingOutTopic:
    """A one-partition alerts topic behind a producer: every write reaches the topic, but
    the writes numbered in ``time_out`` get no acknowledgement (a request timeout while
    the probe finds no broker, back 50 ms later)."""

    def __init__(self, broker: BrokerState, time_out: set[int]) -> None:
        self.broker = broker
        self.time_out = time_out
        self.records: list[bytes] = []

    async def send(self, _topic: str, value: bytes, key: bytes | None = None) -> Any:
        del key
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.records.append(value)
        if len(self.records) - 1 in self.time_out:
            self.broker.observe(reachable=False)
            loop.call_later(0.05, functools.partial(self.broker.observe, reachable=True))
            future.set_exception(RequestTimedOutError())
        else:
            future.set_result(SimpleNamespace(partition=0, offset=len(self.records) - 1))
        return future

    async def since(self, high: dict[str, int]) -> set[tuple[str, str, str]]:
        """What ``CloserStage.alerts_since`` reads: alerts at or after ``high``."""
        start = high.get("0", 0)
        alerts = [AlertEvent.from_json(value) for value in self.records[start:]]
        return {(a.alert_id, a.status, a.severity) for a in alerts}


class TestAlertsThroughOutage:
    async def test_each_alert_reaches_the_topic_once(self) -> None:
        """The middle write times out but reached the topic (after a later one was
        acknowledged): the retry reads the topic back and writes nothing twice; every alert
        is counted on /metrics once."""
        registry = CollectorRegistry()
        settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "0"})
        worker = Worker(settings, load_rules(None), AlertMetrics.create(registry))
        topic = TimingOutTopic(worker.broker, time_out={3})
        worker.services.producer = topic  # type: ignore[assignment]
        worker.closer.alerts_since = topic.since  # type: ignore[method-assign]
        await worker.closer.publish_alerts([alert("a0"), alert("a1")])
        await asyncio.wait_for(
            worker.closer.publish_alerts([alert("b0"), alert("b1"), alert("b2")]), 10
        )
        ids = [AlertEvent.from_json(value).alert_id for value in topic.records]
        assert sorted(ids) == ["a0", "a1", "b0", "b1", "b2"]
        assert worker.alerts_published == 5
        firing = {"rule": "return_rate", "severity": "critical", "status": "firing"}
        assert registry.get_sample_value("aftersales_alerts_total", firing) == 5


class TestRevocationDuringAWrite:
    @pytest.fixture
    def worker(self) -> Worker:
        settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "0"})
        return Worker(settings, load_rules(None), AlertMetrics.create(CollectorRegistry()))

    @pytest.mark.parametrize("unsent", [False, True])
    async def test_intake_snapshots_on_revocation_only_when_all_is_sent(
        self, worker: Worker, unsent: bool
    ) -> None:
        """A revocation while sealed intake output waits for the broker takes no snapshot
        (it would claim partials not yet written); otherwise it does."""
        calls: list[bool] = []

        async def commit_intake(*, force: bool = False) -> None:
            calls.append(force)

        worker.intake.consumer = object()  # type: ignore[assignment]
        worker.intake.commit = commit_intake  # type: ignore[method-assign]
        worker.intake.unsent = unsent
        await worker.intake.revoked([TopicPartition("aftersales.orders", 0)])
        assert calls == ([] if unsent else [True])

    @pytest.mark.parametrize("unsent", [False, True])
    async def test_closer_snapshots_on_revocation_only_when_all_is_sent(
        self, worker: Worker, unsent: bool
    ) -> None:
        """A revocation while alerts wait for the broker takes no closer snapshot (it
        would hold episodes whose alerts are not on the topic yet)."""
        calls: list[bool] = []

        async def checkpoint_closers(*, force: bool = False) -> None:
            calls.append(force)

        worker.closer.checkpoint = checkpoint_closers  # type: ignore[method-assign]
        worker.closer.unsent = unsent
        await worker.closer.revoked([TopicPartition("aftersales.partials", 0)])
        assert calls == ([] if unsent else [True])
