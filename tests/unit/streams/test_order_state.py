"""Per-order lifecycle state: transit, lateness, refund delays, lost parcels, bounds."""

from __future__ import annotations

import math

import pytest

from streams.contract.events import OrderEvent
from streams.exceptions import InvalidEvent
from streams.pipeline.order_state import (
    CELL_HISTORY,
    LONE_FACTOR,
    MIN_CELL_SAMPLES,
    OrderBook,
    TransitNorms,
)
from thresholds.tails import poisson_tail

MINUTE = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR


def ev(order: str, status: str, ts: int, **extra: object) -> OrderEvent:
    """An order event of carrier ACME in region north."""
    fields = {"carrier": "ACME", "region": "north", **extra}
    return OrderEvent(f"{order}:{status}", ts, order, status, **fields)  # type: ignore[arg-type]


def book(**kwargs: object) -> OrderBook:
    params = {
        "max_orders": 1000,
        "ttl_ms": 30 * DAY,
        "keep_done_ms": DAY,
        "lost_factor": 2.0,
    } | kwargs
    return OrderBook(**params)  # type: ignore[arg-type]


def train(b: OrderBook, hours: float, n: int = MIN_CELL_SAMPLES, start: int = 0) -> None:
    """Deliver ``n`` parcels that each took ``hours``."""
    for i in range(n):
        b.observe(ev(f"t{start + i}", "shipped", i * HOUR))
        b.observe(ev(f"t{start + i}", "delivered", i * HOUR + int(hours * HOUR)))


class TestTransit:
    def test_delivery_measures_hours_since_shipped(self) -> None:
        """A delivery 30 h after its shipment measures 30 transit hours."""
        b = book()
        assert b.observe(ev("o1", "shipped", 0)) is None
        facts = b.observe(ev("o1", "delivered", 30 * HOUR))
        assert facts is not None and facts.transit_hours == 30.0

    def test_promised_at_decides_lateness(self) -> None:
        """Late means delivered after promised_at, whichever event carried it."""
        b = book()
        b.observe(ev("o1", "placed", 0, promised_at_ms=20 * HOUR))
        b.observe(ev("o1", "shipped", HOUR))
        assert b.observe(ev("o1", "delivered", 21 * HOUR)).late is True  # type: ignore[union-attr]
        b.observe(ev("o2", "shipped", HOUR))
        facts = b.observe(ev("o2", "delivered", 10 * HOUR, promised_at_ms=20 * HOUR))
        assert facts is not None and facts.late is False

    def test_without_promise_late_is_past_the_cells_p90(self) -> None:
        """Without promised_at a delivery is late past its cell's usual p90 (and unknown
        before the cell has history)."""
        b = book()
        b.observe(ev("x", "shipped", 0))
        assert b.observe(ev("x", "delivered", HOUR)).late is None  # type: ignore[union-attr]
        train(b, 40.0)
        b.observe(ev("slow", "shipped", 0))
        assert b.observe(ev("slow", "delivered", 50 * HOUR)).late is True  # type: ignore[union-attr]
        b.observe(ev("fast", "shipped", 0))
        assert b.observe(ev("fast", "delivered", 30 * HOUR)).late is False  # type: ignore[union-attr]

    def test_delivery_without_shipment_measures_nothing(self) -> None:
        """A delivery whose shipment this partition never saw adds no transit time."""
        assert book().observe(ev("o1", "delivered", HOUR)) is None

    def test_reread_delivery_measures_again_a_second_one_does_not(self) -> None:
        """The same delivery read again (after a restart) measures again; another
        delivery of the order at another time measures nothing."""
        b = book()
        b.observe(ev("o1", "shipped", 0))
        first = b.observe(ev("o1", "delivered", 5 * HOUR))
        assert b.observe(ev("o1", "delivered", 5 * HOUR)) == first
        assert b.observe(ev("o1", "delivered", 9 * HOUR)) is None


