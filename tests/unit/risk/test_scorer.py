"""The per-order risk scorer, its shard and its wire form."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from alerts.text import AlertTexts
from streams.contract.events import TOPICS
from streams.pipeline.closer import WindowCloser
from streams.pipeline.wire import RiskFacts, decode, pack_risk_facts
from streams.risk import RiskFact, RiskScorer, RiskShard, risk_partition
from streams.risk.customers import customer
from streams.risk.record import RISK_SCHEMA, Factor, RiskRecord, level_of, rfc3339_ms
from streams.rules.catalogue import load_rules

DAY = 86_400_000


def order(
    t: int,
    n: int,
    kind: str,
    customer: str = "C-1",
    sku: str = "S-1",
    region: str = "north",
    address: str = "A-1",
) -> RiskFact:
    return RiskFact(
        t,
        f"O-{n}:{kind}",
        kind,
        f"O-{n}",
        customer,
        sku,
        "apparel",
        region,
        "dhl",
        address,
        50.0,
        1,
    )


def lifecycle(scorer: RiskScorer, t: int, n: int, customer: str, returns: bool) -> dict:
    """Place, ship and deliver one order (return it if asked); the delivered record."""
    scorer.apply(order(t, n, "placed", customer))
    scorer.apply(order(t + DAY, n, "shipped", customer))
    rec = scorer.apply(order(t + 3 * DAY, n, "delivered", customer))
    if returns:
        scorer.apply(order(t + 5 * DAY, n, "return_requested", customer))
    assert rec is not None
    return rec.to_dict()


class TestRiskScorer:
    def test_record_follows_the_contract(self) -> None:
        """A scored stage carries every field of aftersales.order-risk/v1."""
        rec = RiskScorer().apply(order(0, 1, "placed")).to_dict()
        assert list(rec) == [
            "schema",
            "order_id",
            "ts",
            "stage",
            "score",
            "level",
            "factors",
            "customer_id",
            "sku",
            "category",
            "region",
            "carrier",
        ]
        assert rec["schema"] == RISK_SCHEMA and rec["ts"] == "1970-01-01T00:00:00.000Z"
        assert 0.0 <= rec["score"] <= 1.0 and rec["level"] == level_of(rec["score"])
        assert {f["name"] for f in rec["factors"]} >= {"customer_history", "sku_return_rate"}

    def test_learns_that_a_returning_customer_is_risky(self) -> None:
        """After many orders, a customer who returns everything scores above one who
        never returns, and customer history carries the difference."""
        scorer = RiskScorer()
        for i in range(400):
            lifecycle(scorer, i * DAY // 4, 2 * i, "C-bad", returns=True)
            lifecycle(scorer, i * DAY // 4, 2 * i + 1, "C-good", returns=False)
        bad = lifecycle(scorer, 101 * DAY, 10_000, "C-bad", returns=False)
        good = lifecycle(scorer, 101 * DAY, 10_001, "C-good", returns=False)
        assert bad["score"] > good["score"] + 0.2
        top = bad["factors"][0]
        assert top["name"] == "customer_history" and top["contribution"] > 0

    def test_prequential_the_score_ignores_its_own_outcome(self) -> None:
        """A delivered score is the same whether or not the order is returned later."""
        a, b = RiskScorer(), RiskScorer()
        ra = lifecycle(a, 0, 1, "C-1", returns=True)
        rb = lifecycle(b, 0, 1, "C-1", returns=False)
        assert ra == rb

    def test_idle_customers_are_evicted(self) -> None:
        """A customer silent for longer than customer_idle_ms is dropped."""
        scorer = RiskScorer(customer_idle_ms=10 * DAY)
        scorer.apply(order(0, 1, "placed", "C-old"))
        scorer.apply(order(5 * DAY, 2, "placed", "C-new"))
        assert set(scorer.customers) == {"C-old", "C-new"}
        scorer.apply(order(12 * DAY, 3, "placed", "C-new"))
        assert set(scorer.customers) == {"C-new"} and scorer.drain_evictions() == {"ttl": 1}

    def test_orders_are_learned_from_after_the_label_delay(self) -> None:
        """A delivered order is learned from and forgotten once its label delay passes."""
        scorer = RiskScorer(label_delay_ms=10 * DAY)
        lifecycle(scorer, 0, 1, "C-1", returns=False)
        assert "O-1" in scorer.orders
        scorer.apply(order(20 * DAY, 2, "placed", "C-2"))
        assert "O-1" not in scorer.orders
        assert scorer.models["delivered"].updates == 1

    def test_snapshot_round_trip_continues_identically(self) -> None:
        """A scorer restored from its JSON snapshot scores the rest exactly as the original."""
        original = RiskScorer()
        for i in range(50):
            lifecycle(original, i * DAY // 2, i, f"C-{i % 7}", returns=i % 3 == 0)
        restored = RiskScorer()
        restored.load(json.loads(json.dumps(original.to_dict())))
        for i in range(50, 80):
            assert lifecycle(
                original, i * DAY // 2, i, f"C-{i % 7}", returns=i % 4 == 0
            ) == lifecycle(restored, i * DAY // 2, i, f"C-{i % 7}", returns=i % 4 == 0)

    def test_undelivered_order_is_dropped_unlearned_after_open_ms(self) -> None:
        """An order never delivered is dropped by the daily sweep once ``open_ms`` has
        passed, and nothing is learned from it."""
        scorer = RiskScorer(open_ms=10 * DAY)
        scorer.apply(order(0, 1, "placed"))
        scorer.apply(order(9 * DAY, 2, "placed"))
        assert "O-1" in scorer.orders
        scorer.apply(order(11 * DAY, 3, "placed"))
        assert "O-1" not in scorer.orders and "O-2" in scorer.orders
        assert scorer.models["placed"].updates == 0
        assert scorer.drain_evictions() == {"ttl": 1}

    def test_idle_skus_are_evicted(self) -> None:
        """A SKU without an event for ``sku_idle_ms`` is dropped (it starts afresh if it
        comes back); one still selling stays."""
        scorer = RiskScorer(sku_idle_ms=10 * DAY)
        lifecycle(scorer, 0, 1, "C-1", returns=False)
        scorer.apply(order(8 * DAY, 2, "placed", sku="S-2"))
        assert set(scorer.skus) == {"S-1", "S-2"}
        scorer.apply(order(15 * DAY, 3, "placed", sku="S-2"))
        assert set(scorer.skus) == {"S-2"}

    def test_a_flood_of_new_keys_is_capped_and_evicts_its_own(self) -> None:
        """Past ``max_keys``, one-order customers go first, oldest first: a bot's
        thousand new customers leave a repeat customer's history alone; every store
        stays bounded and the evictions are counted."""
        scorer = RiskScorer(max_keys=64)
        lifecycle(scorer, 0, 1, "C-loyal", returns=True)
        lifecycle(scorer, DAY, 2, "C-loyal", returns=False)
        for i in range(1_000):
            t = 10 * DAY + i * 1000  # after the loyal customer: LRU alone would drop them
            scorer.apply(order(t, 10 + i, "placed", f"BOT-{i}", f"JS-{i}", address=f"JA-{i}"))
            scorer.apply(order(t, 10 + i, "delivered", f"BOT-{i}", f"JS-{i}", address=f"JA-{i}"))
        for store in (scorer.customers, scorer.addresses, scorer.skus, scorer.orders):
            assert len(store) <= 64
        assert "C-loyal" in scorer.customers and customer(scorer.customers["C-loyal"]).orders == 2
        assert "BOT-999" in scorer.customers and "BOT-0" not in scorer.customers
        assert "O-1009" in scorer.orders and "O-10" not in scorer.orders  # newest kept
        assert scorer.drain_evictions()["cap"] >= 4 * (1_000 - 64)

    def test_snapshot_of_the_older_order_form_still_loads(self) -> None:
        """Snapshots written before orders were packed (a list of seven fields per order)
        restore to the same scores."""
        original = RiskScorer()
        lifecycle(original, 0, 1, "C-1", returns=False)
        original.apply(order(4 * DAY, 2, "placed", "C-1"))
        data = json.loads(json.dumps(original.to_dict()))
        for key, (shipped, delivered, expires, labelled, tagged, _) in data["orders"].items():
            # Then: the vectors untagged, in stage order (these orders were placed first).
            chunks = [tagged[i + 2 : i + 106] for i in range(0, len(tagged), 106)]
            data["orders"][key] = ["C-1", "S-1", shipped, delivered, expires, labelled, chunks]
        data["evicted"] = 3
        restored = RiskScorer()
        restored.load(data)
        assert restored.orders == original.orders
        assert lifecycle(original, 5 * DAY, 3, "C-1", returns=False) == lifecycle(
            restored, 5 * DAY, 3, "C-1", returns=False
        )

    def test_each_stage_trains_its_own_model(self) -> None:
        """An order first seen at delivery (placed before the worker started, or its
        placement lost) trains the delivered model only; a stage scored twice is
        learned once. (Vectors used to be matched to stages by position: the first one
        seen trained the placed model whatever its stage.)"""
        scorer = RiskScorer(label_delay_ms=DAY)
        scorer.apply(order(0, 1, "delivered"))
        scorer.apply(RiskFact(DAY // 2, "again", "delivered", "O-1", "C-1", "S-1"))
        scorer.apply(order(2 * DAY, 2, "placed"))
        updates = {stage: model.updates for stage, model in scorer.models.items()}
        assert updates == {"placed": 0, "shipped": 0, "delivered": 1}

    def test_an_unknown_snapshot_form_of_an_order_is_refused(self) -> None:
        """A snapshot order of another shape is an error, not a silent misreading."""
        data = RiskScorer().to_dict()
        data["orders"] = {"O-1": [None, None, 5, False, "00"]}
        with pytest.raises(ValueError, match="risk order"):
            RiskScorer().load(data)

    def test_fact_without_order_is_skipped(self) -> None:
        """A complaint with no order id is counted as skipped, not scored or fatal."""
        scorer = RiskScorer()
        assert scorer.apply(RiskFact(0, "K-1:complaint", "complaint", None)) is None
        assert scorer.skipped == 1


class TestRiskShard:
    def test_order_does_not_depend_on_arrival(self) -> None:
        """Facts arriving in any interleaving are applied by (time, event id) once the
        watermarks pass them: the same records come out."""
        facts = [order(i * 1000, i, "placed", f"C-{i % 3}") for i in range(30)]

        def run(seq: list[RiskFact]) -> list[dict]:
            shard = RiskShard(("orders/0", "complaints/0"))
            for fact in seq:
                shard.on_fact(fact)
            shard.on_watermark("orders/0", 10**9)
            assert shard.drain() == []  # complaints/0 has not reported yet
            shard.on_watermark("complaints/0", 10**9)
            return [r.to_dict() for r in shard.drain()]

        assert run(facts) == run(list(reversed(facts)))

    def test_snapshot_keeps_held_facts(self) -> None:
        """Facts held behind the watermark survive a snapshot and are applied after it."""
        shard = RiskShard(("orders/0",))
        shard.on_fact(order(5, 1, "placed"))
        copy = RiskShard(("orders/0",))
        copy.load(json.loads(json.dumps(shard.to_dict())))
        assert copy.held == 1
        copy.on_watermark("orders/0", 10)
        assert [r.order_id for r in copy.drain()] == ["O-1"]


class TestWire:
    def test_facts_round_trip_to_their_customers_partition(self) -> None:
        """Packed facts decode to the same facts, each in its customer's partition."""
        facts = [order(i, i, "placed", f"C-{i}") for i in range(20)]
        seen = []
        for partition, raw in pack_risk_facts(facts, 4):
            decoded = decode(raw)
            assert isinstance(decoded, RiskFacts)
            assert all(risk_partition(f, 4) == partition for f in decoded)
            seen.extend(decoded)
        assert sorted(seen, key=lambda f: f.ts_ms) == facts

    @pytest.mark.parametrize("item", [[], [1, "e", "nope"] + [None] * 9, ["x"] * 12, "str"])
    def test_malformed_fact_is_refused(self, item: object) -> None:
        """A malformed fact raises ValueError (the closer logs and counts it)."""
        with pytest.raises(ValueError, match="risk fact"):
            RiskFact.from_list(item)  # type: ignore[arg-type]


