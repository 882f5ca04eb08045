"""Injectable incidents: one frozen dataclass per type, parsing and validation.

Every incident has a ``start`` and ``duration`` (the *cause* window: when orders are
mis-priced, deliveries damaged, a queue understaffed...), its target fields, and a
``magnitude`` whose meaning is per type (see each class). Targets left ``None`` are
filled by :func:`resolve_incidents` with sensible defaults from the catalogue.

Examples
--------
>>> from datetime import UTC, datetime
>>> start = datetime(2026, 11, 2, tzinfo=UTC)
>>> inc = incident_from_dict(
...     {"type": "order_drop", "start": "+1d9h", "duration": "2h", "channel": "app"}, start
... )
>>> inc.type, inc.channel, inc.magnitude, inc.start.isoformat()
('order_drop', 'app', 0.1, '2026-11-03T09:00:00+00:00')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from streams.dev.simulator.timefmt import MS_PER_DAY, parse_duration, parse_ts, to_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class SkuReturnSpike:
    """Deliveries of one SKU are returned ``magnitude`` times as often, 1-3 days later.

    Models a wrong size chart or a bad batch: every delivery of ``sku`` inside the cause
    window returns with probability ``magnitude x`` its usual rate, mostly with ``reason``.
    """

    type: ClassVar[str] = "sku_return_spike"
    start: datetime
    duration: timedelta
    sku: str | None = None
    reason: str = "wrong_size"
    magnitude: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierDamage:
    """Parcels of one carrier in one region arrive damaged.

    ``magnitude`` multiplies the pair's complaint rate; the extra deliveries are damaged:
    70% of them file a ``damaged`` complaint within 30 h, 90% request a return within 2 days.
    """

    type: ClassVar[str] = "carrier_damage"
    start: datetime
    duration: timedelta
    region: str | None = None
    carrier: str | None = None
    magnitude: float = 6.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitTimeSurge:
    """One customer-service queue is overwhelmed: waits x ``magnitude``, tickets x 1.3."""

    type: ClassVar[str] = "wait_time_surge"
    start: datetime
    duration: timedelta
    queue: str | None = None
    magnitude: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDrop:
    """Placed orders in one channel *or* one region fall to ``magnitude`` (a share) of normal."""

    type: ClassVar[str] = "order_drop"
    start: datetime
    duration: timedelta
    channel: str | None = None
    region: str | None = None
    magnitude: float = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerBurst:
    """One customer at one address places ``magnitude`` extra orders inside the window.

    With ``distinct_customers`` every extra order comes from a different new customer,
    all to the one address (a reshipping or fraud address); ``customer_id`` is then the
    prefix of their ids.
    """

    type: ClassVar[str] = "customer_burst"
    start: datetime
    duration: timedelta = timedelta(minutes=10)
    customer_id: str | None = None
    address_id: str | None = None
    magnitude: float = 15.0
    distinct_customers: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WrongPrice:
    """One SKU is sold at ``magnitude`` times its usual price (0.1 or 10, say) for a while."""

    type: ClassVar[str] = "wrong_price"
    start: datetime
    duration: timedelta
    sku: str | None = None
    magnitude: float = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplaintSpike:
    """Complaints with one reason arrive at ``magnitude`` times their usual rate."""

    type: ClassVar[str] = "complaint_spike"
    start: datetime
    duration: timedelta
    reason: str | None = None
    magnitude: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SupplierQuality:
    """Deliveries of one supplier's SKUs draw extra ``quality`` complaints.

    ``magnitude`` is the extra complaint probability per delivery (``0.03`` = +3 pp) of
    every SKU of ``supplier`` (see :func:`streams.dev.simulator.catalog.supplier_id`)
    delivered inside the window; the complaint comes 0.5-30 h after delivery.
    """

    type: ClassVar[str] = "supplier_quality"
    start: datetime
    duration: timedelta
    supplier: str | None = None
    magnitude: float = 0.03


@dataclass(frozen=True, slots=True, kw_only=True)
class HandleTimeSurge:
    """Tickets of one queue take ``magnitude`` times longer to handle (a new issue type,
    a broken tool); waits are unchanged."""

    type: ClassVar[str] = "handle_time_surge"
    start: datetime
    duration: timedelta
    queue: str | None = None
    magnitude: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SatisfactionDrop:
    """Tickets of one queue get a low satisfaction rating (csat <= 2) ``magnitude`` times
    as often (a rude script, an unpopular policy)."""

    type: ClassVar[str] = "satisfaction_drop"
    start: datetime
    duration: timedelta
    queue: str | None = None
    magnitude: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BadReviewWave:
    """Deliveries of one SKU inside the window are reviewed badly (rating <= 2)
    ``magnitude`` times as often; reviews come 0.5-3 days after delivery."""

    type: ClassVar[str] = "bad_review_wave"
    start: datetime
    duration: timedelta
    sku: str | None = None
    magnitude: float = 6.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancellationSpike:
    """Orders placed inside the window (in ``channel``, if given) are cancelled with
    ``reason`` at ``magnitude`` times that reason's usual rate (a fraud wave)."""

    type: ClassVar[str] = "cancellation_spike"
    start: datetime
    duration: timedelta
    reason: str = "fraud_suspected"
    channel: str | None = None
    magnitude: float = 25.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDelay:
    """Parcels of one carrier in one region, shipped inside the window, take
    ``magnitude`` times their usual transit (a hub backlog, a strike); everything after
    the delivery (returns, refunds, reviews, complaints) moves with it."""

    type: ClassVar[str] = "delivery_delay"
    start: datetime
    duration: timedelta
    region: str | None = None
    carrier: str | None = None
    magnitude: float = 1.8


