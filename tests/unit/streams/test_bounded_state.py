"""Bounded state under key floods: idle series and norms are evicted, keys beyond the cap
fold into an overflow series, and all of it is deterministic (event time only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.model import AlertEvent
from alerts.text import AlertTexts
from streams.contract.events import TOPICS, OrderEvent
from streams.pipeline.aggregate import SourceAggregator
from streams.pipeline.aggregate_snapshot import resume_offset
from streams.pipeline.closer import WindowCloser, overflow_key
from streams.pipeline.replay import ReplayPipeline, Stage1, Stage1Output
from streams.pipeline.wire import closer_partition
from streams.rules.catalogue import RuleSet, parse_rules

HOUR = 3_600_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
Record = tuple[str, bytes, bytes]


def volume_rules(
    *, idle_ttl: str = "1d", max_series: int = 50_000, grace: int = 24, **detector: Any
) -> RuleSet:
    """order_volume per region in 1 h windows with the given retention."""
    return parse_rules(
        {
            "settings": {"lateness": "5m"},
            "rules": {
                "order_volume": {
                    "window": "1h",
                    "dimensions": ["region"],
                    "runbook": "Check {key}.",
                    "idle_ttl": idle_ttl,
                    "max_series": max_series,
                    "detector": {"grace_period": grace, "persistence": [1, 1], **detector},
                },
            },
        }
    )


def hours(counts_per_hour: list[dict[str, int]]) -> Iterator[Record]:
    """Placed orders spread evenly within each hour, ``{region: count}`` per hour; one tick
    order without a region per hour and partition keeps every watermark moving."""
    i = 0
    for hour, counts in enumerate(counts_per_hour):
        events = [region for region, n in sorted(counts.items()) for _ in range(n)]
        events += [""] * 8
        for j, region in enumerate(events):
            ts = T0 + hour * HOUR + j * HOUR // len(events)
            value: dict[str, Any] = {
                "event_id": f"e{i}",
                "ts": ts,
                "order_id": f"o{i}",
                "status": "placed" if region else "paid",
            }
            if region:
                value["region"] = region
            i += 1
            yield "orders", f"o{i}".encode(), json.dumps(value).encode()


def volume_ids(pipeline: ReplayPipeline) -> set[str]:
    return set(pipeline.closer.banks["order_volume"].ids)


class TestTtl:
    def test_idle_series_is_evicted_and_counted(self) -> None:
        """A region quiet for longer than idle_ttl leaves the bank; a busy one stays."""
        pipeline = ReplayPipeline(volume_rules(idle_ttl="3h"), partitions=1)
        list(pipeline.run(hours([{"north": 20, "gone": 20}] * 2 + [{"north": 20}] * 8)))
        assert volume_ids(pipeline) == {"order_volume:region:north"}
        evicted, _ = pipeline.closer.drain_evictions()
        assert evicted == {("order_volume", "ttl"): 1}
        assert "order_volume:region:gone" not in pipeline.closer.latest

    def test_not_evicted_before_the_ttl(self) -> None:
        """A region quiet for less than idle_ttl keeps its series."""
        pipeline = ReplayPipeline(volume_rules(idle_ttl="1d"), partitions=1)
        list(pipeline.run(hours([{"north": 20, "quiet": 20}] * 2 + [{"north": 20}] * 8)))
        assert "order_volume:region:quiet" in volume_ids(pipeline)

    def test_series_with_an_open_episode_is_never_evicted(self) -> None:
        """A region that drops to zero fires and stays, open, past its idle_ttl."""
        pipeline = ReplayPipeline(volume_rules(idle_ttl="2h"), partitions=1)
        steady = [{"north": 40, "south": 40}] * 30
        alerts = list(pipeline.run(hours([*steady, *[{"south": 40}] * 6])))
        sid = "order_volume:region:north"
        fired = [a for a in alerts if a.key == "north" and a.status == "firing"]
        assert fired, "the drop did not fire"
        resolved = {a.alert_id for a in alerts if a.status == "resolved"}
        assert fired[-1].alert_id not in resolved
        assert sid in pipeline.closer.episodes
        assert sid in volume_ids(pipeline)

    def test_evicted_series_that_returns_starts_fresh(self) -> None:
        """A region evicted for idleness comes back as a new series (in warm-up)."""
        rules = volume_rules(idle_ttl="2h", grace=3, direction="up")  # the drop cannot fire
        pipeline = ReplayPipeline(rules, partitions=1)
        plan = (
            [{"north": 20, "back": 20}] * 6 + [{"north": 20}] * 5 + [{"north": 20, "back": 20}] * 2
        )
        list(pipeline.run(hours(plan)))
        bank = pipeline.closer.banks["order_volume"]
        assert pipeline.closer.evicted[("order_volume", "ttl")] >= 1
        assert bank.state("order_volume:region:back").n < bank.state("order_volume:region:north").n
        assert bank.state("order_volume:region:back").n <= 2


class TestCap:
    def test_keys_beyond_the_cap_fold_into_overflow(self) -> None:
        """With room for two series, the third and fourth keys (in key order) are counted in
        the dimension's overflow series."""
        pipeline = ReplayPipeline(volume_rules(max_series=2), partitions=1)
        list(pipeline.run(hours([{"a": 5, "b": 6, "c": 7, "d": 8}] * 3 + [{}])))
        other = f"order_volume:region:{overflow_key(0)}"
        assert volume_ids(pipeline) == {"order_volume:region:a", "order_volume:region:b", other}
        assert pipeline.closer.latest[other].decision.observed == 7 + 8
        assert pipeline.closer.drain_evictions()[1] == {"order_volume": 2 * 3}

    def test_lowered_cap_evicts_least_recently_seen(self) -> None:
        """A snapshot restored under a lower cap loses its least recently seen series, with
        reason cap."""
        rules = volume_rules(max_series=10)
        plan = [{"old": 5, "a": 5, "b": 5}] * 2 + [{"a": 5, "b": 5}] * 2
        pipeline = ReplayPipeline(rules, partitions=1)
        list(pipeline.run(hours(plan)))
        smaller = volume_rules(max_series=2)
        closer = WindowCloser(smaller, dict.fromkeys(TOPICS, 1), AlertTexts())
        closer.restore(pipeline.closer.snapshot())
        mark = T0 + 10 * HOUR
        for partition in range(1):
            closer.on_watermark(f"orders/{partition}", mark)
        assert set(closer.banks["order_volume"].ids) == {
            "order_volume:region:a",
            "order_volume:region:b",
        }
        assert closer.drain_evictions()[0][("order_volume", "cap")] == 1

    def test_cap_is_split_over_shards_as_kafka_closers_split_series(self) -> None:
        """One closer over four shards (replay) admits, folds and evicts exactly what four
        closers owning one shard each (Kafka) do."""
        rules = volume_rules(max_series=8, idle_ttl="2h")
        regions = [f"r{i:02d}" for i in range(30)]
        plan = (
            [dict.fromkeys(regions, 3)] * 3
            + [dict.fromkeys(regions[:5], 3)] * 4
            + [dict.fromkeys(regions[10:], 3)] * 2
        )
        stage1 = Stage1(rules, {t: t for t in TOPICS})
        out = Stage1Output()
        offsets: dict[int, int] = {}
        from streams.pipeline.replay import partition_for

        for topic, key, value in hours(plan):
            partition = partition_for(key, 4)
            offsets[partition] = offsets.get(partition, -1) + 1
            stage1.process(topic, partition, offsets[partition], key, value, out)  # type: ignore[arg-type]
        stage1.seal(out)
        one = WindowCloser(rules, dict.fromkeys(TOPICS, 4), AlertTexts(), shards=4)
        four = [
            WindowCloser(rules, dict.fromkeys(TOPICS, 4), AlertTexts(), shards=4) for _ in range(4)
        ]
        alerts_one: list[AlertEvent] = []
        alerts_four: list[AlertEvent] = []
        for sealed in out.partials:
            one.on_partial(sealed)
            four[closer_partition(sealed.series, 4)].on_partial(sealed)
        for source, mark in out.watermarks:
            alerts_one += one.on_watermark(source, mark)
            for closer in four:
                alerts_four += closer.on_watermark(source, mark)
        assert set(one.banks["order_volume"].ids) == {
            sid for closer in four for sid in closer.banks["order_volume"].ids
        }
        assert sorted(a.to_json() for a in alerts_one) == sorted(a.to_json() for a in alerts_four)
        assert sum(one.admitted["order_volume"].values()) <= 8
        total_folded = sum(closer.folded["order_volume"] for closer in four)
        assert one.folded["order_volume"] == total_folded > 0
        assert one.evicted == sum((closer.evicted for closer in four), type(one.evicted)())


