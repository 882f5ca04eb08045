"""Is the worker getting anywhere? Per-source progress behind ``/health``.

A source is one consumer loop (``intake``, ``closer``, or an intake child
process). Each reports how many records it has consumed so far and its backlog
(records between its position and the partition ends the broker last reported).
A source with a backlog that has consumed nothing for ``stall_timeout_s`` is
stalled; an idle source (no backlog) never is. The broker being reachable is
not progress: a worker that connects but moves nothing is not ready.

Examples
--------
>>> clock = iter([0.0, 0.0, 5.0, 61.0]).__next__
>>> progress = Progress(60.0, clock=clock)
>>> progress.observe("intake", consumed=0, backlog=10)  # t=0: registered
>>> progress.observe("intake", consumed=0, backlog=10)  # t=0
>>> progress.stalled()  # t=5
[]
>>> progress.stalled()  # t=61: backlog, no progress
['intake']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "SourceProgress"]


@dataclass(slots=True)
class SourceProgress:
    """What one source reported last, and when it last advanced (monotonic seconds)."""

    consumed: int
    backlog: int
    advanced_at: float


class Progress:
    """Last-progress time and backlog per source.

    Parameters
    ----------
    stall_timeout_s
        How long a source with a backlog may consume nothing before it counts as stalled.
    clock
        Monotonic clock in seconds (tests inject one).
    """

    def __init__(self, stall_timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be > 0, got {stall_timeout_s}")
        self.stall_timeout_s = stall_timeout_s
        self._clock = clock
        self._sources: dict[str, SourceProgress] = {}

    def observe(self, source: str, *, consumed: int, backlog: int) -> None:
        """Record ``source``'s consumed total and backlog; a new total counts as progress.

        A source first seen counts as having advanced now.
        """
        now = self._clock()
        state = self._sources.get(source)
        if state is None:
            self._sources[source] = SourceProgress(consumed, max(backlog, 0), now)
            return
        if consumed != state.consumed:
            state.consumed, state.advanced_at = consumed, now
        state.backlog = max(backlog, 0)

    def forget(self, source: str) -> None:
        """Stop tracking ``source``."""
        self._sources.pop(source, None)

    def stalled(self) -> list[str]:
        """Sources with a backlog that consumed nothing for ``stall_timeout_s`` (sorted)."""
        now = self._clock()
        return sorted(
            name
            for name, state in self._sources.items()
            if state.backlog > 0 and now - state.advanced_at >= self.stall_timeout_s
        )

    def report(self) -> dict[str, dict[str, float | int]]:
        """Per source: seconds since it last advanced, and its backlog (for ``/health``)."""
        now = self._clock()
        return {
            name: {"since_progress_s": round(now - state.advanced_at, 1), "backlog": state.backlog}
            for name, state in sorted(self._sources.items())
        }