@dataclass(frozen=True, slots=True, kw_only=True)
class LostParcels:
    """A share ``magnitude`` of the parcels one carrier ships inside the window (in
    ``region``, if given) never arrives: no delivery and nothing after it."""

    type: ClassVar[str] = "lost_parcels"
    start: datetime
    duration: timedelta
    carrier: str | None = None
    region: str | None = None
    magnitude: float = 0.3


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundDelay:
    """Refunds of one category (or one channel) whose goods come back inside the window
    are processed ``magnitude`` times slower (a refund backlog)."""

    type: ClassVar[str] = "refund_delay"
    start: datetime
    duration: timedelta
    category: str | None = None
    channel: str | None = None
    magnitude: float = 4.0


Incident = (
    SkuReturnSpike
    | CarrierDamage
    | WaitTimeSurge
    | OrderDrop
    | CustomerBurst
    | WrongPrice
    | ComplaintSpike
    | SupplierQuality
    | HandleTimeSurge
    | SatisfactionDrop
    | BadReviewWave
    | CancellationSpike
    | DeliveryDelay
    | LostParcels
    | RefundDelay
)

INCIDENT_TYPES: dict[str, type[Incident]] = {
    cls.type: cls
    for cls in (
        SkuReturnSpike,
        CarrierDamage,
        WaitTimeSurge,
        OrderDrop,
        CustomerBurst,
        WrongPrice,
        ComplaintSpike,
        HandleTimeSurge,
        SatisfactionDrop,
        BadReviewWave,
        CancellationSpike,
        DeliveryDelay,
        LostParcels,
    )
}
"""Types a scenario file can name. :class:`SupplierQuality` (the quality matrix benchmark)
and :class:`RefundDelay` (``tests/integration/test_refund_backlog.py``: the refund rule
settles for 14 days, longer than the default scenario's history) are built in code only:
tests pin the default scenario to one incident of every type listed here."""

DEFAULT_DURATIONS: dict[str, timedelta] = {
    "sku_return_spike": timedelta(days=3),
    "carrier_damage": timedelta(days=2),
    "wait_time_surge": timedelta(hours=3),
    "order_drop": timedelta(hours=2),
    "customer_burst": timedelta(minutes=10),
    "wrong_price": timedelta(hours=3),
    "complaint_spike": timedelta(hours=6),
    "supplier_quality": timedelta(days=2),
    "handle_time_surge": timedelta(hours=4),
    "satisfaction_drop": timedelta(hours=6),
    "bad_review_wave": timedelta(days=2),
    "cancellation_spike": timedelta(hours=4),
    "delivery_delay": timedelta(days=1),
    "lost_parcels": timedelta(hours=6),
    "refund_delay": timedelta(days=1),
}