class TestDeterminism:
    # x-regions come and go before the restart, y-regions after it; north spikes.
    PLAN = [
        {
            "north": 200 if 26 <= hour < 29 else 40,
            "south": 30,
            **{f"x{i}": 2 for i in range(12) if hour < 10},
            **{f"y{i}": 2 for i in range(10) if 20 <= hour < 31},
        }
        for hour in range(36)
    ]

    def test_same_alerts_with_a_closer_restart_in_the_middle(self) -> None:
        """Restoring the closer from a snapshot halfway (with evictions before and after)
        gives the same alerts and the same evictions as one uninterrupted run."""
        rules = volume_rules(idle_ttl="2h", max_series=8)
        records = list(hours(self.PLAN))
        whole = ReplayPipeline(rules, partitions=2)
        reference = [a.to_json() for a in whole.run(records)]
        assert any(b'"firing"' in a for a in reference)
        cut = len(records) * 24 // 36
        split = ReplayPipeline(rules, partitions=2)
        alerts = [a.to_json() for a in split.run(records[:cut])]
        evicted_before = split.closer.evicted.copy()
        assert evicted_before, "no eviction before the restart"
        restored = WindowCloser(rules, dict.fromkeys(TOPICS, 2), AlertTexts(), shards=2)
        restored.restore(split.closer.snapshot())
        split.closer = restored
        alerts += [a.to_json() for a in split.run(records[cut:])]
        assert alerts == reference
        assert set(restored.banks["order_volume"].ids) == set(
            whole.closer.banks["order_volume"].ids
        )
        assert restored.evicted, "no eviction after the restart"
        assert restored.folded, "no key folded after the restart"
        assert evicted_before + restored.evicted == whole.closer.evicted

    def test_json_snapshot_of_an_older_version_still_restores(self) -> None:
        """A snapshot in the JSON-only form (banks as base64, no last-seen times) restores
        to the same series; they count as seen at the last close."""
        import base64

        pipeline = ReplayPipeline(volume_rules(), partitions=1)
        list(pipeline.run(hours([{"north": 20, "south": 10}] * 4)))
        closer = pipeline.closer
        bank = closer.banks["order_volume"]
        blob = bank.export_all()
        size = int.from_bytes(blob[:4], "little")
        header = json.loads(blob[4 : 4 + size])
        header["columns"] = header["columns"][:-1]  # no _seen column then
        body = json.dumps(header, separators=(",", ":")).encode()
        old_blob = len(body).to_bytes(4, "little") + body + blob[4 + size : -8 * len(bank)]
        state = {
            "banks": {"order_volume": base64.b64encode(old_blob).decode()},
            "watermarks": closer.watermarks,
            "closed_through": closer.closed_through,
            "pending": [],
            "episodes": {},
            "open_alerts": {},
            "streak_start": {},
            "event_alerts": [],
            "late_partials": 0,
        }
        restored = WindowCloser(volume_rules(), dict.fromkeys(TOPICS, 1), AlertTexts())
        restored.restore(json.dumps(state).encode())
        again = restored.banks["order_volume"]
        assert set(again.ids) == set(bank.ids)
        sid = "order_volume:region:north"
        assert again.state(sid) == bank.state(sid)
        assert again.last_seen(sid) == closer.closed_through["order_volume"]


