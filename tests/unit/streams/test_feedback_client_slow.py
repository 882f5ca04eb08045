"""``aftersales feedback`` finds its alert although the broker answers slowly.

It used to stop at the first poll that returned nothing, so on a busy machine a slow
first fetch made a published alert "not found". It now reads at least to the end
offsets the broker reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from streams.runtime import feedback_client
from streams.runtime.feedback_client import AlertNotFound, find_alert

ALERT = {"alert_id": "a-1", "rule": "order_volume", "dimension": "channel", "key": "app"}


@dataclass(frozen=True)
class _Message:
    value: bytes


class _SlowConsumer:
    """One partition holding ``records``; the first ``slow_polls`` polls return nothing."""

    records: list[bytes] = []
    slow_polls = 1

    def __init__(self, **_options: Any) -> None:
        self.position_ = 0
        self.polls = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def partitions_for_topic(self, _topic: str) -> set[int]:
        return {0}

    def assign(self, partitions: list[Any]) -> None:
        self.tp = partitions[0]

    async def seek_to_beginning(self) -> None:
        self.position_ = 0

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(partitions, len(self.records))

    async def position(self, _tp: Any) -> int:
        return self.position_

    async def getmany(self, timeout_ms: int = 0) -> dict[Any, list[_Message]]:
        del timeout_ms
        self.polls += 1
        if self.polls <= self.slow_polls or self.position_ >= len(self.records):
            return {}
        batch = [_Message(v) for v in self.records[self.position_ :]]
        self.position_ = len(self.records)
        return {self.tp: batch}


@pytest.fixture
def slow_alerts(monkeypatch: pytest.MonkeyPatch) -> type[_SlowConsumer]:
    _SlowConsumer.records = [json.dumps(ALERT).encode()]
    _SlowConsumer.slow_polls = 1
    monkeypatch.setattr(feedback_client, "AIOKafkaConsumer", _SlowConsumer)
    monkeypatch.setattr(feedback_client, "client_options", lambda _settings: {})
    return _SlowConsumer


NAMES: Any = SimpleNamespace(alerts="aftersales.alerts")


async def test_a_slow_first_fetch_still_finds_the_alert(
    slow_alerts: type[_SlowConsumer],
) -> None:
    del slow_alerts
    found = await find_alert(None, NAMES, "a-1", quiet_ms=1)  # type: ignore[arg-type]
    assert found == ("order_volume", "channel", "app")


async def test_an_unknown_id_is_not_found_once_the_topic_is_read(
    slow_alerts: type[_SlowConsumer],
) -> None:
    del slow_alerts
    with pytest.raises(AlertNotFound):
        await find_alert(None, NAMES, "a-2", quiet_ms=1)  # type: ignore[arg-type]


async def test_a_partition_that_never_reaches_its_end_is_given_up_on(
    slow_alerts: type[_SlowConsumer],
) -> None:
    slow_alerts.slow_polls = 10_000
    with pytest.raises(AlertNotFound):
        await find_alert(None, NAMES, "a-1", quiet_ms=1)  # type: ignore[arg-type]
