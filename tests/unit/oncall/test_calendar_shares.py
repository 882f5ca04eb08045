"""A calendar event on a rule that judges its keys as shares of the total (``relative_to``).

Window by window, no replay: a shop-wide event scales the total only (the keys' shares
move with it) and leaves the keys' learning alone; an event scoped to one channel scales
that channel's share, which the total does not lift with it.
"""

from __future__ import annotations

import numpy as np
import pytest

from streams.pipeline.oncall import OnCall, WindowPlan
from tests.unit.oncall.helpers import DAY, T0, peeked, sale
from thresholds.engine import Outcome

SERIES = [
    ("order_volume:total:all", "total", "all"),
    ("order_volume:channel:app", "channel", "app"),
    ("order_volume:channel:web", "channel", "web"),
]
#: Usual counts per window: the total, then each channel's (a 40/60 split).
BASELINE = np.array([100.0, 40.0, 60.0])


def _outcome() -> Outcome:
    return peeked(BASELINE, BASELINE * 0.6, BASELINE * 1.4, np.zeros(len(SERIES), np.int64))


def _plan(oncall: OnCall, observed: list[float], *, shares: bool = True) -> WindowPlan:
    start = T0 + 6 * DAY + DAY // 2  # inside the event
    result = oncall.plan(
        "order_volume",
        "count",
        start,
        start + 15 * 60_000,
        SERIES,
        np.array(observed),
        np.zeros(len(SERIES)),
        20,
        _outcome,
        3.0,
        shares=shares,
    )
    assert isinstance(result, WindowPlan)
    return result


class TestShopWideEvent:
    def test_only_the_total_is_scaled(self) -> None:
        """Everything at x2.2: the total is judged at its usual level, the channels'
        counts (their shares of the total) are left as observed."""
        result = _plan(sale({}, "0d"), [220.0, 88.0, 132.0])
        assert result.factor == {0: pytest.approx(2.2)}
        assert result.values.tolist() == pytest.approx([100.0, 88.0, 132.0])

    def test_the_shares_learn(self) -> None:
        """A share the event leaves alone keeps learning; the total does not."""
        result = _plan(sale({}, "0d"), [220.0, 88.0, 132.0])
        assert result.learn is not None
        assert result.learn.tolist() == [False, True, True]

    def test_no_tracker_on_a_share(self) -> None:
        """Web's share doubled while app was down (its orders moved over): once both are
        back, web is not judged against the doubled level."""
        oncall = sale({}, "0d")
        during = _plan(oncall, [220.0, 0.0, 220.0])
        oncall.after("order_volume", SERIES, during, _outcome(), np.array([220.0, 0.0, 220.0]))
        assert set(oncall.trackers) == {"order_volume:total:all"}
        after = _plan(oncall, [220.0, 88.0, 132.0])
        assert after.values[2] == pytest.approx(132.0)
        assert 2 not in after.factor

    def test_tagged_all_the_same(self) -> None:
        """Every series in scope carries ``context.calendar``; only the total a factor."""
        result = _plan(sale({}, "0d"), [220.0, 88.0, 132.0])
        assert [entry[0]["event"] for entry in result.calendar.values()] == ["sale"] * 3
        assert "factor" in result.calendar[0][0]
        assert "factor" not in result.calendar[1][0]


class TestScopedEvent:
    def test_the_scoped_share_is_scaled(self) -> None:
        """An app-only sale: the total is out of scope, app's share rises with the sale
        and is judged against its share times the tracked factor."""
        result = _plan(sale({"channel": "app"}, "0d"), [160.0, 100.0, 60.0])
        assert result.factor == {1: pytest.approx(2.5)}
        assert result.values[1] == pytest.approx(40.0)

    def test_a_plain_count_rule_scales_every_key(self) -> None:
        """Without ``relative_to`` each key's count rises with the event and is scaled."""
        result = _plan(sale({}, "0d"), [220.0, 88.0, 132.0], shares=False)
        assert sorted(result.factor) == [0, 1, 2]
