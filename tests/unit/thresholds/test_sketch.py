"""QuantileSketch accuracy, merging and encoding."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import NonFiniteInputError, QuantileSketch


def _sketch(values: list[float]) -> QuantileSketch:
    s = QuantileSketch()
    for v in values:
        s.add(v)
    return s


class TestQuantileSketch:
    @pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
    def test_relative_accuracy(self, q: float) -> None:
        """Quantiles of 10,000 lognormal waits are within 1 % of the exact rank value."""
        values = np.random.default_rng(0).lognormal(5, 1, 10_000)
        exact = float(np.quantile(values, q, method="lower"))
        got = _sketch(values.tolist()).quantile(q)
        assert abs(got - exact) / exact <= 0.0101

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=200),
        st.randoms(use_true_random=False),
    )
    def test_merge_is_order_independent(self, values: list[float], rnd) -> None:  # type: ignore[no-untyped-def]
        """Partials merged in any order equal the sketch of all values."""
        parts = [_sketch(values[i::3]) for i in range(3)]
        rnd.shuffle(parts)
        assert QuantileSketch.merged(parts) == _sketch(sorted(values))

    def test_bounded_buckets(self) -> None:
        """Memory stays within max_buckets per sign, keeping upper quantiles accurate."""
        s = QuantileSketch(max_buckets=64)
        for v in np.geomspace(1e-6, 1e6, 5000):
            s.add(float(v))
        assert len(s.to_bytes()) <= 64 * 12 + 64
        assert (
            abs(
                s.quantile(0.99)
                / float(np.quantile(np.geomspace(1e-6, 1e6, 5000), 0.99, method="lower"))
                - 1
            )
            <= 0.0101
        )

    def test_bytes_json_pickle_round_trip(self) -> None:
        """A sketch survives bytes, JSON and pickle exactly."""
        s = _sketch([0.0, -3.5, 12.0, 900.0])
        assert QuantileSketch.from_bytes(s.to_bytes()) == s
        assert QuantileSketch.from_json(s.to_json()) == s
        assert pickle.loads(pickle.dumps(s)) == s

    def test_nan_rejected(self) -> None:
        """Adding NaN raises an error naming the value."""
        with pytest.raises(NonFiniteInputError, match="value"):
            QuantileSketch().add(math.nan)

    def test_empty_quantile_is_zero(self) -> None:
        """An empty sketch answers 0.0."""
        assert QuantileSketch().quantile(0.9) == 0.0
