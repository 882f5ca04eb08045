"""``relative_to = "peers"`` on ``delivery_time_p90``: parcels slow with every carrier and
region (Monday's, slipped past a Sunday) are judged away, while a cell or a carrier that
breaks away from its peers still fires, through the replay's closers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from streams.dev.simulator.timefmt import format_ts
from streams.exceptions import ConfigError
from streams.pipeline.oncall import WindowPlan, with_standing_peers
from streams.pipeline.peers import MOST_LOAD_WAVE, PEER_WIDEN, standing_shifts
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, load_rules, parse_rules
from tests.unit.oncall.helpers import peeked
from thresholds.engine import Outcome

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000
MIN = 60_000
CARRIERS = ("A", "B", "C", "D")
REGIONS = ("R1", "R2", "R3", "R4")
PER_CELL = 20
#: Transit hours of a cell's parcels in an hour: a spread of 24-41 h (p90 about 39 h).
TRANSIT = tuple(24.0 + 17.0 * ((i * 7) % PER_CELL) / PER_CELL for i in range(PER_CELL))


def rules(relative_to: str | None) -> RuleSet:
    """delivery_time_p90 over one-hour windows that may alert after half a day."""
    table: dict[str, object] = {
        "window": "1h",
        "dimensions": ["carrier", "region", "region,carrier"],
        "runbook": "Look at {key}.",
        "detector": {
            "grace_period": 12,
            "persistence": [2, 2],
            "min_sample_size": 10,
            "direction": "up",
        },
    }
    if relative_to is not None:
        table["relative_to"] = relative_to
    return parse_rules({"settings": {"lateness": "1m"}, "rules": {"delivery_time_p90": table}})


def parcels(
    hour: int, region: str, carrier: str, slower: float
) -> list[tuple[int, dict[str, Any]]]:
    """A cell's ``PER_CELL`` parcels delivered within ``hour``, each ``slower`` times its
    usual transit after its shipment."""
    out = []
    for i, hours in enumerate(TRANSIT):
        at = T0 + hour * HOUR + (i * 59 * MIN) // PER_CELL + 30_000
        shipped_at = at - int(hours * slower * HOUR)
        order_id = f"{carrier}-{region}-{hour}-{i}"
        base = {"order_id": order_id, "carrier": carrier, "region": region}
        out.append(
            (
                shipped_at,
                {**base, "event_id": f"{order_id}:s", "ts": shipped_at, "status": "shipped"},
            )
        )
        out.append((at, {**base, "event_id": f"{order_id}:d", "ts": at, "status": "delivered"}))
    return out


def traffic(
    slow_hours: range = range(0), slower: float = 1.0, breakaway: dict[str, float] | None = None
) -> list[tuple[str, bytes, bytes]]:
    """40 hours of deliveries; in ``slow_hours`` every cell's transit is ``slower`` times
    its usual, except the cells of ``breakaway`` (cell -> factor)."""
    timed = []
    for hour in range(40):
        for region in REGIONS:
            for carrier in CARRIERS:
                factor = 1.0 + 0.02 * ((hour + len(region) + ord(carrier[0])) % 3)
                if hour in slow_hours:
                    factor = (breakaway or {}).get(f"{region},{carrier}", slower)
                timed += parcels(hour, region, carrier, factor)
    timed.sort(key=lambda pair: pair[0])
    for _, value in timed:
        value["ts"] = format_ts(value["ts"])
    return [("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in timed]


def firing(relative_to: str | None, records: list[tuple[str, bytes, bytes]]) -> set[str]:
    pipeline = ReplayPipeline(rules(relative_to), partitions=2)
    return {f"{a.dimension}={a.key}" for a in pipeline.run(records) if a.status == "firing"}


class TestReplay:
    def test_steady_traffic_is_quiet(self) -> None:
        assert firing("peers", traffic()) == set()

    def test_a_shared_slowdown_is_judged_away(self) -> None:
        """Every cell x1.6 slower for six hours: judged alone, every carrier and region
        fires; against their peers, nothing does."""
        records = traffic(range(30, 36), slower=1.6)
        alone = {f"carrier={c}" for c in CARRIERS} | {f"region={r}" for r in REGIONS}
        assert alone <= firing(None, records)
        assert firing("peers", records) == set()

    def test_a_cell_breaking_away_from_the_slowdown_fires(self) -> None:
        """In the same slowdown, one cell x3 slower stands out of its peers."""
        records = traffic(range(30, 36), slower=1.6, breakaway={"R2,C": 3.0})
        assert "region,carrier=R2,C" in firing("peers", records)

    def test_a_carrier_slow_everywhere_fires_on_the_carrier(self) -> None:
        """Outside any wave, carrier B x2 slower in every region: the carrier and its cells
        break away from their peers."""
        records = traffic(range(30, 36), breakaway={f"{r},B": 2.0 for r in REGIONS})
        fired = firing("peers", records)
        assert "carrier=B" in fired
        assert {f"region,carrier={r},B" for r in REGIONS} <= fired
        assert not any(key.startswith("carrier=") and key != "carrier=B" for key in fired)


SIZES = np.full(6, 50.0)
BASE = 40.0
SERIES = [(f"delivery_time_p90:carrier:C{i}", "carrier", f"C{i}") for i in range(6)]


def outcome() -> Outcome:
    """The engine's peek: a p90 of BASE hours, the band 30 % above it."""
    return peeked(
        np.full(6, BASE), np.full(6, np.nan), np.full(6, BASE * 1.3), SIZES.astype(np.int64)
    )


