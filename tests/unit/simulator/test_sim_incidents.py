"""Every injected incident visibly moves its metric inside its label window; label shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streams.dev.simulator.incidents import INCIDENT_TYPES
from streams.dev.simulator.timefmt import MS_PER_DAY, parse_ts
from streams.pipeline.aggregate import TOTAL_KEY
from tests.unit.simulator.conftest import Run
from tests.unit.simulator.sim_helpers import Columns

CONTRACT_RULES = {
    "order_volume",
    "order_outlier",
    "customer_order_burst",
    "return_rate",
    "complaint_rate",
    "complaint_volume",
    "wait_time_p90",
    "wait_sla_breach_share",
    # contract 7.3
    "handle_time_p90",
    "low_satisfaction_share",
    "bad_review_rate",
    "cancellation_rate",
    "delivery_time_p90",
    "late_delivery_share",
    "lost_parcel",
    "refund_delay_p90",
}


def _label(run: Run, kind: str) -> dict[str, Any]:
    (label,) = [i for i in run.labels["incidents"] if i["type"] == kind]
    return label


def _windows(run: Run, label: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the label window and of the same hours one week earlier (the baseline)."""
    start, end = parse_ts(label["start"]), parse_ts(label["end"])
    week = 7 * MS_PER_DAY
    return run.cols.between(start, end), run.cols.between(start - week, end - week)


def _history(run: Run) -> np.ndarray:
    """Mask of the incident-free first week."""
    start = run.sim.config.start_ms
    return run.cols.between(start, start + 7 * MS_PER_DAY)


def _daily_mean(run: Run, label: dict[str, Any], mask: np.ndarray) -> float:
    """Mean count of ``mask`` events in the label window's hours on each of the 7 days before."""
    start, end = parse_ts(label["start"]), parse_ts(label["end"])
    shifted = [
        (mask & run.cols.between(start - k * MS_PER_DAY, end - k * MS_PER_DAY)).sum()
        for k in range(1, 8)
    ]
    return float(np.mean(shifted))


def _complaint_rate(c: Columns, mask: np.ndarray) -> float:
    return float(
        (mask & (c.topic == "complaints")).sum()
        / max((mask & c.order_status("delivered")).sum(), 1)
    )


class TestIncidentEffects:
    def test_sku_return_spike(self, default_run: Run) -> None:
        """The SKU's return rate over the whole label window is over 2.5x the history week's."""
        c, label = default_run.cols, _label(default_run, "sku_return_spike")
        now, _ = _windows(default_run, label)
        sku = c.sku == label["targets"]["sku"]
        assert c.return_rate(now & sku) > 2.5 * c.return_rate(_history(default_run) & sku)

    def test_carrier_damage_complaints(self, default_run: Run) -> None:
        """The region+carrier complaint rate more than doubles."""
        c, label = default_run.cols, _label(default_run, "carrier_damage")
        now, before = _windows(default_run, label)
        pair = (c.region == label["targets"]["region"]) & (c.carrier == label["targets"]["carrier"])
        assert _complaint_rate(c, now & pair) > 2 * _complaint_rate(c, before & pair)

    def test_carrier_damage_returns(self, default_run: Run) -> None:
        """The region+carrier return rate rises by over a quarter on the history week's."""
        c, label = default_run.cols, _label(default_run, "carrier_damage")
        now, _ = _windows(default_run, label)
        pair = (c.region == label["targets"]["region"]) & (c.carrier == label["targets"]["carrier"])
        assert c.return_rate(now & pair) > 1.25 * c.return_rate(_history(default_run) & pair)

    def test_wait_time_surge_p90(self, default_run: Run) -> None:
        """The queue's p90 wait more than doubles."""
        c, label = default_run.cols, _label(default_run, "wait_time_surge")
        now, before = _windows(default_run, label)
        queue = (c.topic == "wait-times") & (c.queue == label["targets"]["queue"])
        assert np.percentile(c.wait[now & queue], 90) > 2 * np.percentile(
            c.wait[before & queue], 90
        )

    def test_wait_time_surge_sla_share(self, default_run: Run) -> None:
        """The queue's share of waits over 900 s at least triples."""
        c, label = default_run.cols, _label(default_run, "wait_time_surge")
        now, before = _windows(default_run, label)
        queue = (c.topic == "wait-times") & (c.queue == label["targets"]["queue"])
        assert (c.wait[now & queue] > 900).mean() > 3 * (c.wait[before & queue] > 900).mean()

    def test_order_drop(self, default_run: Run) -> None:
        """Placed orders in the channel fall below a quarter of the week before."""
        c, label = default_run.cols, _label(default_run, "order_drop")
        now, before = _windows(default_run, label)
        channel = c.order_status("placed") & (c.channel == label["targets"]["channel"])
        assert (now & channel).sum() < 0.25 * (before & channel).sum()

    def test_customer_burst(self, default_run: Run) -> None:
        """The customer and the address each place 15 orders inside the 10-minute window."""
        c, label = default_run.cols, _label(default_run, "customer_burst")
        now, _ = _windows(default_run, label)
        placed = c.order_status("placed") & now
        assert (placed & (c.customer_id == label["targets"]["customer_id"])).sum() == 15
        assert (placed & (c.address_id == label["targets"]["address_id"])).sum() >= 15

    def test_wrong_price(self, default_run: Run) -> None:
        """Every labelled order is priced at about a tenth of the SKU's usual unit price."""
        c, label = default_run.cols, _label(default_run, "wrong_price")
        placed = c.order_status("placed")
        sku = placed & (c.sku == label["targets"]["sku"])
        ids = set(label["order_ids"])
        affected = sku & np.array([k in ids for k in c.key], dtype=bool)
        usual = np.median(c.amount[sku & ~affected])
        assert len(label["order_ids"]) >= 5
        assert np.all(c.amount[affected] < 0.2 * usual * 8)  # quantity <= 8
        assert np.median(c.amount[affected]) < 0.2 * usual

    def test_complaint_spike(self, default_run: Run) -> None:
        """Complaints with the reason are over 2.5x the same hours' mean of the week before."""
        c, label = default_run.cols, _label(default_run, "complaint_spike")
        now, _ = _windows(default_run, label)
        reason = (c.topic == "complaints") & (c.reason == label["targets"]["reason"])
        assert (now & reason).sum() > 2.5 * max(_daily_mean(default_run, label, reason), 1.0)


