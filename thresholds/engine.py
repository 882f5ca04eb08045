"""The windowed algorithm: robust seasonal baseline plus alert policy, vectorised.

Size: one vectorised function, :func:`step`, whose baseline, decision, sequential
evidence, episode and learning phases share their intermediate arrays; the state columns
it reads and writes are defined with it.

One call to :func:`step` evaluates one window for many series held as columns
(struct of arrays). The per-series :class:`~thresholds.detector.Detector` runs
the very same function on a one-row :class:`Columns`, so batch and single
results are identical bit for bit.

Baseline (in the kind's stabilised scale ``y``, see :mod:`thresholds.kinds`)::

    yhat  = level + hour[h] * [spacing <= 2 h] + weekday[d] * [spacing <= 1 day]
    sigma = sqrt(max(noise_t + max(var - noise, 0), min_scale^2))
    z     = (y - yhat) / sigma

``noise_t`` is this window's sampling variance (1 for counts, ``1/(4n+2)`` for
ratios, 0 for percentiles) and ``var - noise`` the learned extra variance.
After the decision the state learns from the residual ``r = y - yhat``
winsorised at ``clip_sigma * sigma`` (Huber-style, so the anomaly being reported
moves the baseline by at most ``alpha * clip_sigma * sigma`` per window)::

    level   += alpha * clip(r)            alpha = max(1 - 2^(-1/half_life), 1/(n+1))
    hour[h] += g_h * clip(r);  weekday[d] += g_d * clip(r)
    var     += alpha_v * (min(r^2, (clip_sigma*sigma)^2) - var)

During warm-up (``n < grace_period``) residuals are not clipped and ``alpha`` is
the running-mean gain; a series with an hour profile teaches its weekday slots nothing
then (its first day's residuals are the profile not learned yet, which the slot of that
weekday, visited once a week, kept for weeks). ``alpha_v`` is ``alpha``, except after
warm-up in a window beyond the calm zone on a watched side (``|z| > resolve_below * z``),
where it is the half-life's gain ``1 - 2^(-1/half_life)``: at a young series'
running-mean gain, the residuals of an incident's first days, just inside the band,
doubled its band within a day and the incident was never reported (a sizing error at
0.3x, quality matrix).
A ratio or percentile window out of band (after warm-up, no shift being adopted) leaves
level and ``var`` alone, and its ``g_h * clip(r)`` waits in ``hour_pending`` until the
series leaves the hour (in band too where its windows span at most two hops): the slot
learns a pattern that recurs daily (a queue's shift change pages every night otherwise),
but not within the hour being judged.
After ``shift_after`` consecutive violations on one side the level closes
``shift_rate`` of the gap per window instead (a lasting level shift is adopted at that
pace). Windows without valid data change nothing.

Policy: a window violates when ``|z| > z`` on a watched side and the absolute
guard allows it; an episode fires when ``n`` of the last ``m`` windows violate
(or one window reaches ``fire_immediately_at * z``) and resolves after
``resolve_after`` consecutive windows with ``|z| < resolve_below * z``.
``anomaly_score = |z| / (|z| + z)`` on the watched side (0.5 at the band edge).
Under ``policy = "cusum"`` it also fires when a one-sided CUSUM (Page 1954) of
``(z - k) / (sqrt(overlap) * spread)`` reaches ``h``; ``spread`` >= 1 discounts runs of
windows whose residuals stray together (:func:`_evidence_spread`).

Examples
--------
>>> import numpy as np
>>> from thresholds.config import DetectorConfig
>>> cfg = DetectorConfig(kind="count", grace_period=3)
>>> cols = Columns.empty(cfg, 1)
>>> for t, c in enumerate([10, 12, 9, 11, 40]):
...     out, cols = step(cfg, cols, np.array([t * 3_600_000]), np.array([float(c)]), None)
>>> bool(out.violating[0]), int(out.transition[0])
(True, 1)

References
----------
Huber, P. J. (1964). Robust estimation of a location parameter. *Annals of
Mathematical Statistics* 35(1), 73-101.

Winters, P. R. (1960). Forecasting sales by exponentially weighted moving
averages. *Management Science* 6(3), 324-342.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from thresholds.config import DetectorConfig
from thresholds.decision import Decision, Direction, Severity, Transition
from thresholds.kinds import poisson_log_gap, poisson_mean, prepare, to_observed
from thresholds.seasonal import (
    HOUR_MS,
    HOURS,
    WEEKDAYS,
    active_slots,
    seasonal_gains,
    slot_indices,
    update_spacing,
)
from thresholds.state import NO_TIMESTAMP, SeriesState
from thresholds.tails import EXACT_BELOW, binomial_z, poisson_z

__all__ = ["Columns", "Outcome", "step"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


#: Smallest value of a count's stabilised scale (zero events): ``2 sqrt(3/8)``.
_MIN_COUNT_Y = 2.0 * math.sqrt(0.375)
#: While a count rises on the side nobody pages on (a sale on a total that pages on drops
#: only), its baseline learns at this fraction of its usual gain.
_SURGE_GAIN = 0.125
#: The evidence of such a rise is held under this multiple of ``h``, so it drains within
#: a few windows once the rise ends.
_SURGE_CAP = 2.0


#: A share's or percentile's window spanning at most this many hops teaches its hour slot
#: only once the series has left the hour, in band as well as out of it. A x4 wait
#: surge's first windows, just inside the band, lifted their slot ~20 % within the hour
#: and took about one sigma off each later window; held, ``wait_time_p90`` paged 1 time
#: instead of 7 on the second shop at 1x (seeds 2-8), its surges found as fast. A window
#: of four hops (``handle_time_p90``, 1 h every 15 min) keeps learning within the hour:
#: its windows of an hour share most of their data, and held, a noisy night hour of a
#: small queue paged (2 -> 5 false episodes there).
_HOLD_HOUR_OVERLAP = 2.0


#: The drift ``d = LAMBDA d + z`` weighs a window's residual ``LAMBDA^j`` after ``j``
#: windows: it spans about ``1 / (1 - LAMBDA)`` = 8 windows, the runs over which a CUSUM
#: at ``h`` 5-6 gathers a modest shift.
_DRIFT_LAMBDA = 0.875
#: Residuals enter the drift clipped at this many sigmas: an incident's windows, and a
#: window far out of band, teach the spread little.
_DRIFT_CLIP = 2.0
#: Half-life in windows of the drift's learned mean square (a week of 15-minute
#: windows), and the weight in windows of its prior, windows that stray independently.
_DRIFT_HALF_LIFE = 672.0
_DRIFT_PRIOR = 32.0
#: The evidence of a window is never discounted by more than this factor of variance.
_DRIFT_MAX_RATIO = 16.0
#: ``E[d^2]`` of independent unit residuals: ``1 / (1 - LAMBDA^2)``.
_DRIFT_INDEPENDENT = 1.0 / (1.0 - _DRIFT_LAMBDA**2)
#: Twice the span over which squares of the drift stay correlated,
#: ``2 (1 + LAMBDA^2) / (1 - LAMBDA^2)``: the relative variance of their mean over N
#: windows is this / N (Gaussian residuals).
_DRIFT_SQUARE_SPAN = 2.0 * (1.0 + _DRIFT_LAMBDA**2) / (1.0 - _DRIFT_LAMBDA**2)
#: Windows an exponentially weighted mean at ``_DRIFT_HALF_LIFE`` is worth at most.
_DRIFT_MEMORY = 2.0 * _DRIFT_HALF_LIFE / math.log(2.0)


def _overlap_ratio(overlap: float) -> float:
    """The drift's variance ratio that overlapping windows alone cause.

    Windows ``j`` hops apart share ``1 - j / o`` of their events (``o`` = window / hop),
    so their residuals correlate by that much and ``E[d^2]`` grows by
    ``1 + 2 sum_j LAMBDA^j (1 - j / o)`` over independent windows. The CUSUM already
    divides an overlapping rule's increments by ``sqrt(o)``; only what strays beyond this
    is discounted again.

    >>> _overlap_ratio(1.0), round(_overlap_ratio(2.0), 3)
    (1.0, 1.875)
    """
    out, j = 1.0, 1
    while j < overlap:
        out += 2.0 * _DRIFT_LAMBDA**j * (1.0 - j / overlap)
        j += 1
    return out


def _evidence_spread(
    cfg: DetectorConfig, cols: Columns, z: F64, ready: B, teach: B
) -> tuple[F64, F64, F64]:
    """Return ``(spread, drift, drift_var)``: the CUSUM's discount and the new drift state.

    Page's CUSUM counts each window as independent evidence. A model's error is not
    independent: a quiet Saturday or a busy evening stays under or over the baseline for
    hours, and where sampling noise is small (a shop's total at high volume) those runs
    are most of each window's z. The variance of the drift ``d`` (an exponentially
    weighted sum of recent z, clipped at 2) against what independent windows give,
    ``R = E[d^2] (1 - LAMBDA^2)``, is the long-run variance ratio at the CUSUM's horizon
    (``1 + 2 sum_j LAMBDA^j rho_j`` for autocorrelations ``rho_j``); dividing increments
    and ``k`` by ``spread = sqrt(R)`` (beyond what overlap explains, less one standard
    error of the estimate, in [1, 4]) makes a run of ``m`` windows gather the evidence of
    the ``m / R`` independent ones it is worth (the variance-inflation correction of
    CUSUM for autocorrelated data: Timmer, Pignatiello & Longnecker 1998; Lu & Reynolds
    2001). Series whose windows stray independently (shares judged against their total,
    sparse counts) keep ``spread`` 1. ``E[d^2]`` is learned from calm windows after
    warm-up (``teach``), from a prior of independent windows, over a week of 15-minute
    windows.

    Timmer, D. H., Pignatiello, J. & Longnecker, M. (1998). The development and
    evaluation of CUSUM-based control charts for an AR(1) process. *IIE Transactions*
    30(6), 525-534. Lu, C.-W. & Reynolds, M. R. (2001). CUSUM charts for monitoring an
    autocorrelated process. *Journal of Quality Technology* 33(3), 316-334.
    """
    independent = _DRIFT_INDEPENDENT * _overlap_ratio(cfg.overlap)
    square = np.where(cols.drift_var > 0.0, cols.drift_var, independent)
    learned = np.maximum(cols.n - cfg.grace_period, 0).astype(np.float64)
    # Discount only what the learned square is known to exceed, by one standard error:
    # the mean of N squares of the drift (whose squares stay correlated over about
    # (1 + LAMBDA^2) / (1 - LAMBDA^2) = 7.5 windows) is known to sqrt(15 / N) of itself.
    # A series of independent windows, or one with few windows learned (an hourly rule
    # in its first week, a daily one for months), then keeps its evidence whole.
    known = np.minimum(learned + _DRIFT_PRIOR, _DRIFT_MEMORY)
    sure = square * np.maximum(1.0 - np.sqrt(_DRIFT_SQUARE_SPAN / known), 0.0)
    spread = np.sqrt(np.clip(sure / independent, 1.0, _DRIFT_MAX_RATIO))
    step = np.clip(z, -_DRIFT_CLIP, _DRIFT_CLIP)
    drift = np.where(ready, _DRIFT_LAMBDA * cols.drift + step, cols.drift)
    gain = np.maximum(1.0 - 2.0 ** (-1.0 / _DRIFT_HALF_LIFE), 1.0 / (learned + _DRIFT_PRIOR))
    drift_var = np.where(teach, square + gain * (drift * drift - square), cols.drift_var)
    return spread, drift, drift_var


def _prior_y(cfg: DetectorConfig) -> float:
    """The prior in the model's scale (for counts, the log of the stabilised scale)."""
    assert cfg.prior is not None
    if cfg.kind == "count":
        return math.log(2.0 * math.sqrt(cfg.prior + 0.375))
    if cfg.kind == "ratio":
        return math.asin(math.sqrt(cfg.prior))
    return math.copysign(math.log1p(abs(cfg.prior)), cfg.prior)


