"""Small counts are judged by their exact Poisson (or binomial) tail, not Anscombe's
normal approximation, which is too mild above a small mean and too harsh below it."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from thresholds.bank import SeriesBank
from thresholds.config import DetectorConfig
from thresholds.tails import poisson_z

QUARTER = 900_000


def mid_p_z(x: int, lam: float) -> float:
    """The mid-p z-score of ``x`` under Poisson(``lam``), by direct summation."""
    pmf = [math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in range(x + 200)]
    if x >= lam:
        return -NormalDist().inv_cdf(sum(pmf[x + 1 :]) + 0.5 * pmf[x])
    return NormalDist().inv_cdf(sum(pmf[:x]) + 0.5 * pmf[x])


@pytest.mark.parametrize(
    ("x", "lam"), [(9, 3.0), (0, 5.0), (13, 2.4), (4, 9.0), (1, 0.7), (30, 12.0), (2, 2.0)]
)
def test_poisson_z_is_the_mid_p_tail(x: int, lam: float) -> None:
    got = float(poisson_z(np.array([float(x)]), np.array([lam]))[0])
    assert got == pytest.approx(mid_p_z(x, lam), abs=1e-9)


def steady(bank: SeriesBank, mean: float, windows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = bank.rows(["key"])
    for t in range(windows):
        bank.evaluate(t * QUARTER, rows, np.array([float(rng.poisson(mean))]))


def judge(bank: SeriesBank, t: int, count: float) -> tuple[float, float]:
    """(z, baseline) of one more window with ``count`` events."""
    out = bank.evaluate(t * QUARTER, bank.rows(["key"]), np.array([count]))
    return float(out.z[0]), float(out.baseline[0])


def test_a_spike_on_a_small_count_is_judged_by_its_exact_tail() -> None:
    """Nine events against a baseline of about two: the engine's z is the exact mid-p
    tail's, shrunk by the share of the band that is sampling noise (<= the exact z),
    and well above Anscombe's normal approximation of it."""
    bank = SeriesBank(DetectorConfig(kind="count", grace_period=48))
    steady(bank, 2.0, 96 * 6, seed=4)
    z, base = judge(bank, 96 * 6, 9.0)
    exact = mid_p_z(9, base)
    anscombe = 2 * math.sqrt(9.375) - 2 * math.sqrt(base + 0.375)
    assert anscombe < z <= exact + 1e-9
    assert z > 0.8 * exact


def test_a_small_count_falling_to_zero_is_not_overstated() -> None:
    """Zero events against a baseline of about four: Anscombe's scale calls it about
    -3.2 sigma; the exact tail about -2.4."""
    bank = SeriesBank(DetectorConfig(kind="count", grace_period=48))
    steady(bank, 4.0, 96 * 6, seed=5)
    z, base = judge(bank, 96 * 6, 0.0)
    anscombe = 2 * math.sqrt(0.375) - 2 * math.sqrt(base + 0.375)
    assert anscombe < z <= 0.0
    assert z == pytest.approx(mid_p_z(0, base), abs=0.5)


def test_large_counts_keep_the_normal_scale() -> None:
    """At a baseline of 100 the exact tail is not consulted (no loop over 100s of terms)."""
    bank = SeriesBank(DetectorConfig(kind="count", grace_period=48))
    steady(bank, 100.0, 96 * 3, seed=6)
    z, base = judge(bank, 96 * 3, 140.0)
    sigma_ratio = (2 * math.sqrt(140.375) - 2 * math.sqrt(base + 0.375)) / z
    assert sigma_ratio >= 1.0  # z is the Anscombe residual over a sigma >= 1


@pytest.mark.parametrize("mean", [0.8, 1.65, 4.0])
def test_a_quiet_count_learns_its_mean_not_its_geometric_mean(mean: float) -> None:
    """A count's baseline is the mean of its stabilised values, not their geometric mean
    (7 % lower there at a Poisson mean of 0.8 or 1.65: a baseline that expected 1.40
    complaints where 1.65 came, and paged twice as often on five in four hours); it reads
    as the Poisson mean it expects."""
    bank = SeriesBank(DetectorConfig(kind="count", grace_period=48))
    rng = np.random.default_rng(7)
    rows = bank.rows(["key"])
    observed, learned = [], []
    for t in range(96 * 20):
        count = float(rng.poisson(mean))
        out = bank.evaluate(t * QUARTER, rows, np.array([count]))
        if t >= 96 * 10:
            observed.append(count)
            learned.append(float(out.baseline[0]))  # the Poisson mean it expects
    assert float(np.mean(learned)) == pytest.approx(float(np.mean(observed)), rel=0.05)
    assert float(np.mean(learned)) == pytest.approx(mean, rel=0.05)
