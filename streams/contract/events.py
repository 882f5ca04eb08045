"""Typed input events, exactly as in the contract (section 2).

Frozen ``msgspec`` Structs rather than ``faust.Record`` or dataclasses: they are
built on the intake hot path (tens of thousands per second), where a Record's
codec, or a frozen dataclass's ``__init__``, costs more than the whole
validation. No GC tracking (``gc=False``): they hold only strings and numbers.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = [
    "ORDER_STATUSES",
    "TOPICS",
    "ComplaintEvent",
    "Event",
    "OrderEvent",
    "ReviewEvent",
    "TopicName",
    "WaitTimeEvent",
]

TopicName = Literal["orders", "complaints", "wait-times", "reviews"]
TOPICS: Final[tuple[TopicName, ...]] = ("orders", "complaints", "wait-times", "reviews")

ORDER_STATUSES: Final[frozenset[str]] = frozenset(
    {
        "placed",
        "paid",
        "shipped",
        "delivered",
        "cancelled",
        "return_requested",
        "exchange_requested",
        "returned",
        "refunded",
    }
)


class OrderEvent(msgspec.Struct, frozen=True, gc=False):
    """An order lifecycle event (contract 2.1)."""

    event_id: str
    ts_ms: int
    order_id: str
    status: str
    customer_id: str | None = None
    sku: str | None = None
    category: str | None = None
    region: str | None = None
    carrier: str | None = None
    channel: str | None = None
    address_id: str | None = None
    quantity: int | None = None
    amount: float | None = None
    reason: str | None = None
    #: The delivery date promised to the customer (contract 7.1), epoch ms.
    promised_at_ms: int | None = None
    refund_amount: float | None = None


class ComplaintEvent(msgspec.Struct, frozen=True, gc=False):
    """A complaint (contract 2.2)."""

    event_id: str
    ts_ms: int
    complaint_id: str
    order_id: str | None = None
    customer_id: str | None = None
    sku: str | None = None
    category: str | None = None
    region: str | None = None
    carrier: str | None = None
    channel: str | None = None
    reason: str | None = None
    severity: int | None = None


class WaitTimeEvent(msgspec.Struct, frozen=True, gc=False):
    """A customer-service wait (contract 2.3)."""

    event_id: str
    ts_ms: int
    ticket_id: str
    wait_seconds: float
    queue: str | None = None
    channel: str | None = None
    region: str | None = None
    handle_seconds: float | None = None
    #: Customer satisfaction rating of the ticket, 1..5 (contract 7.1).
    csat: int | None = None


class ReviewEvent(msgspec.Struct, frozen=True, gc=False):
    """A product review (contract 7.1)."""

    event_id: str
    ts_ms: int
    review_id: str
    rating: int
    order_id: str | None = None
    customer_id: str | None = None
    sku: str | None = None
    category: str | None = None
    text: str | None = None


Event = OrderEvent | ComplaintEvent | WaitTimeEvent | ReviewEvent