@dataclass(slots=True)
class Columns:
    """States of many series as parallel arrays (one row per series)."""

    n: I64
    last_ts: I64
    spacing: F64
    level: F64
    var: F64
    noise: F64
    hour: F64
    weekday: F64
    history: npt.NDArray[np.uint32]
    alerting: B
    calm: npt.NDArray[np.int32]
    run: npt.NDArray[np.int32]
    episode_direction: npt.NDArray[np.int8]
    cusum_up: F64
    cusum_down: F64
    hour_pending: F64
    drift: F64
    drift_var: F64

    @classmethod
    def empty(cls, cfg: DetectorConfig, size: int) -> Columns:
        """Return ``size`` fresh series (primed with the prior, if any)."""
        level = _prior_y(cfg) if cfg.prior is not None else 0.0
        var = cfg.prior_spread**2 if cfg.prior is not None else 0.0
        return cls(
            n=np.zeros(size, np.int64),
            last_ts=np.full(size, NO_TIMESTAMP, np.int64),
            spacing=np.zeros(size),
            level=np.full(size, level),
            var=np.full(size, var),
            noise=np.zeros(size),
            hour=np.zeros((size, HOURS)),
            weekday=np.zeros((size, WEEKDAYS)),
            history=np.zeros(size, np.uint32),
            alerting=np.zeros(size, np.bool_),
            calm=np.zeros(size, np.int32),
            run=np.zeros(size, np.int32),
            episode_direction=np.zeros(size, np.int8),
            cusum_up=np.zeros(size),
            cusum_down=np.zeros(size),
            hour_pending=np.zeros(size),
            drift=np.zeros(size),
            drift_var=np.zeros(size),
        )

    def __len__(self) -> int:
        return len(self.n)

    def take(self, rows: npt.NDArray[np.intp]) -> Columns:
        """Return a copy of the given rows."""
        return Columns(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def put(self, rows: npt.NDArray[np.intp], other: Columns) -> None:
        """Overwrite the given rows with ``other`` (same length as ``rows``)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)

    def grow(self, cfg: DetectorConfig, size: int) -> Columns:
        """Return columns with ``size`` rows, the first ``len(self)`` copied."""
        out = Columns.empty(cfg, size)
        out.put(np.arange(len(self)), self)
        return out

    @classmethod
    def from_state(cls, cfg: DetectorConfig, state: SeriesState) -> Columns:
        """Return one-row columns holding ``state``."""
        cols = cls.empty(cfg, 1)
        cols.set_row(0, state)
        return cols

    def set_row(self, row: int, state: SeriesState) -> None:
        """Overwrite one row with ``state``."""
        self.n[row] = state.n
        self.last_ts[row] = NO_TIMESTAMP if state.last_ts is None else state.last_ts
        self.spacing[row] = state.spacing
        self.level[row] = state.level
        self.var[row] = state.var
        self.noise[row] = state.noise
        self.hour[row] = state.hour
        self.weekday[row] = state.weekday
        self.history[row] = state.history
        self.alerting[row] = state.alerting
        self.calm[row] = state.calm
        self.run[row] = state.run
        self.episode_direction[row] = state.episode_direction
        self.cusum_up[row] = state.cusum_up
        self.cusum_down[row] = state.cusum_down
        self.hour_pending[row] = state.hour_pending
        self.drift[row] = state.drift
        self.drift_var[row] = state.drift_var

    def state(self, row: int, state_key: str) -> SeriesState:
        """Return one row as a :class:`SeriesState`."""
        last = int(self.last_ts[row])
        return SeriesState(
            state_key=state_key,
            n=int(self.n[row]),
            last_ts=None if last == NO_TIMESTAMP else last,
            spacing=float(self.spacing[row]),
            level=float(self.level[row]),
            var=float(self.var[row]),
            noise=float(self.noise[row]),
            hour=tuple(float(x) for x in self.hour[row]),
            weekday=tuple(float(x) for x in self.weekday[row]),
            history=int(self.history[row]),
            alerting=bool(self.alerting[row]),
            calm=int(self.calm[row]),
            run=int(self.run[row]),
            episode_direction=int(self.episode_direction[row]),
            cusum_up=float(self.cusum_up[row]),
            cusum_down=float(self.cusum_down[row]),
            hour_pending=float(self.hour_pending[row]),
            drift=float(self.drift[row]),
            drift_var=float(self.drift_var[row]),
        )

    def nbytes(self) -> int:
        """Bytes of array memory held."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))


@dataclass(frozen=True, slots=True)
class Outcome:
    """Decisions for one window of many series, as arrays (NaN = ``None``).

    ``direction``: +1 up, -1 down, 0 none. ``severity``: 0 none, 1 info,
    2 warning, 3 critical. ``transition``: 1 fire, -1 resolve, 0 none.
    ``sample_size`` is -1 when unknown.
    """

    observed: F64
    baseline: F64
    lower: F64
    upper: F64
    score: F64
    anomaly_score: F64
    z: F64
    sample_size: I64
    ready: B
    violating: B
    direction: npt.NDArray[np.int8]
    severity: npt.NDArray[np.int8]
    alerting: B
    transition: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.observed)

    def decision(self, i: int) -> Decision:
        """Return row ``i`` as a :class:`~thresholds.decision.Decision`."""

        def opt(a: F64) -> float | None:
            x = float(a[i])
            return None if math.isnan(x) else x

        size = int(self.sample_size[i])
        return Decision(
            observed=float(self.observed[i]),
            baseline=opt(self.baseline),
            lower=opt(self.lower),
            upper=opt(self.upper),
            score=float(self.score[i]),
            anomaly_score=float(self.anomaly_score[i]),
            sample_size=None if size < 0 else size,
            ready=bool(self.ready[i]),
            violating=bool(self.violating[i]),
            direction=_DIRECTIONS[int(self.direction[i])],
            severity=_SEVERITIES[int(self.severity[i])],
            alerting=bool(self.alerting[i]),
            transition=_TRANSITIONS[int(self.transition[i])],
        )