def quantiles(multipliers: list[float]) -> npt.NDArray[np.float64]:
    return BASE * np.asarray(multipliers)


class TestShifts:
    def test_a_slowdown_divides_every_row_widened_and_unlearned(self) -> None:
        plan = with_standing_peers(
            None, SERIES, quantiles([1.5] * 6), SIZES, 20, outcome, 3.0, kind="percentile"
        )
        assert isinstance(plan, WindowPlan)
        assert plan.learn is not None and not plan.learn.any()
        assert plan.z_scale is not None and np.all(plan.z_scale >= PEER_WIDEN)
        assert np.allclose(plan.values, BASE)  # each back at its baseline
        assert plan.factor[0] == pytest.approx(1.5)
        assert plan.peers[0]["factor"] == pytest.approx(1.5)

    def test_the_decision_reads_in_hours(self) -> None:
        """The engine judged the quantile over ``w``; the alert reports the observed p90 and
        the peers' band (baseline times ``w``)."""
        plan = with_standing_peers(
            None, SERIES, quantiles([1.5] * 6), SIZES, 20, outcome, 3.0, kind="percentile"
        )
        assert plan is not None
        judged = outcome().decision(0)
        shown = plan.decision(0, judged)
        assert shown.baseline == pytest.approx(BASE * 1.5)

    def test_one_key_alone_moves_nothing(self) -> None:
        shifts = standing_shifts(
            SERIES, quantiles([3.0, 1, 1, 1, 1, 1]), SIZES, outcome(), 20, 3.0, "percentile"
        )
        assert shifts == {}

    def test_a_small_common_rise_is_learned(self) -> None:
        plan = with_standing_peers(
            None, SERIES, quantiles([1.04] * 6), SIZES, 20, outcome, 3.0, kind="percentile"
        )
        assert plan is None


LOG_BASE = 300.0


def log_outcome(k: int = 5) -> Outcome:
    """The engine's peek of ``k`` queues' log-means: ``LOG_BASE`` s, the band x1.8 above."""
    return peeked(
        np.full(k, LOG_BASE),
        np.full(k, np.nan),
        np.full(k, LOG_BASE * 1.8),
        np.full(k, 100, np.int64),
    )


def log_shifts(
    multipliers: list[float], noise: float = 0.005, sizes: list[float] | None = None
) -> dict[int, float]:
    """Row -> the wave a window of queues' log-means ``LOG_BASE x multipliers`` (``sizes``
    waits each, default 100; sampling variance ``noise`` in log) is moved by."""
    k = len(multipliers)
    series = [(f"wait_time_p90:queue:Q{i}", "queue", f"Q{i}") for i in range(k)]
    shifts = standing_shifts(
        series,
        LOG_BASE * np.asarray(multipliers),
        np.asarray(sizes or [100.0] * k),
        log_outcome(k),
        2,
        3.0,
        "percentile",
        np.full(k, noise),
    )
    return {row: round(moved.wave, 3) for row, moved in shifts.items()}


