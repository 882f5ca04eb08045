"""A count that does not page on its rise (a total that pages on drops only) learns slowly
while the rise is sure (``thresholds.engine.step``): a day-long sale no longer lifts its
baseline and widens its band so far that a drop after the sale goes unseen, and a lasting
rise is still adopted, over days, without paging."""

from __future__ import annotations

import math

import numpy as np

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, Outcome, step

WINDOW = 900_000  # 15 min
CFG = DetectorConfig(kind="count", grace_period=96, direction="both")
SIDES = np.array([-1, 0], dtype=np.int8)  # row 0 watches drops only, row 1 both sides
PER_WINDOW = 100.0
#: A sale: x2.3 over 8 h, held 16 h, back over 4 h.
SALE = [min(1 + 1.3 * i / 32, 2.3) for i in range(96)] + [2.3 - 1.3 * i / 16 for i in range(16)]


def daily(i: int) -> float:
    """The day's profile at window ``i`` (x0.5 at night to x1.5 in the evening)."""
    return 1.0 + 0.5 * math.sin(((i % 96) / 4 - 9) / 24 * 2 * math.pi)


def _run(
    cols: Columns, start: int, factors: list[float], seed: int
) -> tuple[list[Outcome], Columns, int]:
    """Step both rows through Poisson windows of ``PER_WINDOW x daily x factor``."""
    rng = np.random.default_rng(seed)
    outs: list[Outcome] = []
    for i, factor in enumerate(factors):
        value = np.full(2, float(rng.poisson(PER_WINDOW * daily(start + i) * factor)))
        out, cols = step(CFG, cols, (start + i) * WINDOW, value, None, sides=SIDES)
        outs.append(out)
    return outs, cols, start + len(factors)


def _after_a_sale(seed: int) -> tuple[list[Outcome], Columns, int]:
    """Nine steady days, then the sale; returns the sale's outcomes."""
    _, cols, t = _run(Columns.empty(CFG, 2), 0, [1.0] * 96 * 9, seed)
    return _run(cols, t, SALE, seed + 10)


def test_a_sale_leaves_a_drops_only_baseline_near_normal() -> None:
    """After the sale the drops-only row expects under x1.15 of normal (x1.55-1.65 when it
    learned the sale like any window); the row watching both sides learns it as usual.
    Neither row's evidence of the rise fires the drops-only row."""
    sale, cols, t = _after_a_sale(seed=1)
    assert not any(o.transition[0] == 1 for o in sale)
    after, _, _ = _run(cols, t, [1.0] * 8, seed=21)
    normal = PER_WINDOW * daily(t)
    assert after[0].baseline[0] < 1.15 * normal
    assert after[0].baseline[1] > 1.4 * normal
    assert not any(o.violating[0] for o in after)


def test_a_halving_after_the_sale_fires_at_once() -> None:
    """Orders halve for 2 h, 8 h after the sale: the drops-only row fires within the first
    window of the drop on every seed (4-6 windows later when the sale had lifted its
    baseline and widened its band)."""
    for seed in (1, 2, 3):
        _, cols, t = _after_a_sale(seed)
        outs, _, _ = _run(cols, t, [1.0] * 32 + [0.5] * 8, seed + 20)
        fired = [i - 32 for i, o in enumerate(outs) if o.transition[0] == 1]
        assert fired, f"seed {seed}: the halving did not fire"
        assert 0 <= fired[0] <= 1, f"seed {seed}: fired {fired[0]} windows into the drop"


def test_a_lasting_rise_is_adopted_without_paging() -> None:
    """Orders x1.5 for good: the drops-only row never pages, and within a week its
    baseline has followed most of the way (x1.2 or more)."""
    _, cols, t = _run(Columns.empty(CFG, 2), 0, [1.0] * 96 * 9, seed=5)
    outs, _, end = _run(cols, t, [1.5] * 96 * 7, seed=6)
    assert not any(o.transition[0] == 1 for o in outs)
    assert outs[-1].baseline[0] > 1.2 * PER_WINDOW * daily(end - 1)