class TestInconsistentLifecycle:
    @pytest.mark.parametrize(
        ("first", "then"),
        [
            (("shipped", 10 * HOUR), ("delivered", 5 * HOUR)),
            (("delivered", 5 * HOUR), ("shipped", 10 * HOUR)),
            (("return_requested", 10 * HOUR), ("refunded", 5 * HOUR)),
        ],
    )
    def test_refused_with_a_reason(self, first: tuple[str, int], then: tuple[str, int]) -> None:
        """An event contradicting the order's known times is refused, naming ``ts``."""
        b = book()
        b.observe(ev("o1", *first))
        with pytest.raises(InvalidEvent) as caught:
            b.check(ev("o1", *then))
        assert (caught.value.reason, caught.value.field) == ("inconsistent_lifecycle", "ts")


class TestRefund:
    @pytest.mark.parametrize("start", ["return_requested", "exchange_requested", "cancelled"])
    def test_refund_delay_from_request_or_cancellation(self, start: str) -> None:
        """A refund measures the hours since the return request or cancellation."""
        b = book()
        b.observe(ev("o1", start, 0))
        facts = b.observe(ev("o1", "refunded", 50 * HOUR))
        assert facts is not None and facts.refund_hours == 50.0

    def test_refund_without_request_measures_nothing(self) -> None:
        """A refund nobody asked for (as far as this partition knows) adds nothing."""
        assert book().observe(ev("o1", "refunded", HOUR)) is None


