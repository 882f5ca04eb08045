"""Reading a topic back to its reported end, then until quiet (no broker)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.runtime.read_back import ReadBack


@dataclass(frozen=True)
class _Message:
    value: bytes


class _Consumer:
    """Partition ``"p"`` holds ``records``; the first ``slow`` polls return nothing, and
    ``short`` records are never delivered (a marker the position never passes)."""

    def __init__(self, records: list[bytes], slow: int = 0, short: int = 0) -> None:
        self.records, self.slow, self.short = records, slow, short
        self.at = 0
        self.polls = 0

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(tps, len(self.records))

    async def position(self, _tp: Any) -> int:
        return self.at

    async def getmany(self, timeout_ms: int = 0) -> dict[Any, list[_Message]]:
        del timeout_ms
        self.polls += 1
        last = len(self.records) - self.short
        if self.polls <= self.slow or self.at >= last:
            return {}
        batch = [_Message(v) for v in self.records[self.at : last]]
        self.at = last
        return {"p": batch}


async def _read(consumer: _Consumer, give_up: int = 5) -> tuple[list[bytes], ReadBack]:
    reader = ReadBack(consumer, ["p"], poll_ms=1, give_up_polls=give_up)  # type: ignore[arg-type]
    return [m.value async for m in reader.records()], reader


async def test_slow_first_fetches_do_not_end_the_read() -> None:
    """Empty polls before the end offset is reached are waited out."""
    consumer = _Consumer([b"a", b"b"], slow=3)
    values, reader = await _read(consumer)
    assert values == [b"a", b"b"] and reader.behind == set()
    assert consumer.polls == 5  # three slow, one with the records, one quiet


async def test_an_empty_topic_takes_one_poll() -> None:
    consumer = _Consumer([])
    values, reader = await _read(consumer)
    assert values == [] and reader.behind == set() and consumer.polls == 1


async def test_a_partition_short_of_its_end_is_given_up_on_and_named() -> None:
    """After ``give_up_polls`` empty polls in a row the read ends; ``behind`` says where."""
    consumer = _Consumer([b"a", b"b", b"marker"], short=1)
    values, reader = await _read(consumer, give_up=4)
    assert values == [b"a", b"b"] and reader.behind == {"p"}
    assert consumer.polls == 1 + 4
