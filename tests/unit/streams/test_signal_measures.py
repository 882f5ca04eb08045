"""What the events of issue 12 contribute to the new rules, window by window."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.contract.events import TOPICS
from streams.pipeline.replay import ReplayPipeline, partition_for
from streams.pipeline.wire import closer_partition
from streams.rules.catalogue import RuleSet, parse_rules
from streams.runtime.backfill import BackfillPipeline, Layout

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000


def rules(name: str, dimensions: list[str], **extra: Any) -> Any:
    """A rule set holding just ``name`` over one-hour windows (``extra``: more of its
    table, e.g. another ``detector``)."""
    table = {
        "window": "1h",
        "dimensions": dimensions,
        "runbook": "Look at {key}.",
        "detector": {"grace_period": 50},
    }
    return parse_rules({"settings": {"lateness": "1m"}, "rules": {name: table | extra}})


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
    keys = {
        "orders": "order_id",
        "wait-times": "ticket_id",
        "reviews": "review_id",
        "complaints": "complaint_id",
    }
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


def run_split(
    rule_set: RuleSet, records: list[tuple[str, dict[str, Any]]], partitions: int
) -> dict[str, Any]:
    """As :func:`run`, with ``partitions`` input partitions and one closer per partials
    partition, each fed what Kafka routes to it (the backfill's routing)."""
    layout = Layout(dict.fromkeys(TOPICS, partitions), list(range(partitions)))
    pipeline = BackfillPipeline(rule_set, layout, max_future_ms=None, risk=False)
    first: dict[str, Any] = {}
    for closer in pipeline.closers:
        closer.on_closed = lambda c: (
            first.setdefault(f"{c.rule}:{c.dimension}:{c.key}", c.decision)
            if c.window_start_ms == T0
            else None
        )
    # One later event per input partition moves every source past the window.
    ends = {partition_for(f"end-{i}".encode(), partitions): f"end-{i}" for i in range(64)}
    end = [
        ("orders", {"event_id": oid, "ts": T0 + 3 * HOUR, "order_id": oid, "status": "paid"})
        for oid in ends.values()
    ]
    if any(topic == "complaints" for topic, _ in records):  # keyed by order_id here too
        end += [
            (
                "complaints",
                {"event_id": f"c-{oid}", "ts": T0 + 3 * HOUR, "complaint_id": oid, "order_id": oid},
            )
            for oid in ends.values()
        ]
    assert len(end) % partitions == 0
    pipeline.run((t, str(v["order_id"]).encode(), json.dumps(v).encode()) for t, v in records + end)
    return first


def _filler(topic: str) -> dict[str, Any]:
    return {
        "orders": {"status": "paid"},
        "wait-times": {"wait_seconds": 1},
        "reviews": {"rating": 5},
        "complaints": {},
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

    def test_a_channels_reasons_divide_by_the_channels_placed_orders(self) -> None:
        """By ``channel,reason``: a reason's cancellations on a channel / that channel's
        placed orders (before, the placed orders fed no such series: 0 of 0)."""
        records = [order(i, "placed") for i in range(100)]
        records += [order(i, "placed", channel="app") for i in range(100, 125)]
        records += [order(i, "cancelled", reason="fraud_suspected") for i in range(3)]
        records += [order(100, "cancelled", reason="fraud_suspected", channel="app")]
        first = run(rules("cancellation_rate", ["channel,reason"]), records)
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == {
            "cancellation_rate:channel,reason:web,fraud_suspected": (0.03, 100),
            "cancellation_rate:channel,reason:app,fraud_suspected": (0.04, 25),
        }

    def test_reason_series_divide_by_every_placed_order_on_any_closer(self) -> None:
        """With the partials split over four closers, as Kafka splits them, every reason's
        series still divides by every placed order: a shared denominator routes with its
        dimension's series, not to whichever closer its own id hashes to."""
        reasons = [
            "payment_failed",
            "customer_request",
            "out_of_stock",
            "fraud_suspected",
            "address_invalid",
        ]
        records = [order(i, "placed") for i in range(100)]
        records += [order(i, "cancelled", reason=r) for i, r in enumerate(reasons)]
        ruleset = rules("cancellation_rate", ["reason"])
        homes = {closer_partition(f"cancellation_rate:reason:{r}", 4) for r in reasons}
        assert len(homes) == 1, "the dimension's series share one closer"
        first = run_split(ruleset, records, partitions=4)
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == {
            f"cancellation_rate:reason:{r}": (0.01, 100) for r in reasons
        }


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


class TestComplaintReasonsOfACategory:
    """``complaint_rate`` by ``category,reason``: a category's complaints with one reason
    against all of the category's deliveries (a delivery has no complaint reason), so a
    supplier's quality complaints spread over many small SKUs add up in their category."""

    #: Deliveries and complaints by reason per category.
    DELIVERED = {"apparel": 80, "shoes": 40}
    COMPLAINTS = {"apparel": {"quality": 6, "late": 2}, "shoes": {"quality": 1}}

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        records = []
        for c, (category, n) in enumerate(self.DELIVERED.items()):
            ids = [c * 100 + i for i in range(n)]
            records += [order(i, "delivered", category=category) for i in ids]
            reasons = [r for r, k in self.COMPLAINTS[category].items() for _ in range(k)]
            records += [
                (
                    "complaints",
                    {
                        "event_id": f"c{i}",
                        "ts": T0 + (1_000 + i) * 1000,
                        "complaint_id": f"c{i}",
                        "order_id": f"o{i}",
                        "category": category,
                        "reason": reason,
                    },
                )
                for i, reason in zip(ids, reasons, strict=False)
            ]
        return sorted(records, key=lambda item: int(item[1]["ts"]))

    def expected(self) -> dict[str, tuple[float, int]]:
        out = {
            f"complaint_rate:category,reason:{category},{reason}": (k / n, n)
            for category, n in self.DELIVERED.items()
            for reason, k in self.COMPLAINTS[category].items()
        }
        out |= {
            f"complaint_rate:category:{category}": (sum(self.COMPLAINTS[category].values()) / n, n)
            for category, n in self.DELIVERED.items()
        }
        return out

    def test_a_reason_divides_by_its_categorys_deliveries(self) -> None:
        ruleset = rules("complaint_rate", ["category", "category,reason"])
        first = run(ruleset, self.records())
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == self.expected()

    def test_on_four_closers_too(self) -> None:
        ruleset = rules("complaint_rate", ["category", "category,reason"])
        first = run_split(ruleset, self.records(), partitions=4)
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == self.expected()


class TestReturnReasonsOfACell:
    """``return_rate`` by ``region,carrier,reason``: a reason's returns on a cell against
    all of the cell's deliveries (a delivery has no reason), on one closer or four."""

    CELLS = {"north,SF": ("north", "SF"), "south,ZTO": ("south", "ZTO")}
    #: Returns per cell and reason, of 50 deliveries per cell.
    RETURNS = {"south,ZTO": {"damaged": 5, "wrong_size": 2}, "north,SF": {"wrong_size": 1}}

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        records = []
        for c, (cell, (region, carrier)) in enumerate(self.CELLS.items()):
            where = {"region": region, "carrier": carrier}
            ids = [c * 100 + i for i in range(50)]
            records += [order(i, "delivered", **where) for i in ids]
            reasons = [r for r, n in self.RETURNS[cell].items() for _ in range(n)]
            records += [
                order(i, "return_requested", reason=r, **where)
                for i, r in zip(ids, reasons, strict=False)
            ]
        return sorted(records, key=lambda item: int(item[1]["ts"]))

    def expected(self) -> dict[str, tuple[float, int]]:
        out = {
            f"return_rate:region,carrier,reason:{cell},{reason}": (n / 50, 50)
            for cell, by_reason in self.RETURNS.items()
            for reason, n in by_reason.items()
        }
        out["return_rate:region,carrier:south,ZTO"] = (7 / 50, 50)
        out["return_rate:region,carrier:north,SF"] = (1 / 50, 50)
        return out

    def ruleset(self, **extra: Any) -> RuleSet:
        return rules("return_rate", ["region,carrier", "region,carrier,reason"], **extra)

    def test_a_cell_reason_beyond_the_cap_folds_into_the_overflow(self) -> None:
        """With ``max_series`` 2 the cell's third and fourth reasons fold into the
        dimension's overflow series, which has no cell: it divides by the denominators of
        the keys folded into it, and the closer goes on (it raised on the next window)."""
        ruleset = rules("return_rate", ["region,carrier,reason"], max_series=2)
        records = []
        for hour in range(3):
            for i in range(20):
                oid = hour * 100 + i
                where = {"region": "north", "carrier": "SF"}
                records.append(order(oid, "delivered", ts=T0 + hour * HOUR + i * 1000, **where))
                if i < 4:
                    ask = order(oid, "return_requested", reason="abcd"[i], **where)
                    ask[1]["ts"] = T0 + hour * HOUR + i * 1000 + 500
                    records.append(ask)
        records += [order(9000 + i, "paid", ts=T0 + 5 * HOUR) for i in range(10)]
        replay = ReplayPipeline(ruleset, partitions=1)
        seen: list[tuple[int, str, float, int | None]] = []
        replay.closer.on_closed = lambda c: seen.append(
            (c.window_start_ms - T0, c.key, c.decision.observed, c.decision.sample_size)
        )
        list(
            replay.run(
                (t, str(v["order_id"]).encode(), json.dumps(v).encode())
                for t, v in sorted(records, key=lambda r: int(r[1]["ts"]))
            )
        )
        second = {key: (observed, n) for start, key, observed, n in seen if start == HOUR}
        assert second == {
            "north,SF,a": (0.05, 20),
            "north,SF,b": (0.05, 20),
            "__other__.0": (0.05, 40),
        }

    def test_a_reason_divides_by_its_cells_deliveries(self) -> None:
        first = run(self.ruleset(), self.records())
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == self.expected()

    def test_on_four_closers_too(self) -> None:
        ruleset = self.ruleset()
        homes = {
            closer_partition(f"return_rate:region,carrier,reason:{cell},{reason}", 4)
            for cell in self.CELLS
            for reason in ("damaged", "wrong_size", "__denominator__")
        }
        assert len(homes) == 1, "the dimension's series and shared keys share one closer"
        first = run_split(ruleset, self.records(), partitions=4)
        assert {sid: (d.observed, d.sample_size) for sid, d in first.items()} == self.expected()

    def test_lag_aware_reasons_divide_by_the_cells_exposure(self) -> None:
        """With ``cohort`` the denominator is the cell's exposure: a reason's series reads
        the same exposure as its cell's own series, and its early returns over it."""
        ruleset = self.ruleset(cohort="3h", settle="0s")
        # A lag-aware window seals once the watermark passes it, which takes a few
        # later events (one outlying time does not move it).
        records = self.records() + [order(1000 + i, "paid", ts=T0 + 5 * HOUR) for i in range(10)]
        for first in (run(ruleset, records), run_split(ruleset, records, partitions=4)):
            for cell, by_reason in self.RETURNS.items():
                whole = first[f"return_rate:region,carrier:{cell}"]
                assert whole.sample_size and whole.sample_size > 0
                for reason, n in by_reason.items():
                    part = first[f"return_rate:region,carrier,reason:{cell},{reason}"]
                    assert part.sample_size == whole.sample_size
                    assert part.observed == pytest.approx(
                        whole.observed * n / sum(by_reason.values())
                    )
            assert not any("__denominator__" in sid for sid in first)


class TestAReasonFirstSeenOnAKnownCell:
    """A carrier that starts damaging parcels brings its cell's first ``damaged`` returns:
    that series is new, but the cell's deliveries were watched all along, so it is judged
    from its first window (a rate of zero so far) instead of warming up past the
    incident. A reason on a cell never seen before warms up as any new series."""

    HOURS = 30
    DAMAGE_FROM = 20

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        records = []
        for hour in range(self.HOURS):
            cells = [("north", "SF")] + ([("east", "EMS")] if hour >= self.DAMAGE_FROM else [])
            for region, carrier in cells:
                for i in range(100):
                    oid = f"{region}-{hour}-{i}"
                    at = T0 + hour * HOUR + i * 30_000
                    where = {"order_id": oid, "region": region, "carrier": carrier}
                    records.append(
                        (
                            "orders",
                            {"event_id": f"{oid}:d", "ts": at, "status": "delivered"} | where,
                        )
                    )
                    reason = (
                        "wrong_size"
                        if i % 12 == 0
                        else "damaged"
                        if hour >= self.DAMAGE_FROM and i % 10 == 1
                        else None
                    )
                    if reason is not None:
                        ask = {
                            "event_id": f"{oid}:r",
                            "ts": at + 1000,
                            "status": "return_requested",
                        }
                        records.append(("orders", ask | where | {"reason": reason}))
        later = T0 + (self.HOURS + 2) * HOUR
        records += [order(10_000 + i, "paid", ts=later + i) for i in range(10)]
        return records

    def decisions(self) -> dict[str, list[Any]]:
        detector = {"grace_period": 8, "sensitivity": "medium"}
        ruleset = rules("return_rate", ["region,carrier,reason"], detector=detector)
        replay = ReplayPipeline(ruleset, partitions=1)
        out: dict[str, list[Any]] = {}
        replay.closer.on_closed = lambda c: out.setdefault(c.key, []).append(c.decision)
        list(
            replay.run(
                (t, str(v["order_id"]).encode(), json.dumps(v).encode())
                for t, v in sorted(self.records(), key=lambda r: int(r[1]["ts"]))
            )
        )
        return out

    def test_known_cell_judges_its_new_reason_at_once(self) -> None:
        out = self.decisions()
        damaged = out["north,SF,damaged"]
        assert damaged[0].ready, "born with the cell's history, not warming up"
        assert damaged[0].baseline < 0.01 < damaged[0].observed
        assert any(d.transition == "fire" for d in damaged[:3])

    def test_a_new_cell_warms_up(self) -> None:
        out = self.decisions()
        for reason in ("damaged", "wrong_size"):
            first = out[f"east,EMS,{reason}"][:7]
            assert len(first) == 7
            assert not any(d.ready for d in first), "a cell never seen has no history"


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
