"""Per-event scoring against a group norm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import EventNorm, NonFiniteInputError, NormState


def _norm() -> tuple[EventNorm, NormState]:
    norm = EventNorm(direction="up")
    state = norm.new_state()
    rng = np.random.default_rng(2)
    for _ in range(20):
        norm.update(state, rng.lognormal(np.log(40), 0.3, 25).tolist())
    return norm, state


class TestEventNorm:
    def test_typical_order_passes(self) -> None:
        """An order near the typical amount does not violate."""
        norm, state = _norm()
        assert not norm.score(state, 45.0).violating

    def test_outlier_order_fires(self) -> None:
        """An order 20x the typical amount fires with a critical severity."""
        norm, state = _norm()
        d = norm.score(state, 800.0)
        assert (d.transition, d.severity) == ("fire", "critical")

    def test_score_is_pure(self) -> None:
        """Scoring an event leaves the norm unchanged."""
        norm, state = _norm()
        before = state.to_bytes()
        norm.score(state, 1e6)
        assert state.to_bytes() == before

    def test_update_is_order_independent(self) -> None:
        """Folding a window's values in any order gives the same norm."""
        norm, a = _norm()
        b = NormState.from_bytes(a.to_bytes())
        values = [10.0, 55.5, 3.25, 99.0, 41.0]
        norm.update(a, values)
        norm.update(b, list(reversed(values)))
        assert a == b

    def test_warm_up_not_ready(self) -> None:
        """Fewer than grace_period values give ready=False and no baseline."""
        norm = EventNorm(grace_period=10)
        state = norm.new_state()
        norm.update(state, [1.0] * 9)
        d = norm.score(state, 1000.0)
        assert not d.ready and d.baseline is None and not d.violating

    def test_round_trips(self) -> None:
        """NormState survives bytes and JSON exactly."""
        _, state = _norm()
        assert NormState.from_bytes(state.to_bytes()) == state
        assert NormState.from_json(state.to_json()) == state

    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_rejected(self, bad: float) -> None:
        """NaN or inf in score or update raises a ValueError naming the input."""
        norm, state = _norm()
        with pytest.raises(NonFiniteInputError):
            norm.score(state, bad)
        with pytest.raises(NonFiniteInputError, match="values"):
            norm.update(state, [1.0, bad])

    def test_huge_value_finite(self) -> None:
        """The largest finite value gives finite numbers."""
        norm, state = _norm()
        d = norm.score(state, 1.7e308)
        assert all(math.isfinite(x) for x in (d.score, d.anomaly_score, d.upper or 0.0))


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from(["up", "down", "both"]),
    n=st.integers(0, 60),
    level=st.floats(-5, 10),
    var=st.floats(0, 4),
    value=st.floats(0, 1e7),
    guard=st.none() | st.floats(0, 100),
)
def test_violates_agrees_with_score(
    direction: str, n: int, level: float, var: float, value: float, guard: float | None
) -> None:
    """The hot path's cheap test says exactly what the full decision says."""
    norm = EventNorm(
        direction=direction,
        grace_period=8,
        guard_above=guard,  # type: ignore[arg-type]
        guard_below=guard,
    )
    state = NormState(n, level, var)
    assert norm.violates(state, value) == norm.score(state, value).violating
