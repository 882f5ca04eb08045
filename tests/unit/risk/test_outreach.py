"""The outreach list and the simulator's risk drivers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from streams.dev.simulator import SimulationConfig
from streams.dev.simulator.generator import Simulation
from streams.risk.outreach import action_for, outreach, read_records


def record(order_id: str, ts: str, score: float, top: str, stage: str = "delivered") -> dict:
    return {
        "order_id": order_id,
        "ts": ts,
        "score": score,
        "level": "high",
        "stage": stage,
        "customer_id": "C-1",
        "factors": [
            {"name": top, "value": 1.0, "contribution": 0.9},
            {"name": "quantity", "value": 0.0, "contribution": 0.0},
        ],
    }


class TestOutreach:
    def test_latest_record_per_order_ranked_by_score(self) -> None:
        """Each order's latest record counts; the riskiest come first with their action."""
        items = outreach(
            [
                record("O-1", "2026-11-02T10:00:00Z", 0.9, "late_days", "shipped"),
                record("O-1", "2026-11-03T10:00:00Z", 0.2, "late_days"),
                record("O-2", "2026-11-03T11:00:00Z", 0.5, "customer_history"),
            ]
        )
        assert [(i.order_id, i.score) for i in items] == [("O-2", 0.5), ("O-1", 0.2)]
        assert items[0].action == "call the customer"
        assert items[1].action == "check the parcel with the carrier"
        assert items[0].factors == (("customer_history", 0.9),)

    def test_orders_past_their_horizon_are_not_open(self) -> None:
        """An order whose last record is over 30 days older than the newest is left out."""
        items = outreach(
            [
                record("O-old", "2026-10-01T00:00:00Z", 0.9, "sku_return_rate"),
                record("O-new", "2026-11-05T00:00:00Z", 0.1, "sku_return_rate"),
            ]
        )
        assert [i.order_id for i in items] == ["O-new"]
        assert action_for("sku_return_rate") == "send the size guide"

    def test_bad_line_names_its_number(self) -> None:
        """A line that is not a risk record is refused with its line number."""
        with pytest.raises(ValueError, match="line 2"):
            list(read_records([b'{"order_id": "O-1"}', b'{"x": 1}']))


class TestSimulatorDrivers:
    def test_drivers_keep_the_true_probability_and_leave_the_default_alone(self) -> None:
        """With risk_drivers each emitted order has its true probability in [0, 1]; without,
        none is kept and the events are those of the older simulator."""
        base = replace(
            SimulationConfig(seed=2),
            duration=timedelta(hours=6),
            orders_per_day=2_000,
            warmup=timedelta(days=1),
        )
        plain = Simulation(base)
        events = [e.value for e in plain.events()]
        assert plain.true_risk == {}
        driven = Simulation(replace(base, risk_drivers=1.0))
        driven_events = [e.value for e in driven.events()]
        assert driven.true_risk and all(0.0 <= p <= 1.0 for p in driven.true_risk.values())
        placed = [e["order_id"] for e in driven_events if e.get("status") == "placed"]
        assert set(placed) <= set(driven.true_risk)
        # Only outcome draws may change: the placed orders are the same.
        assert placed == [e["order_id"] for e in events if e.get("status") == "placed"]