class TestLabels:
    def test_one_label_per_incident(self, default_run: Run) -> None:
        """The labels list every incident type of the default scenario once."""
        kinds = sorted(i["type"] for i in default_run.labels["incidents"])
        assert kinds == sorted(INCIDENT_TYPES)

    @pytest.mark.parametrize(
        "field",
        [
            "id",
            "type",
            "start",
            "end",
            "cause_start",
            "cause_end",
            "magnitude",
            "targets",
            "expected",
            "related",
        ],
    )
    def test_entry_fields(self, default_run: Run, field: str) -> None:
        """Every incident entry has the documented fields."""
        assert all(field in i for i in default_run.labels["incidents"])

    def test_windows_are_rfc3339_and_ordered(self, default_run: Run) -> None:
        """Label and cause windows parse and start before they end."""
        for i in default_run.labels["incidents"]:
            assert parse_ts(i["start"]) < parse_ts(i["end"])
            assert parse_ts(i["cause_start"]) < parse_ts(i["cause_end"])

    def test_expected_uses_contract_rules(self, default_run: Run) -> None:
        """Every expected target names a contract rule, a dimension, a key and a direction."""
        for i in default_run.labels["incidents"]:
            assert i["expected"]
            for target in i["expected"]:
                assert target["rule"] in CONTRACT_RULES
                assert target["direction"] in ("up", "down")
                assert len(target["key"].split(",")) == len(target["dimension"].split(","))

    def test_total_targets_carry_the_pipelines_total_key(self, default_run: Run) -> None:
        """A target on the total names the key the pipeline gives every total ("all"):
        spelled "total", an alert on the total during a channel outage or a complaint
        spike never matched its related target and was scored a false episode."""
        totals = [
            target
            for i in default_run.labels["incidents"]
            for target in (*i["expected"], *i["related"])
            if target["dimension"] == "total"
        ]
        assert totals
        assert {t["key"] for t in totals} == {TOTAL_KEY}

    def test_carrier_damage_key_is_comma_joined(self, default_run: Run) -> None:
        """A region,carrier target's key joins region and carrier in that order."""
        label = _label(default_run, "carrier_damage")
        keys = {t["key"] for t in label["expected"] if t["dimension"] == "region,carrier"}
        assert keys == {f"{label['targets']['region']},{label['targets']['carrier']}"}

    def test_wrong_price_expects_each_order(self, default_run: Run) -> None:
        """Wrong-price labels expect the sku's order_outlier episode and an order_outlier
        per affected order."""
        label = _label(default_run, "wrong_price")
        orders = [t for t in label["expected"] if t["dimension"] == "order"]
        assert [t["key"] for t in orders] == label["order_ids"]
        assert [t["key"] for t in label["expected"] if t["dimension"] == "sku"] == [
            label["targets"]["sku"]
        ]

    def test_order_drop_is_down(self, default_run: Run) -> None:
        """An order drop expects order_volume going down."""
        (target,) = _label(default_run, "order_drop")["expected"]
        assert (target["rule"], target["dimension"], target["direction"]) == (
            "order_volume",
            "channel",
            "down",
        )
