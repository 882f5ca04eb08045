"""The percentile rules' small-window estimator (thresholds.kinds.lognormal_quantile)."""

from __future__ import annotations

import math

import numpy as np

from thresholds.kinds import lognormal_quantile
from thresholds.sketch import QuantileSketch


def _sketch(values: np.ndarray) -> QuantileSketch:
    sketch = QuantileSketch()
    for value in values:
        sketch.add(float(value))
    return sketch


def test_sketch_log_moments_match_the_values_within_the_sketch_accuracy() -> None:
    values = np.random.default_rng(1).lognormal(5.0, 0.9, 500)
    mean, var = _sketch(values).log1p_moments()
    assert abs(mean - np.log1p(values).mean()) < 0.02
    assert abs(var - np.log1p(values).var(ddof=1)) < 0.02
    assert QuantileSketch().log1p_moments() == (0.0, 0.0)
    assert _sketch(np.array([0.0, 0.0])).log1p_moments() == (0.0, 0.0)


def test_large_windows_give_the_lognormal_quantile() -> None:
    y, noise = lognormal_quantile(0.9, 10_000, 5.0, 0.81)
    assert abs(y - (5.0 + 1.2816 * 0.9)) < 0.01
    assert noise < 1e-3


def test_small_windows_are_judged_with_an_honest_width() -> None:
    """Standardised by its own noise, the estimate of a window of n lognormal waits has
    about unit spread for every n (the shrunk spread's prior is near the truth here), and
    a x4 surge of five waits stands out by several of those units."""
    rng = np.random.default_rng(7)
    for n in (1, 3, 5, 10, 40):
        ys, noises = [], []
        for _ in range(2000):
            logs = np.log1p(rng.lognormal(5.0, 1.0, n))
            var = float(logs.var(ddof=1)) if n > 1 else 0.0
            y, noise = lognormal_quantile(0.9, n, float(logs.mean()), var)
            ys.append(y)
            noises.append(noise)
        spread = float(np.std(ys)) / math.sqrt(float(np.mean(noises)))
        assert 0.7 < spread < 1.3, (n, spread)
    base, noise = lognormal_quantile(0.9, 5, 5.0, 1.0)
    surged, _ = lognormal_quantile(0.9, 5, 5.0 + math.log(4.0), 1.0)
    assert (surged - base) / math.sqrt(noise) > 2.5


def test_empty_windows_carry_nothing() -> None:
    assert lognormal_quantile(0.9, 0, 0.0, 0.0) == (0.0, 0.0)
