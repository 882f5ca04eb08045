"""Counts with an exposure: a key judged as its share of a total (peer-relative)."""

from __future__ import annotations

import numpy as np

from thresholds.bank import SeriesBank
from thresholds.config import DetectorConfig

HOUR = 3_600_000


def run(total: np.ndarray, share: np.ndarray, seed: int = 3) -> tuple[list[bool], list[float]]:
    """A key with ``share[t]`` of ``total[t]`` orders per window; violations, baselines."""
    rng = np.random.default_rng(seed)
    bank = SeriesBank(DetectorConfig(kind="count", grace_period=96, persistence=(2, 3)))
    rows = bank.rows(["key"])
    fired, base = [], []
    for t, (n, p) in enumerate(zip(total, share, strict=True)):
        n_obs = rng.poisson(n)
        x = rng.binomial(n_obs, p)
        out = bank.evaluate(
            t * HOUR // 4, rows, np.array([float(x)]), None, None, np.array([float(n_obs)])
        )
        fired.append(bool(out.violating[0]))
        base.append(float(out.baseline[0]))
    return fired, base


def test_a_ramp_of_the_total_does_not_move_a_steady_share() -> None:
    """The total ramps to x2.5 in 8 h: a key keeping its 30 % share never violates,
    and its baseline follows the total at once."""
    steps = 96 * 10
    ramp = np.clip((np.arange(steps) - 96 * 8) / 32, 0, 1)
    total = 200.0 * (1 + 1.5 * ramp)
    fired, base = run(total, np.full(steps, 0.3))
    assert sum(fired[96 * 8 :]) <= 1
    assert abs(base[-1] - 0.3 * total[-1]) < 0.15 * 0.3 * total[-1]


def test_a_key_that_halves_its_share_violates() -> None:
    steps = 96 * 9
    share = np.where(np.arange(steps) >= 96 * 8 + 40, 0.15, 0.3)
    fired, _ = run(np.full(steps, 200.0), share)
    assert any(fired[96 * 8 + 40 : 96 * 8 + 44])
    assert sum(fired[96 : 96 * 8 + 40]) <= 2