_DIRECTIONS: dict[int, Direction | None] = {1: "up", -1: "down", 0: None}
_SEVERITIES: dict[int, Severity | None] = {0: None, 1: "info", 2: "warning", 3: "critical"}
_TRANSITIONS: dict[int, Transition | None] = {1: "fire", -1: "resolve", 0: None}


#: Largest numerator judged by its exact tail (beyond, n p would not be small).
_EXACT_MAX_COUNT = 200


def _exact_ratio_z(
    z: F64,
    observed: F64,
    sample_size: npt.ArrayLike,
    yhat: F64,
    noise_t: F64,
    sigma: F64,
    judged: B,
    size: int,
) -> F64:
    """Windows of a ratio with few expected events are judged by their
    exact binomial tail (:func:`thresholds.tails.binomial_z`), shrunk by the share of
    the band that is sampling noise (the rest is the model's own error)."""
    n = np.broadcast_to(np.asarray(sample_size, np.float64), (size,))
    p0 = to_observed("ratio", yhat)
    # Only where the approximation is poor (few expected events) and the window is off
    # its baseline at all: the exact tail matters only there, and costs a loop.
    small = (
        judged
        & (n >= 1)
        & (n * p0 < EXACT_BELOW)
        & (np.abs(z) > 1.0)
        & (observed * n <= _EXACT_MAX_COUNT)
    )
    if not small.any():
        return z
    exact = binomial_z(np.round(observed[small] * n[small]), n[small], p0[small])
    out = z.copy()
    out[small] = exact * np.sqrt(noise_t[small]) / sigma[small]
    return out


