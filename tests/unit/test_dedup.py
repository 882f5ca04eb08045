"""Bounded de-duplication memory."""

from __future__ import annotations

import pytest

from streams.pipeline.dedup import RecentIds


class TestRecentIds:
    def test_second_sighting_is_a_duplicate(self) -> None:
        """An id seen before is reported as seen."""
        ids = RecentIds(10)
        assert ids.seen("a") is False
        assert ids.seen("a") is True

    def test_memory_is_bounded(self) -> None:
        """No more than ``capacity`` ids are kept; the oldest is forgotten first."""
        ids = RecentIds(3)
        for i in range(100):
            ids.seen(str(i))
        assert len(ids) == 3
        assert ids.seen("99") is True
        assert ids.seen("0") is False

    def test_zero_capacity_remembers_nothing(self) -> None:
        """Capacity 0 disables de-duplication."""
        ids = RecentIds(0)
        assert ids.seen("a") is False
        assert ids.seen("a") is False

    def test_negative_capacity_is_refused(self) -> None:
        """A negative capacity is a programming error."""
        with pytest.raises(ValueError, match="capacity"):
            RecentIds(-1)
