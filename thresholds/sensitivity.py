"""Sensitivity: how many standard deviations make the edge of the band.

The band is ``baseline ± z * sigma`` in the metric's variance-stabilised scale
(see :mod:`thresholds.kinds`), so one ``z`` means the same tail probability for
every metric kind. Named levels map to:

========  =====  ===============================================
level       z    two-sided tail of one window under the model
========  =====  ===============================================
low        4.0   6.3e-5
medium     3.0   2.7e-3
high       2.5   1.2e-2
========  =====  ===============================================

A float overrides the level directly.

Examples
--------
>>> z_threshold("medium")
3.0
>>> z_threshold(3.5)
3.5

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. *JASA* 22(158), 209-212 (the score test behind the rate band).
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["SENSITIVITY_LEVELS", "Sensitivity", "z_threshold"]

Sensitivity = Literal["low", "medium", "high"] | float

SENSITIVITY_LEVELS: dict[str, float] = {"low": 4.0, "medium": 3.0, "high": 2.5}


def z_threshold(sensitivity: Sensitivity) -> float:
    """Return the band's half-width in standard deviations for ``sensitivity``."""
    if isinstance(sensitivity, str):
        try:
            return SENSITIVITY_LEVELS[sensitivity]
        except KeyError:
            msg = f"sensitivity must be one of low/medium/high or a number > 0, got {sensitivity!r}"
            raise ValueError(msg) from None
    z = float(sensitivity)
    if not math.isfinite(z) or z <= 0.0:
        msg = f"sensitivity must be a finite number > 0, got {sensitivity!r}"
        raise ValueError(msg)
    return z