class TestLogMeanShifts:
    """Peers of log-means (``wait_time_p90``): the wave must stand out of the sampling noise,
    and a wave beyond ``MOST_LOAD_WAVE`` is a shop-wide surge, not judged away."""

    def test_a_busy_evening_moves_every_queue(self) -> None:
        assert log_shifts([1.5, 1.45, 1.55, 1.5, 1.5]) == dict.fromkeys(range(5), 1.5)

    def test_a_wave_inside_the_noise_moves_nothing(self) -> None:
        """x1.3 on queues of a few waits (log-mean variance 0.2 each) is chance."""
        assert log_shifts([1.3] * 5, noise=0.2) == {}
        assert log_shifts([1.3] * 5, noise=0.005) != {}

    def test_one_queue_breaking_away_keeps_its_peers_wave(self) -> None:
        """Queue 0 x4 in a x1.6 evening: it is judged against the others' x1.6 (and they,
        with it among their peers, against x1.6 too)."""
        assert log_shifts([4.0, 1.6, 1.6, 1.6, 1.6]) == dict.fromkeys(range(5), 1.6)

    def test_a_shop_wide_surge_is_not_judged_away(self) -> None:
        assert MOST_LOAD_WAVE == 2.0
        assert log_shifts([3.0] * 5) == {}

    def test_a_row_is_moved_by_at_most_the_largest_load_wave(self) -> None:
        """The dimension's median (weighted by waits) is x1.9; queue 1's peers reach x2.2."""
        shifts = log_shifts([1.0, 1.9, 2.2, 2.2, 2.2], sizes=[100, 300, 100, 100, 100])
        assert shifts[1] == MOST_LOAD_WAVE
        assert shifts[0] == 1.9

    def test_the_alert_reports_the_window_quantile(self) -> None:
        """A log-mean rule's decision already carries the window's p90 as observed; only
        the baseline and band are moved back up by the wave."""
        series = [(f"wait_time_p90:queue:Q{i}", "queue", f"Q{i}") for i in range(5)]
        plan = with_standing_peers(
            None,
            series,
            LOG_BASE * np.full(5, 1.5),
            np.full(5, 100.0),
            2,
            log_outcome,
            3.0,
            kind="percentile",
            noise=np.full(5, 0.005),
        )
        assert plan is not None
        judged = log_outcome().decision(0)
        shown = plan.decision(0, judged, reported=True)
        assert shown.observed == judged.observed
        assert shown.baseline == pytest.approx(LOG_BASE * 1.5)


class TestRulesFile:
    def test_peers_judge_a_log_mean_too(self) -> None:
        rules = parse_rules(
            {"rules": {"wait_time_p90": {"relative_to": "peers", "statistic": "log_mean"}}}
        )
        assert rules.by_name("wait_time_p90").relative_to == "peers"

    def test_peers_need_a_colocated_rule(self) -> None:
        with pytest.raises(ConfigError) as info:
            parse_rules({"rules": {"handle_time_p90": {"relative_to": "peers"}}})
        assert info.value.field == "rules.handle_time_p90.relative_to"

    @pytest.mark.parametrize("path", [None, "deploy/rules/china.toml"])
    def test_the_shipped_rules_judge_waits_against_peers(self, path: str | None) -> None:
        rules = load_rules(path)
        assert rules.by_name("wait_time_p90").relative_to == "peers"
        assert rules.by_name("wait_time_p90").statistic == "log_mean"
        assert rules.by_name("wait_sla_breach_share").relative_to is None

    @pytest.mark.parametrize("path", [None, "deploy/rules/china.toml"])
    def test_the_shipped_rules_judge_delivery_times_against_peers(self, path: str | None) -> None:
        assert load_rules(path).by_name("delivery_time_p90").relative_to == "peers"
