"""What the events of issue 12 contribute to the new rules, window by window."""

from __future__ import annotations

import json
from typing import Any

from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import parse_rules

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000


def rules(name: str, dimensions: list[str]) -> Any:
    """A rule set holding just ``name`` over one-hour windows."""
    return parse_rules(
        {
            "settings": {"lateness": "1m"},
            "rules": {
                name: {
                    "window": "1h",
                    "dimensions": dimensions,
                    "runbook": "Look at {key}.",
                    "detector": {"grace_period": 50},
                }
            },
        }
    )


def run(rule_set: Any, records: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Replay ``records`` (plus a later event that closes the first window); return the
    closer's decision on the first window per series id."""
    replay = ReplayPipeline(rule_set, partitions=1)
    first: dict[str, Any] = {}
    replay.closer.on_closed = lambda c: (
        first.setdefault(f"{c.rule}:{c.dimension}:{c.key}", c.decision)
        if (c.window_start_ms == T0)
        else None
    )
    keys = {"orders": "order_id", "wait-times": "ticket_id", "reviews": "review_id"}
    closer_events = [(t, v) for t, v in records]
    for topic in {t for t, _ in records}:  # move every source past the window
        closer_events.append(
            (
                topic,
                {
                    "event_id": f"end-{topic}",
                    "ts": T0 + 3 * HOUR,
                    keys[topic]: f"end-{topic}",
                    **_filler(topic),
                },
            )
        )
    list(
        replay.run((t, str(v[keys[t]]).encode(), json.dumps(v).encode()) for t, v in closer_events)
    )
    return first


def _filler(topic: str) -> dict[str, Any]:
    return {
        "orders": {"status": "paid"},
        "wait-times": {"wait_seconds": 1},
        "reviews": {"rating": 5},
    }[topic]


def order(i: int, status: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    at = T0 + (i if status == "placed" else 600 + i) * 1000  # in order, within lateness
    return "orders", {
        "event_id": f"o{i}:{status}",
        "ts": at,
        "order_id": f"o{i}",
        "status": status,
        "channel": "web",
        **extra,
    }


class TestCancellationRate:
    def test_reason_series_divide_by_every_placed_order(self) -> None:
        """By reason: cancellations with the reason / all placed orders (none has a reason)."""
        records = [order(i, "placed") for i in range(100)]
        records += [order(i, "cancelled", reason="fraud_suspected") for i in range(3)]
        records += [order(i, "cancelled", reason="customer_request") for i in range(3, 5)]
        latest = run(rules("cancellation_rate", ["reason", "channel"]), records)
        fraud = latest["cancellation_rate:reason:fraud_suspected"]
        assert (fraud.observed, fraud.sample_size) == (0.03, 100)
        assert latest["cancellation_rate:reason:customer_request"].observed == 0.02
        assert latest["cancellation_rate:channel:web"].observed == 0.05
        assert not any("__denominator__" in sid for sid in latest)


class TestTicketRules:
    def test_low_satisfaction_counts_rated_tickets_only(self) -> None:
        """Tickets without csat are left out; csat <= 2 is low."""
        records = [
            (
                "wait-times",
                {
                    "event_id": f"t{i}",
                    "ts": T0 + i * 1000,
                    "ticket_id": f"t{i}",
                    "wait_seconds": 10,
                    "queue": "returns",
                    **({"csat": [1, 2, 3, 5][i % 4]} if i < 40 else {}),
                },
            )
            for i in range(60)
        ]
        latest = run(rules("low_satisfaction_share", ["queue"]), records)
        decision = latest["low_satisfaction_share:queue:returns"]
        assert (decision.observed, decision.sample_size) == (0.5, 40)

    def test_handle_time_p90_reads_handle_seconds(self) -> None:
        """The p90 is of handle_seconds (tickets without one are left out)."""
        records = [
            (
                "wait-times",
                {
                    "event_id": f"t{i}",
                    "ts": T0 + i * 1000,
                    "ticket_id": f"t{i}",
                    "wait_seconds": 5,
                    "queue": "returns",
                    **({"handle_seconds": 100.0 * (i + 1)} if i < 50 else {}),
                },
            )
            for i in range(80)
        ]
        decision = run(rules("handle_time_p90", ["queue"]), records)[
            "handle_time_p90:queue:returns"
        ]
        assert decision.sample_size == 50
        assert 4_300 <= decision.observed <= 4_700


class TestBadReviewRate:
    def test_share_of_ratings_up_to_two(self) -> None:
        """Reviews rated 1 or 2 over all reviews, per sku."""
        records = [
            (
                "reviews",
                {
                    "event_id": f"r{i}",
                    "ts": T0 + i * 1000,
                    "review_id": f"r{i}",
                    "rating": [1, 2, 4, 5, 5][i % 5],
                    "sku": "SKU-1",
                },
            )
            for i in range(50)
        ]
        decision = run(rules("bad_review_rate", ["sku"]), records)["bad_review_rate:sku:SKU-1"]
        assert (decision.observed, decision.sample_size) == (0.4, 50)


class TestExchangesApartFromReturns:
    def test_return_rate_context_counts_each_kind(self) -> None:
        """With context ["status"], a window's partial counts exchanges and returns apart."""
        from streams.contract.validation import decode_event
        from streams.pipeline.aggregate import SourceAggregator

        rule_set = parse_rules(
            {
                "settings": {"lateness": "1m"},
                "rules": {
                    "return_rate": {
                        "window": "1h",
                        "dimensions": ["sku"],
                        "context": ["status"],
                        "runbook": "Look at {key}.",
                    }
                },
            }
        )
        agg = SourceAggregator("orders/0", "orders", rule_set)
        statuses = ["delivered"] * 20 + ["return_requested"] * 3 + ["exchange_requested"] * 2
        for i, status in enumerate([*statuses, "paid"]):
            ts = T0 + i * 1000 if status != "paid" else T0 + 3 * HOUR
            value = {
                "event_id": f"e{i}",
                "ts": ts,
                "order_id": f"o{i}",
                "status": status,
                "sku": "SKU-1",
            }
            agg.add(decode_event("orders", json.dumps(value).encode()), i)
        (sealed,) = [p for p in agg.seal() if p.window_start_ms == T0]
        assert dict(sealed.partial.context["status"]) == {
            "return_requested": 3,
            "exchange_requested": 2,
        }
