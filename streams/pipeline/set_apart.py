"""Judging a window without the one cell that stands out of it.

A parcel carrier that damages parcels in one region lifts the return rate of every
category it delivers a little: a category's returns come from all its region x carrier
cells, and a few of them come from the damaged one. Over a day or two that lift adds
up in the category's sequential test, and each category pages for what is one cell's
problem (and that cell's own series already pages for it).

A ratio rule with ``set_apart = "region,carrier"`` therefore has the series of its
``set_apart_in`` dimensions carry their window's ``[num, den]`` per cell
(:attr:`~streams.pipeline.aggregate.Partial.split`). Before the window is judged, the
cell whose numerator stands out most of the rest of the series is tested: given the
window's ``N`` events of the numerator, a cell holding ``d`` of the denominator ``D``
has ``Binomial(N, d / D)`` of them when it is like the rest. When the cell's count is
in that distribution's upper tail beyond the rule's ``z`` (Bonferroni over the cells
with events, so chance leaves a cell apart in at most the band's share of the windows),
the series judges, learns from and reports the window without it. A rise spread over
the cells (a sizing error, a weekday) is judged as before; one cell far above the rest
is left to the cell's own series.

The test conditions on ``N``, so it needs no baseline of the cell (the exact
conditional test for equal rates of Poisson counts, Lehmann & Romano, *Testing
Statistical Hypotheses*, 3rd ed., sec. 4.6).
"""

from __future__ import annotations

from statistics import NormalDist

from streams.pipeline.aggregate import Partial
from thresholds.tails import binomial_tail

__all__ = ["set_apart"]


def set_apart(partial: Partial, z: float) -> tuple[Partial, str | None]:
    """``partial`` without the cell that stands out of it at ``z`` (and that cell's key),
    or ``partial`` itself and ``None`` when no cell does.

    A cell stands out when its numerator's upper tail under ``Binomial(N, d / D)`` is
    below ``P(Z > z) / m``, ``m`` the number of cells with events. The cell must hold less
    than the whole denominator: a series wholly in one cell is that cell's twin
    (:func:`~streams.pipeline.aggregate.is_twin`).

    >>> window = Partial(25.0, 4954.0, split={"UK,DPD": [8.0, 188.0], "EU,DHL": [4.0, 573.0]})
    >>> rest, cell = set_apart(window, 3.0)
    >>> cell, rest.num, rest.den
    ('UK,DPD', 17.0, 4766.0)
    >>> set_apart(Partial(25.0, 4954.0, split={"EU,DHL": [4.0, 573.0]}), 3.0)[1] is None
    True
    """
    split = partial.split
    total = round(partial.num)
    den = partial.den
    if not split or total <= 0 or den <= 0:
        return partial, None
    candidates = [
        (cell, num, cell_den)
        for cell, (num, cell_den) in split.items()
        if num > 0 and 0 < cell_den < den * (1 - 1e-9)
    ]
    if not candidates:
        return partial, None
    alpha = NormalDist().cdf(-z) / len(candidates)
    best: tuple[float, str, float, float] | None = None
    for cell, num, cell_den in sorted(candidates):
        tail = binomial_tail(round(num), total, cell_den / den)
        if best is None or tail < best[0]:
            best = (tail, cell, num, cell_den)
    assert best is not None
    tail, cell, num, cell_den = best
    if tail > alpha:
        return partial, None
    rest = Partial(
        max(0.0, partial.num - num),
        max(0.0, den - cell_den),
        partial.sketch,
        partial.context,
        partial.cells,
        partial.strata,
    )
    return rest, cell
