"""The engine's answer for one series and one window (or one event).

Every decision carries the numbers an alert needs to explain itself: what was
observed, what was expected, the band in force, how far outside it, and how many
events stood behind the observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["up", "down"]
Severity = Literal["info", "warning", "critical"]
Transition = Literal["fire", "resolve"]

__all__ = ["Decision", "Direction", "Severity", "Transition"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One evaluation of one series.

    Parameters
    ----------
    observed
        The window's value (a count, a rate, a percentile) or the event's value.
    baseline
        What was expected for this window; ``None`` while the series warms up.
    lower, upper
        The dynamic band in force; ``None`` on a side that is not watched or
        while warming up.
    score
        How far outside the band, in band half-widths beyond the edge
        (0 inside the band; positive above, negative below).
    anomaly_score
        The same evidence mapped monotonically to [0, 1].
    sample_size
        Events behind the observation (denominator for rates), or ``None``.
    ready
        ``False`` during warm-up: the engine says "not enough history yet".
    violating
        This window is outside the band and passes the absolute guards.
    direction
        ``"up"`` or ``"down"`` when violating (or while alerting), else ``None``.
    severity
        ``"info"``, ``"warning"`` or ``"critical"`` from how far outside.
    alerting
        Episode state after persistence (N-of-M) and hysteresis: ``True`` for
        every window of an active episode.
    transition
        ``"fire"`` on the window where ``alerting`` turns on, ``"resolve"`` on
        the window where it turns off, else ``None``.
    """

    observed: float
    baseline: float | None
    lower: float | None
    upper: float | None
    score: float
    anomaly_score: float
    sample_size: int | None
    ready: bool
    violating: bool
    direction: Direction | None
    severity: Severity | None
    alerting: bool
    transition: Transition | None
