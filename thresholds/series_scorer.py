"""One generic streaming configuration for a single series (``score-series``).

:class:`SeriesScorer` turns rows ``(timestamp_ms, value)`` into an
``anomaly_score`` in [0, 1] and a 0/1 ``alert``, one row at a time, using only
rows up to the current one, with bounded memory and no knowledge of the
series' units. Five stages:

1. **Nonconformity** (k-nearest-neighbour distance, as in KNN-CAD): the last
   ``embed`` values form a vector ``e_t``; its nonconformity is the sum of the
   distances to its ``neighbours`` nearest vectors among the last ``memory``
   ones (the ``exclude`` most recent, which overlap ``e_t``, are left out). A
   level shift, a spike or a change of shape all give vectors unlike the
   recent past; seasonal repetition does not.
2. **Seasonal nonconformity** (same time of day, the seasonal-naive reference
   of Hyndman & Athanasopoulos): the distance from ``e_t`` to the nearest of
   the vectors whose timestamps are exactly 1, 2, ..., ``seasonal_days`` (7: a
   week, so the same weekday is included) days earlier. Stage 1 cannot see a
   daily peak that fails to come, or a daytime value at night, because such a
   window resembles some other time of day; this channel can. Rows with no
   vector at those exact timestamps (irregular sampling, the first day) get no
   seasonal p-value. At most ``seasonal_memory`` vectors are kept.
3. **Calibration** (inductive conformal p-value), separately per channel:
   ``a_t`` is ranked among that channel's last ``calibration``
   nonconformities, ``p = (#{a < a_t} + #{a = a_t}/2) / (C + 1)``;
   above the largest, the relative excess ``(a_t - max) / a_t`` (unit-free, in
   (0, 1)) breaks ties so that stronger novelty still scores higher:
   ``p = (C + (a_t - max) / a_t) / (C + 1)``. ``p`` is comparable across series
   whatever their scale or noise. The raw score is the larger of the two
   p-values (a union of the two tests; the corpus-wide threshold absorbs the
   doubled false-alarm rate).
4. **Range novelty** (the "spatial anomaly" rule of NAB's Numenta detectors,
   ``nab/detectors/numenta/numenta_detector.py``, ``SPATIAL_TOLERANCE = 0.05``):
   with ``lo``/``hi`` the running minimum/maximum of the values seen *before*
   row t, a value outside ``[lo - tol*(hi-lo), hi + tol*(hi-lo)]`` scores 1.0.
   Only the running extremes so far are used, never the series' global range.
5. **Decision**: only the first detection of an event is news, so a score
   that does not exceed the highest raw score of the last ``refractory`` rows
   is damped to ``repeat_factor`` of itself (a threshold-free refractory
   period; 150 rows is the suppression span of NAB's KNN-CAD detector,
   ``probationaryPeriod / 5`` with its 750-row probation). ``alert`` is 1 on
   the row where the damped score first reaches ``alert_level`` (the episode
   "fires"); the episode resolves after ``refractory`` rows below it
   (hysteresis). Scores are 0 during the ``grace_period`` (warm-up).

Timestamps only need to be integers: repeats, gaps and steps back are
accepted; rows are taken in the order given.

Examples
--------
>>> import math
>>> scorer = SeriesScorer()
>>> rows = [scorer.score(i * 300_000, 10 * math.sin(i / 12) + (i % 3)) for i in range(900)]
>>> sum(r.alert for r in rows[300:])
0
>>> r = scorer.score(900 * 300_000, 60.0)
>>> r.alert, r.anomaly_score
(1, 1.0)

References
----------
Burnaev, E., & Ishimtsev, V. (2016). Conformalized density- and distance-based
anomaly detection in time-series data. arXiv:1608.04585 (KNN-CAD; NAB's
``knncad_detector.py`` for the refractory span).

Hyndman, R. J., & Athanasopoulos, G. (2021). *Forecasting: Principles and
Practice*, 3rd ed., section 5.2 (the seasonal naive method: the value one
season earlier as reference).

Vovk, V., Gammerman, A., & Shafer, G. (2005). *Algorithmic Learning in a Random
World*. Springer (conformal p-values).

Ahmad, S., Lavin, A., Purdy, S., & Agha, Z. (2017). Unsupervised real-time
anomaly detection for streaming data. *Neurocomputing* 262, 134-147 (the
Numenta detectors whose NAB implementation adds the spatial-anomaly rule).

Lavin, A., & Ahmad, S. (2015). Evaluating real-time anomaly detection
algorithms: the Numenta Anomaly Benchmark. *IEEE ICMLA* (NAB scoring).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from thresholds._validate import finite_float

__all__ = ["ScoredRow", "ScorerConfig", "SeriesScorer"]


class ScoredRow(NamedTuple):
    """One scored row: ``anomaly_score`` in [0, 1] and ``alert`` 0/1."""

    anomaly_score: float
    alert: int


@dataclass(frozen=True, slots=True)
class ScorerConfig:
    """Parameters of :class:`SeriesScorer` (one configuration for every series).

    Parameters
    ----------
    embed
        Values per context vector.
    neighbours
        Nearest neighbours summed into the nonconformity.
    memory
        Past context vectors kept as the reference set (bounded memory).
    exclude
        Most recent vectors kept out of the reference set (they overlap).
    calibration
        Past nonconformities the current one is ranked against.
    seasonal_days
        Same-time-of-day comparisons: the context vector is compared with the
        ones exactly 1, 2, ..., ``seasonal_days`` days earlier (0 turns the
        channel off).
    seasonal_memory
        Past context vectors kept for those comparisons (bounded memory;
        2016 is one week of 5-minute rows).
    spatial_tolerance
        Fraction of the running range ``hi - lo`` a value may lie outside it
        before it scores 1.0 (range novelty); ``None`` turns the rule off.
    grace_period
        Rows before any score is emitted (warm-up).
    refractory
        Rows during which a repeat (not higher) score is damped.
    repeat_factor
        Multiplier of damped repeat scores.
    alert_level
        Damped score that fires an alert episode.
    """

    embed: int = 10
    neighbours: int = 5
    memory: int = 800
    exclude: int = 5
    calibration: int = 800
    seasonal_days: int = 7
    seasonal_memory: int = 2016
    spatial_tolerance: float | None = 0.05
    grace_period: int = 150
    refractory: int = 150
    repeat_factor: float = 0.0
    alert_level: float = 0.9988

    def __post_init__(self) -> None:
        for name in (
            "embed",
            "neighbours",
            "memory",
            "calibration",
            "refractory",
            "seasonal_memory",
        ):
            if getattr(self, name) < 1:
                msg = f"{name} must be an int >= 1, got {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.seasonal_days < 0:
            msg = f"seasonal_days must be an int >= 0, got {self.seasonal_days!r}"
            raise ValueError(msg)
        if self.memory < 2 * self.neighbours:
            msg = f"memory must be >= 2 * neighbours, got {self.memory!r}"
            raise ValueError(msg)
        if self.spatial_tolerance is not None and not (
            math.isfinite(self.spatial_tolerance) and self.spatial_tolerance >= 0.0
        ):
            msg = (
                "spatial_tolerance must be a finite float >= 0 or None, "
                f"got {self.spatial_tolerance!r}"
            )
            raise ValueError(msg)
        if not 0.0 <= self.repeat_factor < 1.0:
            msg = f"repeat_factor must be in [0, 1), got {self.repeat_factor!r}"
            raise ValueError(msg)


_MIN_CALIBRATION = 50
_DAY_MS = 86_400_000
# Seasonal distances below this fraction of the values' magnitude are rounding
# noise of an exact repeat; ranking them would turn noise into p-values near 1.
_ROUNDING = 1e-9


class _Calibration:
    """Inductive conformal p-value of a nonconformity among the last ``size`` ones."""

    def __init__(self, size: int) -> None:
        self._buf = np.zeros(size)
        self._size = 0
        self._pos = 0

    def p_value(self, a: float) -> float:
        """Return ``a``'s p-value (0.0 until ``_MIN_CALIBRATION`` are seen), then learn ``a``."""
        n = self._size
        p = 0.0
        if n >= _MIN_CALIBRATION:
            cal = self._buf[:n]
            top = float(cal.max())
            if a > top:
                p = (n + (a - top) / a) / (n + 1)  # a > top >= 0, so a > 0
            else:
                below = int(np.count_nonzero(cal < a))
                ties = int(np.count_nonzero(cal == a))
                p = (below + 0.5 * ties) / (n + 1)
        self._buf[self._pos] = a
        self._pos = (self._pos + 1) % len(self._buf)
        self._size = min(n + 1, len(self._buf))
        return p


