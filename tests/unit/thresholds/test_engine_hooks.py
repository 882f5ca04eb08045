"""The engine's per-row hooks: ``learn`` (keep a window out of the baseline), ``z_scale``
(a per-row sensitivity multiplier), ``sequential`` (a row's weight in the CUSUMs),
``cusum_scale`` (a row's own CUSUM threshold) and ``learn_offset`` (learn another value
than the one decided on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, Outcome, step

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


def _waits(cfg: DetectorConfig) -> Columns:
    """A percentile series warmed on p90 waits around 300 s."""
    cols = Columns.empty(cfg, 1)
    rng = np.random.default_rng(2)
    for t in range(40):
        value = np.array([300.0 * float(np.exp(rng.normal(0.0, 0.1)))])
        _, cols = step(cfg, cols, t * HOUR, value, np.array([50]), np.array([0.01]))
    return cols


class TestLearnOffset:
    """A row decided on its value moved down by its peers' wave learns the value it saw."""

    CFG = DetectorConfig(kind="percentile", grace_period=5, direction="up")

    def _step(self, cols: Columns, value: float, offset: float | None) -> tuple[Outcome, Columns]:
        return step(
            self.CFG,
            cols,
            40 * HOUR,
            np.array([value]),
            np.array([50]),
            np.array([0.01]),
            learn_offset=None if offset is None else np.array([offset]),
        )

    def test_it_is_decided_on_the_moved_value_and_learns_the_seen_one(self) -> None:
        """Seen 420 s (x1.4), moved to 300 s: decided as 300 s, learned as 420 s would be."""
        cols = _waits(self.CFG)
        seen, moved = 420.0, 300.0
        _, learned_seen = self._step(cols, seen, None)
        as_moved, learned_moved = self._step(cols, moved, None)
        out, learned = self._step(cols, moved, float(np.log1p(seen) - np.log1p(moved)))
        assert out.z[0] == pytest.approx(as_moved.z[0])
        assert not out.violating[0]
        assert learned.level[0] == pytest.approx(learned_seen.level[0])
        assert learned.var[0] == pytest.approx(learned_seen.var[0])
        assert np.allclose(learned.hour, learned_seen.hour)
        assert learned.level[0] != pytest.approx(learned_moved.level[0])

    def test_a_seen_value_out_of_band_is_kept_from_the_level(self) -> None:
        """Seen x3 (out of band), moved to the baseline: the level and variance stay, as a
        rejected window's would, and the hour slot takes it once the hour is left."""
        cols = _waits(self.CFG)
        seen, moved = 900.0, 300.0
        out, learned = self._step(cols, moved, float(np.log1p(seen) - np.log1p(moved)))
        _, rejected = self._step(cols, seen, None)
        assert not out.violating[0]
        assert learned.level[0] == pytest.approx(rejected.level[0])
        assert learned.var[0] == pytest.approx(rejected.var[0])
        assert learned.hour_pending[0] == pytest.approx(rejected.hour_pending[0])
        assert learned.hour_pending[0] > 0


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


def _lasting_excess(
    cfg: DetectorConfig, cols: Columns, **hooks: npt.NDArray[Any]
) -> Iterator[tuple[Outcome, Columns]]:
    """Hours 30-59 of two rows at 125 (about 2.5 sigma over the warm level, inside the
    band), with the engine's ``hooks``; yields each hour's outcome and columns."""
    for t in range(30, 60):
        out, cols = step(cfg, cols, t * HOUR, np.array([125.0, 125.0]), None, **hooks)
        yield out, cols


class TestSequentialFlag:
    def test_rows_off_add_no_cusum_evidence(self) -> None:
        """A lasting excess inside the band fires by CUSUM on a row that adds evidence and
        never on one with sequential=False, whose CUSUM holds still."""
        cfg = DetectorConfig(kind="count", grace_period=5)
        warm = _warm(cfg, 2)
        held = warm.cusum_up[1]
        fired = [False, False]
        runs = list(_lasting_excess(cfg, warm, sequential=np.array([True, False])))
        for out, _ in runs:
            assert not out.violating.any()  # about 2.5 sigma: inside the band
            fired = [f or bool(x) for f, x in zip(fired, out.transition == 1, strict=True)]
        assert fired == [True, False]
        assert runs[-1][1].cusum_up[1] == held

    def test_a_weight_gathers_only_a_larger_deviation(self) -> None:
        """Weight 0.5: a row adds ``0.5 z - k``. The same lasting excess builds its CUSUM
        slower than at weight 1, and an excess under ``k / 0.5`` sigmas adds nothing."""
        cfg = DetectorConfig(kind="count", grace_period=5)
        cols = _warm(cfg, 3)
        out, after = step(
            cfg,
            cols,
            30 * HOUR,
            np.array([125.0, 125.0, 112.0]),
            None,
            sequential=np.array([1.0, 0.5, 0.5]),
        )
        z = out.z
        assert after.cusum_up[0] == pytest.approx(cols.cusum_up[0] + z[0] - cfg.cusum_k)
        assert after.cusum_up[1] == pytest.approx(cols.cusum_up[1] + 0.5 * z[1] - cfg.cusum_k)
        assert 0.5 * z[2] < cfg.cusum_k
        assert after.cusum_up[2] == pytest.approx(max(cols.cusum_up[2] + 0.5 * z[2] - 1.0, 0.0))


