"""Traffic intensity over event time: daily and weekly seasonality times slow noise.

The daily profile is a floor plus three Gaussian bumps (late morning, lunch, evening
peak around 20:30 UTC), normalised to mean 1 over the day. The weekly profile has a
Sunday-evening high and a Saturday low (normalised to mean 1 over the week). Noise is a
per-day log-normal level times an AR(1) log-normal wiggle per step.

Examples
--------
>>> import numpy as np
>>> p = daily_profile(np.array([4.0, 20.5]))
>>> bool(p[1] / p[0] > 3)
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streams.dev.simulator.timefmt import MS_PER_DAY, MS_PER_HOUR

FloatArray = npt.NDArray[np.float64]

_BUMPS = ((10.5, 2.0, 0.6), (14.5, 2.5, 0.45), (20.5, 2.3, 1.0))
_FLOOR = 0.10
WEEKLY = np.array([1.05, 1.00, 0.98, 0.97, 0.93, 0.88, 1.19])
"""Monday..Sunday multipliers (mean 1)."""


def _raw_daily(hours: FloatArray) -> FloatArray:
    out = np.full_like(hours, _FLOOR, dtype=np.float64)
    for centre, width, height in _BUMPS:
        for shift in (-24.0, 0.0, 24.0):
            out += height * np.exp(-0.5 * ((hours - centre - shift) / width) ** 2)
    return out


_NORM = float(_raw_daily(np.arange(0.0, 24.0, 1.0 / 60.0)).mean())


def daily_profile(hours: FloatArray) -> FloatArray:
    """Relative order intensity at hour-of-day ``hours`` (UTC, float), mean 1 over a day."""
    return _raw_daily(hours) / _NORM


def day_of_week(ts_ms: npt.NDArray[np.int64] | int) -> npt.NDArray[np.int64] | int:
    """Monday=0 .. Sunday=6 for epoch milliseconds (1970-01-01 was a Thursday)."""
    return (ts_ms // MS_PER_DAY + 3) % 7


def seasonal(ts_ms: npt.NDArray[np.int64]) -> FloatArray:
    """Daily x weekly intensity at each time (no noise)."""
    hours = (ts_ms % MS_PER_DAY) / MS_PER_HOUR
    intensity: FloatArray = daily_profile(hours) * WEEKLY[day_of_week(ts_ms)]
    return intensity


class Noise:
    """Seeded multiplicative volume noise: a per-day level and an AR(1) per-step wiggle.

    Parameters
    ----------
    rng
        The traffic stream's numpy Generator.
    sigma
        Log-scale standard deviation of the AR(1) wiggle; the daily level uses ``sigma / 2``.
    phi
        AR(1) coefficient per step (close to 1 = slow drift).
    """

    def __init__(self, rng: np.random.Generator, sigma: float, phi: float = 0.9) -> None:
        self._rng = rng
        self._sigma = sigma
        self._phi = phi
        self._state = 0.0
        self._day = -1
        self._level = 1.0

    def step(self, ts_ms: int) -> float:
        """Advance one step at ``ts_ms`` and return the multiplier (about 1)."""
        day = ts_ms // MS_PER_DAY
        if day != self._day:
            self._day = day
            self._level = float(np.exp(self._rng.normal(0.0, self._sigma / 2)))
        shock = self._rng.normal(0.0, self._sigma * np.sqrt(1 - self._phi**2))
        self._state = self._phi * self._state + float(shock)
        return self._level * float(np.exp(self._state))
