"""What the intake forwards to the risk scorer: one compact fact per relevant event.

Order lifecycle events (``placed``, ``shipped``, ``delivered``, ``cancelled``,
``return_requested``, ``exchange_requested``) and complaints become a
:class:`RiskFact`. Facts are routed by customer (the order id when the customer is
unknown) to the partials-topic partition that owns that customer, the way partials
are routed by series (:func:`risk_partition`), so one partition holds all of a
customer's history whatever the number of workers.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import msgspec

from streams.contract.events import ComplaintEvent, Event, OrderEvent

__all__ = ["FACT_KINDS", "RiskFact", "fact_from_event", "risk_partition"]

#: Order statuses the scorer uses; a complaint's kind is ``complaint``.
FACT_KINDS: Final[frozenset[str]] = frozenset(
    {
        "placed",
        "shipped",
        "delivered",
        "cancelled",
        "return_requested",
        "exchange_requested",
        "complaint",
    }
)


class RiskFact(msgspec.Struct, frozen=True, gc=False):
    """One event as the scorer sees it (``kind``: order status or ``complaint``).

    A frozen msgspec Struct, not a frozen dataclass: two are built per order event (in
    the intake and again in the closer), and a frozen dataclass's ``__init__`` sets its
    12 fields through ``object.__setattr__`` (1.25 us against 0.08 us). Holds no
    containers, so it stays out of the garbage collector (``gc=False``).
    """

    ts_ms: int
    event_id: str
    kind: str
    order_id: str | None
    customer_id: str | None = None
    sku: str | None = None
    category: str | None = None
    region: str | None = None
    carrier: str | None = None
    address_id: str | None = None
    amount: float | None = None
    quantity: int | None = None

    @property
    def route(self) -> str:
        """The key that decides the owning partition: customer, else order."""
        return self.customer_id if self.customer_id is not None else (self.order_id or "")

    @property
    def sort_key(self) -> tuple[int, str]:
        """Total order of facts: event time, then the (unique) event id."""
        return (self.ts_ms, self.event_id)

    def to_list(self) -> list[Any]:
        """Compact JSON-able form (see :meth:`from_list`)."""
        return [
            self.ts_ms,
            self.event_id,
            self.kind,
            self.order_id,
            self.customer_id,
            self.sku,
            self.category,
            self.region,
            self.carrier,
            self.address_id,
            self.amount,
            self.quantity,
        ]

    @classmethod
    def from_list(cls, item: object) -> RiskFact:
        """Inverse of :meth:`to_list`; raises ``ValueError`` on a malformed item (typed
        ``object``: it is read off the wire, and a compiled build checks annotations)."""
        if not isinstance(item, list) or len(item) != 12:
            raise ValueError("risk fact must be a list of 12 fields")
        ts, event_id, kind = item[0], item[1], item[2]
        if not isinstance(ts, int) or not isinstance(event_id, str) or kind not in FACT_KINDS:
            raise ValueError(f"bad risk fact head {item[:3]!r}")
        amount = None if item[10] is None else float(item[10])
        quantity = None if item[11] is None else int(item[11])
        order_id, customer_id, sku, category, region, carrier, address_id = (
            None if v is None else str(v) for v in item[3:10]
        )
        return cls(
            ts,
            event_id,
            kind,
            order_id,
            customer_id,
            sku,
            category,
            region,
            carrier,
            address_id,
            amount,
            quantity,
        )


def fact_from_event(event: Event) -> RiskFact | None:
    """The fact of a validated event, or ``None`` if the scorer has no use for it."""
    if isinstance(event, OrderEvent):
        if event.status not in FACT_KINDS:
            return None
        return RiskFact(
            event.ts_ms,
            event.event_id,
            event.status,
            event.order_id,
            event.customer_id,
            event.sku,
            event.category,
            event.region,
            event.carrier,
            event.address_id,
            event.amount,
            event.quantity,
        )
    if isinstance(event, ComplaintEvent):
        return RiskFact(
            event.ts_ms,
            event.event_id,
            "complaint",
            event.order_id,
            event.customer_id,
            event.sku,
            event.category,
            event.region,
            event.carrier,
        )
    return None


def risk_partition(fact: RiskFact, partitions: int) -> int:
    """The partials-topic partition that owns ``fact``'s customer (CRC-32, as
    :func:`streams.pipeline.wire.closer_partition`; prefixed so it does not follow a series)."""
    return zlib.crc32(f"risk:{fact.route}".encode()) % partitions