class TestShardCopies:
    def test_resent_and_late_facts_are_not_applied_twice(self) -> None:
        """A copy of a held fact, and any fact at or before the released time (a re-read
        after a rebalance), are dropped and counted."""
        shard = RiskShard(("orders/0",))
        fact = order(5, 1, "placed")
        shard.on_fact(fact)
        shard.on_fact(fact)
        shard.on_watermark("orders/0", 10)
        shard.on_fact(fact)
        assert len(shard.drain()) == 1
        assert (shard.duplicates, shard.late) == (1, 1)


class TestRecordJson:
    @pytest.mark.parametrize(
        ("score", "value"),
        [
            (0.1234, 0.0001),
            (0.0, -0.0),
            (1.0, 2.5),
            (0.5, 1e16),  # json's spelling (1e+16), not msgspec's
            (0.5, float("nan")),
        ],
    )
    def test_bytes_are_json_dumps(self, score: float, value: float) -> None:
        """``to_json`` writes what ``json.dumps(..., ensure_ascii=False)`` writes, for
        plain numbers, ids in any script and the numbers msgspec spells otherwise."""
        record = RiskRecord(
            "O-1",
            1_700_000_000_123,
            "placed",
            score,
            (Factor("quantity", value, -value), Factor("new_customer", 1.0, 0.25)),
            "客户-1",
            'S"1\\',
            None,
            "north",
            "dhl",
        )
        expected = json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)
        assert record.to_json() == expected.encode()

    def test_timestamps_are_spelled_as_datetime_spells_them(self) -> None:
        """``ts`` is ``datetime.isoformat(timespec="milliseconds")`` with ``Z``, for
        times across centuries, before 1970, at day and leap-day edges."""
        rng = random.Random(7)
        edges = [0, -1, 1, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999]
        for ms in edges + [rng.randrange(-(10**12), 4 * 10**12) for _ in range(5_000)]:
            expected = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
            assert rfc3339_ms(ms) == expected.replace("+00:00", "Z")


