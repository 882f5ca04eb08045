"""Rules as modules: the registry, each rule's traits and feeds, and a rule defined in a
test run end to end (aggregate, wire, closer) with nothing else wired."""

from __future__ import annotations

import importlib
import json
import pickle
import pkgutil
from typing import Any

import pytest

import streams.rules.builtin
from alerts.model import ms_to_datetime
from streams.contract.events import ComplaintEvent, OrderEvent, ReviewEvent, WaitTimeEvent
from streams.exceptions import ConfigError
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.wire import closer_partition
from streams.rules.catalogue import RuleSet, parse_rules
from streams.rules.registry import DEFAULT_REGISTRY, Registry
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
HOUR = 3_600_000


class TestRegistry:
    def test_every_builtin_module_is_registered_under_its_name(self) -> None:
        """Each module of streams.rules.builtin declares one RULE named like the module,
        and the registry lists it (a module that is not registered is never run)."""
        package = streams.rules.builtin
        names = sorted(info.name for info in pkgutil.iter_modules(package.__path__))
        for name in names:
            module = importlib.import_module(f"{package.__name__}.{name}")
            assert module.RULE.name == name
            assert DEFAULT_REGISTRY[name] is module.RULE
        assert sorted(DEFAULT_REGISTRY) == names

    def test_a_name_registered_twice_is_refused(self) -> None:
        rule = DEFAULT_REGISTRY["order_volume"]
        with pytest.raises(ValueError, match="'order_volume' registered twice"):
            Registry([rule, rule])

    def test_traits_of_the_shipped_rules(self) -> None:
        """The traits that replaced the name sets of the catalogue, closer and wire."""
        assert {name: rule.entity for name, rule in DEFAULT_REGISTRY.items() if rule.entity} == {
            "customer_order_burst": "burst",
            "frequent_returner": "returns",
            "shared_address": "distinct_customers",
        }
        assert DEFAULT_REGISTRY.with_trait("order_state") == (
            "delivery_time_p90",
            "late_delivery_share",
            "lost_parcel",
            "refund_delay_p90",
        )
        assert DEFAULT_REGISTRY.with_trait("colocated") == (
            "order_volume",
            "complaint_rate",
            "wait_time_p90",
            "delivery_time_p90",
            "late_delivery_share",
        )
        assert DEFAULT_REGISTRY.with_trait("shared_denominator") == (
            "return_rate",
            "complaint_rate",
            "cancellation_rate",
        )
        assert DEFAULT_REGISTRY["cancellation_rate"].shared_denominator == {"reason"}
        assert DEFAULT_REGISTRY["complaint_rate"].shared_denominator == {"reason"}
        assert DEFAULT_REGISTRY.with_trait("cohort") == ("return_rate", "cancellation_rate")
        assert DEFAULT_REGISTRY.with_trait("rollup_learns_rate") == ("lost_parcel",)
        assert {
            name: rule.forced_context
            for name, rule in DEFAULT_REGISTRY.items()
            if rule.forced_context
        } == {"shared_address": ("customer_id",)}

    def test_feeds_of_the_shipped_rules(self) -> None:
        """What every event class and order status adds to each shipped rule:
        (numerator, denominator, measure, counted only within a cohort)."""
        feeds = {
            (name, cls.__name__, status): (
                feed.num,
                feed.den,
                feed.measure and feed.measure.name,
                feed.cohort,
            )
            for name, rule in DEFAULT_REGISTRY.items()
            for (cls, status), feed in rule.feeds.items()
        }
        o, c, w, r = "OrderEvent", "ComplaintEvent", "WaitTimeEvent", "ReviewEvent"
        assert feeds == {
            ("order_volume", o, "placed"): (1.0, 0.0, None, False),
            ("customer_order_burst", o, "placed"): (1.0, 0.0, None, False),
            ("shared_address", o, "placed"): (1.0, 0.0, None, False),
            ("frequent_returner", o, "return_requested"): (1.0, 0.0, None, False),
            ("frequent_returner", o, "exchange_requested"): (1.0, 0.0, None, False),
            ("frequent_returner", o, "delivered"): (0.0, 1.0, None, False),
            ("return_rate", o, "return_requested"): (1.0, 0.0, None, True),
            ("return_rate", o, "exchange_requested"): (1.0, 0.0, None, True),
            ("return_rate", o, "delivered"): (0.0, 1.0, None, False),
            ("complaint_rate", o, "delivered"): (0.0, 1.0, None, False),
            ("complaint_rate", c, None): (1.0, 0.0, None, False),
            ("complaint_volume", c, None): (1.0, 0.0, None, False),
            ("cancellation_rate", o, "cancelled"): (1.0, 0.0, None, True),
            ("cancellation_rate", o, "placed"): (0.0, 1.0, None, False),
            ("delivery_time_p90", o, "delivered"): (0.0, 1.0, "transit", False),
            ("late_delivery_share", o, "delivered"): (0.0, 1.0, "late", False),
            ("refund_delay_p90", o, "refunded"): (0.0, 1.0, "refund", False),
            ("wait_time_p90", w, None): (0.0, 1.0, "wait", False),
            ("wait_sla_breach_share", w, None): (0.0, 1.0, "breach", False),
            ("handle_time_p90", w, None): (0.0, 1.0, "handle", False),
            ("low_satisfaction_share", w, None): (0.0, 1.0, "low_csat", False),
            ("bad_review_rate", r, None): (0.0, 1.0, "bad_review", False),
        }

    def test_event_rules_declare_no_feeds(self) -> None:
        """Per-event rules score events on arrival; their windows take no partials."""
        assert {name for name, rule in DEFAULT_REGISTRY.items() if rule.kind == "event"} == {
            "order_outlier",
            "lost_parcel",
        }
        assert all(not DEFAULT_REGISTRY[name].feeds for name in ("order_outlier", "lost_parcel"))

    def test_feed_is_looked_up_by_class_and_status(self) -> None:
        rule = DEFAULT_REGISTRY["complaint_rate"]
        assert rule.feed(OrderEvent, "delivered") == Feed(den=1.0)
        assert rule.feed(OrderEvent, "placed") is None
        assert rule.feed(ComplaintEvent, None) == Feed(num=1.0)
        assert rule.feed(WaitTimeEvent, None) is None

    def test_configured_rules_carry_their_definition(self) -> None:
        rules = parse_rules({"rules": {"return_rate": {}, "order_volume": {}}})
        assert [rule.definition for rule in rules.rules] == [
            DEFAULT_REGISTRY["order_volume"],
            DEFAULT_REGISTRY["return_rate"],
        ]


