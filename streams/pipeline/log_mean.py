"""Percentile rules decided on the mean of log values, reported as the percentile.

A window's p90 of a handful of waits is close to its maximum and its noise formula is
asymptotic, so a quantile rule has to skip small windows: at a few waits per window a
staffing gap that multiplies every wait by four goes unseen. For lognormal-like
values the mean of ``log1p(x)`` is the efficient statistic of a multiplicative shift:
with ``n`` values of log-spread ``s`` its sampling variance is ``s^2 / n`` at any
``n``, so every window adds evidence weighted by its size (issue 16, "efficient
statistics"); a x4 shift of waits with ``s = 0.7`` moves it by ``2 sqrt(n)`` standard
errors per window.

The window's own spread ``s_i^2`` (``n_i - 1`` degrees of freedom) is shrunk toward
the series' spread learned over its past windows (a decayed pooled within-window
variance; a series without a past is judged by its own window alone, never by the other
series of the window: the worker's closers each hold a share of a rule's series, and the
decision must not depend on which share), so that a window of three waits is not judged
by its own, wildly uncertain spread (the pooled variance is the within-group estimate of
one-way ANOVA; shrinking a group's variance toward it is Smyth's moderated variance,
2004, *Stat. Appl. Genet. Mol. Biol.* 3(1), art. 3)::

    s_pool^2 = sum(lambda^age (n_t - 1) s_t^2) / sum(lambda^age (n_t - 1))
    s~_i^2   = ((n_i - 1) s_i^2 + d0 s_pool^2) / (n_i - 1 + d0),  d0 = min(pooled df, 30)
    noise_i  = s~_i^2 / n_i

With ``strata`` (a rule's ``strata = "channel"``: chat waits seconds, email waits hours),
the spread that sets the noise is the one *within* the strata (pooled over them, one-way
ANOVA again), and each stratum's values are first moved by the distance between its own
learned level and the series' (direct standardisation, as epidemiology compares rates of
populations with different age mixes)::

    L_c   = sum(lambda^age sum_log_c) / sum(lambda^age n_c)         (stratum c's level)
    L     = sum_c sum(lambda^age sum_log_c) / sum_c sum(lambda^age n_c)
    m_adj = m - sum_c n_c (L_c - L) / n

A queue whose waits are 40 % chat, 40 % phone and 20 % email has a log-spread of about
1.0 over all its waits and 0.8 within each channel: the same surge then stands 1.25 times
as many standard errors out, and more email tickets in a window is no longer a surge.

Users read the percentile: alerts report the window's sketch quantile as the observed
value, and the band is shown at the percentile's height, ``exp(z_q s~)`` above the
log-mean's band (the lognormal relation between a quantile and the log-mean). The
absolute guard of the rule (``guard_above``: "never page for a p90 under two
minutes") compares the reported percentile.

>>> from thresholds.sketch import QuantileSketch
>>> a, b = QuantileSketch(), QuantileSketch()
>>> for v in (100.0, 200.0, 400.0):
...     a.add(v)
>>> for v in (90.0, 110.0, 300.0, 150.0):
...     b.add(v)
>>> memory = SpreadMemory()
>>> w = window(["a", "b", "c"], [a, b, None], 0.9, memory)
>>> [round(float(x), 3) for x in w.noise], w.sizes.tolist()
([0.157, 0.07, 0.0], [3.0, 4.0, 0.0])
>>> memory.learn(w)
>>> sorted(memory.table)
['a', 'b']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from streams.pipeline.strata import UNIT, Strata, moments
from thresholds.engine import Outcome
from thresholds.sketch import QuantileSketch

__all__ = ["LogMeanWindow", "SpreadMemory", "window"]

F64 = npt.NDArray[np.float64]
#: Most degrees of freedom the pooled spread weighs with in a series' moderated spread.
PRIOR_DF = 30.0
#: Windows over which a series' past spread loses half its weight (4 days of 15-min hops).
HALF_LIFE_WINDOWS = 384.0
#: Values a stratum's learned level needs before it moves its values (until then they
#: count at the series' level).
MIN_LEVEL_COUNT = 20.0
#: Most strata a series learns levels for (the aggregator folds more into ``__other__``).
MAX_LEVELS = 16


@dataclass(frozen=True, slots=True)
class LogMeanWindow:
    """One window of a percentile rule decided on log-means, aligned with its series."""

    #: ``expm1`` of each series' mean ``log1p``: the engine's percentile scale is
    #: ``log1p``, so it decides on the log-mean itself.
    values: F64
    sizes: F64
    #: Sampling variance of the log-mean (``s~^2 / n``; 0 where there is no data).
    noise: F64
    #: The window's sketch quantile: what alerts report and the guards compare.
    quantiles: F64
    #: ``z_q s~``: the log distance from the log-mean to the quantile, for the band.
    lift: F64
    #: Series ids, and each window's own degrees of freedom and spread (to learn from).
    ids: tuple[str, ...]
    df: F64
    spreads: F64
    #: Each series' strata sums (``None`` without strata), to learn the levels from.
    strata: tuple[Strata | None, ...] = ()

    def report(self, outcome: Outcome) -> Outcome:
        """``outcome`` with the observed value, baseline and band moved to the quantile."""

        def up(a: F64) -> F64:
            return np.expm1(np.log1p(np.maximum(a, 0.0)) + self.lift)

        return replace(
            outcome,
            observed=self.quantiles.copy(),
            baseline=up(outcome.baseline),
            lower=up(outcome.lower),
            upper=up(outcome.upper),
        )


class SpreadMemory:
    """Each series' decayed pooled within-window spread: ``sid -> (sum w df s^2, sum w df)``,
    and with strata each stratum's decayed level: ``sid -> {stratum: (sum w n, sum w
    sum_log)}`` (part of the closer's state, so replay and a restored worker judge alike)."""

    __slots__ = ("levels", "table")

    def __init__(
        self,
        table: dict[str, tuple[float, float]] | None = None,
        levels: dict[str, dict[str, tuple[float, float]]] | None = None,
    ) -> None:
        self.table: dict[str, tuple[float, float]] = dict(table or {})
        self.levels: dict[str, dict[str, tuple[float, float]]] = dict(levels or {})

    def forget(self, sid: str) -> None:
        """Drop an evicted series."""
        self.table.pop(sid, None)
        self.levels.pop(sid, None)

    def shift(self, sid: str, strata: Strata) -> float:
        """``sum_c n_c (L_c - L) / n``: how far the window's mix of strata moves its
        log-mean from the series' usual mix (0 until the levels are learned)."""
        learned = self.levels.get(sid)
        if not learned:
            return 0.0
        weight = sum(w for w, _ in learned.values())
        if weight <= 0:
            return 0.0
        overall = sum(t for _, t in learned.values()) / weight
        moved = 0.0
        count = 0.0
        for name, (n, _, _) in strata.items():
            count += n
            level = learned.get(name)
            if level is not None and level[0] >= MIN_LEVEL_COUNT:
                moved += n * (level[1] / level[0] - overall)
        return moved / count if count > 0 else 0.0

    def prior(self, sid: str) -> tuple[float, float]:
        """``(pooled spread, its degrees of freedom)``; ``(0, 0)`` for a new series."""
        ss, df = self.table.get(sid, (0.0, 0.0))
        return (ss / df, df) if df > 0 else (0.0, 0.0)

    def learn(self, seen: LogMeanWindow) -> None:
        """Add the window's own spreads (after it was judged: prequential)."""
        decay = 2.0 ** (-1.0 / HALF_LIFE_WINDOWS)
        for sid, df, spread in zip(seen.ids, seen.df.tolist(), seen.spreads.tolist(), strict=True):
            if df <= 0:
                continue
            ss, total = self.table.get(sid, (0.0, 0.0))
            self.table[sid] = (decay * ss + df * spread, decay * total + df)
        for sid, strata in zip(seen.ids, seen.strata, strict=False):
            if not strata:
                continue
            learned = self.levels.get(sid)
            if learned is None:
                learned = self.levels[sid] = {}
            for name in learned:  # a stratum absent from the window decays too
                if name not in strata:
                    w, t = learned[name]
                    learned[name] = (decay * w, decay * t)
            for name, (n, total_log, _) in strata.items():
                if n <= 0:
                    continue
                w, t = learned.get(name, (0.0, 0.0))
                if name not in learned and len(learned) >= MAX_LEVELS:
                    continue
                learned[name] = (decay * w + n, decay * t + total_log / UNIT)


def window(
    ids: Sequence[str],
    sketches: Sequence[QuantileSketch | None],
    quantile: float,
    memory: SpreadMemory,
    strata: Sequence[Strata | None] | None = None,
) -> LogMeanWindow:
    """The log-mean statistic of one window of series (``None``: no data there), with
    each series' strata sums where the rule has ``strata``."""
    size = len(sketches)
    means = np.zeros(size)
    spreads = np.zeros(size)
    sizes = np.zeros(size)
    quantiles = np.zeros(size)
    df = np.zeros(size)
    between = np.zeros(size)  # the spread of the window's strata means, for the band
    for i, sketch in enumerate(sketches):
        if sketch is None or sketch.count == 0:
            continue
        means[i], spreads[i] = sketch.log1p_moments()
        sizes[i] = sketch.count
        df[i] = max(sizes[i] - 1.0, 0.0)
        quantiles[i] = sketch.quantile(quantile)
        cells = strata[i] if strata is not None else None
        if cells:
            split = moments(cells)
            if split is not None:
                _, spreads[i], df[i], between[i] = split
            means[i] -= memory.shift(ids[i], cells)
    learned = [memory.prior(sid) for sid in ids]
    prior = np.array([p for p, _ in learned])
    prior_df = np.minimum(np.array([d for _, d in learned]), PRIOR_DF)
    has = (sizes > 0) & (df + prior_df > 0)
    moderated = np.where(
        has, (df * spreads + prior_df * prior) / np.where(has, df + prior_df, 1.0), 0.0
    )
    sizes = np.where(has, sizes, 0.0)  # no spread to judge by at all: no evidence
    noise = np.where(has, moderated / np.where(has, sizes, 1.0), 0.0)
    z_q = NormalDist().inv_cdf(min(max(quantile, 1e-6), 1 - 1e-6))
    lift = np.where(has, z_q * np.sqrt(moderated + between), 0.0)
    values = np.where(has, np.expm1(np.minimum(means, math.log(1e300))), 0.0)
    kept = tuple(strata) if strata is not None else ()
    return LogMeanWindow(values, sizes, noise, quantiles, lift, tuple(ids), df, spreads, kept)