class TestCusumScale:
    def test_a_scaled_row_needs_more_evidence_and_keeps_its_band(self) -> None:
        """The same lasting excess inside the band: the row at ``cusum_scale`` 1.5 fires
        later than the row at 1, and both keep the same band."""
        cfg = DetectorConfig(kind="count", grace_period=5)
        fired_at: list[int | None] = [None, None]
        runs = _lasting_excess(cfg, _warm(cfg, 2), cusum_scale=np.array([1.0, 1.5]))
        for t, (out, _) in enumerate(runs, start=30):
            assert out.upper[0] == out.upper[1]
            for row in (0, 1):
                if out.transition[row] == 1 and fired_at[row] is None:
                    fired_at[row] = t
        assert fired_at[0] is not None and fired_at[1] is not None
        assert fired_at[1] > fired_at[0]


class TestGuardAndEvidence:
    """A window the absolute guard refuses may lower its side's CUSUM but never raise it;
    it used to reset it, so one small window in a surge (a p90 of two waits under the
    guard) wiped out the evidence gathered before it."""

    CFG = DetectorConfig(kind="count", grace_period=5, guard_above=120.0)

    def _gathered(self) -> Columns:
        cols = _warm(self.CFG, 3)
        for t in range(30, 33):  # about 2.5 sigma, inside the band: evidence only
            out, cols = step(self.CFG, cols, t * HOUR, np.full(3, 125.0), None)
            assert not out.violating.any()
        assert (cols.cusum_up > 2.0).all()
        return cols

    def test_refused_window_keeps_or_lowers_the_evidence(self) -> None:
        """Under the guard: above baseline holds the CUSUM, below lowers it, and a
        window past the guard adds as before."""
        cols = self._gathered()
        out, after = step(self.CFG, cols, 33 * HOUR, np.array([119.0, 80.0, 125.0]), None)
        assert out.z[0] > self.CFG.cusum_k  # would have added without the guard
        assert after.cusum_up[0] == cols.cusum_up[0]
        assert out.z[1] < 0
        assert after.cusum_up[1] == pytest.approx(max(cols.cusum_up[1] + out.z[1] - 1.0, 0.0))
        assert after.cusum_up[1] < cols.cusum_up[1]
        assert after.cusum_up[2] == pytest.approx(cols.cusum_up[2] + out.z[2] - 1.0)

    def test_a_refused_window_does_not_stop_a_surge_firing(self) -> None:
        """Evidence, one refused window, more evidence: the CUSUM fires."""
        cols = self._gathered()
        _, cols = step(self.CFG, cols, 33 * HOUR, np.array([119.0, 119.0, 119.0]), None)
        transitions = []
        for t in range(34, 40):
            out, cols = step(self.CFG, cols, t * HOUR, np.full(3, 125.0), None)
            transitions.append(int(out.transition[0]))
        assert 1 in transitions


class TestVarianceGain:
    """After warm-up the spread learns at the running-mean gain ``1/(n+1)`` of a young
    series, except from an agitated window (beyond ``resolve_below`` of the band on a
    watched side), which it learns from at the half-life's gain only."""

    CFG = DetectorConfig(kind="percentile", grace_period=5, half_life=96.0, direction="up")

    def _z_and_update(self, value: float) -> tuple[float, float, float]:
        """``(z, variance gain, n)`` of one window of ``value`` after warm-up."""
        cols = _warm(self.CFG)
        out, new = step(self.CFG, cols, 30 * HOUR, np.array([value]), None)
        n = float(cols.n[0])
        # A percentile is modelled in its own scale: the level moves by r / (n + 1).
        r = float(new.level[0] - cols.level[0]) * (n + 1)
        gain = float(new.var[0] - cols.var[0]) / (r * r - float(cols.var[0]))
        a = float(out.anomaly_score[0])
        return a * self.CFG.z / (1 - a), gain, n

    def test_a_calm_window_learns_at_the_running_mean_gain(self) -> None:
        z, gain, n = self._z_and_update(102.0)
        assert z < self.CFG.resolve_below * self.CFG.z
        assert gain == pytest.approx(1 / (n + 1))

    def test_an_agitated_window_learns_at_the_half_life_gain(self) -> None:
        value = next(
            v
            for v in np.arange(100.0, 200.0, 0.5)
            if 2.4 < self._z_and_update(float(v))[0] < 2.9  # agitated, inside the band
        )
        _, gain, n = self._z_and_update(float(value))
        assert n < 96  # young: the running-mean gain would be larger
        assert gain == pytest.approx(1.0 - 2.0 ** (-1.0 / 96.0))