class SeriesScorer:
    """Stream one series' rows to ``(anomaly_score, alert)``.

    Parameters
    ----------
    config
        The scorer's parameters; the default is the one generic configuration.
    """

    def __init__(self, config: ScorerConfig | None = None) -> None:
        self.config = cfg = config or ScorerConfig()
        self._row = 0
        self._context: deque[float] = deque(maxlen=cfg.embed)
        self._reference = np.zeros((cfg.memory, cfg.embed))
        self._ref_size = 0
        self._ref_pos = 0
        self._pending: deque[np.ndarray] = deque()
        self._cal = _Calibration(cfg.calibration)
        self._seasonal_cal = _Calibration(cfg.calibration)
        self._past = np.zeros((cfg.seasonal_memory, cfg.embed))
        self._past_ts: list[int | None] = [None] * cfg.seasonal_memory
        self._past_slot: dict[int, int] = {}
        self._past_pos = 0
        self._lo = math.inf
        self._hi = -math.inf
        self._peaks: deque[tuple[int, float]] = deque()
        self._alerting = False
        self._quiet = 0

    def score(self, ts_ms: int, value: float) -> ScoredRow:
        """Score the next row and learn from it."""
        ts = int(ts_ms)  # any integer timestamp is accepted; order is the caller's
        x = finite_float("value", value)
        self._context.append(x)
        raw = 0.0
        if len(self._context) == self.config.embed:
            vec = np.array(self._context)
            raw = max(self._nonconformity_p(vec), self._seasonal_p(ts, vec))
        if self._outside_range(x):
            raw = 1.0
        if self._row < self.config.grace_period:
            raw = 0.0
        out = self._decide(raw)
        self._row += 1
        return out

    def _nonconformity_p(self, vec: np.ndarray) -> float:
        cfg = self.config
        p = 0.0
        if self._ref_size >= 2 * cfg.neighbours:
            diff = self._reference[: self._ref_size] - vec
            dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            a = float(np.partition(dist, cfg.neighbours)[: cfg.neighbours].sum())
            p = self._cal.p_value(a)
        self._pending.append(vec)
        if len(self._pending) > cfg.exclude:
            self._reference[self._ref_pos] = self._pending.popleft()
            self._ref_pos = (self._ref_pos + 1) % cfg.memory
            self._ref_size = min(self._ref_size + 1, cfg.memory)
        return p

    def _seasonal_p(self, ts: int, vec: np.ndarray) -> float:
        """Distance to the nearest same-time vector of the last days, as a p-value."""
        cfg = self.config
        if cfg.seasonal_days == 0:
            return 0.0
        slots = [self._past_slot.get(ts - d * _DAY_MS) for d in range(1, cfg.seasonal_days + 1)]
        found = [s for s in slots if s is not None]
        a = -1.0
        if found:
            diff = self._past[found] - vec
            a = float(np.sqrt(np.einsum("ij,ij->i", diff, diff)).min())
            if a <= _ROUNDING * float(np.abs(vec).max()):
                a = 0.0  # an exact repeat up to floating-point rounding
        pos = self._past_pos
        old = self._past_ts[pos]
        if old is not None and self._past_slot.get(old) == pos:
            del self._past_slot[old]
        self._past[pos] = vec
        self._past_ts[pos] = ts
        self._past_slot[ts] = pos
        self._past_pos = (pos + 1) % cfg.seasonal_memory
        return self._seasonal_cal.p_value(a) if a >= 0.0 else 0.0

    def _outside_range(self, x: float) -> bool:
        """NAB's spatial-anomaly rule against the running range, then widen it."""
        tol = self.config.spatial_tolerance
        lo, hi = self._lo, self._hi
        outside = False
        if tol is not None and lo < hi:
            margin = tol * (hi - lo)
            outside = x > hi + margin or x < lo - margin
        self._lo = min(lo, x)
        self._hi = max(hi, x)
        return outside

    def _decide(self, raw: float) -> ScoredRow:
        cfg = self.config
        i = self._row
        peaks = self._peaks
        while peaks and peaks[0][0] <= i - cfg.refractory:
            peaks.popleft()
        recent_max = peaks[0][1] if peaks else 0.0
        out = raw if raw > recent_max else raw * cfg.repeat_factor
        while peaks and peaks[-1][1] <= raw:
            peaks.pop()
        peaks.append((i, raw))
        alert = 0
        if out >= cfg.alert_level and not self._alerting:
            self._alerting = True
            alert = 1
            self._quiet = 0
        elif self._alerting:
            self._quiet = 0 if out >= cfg.alert_level else self._quiet + 1
            if self._quiet >= cfg.refractory:
                self._alerting = False
        return ScoredRow(min(max(out, 0.0), 1.0), alert)
