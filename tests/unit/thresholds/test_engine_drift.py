"""The CUSUM discounts runs of windows that stray together (``thresholds.engine``'s
``_evidence_spread``): a busy count whose model error lasts for hours (a quiet day, an
evening off its usual) no longer adds those hours up as independent evidence, while a
series whose windows stray independently keeps its evidence, and a real drop still fires
on either."""

from __future__ import annotations

import numpy as np
import pytest

from thresholds import engine
from thresholds.config import DetectorConfig
from thresholds.engine import Columns, Outcome, step

WINDOW = 900_000  # 15 min
DAY = 96
CFG = DetectorConfig(kind="count", grace_period=DAY, direction="down")
PER_WINDOW = 2000.0


def _traffic(days: int, seed: int, wander: float) -> list[float]:
    """Poisson counts around ``PER_WINDOW`` times a slow AR(1) multiplier of log-sd
    ``wander`` (0.95 per window: about five hours of memory)."""
    rng = np.random.default_rng(seed)
    phi, state, out = 0.95, 0.0, []
    for _ in range(days * DAY):
        state = phi * state + rng.normal(0.0, wander * np.sqrt(1 - phi**2))
        out.append(float(rng.poisson(PER_WINDOW * np.exp(state))))
    return out


def _run(
    values: list[float], cols: Columns | None = None, start: int = 0
) -> tuple[list[Outcome], Columns]:
    """Step one series through ``values``, windows ``start, start + 1, ...``."""
    cols = Columns.empty(CFG, 1) if cols is None else cols
    outs = []
    for i, value in enumerate(values):
        out, cols = step(CFG, cols, (start + i) * WINDOW, np.array([value]), None)
        outs.append(out)
    return outs, cols


def _episodes(outs: list[Outcome], after: int = 3 * DAY) -> int:
    return sum(int(o.transition[0] == 1) for o in outs[after:])


def _spread(cols: Columns) -> float:
    independent = engine._DRIFT_INDEPENDENT * engine._overlap_ratio(CFG.overlap)
    return float(np.sqrt(max(cols.drift_var[0] / independent, 1.0)))


def test_a_wandering_busy_count_learns_its_spread_and_stays_quiet() -> None:
    """Three weeks of a busy count whose level wanders by +-6 % over hours (sampling
    noise +-2 %): a learned spread over 2.5 on each of four seeds and, once a week has
    taught it, one episode in their eight weeks (the plain CUSUM: 15, next test)."""
    episodes = 0
    for seed in range(4):
        outs, cols = _run(_traffic(21, seed, wander=0.06))
        episodes += _episodes(outs, after=7 * DAY)
        assert _spread(cols) > 2.5, f"seed {seed}: spread {_spread(cols):.2f}"
    assert episodes <= 1


def test_without_the_discount_the_same_traffic_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same four seeds with the discount held at 1 (the CUSUM as it was): the
    wandering level's slow dips add up to 15 episodes in their last two weeks."""
    monkeypatch.setattr(engine, "_DRIFT_MAX_RATIO", 1.0)
    outs = [_run(_traffic(21, seed, wander=0.06))[0] for seed in range(4)]
    assert sum(_episodes(o, after=7 * DAY) for o in outs) >= 10


def test_independent_windows_keep_their_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A count with sampling noise alone keeps a spread under 1.1, and two weeks of it
    followed by a 7 % drop for two hours (3 of its sigmas) are decided exactly as without
    the discount: the drop fires."""
    for seed in range(3):
        rng = np.random.default_rng(seed + 100)
        values = _traffic(14, seed, wander=0.0)
        values += [float(rng.poisson(PER_WINDOW * 0.93)) for _ in range(8)]
        outs, cols = _run(values)
        assert _spread(cols) < 1.1, f"seed {seed}: spread {_spread(cols):.2f}"
        with monkeypatch.context() as patched:
            patched.setattr(engine, "_DRIFT_MAX_RATIO", 1.0)
            plain, _ = _run(values)
        assert [int(o.transition[0]) for o in outs] == [int(o.transition[0]) for o in plain]
        assert any(o.transition[0] == 1 for o in outs[-8:]), f"seed {seed}"


def test_a_halving_still_fires_at_once_on_a_wandering_count() -> None:
    """The discount slows sequential evidence only: a halving fires in its first two
    windows on the wandering count (the band and persistence are untouched)."""
    for seed in range(3):
        values = _traffic(14, seed, wander=0.06)
        _, cols = _run(values)
        rng = np.random.default_rng(seed + 200)
        halved = [float(rng.poisson(PER_WINDOW / 2)) for _ in range(4)]
        outs, _ = _run(halved, cols, start=len(values))
        fired = [i for i, o in enumerate(outs) if o.transition[0] == 1]
        assert fired and fired[0] <= 1, f"seed {seed}: {fired}"
