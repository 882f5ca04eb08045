"""A window's values split by a stratum (a queue's waits by contact channel): per stratum
value, the count, sum and sum of squares of the values' signed ``log1p``.

Sums are kept in whole units of :data:`UNIT` (each ``log1p`` rounded to 1e-4, a 0.01 %
change of the value), so they are exact in floats up to 2**53 and a merge gives the same
bits in any order: replay and the worker's closers, which merge sources in different
orders, judge alike. What the judge reads of them (``streams.pipeline.log_mean``) is the
pooled spread *within* the strata and the spread of their means (one-way ANOVA)::

    mean    = sum_c t_c / n
    within  = sum_c (q_c - t_c^2 / n_c) / (n - C)      (C non-empty strata)
    between = sum_c t_c^2 / n_c / n - mean^2

>>> sums: Strata = {}
>>> for channel, wait in (("chat", 30.0), ("chat", 60.0), ("email", 600.0)):
...     add(sums, channel, units(wait))
>>> sums["chat"][0], moments(sums) is None
(2.0, False)
>>> [round(x, 3) for x in moments(sums)]
[4.648, 0.229, 1.0, 1.533]
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["MAX_STRATA", "OTHER_STRATUM", "UNIT", "Strata", "add", "merge", "moments", "units"]

#: Per stratum value: ``[count, sum, sum of squares]`` of ``log1p`` in units of :data:`UNIT`.
Strata = dict[str, list[float]]
UNIT: Final = 1e4
#: Most stratum values one partial keeps apart; more fold into :data:`OTHER_STRATUM`
#: (a stratum field is free text: a flood of values must not grow a partial).
MAX_STRATA: Final = 8
OTHER_STRATUM: Final = "__other__"


def units(value: float) -> float:
    """``value``'s signed ``log1p`` in whole units of :data:`UNIT` (once per event: a
    value counts in every window and key it falls in)."""
    return float(round(math.copysign(math.log1p(abs(value)), value) * UNIT))


def add(strata: Strata, name: str, y: float) -> None:
    """Count a value of :func:`units` ``y`` in stratum ``name``'s sums, in place."""
    sums = strata.get(name)
    if sums is None:
        if len(strata) >= MAX_STRATA:
            name = OTHER_STRATUM
            sums = strata.get(name)
        if sums is None:
            sums = strata[name] = [0.0, 0.0, 0.0]
    sums[0] += 1.0
    sums[1] += y
    sums[2] += y * y


def merge(into: Strata, other: Strata) -> None:
    """Add ``other``'s sums into ``into``, in place (``other`` shares nothing afterwards)."""
    for name, sums in other.items():
        mine = into.get(name)
        if mine is None:
            into[name] = list(sums)
        else:
            mine[0] += sums[0]
            mine[1] += sums[1]
            mine[2] += sums[2]


def moments(strata: Strata) -> tuple[float, float, float, float] | None:
    """``(mean, within-strata variance, its degrees of freedom, between-strata variance)``
    of the ``log1p`` values; ``None`` under two non-empty strata (the values' own moments
    are then the same thing)."""
    filled = [(n, t / UNIT, q / (UNIT * UNIT)) for n, t, q in strata.values() if n > 0]
    if len(filled) < 2:
        return None
    count = sum(n for n, _, _ in filled)
    df = count - len(filled)
    mean = sum(t for _, t, _ in filled) / count
    within = sum(q - t * t / n for n, t, q in filled)
    between = sum(t * t / n for n, t, _ in filled) / count - mean * mean
    return mean, (max(within, 0.0) / df if df > 0 else 0.0), df, max(between, 0.0)
