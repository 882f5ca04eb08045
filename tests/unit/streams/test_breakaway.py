"""``window_judge.exposure_without_breakaways``: which keys are set apart, and the
exposure the other keys get (the engine replaced by a judge that answers per exposure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from streams.pipeline.window_judge import exposure_without_breakaways
from tests.unit.oncall.helpers import peeked
from thresholds.engine import Outcome

IDS = [
    "order_volume:channel:app",
    "order_volume:channel:web",
    "order_volume:channel:mini",
    "order_volume:region:north",
    "order_volume:total:all",
]
#: A window of 725 orders where ~1000 were expected: app (55 %) halved.
COUNTS = np.array([275.0, 350.0, 100.0, 725.0, 725.0])
EXPOSURE = np.array([725.0, 725.0, 725.0, 725.0, np.nan])
#: Expected counts as the engine reports them against the observed total (share x 725),
#: the total's own expectation last.
BASELINE = np.array([0.55, 0.35, 0.10, 1.0, 1000 / 725]) * 725.0


def outcome(
    z: list[float],
    *,
    violating: list[bool],
    alerting: list[bool] | None = None,
    transition: list[int] | None = None,
    baseline: np.ndarray = BASELINE,
) -> Outcome:
    n = len(z)
    return replace(
        peeked(baseline, np.zeros(n), np.zeros(n), np.zeros(n, np.int64)),
        z=np.array(z),
        violating=np.array(violating),
        alerting=np.array(alerting or [False] * n),
        transition=np.array(transition or [0] * n, np.int8),
    )


def judge_by(
    answers: Callable[[np.ndarray], Outcome],
) -> tuple[Callable[[np.ndarray], Outcome], list[np.ndarray]]:
    seen: list[np.ndarray] = []

    def judge(exposure: np.ndarray) -> Outcome:
        seen.append(exposure.copy())
        return answers(exposure)

    return judge, seen


def test_nothing_out_keeps_the_exposure_and_peeks_once() -> None:
    judge, seen = judge_by(lambda e: outcome([0.1] * 5, violating=[False] * 5))
    assert exposure_without_breakaways(IDS, COUNTS, EXPOSURE, judge) is EXPOSURE
    assert len(seen) == 1


def test_the_key_furthest_from_the_expected_total_is_set_apart() -> None:
    """Against the observed total app is low and web high; against the expected total
    (1,000) only app is out, so app is set apart and web, judged on what app left, is
    back in its band."""

    def answers(exposure: np.ndarray) -> Outcome:
        if np.allclose(exposure[:4], 1000.0):  # against the expected total
            return outcome(
                [-9.0, 0.3, 0.1, -1.0, -5.0], violating=[True, False, False, False, True]
            )
        if np.allclose(exposure[:4], 725.0):  # against the observed total
            return outcome([-4.0, 4.5, 1.0, 0.0, -5.0], violating=[True, True, False, False, True])
        return outcome([-4.0, 0.2, 0.1, 0.0, -5.0], violating=[True, False, False, False, True])

    judge, _ = judge_by(answers)
    adjusted = exposure_without_breakaways(IDS, COUNTS, EXPOSURE, judge)
    rest = (725.0 - 275.0) / (1 - 0.55)  # 1,000: the multinomial's whole total given app
    np.testing.assert_allclose(adjusted[:4], [725.0, rest, rest, 725.0])
    assert np.isnan(adjusted[4])


def test_a_key_in_an_episode_is_set_apart_even_inside_its_band() -> None:
    """app opened a down episode before this window and is inside its band now; a key
    firing in this very window is not "in an episode before" it."""
    first = outcome(
        [-2.0, 0.5, 0.1, 0.0, -1.0],
        violating=[False] * 5,
        alerting=[True, False, False, True, False],
        transition=[0, 0, 0, 1, 0],
    )
    judge, seen = judge_by(lambda e: first)
    adjusted = exposure_without_breakaways(IDS, COUNTS, EXPOSURE, judge)
    rest = (725.0 - 275.0) / (1 - 0.55)
    np.testing.assert_allclose(adjusted[:4], [725.0, rest, rest, 725.0])
    assert len(seen) == 3  # first, against the expected total, then the adjusted window


def test_the_expected_share_set_apart_is_capped() -> None:
    """Two keys holding 95 % of the total break away: the last one is judged against
    what is left over 10 % of the total, not over 5 %."""
    baseline = BASELINE.copy()
    baseline[:3] = np.array([0.60, 0.35, 0.05]) * 725.0
    first = outcome(
        [-8.0, -8.0, 0.0, 0.0, -3.0],
        violating=[False] * 5,
        alerting=[True, True, False, False, False],
        baseline=baseline,
    )
    judge, _ = judge_by(lambda e: first)
    adjusted = exposure_without_breakaways(IDS, COUNTS, EXPOSURE, judge)
    assert adjusted[2] == (725.0 - 275.0 - 350.0) / (1 - 0.9)
