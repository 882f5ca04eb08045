"""Where a restart reads the alerts topic back from: the lowest of the restored
snapshots' alert offsets, and the start for a partition any of them does not name."""

from __future__ import annotations

from streams.runtime.checkpoint import lowest_offsets


def test_no_closers_restored_reads_nothing() -> None:
    assert lowest_offsets([]) == {}


def test_lowest_offset_of_each_partition() -> None:
    highs = [{"0": 40, "1": 7}, {"0": 12, "1": 30}]
    assert lowest_offsets(highs) == {"0": 12, "1": 7}


def test_a_closer_without_snapshot_reads_from_the_start() -> None:
    # An empty marker: that closer recomputes from the beginning, so every alert counts.
    assert lowest_offsets([{"0": 40, "1": 7}, {}]) == {"0": 0, "1": 0}


def test_a_partition_one_marker_does_not_name_starts_at_zero() -> None:
    assert lowest_offsets([{"0": 40, "1": 7}, {"0": 50}]) == {"0": 40, "1": 0}
