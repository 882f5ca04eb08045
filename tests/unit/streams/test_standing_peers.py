"""``relative_to = "peers"`` on ``late_delivery_share``: a late wave shared by every
carrier and region (Monday's parcels, slipped past a Sunday) is judged away, while a cell,
a carrier or a region that breaks away from its peers still fires, through the replay's
closers."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from streams.exceptions import ConfigError
from streams.pipeline.oncall import WindowPlan, with_standing_peers
from streams.pipeline.peers import LEAST_WAVE, PEER_WIDEN, standing_shifts
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules
from tests.unit.oncall.helpers import peeked
from tests.unit.streams.test_twin_cells import deliveries
from thresholds.engine import Outcome
from thresholds.kinds import to_observed

CARRIERS = ("A", "B", "C", "D")
REGIONS = ("R1", "R2", "R3", "R4")
PER_CELL = 20
DIMENSIONS = ["carrier", "region", "region,carrier"]


def rules(relative_to: str | None) -> RuleSet:
    """late_delivery_share over one-hour windows that may alert after half a day."""
    table: dict[str, object] = {
        "window": "1h",
        "dimensions": DIMENSIONS,
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
    return parse_rules({"settings": {"lateness": "1m"}, "rules": {"late_delivery_share": table}})


def traffic(
    wave_hours: range = range(0), wave_late: int = 0, breakaway: dict[str, int] | None = None
) -> list[tuple[str, bytes, bytes]]:
    """40 hours of 20 parcels per cell and hour, 2-3 of them late; in ``wave_hours`` every
    cell has ``wave_late`` late parcels, except the cells of ``breakaway`` (cell -> late)."""
    timed = []
    for hour in range(40):
        for i, (region, carrier) in enumerate((r, c) for r in REGIONS for c in CARRIERS):
            late = 2 + (hour + i) % 2
            if hour in wave_hours:
                late = (breakaway or {}).get(f"{region},{carrier}", wave_late)
            timed += deliveries(hour, region, carrier, PER_CELL, late)
    timed.sort(key=lambda pair: pair[0])
    return [("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in timed]


def firing(relative_to: str | None, records: list[tuple[str, bytes, bytes]]) -> set[str]:
    pipeline = ReplayPipeline(rules(relative_to), partitions=2)
    return {f"{a.dimension}={a.key}" for a in pipeline.run(records) if a.status == "firing"}


class TestReplay:
    def test_steady_traffic_is_quiet(self) -> None:
        assert firing("peers", traffic()) == set()

    def test_a_shared_wave_is_judged_away(self) -> None:
        """Every cell at 30 % late for six hours: judged alone, every carrier and region
        fires; against their peers, nothing does."""
        records = traffic(range(30, 36), wave_late=6)
        alone = {f"carrier={c}" for c in CARRIERS} | {f"region={r}" for r in REGIONS}
        assert alone <= firing(None, records)
        assert firing("peers", records) == set()

    def test_a_cell_breaking_away_from_the_wave_fires(self) -> None:
        """In the same wave, one cell at 80 % late stands out of its peers; its carrier and
        region, lifted by it, stay with theirs."""
        records = traffic(range(30, 36), wave_late=6, breakaway={"R2,C": 16})
        assert firing("peers", records) == {"region,carrier=R2,C"}

    def test_a_carrier_late_everywhere_fires_on_the_carrier(self) -> None:
        """Outside any wave, carrier B late in every region: the carrier and its cells
        break away from their peers; each region, a quarter of it late, does not."""
        records = traffic(range(30, 36), wave_late=3, breakaway={f"{r},B": 14 for r in REGIONS})
        fired = firing("peers", records)
        assert "carrier=B" in fired
        assert {f"region,carrier={r},B" for r in REGIONS} <= fired
        assert not any(key.startswith("carrier=") and key != "carrier=B" for key in fired)


SIZES = np.full(6, 200.0)
BASE = 0.1
SERIES = [(f"late_delivery_share:carrier:C{i}", "carrier", f"C{i}") for i in range(6)]


def outcome() -> Outcome:
    """The engine's peek: baseline BASE, a band of three sampling sigmas."""
    base = np.full(6, BASE)
    upper = to_observed("ratio", np.arcsin(np.sqrt(base)) + 3.0 / np.sqrt(4 * SIZES + 2))
    return peeked(base, np.full(6, np.nan), upper, SIZES.astype(np.int64))