# -- a rule module written in a test ----------------------------------------------------
# Everything a new rule needs, as its module under streams/rules/builtin/ would hold it.


def _five_star(event: ReviewEvent, _spec: RuleSpec, _facts: OrderFactsView | None) -> bool:
    """A rating of 5."""
    return event.rating == 5


FIVE_STAR_SHARE = Rule(
    "five_star_share",
    "ratio",
    ("reviews",),
    frozenset({"total", "sku"}),
    ("total",),
    feeds={(ReviewEvent, None): Feed(den=1.0, measure=Measure("five_star", "share", _five_star))},
)
REVIEW_VOLUME = Rule(
    "review_volume",
    "count",
    ("reviews",),
    frozenset({"total", "sku"}),
    ("total",),
    feeds={(ReviewEvent, None): Feed(num=1.0)},
    colocated=True,
)
TOY_REGISTRY = Registry([FIVE_STAR_SHARE, REVIEW_VOLUME])


def toy_rules(**detector: Any) -> RuleSet:
    table = {
        "window": "1h",
        "dimensions": ["total", "sku"],
        "detector": {"grace_period": 6, "direction": "up", **detector},
    }
    return parse_rules(
        {
            "settings": {"lateness": "1m"},
            "rules": {"review_volume": table, "five_star_share": table},
        },
        TOY_REGISTRY,
    )


def review(i: int, ts: int, rating: int, sku: str = "S1") -> tuple[str, bytes, bytes]:
    value = {"event_id": f"r{i}", "ts": ts, "review_id": f"r{i}", "rating": rating, "sku": sku}
    return "reviews", f"r{i}".encode(), json.dumps(value).encode()


