"""Bursts judged against the entity's own history (busy by nature) or the population."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thresholds import entity_rate
from thresholds.entity_rate import BurstVerdict, EntityRates, upper_bound

WINDOW, HOP = 600_000, 300_000
DAY = 86_400_000


def shop(
    rng: np.random.Generator,
    rates: EntityRates,
    hops: int,
    start: int = 0,
    busy: float = 0.0,
    factor: float = 1.0,
) -> list[tuple[int, str, float]]:
    """``hops`` windows of a shop with 40 one-off customers per window and a pick-up
    point taking ``busy`` of its orders; returns every violation."""
    fired = []
    for h in range(hops):
        end = start + (h + 2) * HOP
        counts = {f"C-{start}-{h}-{i}": 1.0 for i in range(int(rng.poisson(40 * factor)))}
        pickup = float(rng.poisson(busy * 40 * factor * 2))  # a window spans two hops
        if pickup:
            counts["PICKUP"] = pickup
        for key, verdict in rates.close(end, counts).items():
            if verdict.violating:
                fired.append((end, key, verdict.count))
    return fired


def watched_a_day() -> EntityRates:
    """A state that started judging a day before ``t = 0``: its slow horizon is judged."""
    return EntityRates(WINDOW, HOP, started_ms=-DAY)


def test_a_new_entity_with_many_orders_in_one_window_fires_fast() -> None:
    rates = EntityRates(WINDOW, HOP)
    verdict = rates.close(WINDOW, {"NEW": 7.0, "C-1": 1.0})
    assert verdict["NEW"].violating and verdict["NEW"].horizon == "fast"
    assert not verdict["C-1"].violating


def test_orders_spread_over_an_hour_add_up_on_the_slow_horizon() -> None:
    """Nine orders in an hour from a fresh customer: no window reaches the fast floor,
    the decayed count does."""
    rates = watched_a_day()
    per_window = [2, 2, 1, 2, 2, 2, 1, 2, 2, 2, 2, 2]  # ~1 order per 6-7 minutes
    horizons = [
        rates.close((i + 2) * HOP, {"SLOW": float(c)})["SLOW"] for i, c in enumerate(per_window)
    ]
    assert not any(v.horizon == "fast" for v in horizons)
    assert any(v.violating and v.horizon == "slow" for v in horizons)


def test_one_order_every_ten_minutes_counts_from_the_first_order() -> None:
    """Eight orders 10 minutes apart from a fresh customer: no 10-minute window holds
    two, yet the slow horizon counts every order and fires before the eighth window is
    over (the matrix's subtle burst, 8-11 orders in 45-90 minutes). Its decayed count
    makes it busy on the way, but without a day of history it is judged against the
    population's floors."""
    rates = watched_a_day()
    verdicts = [rates.close((i + 2) * HOP, {"SPREAD": 1.0})["SPREAD"] for i in range(16)]
    assert all(v.expected == 0.0 for v in verdicts)  # no history: the population's floors
    fired = [i for i, v in enumerate(verdicts) if v.violating]
    assert fired and fired[0] >= 8 and verdicts[fired[0]].horizon == "slow"


def test_an_open_slow_burst_is_held_until_its_decayed_count_settles() -> None:
    """Nine orders 12 minutes apart cross the slow edge and fall back under it between
    orders. A key with an open episode (``also``) is held, not calm, while its decayed
    count is above ``hold_below`` of the edge, so it fires once and resolves after the
    last order; judged as not open, it reads calm between orders and fires again."""
    orders = [k * 12 * 60_000 for k in range(9)]

    def run(hold: bool) -> tuple[int, list[float], int | None]:
        rates = watched_a_day()
        is_open, fires, held, resolved_at = False, 0, [], None
        for end in range(HOP, 4 * 3_600_000, HOP):
            count = float(sum(end - WINDOW <= t < end for t in orders))
            also = ["SLOW"] if is_open and hold else []
            verdict = rates.close(end, {"SLOW": count} if count else {}, also).get("SLOW")
            if verdict is None:
                if is_open and not hold:
                    is_open = False
                continue
            if verdict.violating:
                fires += 0 if is_open else 1
                is_open = True
            elif verdict.held:
                held.append(verdict.slow)
                assert 0.75 * verdict.slow_edge < verdict.slow <= verdict.slow_edge
            elif is_open:
                is_open, resolved_at = False, end
        return fires, held, resolved_at

    fires, held, resolved_at = run(hold=True)
    assert fires == 1 and held and resolved_at is not None and resolved_at > orders[-1]
    assert run(hold=False)[0] > 1  # what paged anew before


def test_a_fast_burst_is_not_held_once_its_window_passes() -> None:
    """Seven orders in one window count 3.5 on the slow horizon (each order 1 / overlap):
    under three quarters of its edge, so the episode resolves at the next quiet window as
    before."""
    rates = EntityRates(WINDOW, HOP)
    assert rates.close(WINDOW, {"NEW": 7.0})["NEW"].horizon == "fast"
    after = rates.close(WINDOW + 2 * HOP, {}, ["NEW"])["NEW"]
    assert not after.violating and not after.held and after.slow < 3.75


@pytest.mark.parametrize("warmup", [DAY, DAY // 2])
def test_a_fresh_state_learns_for_its_warmup_then_judges(warmup: int) -> None:
    """For ``warmup_ms`` after its first window a state only learns: a regular (one order
    in every window closed each 6 minutes, a decayed count of about 7) and a seven-order
    burst are quiet. The regular, tracked meanwhile, is
    judged against itself after it, even when the warm-up is shorter than
    ``min_history_ms``; a new entity's burst fires on either horizon. A state
    saved before ``started_ms`` was kept loads as started long ago (no new warm-up after
    an upgrade), and ``started_ms`` survives a snapshot."""
    rates = EntityRates(WINDOW, HOP, warmup_ms=warmup)
    first_day = [
        rates.close(end, {"REGULAR": 1.0, **({"BOT": 7.0} if end == 20 * HOP else {})})
        for end in range(2 * HOP, warmup, 6 * 60_000)
    ]
    assert not any(v.violating for verdicts in first_day for v in verdicts.values())
    assert "REGULAR" in rates.entities
    later = [
        rates.close(end, {"REGULAR": 1.0, "NEW": 1.0})
        for end in range(warmup + 2 * HOP, warmup + 4 * 3_600_000, 6 * 60_000)
    ]
    assert not any(v["REGULAR"].violating for v in later)
    fired = next(v["NEW"] for v in later if v["NEW"].violating)
    assert fired.horizon == "slow" and fired.slow > fired.slow_edge == 5.0
    assert rates.close(warmup + 5 * 3_600_000, {"BOT2": 7.0})["BOT2"].horizon == "fast"
    assert rates.to_dict()["started_ms"] == 2 * HOP
    older = rates.to_dict()
    del older["started_ms"]
    restored = EntityRates(WINDOW, HOP, warmup_ms=warmup)
    restored.load(older)
    assert restored.started_ms == 0.0
    restored.load(rates.to_dict())
    assert restored.started_ms == 2 * HOP


def test_a_customer_ordering_every_few_hours_is_judged_against_itself() -> None:
    """A customer with ~10 orders a day, never two in one window (the second shop's
    FC0000122 at 3x), is busy by its decayed count and, after a day of history, judged
    against its own rate: eight orders in 80 minutes stay quiet for it, while the same
    eight from a fresh customer fire on the slow horizon."""
    rng = np.random.default_rng(3)
    rates = EntityRates(WINDOW, HOP)
    burst_from = 3 * 288 + 180  # day 3, 15:00
    # Each day three orders 20 minutes apart from 09:00, then one every 2 hours.
    day = {108, 112, 116, *range(132, 288, 24)}
    regular = {d * 288 + h for d in range(3) for h in day}
    burst = set(range(burst_from, burst_from + 16, 2))  # then one every 10 minutes
    hops: list[dict[str, float]] = []
    fired: dict[str, list[str | None]] = {"REGULAR": [], "FRESH": []}
    for h in range(burst_from + 24):
        orders = {f"C-{h}-{i}": 1.0 for i in range(int(rng.poisson(20)))}
        if h in regular or h in burst:
            orders["REGULAR"] = 1.0
        if h in burst:
            orders["FRESH"] = 1.0
        hops.append(orders)
        window: dict[str, float] = {}
        for part in hops[-2:]:  # a 10-minute window spans two 5-minute hops
            for key, n in part.items():
                window[key] = window.get(key, 0.0) + n
        verdicts = rates.close((h + 1) * HOP, window, ["REGULAR", "FRESH"])
        for key, found in fired.items():
            if h >= burst_from and verdicts[key].violating:
                found.append(verdicts[key].horizon)
    assert "REGULAR" in rates.entities
    assert not fired["REGULAR"]
    assert fired["FRESH"] and set(fired["FRESH"]) == {"slow"}


def test_four_orders_in_an_hour_stay_quiet() -> None:
    rates = EntityRates(WINDOW, HOP)
    counts = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0]  # an order every 15 minutes
    verdicts = [
        rates.close((i + 2) * HOP, {"C-4": float(c)} if c else {}, ["C-4"])["C-4"]
        for i, c in enumerate(counts)
    ]
    assert not any(v.violating for v in verdicts)


def test_recent_counts_fade_and_are_bounded() -> None:
    """Entities that ordered once are kept only while their count matters, and never
    more than ``max_entities`` of them (a key flood)."""
    rates = EntityRates(WINDOW, HOP, max_entities=100)
    for h in range(20):
        rates.close((h + 2) * HOP, {f"ONCE-{h}-{i}": 1.0 for i in range(30)})
        assert len(rates.recent) <= 100
    rates.close(24 * HOP + 6 * 3_600_000, {})
    assert not rates.recent  # faded below recent_forget_below after a few half-lives


def test_no_recent_counts_without_a_slow_horizon() -> None:
    """shared_address has no slow horizon: it keeps nothing for one-off entities."""
    rates = EntityRates(WINDOW, HOP, slow_floor=math.inf)
    rates.close(WINDOW, {"A-1": 1.0, "A-2": 1.0})
    assert not rates.recent


def test_a_snapshot_without_recent_counts_loads() -> None:
    """Snapshots written before the slow horizon counted from the first order."""
    rates = EntityRates(WINDOW, HOP)
    rates.load({"totals": [1.0, 1.0, 0.0], "entities": {}})
    assert rates.recent == {}


def test_a_customer_ordering_twice_does_not_fire() -> None:
    rates = EntityRates(WINDOW, HOP)
    assert not rates.close(WINDOW, {"C-1": 2.0})["C-1"].violating
    assert not rates.close(WINDOW + HOP, {"C-1": 2.0})["C-1"].violating


def test_a_busy_pickup_point_is_judged_against_itself_even_in_a_promotion() -> None:
    """A pick-up point with 15 % of all orders (~12 a window, far above the population's
    floor) stays quiet after its first day, also when the shop doubles; a jump to 5x
    its share fires."""
    rng = np.random.default_rng(7)
    rates = EntityRates(WINDOW, HOP)
    shop(rng, rates, 288, busy=0.15)  # day 1: new, fires on the population floor
    quiet = shop(rng, rates, 288 * 2, start=DAY, busy=0.15)
    promo = shop(rng, rates, 96, start=3 * DAY, busy=0.15, factor=2.5)
    assert not [f for f in quiet + promo if f[1] == "PICKUP"]
    jump = shop(rng, rates, 6, start=4 * DAY, busy=0.75)
    assert [f for f in jump if f[1] == "PICKUP"]


def test_state_is_bounded_and_round_trips() -> None:
    rates = EntityRates(WINDOW, HOP, max_entities=100)
    for h in range(50):
        rates.close((h + 2) * HOP, {f"E-{h}-{i}": 3.0 for i in range(10)})
    assert len(rates.entities) <= 100
    copy = EntityRates(WINDOW, HOP, max_entities=100)
    copy.load(rates.to_dict())
    rates.close(51 * HOP, {"ONCE": 1.0})  # a recent, not busy entity
    copy.load(rates.to_dict())
    assert copy.recent == rates.recent and copy.recent
    counts = {"E-49-1": 9.0, "NEW": 2.0, "ONCE": 1.0}
    assert copy.close(60 * HOP, counts) == rates.close(60 * HOP, counts)
    assert rates.sweep(200 * DAY) > 0 and not rates.entities  # faded entities are forgotten


def test_upper_bound_is_the_poisson_band_in_the_anscombe_scale() -> None:
    assert abs(upper_bound(0.0, 0.0)) < 1e-12
    assert 20.0 < upper_bound(10.0, 3.0) < 25.0


def test_quiet_verdicts_of_new_keys_are_shared_and_equal_to_built_ones() -> None:
    rates = EntityRates(window_ms=600_000, hop_ms=300_000, floor=4.5, slow_floor=5.0)
    verdicts = rates.close(600_000, {f"C-{i}": 1.0 for i in range(50)} | {"C-x": 3.0})
    ones = [verdicts[f"C-{i}"] for i in range(50)]
    assert ones[0] == BurstVerdict(1.0, 0.0, 4.5, False, None, 0.0)
    assert all(verdict is ones[0] for verdict in ones)  # one object, not fifty
    assert verdicts["C-x"] == BurstVerdict(3.0, 0.0, 4.5, False, None, 0.0)
    assert rates.close(1_200_000, {"C-y": 7.0})["C-y"].violating  # over the floor: judged


def test_quiet_verdict_sharing_keeps_odd_counts_apart_and_stays_bounded() -> None:
    negative_zero = entity_rate._quiet(-0.0, 4.5)
    assert math.copysign(1.0, negative_zero.count) < 0  # not the shared 0.0 verdict
    assert entity_rate._quiet(0.0, 4.5) is entity_rate._quiet(0.0, 4.5)
    nan = entity_rate._quiet(math.nan, 4.5)
    assert math.isnan(nan.count) and not nan.violating
    assert entity_rate._quiet(1e6, 4.5) is not entity_rate._quiet(1e6, 4.5)
    for i in range(10_000):
        entity_rate._quiet(i / 1000, 4.5)
    assert len(entity_rate._QUIET) <= 4096
