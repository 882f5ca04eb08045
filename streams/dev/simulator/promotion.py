"""Planned promotions: a smooth, announced rise of all traffic that must *not* alert.

A promotion multiplies order intensity by a factor that ramps smoothly (a raised-cosine
ramp, no kink) from 1 to ``peak`` over ``ramp``, holds for ``hold``, and falls back over
``ramp_down``. Deliveries, returns and complaints of the extra orders follow days later
on their own (the return wave). Customer-service staffing is planned for it, so the
promotion raises ticket volume but not waits (see :mod:`streams.dev.simulator.service`).

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> p = Promotion(
...     start=datetime(2026, 11, 10, 8, tzinfo=UTC),
...     ramp=timedelta(hours=8),
...     hold=timedelta(hours=12),
...     peak=2.5,
... )
>>> t0 = p.start_ms
>>> [round(p.factor(t0 + h * 3_600_000), 2) for h in (-1, 0, 4, 8, 20, 30)]
[1.0, 1.0, 1.75, 2.5, 2.5, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.dev.simulator.timefmt import to_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class Promotion:
    """One planned promotion (see the module docstring).

    Parameters
    ----------
    start
        When the ramp begins.
    ramp, hold, ramp_down
        Durations of the rise, the plateau and the fall.
    peak
        Traffic multiplier on the plateau (``>= 1``).
    """

    start: datetime
    ramp: timedelta = timedelta(hours=8)
    hold: timedelta = timedelta(hours=18)
    ramp_down: timedelta = timedelta(hours=4)
    peak: float = 2.0

    def __post_init__(self) -> None:
        """Validate; ``ValueError`` names the field."""
        if self.start.tzinfo is None:
            msg = f"promotion.start: must be timezone-aware, got {self.start!r}"
            raise ValueError(msg)
        for name in ("ramp", "hold", "ramp_down"):
            if getattr(self, name) < timedelta(0):
                msg = f"promotion.{name}: must be >= 0, got {getattr(self, name)!r}"
                raise ValueError(msg)
        if not self.peak >= 1.0:
            msg = f"promotion.peak: must be >= 1, got {self.peak!r}"
            raise ValueError(msg)

    @property
    def start_ms(self) -> int:
        """Start of the ramp, epoch ms."""
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        """End of the fall, epoch ms."""
        span = self.ramp + self.hold + self.ramp_down
        return self.start_ms + int(span.total_seconds() * 1000)

    def factor(self, ts_ms: int) -> float:
        """Traffic multiplier at ``ts_ms`` (1 outside the promotion)."""
        ramp = self.ramp.total_seconds() * 1000
        hold = self.hold.total_seconds() * 1000
        down = self.ramp_down.total_seconds() * 1000
        x = ts_ms - self.start_ms
        if x <= 0 or x >= ramp + hold + down:
            return 1.0
        if x < ramp:
            share = 0.5 - 0.5 * math.cos(math.pi * x / ramp)
        elif x < ramp + hold:
            share = 1.0
        else:
            share = 0.5 + 0.5 * math.cos(math.pi * (x - ramp - hold) / down)
        return 1.0 + (self.peak - 1.0) * share


def promotion_factor(promotions: tuple[Promotion, ...], ts_ms: int) -> float:
    """The product of every promotion's factor at ``ts_ms``."""
    out = 1.0
    for promo in promotions:
        out *= promo.factor(ts_ms)
    return out