class TestToyRule:
    def test_only_the_registry_given_is_known(self) -> None:
        with pytest.raises(
            ConfigError, match="unknown rule; the catalogue is five_star_share, review_volume"
        ):
            parse_rules({"rules": {"return_rate": {}}}, TOY_REGISTRY)
        with pytest.raises(ConfigError, match="only review_volume can be judged relative"):
            parse_rules(
                {"rules": {"five_star_share": {"relative_to": "total", "dimensions": ["total"]}}},
                TOY_REGISTRY,
            )

    def test_feeds_and_measure_reach_the_closer(self) -> None:
        """A window's decisions hold what the toy rule's feeds declare: every review
        counted, the share of 5 stars per sku and in total."""
        replay = ReplayPipeline(toy_rules(), partitions=2)
        first: dict[str, Any] = {}
        replay.closer.on_closed = lambda c: (
            first.setdefault(f"{c.rule}:{c.dimension}:{c.key}", c.decision)
            if c.window_start_ms == T0
            else None
        )
        ratings = [5, 5, 1, 5, 3, 5, 5, 2]
        records = [
            review(i, T0 + i * 1000, rating, "S1" if i % 2 else "S2")
            for i, rating in enumerate(ratings)
        ]
        records += [review(100 + p, T0 + 3 * HOUR + p, 5) for p in range(20)]  # seal it
        list(replay.run(records))
        assert first["review_volume:total:all"].observed == 8
        assert first["review_volume:sku:S1"].observed == 4
        assert first["five_star_share:total:all"].observed == pytest.approx(5 / 8)
        assert first["five_star_share:sku:S1"].observed == pytest.approx(3 / 4)
        assert first["five_star_share:sku:S2"].observed == pytest.approx(2 / 4)
        assert first["five_star_share:sku:S1"].sample_size == 4

    def test_traits_come_from_the_definition(self) -> None:
        """The colocated toy rule routes every series by its name, in the closer too."""
        replay = ReplayPipeline(toy_rules(), partitions=4)
        assert replay.closer._colocated == {"review_volume": frozenset()}
        routes = {
            closer_partition(f"review_volume:sku:S{i}", 4, replay.closer._colocated)
            for i in range(20)
        }
        assert routes == {closer_partition("review_volume", 4)}

    def test_a_surge_fires_an_alert(self) -> None:
        """Steady reviews, then ten times as many: the toy count rule alerts."""
        records = []
        i = 0
        for hour in range(30):
            per_hour = (200 if hour >= 26 else 20) + hour % 3
            for n in range(per_hour):
                records.append(review(i, T0 + hour * HOUR + n * 10_000, 5))
                i += 1
        alerts = list(ReplayPipeline(toy_rules(), partitions=2).run(records))
        fired = [a for a in alerts if a.rule == "review_volume" and a.status == "firing"]
        assert {(a.dimension, a.key) for a in fired} == {("total", "all"), ("sku", "S1")}
        assert min(a.window_start for a in fired) >= ms_to_datetime(T0 + 26 * HOUR)


def test_a_rule_set_survives_pickling() -> None:
    """The worker sends the rule set to its spawned intake child by pickle: every rule's
    definition arrives with its feeds, measures and traits."""
    rules = parse_rules({"rules": {name: {} for name in DEFAULT_REGISTRY}})
    copy = pickle.loads(pickle.dumps(rules))
    assert copy == rules
    for mine, theirs in zip(rules.rules, copy.rules, strict=True):
        assert dict(theirs.definition.feeds) == dict(mine.definition.feeds)
        assert theirs.definition.entity == mine.definition.entity
        assert theirs.definition.shared_denominator == mine.definition.shared_denominator
    wait = copy.by_name("wait_time_p90").definition.feed(WaitTimeEvent, None)
    assert wait is not None and wait.measure is not None
    assert (
        wait.measure.read
        is DEFAULT_REGISTRY["wait_time_p90"].feeds[(WaitTimeEvent, None)].measure.read
    )  # type: ignore[union-attr]
