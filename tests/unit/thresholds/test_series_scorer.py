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
        alerts = [scorer.score((900 + i) * 60_000, 80.0 if i == 0 else _wave(900 + i)).alert
                  for i in range(50)]
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

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.tuples(st.integers(-10**6, 10**6), st.floats(-1e12, 1e12, allow_nan=False)),
                    min_size=1, max_size=300))
    def test_bounded_scores(self, rows: list[tuple[int, float]]) -> None:
        """Any finite rows, with repeated or backward timestamps, score in [0, 1]."""
        scorer = SeriesScorer(ScorerConfig(grace_period=5))
        ts = 0
        for step, value in rows:
            ts += step
            out = scorer.score(ts, value)
            assert 0.0 <= out.anomaly_score <= 1.0 and out.alert in (0, 1)