def _exact_count_z(
    z: F64,
    observed: F64,
    expected: F64,
    shared: B,
    noise_t: F64,
    sigma: F64,
    judged: B,
) -> F64:
    """Windows of a count with few ``expected`` events (the baseline's Poisson mean) are
    judged by their exact Poisson tail (:func:`thresholds.tails.poisson_z`), as ratios are
    by their binomial one (:func:`_exact_ratio_z`), shrunk by the share of the band that
    is sampling noise.

    Not a count that is a share of a total (``exposure``): its share is learned as a
    geometric mean of the windows' shares, low where counts are small, and the exact
    tail turned that bias into false alarms on quiet channels and categories (two of
    them, and a missed outage, on two simulated fortnights; ``benchmarks/quality_matrix``).
    """
    small = (
        judged
        & ~shared
        & (expected < EXACT_BELOW)
        & (np.abs(z) > 1.0)
        & (observed <= _EXACT_MAX_COUNT)
    )
    if not small.any():
        return z
    out = z.copy()
    out[small] = (
        poisson_z(observed[small], expected[small]) * np.sqrt(noise_t[small]) / sigma[small]
    )
    return out


#: Smallest count a share learns from: a window with no events of the key pulls its share
#: down by a bounded step instead of towards log(0).
_MIN_SHARE_COUNT = 0.1


def _log_share(y: F64, total: F64) -> F64:
    """``log(count / total)`` of a stabilised count ``y = 2 sqrt(count + 3/8)``."""
    count = np.maximum((np.maximum(y, 0.0) / 2.0) ** 2 - 0.375, _MIN_SHARE_COUNT)
    return np.log(count / np.maximum(total, 1.0))


