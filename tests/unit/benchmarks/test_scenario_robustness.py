"""The generators and the pass criterion of ``benchmarks/scenario_robustness.py``: the
over-dispersed orders spread wider than Poisson by the size the docstring names, the
channel split and the outage keep what they say, and an episode before the incident or
one too late fails a scenario."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import scenario_robustness as bench
from tests.unit.scenarios.test_noise_floor import DAY, MIN, T0


def _per_window(records: list[dict[str, object]], width_ms: int) -> np.ndarray:
    counts = Counter(int(r["value"]["ts"]) // width_ms for r in records)  # type: ignore[index]
    return np.array([counts[k] for k in range(min(counts), max(counts))], dtype=float)


@pytest.mark.parametrize(("dispersion", "low", "high"), [(0.0, 0.9, 1.45), (2.0, 3.5, 8.0)])
def test_orders_spread_as_configured(dispersion: float, low: float, high: float) -> None:
    """Half the variance of neighbouring windows' difference over the mean count: about 1.2
    for Poisson at dispersion 0 (1 plus the daily profile's slope at 300 a window), about
    5 at 2 (the AR(1) wiggle's innovations, 2 x 0.08 in the log, at 300 a window)."""
    rng = np.random.default_rng(1)
    until = T0 + 4 * DAY
    factor = bench._dispersed(rng, until, dispersion, lambda t: 1.0)
    orders = list(bench.orders(rng, 300, until, factor))
    counts = _per_window(orders, 15 * MIN)
    # Compare each window with its neighbour: the daily profile cancels, the noise stays.
    ratio = float(np.var(np.diff(counts)) / 2.0 / np.mean(counts))
    assert low < ratio < high, ratio


def test_channel_split_and_outage() -> None:
    """Three channels near 55/35/10 %; an outage that keeps half of app's orders."""
    rng = np.random.default_rng(2)

    def keep(t: int, channel: str) -> float:
        return 0.5 if channel == "app" else 1.0

    factor = bench._dispersed(rng, T0 + DAY, 0.0, lambda t: 1.0)
    orders = list(bench.channel_orders(rng, 100, T0 + DAY, keep, factor))
    channels = Counter(r["value"]["channel"] for r in orders)  # type: ignore[index]
    total = sum(channels.values())
    # Without the outage app would be 55 % of (app + web + mini); halved, 27.5 / 72.5.
    assert abs(channels["app"] / total - 0.275 / 0.725) < 0.02
    assert abs(channels["web"] / channels["mini"] - 3.5) < 0.4


def _alert(minutes: int, key: str = "all", direction: str = "down") -> SimpleNamespace:
    end = datetime.fromtimestamp((T0 + minutes * MIN) / 1000, tz=UTC)
    return SimpleNamespace(
        status="firing", rule="order_volume", key=key, window_end=end, direction=direction
    )


@pytest.mark.parametrize(
    ("alerts", "passed"),
    [
        ([_alert(45)], True),
        ([_alert(-15), _alert(45)], False),  # an episode before the incident
        ([_alert(120)], False),  # too late
        ([_alert(45, direction="up")], False),  # the wrong side
        ([_alert(45, key="app")], False),  # another series
        ([], False),
    ],
)
def test_judge(alerts: list[SimpleNamespace], passed: bool) -> None:
    """Pass: nothing before the start, the series fires on its side within the limit."""
    ok, _ = bench._judge(alerts, "order_volume", T0, 90 * MIN, "all", down=True)
    assert ok is passed


def test_unknown_scenario_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--only`` names the scenarios it knows instead of running nothing."""
    monkeypatch.setattr(sys, "argv", ["scenario_robustness.py", "--only", "wait,bogus"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "bogus" in capsys.readouterr().err