def values(multipliers: list[float]) -> npt.NDArray[np.float64]:
    return SIZES * BASE * np.asarray(multipliers)


class TestShifts:
    def test_a_wave_moves_every_row_widened_and_unlearned(self) -> None:
        plan = with_standing_peers(None, SERIES, values([2.0] * 6), SIZES, 20, outcome, 3.0)
        assert isinstance(plan, WindowPlan)
        assert plan.learn is not None and not plan.learn.any()
        assert plan.z_scale is not None and np.all(plan.z_scale >= PEER_WIDEN)
        assert np.allclose(plan.values, SIZES * BASE)  # each back at its baseline
        assert plan.peers[0]["factor"] == pytest.approx(2.0)

    def test_one_key_alone_moves_nothing(self) -> None:
        """A key at 3x among peers at 1x is no wave: nothing is moved, it is judged alone."""
        shifts = standing_shifts(SERIES, values([3.0, 1, 1, 1, 1, 1]), SIZES, outcome(), 20, 3.0)
        assert shifts == {}

    def test_a_small_common_rise_is_learned(self) -> None:
        """Peers a few per cent up together: below the least wave, judged and learned as
        usual."""
        rise = 1.0 + LEAST_WAVE / 2
        plan = with_standing_peers(None, SERIES, values([rise] * 6), SIZES, 20, outcome, 3.0)
        assert plan is None

    def test_scattered_peers_need_a_larger_wave(self) -> None:
        """A wave of x1.2 moves peers that agree on it, not peers whose ratios scatter from
        0.5 to 2.0: under a quarter, a wave must stand three standard errors above 1."""
        tight = [1.15, 1.2, 1.2, 1.2, 1.25, 1.15]
        assert set(standing_shifts(SERIES, values(tight), SIZES, outcome(), 20, 3.0)) == set(
            range(6)
        )
        scattered = [0.5, 0.8, 1.15, 1.2, 1.6, 2.0]
        assert standing_shifts(SERIES, values(scattered), SIZES, outcome(), 20, 3.0) == {}

    def test_a_quarter_moves_whatever_the_scatter(self) -> None:
        scattered = [1.0, 1.6, 2.3, 2.4, 3.2, 4.0]
        assert len(standing_shifts(SERIES, values(scattered), SIZES, outcome(), 20, 3.0)) == 6

    def test_rows_the_calendar_moved_keep_its_judgement(self) -> None:
        before = WindowPlan(values([2.0] * 6), shift={0: 0.05})
        plan = with_standing_peers(before, SERIES, values([2.0] * 6), SIZES, 20, outcome, 3.0)
        assert plan is before
        assert plan.shift[0] == 0.05 and 0 not in plan.peers
        assert set(plan.peers) == {1, 2, 3, 4, 5}


class TestRulesFile:
    def test_peers_is_for_ratio_rules_on_one_closer(self) -> None:
        with pytest.raises(ConfigError) as info:
            parse_rules({"rules": {"return_rate": {"relative_to": "peers"}}})
        assert info.value.field == "rules.return_rate.relative_to"

    def test_total_is_for_counts(self) -> None:
        with pytest.raises(ConfigError, match="'total' is for count rules"):
            parse_rules(
                {
                    "rules": {
                        "late_delivery_share": {
                            "relative_to": "total",
                            "dimensions": ["carrier"],
                        }
                    }
                }
            )

    def test_peers_is_not_for_counts(self) -> None:
        with pytest.raises(ConfigError, match="'peers' is for ratio and percentile rules"):
            parse_rules({"rules": {"order_volume": {"relative_to": "peers"}}})

    def test_unknown_value_is_named(self) -> None:
        with pytest.raises(ConfigError, match="expected 'total' or 'peers'"):
            parse_rules({"rules": {"late_delivery_share": {"relative_to": "cohort"}}})
