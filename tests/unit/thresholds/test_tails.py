"""Upper tails of counts: the negative binomial of a learned mean and variance."""

from __future__ import annotations

import math

import pytest

from thresholds.tails import negative_binomial_tail, poisson_tail


@pytest.mark.parametrize(("mean", "variance"), [(0.2, 0.36), (0.5, 0.9), (3.0, 10.0), (8.0, 9.0)])
@pytest.mark.parametrize("count", [1, 3, 6, 15])
def test_negative_binomial_tail_is_the_complement_of_its_cdf(
    mean: float, variance: float, count: int
) -> None:
    """``P(X >= count)`` against one minus the summed pmf of the negative binomial of
    that mean and variance (size ``mean**2 / (variance - mean)``)."""
    size = mean * mean / (variance - mean)
    q = mean / (mean + size)

    def pmf(k: int) -> float:
        return math.exp(
            math.lgamma(k + size)
            - math.lgamma(size)
            - math.lgamma(k + 1)
            + size * math.log1p(-q)
            + k * math.log(q)
        )

    expected = 1.0 - sum(pmf(k) for k in range(count))
    assert negative_binomial_tail(count, mean, variance) == pytest.approx(expected, rel=1e-9)


def test_negative_binomial_tail_without_overdispersion_is_poisson() -> None:
    assert negative_binomial_tail(4, 0.5, 0.5) == poisson_tail(4, 0.5)
    assert negative_binomial_tail(4, 0.5, 0.3) == poisson_tail(4, 0.5)
