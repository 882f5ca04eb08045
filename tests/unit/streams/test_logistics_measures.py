"""What order events contribute to the logistics and refund rules, through replay, and
how contradicting or malformed ones are dead-lettered."""

from __future__ import annotations

import json
from typing import Any

from streams.pipeline import ReplayPipeline
from streams.simulator.timefmt import format_ts
from tests.unit.streams.test_signal_measures import HOUR, T0, rules, run

MIN = 60_000


def order(name: str, status: str, at: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return "orders", {"event_id": f"{name}:{status}", "ts": at, "order_id": name,
                      "status": status, "carrier": "ACME", "region": "north",
                      "category": "toys", "channel": "web", **extra}


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
        records = [order(f"r{i}", "return_requested", T0 - 48 * HOUR + i * MIN)
                   for i in range(25)]
        records += [order(f"r{i}", "refunded", T0 + i * MIN) for i in range(25)]
        latest = run(rules("refund_delay_p90", ["category"]), records)
        toys = latest["refund_delay_p90:category:toys"]
        assert toys.sample_size == 25 and abs(toys.observed - 48.0) < 1.0


class TestBadInput:
    def replay(self, values: list[dict[str, Any]]) -> ReplayPipeline:
        pipeline = ReplayPipeline(rules("delivery_time_p90", ["carrier"]), partitions=1)
        list(pipeline.run(("orders", str(v["order_id"]).encode(), json.dumps(v).encode())
                          for v in values))
        return pipeline

    def test_delivered_before_shipped_is_dead_lettered(self) -> None:
        """A delivery stamped before its shipment is dead-lettered with the reason; the
        replay goes on and the next order is measured."""
        values = [order("a", "shipped", T0)[1], order("a", "delivered", T0 - HOUR)[1],
                  order("b", "shipped", T0)[1], order("b", "delivered", T0 + HOUR)[1]]
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
