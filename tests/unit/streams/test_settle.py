"""Settling windows (``RuleSpec.settle_ms``): the windows that start less than ``settle``
after the hop of a rule's first events are neither judged nor learned from, and a
restored closer keeps counting from where the first one started."""

from __future__ import annotations

import json

from streams.pipeline.closer import Closed, WindowCloser
from streams.pipeline.closer_snapshot import SNAPSHOT_MAGIC
from streams.pipeline.replay import ReplayPipeline
from tests.unit.oncall.helpers import shipped
from tests.unit.scenarios.test_cold_start import DAY, HOUR, T0, traffic

RULES = shipped(["complaint_rate"], dimensions={"complaint_rate": ["region,carrier"]})
FIRST_HOP = T0 + 6 * HOUR
"""The traffic's first deliveries come from 08:00: the hop [06:00, 12:00) holds them."""


def judged_starts(records: list[tuple[str, bytes, bytes]]) -> tuple[list[int], WindowCloser]:
    starts: list[int] = []

    def on_closed(closed: Closed) -> None:
        starts.append(closed.window_start_ms)

    pipeline = ReplayPipeline(RULES, partitions=1)
    pipeline.closer.on_closed = on_closed
    list(pipeline.run(records))
    return starts, pipeline.closer


def test_windows_of_the_first_day_are_not_judged() -> None:
    """``complaint_rate`` settles for a day: its first decided window starts one day
    after the hop of the first delivery, and the series learned nothing before."""
    starts, closer = judged_starts(traffic(complaints=0.035)[:3000])
    assert closer.started_at == {"complaint_rate": FIRST_HOP}
    assert starts, "no window was judged"
    assert min(starts) == FIRST_HOP + DAY
    sid = next(iter(closer.banks["complaint_rate"].ids))
    # Every judged window is one learned window (warm-up), none from the settling day.
    assert closer.banks["complaint_rate"].state(sid).n == len(starts)


def test_a_restored_closer_keeps_its_start() -> None:
    """The start is part of the snapshot; a snapshot without it (older versions) counts
    as settled long ago, so a restored worker does not go blind for a day."""
    _, closer = judged_starts(traffic(complaints=0.035)[:1000])
    data = closer.snapshot()
    restored = ReplayPipeline(RULES, partitions=1).closer
    restored.restore(data)
    assert restored.started_at == {"complaint_rate": FIRST_HOP}

    size = int.from_bytes(data[len(SNAPSHOT_MAGIC) : len(SNAPSHOT_MAGIC) + 4], "little")
    begin = len(SNAPSHOT_MAGIC) + 4
    header = json.loads(data[begin : begin + size])
    del header["started_at"]
    old_header = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    old = SNAPSHOT_MAGIC + len(old_header).to_bytes(4, "little") + old_header
    old += data[begin + size :]
    older = ReplayPipeline(RULES, partitions=1).closer
    older.restore(old)
    assert older.started_at["complaint_rate"] < T0 - 365 * DAY
