"""False episodes on a shop the rules were never tuned on.

``streams/dev/simulator`` is the shop the rules were tuned against; this is another
one, written from the issue's description of a realistic shop with deliberately
different modelling choices, so that a rule which only fits the simulator shows here:

- order arrivals are over-dispersed: Poisson counts of a rate that carries a daily
  random effect and an AR(1) log-noise per 15 minutes (a gamma-Poisson-like spread on
  top of sampling noise), with a two-peak day (lunch and 21:00 in UTC+8) and a busy
  Saturday;
- channel shares drift with their own small AR(1) noise; a planned promotion ramps the
  orders to x2.3 over 8 h, holds 16 h and falls back over 4 h, and shifts a little of
  the mix to the app;
- waits are gamma-distributed (not lognormal) and follow a shift schedule: capacity
  steps at 08:00, 17:00 and 23:00 local, so waits jump at shift changes;
- transit times per region x carrier cell, 40 % of Sunday deliveries slip to Monday,
  return delays lognormal with a median of 40 h, complaints 1-72 h after delivery;
- 0.3 % duplicates, 0.2 % late events, 0.05 % malformed values.

Nothing else here is an incident, so every episode the rules open outside the four
``--incidents`` (waits x4 on one queue for 3 h, one channel's orders x0.5 for 90 min,
+8 pp returns on one region x carrier cell for 2 days of deliveries, +13 pp on one SKU
for 4) is false. The script replays ``--days`` (default 21: the first
7 are warm-up and not scored) at each of ``--volumes`` (multiples of 9,000 orders a
day) and prints false episodes a day per rule and when each incident was found. The
rules are ``deploy/rules/china.toml`` by default, as a shop in China runs them: the
shipped rules with ``utc_offset = "8h"`` (``--utc-offset 0h`` for the shipped file's
UTC, the simulator's time)::

    python benchmarks/foreign_shop.py --volumes 0.3,1,3 --seed 1 --incidents

``--only customer_order_burst,shared_address`` replays those rules alone on the topics
they read (a few minutes at 3x instead of ~25).

``--json DIR`` also writes each run's incidents and false episodes (rule, key, start,
observed, baseline) to ``DIR/foreign-shop-seed<S>-<V>x.json``, to compare two engines
episode by episode.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.model import datetime_to_ms
from streams.exceptions import ConfigError
from streams.logs import configure_logging
from streams.pipeline.replay import KEY_FIELDS, ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules, read_rules_document

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_790_812_800_000  # 2026-10-01T00:00:00Z, a Thursday; local time is UTC+8
LOCAL = 8 * HOUR
BASE_ORDERS = 9_000
#: Orders by local hour (two peaks: lunch and 21:00), normalised to mean 1 below.
DAY_CURVE = np.array(
    [
        *(0.45, 0.25, 0.14, 0.09, 0.08, 0.11, 0.22, 0.42, 0.7, 0.9, 1.0, 1.1),
        *(1.35, 1.2, 1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.6, 1.85, 1.55, 0.85),
    ]
)
DAY_CURVE = DAY_CURVE / DAY_CURVE.mean()
WEEK = np.array([0.96, 0.95, 0.97, 1.0, 1.04, 1.12, 0.96])  # Monday..Sunday
CHANNELS = ("app", "web", "mini_program")
CHANNEL_SHARE = np.array([0.55, 0.27, 0.18])
REGIONS = ("north", "northeast", "east", "south", "central", "southwest", "northwest", "hk")
CARRIERS = ("SF", "ZTO", "YTO", "JD", "EMS")
CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "books")
CATEGORY_RETURN = np.array([0.17, 0.14, 0.06, 0.05, 0.04, 0.02])
N_SKUS = 3_000
QUEUES = ("presale", "aftersales", "logistics", "refunds", "vip")
QUEUE_TICKETS = np.array([710, 520, 430, 300, 240])
QUEUE_MEAN_WAIT = np.array([70.0, 110.0, 90.0, 150.0, 40.0])  # seconds at rho = 0.5
WAIT_CHANNELS = ("chat", "phone", "email")
COMPLAINT_REASONS = ("late_delivery", "damaged", "quality", "missing_item", "wrong_item")
RETURN_STEPS = frozenset({"return_requested", "exchange_requested", "returned", "refunded"})
RETURN_REASONS = ("wrong_size", "changed_mind", "defective", "not_as_described", "damaged")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Shop:
    """One run: ``volume`` x 9,000 orders a day for ``days`` days."""

    volume: float
    days: int
    seed: int
    promotion_day: int = 11
    #: Inject the four founding incidents (see :func:`incidents`).
    incidents: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident: which alerts count as finding it, and from when."""

    name: str
    start_ms: int
    end_ms: int
    rules: tuple[str, ...]
    #: An alert finds it when its key is one of these (``dimension=key``).
    keys: tuple[str, ...]