def placed(i: int, ts: int, sku: str, amount: float = 20.0) -> OrderEvent:
    return OrderEvent(
        event_id=f"e{i}",
        ts_ms=ts,
        order_id=f"o{i}",
        status="placed",
        sku=sku,
        category="apparel",
        quantity=1,
        amount=amount,
    )


def outlier_rules(*, idle_ttl: str = "1d", max_series: int = 50_000) -> RuleSet:
    return parse_rules(
        {
            "settings": {"lateness": "5m"},
            "rules": {
                "order_outlier": {
                    "window": "1h",
                    "dimensions": ["order"],
                    "runbook": "Check {key}.",
                    "idle_ttl": idle_ttl,
                    "max_series": max_series,
                }
            },
        }
    )


class TestNorms:
    def test_idle_norm_is_evicted(self) -> None:
        """A sku norm not fed for idle_ttl of event time is dropped and counted."""
        agg = SourceAggregator("orders/0", "orders", outlier_rules(idle_ttl="3h"))
        i = 0
        for hour in range(8):
            skus = ["busy", "brief"] if hour < 2 else ["busy"]
            for sku in skus:
                for k in range(4):
                    i += 1
                    agg.add(placed(i, T0 + hour * HOUR + k * 60_000, sku), i)
        norms = agg.norm_states["order_outlier"]
        assert "unit_price|sku|busy" in norms
        assert "unit_price|sku|brief" not in norms and "quantity|sku|brief" not in norms
        evicted, _ = agg.drain_evictions()
        assert evicted == {("order_outlier", "ttl"): 2}

    def test_no_norm_is_created_beyond_the_cap(self) -> None:
        """With room for three norms, later skus get none (and are counted as folded)."""
        agg = SourceAggregator("orders/0", "orders", outlier_rules(max_series=3))
        for i, sku in enumerate(["a", "b", "c", "d"]):
            agg.add(placed(i, T0 + i * 60_000, sku), i)
        agg.add(placed(9, T0 + 2 * HOUR, "a"), 9)
        norms = agg.norm_states["order_outlier"]
        assert len(norms) == 3
        assert agg.drain_evictions()[1]["order_outlier"] > 0

    def test_norm_eviction_survives_a_snapshot(self) -> None:
        """Fold times are in the snapshot: a restored aggregator evicts the same norms."""
        rules = outlier_rules(idle_ttl="3h")
        events = [
            placed(i, T0 + (i // 3) * 20 * 60_000, "brief" if i < 12 else "busy") for i in range(60)
        ]
        whole = SourceAggregator("orders/0", "orders", rules)
        for offset, event in enumerate(events):
            whole.add(event, offset)
        cut = 20
        before = SourceAggregator("orders/0", "orders", rules)
        for offset, event in enumerate(events[:cut]):
            before.add(event, offset)
        after = SourceAggregator("orders/0", "orders", rules)
        resume = after.restore(before.snapshot(cut))
        for offset in range(resume, len(events)):
            after.add(events[offset], offset)
        assert after.norm_states == whole.norm_states
        assert after.norm_seen == whole.norm_seen
        assert "unit_price|sku|brief" not in whole.norm_states["order_outlier"]

    def test_norm_snapshot_round_trips_to_the_same_bytes(self) -> None:
        """The binary snapshot restores every norm and fold time exactly."""
        agg = SourceAggregator("orders/0", "orders", outlier_rules())
        for i in range(40):
            agg.add(placed(i, T0 + i * 10 * 60_000, f"sku{i % 7}"), i)
        assert len(agg.norm_states["order_outlier"]) > 7
        snapshot = agg.snapshot(40)
        restored = SourceAggregator("orders/0", "orders", outlier_rules())
        assert restored.restore(snapshot) == resume_offset(snapshot)
        assert restored.norm_states == agg.norm_states
        assert restored.norm_seen == agg.norm_seen
        assert restored.snapshot(resume_offset(snapshot)) == snapshot

    def test_json_snapshot_of_an_older_version_still_restores(self) -> None:
        """A JSON-only aggregator snapshot (norms as lists, some without fold time) restores:
        a norm without a fold time counts as fed at the snapshot's watermark."""
        agg = SourceAggregator("orders/0", "orders", outlier_rules())
        for i in range(40):
            agg.add(placed(i, T0 + i * 10 * 60_000, f"sku{i % 7}"), i)
        norms = agg.norm_states["order_outlier"]
        seen = dict(agg.norm_seen["order_outlier"])
        missing = next(iter(seen))
        del seen[missing]
        old = json.dumps(
            {
                "resume_offset": 12,
                "progress_ms": agg.progress_ms,
                "ahead_ms": None,
                "sealed_through": agg.sealed_through,
                "norms": {"order_outlier": {k: [s.n, s.level, s.var] for k, s in norms.items()}},
                "norm_seen": {"order_outlier": seen},
            }
        ).encode()
        restored = SourceAggregator("orders/0", "orders", outlier_rules())
        assert restored.restore(old) == 12 == resume_offset(old)
        assert restored.norm_states == agg.norm_states
        assert restored.norm_seen["order_outlier"] == {**seen, missing: restored.watermark_ms}


class TestBursts:
    def test_burst_keys_leave_no_state_after_their_window(self) -> None:
        """Many customers bursting once leave no per-customer state in the closer once
        their windows passed and their episodes resolved."""
        rules = parse_rules(
            {
                "settings": {"lateness": "1m"},
                "rules": {
                    "customer_order_burst": {
                        "window": "10m",
                        "hop": "5m",
                        "dimensions": ["customer", "address"],
                        "runbook": "Review {key}.",
                        "detector": {
                            "guard_above": 4.5,
                            "prior": 1.0,
                            "grace_period": 1,
                            "persistence": [1, 1],
                            "resolve_after": 1,
                        },
                    }
                },
            }
        )
        # An order an hour before: the rule's first window only learns (grace_period 1).
        early = {"event_id": "e-early", "ts": T0 - HOUR, "order_id": "o-early"}
        early |= {"status": "placed", "customer_id": "C-early", "address_id": "A-early"}
        records: list[Record] = [("orders", b"o-early", json.dumps(early).encode())]
        i = 0
        for customer in range(200):
            for k in range(6):
                ts = T0 + customer * 1_000 + k * 10_000
                value = {
                    "event_id": f"e{i}",
                    "ts": ts,
                    "order_id": f"o{i}",
                    "status": "placed",
                    "customer_id": f"C{customer}",
                    "address_id": f"A{customer}",
                }
                records.append(("orders", f"o{i}".encode(), json.dumps(value).encode()))
                i += 1
        # Later, ordinary orders (one per customer) and ticks move every window on.
        for tick in range(16):
            value = {
                "event_id": f"r{tick}",
                "ts": T0 + 2 * HOUR,
                "order_id": f"r{tick}",
                "status": "placed",
                "customer_id": f"R{tick}",
                "address_id": f"RA{tick}",
            }
            records.append(("orders", f"r{tick}".encode(), json.dumps(value).encode()))
        for tick in range(16):
            value = {
                "event_id": f"t{tick}",
                "ts": T0 + 3 * HOUR,
                "order_id": f"t{tick}",
                "status": "paid",
            }
            records.append(("orders", f"t{tick}".encode(), json.dumps(value).encode()))
        pipeline = ReplayPipeline(rules, partitions=4)
        alerts = list(pipeline.run(records))
        assert sum(a.status == "firing" for a in alerts) == 400
        assert sum(a.status == "resolved" for a in alerts) == 400
        closer = pipeline.closer
        assert closer.episodes == {} and closer.open_alerts == {}
        assert closer.latest == {} and closer.streak_start == {}
        assert closer.pending == {}
        assert all(not agg.open for agg in pipeline.stage1.aggregators.values())


class TestRetentionSettings:
    @pytest.mark.parametrize(
        ("document", "field"),
        [
            ({"settings": {"max_series": 0}}, "settings.max_series"),
            ({"settings": {"max_series": "many"}}, "settings.max_series"),
            ({"settings": {"max_series": True}}, "settings.max_series"),
            ({"settings": {"idle_ttl": "soon"}}, "settings.idle_ttl"),
            ({"settings": {"risk_max_keys": 0}}, "settings.risk_max_keys"),
            ({"settings": {"risk_max_keys": "lots"}}, "settings.risk_max_keys"),
            ({"rules": {"order_volume": {"idle_ttl": "0s"}}}, "rules.order_volume.idle_ttl"),
            ({"rules": {"order_volume": {"max_series": 1.5}}}, "rules.order_volume.max_series"),
            (
                {"rules": {"order_volume": {"max_series": 20_000_000}}},
                "rules.order_volume.max_series",
            ),
        ],
    )
    def test_bad_value_names_the_field(self, document: dict[str, Any], field: str) -> None:
        """A bad retention setting is refused with the TOML path of the field."""
        from streams.exceptions import ConfigError

        rules = document.setdefault("rules", {})
        rules.setdefault("order_volume", {})["runbook"] = "Check {key}."
        with pytest.raises(ConfigError) as caught:
            parse_rules(document)
        assert caught.value.field == field

    def test_rule_overrides_settings(self) -> None:
        """[settings] sets the default; a rule's own value wins."""
        rules = parse_rules(
            {
                "settings": {"idle_ttl": "6h", "max_series": 100},
                "rules": {
                    "order_volume": {"runbook": "x", "max_series": 7},
                    "complaint_volume": {"runbook": "y", "idle_ttl": "2d"},
                },
            }
        )
        volume, complaints = rules.by_name("order_volume"), rules.by_name("complaint_volume")
        assert (volume.idle_ttl_ms, volume.max_series) == (6 * HOUR, 7)
        assert (complaints.idle_ttl_ms, complaints.max_series) == (48 * HOUR, 100)


class TestRiskKeys:
    def test_risk_max_keys_bounds_the_closers_risk_score_and_counts_evictions(self) -> None:
        """``[settings] risk_max_keys`` reaches the closer's risk scorer; its evictions
        come out of ``drain_evictions`` as rule ``risk_score`` (the metric's labels)."""
        from streams.risk import RiskFact

        rules = parse_rules(
            {
                "settings": {"risk_max_keys": 16},
                "rules": {"order_volume": {"runbook": "Check {key}."}},
            }
        )
        assert rules.risk_max_keys == 16
        assert parse_rules({"rules": {"order_volume": {}}}).risk_max_keys == 500_000
        closer = WindowCloser(rules, dict.fromkeys(TOPICS, 1), AlertTexts(), risk=True)
        assert closer.risk is not None
        for i in range(100):
            closer.risk.on_fact(
                RiskFact(i, f"O-{i}:placed", "placed", f"O-{i}", f"C-{i}", f"S-{i}", "apparel")
            )
        for source in closer.risk.sources:
            closer.risk.on_watermark(source, 1_000)
        assert len(closer.risk.drain()) == 100
        assert len(closer.risk.scorer.customers) <= 16
        evicted, _ = closer.drain_evictions()
        assert evicted[("risk_score", "cap")] >= 2 * (100 - 16)  # customers and orders
        assert closer.drain_evictions()[0] == {}


class TestSnapshotGuard:
    def _worker(self, limit: int) -> Any:
        from prometheus_client import CollectorRegistry

        from alerts.metrics import AlertMetrics
        from streams.rules.catalogue import load_rules
        from streams.runtime.config import Settings
        from streams.runtime.worker import Worker

        settings = Settings.from_env(
            {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "AFTERSALES_MAX_SNAPSHOT_BYTES": str(limit)}
        )
        metrics = AlertMetrics.create(CollectorRegistry())
        return Worker(settings, load_rules(None), metrics, roles=frozenset({"closer"}))

    def test_oversized_snapshot_is_refused_loudly(self) -> None:
        """A snapshot over the limit is not written: an error log names the sizes and the
        refusal is counted."""
        from structlog.testing import capture_logs

        worker = self._worker(1_048_576)
        with capture_logs() as logs:
            assert not worker.services.snapshot_fits("closer", "3", b"x" * 2_000_000, 0.0)
        assert [entry["event"] for entry in logs] == ["snapshot_too_large"]
        assert logs[0]["size_bytes"] == 2_000_000 and logs[0]["limit_bytes"] == 1_048_576
        registry = worker.metrics.registry
        assert (
            registry.get_sample_value("aftersales_snapshot_too_large_total", {"stage": "closer"})
            == 1
        )

    def test_snapshot_within_the_limit_is_measured(self) -> None:
        """A snapshot under the limit passes; its size is exported."""
        worker = self._worker(1_048_576)
        assert worker.services.snapshot_fits("intake", "orders/0", b"x" * 1_000, 0.0)
        assert (
            worker.metrics.registry.get_sample_value(
                "aftersales_snapshot_bytes", {"stage": "intake"}
            )
            == 1_000
        )

    @pytest.mark.parametrize("raw", ["12", "lots", "99999999999"])
    def test_bad_limit_names_the_variable(self, raw: str) -> None:
        """A bad AFTERSALES_MAX_SNAPSHOT_BYTES is refused naming the variable."""
        from streams.exceptions import ConfigError
        from streams.runtime.config import Settings

        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"AFTERSALES_MAX_SNAPSHOT_BYTES": raw})
        assert caught.value.field == "AFTERSALES_MAX_SNAPSHOT_BYTES"
