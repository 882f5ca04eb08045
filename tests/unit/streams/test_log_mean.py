"""Percentile rules decided on log-means (``statistic = "log_mean"``, issue 16): the
statistic, its learned spread, what alerts report, the rules-file field, and the
closer's snapshot of the spreads."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streams.pipeline import log_mean
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import ConfigError, RuleSet, parse_rules
from thresholds.engine import Outcome
from thresholds.sketch import QuantileSketch

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday


def sketch_of(values: list[float]) -> QuantileSketch:
    out = QuantileSketch()
    for v in values:
        out.add(v)
    return out


class TestWindow:
    def test_noise_is_the_moderated_spread_over_n(self) -> None:
        """A series with a long learned spread is judged by it (the window's own three
        values barely move it); the noise is spread / n."""
        memory = log_mean.SpreadMemory({"q": (0.49 * 1000, 1000.0)})
        w = log_mean.window(["q"], [sketch_of([100.0, 101.0, 102.0])], 0.9, memory)
        moderated = (
            2 * float(np.var(np.log1p([100.0, 101.0, 102.0]), ddof=1)) + log_mean.PRIOR_DF * 0.49
        ) / (2 + log_mean.PRIOR_DF)
        assert w.noise[0] == pytest.approx(moderated / 3, rel=0.02)
        assert w.values[0] == pytest.approx(101.0, rel=0.02)  # expm1 of the mean log1p

    def test_single_values_without_any_spread_carry_no_evidence(self) -> None:
        """One value per series and nothing learned: no spread to judge by."""
        w = log_mean.window(["a", "b"], [sketch_of([5.0]), None], 0.9, log_mean.SpreadMemory())
        assert w.sizes.tolist() == [0.0, 0.0]

    def test_a_series_is_judged_alone_whatever_else_the_window_holds(self) -> None:
        """The worker's closers each hold a share of a rule's series (replay holds all):
        a new series' noise must not depend on the other series of its window."""
        a = sketch_of([100.0, 200.0, 400.0])
        other = sketch_of([10.0, 1000.0, 50.0, 5000.0])
        alone = log_mean.window(["a"], [a], 0.9, log_mean.SpreadMemory())
        shared = log_mean.window(["a", "b"], [a, other], 0.9, log_mean.SpreadMemory())
        assert shared.noise[0] == alone.noise[0]
        assert shared.values[0] == alone.values[0]

    def test_memory_learns_and_decays(self) -> None:
        memory = log_mean.SpreadMemory()
        values = [50.0, 100.0, 200.0, 400.0]
        w = log_mean.window(["q"], [sketch_of(values)], 0.9, memory)
        memory.learn(w)
        spread, df = memory.prior("q")
        assert df == 3.0
        assert spread == pytest.approx(np.var(np.log1p(values), ddof=1), rel=0.02)
        for _ in range(int(log_mean.HALF_LIFE_WINDOWS)):
            memory.learn(log_mean.window(["q"], [sketch_of([100.0, 100.0])], 0.9, memory))
        old_weight = 3.0 * 0.5
        assert memory.prior("q")[1] == pytest.approx(
            old_weight
            + sum(
                2.0 ** (-i / log_mean.HALF_LIFE_WINDOWS)
                for i in range(int(log_mean.HALF_LIFE_WINDOWS))
            ),
            rel=1e-6,
        )

    def test_report_moves_value_and_band_to_the_quantile(self) -> None:
        """Alerts read the window's p90; the band is lifted by z_0.9 times the spread."""
        values = [60.0, 80.0, 100.0, 150.0, 300.0, 900.0]
        memory = log_mean.SpreadMemory({"q": (0.5 * 100, 100.0)})
        w = log_mean.window(["q"], [sketch_of(values)], 0.9, memory)
        one = np.ones(1)
        outcome = Outcome(
            observed=w.values.copy(),
            baseline=one * 100.0,
            lower=one * np.nan,
            upper=one * 250.0,
            score=one,
            anomaly_score=one,
            z=one,
            sample_size=np.array([6]),
            ready=np.array([True]),
            violating=np.array([False]),
            direction=np.zeros(1, np.int8),
            severity=np.zeros(1, np.int8),
            alerting=np.array([False]),
            transition=np.zeros(1, np.int8),
        )
        shown = w.report(outcome)
        assert shown.observed[0] == pytest.approx(sketch_of(values).quantile(0.9))
        assert math.isnan(shown.lower[0])
        lift = float(w.lift[0])
        assert lift == pytest.approx(
            1.2816 * math.sqrt((5 * np.var(np.log1p(values), ddof=1) + 30 * 0.5) / 35), rel=0.02
        )
        assert shown.baseline[0] == pytest.approx(math.expm1(math.log1p(100.0) + lift))
        assert shown.upper[0] == pytest.approx(math.expm1(math.log1p(250.0) + lift))


class TestRulesFile:
    def _rules(self, **extra: Any) -> RuleSet:
        return parse_rules(
            {
                "rules": {
                    "wait_time_p90": {
                        "window": "30m",
                        "hop": "15m",
                        "dimensions": ["queue"],
                        **extra,
                    }
                }
            }
        )

    def test_default_is_the_quantile(self) -> None:
        assert self._rules().rules[0].statistic == "quantile"
        assert self._rules(statistic="log_mean").rules[0].statistic == "log_mean"

    def test_unknown_statistic_is_refused_with_the_field(self) -> None:
        with pytest.raises(ConfigError, match=r"wait_time_p90\.statistic"):
            self._rules(statistic="mean")

    def test_statistic_only_on_percentile_rules(self) -> None:
        with pytest.raises(ConfigError, match=r"order_volume\.statistic"):
            parse_rules({"rules": {"order_volume": {"statistic": "log_mean"}}})


def _waits(days: int, per_30min: float, seed: int) -> Iterator[tuple[str, bytes, bytes]]:
    rng = np.random.default_rng(seed)
    t, i = T0, 0
    while t < T0 + days * 24 * HOUR:
        t += int(rng.exponential(30 * MIN / per_30min))
        i += 1
        value = {
            "event_id": f"w{i}",
            "ts": t,
            "ticket_id": f"T{i}",
            "queue": "q",
            "wait_seconds": round(float(np.exp(rng.normal(math.log(140), 0.7))), 1),
        }
        yield "wait-times", f"T{i}".encode(), json.dumps(value).encode()


def _log_mean_rules() -> RuleSet:
    return parse_rules(
        {
            "rules": {
                "wait_time_p90": {
                    "window": "30m",
                    "hop": "15m",
                    "dimensions": ["queue"],
                    "statistic": "log_mean",
                    "detector": {"grace_period": 20, "min_sample_size": 2},
                }
            }
        }
    )


def test_spreads_survive_a_closer_snapshot() -> None:
    """The learned spreads are closer state: a restored closer holds the same spreads
    and snapshots to the same bytes."""
    records = list(_waits(3, 6, 1))
    cut = len(records) // 2
    first = ReplayPipeline(_log_mean_rules(), partitions=2)
    list(first.run(records[:cut]))
    snapshot = first.closer.snapshot()
    header = json.loads(snapshot[12 : 12 + int.from_bytes(snapshot[8:12], "little")])
    assert header["spreads"], "no spread learned"
    restored = ReplayPipeline(_log_mean_rules(), partitions=2)
    restored.closer.restore(snapshot)
    assert restored.closer.snapshot() == snapshot
    assert restored.closer.spreads.table == first.closer.spreads.table
