"""Per-series windowed detector: read a decision, then fold the window in.

:class:`Detector` holds the parameters; each series keeps its own
:class:`~thresholds.state.SeriesState`. ``score`` is a pure read (what the
decision for this window is), ``update`` mutates the state and returns nothing.
The stream layer calls both at window close; :meth:`Detector.step` does both
in one call and returns the decision.

Examples
--------
>>> det = Detector(DetectorConfig(kind="ratio", direction="up", prior=0.15))
>>> state = det.new_state()
>>> det.score(state, 0, 2, 3).violating  # 2 of 3: too few deliveries
False
>>> d = det.score(state, 0, 60, 200)  # 60 of 200 vs a 15 % norm
>>> d.violating, d.transition, d.severity, round(d.baseline, 3)
(True, 'fire', 'warning', 0.15)
>>> det.update(state, 0, 60, 200)
>>> state.n
1

References
----------
See :mod:`thresholds.engine` (algorithm) and :mod:`thresholds.kinds` (scales).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Final

from thresholds.config import DetectorConfig
from thresholds.decision import Decision
from thresholds.engine import Columns, step
from thresholds.errors import StateMismatchError
from thresholds.state import SeriesState

__all__ = ["Detector"]


#: The fields an update copies over (from ``fields()``: mypyc, ``make install-compiled``,
#: cannot compile reading ``__slots__`` through the class).
_STATE_FIELDS: Final = tuple(f.name for f in fields(SeriesState))


class Detector:
    """Evaluate one window of one series with a :class:`DetectorConfig`.

    Parameters
    ----------
    config
        The rule's configuration (kind, sensitivity, warm-up, policy).
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config

    def new_state(self) -> SeriesState:
        """Return the state of a series with no history (primed with the prior)."""
        return Columns.empty(self.config, 1).state(0, self.config.state_key)

    def _run(
        self, state: SeriesState, ts_ms: int, value: float, sample_size: float | None
    ) -> tuple[Decision, Columns]:
        if state.state_key != self.config.state_key:
            msg = f"state_key {state.state_key!r} != detector's {self.config.state_key!r}"
            raise StateMismatchError(msg)
        cols = Columns.from_state(self.config, state)
        out, new = step(
            self.config, cols, [int(ts_ms)], [value], None if sample_size is None else [sample_size]
        )
        return out.decision(0), new

    def score(
        self, state: SeriesState, ts_ms: int, value: float, sample_size: float | None = None
    ) -> Decision:
        """Return the decision for the window ending at ``ts_ms`` without changing ``state``.

        ``value`` is the count, the ratio's numerator or the percentile; ``sample_size``
        the ratio's denominator or the number of events behind a percentile.
        """
        return self._run(state, ts_ms, value, sample_size)[0]

    def update(
        self, state: SeriesState, ts_ms: int, value: float, sample_size: float | None = None
    ) -> None:
        """Fold the window into ``state`` (baseline and alert episode)."""
        new = self._run(state, ts_ms, value, sample_size)[1].state(0, self.config.state_key)
        for name in _STATE_FIELDS:
            setattr(state, name, getattr(new, name))

    def step(
        self, state: SeriesState, ts_ms: int, value: float, sample_size: float | None = None
    ) -> Decision:
        """Return :meth:`score` and apply :meth:`update` in one pass."""
        decision, new_cols = self._run(state, ts_ms, value, sample_size)
        new = new_cols.state(0, self.config.state_key)
        for name in _STATE_FIELDS:
            setattr(state, name, getattr(new, name))
        return decision