def _local(day: int, hour: float) -> int:
    return T0 + day * DAY - LOCAL + int(hour * HOUR)


WAIT_SURGE = ("aftersales", _local(15, 19), 3 * HOUR)  # waits x4
OUTAGE = ("web", _local(16, 10), 90 * MIN)  # the channel's orders x0.5
DAMAGE_START, DAMAGE_DAYS, DAMAGE_PP = _local(12, 0), 2, 0.08  # returns, one cell
SIZING_START, SIZING_DAYS, SIZING_PP = _local(13, 0), 4, 0.13  # returns, one SKU


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> F64:
    """A stationary AR(1) series of ``n`` steps with marginal sd ``sigma``."""
    out = np.empty(n)
    x = rng.normal(0.0, sigma)
    innovation = sigma * np.sqrt(1.0 - phi * phi)
    for i, e in enumerate(rng.normal(0.0, innovation, n)):
        x = phi * x + e
        out[i] = x
    return out


def _curve(minutes: I64, shift_h: float = 0.0) -> F64:
    """The day curve at each minute since T0 (local time, interpolated per minute)."""
    local_h = ((minutes * MIN + LOCAL) % DAY) / HOUR - shift_h
    lo = np.floor(local_h).astype(np.int64) % 24
    frac = local_h - np.floor(local_h)
    return DAY_CURVE[lo] * (1 - frac) + DAY_CURVE[(lo + 1) % 24] * frac