def _spaced_mask(m: int, overlap: float) -> np.uint32:
    """History bits of the last ``m`` windows that share no events with each other:
    with ``overlap = window / hop`` windows ``0, o, 2o, ...`` steps back (all of the
    last ``m`` when windows do not overlap). Two overlapping windows out of band are
    much less than twice the evidence."""
    spacing = max(round(overlap), 1)
    bits = 0
    for i in range(m):
        if i * spacing < 32:
            bits |= 1 << (i * spacing)
    return np.uint32(bits)


def step(
    cfg: DetectorConfig,
    cols: Columns,
    ts_ms: npt.ArrayLike,
    value: npt.ArrayLike,
    sample_size: npt.ArrayLike | None,
    noise: npt.ArrayLike | None = None,
    exposure: npt.ArrayLike | None = None,
    sides: npt.ArrayLike | None = None,
    *,
    z_scale: npt.ArrayLike | None = None,
    learn: npt.ArrayLike | None = None,
    guard_value: npt.ArrayLike | None = None,
    sequential: npt.ArrayLike | None = None,
    cusum_scale: npt.ArrayLike | None = None,
    learn_offset: npt.ArrayLike | None = None,
) -> tuple[Outcome, Columns]:
    """Evaluate one window for every row of ``cols``; return decisions and new columns.

    ``noise`` is each window's sampling variance in the stabilised scale, for kinds
    whose noise the engine cannot derive from ``sample_size`` alone (a percentile's:
    see :func:`thresholds.kinds.quantile_noise`); ``None`` keeps the kind's own.
    ``exposure`` (counts only; NaN for rows without one) makes a row's count a share of
    a known total ``N`` of the same window, e.g. a channel's orders of all orders: the
    model then learns the share ``p = exp(level + seasonal)``, expects ``p * N`` and
    judges the count with binomial noise, ``1 - p`` in the stabilised scale (Poisson
    regression with an exposure offset, McCullagh & Nelder 1989, sec. 6.2.3).
    ``sides`` narrows the watched side per row: +1 up only, -1 down only, 0 the
    configured ``direction``. A count row that does not watch its rise still keeps its
    up-CUSUM (never fired on, held under ``2 h``); over ``h`` it slows that row's learning
    (a sale on a total that pages on drops only).
    ``z_scale`` multiplies each row's band width ``z`` and CUSUM threshold ``h``
    (> 1 makes a row less sensitive; on-call feedback). Rows where ``learn`` is false
    are decided as usual but their baseline (level, variance, seasonal slots, ``n``) is
    left as it was (muted or calendar windows). ``sequential`` weighs each row's evidence
    to the CUSUMs (true or 1: as usual): a row of weight ``w`` adds ``w z - k``, so it
    gathers only a deviation beyond ``k / w`` sigmas (a calendar aftermath's
    peer-normalised rows, whose small excess over the peers would otherwise add up
    window after window, weigh ``1 / widen``); rows of weight 0 (false) add nothing and
    are judged on the band and persistence only. ``cusum_scale`` multiplies each row's
    CUSUM threshold ``h`` alone (a rule's total, whose model carries the shop's own
    surprises, may need more evidence than the shares judged against it).
    ``guard_value`` is what the absolute guards compare instead of the observed value (a
    rule decided on the mean of log waits still guards on the p90 its users read).
    ``learn_offset`` (ratio and percentile kinds; stabilised scale, 0 for none) is added
    back to a row's value for the learning alone: the row is decided on ``y`` but learns,
    and is rejected from learning, as ``y + learn_offset`` would be (a queue judged
    against its peers' wave learns the waits it saw, so a wave that recurs daily, a shift
    change, becomes its profile).
    Pure: ``cols`` is not modified.
    """
    size = len(cols)
    ts = np.broadcast_to(np.asarray(ts_ms, dtype=np.int64), (size,))
    observed, y, noise_t, valid = prepare(
        cfg.kind,
        np.broadcast_to(value, (size,)),
        None if sample_size is None else np.broadcast_to(sample_size, (size,)),
        cfg.min_sample_size,
    )
    if noise is not None:
        given = np.broadcast_to(np.asarray(noise, dtype=np.float64), (size,))
        noise_t = np.where(np.isfinite(given) & (given >= 0), given, noise_t)
    zt: float | F64 = cfg.z
    h_scale: float | F64 = 1.0
    if z_scale is not None:
        h_scale = np.broadcast_to(np.asarray(z_scale, dtype=np.float64), (size,))
        zt = cfg.z * h_scale
    keep = valid if learn is None else valid & np.broadcast_to(np.asarray(learn, np.bool_), (size,))
    has_prior = cfg.prior is not None
    rows = np.arange(size)

    # Baseline read.
    has_last = cols.last_ts != NO_TIMESTAMP
    spacing = np.where(
        valid, update_spacing(cols.spacing, cols.last_ts, ts, has_last), cols.spacing
    )
    # The hour slot is read at the window's middle (``slot_lag_ms``), the weekday at its end.
    hour = slot_indices(ts - cfg.slot_lag_ms, cfg.utc_offset_ms)[0]
    day = slot_indices(ts, cfg.utc_offset_ms)[1]
    use_h, use_d = active_slots(spacing)
    # What the previous hour's out-of-band windows would have taught its slot is added
    # once the series has left that hour (see the learning step below).
    prev_hour = slot_indices(
        np.where(has_last, cols.last_ts, ts) - cfg.slot_lag_ms, cfg.utc_offset_ms
    )[0]
    left_hour = valid & has_last & ((prev_hour != hour) | (ts - cols.last_ts >= HOUR_MS))
    hour_base = cols.hour.copy()
    hour_base[rows, prev_hour] += np.where(left_hour, cols.hour_pending, 0.0)
    pending = np.where(left_hour, 0.0, cols.hour_pending)
    seas = np.where(use_h, hour_base[rows, hour], 0.0) + np.where(
        use_d, cols.weekday[rows, day], 0.0
    )
    # Counts are modelled multiplicatively: level and seasonal effects add up in the log of
    # the stabilised scale, so a weekday effect scales the whole daily profile instead of
    # shifting it (an additive fit misses by ~1 sigma an hour on quiet days).
    log_link = cfg.kind == "count"
    eta = cols.level + seas
    yhat = np.exp(eta) if log_link else eta
    if exposure is not None and log_link:
        total = np.broadcast_to(np.asarray(exposure, dtype=np.float64), (size,))
        shared = np.isfinite(total)
        total = np.where(shared, np.maximum(total, 0.0), 1.0)
        share = np.minimum(np.exp(np.minimum(eta, 0.0)), 1.0)
        yhat = np.where(shared, 2.0 * np.sqrt(share * total + 0.375), yhat)
        noise_t = np.where(shared, 1.0 - np.minimum(share, 0.9), noise_t)
    else:
        shared = np.zeros(size, np.bool_)
    seen = (cols.n > 0) | has_prior
    ready = valid & ((cols.n >= cfg.grace_period) | has_prior)
    tau2 = np.maximum(cols.var - cols.noise, 0.0)
    sigma = np.sqrt(np.maximum(noise_t + tau2, cfg.min_scale**2))
    r = y - yhat
    z = np.where(seen & valid, r / sigma, 0.0)
    # A count's Poisson mean at the baseline: judged by below, reported as the baseline.
    expected = poisson_mean(yhat) if log_link else yhat
    if cfg.kind == "ratio" and sample_size is not None:
        z = _exact_ratio_z(z, observed, sample_size, yhat, noise_t, sigma, seen & valid, size)
    elif log_link:
        z = _exact_count_z(z, observed, expected, shared, noise_t, sigma, seen & valid)
    absz = np.abs(z)

    # Decision.
    side = (
        np.zeros(size, np.int8)
        if sides is None
        else np.broadcast_to(np.asarray(sides, dtype=np.int8), (size,))
    )
    watch_up = (side >= 0) & (cfg.direction in ("up", "both"))
    watch_down = (side <= 0) & (cfg.direction in ("down", "both"))
    guarded = (
        observed
        if guard_value is None
        else np.broadcast_to(np.asarray(guard_value, dtype=np.float64), (size,))
    )
    guard_up = np.ones(size, np.bool_) if cfg.guard_above is None else guarded > cfg.guard_above
    guard_down = np.ones(size, np.bool_) if cfg.guard_below is None else guarded < cfg.guard_below
    up = (z > zt) & guard_up & watch_up
    down = (z < -zt) & guard_down & watch_down
    violating = ready & (up | down)
    vdir = np.where(violating & up, 1, np.where(violating & down, -1, 0)).astype(np.int8)
    on_watch = (z > 0) & watch_up | (z < 0) & watch_down
    excess = np.where(ready & on_watch, np.maximum(absz - zt, 0.0) / zt, 0.0)
    score = np.where(z < 0, -excess, excess)
    anomaly = np.where(ready & on_watch, absz / (absz + zt), 0.0)

    n_req, m_win = cfg.persistence
    mask = np.uint32((1 << min(m_win * max(round(cfg.overlap), 1), 32)) - 1)
    shifted = ((cols.history << np.uint32(1)) | violating.astype(np.uint32)) & mask
    history = np.where(valid, shifted, cols.history).astype(np.uint32)
    immediate = violating & (absz >= cfg.fire_immediately_at * zt)
    rb = cfg.resolve_below * zt
    agitated = ready & ((z > rb) & guard_up & watch_up | (z < -rb) & guard_down & watch_down)
    outer = agitated  # beyond the calm zone on a watched side (``agitated`` grows below)

    # Sequential evidence: one-sided CUSUMs of the standardised residual (Page 1954).
    # Overlapping windows share events: with
    # o = window / hop, (z - k) / sqrt(o) per window is, over a run of windows, the CUSUM
    # of the hops' own evidence, so a rule of daily windows every 6 h is judged on its
    # 6-hour increments. While an episode is open its side is capped at h, so it can
    # resolve in bounded time.
    # A run of windows whose residuals stray together (a model's error lasts: a quiet
    # Saturday, a busy evening) is discounted by ``spread``, so it gathers the evidence
    # of the independent windows it is worth (see :func:`_evidence_spread`).
    h = cfg.cusum_h * h_scale
    if cusum_scale is not None:
        h = h * np.broadcast_to(np.asarray(cusum_scale, dtype=np.float64), (size,))
    teach = keep & ready & ~cols.alerting & (absz < zt)
    spread, drift, drift_var = _evidence_spread(cfg, cols, z, ready, teach)
    root_o = math.sqrt(cfg.overlap)
    inc_raw = z / root_o
    k_raw = cfg.cusum_k / root_o
    if sequential is not None:
        weight = np.broadcast_to(np.asarray(sequential, np.float64), (size,))
        inc_raw = inc_raw * weight
    inc = inc_raw / spread
    k = k_raw / spread
    cu = np.where(ready, np.maximum(cols.cusum_up + inc - k, 0.0), cols.cusum_up)
    cd = np.where(ready, np.maximum(cols.cusum_down - inc - k, 0.0), cols.cusum_down)
    # A sale's evidence (below) is the learning step's signal, not a page: undiscounted.
    cu_sale = np.where(ready, np.maximum(cols.cusum_up + inc_raw - k_raw, 0.0), cols.cusum_up)
    # A window the guard refuses (a p90 of two waits under two minutes) may lower its
    # side's evidence but not raise it: only windows past the guard add, and one small
    # window no longer wipes out what a surge gathered before it.
    # A count that does not watch its rise still gathers that evidence, capped and never
    # fired on: it tells the learning step below that a sale is under way.
    shadow = log_link & ~watch_up
    cu = np.where(
        watch_up,
        np.where(guard_up, cu, np.minimum(cu, cols.cusum_up)),
        np.where(shadow, np.minimum(cu_sale, _SURGE_CAP * h), 0.0),
    )
    cd = np.where(watch_down, np.where(guard_down, cd, np.minimum(cd, cols.cusum_down)), 0.0)
    if sequential is not None:
        adds = weight > 0
        cu = np.where(adds, cu, cols.cusum_up)
        cd = np.where(adds, cd, cols.cusum_down)
    hits = np.bitwise_count(history & _spaced_mask(m_win, cfg.overlap))
    persistent = violating & ((hits >= n_req) | immediate)
    if cfg.policy == "cusum":
        seq_up = ready & watch_up & (cu >= h) & (cfg.cusum_direction != "down")
        seq_down = ready & (cd >= h) & (cfg.cusum_direction != "up")
        fire = ~cols.alerting & (seq_up | seq_down | persistent)
        fire_dir = np.where(persistent, vdir, np.where(seq_up, 1, -1)).astype(np.int8)
        # Evidence still growing on the open episode's side keeps it open.
        growing = ready & (
            ((cols.episode_direction > 0) & (inc > k)) | ((cols.episode_direction < 0) & (-inc > k))
        )
        agitated = agitated | growing
    else:
        fire = ~cols.alerting & persistent
        fire_dir = vdir
    # An episode counts its calm windows from when it opened: quiet windows before a
    # sequential (CUSUM) fire would otherwise resolve it at its first quiet window.
    calm = np.where(valid, np.where(agitated | fire, 0, cols.calm + 1), cols.calm)
    calm = calm.astype(np.int32)
    resolve = cols.alerting & (calm >= cfg.resolve_after)
    alerting = (cols.alerting | fire) & ~resolve
    episode_direction = np.where(fire, fire_dir, np.where(resolve, 0, cols.episode_direction))
    episode_direction = episode_direction.astype(np.int8)
    cu = np.where(resolve, 0.0, np.where(alerting, np.minimum(cu, h), cu))
    cd = np.where(resolve, 0.0, np.where(alerting, np.minimum(cd, h), cd))
    transition = np.where(fire, 1, np.where(resolve, -1, 0)).astype(np.int8)
    direction = np.where(
        violating,
        vdir,
        np.where(fire, fire_dir, np.where(alerting | resolve, cols.episode_direction, 0)),
    )
    warn, crit = cfg.severity_steps
    severity = np.where(
        violating, 1 + (absz >= warn * zt) + (absz >= crit * zt), np.where(fire, 1, 0)
    )

    # Band in observed units.
    lower_y = yhat - zt * sigma
    upper_y = yhat + zt * sigma
    nan = np.full(size, np.nan)
    # A count's baseline reads as the Poisson mean its stabilised value expects (what the
    # exact tail judges by); the plain inverse reads low where counts are small (1.43 for
    # a mean of 1.65). A share of a total keeps the plain inverse: its ``yhat`` is built
    # from the share's count itself.
    centre = to_observed(cfg.kind, yhat)
    if log_link:
        centre = np.where(shared, centre, expected)
    baseline = np.where(ready, centre, nan)
    lower = np.where(ready & watch_down, to_observed(cfg.kind, lower_y), nan)
    upper = np.where(ready & watch_up, to_observed(cfg.kind, upper_y), nan)

    # Learning.
    run = np.where(
        vdir > 0, np.maximum(cols.run, 0) + 1, np.where(vdir < 0, np.minimum(cols.run, 0) - 1, 0)
    )
    run = np.where(valid, run, cols.run).astype(np.int32)
    shift = np.abs(run) >= cfg.shift_after
    prior_weight = cfg.grace_period if has_prior else 0
    alpha = np.maximum(
        1.0 - 2.0 ** (-1.0 / cfg.half_life), 1.0 / (cols.n + 1 + prior_weight).astype(np.float64)
    )
    warm = (cols.n < cfg.grace_period) & (not has_prior)
    bound = cfg.clip_sigma * sigma
    learned_violating = violating
    if learn_offset is not None:
        offset = np.broadcast_to(np.asarray(learn_offset, dtype=np.float64), (size,))
        r = np.where(valid, r + offset, r)
        z_learn = np.where(seen & valid, r / sigma, 0.0)
        learned_violating = np.where(
            offset != 0.0,
            ready
            & ((z_learn > zt) & guard_up & watch_up | (z_learn < -zt) & guard_down & watch_down),
            violating,
        )
    rc = np.where(warm, r, np.clip(r, -bound, bound))
    if log_link:  # the step in the model's scale that moves yhat to the (clipped) value
        # The log step's fixed point is the geometric mean of y, below its mean by the
        # Jensen gap log E[y] - E[log y]; adding the gap of Poisson noise at the current
        # baseline makes it the mean (a Poisson mean of 1.65 read 1.40 without it, 1 read
        # 0.80: quiet counts' tail alarms twice as frequent). The step itself stays the
        # log's, whose response to a promotion's large residuals the profile relies on.
        g = np.log(np.maximum(yhat + rc, _MIN_COUNT_Y)) - eta + poisson_log_gap(yhat)
        g_shift = np.log(np.maximum(y, _MIN_COUNT_Y)) - eta
        if shared.any():  # the same for a share: back to a count, then to log(count / N)
            # A window without a total says nothing about the share.
            informative = shared & (total >= 1.0)
            g = np.where(shared, np.where(informative, _log_share(yhat + rc, total) - eta, 0.0), g)
            g_shift = np.where(
                shared, np.where(informative, _log_share(y, total) - eta, 0.0), g_shift
            )
    else:
        g, g_shift = rc, r
    # A share or percentile window out of band teaches nothing (unless a lasting shift is
    # being adopted): the anomaly being reported must not widen the band it is judged by.
    # Counts still learn from it, clipped: their level must follow a promotion's ramp,
    # which a rejecting level lags until it pages on every channel (measured: 19 false
    # episodes against 9 in one week of the quality matrix's TUNE seed at 0.3x).
    rejected = learned_violating & ~warm & ~shift & (cfg.kind != "count")
    g_rejected = np.where(rejected, g, 0.0)
    g = np.where(rejected, 0.0, g)
    # A count rising on its unwatched side (a sale: the total pages on drops only) learns
    # slowly once the rise is sure (its evidence at ``h``): a day-long sale no longer
    # lifts the level and hour slots so far that the first normal hours after it read as
    # a drop, and its windows do not widen the band; a lasting rise is adopted over days.
    surging = shadow & ~warm & (cu >= h)
    g = np.where(surging, _SURGE_GAIN * g, g)
    level = np.where(shift, cols.level + cfg.shift_rate * g_shift, cols.level + alpha * g)
    gain_h, gain_d = seasonal_gains(spacing, cfg.seasonal_half_life_days)
    learn_season = valid & ~shift & seen
    hour_tab = hour_base
    day_tab = cols.weekday.copy()
    learn_season = learn_season & keep
    # A window out of band teaches its hour slot only after the series has left the hour:
    # a pattern that recurs daily (a shift change) is learned by the next day, while an
    # incident does not lift, within the hour, the baseline it is being judged by. A share
    # or percentile whose windows span at most two hops waits so in band too
    # (:data:`_HOLD_HOUR_OVERLAP`).
    hour_gain = np.where(learn_season & use_h, gain_h, 0.0)
    if cfg.kind != "count" and cfg.overlap <= _HOLD_HOUR_OVERLAP:
        pending = pending + hour_gain * (g_rejected + g)
    else:
        pending = pending + hour_gain * g_rejected
        hour_tab[rows, hour] += hour_gain * g
    # An hourly series' warm-up residuals are mostly its hour profile not learned yet:
    # the weekday slot, visited once a week, kept them for weeks (+8 % expected on the
    # first day's weekday at 300 orders a window). Daily windows learn their weekdays then.
    day_tab[rows, day] += np.where(learn_season & use_d & ~(warm & use_h), gain_d * g, 0.0)
    r2 = np.where(warm, r * r, np.minimum(r * r, bound * bound))
    # An agitated window (an incident's first days, just inside the band) teaches the
    # spread at the half-life's gain only, not at a young series' running-mean gain.
    alpha_var = np.where(outer & ~warm, 1.0 - 2.0 ** (-1.0 / cfg.half_life), alpha)
    var = np.where(seen & ~rejected & ~surging, cols.var + alpha_var * (r2 - cols.var), cols.var)
    noise = cols.noise + alpha * (noise_t - cols.noise)

    new = Columns(
        n=np.where(keep, cols.n + 1, cols.n),
        last_ts=np.where(valid, ts, cols.last_ts),
        spacing=spacing,
        level=np.where(keep, level, cols.level),
        var=np.where(keep, var, cols.var),
        noise=np.where(keep, noise, cols.noise),
        hour=hour_tab,
        weekday=day_tab,
        history=history,
        alerting=alerting,
        calm=calm,
        run=run,
        episode_direction=episode_direction,
        cusum_up=cu,
        cusum_down=cd,
        hour_pending=pending,
        drift=drift,
        drift_var=drift_var,
    )
    out = Outcome(
        observed=np.asarray(observed, np.float64),
        baseline=baseline,
        lower=lower,
        upper=upper,
        score=score,
        anomaly_score=anomaly,
        z=z,
        sample_size=(
            np.full(size, -1, np.int64)
            if sample_size is None
            else np.broadcast_to(np.asarray(sample_size), (size,)).astype(np.int64)
        ),
        ready=ready,
        violating=violating,
        direction=direction.astype(np.int8),
        severity=severity.astype(np.int8),
        alerting=alerting,
        transition=transition,
    )
    return out, new
