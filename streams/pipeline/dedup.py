"""Bounded memory of recently seen ``event_id`` values.

Duplicates of one event carry the same Kafka key, so they land in the same
partition: one :class:`RecentIds` per input partition is enough. Memory is
bounded by ``capacity`` (oldest forgotten first); a duplicate older than that
many events is processed again, which the README states as the guarantee.
"""

from __future__ import annotations

from collections import deque

__all__ = ["RecentIds"]


class RecentIds:
    """Remember the last ``capacity`` ids; ``seen(id)`` answers and records in one step.

    >>> ids = RecentIds(capacity=2)
    >>> ids.seen("a"), ids.seen("b"), ids.seen("a"), ids.seen("c"), ids.seen("a")
    (False, False, True, False, False)
    """

    __slots__ = ("_order", "_set", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._set: set[str] = set()
        self._order: deque[str] = deque()

    def seen(self, event_id: str) -> bool:
        """``True`` if ``event_id`` was seen among the last ``capacity`` ids; else remember it."""
        if event_id in self._set:
            return True
        if self.capacity == 0:
            return False
        self._set.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())
        return False

    def items(self) -> list[str]:
        """The remembered ids, oldest first (for snapshots; replay them into ``seen``)."""
        return list(self._order)

    def __len__(self) -> int:
        return len(self._order)