class TestCloserSnapshot:
    @staticmethod
    def _closer() -> WindowCloser:
        return WindowCloser(load_rules(None), dict.fromkeys(TOPICS, 1), AlertTexts(), risk=True)

    def _busy(self) -> WindowCloser:
        """A closer whose risk shard learned from some orders and holds one fact back."""
        closer = self._closer()
        assert closer.risk is not None
        for n in range(40):
            t = n * DAY // 4
            for fact in (order(t, n, "placed", f"C-{n % 7}"), order(t + DAY, n, "shipped")):
                closer.risk.on_fact(fact)
        closer.risk.on_fact(order(20 * DAY, 99, "delivered"))
        for source in ("orders/0", "complaints/0"):
            closer.on_watermark(source, 12 * DAY)
        closer.risk.drain()
        return closer

    def test_risk_state_round_trips(self) -> None:
        """A restored closer holds the same risk state and snapshots to the same bytes."""
        closer = self._busy()
        restored = self._closer()
        restored.restore(closer.snapshot())
        assert restored.risk is not None and closer.risk is not None
        assert restored.risk.to_dict() == closer.risk.to_dict()
        assert restored.snapshot() == closer.snapshot()

    def test_risk_in_the_json_header_is_still_read(self) -> None:
        """A snapshot from before the MessagePack section (risk state in the header)
        restores the same risk state."""
        closer = self._busy()
        assert closer.risk is not None
        data = closer.snapshot()
        magic = b"closer/2"
        size = int.from_bytes(data[len(magic) : len(magic) + 4], "little")
        header = json.loads(data[len(magic) + 4 : len(magic) + 4 + size])
        body = data[len(magic) + 4 + size : len(data) - header.pop("risk_bytes")]
        header["risk"] = closer.risk.to_dict()
        old_header = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        restored = self._closer()
        restored.restore(magic + len(old_header).to_bytes(4, "little") + old_header + body)
        assert restored.risk is not None
        assert json.dumps(restored.risk.to_dict(), sort_keys=True) == json.dumps(
            closer.risk.to_dict(), sort_keys=True
        )