def window_ms(incident: Incident) -> tuple[int, int]:
    """The cause window ``[start, end)`` in epoch ms."""
    start = to_ms(incident.start)
    return start, start + int(incident.duration.total_seconds() * 1000)


def incident_from_dict(data: dict[str, Any], sim_start: datetime) -> Incident:
    """Build an incident from a scenario entry.

    ``start`` is RFC 3339 or ``"+<duration>"`` after ``sim_start`` (e.g. ``"+7d10h"``);
    ``duration`` is a compact duration (``"3h"``), defaulting per type.
    """
    kind = data.get("type")
    if kind not in INCIDENT_TYPES:
        msg = f"incident.type: must be one of {sorted(INCIDENT_TYPES)}, got {kind!r}"
        raise ValueError(msg)
    cls = INCIDENT_TYPES[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type":
            continue
        if key not in names:
            msg = f"incident[{kind}].{key}: unknown field; expected one of {sorted(names)}"
            raise ValueError(msg)
        kwargs[key] = value
    if "start" not in kwargs:
        msg = f"incident[{kind}].start: required"
        raise ValueError(msg)
    kwargs["start"] = _parse_start(kwargs["start"], sim_start, kind)
    kwargs["duration"] = _parse_span(kwargs.get("duration"), kind)
    if "magnitude" in kwargs:
        kwargs["magnitude"] = float(kwargs["magnitude"])
    return cls(**kwargs)


def _parse_start(value: object, sim_start: datetime, kind: str) -> datetime:
    try:
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and value.startswith("+"):
            return sim_start + parse_duration(value[1:])
        if isinstance(value, str):
            return datetime.fromtimestamp(parse_ts(value) / 1000, tz=sim_start.tzinfo)
    except ValueError as exc:
        msg = f"incident[{kind}].start: {exc}"
        raise ValueError(msg) from exc
    msg = f"incident[{kind}].start: expected RFC 3339 or '+<duration>', got {value!r}"
    raise ValueError(msg)


def _parse_span(value: object, kind: str) -> timedelta:
    if value is None:
        return DEFAULT_DURATIONS[kind]
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        msg = f"incident[{kind}].duration: {exc}"
        raise ValueError(msg) from exc


def label_window_ms(incident: Incident) -> tuple[int, int]:
    """When the incident's metric actually moves, in event time.

    Returns come 1-3 days after a spiked delivery, so a SKU return spike moves
    ``return_rate`` from ``start + 1d`` to ``end + 3d``; carrier damage shows in complaints
    within 30 h and returns within 2 days (``start`` to ``end + 2d``); a wait-time surge is
    measured when tickets are answered (``end + 1h``); supplier quality complaints come
    within 30 h (``start`` to ``end + 30h``); the others move exactly in the window.
    """
    start, end = window_ms(incident)
    if isinstance(incident, SkuReturnSpike):
        return start + MS_PER_DAY, end + 3 * MS_PER_DAY
    if isinstance(incident, CarrierDamage):
        return start, end + 2 * MS_PER_DAY
    if isinstance(incident, WaitTimeSurge):
        return start, end + MS_PER_DAY // 24
    if isinstance(incident, SupplierQuality):
        return start, end + 30 * MS_PER_DAY // 24
    if isinstance(incident, BadReviewWave):
        return start + MS_PER_DAY // 2, end + 3 * MS_PER_DAY
    if isinstance(incident, HandleTimeSurge | SatisfactionDrop | CancellationSpike):
        return start, end + MS_PER_DAY // 24
    if isinstance(incident, DeliveryDelay):
        # Delayed parcels arrive days after they ship (transit x magnitude).
        return start + MS_PER_DAY // 2, end + 8 * MS_PER_DAY
    if isinstance(incident, LostParcels):
        # Missed from about twice the cell's usual transit after shipping.
        return start + MS_PER_DAY, end + 10 * MS_PER_DAY
    if isinstance(incident, RefundDelay):
        # Goods returned in the window are refunded magnitude x later than usual.
        return start + MS_PER_DAY // 2, end + 14 * MS_PER_DAY
    return start, end


def _fail(name: str, rule: str, value: object) -> None:
    msg = f"{name}: {rule}, got {value!r}"
    raise ValueError(msg)
