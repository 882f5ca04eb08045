"""Reading the newest snapshot when the broker answers slowly.

A fetch that returns nothing within the reader's quiet period used to end the scan for
the manifest, so a restart on a busy machine restored no snapshot although a complete
one was there (the integration test of a torn write failed that way with one core kept
busy). Here a fake consumer answers every first fetch after a seek with nothing, as a
slow broker does, and reports the end offset as tansu does when the newest record batch
holds several records (too low).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import pytest

from streams.runtime import checkpoint
from streams.runtime.checkpoint import CheckpointStore


@dataclass(frozen=True)
class _Message:
    key: bytes
    value: bytes


class _SlowConsumer:
    """Serves ``records`` from one partition; the first fetch after a seek is empty."""

    records: list[tuple[bytes, bytes]] = []
    reported_end = 0
    stalled = False  # never serves anything (a broker that does not answer)

    def __init__(self, **_options: Any) -> None:
        self.position_ = 0
        self.slow = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def assign(self, _partitions: list[Any]) -> None:
        pass

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(partitions, self.reported_end)

    def seek(self, _tp: Any, offset: int) -> None:
        self.position_ = offset
        self.slow = True

    async def position(self, _tp: Any) -> int:
        return self.position_

    async def getmany(self, tp: Any, timeout_ms: int = 0) -> dict[Any, list[_Message]]:
        del timeout_ms
        if self.slow or self.stalled:
            self.slow = False
            return {}
        batch = [_Message(k, v) for k, v in self.records[self.position_ :]]
        self.position_ = len(self.records)
        return {tp: batch} if batch else {}


@pytest.fixture
def slow_broker(monkeypatch: pytest.MonkeyPatch) -> type[_SlowConsumer]:
    manifest = {"first": 0, "chunks": 1, "marker": {"position": 7}}
    _SlowConsumer.records = [
        (b"chunk", zlib.compress(b"complete")),
        (b"manifest", json.dumps(manifest).encode()),
        # A writer killed mid-snapshot: chunks without their manifest, in one batch.
        (b"chunk", b"torn-1"),
        (b"chunk", b"torn-2"),
        (b"chunk", b"torn-3"),
    ]
    _SlowConsumer.reported_end = 3  # tansu: the last batch's first offset + 1
    _SlowConsumer.stalled = False
    monkeypatch.setattr(checkpoint, "AIOKafkaConsumer", _SlowConsumer)
    return _SlowConsumer


async def test_a_slow_fetch_does_not_hide_the_newest_snapshot(
    slow_broker: type[_SlowConsumer],
) -> None:
    del slow_broker
    store = CheckpointStore(None, {}, "state")  # type: ignore[arg-type]  # reads only
    assert await store.read_latest(0) == (b"complete", {"position": 7})


async def test_a_broker_that_never_answers_is_an_error_not_an_empty_state(
    slow_broker: type[_SlowConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No snapshot would make the worker start from scratch: time out loudly instead."""
    slow_broker.stalled = True
    monkeypatch.setattr(checkpoint, "_READ_TIMEOUT_S", 0.05)
    store = CheckpointStore(None, {}, "state")  # type: ignore[arg-type]  # reads only
    with pytest.raises(TimeoutError, match=r"state/0: could not read up to offset 3"):
        await store.read_latest(0)
