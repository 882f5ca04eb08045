"""The aftermath's peer normalisation of rate rules, window by window (no replay).

A shop-wide wave that multiplies every key's rate by ~3.5 (the size the lag-aware
return rate sees) is judged away; a key at 10 times its rate still stands out, also
when it carries a large share of the deliveries (it is not its own peer); reported
values are in true units.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from streams.pipeline.oncall import OnCall, WindowPlan
from streams.pipeline.peers import PEER_FULL_WAVE, PEER_WIDEN, peer_factors
from tests.unit.oncall.helpers import DAY, T0, peeked, sale
from thresholds.decision import Decision
from thresholds.engine import Outcome
from thresholds.kinds import to_observed

Z = 3.0
BASE = 0.06
#: Deliveries per key: one best seller with 40 % of them, eleven smaller keys.
SIZES = np.array([2000.0] + [270.0] * 11)


def _g(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.arcsin(np.sqrt(p))


def outcome(n: npt.NDArray[np.float64]) -> Outcome:
    """What the engine peeks before the plan: baseline BASE, a band of Z sampling sigmas."""
    base = np.full(len(n), BASE)
    upper = to_observed("ratio", _g(base) + Z / np.sqrt(4 * n + 2))
    return peeked(base, np.full(len(n), np.nan), upper, n.astype(np.int64))


def plan(multipliers: list[float]) -> tuple[OnCall, WindowPlan | None]:
    """Plan one window in the aftermath with each key's rate = BASE x its multiplier."""
    oncall = sale({}, "5d")
    series = [(f"return_rate:sku:S{i}", "sku", f"S{i}") for i in range(len(SIZES))]
    values = SIZES * BASE * np.asarray(multipliers)
    start = T0 + 8 * DAY
    return oncall, oncall.plan(
        "return_rate",
        "ratio",
        start,
        start + DAY,
        series,
        values,
        SIZES,
        20,
        lambda: outcome(SIZES),
        Z,
    )


def judged_z(result: WindowPlan | None) -> npt.NDArray[np.float64]:
    """Each row's deviation as the engine sees it, in its (widened) band's sigmas."""
    assert isinstance(result, WindowPlan) and result.z_scale is not None
    p = result.values / SIZES
    return (_g(p) - _g(np.full(len(p), BASE))) * np.sqrt(4 * SIZES + 2) / result.z_scale


class TestPeerNormalisation:
    def test_wave_is_judged_away(self) -> None:
        """Every key at ~3.5 x: each is judged near its own baseline, none beyond Z."""
        rng = np.random.default_rng(1)
        _, result = plan(list(3.5 * rng.uniform(0.95, 1.05, len(SIZES))))
        assert np.abs(judged_z(result)).max() < Z

    def test_sizing_error_on_the_best_seller_stands_out(self) -> None:
        """The best seller at 10 x among peers at 3.5 x: its peer factor comes from the
        others (not from itself, though it has 40 % of the deliveries) and it is judged
        far beyond the band; its peers stay inside."""
        _, result = plan([10.0] + [3.5] * 11)
        z = judged_z(result)
        assert z[0] > 3 * Z
        assert np.abs(z[1:]).max() < Z

    def test_not_its_own_peer(self) -> None:
        """A key with most of the deliveries does not set its own peer factor."""
        sizes = np.array([3000.0, 100, 100, 100, 100, 100])
        values = sizes * BASE * np.array([10.0, 3.4, 3.5, 3.5, 3.6, 3.5])
        factors = peer_factors(values, sizes, np.full(6, BASE), list(range(6)), 20)
        assert factors[0] == pytest.approx(3.5)

    def test_dividing_by_the_factor_would_hide_it(self) -> None:
        """Judged as rate / w (the former normalisation: the band w times as wide in true
        units, high rates compressed), the same sizing error looks less than half as
        large as against w x baseline in the stabilised scale."""
        _, result = plan([10.0] + [3.5] * 11)
        divided = np.array(10 * BASE / 3.5)
        old_z = (_g(divided) - _g(np.array(BASE))) * np.sqrt(4 * SIZES[0] + 2)
        assert judged_z(result)[0] > 2 * old_z / PEER_WIDEN

    def test_reported_in_true_units(self) -> None:
        """The decision reports the observed rate, and w x baseline as the baseline."""
        _, result = plan([10.0] + [3.5] * 11)
        assert isinstance(result, WindowPlan)
        engine = Decision(
            result.values[0] / SIZES[0],
            BASE,
            None,
            2 * BASE,
            1.0,
            0.9,
            int(SIZES[0]),
            True,
            True,
            "up",
            "critical",
            True,
            "fire",
        )
        shown = result.decision(0, engine)
        assert shown.observed == pytest.approx(10 * BASE)
        assert shown.baseline == pytest.approx(3.5 * BASE)
        assert shown.upper is not None and shown.upper > 3.5 * 2 * BASE * 0.5
        tag = result.calendar[0][0]
        assert tag["phase"] == "aftermath" and tag["peer_factor"] == pytest.approx(3.5)
        assert result.learn is not None and not result.learn.any()

    def test_scattered_wave_widens_the_bands(self) -> None:
        """Peers that scatter far more than their sampling noise widen the dimension's bands
        by that scatter (quasi-likelihood dispersion), so none of them fires."""
        rng = np.random.default_rng(2)
        _, result = plan([3.5, *(3.5 * rng.lognormal(0.0, 0.35, 11))])
        assert isinstance(result, WindowPlan) and result.z_scale is not None
        assert result.z_scale.min() > PEER_WIDEN
        assert result.calendar[1][0]["peer_widen"] > PEER_WIDEN


class TestWideningFollowsTheWave:
    """The widening (and the CUSUM weight, one over it) in proportion to the wave below
    ``PEER_FULL_WAVE``: a key's own share of a small wave is little to be unsure of."""

    def test_no_wave_no_widening(self) -> None:
        """Every key at its usual rate: judged as on any day (band and CUSUM)."""
        _, result = plan([1.0] * len(SIZES))
        assert isinstance(result, WindowPlan)
        assert result.z_scale is None or np.all(result.z_scale == 1.0)
        assert result.sequential is not None and np.all(result.sequential == 1.0)

    def test_a_small_wave_widens_a_little(self) -> None:
        """Every key at 1.1x: a fifth of the full widening (by 1.5: 1.1)."""
        _, result = plan([1.1] * len(SIZES))
        assert isinstance(result, WindowPlan) and result.z_scale is not None
        full = PEER_WIDEN - 1.0
        assert result.z_scale == pytest.approx(1.0 + full * 0.1 / (PEER_FULL_WAVE - 1.0), rel=0.05)

    def test_a_full_wave_widens_in_full(self) -> None:
        """At 3.5x every row is widened by at least PEER_WIDEN and its CUSUM evidence
        weighs one over that."""
        _, result = plan([3.5] * len(SIZES))
        assert isinstance(result, WindowPlan) and result.z_scale is not None
        assert result.sequential is not None
        assert np.all(result.z_scale >= PEER_WIDEN)
        assert result.sequential == pytest.approx(1.0 / result.z_scale)
