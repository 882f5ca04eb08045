"""Shared simulators for the threshold engine tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HOUR_MS = 3_600_000


def seasonal_rate(t: int, base: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return the hourly Poisson mean at window ``t``: daily sine, quieter weekends."""
    hour, day = t % 24, (t // 24) % 7
    return base * (1 + 0.5 * np.sin(2 * np.pi * hour / 24)) * (0.7 if day >= 5 else 1.0)
