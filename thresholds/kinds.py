"""Metric kinds: map a window's observation to a variance-stabilised scale.

The baseline, the band and the scores live in a scale ``y`` where the sampling
noise of one window has a known variance, so a single ``z`` works for every kind:

* **count** (events per window, Poisson-like): Anscombe's transform
  ``y = 2 sqrt(c + 3/8)`` has variance ≈ 1 whatever the mean. A window with zero
  events is a value (``y = 1.22``), not missing data. Its tails are not normal
  when few events are expected: the engine then judges a window by its exact
  Poisson tail (:mod:`thresholds.tails`), as it does a ratio's by its binomial one.
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

__all__ = ["poisson_log_gap", "poisson_mean", "prepare", "quantile_noise", "to_observed"]

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


def _anscombe_moments(lams: F64) -> tuple[F64, F64]:
    """``(E[Y], E[log Y])`` of ``Y = 2 sqrt(X + 3/8)`` for ``X ~ Poisson(lam)``, by summing
    the pmf."""
    k = np.arange(0.0, 120.0)
    log_pmf = (
        -lams[:, None]
        + k[None, :] * np.log(np.maximum(lams[:, None], 1e-300))
        - np.array([math.lgamma(v + 1.0) for v in k])[None, :]
    )
    pmf = np.exp(log_pmf)
    y = 2.0 * np.sqrt(k + 0.375)
    means: F64 = (pmf * y[None, :]).sum(axis=1)
    log_means: F64 = (pmf * np.log(y)[None, :]).sum(axis=1)
    return means, log_means


_MEAN_GRID = np.concatenate([np.linspace(0.0, 2.0, 201), np.linspace(2.02, 40.0, 1900)])
_ANSCOMBE_GRID, _ANSCOMBE_LOG_GRID = _anscombe_moments(_MEAN_GRID)
_LOG_GAP_GRID = np.log(_ANSCOMBE_GRID) - _ANSCOMBE_LOG_GRID


def poisson_log_gap(y: F64) -> F64:
    """The Jensen gap ``log E[Y] - E[log Y]`` of ``Y = 2 sqrt(X + 3/8)``, ``X`` Poisson,
    at ``E[Y] = y``: what a model learning ``log Y`` falls short of the log of its mean.
    Above a Poisson mean of 40, the delta method's ``Var Y / (2 y^2)`` with ``Var Y = 1``.

    >>> means = _anscombe_moments(np.array([0.5, 1.65, 9.0]))[0]
    >>> [round(float(g), 3) for g in poisson_log_gap(means)]
    [0.069, 0.072, 0.014]
    """
    y = np.asarray(y, np.float64)
    safe = np.maximum(y, 1.0)
    small = np.interp(y, _ANSCOMBE_GRID, _LOG_GAP_GRID)
    return np.where(y < _ANSCOMBE_GRID[-1], small, 0.5 / safe**2)


def poisson_mean(y: F64) -> F64:
    """The Poisson mean whose Anscombe transform has expectation ``y`` (the count a
    baseline ``y`` of the stabilised scale expects). :func:`to_observed` inverts the
    transform itself, which is biased low for small means because ``E[2 sqrt(X + 3/8)]
    < 2 sqrt(lam + 3/8)``: a baseline learned on counts of mean 1 reads 0.8, of mean 0.5
    reads 0.38. Above a mean of 40 the plain inverse is used (it reads a quarter less).

    >>> [round(float(m), 2) for m in poisson_mean(_anscombe_moments(np.array([0.5, 1.0, 9.0]))[0])]
    [0.5, 1.0, 9.0]
    """
    y = np.asarray(y, np.float64)
    plain = to_observed("count", y)
    small = np.interp(y, _ANSCOMBE_GRID, _MEAN_GRID)
    return np.where(y < _ANSCOMBE_GRID[-1], small, plain)


def to_observed(kind: MetricKind, y: F64) -> F64:
    """Map values of the stabilised scale back to observed units (monotone)."""
    if kind == "count":
        half = np.maximum(y, 0.0) / 2.0
        return np.maximum(half * half - 0.375, 0.0)
    if kind == "ratio":
        s = np.sin(np.clip(y, 0.0, _HALF_PI))
        return s * s
    return np.sign(y) * np.expm1(np.minimum(np.abs(y), _MAX_LOG))
