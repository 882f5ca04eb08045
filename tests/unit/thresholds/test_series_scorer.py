"""The generic single-series scorer behind score-series."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import NonFiniteInputError, SeriesScorer
from thresholds.series_scorer import ScorerConfig


def _wave(i: int) -> float:
    return 10 * math.sin(i / 12) + (i % 3)


class TestSeriesScorer:
    def test_spike_fires_once(self) -> None:
        """A spike after 900 periodic rows raises exactly one alert."""
        scorer = SeriesScorer()
        for i in range(900):
            scorer.score(i * 60_000, _wave(i))
        alerts = [
            scorer.score((900 + i) * 60_000, 80.0 if i == 0 else _wave(900 + i)).alert
            for i in range(50)
        ]
        assert alerts[0] == 1 and sum(alerts) == 1

    def test_repeat_is_damped(self) -> None:
        """A second, equal spike within the refractory span scores below the first."""
        scorer = SeriesScorer()
        for i in range(900):
            scorer.score(i * 60_000, _wave(i))
        first = scorer.score(900 * 60_000, 80.0).anomaly_score
        for i in range(901, 940):
            scorer.score(i * 60_000, _wave(i))
        second = scorer.score(940 * 60_000, 80.0).anomaly_score
        assert second < first

    def test_deterministic(self) -> None:
        """The same rows give the same scores and alerts, bit for bit."""
        rows = [(i * 60_000, _wave(i) + (25.0 if i % 997 == 500 else 0.0)) for i in range(2500)]
        a, b = SeriesScorer(), SeriesScorer()
        first = [a.score(t, v) for t, v in rows]
        second = [b.score(t, v) for t, v in rows]
        assert first == second

    def test_seasonal_sine_does_not_alert(self) -> None:
        """A clean seasonal pattern stays quiet after the warm-up, far below the alert level."""
        scorer = SeriesScorer()
        rows = [
            scorer.score(i * 300_000, 50 + 20 * math.sin(2 * math.pi * i / 288))
            for i in range(3000)
        ]
        assert sum(r.alert for r in rows) == 0
        assert max(r.anomaly_score for r in rows[400:]) < scorer.config.alert_level

    def test_missing_daily_peak_detected(self) -> None:
        """A daily peak that fails to come is caught by the same-time-of-day channel only."""

        def day_shape(i: int, peak: bool = True) -> float:
            """5-minute rows: a two-hour peak at 11:00 each day over a small ripple."""
            return 100.0 if peak and 132 <= i % 288 < 156 else 10.0 + (i % 7) * 0.1

        def run(cfg: ScorerConfig) -> float:
            scorer = SeriesScorer(cfg)
            for i in range(288 * 8):
                scorer.score(i * 300_000, day_shape(i))
            day9 = range(288 * 8, 288 * 8 + 200)  # the ninth day's peak fails to come
            outs = [scorer.score(i * 300_000, day_shape(i, peak=False)) for i in day9]
            return max(o.anomaly_score for o in outs[130:160])

        with_seasonal = run(ScorerConfig())
        without = run(ScorerConfig(seasonal_days=0))
        assert with_seasonal >= ScorerConfig().alert_level > without

    def test_range_novelty_scores_one(self) -> None:
        """A value beyond the running range by more than the tolerance scores 1.0."""
        scorer = SeriesScorer()
        for i in range(600):
            scorer.score(i, _wave(i))
        lo, hi = scorer._lo, scorer._hi
        out = scorer.score(600, hi + 0.2 * (hi - lo))
        assert out.anomaly_score == 1.0 and out.alert == 1

    def test_range_novelty_can_be_turned_off(self) -> None:
        """With spatial_tolerance=None a slightly-out-of-range value no longer scores 1.0."""
        cfg = ScorerConfig(spatial_tolerance=None)
        scorer = SeriesScorer(cfg)
        for i in range(600):
            scorer.score(i, _wave(i))
        assert scorer.score(600, scorer._hi * 1.1).anomaly_score < 1.0

    def test_scale_free(self) -> None:
        """Multiplying the series by a power of two leaves every score unchanged."""
        a, b = SeriesScorer(), SeriesScorer()
        for i in range(1500):
            v = _wave(i) + (15.0 if i == 1200 else 0.0)
            assert a.score(i, v) == b.score(i, v * 1024.0)

    def test_state_bounded(self) -> None:
        """Buffers stay within their configured sizes however long the series."""
        cfg = ScorerConfig(
            memory=60, calibration=60, refractory=40, grace_period=10, seasonal_memory=100
        )
        scorer = SeriesScorer(cfg)
        for i in range(3000):
            scorer.score(i * 3_600_000, _wave(i) * (1 + i / 1000))
        assert scorer._reference.shape == (cfg.memory, cfg.embed)
        assert scorer._cal._buf.shape == (cfg.calibration,)
        assert scorer._seasonal_cal._buf.shape == (cfg.calibration,)
        assert scorer._past.shape == (cfg.seasonal_memory, cfg.embed)
        assert len(scorer._past_slot) <= cfg.seasonal_memory
        assert len(scorer._context) <= cfg.embed
        assert len(scorer._pending) <= cfg.exclude
        assert len(scorer._peaks) <= cfg.refractory

    def test_warm_up_scores_zero(self) -> None:
        """Rows inside the grace period score 0."""
        scorer = SeriesScorer()
        assert all(scorer.score(i, float(i % 5) * 1e6).anomaly_score == 0.0 for i in range(150))

    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_rejected(self, bad: float) -> None:
        """NaN or inf raises a ValueError naming the value."""
        with pytest.raises(NonFiniteInputError, match="value"):
            SeriesScorer().score(0, bad)

    def test_bad_config_named(self) -> None:
        """An invalid configuration names the field."""
        with pytest.raises(ValueError, match=r"^embed"):
            ScorerConfig(embed=0)
        with pytest.raises(ValueError, match=r"^seasonal_days"):
            ScorerConfig(seasonal_days=-1)
        with pytest.raises(ValueError, match=r"^seasonal_memory"):
            ScorerConfig(seasonal_memory=0)
        with pytest.raises(ValueError, match=r"^spatial_tolerance"):
            ScorerConfig(spatial_tolerance=-0.1)

    @settings(max_examples=15, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(-(10**6), 10**6), st.floats(-1e12, 1e12, allow_nan=False)),
            min_size=1,
            max_size=300,
        )
    )
    def test_bounded_scores(self, rows: list[tuple[int, float]]) -> None:
        """Any finite rows, with repeated or backward timestamps, score in [0, 1]."""
        scorer = SeriesScorer(ScorerConfig(grace_period=5))
        ts = 0
        for step, value in rows:
            ts += step
            out = scorer.score(ts, value)
            assert 0.0 <= out.anomaly_score <= 1.0 and out.alert in (0, 1)
