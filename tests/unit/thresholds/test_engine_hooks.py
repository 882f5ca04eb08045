"""The engine's two on-call hooks: ``learn`` (keep a window out of the baseline) and
``z_scale`` (a per-row sensitivity multiplier)."""

from __future__ import annotations

import numpy as np

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, step

HOUR = 3_600_000


def _warm(cfg: DetectorConfig, rows: int = 1) -> Columns:
    cols = Columns.empty(cfg, rows)
    rng = np.random.default_rng(1)
    for t in range(30):
        _, cols = step(
            cfg, cols, np.full(rows, t * HOUR), np.full(rows, float(rng.poisson(100))), None
        )
    return cols


class TestLearnFlag:
    def test_unlearned_window_leaves_the_baseline(self) -> None:
        """A window with learn=False is decided but changes level, variance and n not at all."""
        cfg = DetectorConfig(kind="count", grace_period=5, policy="persistence")
        cols = _warm(cfg)
        out, new = step(cfg, cols, 30 * HOUR, np.array([400.0]), None, learn=np.array([False]))
        assert out.violating[0]
        assert new.level[0] == cols.level[0]
        assert new.var[0] == cols.var[0]
        assert new.n[0] == cols.n[0]
        assert np.array_equal(new.hour, cols.hour)
        assert new.history[0] != cols.history[0]  # the decision state still moves

    def test_learned_window_moves_the_baseline(self) -> None:
        """The same window with learn=True (the default) moves the level."""
        cfg = DetectorConfig(kind="count", grace_period=5, policy="persistence")
        cols = _warm(cfg)
        _, new = step(cfg, cols, 30 * HOUR, np.array([400.0]), None)
        assert new.level[0] != cols.level[0]
        assert new.n[0] == cols.n[0] + 1


class TestZScale:
    def test_scale_widens_band_and_silences(self) -> None:
        """A row with z_scale 3 has a wider band and does not violate where scale 1 does."""
        cfg = DetectorConfig(kind="count", grace_period=5, policy="persistence")
        cols = _warm(cfg, 2)
        out, _ = step(
            cfg, cols, 30 * HOUR, np.array([150.0, 150.0]), None, z_scale=np.array([1.0, 3.0])
        )
        assert out.violating[0] and not out.violating[1]
        assert out.upper[1] > out.upper[0]
        assert out.baseline[0] == out.baseline[1]
