"""What order events contribute to the logistics and refund rules, through replay, and
how contradicting or malformed ones are dead-lettered."""

from __future__ import annotations

import json
from typing import Any

from streams.dev.simulator.timefmt import format_ts
from streams.pipeline.replay import ReplayPipeline
from tests.unit.streams.test_signal_measures import HOUR, T0, rules, run

MIN = 60_000


def order(name: str, status: str, at: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return "orders", {
        "event_id": f"{name}:{status}",
        "ts": at,
        "order_id": name,
        "status": status,
        "carrier": "ACME",
        "region": "north",
        "category": "toys",
        "channel": "web",
        **extra,
    }


def shipped_then_delivered(n: int, hours: float, **extra: Any) -> list[tuple[str, dict[str, Any]]]:
    """``n`` orders shipped before the first window, delivered inside it ``hours`` later."""
    out = []
    for i in range(n):
        delivered = T0 + i * MIN
        out.append(order(f"o{i}", "shipped", delivered - int(hours * HOUR), **extra))
    out.sort(key=lambda r: r[1]["ts"])
    deliveries = [order(f"o{i}", "delivered", T0 + i * MIN, **extra) for i in range(n)]
    return out + deliveries


class TestDeliveryTime:
    def test_p90_of_transit_hours_per_cell(self) -> None:
        """Deliveries feed the p90 of hours since their shipment, per region and carrier."""
        records = shipped_then_delivered(30, 20.0)
        latest = run(rules("delivery_time_p90", ["carrier", "region,carrier"]), records)
        cell = latest["delivery_time_p90:region,carrier:north,ACME"]
        assert cell.sample_size == 30
        assert abs(cell.observed - 20.0) < 0.5
        assert latest["delivery_time_p90:carrier:ACME"].sample_size == 30


class TestLateDeliveryShare:
    def test_share_after_promised_at(self) -> None:
        """Deliveries after promised_at over all deliveries with a known lateness."""
        records = shipped_then_delivered(20, 10.0)
        for i, (_, value) in enumerate(records):
            if value["status"] == "delivered":
                n = int(value["order_id"][1:])
                value["promised_at"] = format_ts(value["ts"] + (-1 if n < 5 else 1) * HOUR)
            else:
                value.pop("promised_at", None)
            records[i] = ("orders", value)
        latest = run(rules("late_delivery_share", ["carrier"]), records)
        late = latest["late_delivery_share:carrier:ACME"]
        assert (late.observed, late.sample_size) == (0.25, 20)


class TestRefundDelay:
    def test_p90_of_hours_since_the_request(self) -> None:
        """Refunds feed the p90 of hours since the return request, by category."""
        records = [order(f"r{i}", "return_requested", T0 - 48 * HOUR + i * MIN) for i in range(25)]
        records += [order(f"r{i}", "refunded", T0 + i * MIN) for i in range(25)]
        latest = run(rules("refund_delay_p90", ["category"]), records)
        toys = latest["refund_delay_p90:category:toys"]
        assert toys.sample_size == 25 and abs(toys.observed - 48.0) < 1.0


class TestBadInput:
    def replay(self, values: list[dict[str, Any]]) -> ReplayPipeline:
        pipeline = ReplayPipeline(rules("delivery_time_p90", ["carrier"]), partitions=1)
        list(
            pipeline.run(
                ("orders", str(v["order_id"]).encode(), json.dumps(v).encode()) for v in values
            )
        )
        return pipeline

    def test_delivered_before_shipped_is_dead_lettered(self) -> None:
        """A delivery stamped before its shipment is dead-lettered with the reason; the
        replay goes on and the next order is measured."""
        values = [
            order("a", "shipped", T0)[1],
            order("a", "delivered", T0 - HOUR)[1],
            order("b", "shipped", T0)[1],
            order("b", "delivered", T0 + HOUR)[1],
        ]
        pipeline = self.replay(values)
        [dead] = pipeline.dead_letters
        assert dead.reason == "inconsistent_lifecycle"
        assert b'"a:delivered"' in (dead.value or b"")
        assert pipeline.stage1.intake.counts[("orders", "ok")] == 3

    def test_malformed_promised_at_is_dead_lettered(self) -> None:
        """A promised_at that is not RFC 3339 is dead-lettered naming the field."""
        pipeline = self.replay([order("a", "placed", T0, promised_at="next tuesday")[1]])
        [dead] = pipeline.dead_letters
        assert dead.reason == "bad_timestamp" and "promised_at" in dead.detail


class TestLostParcel:
    RULES = {
        "settings": {"lateness": "1m"},
        "rules": {
            "lost_parcel": {
                "dimensions": ["order", "carrier"],
                "lost_after": 2.0,
                "lost_warmup": "0h",
                "sku_window": "1h",
                "rollup_min": 3,
            }
        },
    }

    def alerts(self, lost: int) -> list[Any]:
        """Replay 30 parcels delivered in 10 h, then ``lost`` that never arrive and one
        that is only late, then traffic a day and more later (past a lone parcel's
        deadline, 1.5 x 2 x p90)."""
        from streams.rules.catalogue import parse_rules

        records = []
        for i in range(30):
            records.append(order(f"t{i}", "shipped", T0 + i * MIN))
            records.append(order(f"t{i}", "delivered", T0 + i * MIN + 10 * HOUR))
        for i in range(lost):
            records.append(order(f"gone{i}", "shipped", T0 + 11 * HOUR + i * MIN))
        records.append(order("slow", "shipped", T0 + 11 * HOUR))
        records.append(order("slow", "delivered", T0 + 11 * HOUR + 19 * HOUR))
        for hours in range(31, 47, 3):  # traffic moves the watermark on (no jump)
            records.append(order(f"later{hours}", "placed", T0 + hours * HOUR))
        records.sort(key=lambda r: r[1]["ts"])
        pipeline = ReplayPipeline(parse_rules(self.RULES), partitions=1)
        return list(
            pipeline.run(
                ("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in records
            )
        )

    def test_each_lost_parcel_once_and_one_carrier_episode(self) -> None:
        """Every undelivered parcel is flagged once, at 2 x the cell's p90 when the
        others corroborate it (the first ones wait minutes for that); the late but
        delivered one is not; the carrier gets one episode listing the orders."""
        alerts = self.alerts(4)
        per_order = [a for a in alerts if a.dimension == "order"]
        assert sorted(a.key for a in per_order) == [f"gone{i}" for i in range(4)]
        assert all(
            2 * a.baseline <= a.observed < 2.01 * a.baseline and a.anomaly_class == "logistics"
            for a in per_order
        )
        [episode] = [a for a in alerts if a.dimension == "carrier" and a.status == "firing"]
        assert episode.key == "ACME"
        assert episode.context["orders"] == [f"gone{i}" for i in range(4)]
        assert "ACME" in episode.summary and "gone0" in episode.runbook

    def test_fewer_than_rollup_min_open_no_carrier_episode(self) -> None:
        """Two lost parcels (lone: each reported at 1.5 x its deadline) are per-order
        alerts only: no carrier episode."""
        alerts = self.alerts(2)
        assert [a.dimension for a in alerts] == ["order", "order"]

    def test_a_parcel_is_a_trace_request_and_the_carrier_wave_pages(self) -> None:
        """Each lost parcel is an ``info`` alert (a trace request); the carrier's roll-up
        is a ``warning`` episode."""
        alerts = self.alerts(4)
        assert {a.severity for a in alerts if a.dimension == "order"} == {"info"}
        assert {a.severity for a in alerts if a.dimension == "carrier"} == {"warning"}

    def test_a_delivery_reported_too_late_for_windows_is_no_lost_parcel(self) -> None:
        """A ``delivered`` event older than the lateness is dead-lettered as late for the
        window rules, but its order's lifecycle still takes it: the parcel is not
        reported lost at its deadline."""
        from streams.rules.catalogue import parse_rules

        records = []
        for i in range(30):
            records.append(order(f"t{i}", "shipped", T0 + i * MIN))
            records.append(order(f"t{i}", "delivered", T0 + i * MIN + 10 * HOUR))
        records.append(order("tardy", "shipped", T0 + 11 * HOUR))
        records.sort(key=lambda r: r[1]["ts"])
        # Traffic up to an hour past the delivery first: the delivery then arrives 1 h late.
        records += [order(f"busy{m}", "placed", T0 + 11 * HOUR + m * 30 * MIN) for m in range(23)]
        records.append(order("tardy", "delivered", T0 + 21 * HOUR))
        for hours in range(31, 41, 3):
            records.append(order(f"later{hours}", "placed", T0 + hours * HOUR))
        pipeline = ReplayPipeline(parse_rules(self.RULES), partitions=1)
        alerts = list(
            pipeline.run(
                ("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in records
            )
        )
        assert [d.reason for d in pipeline.dead_letters] == ["late"]
        assert [a.key for a in alerts if a.dimension == "order"] == []


def test_intake_snapshot_keeps_order_state() -> None:
    """The order state is in the intake snapshot: a restored aggregator has the orders,
    the cell histories and the lost-parcel clock, and measures a re-read delivery."""
    from streams.contract.events import OrderEvent
    from streams.pipeline.aggregate import SourceAggregator

    rule_set = rules("delivery_time_p90", ["carrier"])
    agg = SourceAggregator("orders/0", "orders", rule_set)
    for i in range(25):
        agg.add(OrderEvent(f"s{i}", T0 + i * MIN, f"o{i}", "shipped", carrier="ACME"), i)
    data = agg.snapshot(25)
    fresh = SourceAggregator("orders/0", "orders", rule_set)
    fresh.restore(data)
    assert fresh.orders is not None and agg.orders is not None
    assert fresh.orders.orders == agg.orders.orders
    assert fresh.orders.first_ms == T0
    delivered = OrderEvent("d0", T0 + 5 * HOUR, "o0", "delivered", carrier="ACME")
    assert fresh.orders.observe(delivered) == agg.orders.observe(delivered)