class TestLostParcels:
    def test_a_lone_parcel_is_reported_at_lone_factor_times_its_deadline(self) -> None:
        """One undelivered parcel in a quiet cell is overdue at 2 x the cell's p90, but
        alone it could be a straggler: reported once, at LONE_FACTOR x that deadline."""
        b = book()
        train(b, 10.0)
        b.observe(ev("gone", "shipped", 100 * HOUR))
        assert b.due_lost(100 * HOUR + 21 * HOUR) == []
        assert b.due_lost(100 * HOUR + 29 * HOUR) == []
        lost = b.due_lost(100 * HOUR + 31 * HOUR)
        assert [(p.order_id, p.due_ms, p.p90_hours, p.factor, p.carrier) for p in lost] == [
            ("gone", 130 * HOUR, 10.0, 2.0, "ACME")
        ]
        assert LONE_FACTOR == 1.5
        assert b.due_lost(200 * HOUR) == []

    def test_lost_alone_1_reports_a_lone_parcel_at_its_deadline(self) -> None:
        b = book(lost_alone=1.0)
        train(b, 10.0)
        b.observe(ev("gone", "shipped", 100 * HOUR))
        assert [p.due_ms for p in b.due_lost(121 * HOUR)] == [120 * HOUR]

    def test_lone_parcels_are_reported_at_once_where_most_turned_out_lost(self) -> None:
        """Once most lone overdue parcels of the partition stayed lost (here: 3 of 3, the
        prior's least), the next lone one is reported at its deadline."""
        b = book()
        train(b, 10.0)
        for i in range(3):
            b.observe(ev(f"gone{i}", "shipped", (100 + 40 * i) * HOUR))
            assert [p.due_ms for p in b.due_lost((131 + 40 * i) * HOUR)] == [(130 + 40 * i) * HOUR]
        assert b.lone_losses_likely()
        b.observe(ev("next", "shipped", 300 * HOUR))
        assert [p.due_ms for p in b.due_lost(321 * HOUR)] == [320 * HOUR]

    def test_lone_parcels_wait_where_most_arrived(self) -> None:
        b = book()
        train(b, 10.0, n=200)
        for i in range(3):  # three stragglers, overdue and then delivered
            shipped = (300 + 60 * i) * HOUR
            b.observe(ev(f"slow{i}", "shipped", shipped))
            # (each late arrival among so few deliveries moves the deadline out a rung)
            deadline = shipped + round(b.transit.deadline_factor("north,ACME") * 10 * HOUR)
            assert b.due_lost(deadline + HOUR) == []
            b.observe(ev(f"slow{i}", "delivered", deadline + 2 * HOUR))
        assert not b.lone_losses_likely()
        assert b.lone_outcomes == [0.0, 3.0]

    def test_a_wave_is_reported_at_its_deadline(self) -> None:
        """Two parcels of a quiet cell (a few shipments a day) overdue within a minute are
        more than stragglers explain: both are reported when the second is due, once."""
        b = book()
        train(b, 10.0)
        for i in range(2):
            b.observe(ev(f"gone{i}", "shipped", 100 * HOUR + i * MINUTE))
        assert b.due_lost(120 * HOUR + MINUTE // 2) == []
        lost = b.due_lost(120 * HOUR + MINUTE)
        assert [(p.order_id, p.due_ms) for p in lost] == [
            (f"gone{i}", 120 * HOUR + MINUTE) for i in range(2)
        ]
        assert b.due_lost(300 * HOUR) == []

    def test_overdue_parcels_leave_the_evidence_after_a_day(self) -> None:
        b = book()
        train(b, 10.0)
        b.observe(ev("gone", "shipped", 100 * HOUR))
        b.due_lost(121 * HOUR)
        assert b.header()["overdue"] == {"north,ACME": [[120 * HOUR, "gone"]]}
        b.sweep(121 * HOUR + DAY)
        assert b.header()["overdue"] != {}, "kept a second day: verdicts are due behind now"
        b.sweep(121 * HOUR + 2 * DAY)
        assert b.header()["overdue"] == {}

    def test_a_straggler_is_no_evidence(self) -> None:
        """A parcel delivered after its deadline is never reported and does not
        corroborate another: the one still missing waits for its lone deadline."""
        b = book()
        train(b, 10.0)
        for i, name in enumerate(["slow", "gone"]):
            b.observe(ev(name, "shipped", 100 * HOUR + i * MINUTE))
        assert b.due_lost(120 * HOUR + MINUTE // 2) == []
        b.observe(ev("slow", "delivered", 120 * HOUR + MINUTE // 2))
        assert b.due_lost(125 * HOUR) == []
        # (One late arrival among so few deliveries also moves the cell's deadline out.)
        factor = b.transit.deadline_factor("north,ACME")
        lone_due = 100 * HOUR + MINUTE + round(LONE_FACTOR * factor * 10 * HOUR)
        assert b.due_lost(lone_due - MINUTE) == []
        lost = b.due_lost(lone_due)
        assert [(p.order_id, p.due_ms) for p in lost] == [("gone", lone_due)]

    def test_a_busy_cell_needs_more_overdue_parcels(self) -> None:
        """Stragglers scale with the cell's shipments: three overdue parcels corroborate
        each other in a quiet cell (above) but not among 4,000 shipments a day."""
        b = book()
        for i in range(4000):
            b.observe(ev(f"t{i}", "shipped", i * DAY // 4000))
            b.observe(ev(f"t{i}", "delivered", i * DAY // 4000 + 10 * HOUR))
        for i in range(3):
            b.observe(ev(f"gone{i}", "shipped", DAY + i * MINUTE))
        assert b.due_lost(DAY + 21 * HOUR) == []
        assert len(b.due_lost(DAY + 31 * HOUR)) == 3

    def test_a_verdict_is_never_stamped_before_the_last_check(self) -> None:
        """When the cell's p90 falls after a check, the deadline it implies may lie
        before that check: the verdict is stamped just after it, never into the past
        that downstream windows have already closed."""
        b = book()
        train(b, 10.0)
        b.observe(ev("gone", "shipped", 100 * HOUR))
        assert b.due_lost(110 * HOUR) == []
        train(b, 2.0, n=300, start=1000)  # the cell speeds up: p90 2 h, deadline 104 h
        [parcel] = b.due_lost(121 * HOUR)
        assert parcel.due_ms == 110 * HOUR + 1

    def test_a_falling_p90_is_noticed_within_the_hour(self) -> None:
        """Checks run hourly from 0.8 x the deadline: when the cell speeds up (p90 40 h
        to 33 h, deadline 180 h to 166 h) the parcel is reported at the next hourly
        check, not at a check scheduled halfway to the old deadline (172 h)."""
        b = book(lost_alone=1.0)
        train(b, 40.0)
        b.observe(ev("gone", "shipped", 100 * HOUR))
        reported = []
        for hour in range(100, 200):
            if hour == 167:
                train(b, 33.0, n=300, start=1000)
            reported += b.due_lost(hour * HOUR + HOUR // 2)
        [parcel] = reported
        assert parcel.p90_hours == 33.0
        assert parcel.due_ms <= 167 * HOUR + HOUR // 2 + 1

    def test_delivered_parcel_is_never_flagged(self) -> None:
        """A parcel delivered before its deadline is not lost."""
        b = book()
        train(b, 10.0)
        b.observe(ev("late", "shipped", 100 * HOUR))
        b.observe(ev("late", "delivered", 115 * HOUR))
        assert b.due_lost(300 * HOUR) == []

    def test_deadline_follows_a_slower_cell(self) -> None:
        """When the cell's p90 rises meanwhile, the deadline moves out with it."""
        b = book()
        train(b, 10.0)
        b.observe(ev("p", "shipped", 100 * HOUR))
        train(b, 30.0, n=200, start=1000)  # the cell slows down: p90 30 h
        assert b.due_lost(125 * HOUR) == []
        assert b.due_lost(189 * HOUR) == []
        assert [p.due_ms for p in b.due_lost(191 * HOUR)] == [190 * HOUR]


class TestBounds:
    def test_cap_evicts_least_recently_touched(self) -> None:
        """Beyond ``max_orders`` the least recently touched order goes, counted as cap."""
        b = book(max_orders=2)
        for name in ("a", "b"):
            b.observe(ev(name, "shipped", 0))
        b.observe(ev("a", "placed", HOUR))  # touch a: b is now the oldest
        b.observe(ev("c", "shipped", HOUR))
        assert list(b.orders) == ["a", "c"]
        assert b.drain_evictions() == {"cap": 1}

    def test_ttl_and_finished_orders_leave(self) -> None:
        """Unfinished orders leave after the TTL (counted), finished ones after
        ``keep_done_ms`` (not counted: nothing was lost)."""
        b = book(ttl_ms=5 * DAY, keep_done_ms=DAY)
        b.observe(ev("open", "shipped", 0))
        b.observe(ev("done", "shipped", 0))
        b.observe(ev("done", "delivered", HOUR))
        b.sweep(2 * DAY)
        assert set(b.orders) == {"open"}
        b.sweep(6 * DAY)
        assert b.orders == {}
        assert b.drain_evictions() == {"ttl": 1}


class TestSnapshot:
    def test_round_trip_keeps_orders_history_and_deadlines(self) -> None:
        """Orders, cell histories and open deadlines survive a snapshot."""
        b = book()
        train(b, 10.0)
        b.observe(ev("gone", "shipped", 100 * HOUR, promised_at_ms=150 * HOUR))
        header, data = b.header(), b"".join(b.arrays())
        other = book()
        assert other.load(header, data, 0) == len(data)
        assert other.orders == b.orders
        assert other.transit.p90("north,ACME") == 10.0
        assert [p.order_id for p in other.due_lost(130 * HOUR)] == ["gone"]


def test_p90_is_nearest_rank() -> None:
    """The cell's p90 is the nearest-rank 90th percentile of its kept values."""
    norms = TransitNorms()
    for h in range(1, 21):
        norms.add("c", float(h))
    assert norms.p90("c") == 18.0


def replay_with_restore(
    events: list[OrderEvent], snapshot_at: int | None, end_ms: int
) -> tuple[list[tuple[str, int]], OrderBook]:
    """Feed ``events`` to a book, checking deadlines after each, then at ``end_ms``; from
    event number ``snapshot_at`` on, continue on a book restored from its snapshot.
    Returns ``(order id, verdict time)`` of every lost parcel and the last book."""
    b, seen = book(), []
    for n, event in enumerate(events):
        if n == snapshot_at:
            restored = book()
            restored.load(b.header(), b"".join(b.arrays()), 0)
            b = restored
        b.observe(event)
        seen += [(p.order_id, p.due_ms) for p in b.due_lost(event.ts_ms)]
    seen += [(p.order_id, p.due_ms) for p in b.due_lost(end_ms)]
    return seen, b


def test_restored_book_reports_the_same_lost_parcels() -> None:
    """A book restored from a snapshot mid-run reports the same lost parcels at the same
    deadlines as one that ran through (the deadlines in force are in the snapshot)."""

    def events() -> list[OrderEvent]:
        # 25 parcels of 10 h first, so the cell's p90 is known from the start
        out = [ev(f"p{j}", "shipped", (j - 40) * HOUR) for j in range(25)]
        out += [ev(f"p{j}", "delivered", (j - 30) * HOUR) for j in range(25)]
        for i in range(60):
            out.append(ev(f"o{i}", "shipped", i * HOUR))
            if i % 7:  # every seventh parcel never arrives
                out.append(ev(f"o{i}", "delivered", i * HOUR + (8 + i % 5) * HOUR))
        # and a wave of three, shipped within minutes
        out += [ev(f"w{i}", "shipped", HOUR // 2 + i * MINUTE) for i in range(3)]
        return sorted(out, key=lambda e: e.ts_ms)

    def run(snapshot_at: int | None) -> list[tuple[str, int]]:
        return replay_with_restore(events(), snapshot_at, 200 * HOUR)[0]

    straight = run(None)
    # Each is reported once, corroborated by the others still missing: the wave with
    # the first lost parcel, each later one at its deadline.
    assert sorted(order_id for order_id, _ in straight) == sorted(
        [f"o{i}" for i in range(0, 60, 7)] + ["w0", "w1", "w2"]
    )
    due = [ms for _, ms in straight]
    assert 1 < len(set(due)) < len(due)
    for at in (30, 60, 80, 100, 130):
        assert run(at) == straight, at


class TestHeavyTail:
    """A cell whose parcels keep arriving after they were overdue moves its deadline out;
    a cell whose overdue parcels stay lost keeps ``lost_factor`` x p90."""

    @staticmethod
    def flag_then_deliver(b: OrderBook, rounds: int, *, arrive: bool) -> None:
        """Each round: 100 parcels delivered in 10 h, one more shipped that is overdue
        at 2 x p90 and then (``arrive``) delivered at 3.5 x p90."""
        t = 0
        for r in range(rounds):
            for i in range(100):
                b.observe(ev(f"n{r}.{i}", "shipped", t))
                b.observe(ev(f"n{r}.{i}", "delivered", t + 10 * HOUR))
                t += HOUR // 10
            b.observe(ev(f"slow{r}", "shipped", t))
            t += 25 * HOUR
            b.due_lost(t)  # overdue while the deadline is still under 25 h
            if arrive:
                b.observe(ev(f"slow{r}", "delivered", t + 10 * HOUR))
            t += 11 * HOUR

    def test_late_arrivals_move_the_deadline_out(self) -> None:
        b = book()
        self.flag_then_deliver(b, 10, arrive=True)
        factor = b.transit.deadline_factor("north,ACME")
        assert factor > 2.0
        b.observe(ev("next", "shipped", 10_000 * HOUR))
        assert b.due_lost(10_000 * HOUR + 21 * HOUR) == []
        assert b.due_lost(10_000 * HOUR + round(factor * 10 + 1) * HOUR) == []
        late = b.due_lost(10_000 * HOUR + round(LONE_FACTOR * factor * 10 + 1) * HOUR)
        assert [(p.order_id, p.factor) for p in late] == [("next", factor)]

    def test_parcels_that_stay_lost_keep_the_deadline(self) -> None:
        b = book()
        self.flag_then_deliver(b, 10, arrive=False)
        assert b.transit.deadline_factor("north,ACME") == 2.0

    def test_tail_counts_survive_a_snapshot(self) -> None:
        b = book()
        self.flag_then_deliver(b, 10, arrive=True)
        restored = book()
        restored.load(b.header(), b"".join(b.arrays()), 0)
        assert restored.transit.tails == b.transit.tails
        assert restored.transit.deadline_factor("north,ACME") == b.transit.deadline_factor(
            "north,ACME"
        )

    def test_snapshot_without_tail_counts_loads(self) -> None:
        b = book()
        train(b, 10.0)
        header = b.header()
        del header["transit_tails"]
        restored = book()
        restored.load(header, b"".join(b.arrays()), 0)
        assert restored.transit.deadline_factor("north,ACME") == 2.0


def deliver_rounds(
    b: OrderBook, days: int, per_day: int, start: int = 0, until_ms: int | None = None
) -> list[float]:
    """``per_day`` deliveries a day for ``days`` days (up to ``until_ms``) in daytime
    rounds (08:00-20:00, evenly spaced) of one cell: a parcel delivered at hour ``h``
    took ``40 + 3 (h - 8)`` hours (morning deliveries are quick ones). Returns the
    transit times, in order."""
    hours = []
    step = 12 * HOUR // per_day
    for day in range(days):
        for i in range(per_day):
            delivered = day * DAY + 8 * HOUR + i * step
            if until_ms is not None and delivered >= until_ms:
                return hours
            transit = 40.0 + 3.0 * (delivered % DAY - 8 * HOUR) / HOUR
            name = f"r{start + day * per_day + i}"
            b.observe(ev(name, "shipped", delivered - round(transit * HOUR)))
            b.observe(ev(name, "delivered", delivered))
            hours.append(transit)
    return hours


class TestHistorySpan:
    def test_a_busy_cells_p90_covers_the_day_not_the_hour(self) -> None:
        """3,000 deliveries a day, read at 10:00 on the third day: the p90 is about the
        day's (72 h), not the morning's quick parcels' (the newest 256: about 45 h)."""
        b = book()
        hours = deliver_rounds(b, 3, 3_000, until_ms=2 * DAY + 10 * HOUR)
        newest = sorted(hours[-CELL_HISTORY:])[math.ceil(0.9 * CELL_HISTORY) - 1]
        assert newest < 50.0
        p90 = b.transit.p90("north,ACME")
        assert p90 is not None
        assert 66.0 <= p90 <= 76.0
        assert len(b.transit.history["north,ACME"]) == CELL_HISTORY

    def test_a_quiet_cell_keeps_every_delivery(self) -> None:
        """Under CELL_HISTORY deliveries a day every one is kept: the newest 256."""
        b = book()
        hours = deliver_rounds(b, 4, 100)
        kept = list(b.transit.history["north,ACME"])
        assert kept == pytest.approx(hours[-CELL_HISTORY:])

    def test_a_restored_book_keeps_the_same_deliveries(self) -> None:
        """The keep credit survives a snapshot: a restored book keeps the same share."""
        b = book()
        deliver_rounds(b, 1, 3_000)
        restored = book()
        restored.load(b.header(), b"".join(b.arrays()), 0)
        deliver_rounds(b, 1, 3_000, start=100_000)
        deliver_rounds(restored, 1, 3_000, start=100_000)
        assert restored.transit.history == b.transit.history
        assert restored.transit.pace == b.transit.pace


@pytest.mark.parametrize(
    ("k", "mean", "expected"),
    [(0, 3.0, 1.0), (1, 0.5, 1 - math.exp(-0.5)), (3, 2.0, 0.3233235838169366)],
)
def test_poisson_tail_as_the_deadline_test_uses_it(k: int, mean: float, expected: float) -> None:
    assert poisson_tail(k, mean) == pytest.approx(expected)


def test_restored_book_reports_lone_parcels_alike() -> None:
    """Lone overdue parcels (a day and more apart, so none corroborates another), some
    stragglers among them: a restored book waits, learns and reports as one that ran
    through (the pending state, the lone outcomes and the last check are in the
    snapshot)."""

    def events() -> list[OrderEvent]:
        out = [ev(f"p{j}", "shipped", (j - 40) * HOUR) for j in range(25)]
        out += [ev(f"p{j}", "delivered", (j - 30) * HOUR) for j in range(25)]
        for i in range(12):
            out.append(ev(f"o{i}", "shipped", i * 30 * HOUR))
            if i % 3 == 1:  # a straggler: delivered after its deadline (20 h)
                out.append(ev(f"o{i}", "delivered", i * 30 * HOUR + 24 * HOUR))
            elif i % 3 == 2:  # on time
                out.append(ev(f"o{i}", "delivered", i * 30 * HOUR + 9 * HOUR))
            out.append(ev(f"due{i}", "placed", i * 30 * HOUR + 21 * HOUR))  # past 2 x p90
            out.append(ev(f"tick{i}", "placed", i * 30 * HOUR + 29 * HOUR))
        return sorted(out, key=lambda e: e.ts_ms)

    def run(snapshot_at: int | None) -> tuple[list[tuple[str, int]], list[float]]:
        seen, last = replay_with_restore(events(), snapshot_at, 400 * HOUR)
        return seen, last.lone_outcomes

    straight, outcomes = run(None)
    assert [order_id for order_id, _ in straight] == [f"o{i}" for i in range(0, 12, 3)]
    assert outcomes[1] > 0  # stragglers were counted
    for at in range(55, 95, 6):
        assert run(at) == (straight, outcomes), at
