"""Detection scenarios at the noise floor, through ``replay`` with the shipped rules
(issue #16): each builds plain traffic of a known noise, injects one change of a
known size, and checks the shipped rule fires in time, or stays quiet on a smooth
business ramp. They fail if the engine loses sensitivity or starts paging on ramps.
"""

from __future__ import annotations

import functools
import json
import math
import tomllib
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import numpy as np
import pytest

from alerts.model import AlertEvent, datetime_to_ms
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules

pytestmark = pytest.mark.slow

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_791_936_000_000  # 2026-10-14T00:00:00Z, a Wednesday
DAYS = 9  # history before the incident


def shipped(*names: str) -> RuleSet:
    """The shipped rules, only ``names`` enabled (the others cost time, not meaning)."""
    document = tomllib.loads(
        resources.files("streams").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    document["rules"] = {k: v for k, v in document["rules"].items() if k in names}
    return parse_rules(document)


def daily(t_ms: int) -> float:
    """A smooth day profile: quiet nights, busy afternoons (mean 1)."""
    hour = (t_ms % DAY) / HOUR
    return 1.0 + 0.6 * math.sin(2 * math.pi * (hour - 9) / 24)


def replay(rules: RuleSet, records: Iterator[dict[str, Any]]) -> list[AlertEvent]:
    lines = (
        (
            r["topic"],
            r["value"][r["key"]].encode(),
            json.dumps(r["value"], separators=(",", ":")).encode(),
        )
        for r in records
    )
    return list(ReplayPipeline(rules, partitions=2, max_future_ms=None, risk=False).run(lines))


def firing(alerts: list[AlertEvent], rule: str, key: str | None = None) -> list[AlertEvent]:
    return [
        a
        for a in alerts
        if a.status == "firing" and a.rule == rule and (key is None or a.key == key)
    ]


def end_ms(alert: AlertEvent) -> int:
    return datetime_to_ms(alert.window_end)


def iso(ms: int) -> str:
    return np.datetime_as_string(np.datetime64(ms, "ms"), unit="ms") + "Z"


# -- service queues ---------------------------------------------------------------------


def waits(
    rng: np.random.Generator,
    per_30min: float,
    until_ms: int,
    factor: Callable[[int], float],
    breach: Callable[[int], float] | None = None,
    draw: Callable[[np.random.Generator], float] | None = None,
) -> Iterator[dict[str, Any]]:
    """Tickets of queue ``delivery``: Poisson arrivals, lognormal waits (median 140 s,
    log-sd 0.7, so p90 ~340 s) or ``draw(rng)`` times ``factor(t)``; or, with
    ``breach``, that share of waits above 15 min."""
    t, i = T0, 0
    while t < until_ms:
        t += int(rng.exponential(30 * MIN / (per_30min * daily(t))))
        i += 1
        if breach is not None:
            wait = (
                float(rng.uniform(901, 2400))
                if rng.random() < breach(t)
                else float(rng.uniform(20, 880))
            )
        else:
            usual = draw(rng) if draw is not None else float(np.exp(rng.normal(math.log(140), 0.7)))
            wait = usual * factor(t)
        yield {
            "topic": "wait-times",
            "key": "ticket_id",
            "value": {
                "event_id": f"w{i}",
                "ts": t,
                "ticket_id": f"T{i}",
                "queue": "delivery",
                "wait_seconds": round(wait, 1),
            },
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wait_surge_x4_at_20_to_40_waits_fires_within_two_windows(seed: int) -> None:
    """Waits x4 for 3 h in a queue of 20-40 waits per 30 min: wait_time_p90 fires on
    a window that ends at most two window lengths after the surge began (the founding
    example of the product)."""
    start = T0 + DAYS * DAY + 14 * HOUR
    rules = shipped("wait_time_p90")
    alerts = replay(
        rules,
        waits(
            np.random.default_rng(seed),
            30,
            start + 4 * HOUR,
            lambda t: 4.0 if start <= t < start + 3 * HOUR else 1.0,
        ),
    )
    before = [a for a in firing(alerts, "wait_time_p90") if end_ms(a) <= start]
    assert not before, f"false alarm before the surge: {[a.window_end for a in before]}"
    fired = firing(alerts, "wait_time_p90", "delivery")
    assert fired, "the x4 surge did not fire"
    assert end_ms(fired[0]) <= start + 2 * rules.rules[0].window_ms, (
        iso(start),
        fired[0].window_end,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_wait_surge_x4_at_a_few_waits_fires_within_two_windows(seed: int) -> None:
    """The same surge in a queue of ~6 waits per 30 min (~290 tickets a day): no window
    holds the 20 waits a p90 needs, so only a statistic that weighs every window by its
    size (the mean of log waits) sees it; it must fire within two window lengths (30 min
    on seeds 1-5 when written), and not before the surge."""
    start = T0 + DAYS * DAY + 15 * HOUR
    rules = shipped("wait_time_p90")
    alerts = replay(
        rules,
        waits(
            np.random.default_rng(seed),
            6,
            start + 4 * HOUR,
            lambda t: 4.0 if start <= t < start + 3 * HOUR else 1.0,
        ),
    )
    before = [a for a in firing(alerts, "wait_time_p90") if end_ms(a) <= start]
    assert not before, f"false alarm before the surge: {[a.window_end for a in before]}"
    fired = firing(alerts, "wait_time_p90", "delivery")
    assert fired, "the x4 surge did not fire"
    assert end_ms(fired[0]) <= start + 2 * rules.rules[0].window_ms, (
        iso(start),
        fired[0].window_end,
    )
    assert fired[0].observed > 4 * 300, "the alert reports the window's p90"


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_wait_surge_x4_at_a_few_short_waits_fires_while_it_lasts(seed: int) -> None:
    """The same surge in a queue of ~4 waits per 30 min whose waits are mostly short
    (gamma, shape 0.9, mean 40 s: many answered at once, p90 ~90 s). Windows of two or
    three waits in the surge often have a p90 under the rule's 2-minute guard; such a
    window used to reset the gathered evidence, and seed 3 never fired (12 seeds when
    written: 9 fire within the 3 h, after 30-150 min; 8 before). A window the guard
    refuses may now lower the evidence but not wipe it out."""
    start = T0 + DAYS * DAY + 15 * HOUR
    surge = 3 * HOUR
    alerts = replay(
        shipped("wait_time_p90"),
        waits(
            np.random.default_rng(seed),
            4,
            start + 4 * HOUR,
            lambda t: 4.0 if start <= t < start + surge else 1.0,
            draw=lambda rng: float(rng.gamma(0.9, 40 / 0.9)),
        ),
    )
    before = [a for a in firing(alerts, "wait_time_p90") if end_ms(a) <= start]
    assert not before, f"false alarm before the surge: {[a.window_end for a in before]}"
    fired = firing(alerts, "wait_time_p90", "delivery")
    assert fired, "the x4 surge did not fire"
    assert end_ms(fired[0]) <= start + surge, (iso(start), fired[0].window_end)


def busy_evenings(seed: int, surge_at: int | None = None) -> Callable[[int], float]:
    """Each day's evening (17:00-23:00) waits times its own load factor, log-normal with
    log-sd 0.08 (a busier evening queues longer); with ``surge_at``, x2 for 2 h from it."""
    levels = np.exp(np.random.default_rng([seed, 7]).normal(0.0, 0.08, DAYS + 2))

    def factor(t: int) -> float:
        hour = (t % DAY) / HOUR
        x = float(levels[(t - T0) // DAY]) if 17 <= hour < 23 else 1.0
        if surge_at is not None and surge_at <= t < surge_at + 2 * HOUR:
            x *= 2.0
        return x

    return factor


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_busy_queue_whose_evenings_differ_does_not_page(seed: int) -> None:
    """A busy queue (200 waits per 30 min on average, the quality matrix's 3x) whose
    evenings differ by their load (log-sd 0.08, so 1 evening in 20 is 14 % busier): no
    wait_time_p90 episode in ten days. The log-mean of 300 waits is known to +-4 %, far
    tighter than evenings differ; without the band's floor (``min_scale``) these seeds
    paged 3, 3 and 2 times (4 of seeds 1-6 paged)."""
    until = T0 + (DAYS + 1) * DAY
    alerts = replay(
        shipped("wait_time_p90"),
        waits(np.random.default_rng(seed), 200, until, busy_evenings(seed)),
    )
    fired = [a.window_end for a in firing(alerts, "wait_time_p90")]
    assert not fired, f"ordinary busy evenings paged: {fired}"


@pytest.mark.parametrize("seed", [1, 2])
def test_busy_queue_x2_surge_fires_while_it_lasts(seed: int) -> None:
    """The same busy queue, waits x2 for 2 h from 20:00 (the matrix's subtle surge): it
    fires while the surge lasts, and not before it."""
    start = T0 + DAYS * DAY + 20 * HOUR
    alerts = replay(
        shipped("wait_time_p90"),
        waits(np.random.default_rng(seed), 200, start + 3 * HOUR, busy_evenings(seed, start)),
    )
    fired = firing(alerts, "wait_time_p90", "delivery")
    assert not [a for a in fired if end_ms(a) <= start], "paged before the surge"
    assert fired, "the x2 surge did not fire"
    assert end_ms(fired[0]) <= start + 2 * HOUR, (iso(start), fired[0].window_end)


@pytest.mark.parametrize("seed", [1, 2])
def test_sla_share_25_percent_against_3_percent_fires(seed: int) -> None:
    """The share of waits over 15 min at 25 % against a normal 3 %: the product's own
    example ("alarm when the share reaches 20 %, then adapt") fires within 2 windows."""
    start = T0 + DAYS * DAY + 14 * HOUR
    rules = shipped("wait_sla_breach_share")
    alerts = replay(
        rules,
        waits(
            np.random.default_rng(seed),
            30,
            start + 4 * HOUR,
            lambda t: 1.0,
            lambda t: 0.25 if start <= t < start + 3 * HOUR else 0.03,
        ),
    )
    assert not [a for a in firing(alerts, "wait_sla_breach_share") if end_ms(a) <= start]
    fired = firing(alerts, "wait_sla_breach_share", "delivery")
    assert fired and end_ms(fired[0]) <= start + 2 * rules.rules[0].window_ms


# -- orders -----------------------------------------------------------------------------


def placed(i: int, t: int, channel: str) -> dict[str, Any]:
    """The ``i``-th placed order, at ``t``, of ``channel``."""
    return {
        "topic": "orders",
        "key": "order_id",
        "value": {
            "event_id": f"o{i}",
            "ts": t,
            "order_id": f"O{i}",
            "status": "placed",
            "channel": channel,
            "region": "north",
            "category": "shoes",
        },
    }


def orders(
    rng: np.random.Generator, per_15min: float, until_ms: int, factor: Callable[[int], float]
) -> Iterator[dict[str, Any]]:
    """Placed orders of channel ``app``: Poisson, daily profile times ``factor(t)``."""
    t, i = T0, 0
    while t < until_ms:
        t += int(rng.exponential(15 * MIN / (per_15min * daily(t) * factor(t))))
        i += 1
        yield placed(i, t, "app")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_drop_by_half_for_90_minutes_fires(seed: int) -> None:
    """~30 orders per 15 min halve for 90 min (a checkout outage): order_volume fires,
    down, while the outage lasts. The shop has one channel, so its total is the channel:
    the total fires (the channel, judged as its share of the total, cannot)."""
    start = T0 + DAYS * DAY + 15 * HOUR
    alerts = replay(
        shipped("order_volume"),
        orders(
            np.random.default_rng(seed),
            30,
            start + 3 * HOUR,
            lambda t: 0.5 if start <= t < start + 90 * MIN else 1.0,
        ),
    )
    assert not [a for a in firing(alerts, "order_volume") if end_ms(a) <= start]
    fired = [a for a in firing(alerts, "order_volume", "all") if a.direction == "down"]
    assert fired and end_ms(fired[0]) <= start + 90 * MIN, "the halving did not fire"


def channel_orders(
    rng: np.random.Generator,
    per_15min: float,
    until_ms: int,
    keep: Callable[[int, str], float],
    factor: Callable[[int], float] | None = None,
) -> Iterator[dict[str, Any]]:
    """Placed orders of a shop with three channels (app 55 %, web 35 %, mini 10 %):
    Poisson, daily profile (times ``factor(t)`` if given); an order of channel ``c`` at
    ``t`` is kept with probability ``keep(t, c)``."""
    t, i = T0, 0
    names = ("app", "web", "mini")
    while t < until_ms:
        rate = per_15min * daily(t) * (1.0 if factor is None else factor(t))
        t += int(rng.exponential(15 * MIN / rate))
        i += 1
        channel = names[int(rng.choice(3, p=(0.55, 0.35, 0.10)))]
        if rng.random() < keep(t, channel):
            yield placed(i, t, channel)


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(
            1,
            marks=pytest.mark.xfail(
                strict=True,
                reason="a one-window blip on seed 1 fires (the outage itself fires "
                "30 min in): 115 h before it, app had 48 of 129 orders in 18:45-19:00 "
                "against a share of 0.55 (71 expected, binomial z -4.1). Read under the "
                "18:00 hour slot (slot_lag_ms), the baseline was 74.7 instead of 71.7 "
                "and the window 1.63 band half-widths out, past fire_immediately_at 1.5; "
                "the hour slots of a share with no hour profile learn noise",
            ),
        ),
        2,
        3,
    ],
)
def test_small_channel_halved_for_two_hours_fires_while_it_lasts(seed: int) -> None:
    """A checkout outage on a small channel: ~10 of the shop's ~100 orders per 15 min
    halve for 2 h. The channel, judged as its share of the total, is at its noise floor
    (a halving is about 2 sigma a window) and fires on sequential evidence while the
    outage lasts; nothing fires before it."""
    start = T0 + DAYS * DAY + 14 * HOUR
    alerts = replay(
        shipped("order_volume"),
        channel_orders(
            np.random.default_rng(seed),
            100,
            start + 3 * HOUR,
            lambda t, c: 0.5 if c == "mini" and start <= t < start + 2 * HOUR else 1.0,
        ),
    )
    assert not [a for a in firing(alerts, "order_volume") if end_ms(a) <= start]
    fired = [a for a in firing(alerts, "order_volume", "mini") if a.direction == "down"]
    assert fired and end_ms(fired[0]) <= start + 2 * HOUR, "the halving did not fire"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_smooth_ramp_to_two_and_a_half_does_not_fire(seed: int) -> None:
    """A promotion: orders ramp smoothly to x2.5 over 8 h, hold 12 h and ramp back over
    8 h. Business as usual: no order_volume episode (the total watches drops only, and
    the ramp back is slow enough for its level to follow)."""
    start = T0 + DAYS * DAY + 6 * HOUR

    def promo(t: int) -> float:
        x = (t - start) / HOUR
        if x < 0 or x > 28:
            return 1.0
        if x < 8:
            return 1.0 + 1.5 * (1 - math.cos(math.pi * x / 8)) / 2
        if x < 20:
            return 2.5
        return 1.0 + 1.5 * (1 + math.cos(math.pi * (x - 20) / 8)) / 2

    alerts = replay(
        shipped("order_volume"), orders(np.random.default_rng(seed), 30, start + 36 * HOUR, promo)
    )
    fired = [a.window_end for a in firing(alerts, "order_volume") if end_ms(a) > start]
    assert not fired, f"the ramp fired: {fired}"


def test_severity_follows_the_episode() -> None:
    """Waits x1.8 for an hour, then x8: the episode fires once, then fires again with the
    same alert_id and started_at and a higher severity; it resolves at that severity.
    (x1.8: the log-mean statistic sees x2.2 at 30 waits a window as critical at once, and
    the band's floor of +-15 % (``min_scale``) leaves x1.6 for the CUSUM, which fires at x8.)"""
    start = T0 + DAYS * DAY + 14 * HOUR

    def factor(t: int) -> float:
        return 1.8 if start <= t < start + HOUR else 8.0 if start <= t < start + 3 * HOUR else 1.0

    alerts = replay(
        shipped("wait_time_p90"), waits(np.random.default_rng(7), 30, start + 5 * HOUR, factor)
    )
    episode = [a for a in alerts if a.rule == "wait_time_p90" and end_ms(a) > start]
    assert episode and episode[0].status == "firing"
    same = [a for a in episode if a.alert_id == episode[0].alert_id]
    ranks = {"info": 1, "warning": 2, "critical": 3}
    firings = [a for a in same if a.status == "firing"]
    assert len(firings) >= 2, [(a.status, a.severity, a.window_end) for a in episode]
    assert [ranks[a.severity] for a in firings] == sorted({ranks[a.severity] for a in firings})
    assert firings[-1].severity == "critical"
    assert {a.started_at for a in same} == {episode[0].started_at}
    assert same[-1].status == "resolved" and same[-1].severity == "critical"


# -- logistics --------------------------------------------------------------------------


#: 4 regions x 5 carriers; north/SF gets 2 % of the deliveries.
CELLS = [
    (r, c) for r in ("north", "south", "east", "west") for c in ("SF", "YTO", "ZTO", "JD", "EMS")
]
CELL_WEIGHTS = np.array([0.02 if cell == ("north", "SF") else 0.98 / 19 for cell in CELLS])


#: What a delivery leads to later, if anything: its time and record, from the delivery's
#: time, number and fields.
FollowUp = Callable[[int, int, dict[str, str]], tuple[int, dict[str, Any]] | None]


def delivered(
    rng: np.random.Generator,
    per_day: float,
    until_ms: int,
    follow: FollowUp,
    draw: Callable[[int], dict[str, str]] | None = None,
    **fields: str,
) -> Iterator[dict[str, Any]]:
    """Deliveries with the daily profile, each with ``fields`` and what ``follow`` makes of
    it later, all in time order. Delivery ``i`` goes where ``draw(i)`` says (its order id
    added); without ``draw``, over :data:`CELLS` (north/SF gets 2 % of them)."""
    pending: list[tuple[int, dict[str, Any]]] = []
    t, i = T0, 0
    while t < until_ms:
        t += int(rng.exponential(DAY / (per_day * daily(t))))
        i += 1
        if draw is None:
            region, carrier = CELLS[int(rng.choice(len(CELLS), p=CELL_WEIGHTS))]
            drawn = {"region": region, "carrier": carrier, "sku": f"S{i % 50}"}
        else:
            drawn = draw(i)
        while pending and pending[0][0] <= t:
            yield pending.pop(0)[1]
        where = {"order_id": f"O{i}"} | drawn
        yield {
            "topic": "orders",
            "key": "order_id",
            "value": {"event_id": f"d{i}", "ts": t, "status": "delivered"} | where | fields,
        }
        later = follow(t, i, where)
        if later is not None:
            pending.append(later)
            pending.sort(key=lambda item: item[0])


def deliveries(
    rng: np.random.Generator,
    per_day: float,
    until_ms: int,
    complaint_share: Callable[[int, str], float],
) -> Iterator[dict[str, Any]]:
    """:func:`delivered`; each delivery draws a damage complaint with
    ``complaint_share(t, cell)``, filed 1-20 h later."""

    def complaint(t: int, i: int, where: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        region, carrier = where["region"], where["carrier"]
        if rng.random() >= complaint_share(t, f"{region},{carrier}"):
            return None
        filed = t + int(rng.uniform(1, 20) * HOUR)
        value = {"event_id": f"k{i}", "ts": filed, "complaint_id": f"K{i}"}
        about = {"order_id": where["order_id"], "region": region, "carrier": carrier}
        return filed, {
            "topic": "complaints",
            "key": "complaint_id",
            "value": value | about | {"reason": "damaged"},
        }

    return delivered(rng, per_day, until_ms, complaint, category="home")


@functools.cache
def damage_alerts(seed: int) -> tuple[int, list[AlertEvent]]:
    """+7 pp damage complaints (3 % -> 10 %) for 2 days on a region x carrier cell with
    2 % of 9,000 deliveries a day (about 180). Cached: the two damage tests of a seed read
    the same replay (12 simulated days of 9,000 deliveries, the slowest input here)."""
    start = T0 + DAYS * DAY + 6 * HOUR

    def share(t: int, cell: str) -> float:
        return 0.10 if cell == "north,SF" and start <= t < start + 2 * DAY else 0.03

    return start, replay(
        shipped("complaint_rate"),
        deliveries(np.random.default_rng(seed), 9_000, start + 3 * DAY, share),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_damage_plus_7pp_on_a_two_percent_cell_fires(seed: int) -> None:
    """complaint_rate fires on the damaged cell before the damage's complaints have all
    come in (2 days of damage, complaints up to 20 h later), and nowhere before it."""
    start, alerts = damage_alerts(seed)
    assert not [a for a in firing(alerts, "complaint_rate") if end_ms(a) <= start]
    fired = firing(alerts, "complaint_rate", "north,SF")
    assert fired and end_ms(fired[0]) <= start + 2 * DAY + 20 * HOUR, "the cell did not fire"


@pytest.mark.xfail(
    strict=True,
    reason="not in the data (issue #16): by start + 25 h the cell "
    "has 11 complaints against 5.5 expected without damage on seed 1 (mid-p "
    "z 2.1) and 8 against 4.9 on seed 2 (z 1.3); no test at a tolerable "
    "false-alarm rate fires on that. Attribution to the delivery cohort "
    "(return_rate's cohort) cannot help: complaints are keyed by complaint_id, "
    "so a complaint and its delivery are on different partitions",
)
@pytest.mark.parametrize("seed", [1, 2])
def test_damage_plus_7pp_fires_within_a_day(seed: int) -> None:
    """The issue's bound: within a day of the first extra complaints."""
    start, alerts = damage_alerts(seed)
    fired = firing(alerts, "complaint_rate", "north,SF")
    assert fired and end_ms(fired[0]) <= start + HOUR + DAY


def returned_deliveries(
    rng: np.random.Generator, per_day: float, until_ms: int, damage: tuple[int, int]
) -> Iterator[dict[str, Any]]:
    """:func:`delivered`; 8 % of them ask for a return 1-72 h later, for one of three
    usual reasons (none ``damaged``). During ``damage`` (start, end) 8 % more of north/SF's
    deliveries arrive damaged and ask for a return within 5-48 h."""
    reasons = ("wrong_size", "changed_mind", "not_as_described")

    def ask(t: int, i: int, where: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        u = rng.random()
        damaged = damage[0] <= t < damage[1] and (where["region"], where["carrier"]) == (
            "north",
            "SF",
        )
        if not (u < 0.08 or (damaged and u < 0.16)):
            return None
        usual = u < 0.08
        asked = t + int(rng.uniform(1, 72) if usual else rng.uniform(5, 48)) * HOUR
        reason = reasons[int(rng.integers(3))] if usual else "damaged"
        value = {"event_id": f"r{i}", "ts": asked, "status": "return_requested"}
        return asked, {
            "topic": "orders",
            "key": "order_id",
            "value": value | where | {"reason": reason},
        }

    return delivered(rng, per_day, until_ms, ask)


@pytest.mark.parametrize("seed", [1, 2])
def test_damaged_returns_on_a_two_percent_cell_fire_on_their_reason(seed: int) -> None:
    """+8 pp of returns for damage, for 2 days on a cell with 2 % of 9,000 deliveries a
    day (about 180): the shipped ``return_rate`` fires on the cell's ``damaged`` returns
    (a reason it never saw, judged from its first window against the cell's deliveries)
    within two days of the damage's start, as a logistics alert, and nothing fires before
    it."""
    start = T0 + DAYS * DAY + 6 * HOUR
    alerts = replay(
        shipped("return_rate"),
        returned_deliveries(
            np.random.default_rng(seed), 9_000, start + 4 * DAY, (start, start + 2 * DAY)
        ),
    )
    assert not [a for a in firing(alerts, "return_rate") if end_ms(a) <= start]
    fired = [
        a
        for a in firing(alerts, "return_rate", "north,SF,damaged")
        if a.dimension == "region,carrier,reason"
    ]
    assert fired and end_ms(fired[0]) <= start + 2 * DAY, "the cell's damaged returns did not fire"
    # It is the carrier's problem: routed to logistics, with the carrier's runbook.
    assert fired[0].anomaly_class == "logistics"
    assert "carrier" in fired[0].runbook and "size chart" not in fired[0].runbook
