"""Simulator extensions of the quality matrix: promotions, busy entities, supplier quality,
address bursts, first extra returns and the late/duplicate/malformed mix."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
import pytest

from streams.dev.simulator import Simulation, SimulationConfig, build_labels
from streams.dev.simulator.config import DEFAULT_START
from streams.dev.simulator.events import Event
from streams.dev.simulator.hostile import with_nuisances
from streams.dev.simulator.incidents import CustomerBurst, SkuReturnSpike, SupplierQuality
from streams.dev.simulator.promotion import Promotion
from streams.dev.simulator.timefmt import MS_PER_HOUR, parse_ts, to_ms

SMALL = SimulationConfig(
    seed=3,
    duration=timedelta(days=1),
    orders_per_day=4_000,
    n_skus=300,
    warmup=timedelta(days=1),
    tickets_per_order=0.3,
)
"""A small day of traffic; deliveries need a longer warm-up (see the supplier test)."""


def _events(config: SimulationConfig) -> tuple[Simulation, list[Event]]:
    sim = Simulation(config)
    return sim, list(sim.events())


class TestPromotion:
    def test_ramp_is_smooth_and_returns_to_one(self) -> None:
        """The factor rises monotonically to the peak, holds, and falls back to 1."""
        p = Promotion(
            start=DEFAULT_START,
            ramp=timedelta(hours=8),
            hold=timedelta(hours=12),
            ramp_down=timedelta(hours=4),
            peak=2.5,
        )
        ramp = [p.factor(p.start_ms + m * 60_000) for m in range(0, 8 * 60 + 1, 15)]
        assert all(a <= b for a, b in zip(ramp, ramp[1:], strict=False))
        assert max(b - a for a, b in zip(ramp, ramp[1:], strict=False)) < 0.1
        assert p.factor(p.start_ms + 10 * MS_PER_HOUR) == 2.5
        assert p.factor(p.end_ms) == 1.0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"peak": 0.5}, "promotion.peak"), ({"ramp": timedelta(hours=-1)}, "promotion.ramp")],
    )
    def test_bad_fields_are_named(self, kwargs: dict[str, object], field: str) -> None:
        """A bad promotion field raises ValueError naming it."""
        with pytest.raises(ValueError, match=field):
            Promotion(start=DEFAULT_START, **kwargs)  # type: ignore[arg-type]

    def test_plateau_raises_orders_not_waits(self) -> None:
        """On the plateau orders run at about peak x the day before; median waits do not rise."""
        promo = Promotion(
            start=DEFAULT_START + timedelta(days=1),
            ramp=timedelta(hours=2),
            hold=timedelta(hours=20),
            peak=2.5,
        )
        cfg = dataclasses.replace(SMALL, duration=timedelta(days=2), promotions=(promo,))
        _, events = _events(cfg)
        day = 86_400_000
        second = to_ms(DEFAULT_START) + day
        lo, hi = second + 2 * MS_PER_HOUR, second + 22 * MS_PER_HOUR

        def placed(a: int, b: int) -> int:
            return sum(
                1
                for e in events
                if e.topic == "orders" and a <= e.ts_ms < b and e.value["status"] == "placed"
            )

        def waits(a: int, b: int) -> float:
            return float(
                np.median(
                    [
                        e.value["wait_seconds"]
                        for e in events
                        if e.topic == "wait-times" and a <= e.ts_ms < b
                    ]
                )
            )

        ratio = placed(lo, hi) / placed(lo - day, hi - day)
        assert 2.0 < ratio < 3.0
        assert waits(lo, hi) < 1.3 * waits(lo - day, hi - day)


class TestBusyEntities:
    def test_pickup_points_and_b2b_accounts(self) -> None:
        """Pick-up points get many customers a day; B2B accounts many orders to one address."""
        cfg = dataclasses.replace(
            SMALL, pickup_points=5, pickup_share=0.05, b2b_customers=3, b2b_share=0.03
        )
        _, events = _events(cfg)
        placed = [e.value for e in events if e.topic == "orders" and e.value["status"] == "placed"]
        per_address: dict[str, set[str]] = defaultdict(set)
        for v in placed:
            per_address[v["address_id"]].add(v["customer_id"])
        pickup = [f"A-{2 * cfg.n_customers + cfg.b2b_customers + k + 1:07d}" for k in range(5)]
        assert all(len(per_address[a]) > 10 for a in pickup)
        b2b = Counter(
            v["customer_id"] for v in placed if int(v["customer_id"][2:]) > cfg.n_customers
        )
        assert len(b2b) == 3
        assert min(b2b.values()) > 10

    def test_defaults_add_no_busy_entities(self) -> None:
        """Without the options every id stays in the ordinary customer pool."""
        _, events = _events(SMALL)
        ids = {int(e.value["customer_id"][2:]) for e in events if e.topic == "orders"}
        assert max(ids) <= SMALL.n_customers

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"pickup_share": 0.1}, "pickup_share"),
            ({"b2b_customers": -1}, "b2b_customers"),
            ({"pickup_points": 2, "pickup_share": 0.7}, "pickup_share"),
        ],
    )
    def test_bad_options_are_named(self, kwargs: dict[str, object], field: str) -> None:
        """A share without entities, a negative count or a share >= 0.5 names its field."""
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(SMALL, **kwargs)  # type: ignore[arg-type]


class TestSupplierQuality:
    def test_adds_quality_complaints_on_the_suppliers_skus(self) -> None:
        """+30 pp quality complaints on a supplier's deliveries shows on its SKUs only."""
        start = DEFAULT_START - timedelta(days=2)
        inc = SupplierQuality(start=start, duration=timedelta(days=3), magnitude=0.3)
        sim, events = _events(
            dataclasses.replace(SMALL, warmup=timedelta(days=5), incidents=(inc,))
        )
        label = build_labels(sim)["incidents"][0]
        skus = set(label["targets"]["skus"])
        quality = Counter(
            e.value["sku"] in skus
            for e in events
            if e.topic == "complaints" and e.value["reason"] == "quality"
        )
        delivered = Counter(
            e.value["sku"] in skus
            for e in events
            if e.topic == "orders" and e.value["status"] == "delivered"
        )
        mine = quality[True] / max(delivered[True], 1)
        others = quality[False] / max(delivered[False], 1)
        assert mine > others + 0.15
        assert {
            "rule": "complaint_rate",
            "dimension": "category",
            "key": label["targets"]["category"],
            "direction": "up",
        } in label["expected"]

    def test_unknown_supplier_is_named(self) -> None:
        """A supplier id that makes no SKU raises ValueError naming the field."""
        inc = SupplierQuality(
            start=DEFAULT_START, duration=timedelta(days=1), supplier="SUP-nope-01"
        )
        with pytest.raises(ValueError, match=r"supplier_quality\)\.supplier"):
            Simulation(dataclasses.replace(SMALL, incidents=(inc,)))

    def test_magnitude_must_be_a_probability(self) -> None:
        """A magnitude outside (0, 1) names the field."""
        inc = SupplierQuality(start=DEFAULT_START, duration=timedelta(days=1), magnitude=3.0)
        with pytest.raises(ValueError, match="magnitude"):
            dataclasses.replace(SMALL, incidents=(inc,))