def _weekday(ts: I64) -> I64:
    return ((ts + LOCAL) // DAY + 3) % 7  # 1970-01-01 was a Thursday


def _promotion(shop: Shop, minutes: I64) -> F64:
    """x2.3 over 8 h from 12:00 local of the promotion day, 16 h held, 4 h back."""
    start = (shop.promotion_day * DAY - LOCAL + 12 * HOUR) / MIN
    t = (minutes - start) / 60.0  # hours
    up = np.clip(t / 8.0, 0.0, 1.0)
    down = np.clip((t - 24.0) / 4.0, 0.0, 1.0)
    return np.asarray(1.0 + 1.3 * np.where(t < 24.0, up, 1.0 - down), dtype=np.float64)


def orders(shop: Shop, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Placed orders: their times and attributes (arrays, one row per order)."""
    n_min = shop.days * 1440
    minutes = np.arange(n_min, dtype=np.int64)
    day_effect = np.exp(rng.normal(0.0, 0.07, shop.days))[minutes // 1440]
    block_noise = np.exp(_ar1(rng, n_min // 15 + 1, 0.85, 0.08))[minutes // 15]
    promo = _promotion(shop, minutes)
    rate = (
        BASE_ORDERS
        * shop.volume
        / 1440
        * _curve(minutes)
        * WEEK[_weekday(minutes * MIN + T0)]
        * day_effect
        * block_noise
        * promo
    )
    counts = rng.poisson(rate)
    ts = T0 + np.repeat(minutes, counts) * MIN + rng.integers(0, MIN, counts.sum())
    n = ts.size
    # Channel shares drift per 15 min; the promotion moves a little of the mix to the app.
    blocks = (ts - T0) // (15 * MIN)
    drift = np.exp(np.stack([_ar1(rng, n_min // 15 + 1, 0.9, 0.05) for _ in CHANNELS], 1))
    shares = CHANNEL_SHARE * drift[blocks]
    shares[:, 0] *= 1.0 + 0.2 * (promo[(ts - T0) // MIN] - 1.0) / 1.3
    shares /= shares.sum(1, keepdims=True)
    channel = (rng.random(n)[:, None] > np.cumsum(shares, 1)).sum(1)
    region_share = rng.dirichlet(np.full(len(REGIONS), 4.0))
    region = rng.choice(len(REGIONS), n, p=region_share)
    carrier_share = rng.dirichlet(np.full(len(CARRIERS), 2.0), len(REGIONS))
    carrier = (rng.random(n)[:, None] > np.cumsum(carrier_share[region], 1)).sum(1)
    zipf = 1.0 / np.arange(1, N_SKUS + 1) ** 1.05
    sku = rng.choice(N_SKUS, n, p=zipf / zipf.sum())
    customer = np.where(
        rng.random(n) < 0.35,
        rng.integers(1_000_000, 9_000_000, n),  # new customers
        rng.zipf(1.3, n) % 400_000,  # returning ones, some often
    )
    pickup = rng.random(n) < 0.03
    address = np.where(pickup, 9_900_000 + rng.integers(0, 30, n), customer)
    quantity = np.where(rng.random(n) < 0.82, 1, rng.integers(2, 6, n))
    keep = np.ones(n, dtype=bool)
    if shop.incidents:  # a checkout outage halves one channel's orders
        name, start, span = OUTAGE
        hit = (channel == CHANNELS.index(name)) & (ts >= start) & (ts < start + span)
        keep = ~hit | (rng.random(n) < 0.5)
    cells = region_share[:, None] * carrier_share
    return {
        "cells": cells,
        "zipf": zipf / zipf.sum(),
        "ts": ts,
        "channel": channel,
        "region": region,
        "carrier": carrier,
        "sku": sku,
        "customer": customer,
        "address": address,
        "quantity": quantity,
        "keep": keep,
    }


def _first_draws(shop: Shop) -> tuple[np.random.Generator, dict[str, np.ndarray], np.ndarray]:
    """The shop's random stream after its orders and its SKUs' categories (what the
    incidents' targets depend on), with both."""
    rng = np.random.default_rng(shop.seed)
    o = orders(shop, rng)
    return rng, o, rng.integers(0, len(CATEGORIES), N_SKUS)


def events(shop: Shop) -> Iterator[tuple[int, str, dict[str, object]]]:
    """Every event of the run as ``(emit time, topic, value)``, unsorted."""
    rng, o, sku_category = _first_draws(shop)
    n = o["ts"].size
    damage_cell, sizing_sku = _TARGETS[shop] = targets(shop, o, sku_category)
    sku_price = np.round(np.exp(rng.normal(3.3, 0.9, N_SKUS)), 2)
    base = CATEGORY_RETURN[sku_category]
    sku_return = rng.beta(base * 30, (1 - base) * 30)
    cell_transit = np.exp(rng.normal(np.log(40.0), 0.3, (len(REGIONS), len(CARRIERS)))) * HOUR
    placed = o["ts"]
    paid = placed + (np.exp(rng.normal(np.log(3 * MIN), 0.8, n))).astype(np.int64)
    is_paid = rng.random(n) < 0.96
    cancelled = is_paid & (rng.random(n) < 0.02)
    ship_ready = paid + rng.gamma(2.0, 3.0 * HOUR, n).astype(np.int64)
    local_h = ((ship_ready + LOCAL) % DAY) / HOUR
    # The warehouse ships 08:00-22:00 local: a parcel ready at night leaves at 08:00.
    wait_to_open = np.where(local_h < 8, (8 - local_h) * HOUR, 0) + np.where(
        local_h >= 22, (32 - local_h) * HOUR, 0
    )
    shipped = ship_ready + wait_to_open.astype(np.int64) + rng.integers(0, 2 * HOUR, n)
    transit = cell_transit[o["region"], o["carrier"]] * np.exp(rng.normal(0, 0.35, n))
    delivered = shipped + transit.astype(np.int64)
    sunday = (_weekday(delivered) == 6) & (rng.random(n) < 0.4)
    delivered = np.where(sunday, delivered + DAY, delivered)
    promised = shipped + (cell_transit[o["region"], o["carrier"]] * 1.5).astype(np.int64)
    ok = is_paid & ~cancelled & o["keep"]
    u = rng.random(n)
    asks = ok & (u < sku_return[o["sku"]])
    reason_of = np.where(
        np.isin(sku_category[o["sku"]], (0, 1)) & (rng.random(n) < 0.6), 0, rng.integers(1, 4, n)
    )
    if shop.incidents:
        in_cell = (o["region"] == damage_cell[0]) & (o["carrier"] == damage_cell[1])
        damaged = (
            ok
            & ~asks
            & in_cell
            & (delivered >= DAMAGE_START)
            & (delivered < DAMAGE_START + DAMAGE_DAYS * DAY)
            & (u < sku_return[o["sku"]] + DAMAGE_PP)
        )
        sized = (
            ok
            & ~asks
            & (o["sku"] == sizing_sku)
            & (delivered >= SIZING_START)
            & (delivered < SIZING_START + SIZING_DAYS * DAY)
            & (u < sku_return[o["sku"]] + SIZING_PP)
        )
        reason_of = np.where(damaged, 4, np.where(sized, 0, reason_of))
        asks = asks | damaged | sized
    asked = delivered + np.minimum(np.exp(rng.normal(np.log(40 * HOUR), 0.8, n)), 12 * DAY).astype(
        np.int64
    )
    exchange = rng.random(n) < 0.25
    returned = asks & (rng.random(n) < 0.85)
    returned_at = asked + rng.integers(2 * DAY, 6 * DAY, n)
    refunded_at = returned_at + rng.integers(DAY // 2, 3 * DAY, n)
    late = delivered > promised
    complains = ok & (rng.random(n) < 0.015 + 0.02 * late)
    complained = delivered + rng.integers(HOUR, 72 * HOUR, n)
    reviews = ok & (rng.random(n) < 0.12)
    reviewed = delivered + rng.integers(DAY, 7 * DAY, n)
    rating = rng.choice([5, 4, 3, 2, 1], n, p=[0.7, 0.15, 0.06, 0.03, 0.06])
    rating = np.where(asks & (rng.random(n) < 0.5), rng.integers(1, 3, n), rating)
    reason = rng.integers(0, len(COMPLAINT_REASONS), n)
    severity = rng.integers(1, 4, n)
    for i in range(n):
        if not o["keep"][i]:
            continue
        sku = int(o["sku"][i])
        common: dict[str, object] = {
            "order_id": f"FO{i:08d}",
            "customer_id": f"FC{o['customer'][i]:07d}",
            "address_id": f"FA{o['address'][i]:07d}",
            "sku": f"FSKU{sku:05d}",
            "category": CATEGORIES[sku_category[sku]],
            "region": REGIONS[o["region"][i]],
            "carrier": CARRIERS[o["carrier"][i]],
            "channel": CHANNELS[o["channel"][i]],
            "quantity": int(o["quantity"][i]),
            "amount": round(float(sku_price[sku] * o["quantity"][i]), 2),
        }
        steps: list[tuple[str, int]] = [("placed", int(placed[i]))]
        if is_paid[i]:
            steps.append(("paid", int(paid[i])))
        if cancelled[i]:
            steps.append(("cancelled", int(paid[i] + HOUR)))
        elif ok[i]:
            steps += [("shipped", int(shipped[i])), ("delivered", int(delivered[i]))]
            if asks[i]:
                steps.append(
                    ("exchange_requested" if exchange[i] else "return_requested", int(asked[i]))
                )
                if returned[i] and not exchange[i]:
                    steps += [("returned", int(returned_at[i])), ("refunded", int(refunded_at[i]))]
        for status, ts in steps:
            value = {"event_id": f"{common['order_id']}:{status}", "ts": ts, "status": status}
            if status in RETURN_STEPS:
                value["reason"] = RETURN_REASONS[reason_of[i]]
            yield ts, "orders", value | common
        # What a complaint and a review share with their order.
        ids = {field: common[field] for field in ("order_id", "customer_id", "sku", "category")}
        if complains[i]:
            at = int(complained[i])
            complaint = {"event_id": f"FK{i:08d}", "ts": at, "complaint_id": f"FK{i:08d}"}
            where = {field: common[field] for field in ("region", "carrier", "channel")}
            cause = {"reason": COMPLAINT_REASONS[reason[i]], "severity": int(severity[i])}
            yield at, "complaints", complaint | ids | where | cause
        if reviews[i]:
            at = int(reviewed[i])
            review = {"event_id": f"FR{i:08d}", "ts": at, "review_id": f"FR{i:08d}"}
            yield at, "reviews", review | ids | {"rating": int(rating[i])}
    yield from waits(shop, rng)


def waits(shop: Shop, rng: np.random.Generator) -> Iterator[tuple[int, str, dict[str, object]]]:
    """Tickets of the five queues: gamma waits under a shift schedule."""
    n_min = shop.days * 1440
    minutes = np.arange(n_min, dtype=np.int64)
    curve = _curve(minutes, shift_h=1.0) * WEEK[_weekday(minutes * MIN + T0)]
    local_h = ((minutes * MIN + LOCAL) % DAY) // HOUR
    # Capacity by shift, as a share of the day shift's; the day shift runs the busiest
    # hour at rho = 0.8.
    shift = np.where((local_h >= 8) & (local_h < 17), 1.0, np.where(local_h >= 23, 0.3, 0.75))
    shift = np.where(local_h < 8, 0.3, shift)
    promo = _promotion(shop, minutes)
    ticket = 0
    for q, queue in enumerate(QUEUES):
        per_min = QUEUE_TICKETS[q] * shop.volume / 1440 * curve * (1 + 0.3 * (promo - 1))
        capacity = (per_min / shift).max() / 0.8 * shift * (1 + 0.3 * (promo - 1))
        counts = rng.poisson(per_min)
        at = np.repeat(minutes, counts)
        ts = T0 + at * MIN + rng.integers(0, MIN, at.size)
        rho = np.minimum(per_min[at] / capacity[at], 0.92)
        mean = QUEUE_MEAN_WAIT[q] * (rho / (1 - rho))
        channel = rng.choice(3, at.size, p=[0.6, 0.25, 0.15])
        mean = mean * np.array([1.0, 1.6, 6.0])[channel]
        wait = rng.gamma(0.9, mean / 0.9)
        if shop.incidents and queue == WAIT_SURGE[0]:
            wait = np.where(
                (ts >= WAIT_SURGE[1]) & (ts < WAIT_SURGE[1] + WAIT_SURGE[2]), wait * 4, wait
            )
        handle = rng.gamma(2.0, 150.0, at.size) * np.array([1.0, 1.8, 0.6])[channel]
        for i in range(at.size):
            ticket += 1
            yield (
                int(ts[i]),
                "wait-times",
                {
                    "event_id": f"FT{ticket:08d}",
                    "ts": int(ts[i]),
                    "ticket_id": f"FT{ticket:08d}",
                    "queue": queue,
                    "channel": WAIT_CHANNELS[channel[i]],
                    "region": REGIONS[i % len(REGIONS)],
                    "wait_seconds": round(float(wait[i]), 1),
                    "handle_seconds": round(float(handle[i]), 1),
                },
            )


#: The targets :func:`events` picked, per shop (what :func:`incidents` reports).
_TARGETS: dict[Shop, tuple[tuple[int, int], int]] = {}


def targets(
    shop: Shop, o: dict[str, np.ndarray], sku_category: np.ndarray
) -> tuple[tuple[int, int], int]:
    """The damaged region x carrier cell (the one nearest 2.5 % of deliveries) and the
    mis-sized apparel or shoes SKU (the one nearest 40 orders a day)."""
    cells = o["cells"]
    flat = int(np.argmin(np.abs(cells - 0.025)))
    per_day = o["zipf"] * BASE_ORDERS * shop.volume
    sized = np.where(np.isin(sku_category, (0, 1)), np.abs(per_day - 40.0), np.inf)
    return (flat // len(CARRIERS), flat % len(CARRIERS)), int(np.argmin(sized))


def incidents(shop: Shop) -> list[Incident]:
    """The injected incidents of ``shop`` and the alerts that find each (cheap after
    :func:`records`; otherwise the orders are drawn once more to pick the targets)."""
    chosen = _TARGETS.get(shop)
    if chosen is None:
        _, o, sku_category = _first_draws(shop)
        chosen = targets(shop, o, sku_category)
    (region, carrier), sku = chosen
    cell = f"{REGIONS[region]},{CARRIERS[carrier]}"
    queue, w_start, w_span = WAIT_SURGE
    channel, o_start, o_span = OUTAGE
    return [
        Incident(
            "wait surge x4, 3 h",
            w_start,
            w_start + w_span,
            ("wait_time_p90", "wait_sla_breach_share"),
            (f"queue={queue}",),
        ),
        Incident(
            "checkout outage x0.5, 90 min",
            o_start,
            o_start + o_span,
            ("order_volume",),
            (f"channel={channel}", "total=all"),
        ),
        Incident(
            f"carrier damage +{DAMAGE_PP * 100:.0f} pp on {cell}",
            DAMAGE_START,
            DAMAGE_START + (DAMAGE_DAYS + 3) * DAY,
            ("return_rate", "complaint_rate"),
            (
                f"region,carrier={cell}",
                f"region,carrier,reason={cell},damaged",
                f"carrier={CARRIERS[carrier]}",
                f"region={REGIONS[region]}",
            ),
        ),
        Incident(
            f"sizing error +{SIZING_PP * 100:.0f} pp on FSKU{sku:05d}",
            SIZING_START,
            SIZING_START + (SIZING_DAYS + 3) * DAY,
            ("return_rate",),
            (f"sku=FSKU{sku:05d}",),
        ),
    ]


def records(shop: Shop) -> list[tuple[str, bytes, bytes]]:
    """The run as replay records in emit order, with duplicates, late and bad ones."""
    rng = np.random.default_rng(shop.seed + 1_000)
    out: list[tuple[int, str, dict[str, object]]] = []
    end = T0 + shop.days * DAY
    for at, topic, value in events(shop):
        if at >= end:
            continue  # the run ends: later steps of its orders never happen
        u = rng.random()
        if u < 0.003:
            out.append((at + int(rng.integers(0, 10 * MIN)), topic, value))  # duplicate
            out.append((at, topic, value))
        elif u < 0.005:
            out.append((at + int(rng.integers(10 * MIN, 60 * MIN)), topic, value))  # late
        elif u < 0.0055:
            out.append((at, topic, value | {"ts": "yesterday"}))  # malformed
        else:
            out.append((at, topic, value))
    out.sort(key=lambda r: r[0])
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    return [
        (topic, str(value[KEY_FIELDS[topic]]).encode(), dumps(value).encode())  # type: ignore[index]
        for _, topic, value in out
    ]


#: The rules a shop in China runs: the shipped ones in Beijing time (docs/china.md).
CHINA_RULES = Path(__file__).resolve().parents[1] / "deploy" / "rules" / "china.toml"


def shop_rules(
    path: str | None, utc_offset: str | None = None, only: frozenset[str] | None = None
) -> RuleSet:
    """The rules file at ``path`` (default :data:`CHINA_RULES`, ``utc_offset = "8h"``:
    the hour and weekday profile follows the shop's days), with ``settings.utc_offset``
    replaced when ``utc_offset`` is given; with ``only``, those rules alone (a name the
    file lacks is a :class:`~streams.exceptions.ConfigError`)."""
    document = read_rules_document(path or CHINA_RULES)
    if utc_offset is not None:
        document.setdefault("settings", {})["utc_offset"] = utc_offset
    if only is not None:
        table = document.get("rules", {})
        missing = sorted(only - set(table))
        if missing:
            raise ConfigError("--only", f"no rule {', '.join(missing)} in the rules file")
        document["rules"] = {name: table[name] for name in table if name in only}
    return parse_rules(document)


@dataclass(frozen=True, slots=True)
class ShopRun:
    """What one replay of a shop found: each incident's delay and every false episode."""

    records: int
    made_s: float
    replayed_s: float
    scored_days: int
    #: Per injected incident (by name), minutes from its start to its first alert's
    #: window end; ``None``: missed.
    found: dict[str, float | None]
    #: Every false episode (its first alert), in the order they opened. Per-parcel
    #: ``lost_parcel`` traces (dimension ``order``) are kept apart in ``traces``.
    false: list[dict[str, object]]
    traces: int
    #: Dead-lettered records by reason (the shop injects malformed, duplicate, late ones).
    dead_letters: dict[str, int]

    def by_rule(self) -> list[tuple[str, list[dict[str, object]]]]:
        """False episodes per rule, the rule with the most first."""
        rules: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
        for episode in self.false:
            rules[str(episode["rule"])].append(episode)
        return sorted(rules.items(), key=lambda kv: -len(kv[1]))


def replay_shop(
    shop: Shop, rules: RuleSet, warmup_days: int, *, only_read: bool = False
) -> ShopRun:
    """Replay ``shop`` through the rules; an alert that opens after the warm-up is false
    unless it names an injected incident's rule and key between an hour before its start
    and its end. Incidents none of whose rules are in ``rules`` are not scored;
    ``only_read``: replay only the topics the rules read."""
    began = time.perf_counter()
    recs = records(shop)
    if only_read:  # the topics the rules read, no others
        read = {topic for rule in rules.rules for topic in rule.topics}
        recs = [record for record in recs if record[0] in read]
    made = time.perf_counter() - began
    names = {rule.name for rule in rules.rules}
    injected = [i for i in incidents(shop) if names & set(i.rules)] if shop.incidents else []
    found: dict[str, float | None] = {i.name: None for i in injected}
    pipeline = ReplayPipeline(rules, risk=False)
    scored_from = T0 + warmup_days * DAY
    false: list[dict[str, object]] = []
    seen: set[str] = set()
    traces = 0
    for alert in pipeline.run(recs):
        started = datetime_to_ms(alert.started_at)
        if alert.status != "firing" or started < scored_from:
            continue
        series = f"{alert.dimension}={alert.key}"
        hits = [
            i
            for i in injected
            if alert.rule in i.rules
            and series in i.keys
            and i.start_ms - HOUR <= started < i.end_ms
        ]
        for i in hits:
            if found[i.name] is None:
                found[i.name] = (datetime_to_ms(alert.window_end) - i.start_ms) / MIN
        if hits or alert.alert_id in seen:
            continue
        seen.add(alert.alert_id)
        if alert.rule == "lost_parcel" and alert.dimension == "order":
            traces += 1
            continue
        false.append(
            {
                "rule": alert.rule,
                "dimension": alert.dimension,
                "key": alert.key,
                "started_at": alert.started_at.isoformat(),
                "window_end": alert.window_end.isoformat(),
                "observed": alert.observed,
                "baseline": alert.baseline,
                "severity": alert.severity,
            }
        )
    return ShopRun(
        records=len(recs),
        made_s=made,
        replayed_s=time.perf_counter() - began - made,
        scored_days=shop.days - warmup_days,
        found=found,
        false=false,
        traces=traces,
        dead_letters=dict(collections.Counter(dead.reason for dead in pipeline.dead_letters)),
    )


def parse_volumes(text: str) -> list[float]:
    """``"0.3,1,3"`` or ``"0.3x,1x,3x"`` -> ``[0.3, 1.0, 3.0]``; anything else (or a volume
    outside (0, 100]) raises :class:`ValueError` naming what was given."""
    try:
        volumes = [float(part.strip().removesuffix("x")) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"expected numbers such as 0.3,1,3 or 0.3x,1x,3x, got {text!r}") from None
    if not all(0.0 < v <= 100.0 for v in volumes):  # also refuses nan
        raise ValueError(f"each volume must be in (0, 100], got {text!r}")
    return volumes


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--volumes",
        default="0.3,1,3",
        help="multiples of 9,000 orders a day, comma-separated (0.3,1,3 or 0.3x,1x,3x)",
    )
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--warmup-days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only",
        default=None,
        metavar="RULES",
        help="these rules alone (comma-separated), on the topics they read; incidents "
        "of other rules are not scored",
    )
    parser.add_argument(
        "--rules", default=None, help="rules file; default: deploy/rules/china.toml"
    )
    parser.add_argument(
        "--utc-offset", default=None, help="replace the rules' settings.utc_offset (e.g. 0h)"
    )
    parser.add_argument(
        "--incidents", action="store_true", help="inject the four founding incidents"
    )
    parser.add_argument(
        "--json",
        default=None,
        metavar="DIR",
        help="also write each run's incidents and false episodes to "
        "DIR/foreign-shop-seed<S>-<V>x.json (to compare runs episode by episode)",
    )
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    try:
        volumes = parse_volumes(args.volumes)
    except ValueError as exc:
        parser.error(f"--volumes: {exc}")
    try:
        only = None if args.only is None else frozenset(args.only.split(","))
        rules = shop_rules(args.rules, args.utc_offset, only)
    except ConfigError as exc:
        parser.error(str(exc))
    rules_name = args.rules or "deploy/rules/china.toml"
    print(
        f"# foreign shop, seed {args.seed}, {args.days} days ({args.warmup_days} warm-up), "
        f"rules {rules_name}"
        + ("" if args.utc_offset is None else f" with utc_offset {args.utc_offset}")
        + ("" if args.only is None else f", only {args.only}")
    )
    for volume in volumes:
        shop = Shop(volume=volume, days=args.days, seed=args.seed, incidents=args.incidents)
        run = replay_shop(shop, rules, args.warmup_days, only_read=args.only is not None)
        total = len(run.false)
        dead = ", ".join(f"{n:,} {reason}" for reason, n in sorted(run.dead_letters.items()))
        print(
            f"volume {volume:g}x: {run.records:,} records (made in {run.made_s:.0f} s, replayed "
            f"in {run.replayed_s:.0f} s); false episodes {total} in {run.scored_days} d "
            f"= {total / run.scored_days:.2f} a day, besides {run.traces} per-parcel "
            "lost_parcel traces; dead-lettered " + (dead or "none")
        )
        for name, delay in run.found.items():
            print(
                f"  incident {name:40s} "
                + ("missed" if delay is None else f"found {delay:.0f} min after its start")
            )
        for rule, episodes in run.by_rule():
            keys = collections.Counter(f"{e['dimension']}={e['key']}" for e in episodes)
            top = ", ".join(f"{k} {n}" for k, n in keys.most_common(4))
            print(f"  {rule:24s} {len(episodes):4d}  {top}")
        if args.json:
            out = Path(args.json)
            out.mkdir(parents=True, exist_ok=True)
            document = {
                "seed": args.seed,
                "volume": volume,
                "days": args.days,
                "warmup_days": args.warmup_days,
                "rules": rules_name,
                "utc_offset": args.utc_offset,
                "incidents": run.found,
                "false": run.false,
                "traces": run.traces,
            }
            path = out / f"foreign-shop-seed{args.seed}-{volume:g}x.json"
            path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
