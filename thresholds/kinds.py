"""Metric kinds: map a window's observation to a variance-stabilised scale.

The baseline, the band and the scores live in a scale ``y`` where the sampling
noise of one window has a known variance, so a single ``z`` works for every kind:

* **count** (events per window, Poisson-like): Anscombe's transform
  ``y = 2 sqrt(c + 3/8)`` has variance ≈ 1 whatever the mean. A window with zero
  events is a value (``y = 1.22``), not missing data.
* **ratio** ``k / n`` (return rate, complaint rate, SLA-breach share): Anscombe's
  arcsine transform ``y = asin(sqrt((k + 3/8) / (n + 3/4)))`` has variance
  ``1 / (4n + 2)``. The band therefore widens for small ``n``: 2 of 3 against a
  15 % norm is ``z ≈ 1.9`` (no alert), 60 of 200 is ``z ≈ 5.2`` (alert). This is the
  variance-stabilised form of the binomial score test whose inversion is the
  Wilson interval; between-window (beta-binomial) overdispersion is learned by
  the baseline as extra variance ``tau^2`` on top of ``1 / (4n + 2)``. ``k`` above
  ``n`` (returns of earlier deliveries) is reported as is and capped at ``n``
  inside the transform.
* **percentile** (a quantile of the window's values, e.g. p90 wait): signed
  ``log1p``, so the band is relative (±x %). Its sampling noise depends on the
  window's count and spread; :func:`quantile_noise` gives it to the engine, which
  then learns only the model error on top (without it, the noise is learned from
  history and the band is as wide as the noisiest windows).

Examples
--------
>>> import numpy as np
>>> obs, y, noise, valid = prepare("ratio", np.array([2.0, 60.0]), np.array([3.0, 200.0]), 1)
>>> np.round(y, 4).tolist(), np.round(noise, 5).tolist()
([0.9204, 0.5805], [0.07143, 0.00125])
>>> float(to_observed("count", np.array(prepare("count", np.array([9.0]), None, 1)[1]))[0])
9.0

References
----------
Anscombe, F. J. (1948). The transformation of Poisson, binomial and
negative-binomial data. *Biometrika* 35(3/4), 246-254.

Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. *JASA* 22(158), 209-212.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from thresholds._validate import finite_array
from thresholds.config import MetricKind

__all__ = ["binomial_z", "prepare", "quantile_noise", "to_observed"]

F64 = npt.NDArray[np.float64]
_HALF_PI = float(np.pi / 2)
_MAX_COUNT = float(2**53)
_MAX_LOG = 709.0  # expm1 stays finite below this


def prepare(
    kind: MetricKind,
    value: npt.ArrayLike,
    sample_size: npt.ArrayLike | None,
    min_sample_size: int,
) -> tuple[F64, F64, F64, npt.NDArray[np.bool_]]:
    """Return ``(observed, y, noise_var, valid)`` for one window of many series.

    ``value`` is the count, the ratio's numerator or the percentile's value;
    ``sample_size`` is the ratio's denominator or the percentile's event count
    (optional for counts and percentiles). ``valid`` is ``False`` for windows with
    too few events to carry evidence.
    """
    v = finite_array("value", value)
    n = None if sample_size is None else finite_array("sample_size", sample_size)
    if n is not None and (n < 0).any():
        msg = f"sample_size must be >= 0, got {float(n[n < 0][0])!r}"
        raise ValueError(msg)
    if kind == "count":
        bad = (v < 0) | (v > _MAX_COUNT)
        if bad.any():
            msg = f"value must be a count in [0, 2**53], got {float(v[bad][0])!r}"
            raise ValueError(msg)
        y = 2.0 * np.sqrt(v + 0.375)
        valid = np.ones(v.shape, dtype=np.bool_)
        if n is not None:
            valid = n >= min_sample_size
        return v, y, np.ones_like(v), valid
    if kind == "ratio":
        if n is None:
            msg = "sample_size (the denominator) is required for a ratio"
            raise ValueError(msg)
        if (v < 0).any():
            msg = f"value (the numerator) must be >= 0, got {float(v[v < 0][0])!r}"
            raise ValueError(msg)
        valid = (n >= min_sample_size) & (n >= 1)
        safe_n = np.where(n >= 1, n, 1.0)
        observed = np.where(n >= 1, v / safe_n, 0.0)
        k = np.minimum(v, safe_n)
        y = np.arcsin(np.sqrt((k + 0.375) / (safe_n + 0.75)))
        noise = 1.0 / (4.0 * safe_n + 2.0)
        return observed, y, noise, valid
    y = np.sign(v) * np.log1p(np.abs(v))
    valid = np.ones(v.shape, dtype=np.bool_) if n is None else n >= min_sample_size
    return v, y, np.zeros_like(v), valid


def quantile_noise(q: float, n: float, lower_quartile: float, upper_quartile: float) -> float:
    """Sampling variance of ``log1p`` of a window's sample ``q``-quantile.

    A sample quantile is asymptotically normal with variance ``q(1-q) / (n f(x_q)^2)``
    (Serfling 1980, *Approximation Theorems of Mathematical Statistics*, §2.3.3). The
    density is taken from the window's own spread, assuming the values are normal in
    the ``log1p`` scale (waits are close to lognormal): ``s = IQR / 1.349`` there and
    ``f(x_q) = phi(z_q) / s``. The quartiles are more stable than the tail itself.

    >>> round(quantile_noise(0.9, 30, 60.0, 160.0) ** 0.5, 3)  # log-sd ~0.72, n 30
    0.225
    """
    if n <= 0:
        return 0.0
    spread = (math.log1p(max(upper_quartile, 0.0)) - math.log1p(max(lower_quartile, 0.0))) / 1.349
    dist = NormalDist()
    density = dist.pdf(dist.inv_cdf(min(max(q, 1e-6), 1 - 1e-6)))
    return q * (1.0 - q) / n * (spread / density) ** 2


#: Below this many expected events a ratio's window is judged by its exact binomial tail
#: instead of the arcsine scale's normal approximation.
EXACT_BELOW = 20.0
#: Terms summed past the observed count for an upper tail (the pmf falls fast there).
_TAIL_TERMS = 60
_NORMAL = NormalDist()


def binomial_z(x: F64, n: F64, p: F64) -> F64:
    """The z-score of ``x`` events out of ``n`` under a share ``p``, from the exact
    binomial mid-p tail on the side ``x`` lies (``Phi^-1`` of the tail probability,
    signed): where ``n p`` is small the arcsine scale's normal approximation is far
    too mild in the tail (2 breaches of 10 against a 0.4 % norm is 2.2 sigma there,
    3.4 sigma by the exact mid-p tail). Mid-p: Lancaster (1961), *JASA* 56, 223-234.

    >>> [
    ...     round(float(z), 1)
    ...     for z in binomial_z(
    ...         np.array([2.0, 0.0]), np.array([10.0, 10.0]), np.array([0.004, 0.004])
    ...     )
    ... ]
    [3.4, 0.0]
    """
    x = np.asarray(x, np.float64)
    n = np.maximum(np.asarray(n, np.float64), 0.0)
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    k_max = int(min(np.max(x, initial=0.0) + _TAIL_TERMS, np.max(n, initial=0.0)))
    log_ratio = np.log(p) - np.log1p(-p)
    log_pmf = n * np.log1p(-p)  # k = 0
    below = np.zeros_like(x)  # P(X < x)
    at = np.zeros_like(x)  # P(X = x)
    above = np.zeros_like(x)  # P(X > x)
    for k in range(k_max + 1):
        if k:
            log_pmf = log_pmf + np.log(np.maximum(n - k + 1, 1e-300)) - math.log(k) + log_ratio
        pmf = np.where(k <= n, np.exp(log_pmf), 0.0)
        below += np.where(k < x, pmf, 0.0)
        at += np.where(k == x, pmf, 0.0)
        above += np.where(k > x, pmf, 0.0)
    upper = np.clip(above + 0.5 * at, 1e-300, 1.0)
    lower = np.clip(below + 0.5 * at, 1e-300, 1.0)
    inv = np.vectorize(lambda q: _NORMAL.inv_cdf(min(q, 0.5)), otypes=[np.float64])
    z: F64 = np.where(x >= n * p, -inv(upper), inv(lower))  # np.vectorize's result is untyped
    return z


def to_observed(kind: MetricKind, y: F64) -> F64:
    """Map values of the stabilised scale back to observed units (monotone)."""
    if kind == "count":
        half = np.maximum(y, 0.0) / 2.0
        return np.maximum(half * half - 0.375, 0.0)
    if kind == "ratio":
        s = np.sin(np.clip(y, 0.0, _HALF_PI))
        return s * s
    return np.sign(y) * np.expm1(np.minimum(np.abs(y), _MAX_LOG))