class TestAddressBurst:
    def test_distinct_customers_share_one_address(self) -> None:
        """Each burst order has its own customer; all go to the one address; label = address."""
        inc = CustomerBurst(
            start=DEFAULT_START + timedelta(hours=12),
            duration=timedelta(minutes=60),
            customer_id="C-NEW",
            address_id="A-NEW",
            magnitude=9.0,
            distinct_customers=True,
        )
        sim, events = _events(dataclasses.replace(SMALL, incidents=(inc,)))
        burst = [
            e.value
            for e in events
            if e.topic == "orders"
            and e.value["status"] == "placed"
            and e.value["address_id"] == "A-NEW"
        ]
        assert len(burst) == 9
        assert len({v["customer_id"] for v in burst}) == 9
        (label,) = build_labels(sim)["incidents"]
        assert [t["dimension"] for t in label["expected"]] == ["address"]


class TestFirstExtraReturn:
    def test_sku_spike_labels_its_first_extra_return(self) -> None:
        """The label gives the first added return's request time, after the spike began."""
        cfg = dataclasses.replace(SMALL, duration=timedelta(days=4), orders_per_day=8_000)
        inc = SkuReturnSpike(start=DEFAULT_START, duration=timedelta(days=2), magnitude=3.0)
        sim, events = _events(dataclasses.replace(cfg, incidents=(inc,)))
        (label,) = build_labels(sim)["incidents"]
        first = parse_ts(label["first_extra_return"])
        assert to_ms(DEFAULT_START) < first < parse_ts(label["end"])
        requests = [
            e.ts_ms
            for e in events
            if e.topic == "orders"
            and e.value["sku"] == label["targets"]["sku"]
            and e.value["status"] in ("return_requested", "exchange_requested")
        ]
        assert first in requests


class TestNuisanceMix:
    def test_every_event_arrives_plus_duplicates_and_malformed(self) -> None:
        """No event is lost; some come twice, some late, and malformed records are mixed in."""
        events = [
            Event(i * 1_000, "orders", f"O-{i}", {"event_id": f"e{i}", "n": i})
            for i in range(2_000)
        ]
        out = list(
            with_nuisances(
                events,
                np.random.default_rng(5),
                late_share=0.05,
                max_late_ms=30_000,
                duplicate_share=0.02,
                malformed_every=500,
            )
        )
        good = [r for r in out if r[2].startswith(b'{"event_id":"e')]
        counts = Counter(r[2] for r in good)
        assert len(counts) == 2_000
        assert 10 < sum(c - 1 for c in counts.values()) < 80
        order = [int(r[1][2:]) for r in good]
        assert any(b < a for a, b in zip(order, order[1:], strict=False))
        assert len(out) - len(good) >= 4

    def test_bad_shares_are_named(self) -> None:
        """A share outside [0, 1) raises ValueError naming the fields."""
        with pytest.raises(ValueError, match="late_share"):
            list(with_nuisances([], np.random.default_rng(0), late_share=1.5))
