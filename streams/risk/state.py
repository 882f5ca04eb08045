"""The risk scorer's per-key records and their snapshot forms.

Customers, addresses and open orders, the stores that grow with the shop, are one packed
``bytes`` each (there are hundreds of thousands, and a bytes object is neither boxed
field by field nor tracked by the garbage collector); SKUs and region x carrier cells
are small slotted objects. ``last_seen`` and ``worth``
give the order in which :class:`~streams.risk.scorer.RiskScorer` evicts idle keys and
keys over its cap.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

__all__ = [
    "ADDRESS_HEAD",
    "CUSTOMER_HEAD",
    "DELIVERED_AT",
    "EXPIRES_AT",
    "LABELLED_AT",
    "ORDER_HEAD",
    "UNSET",
    "UNSET_BYTES",
    "Cell",
    "Customer",
    "Sku",
    "address_customers",
    "address_from_list",
    "address_last_seen",
    "address_to_list",
    "address_used",
    "address_worth",
    "customer",
    "customer_addresses",
    "customer_delivered",
    "customer_from_list",
    "customer_last_seen",
    "customer_outcome",
    "customer_placed",
    "customer_to_list",
    "customer_worth",
    "decay",
    "drop_idle",
    "order_from_list",
    "order_to_list",
    "pack_order",
    "unpack_order",
]


def decay(at_ms: int, now_ms: int, tau_ms: float) -> float:
    """``exp(-(now - at) / tau)``: the weight left of what was counted at ``at_ms``."""
    return math.exp(-(now_ms - at_ms) / tau_ms) if now_ms > at_ms else 1.0


#: A customer is one ``bytes`` too (a shop keeps hundreds of thousands for 180 days): the
#: :class:`Customer` fields below, then each address as its UTF-8 length (2 bytes) and text.
CUSTOMER_HEAD: Final = struct.Struct("<qddiiiB")
_TEXT_LENGTH: Final = struct.Struct("<H")
_NEW_CUSTOMER: Final = CUSTOMER_HEAD.pack(0, 0.0, 0.0, 0, 0, 0, 0)


class Customer(NamedTuple):
    """One customer's history, unpacked from its ``bytes`` (:func:`customer_placed`)."""

    seen_ms: int
    #: Outcomes expected of the delivered orders from their SKUs and cells alone.
    expected: float
    amount_sum: float
    orders: int
    outcomes: int
    amount_n: int
    #: How many addresses it used (at most 4 are kept).
    n_addresses: int


def customer(raw: bytes) -> Customer:
    """The fields of a packed customer (its addresses: :func:`customer_addresses`)."""
    return Customer._make(CUSTOMER_HEAD.unpack_from(raw))


def customer_placed(
    raw: bytes | None, ts_ms: int, amount: float | None, address: str | None, max_addresses: int
) -> bytes:
    """A customer (``None``: a new one) after an order placed at ``ts_ms``: one more order,
    the amount counted if given, the address added if new and fewer than
    ``max_addresses`` are kept. (Fields by position: this runs once per placed order.)"""
    if raw is None:
        raw = _NEW_CUSTOMER
    _, expected, amount_sum, orders, outcomes, amount_n, n_addresses = CUSTOMER_HEAD.unpack_from(
        raw
    )
    if amount:
        amount_sum += amount
        amount_n += 1
    tail = raw[CUSTOMER_HEAD.size :]
    if (
        address is not None
        and n_addresses < max_addresses
        and address not in customer_addresses(raw)
    ):
        tail += _text(address)
        n_addresses += 1
    head = CUSTOMER_HEAD.pack(
        ts_ms, expected, amount_sum, orders + 1, outcomes, amount_n, n_addresses
    )
    return head + tail


def customer_delivered(raw: bytes, ts_ms: int, expected: float) -> bytes:
    """A customer after one of its orders was delivered, ``expected`` outcomes more."""
    _, before, *rest = CUSTOMER_HEAD.unpack_from(raw)
    return CUSTOMER_HEAD.pack(ts_ms, before + expected, *rest) + raw[CUSTOMER_HEAD.size :]


def customer_outcome(raw: bytes, ts_ms: int) -> bytes:
    """A customer after one of its orders ended in a return, an exchange or a complaint."""
    _, expected, amount_sum, orders, outcomes, amount_n, n_addresses = CUSTOMER_HEAD.unpack_from(
        raw
    )
    head = CUSTOMER_HEAD.pack(
        ts_ms, expected, amount_sum, orders, outcomes + 1, amount_n, n_addresses
    )
    return head + raw[CUSTOMER_HEAD.size :]


def customer_addresses(raw: bytes) -> tuple[str, ...]:
    """The addresses of a packed customer, in the order first used."""
    return _texts(raw, CUSTOMER_HEAD.size)


def _texts(raw: bytes, at: int) -> tuple[str, ...]:
    """The length-prefixed UTF-8 texts of ``raw`` from offset ``at`` on."""
    found = []
    while at < len(raw):
        (size,) = _TEXT_LENGTH.unpack_from(raw, at)
        at += _TEXT_LENGTH.size
        found.append(raw[at : at + size].decode("utf-8"))
        at += size
    return tuple(found)


def _text(text: str) -> bytes:
    """``text`` as its UTF-8 length (2 bytes) and UTF-8 bytes."""
    data = text.encode("utf-8")
    return _TEXT_LENGTH.pack(len(data)) + data


def customer_last_seen(raw: bytes) -> int:
    """Event time of the customer's last event (for idle eviction)."""
    seen_ms: int = CUSTOMER_HEAD.unpack_from(raw)[0]
    return seen_ms


def customer_worth(raw: bytes) -> tuple[bool, int]:
    """Eviction order over the cap: one-order customers without an outcome first."""
    c = customer(raw)
    return (c.orders > 1 or c.outcomes > 0, c.seen_ms)


def customer_to_list(raw: bytes) -> list[Any]:
    """The snapshot form: ``[seen, orders, expected, outcomes, amount_sum, amount_n,
    [address, ...]]`` (as before customers were packed)."""
    c = customer(raw)
    addresses = list(customer_addresses(raw))
    return [c.seen_ms, c.orders, c.expected, c.outcomes, c.amount_sum, c.amount_n, addresses]


def customer_from_list(item: list[Any]) -> bytes:
    """Restore :func:`customer_to_list`."""
    addresses = [str(a) for a in item[6]]
    head = CUSTOMER_HEAD.pack(
        int(item[0]),
        float(item[2]),
        float(item[4]),
        int(item[1]),
        int(item[3]),
        int(item[5]),
        len(addresses),
    )
    return head + b"".join(map(_text, addresses))


class Sku:
    """Long-run counts, amounts and a decayed (recent) return rate of one SKU."""

    __slots__ = (
        "amount_n",
        "amount_sum",
        "delivered",
        "recent_at",
        "recent_del",
        "recent_ret",
        "returns",
        "seen_ms",
    )

    def __init__(self, seen_ms: int) -> None:
        self.seen_ms = seen_ms
        self.delivered = 0.0
        self.returns = 0.0
        self.amount_sum = 0.0
        self.amount_n = 0
        self.recent_del = 0.0
        self.recent_ret = 0.0
        self.recent_at = seen_ms

    def decay_to(self, now_ms: int, tau_ms: float) -> None:
        """Decay the recent counts to ``now_ms`` (time constant ``tau_ms``)."""
        f = decay(self.recent_at, now_ms, tau_ms)
        self.recent_del *= f
        self.recent_ret *= f
        self.recent_at = max(self.recent_at, now_ms)

    def last_seen(self) -> int:
        """Event time of the last event (for idle eviction)."""
        return self.seen_ms

    def worth(self) -> tuple[bool, int]:
        """Eviction order over the cap: SKUs delivered at most once first."""
        return (self.delivered > 1, self.seen_ms)

    def to_list(self) -> list[Any]:
        """The snapshot form (JSON-able)."""
        return [
            self.seen_ms,
            self.delivered,
            self.returns,
            self.amount_sum,
            self.amount_n,
            self.recent_del,
            self.recent_ret,
            self.recent_at,
        ]

    @classmethod
    def from_list(cls, item: list[Any]) -> Sku:
        """Restore :meth:`to_list`."""
        s = cls(int(item[0]))
        s.delivered, s.returns, s.amount_sum = float(item[1]), float(item[2]), float(item[3])
        s.amount_n, s.recent_del, s.recent_ret = int(item[4]), float(item[5]), float(item[6])
        s.recent_at = int(item[7])
        return s


class Cell:
    """Decayed complaints per delivery and transit hours of one region x carrier."""

    __slots__ = ("at_ms", "complaints", "delivered", "transit_h", "transit_n")

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms
        self.complaints = 0.0
        self.delivered = 0.0
        self.transit_h = 0.0
        self.transit_n = 0.0

    def decay_to(self, now_ms: int, tau_ms: float) -> None:
        """Decay the recent counts to ``now_ms`` (time constant ``tau_ms``)."""
        f = decay(self.at_ms, now_ms, tau_ms)
        self.complaints *= f
        self.delivered *= f
        self.transit_h *= f
        self.transit_n *= f
        self.at_ms = max(self.at_ms, now_ms)

    def last_seen(self) -> int:
        """Event time of the last event (for idle eviction)."""
        return self.at_ms

    def to_list(self) -> list[Any]:
        """The snapshot form (JSON-able)."""
        return [self.at_ms, self.complaints, self.delivered, self.transit_h, self.transit_n]

    @classmethod
    def from_list(cls, item: list[Any]) -> Cell:
        """Restore :meth:`to_list`."""
        c = cls(int(item[0]))
        c.complaints, c.delivered = float(item[1]), float(item[2])
        c.transit_h, c.transit_n = float(item[3]), float(item[4])
        return c


#: An open order is one ``bytes`` (hundreds of thousands may be open, and a bytes object
#: is neither boxed field by field nor tracked by the garbage collector): shipped,
#: delivered and expiry time in ms (:data:`UNSET` when unknown), whether an outcome
#: labelled it, then one record per scored stage: the stage's index (one byte) and its
#: feature vector (float32), in the order the stages were scored.
ORDER_HEAD: Final = struct.Struct("<qqqB")
UNSET: Final = -(1 << 63)
UNSET_BYTES: Final = struct.pack("<q", UNSET)
DELIVERED_AT, EXPIRES_AT, LABELLED_AT = 8, 16, 24


def pack_order(
    shipped_ms: int | None,
    delivered_ms: int | None,
    expires_ms: int,
    labelled: bool,
    vectors: bytes,
) -> bytes:
    """One open order as ``bytes`` (see :func:`unpack_order`)."""
    return (
        ORDER_HEAD.pack(
            UNSET if shipped_ms is None else shipped_ms,
            UNSET if delivered_ms is None else delivered_ms,
            expires_ms,
            labelled,
        )
        + vectors
    )


def unpack_order(raw: bytes) -> tuple[int | None, int | None, int, bool, bytes]:
    """``(shipped_ms, delivered_ms, expires_ms, labelled, vectors)`` of a packed order."""
    shipped, delivered, expires, labelled = ORDER_HEAD.unpack_from(raw)
    return (
        None if shipped == UNSET else shipped,
        None if delivered == UNSET else delivered,
        expires,
        bool(labelled),
        raw[ORDER_HEAD.size :],
    )


def order_from_list(item: list[Any]) -> bytes:
    """A snapshot's order: ``[shipped, delivered, expires, labelled, vectors_hex, 1]``, or
    the older ``[customer, sku, shipped, delivered, expires, labelled, [vector_hex, ...]]``
    (whose i-th vector was learned by the i-th stage's model, as it is restored)."""
    if len(item) == 7:
        tagged = b"".join(bytes((i,)) + bytes.fromhex(v) for i, v in enumerate(item[6]))
        return pack_order(item[2], item[3], int(item[4]), bool(item[5]), tagged)
    if len(item) != 6 or item[5] != 1:
        msg = f"risk order: unknown snapshot form of {len(item)} fields"
        raise ValueError(msg)
    return pack_order(item[0], item[1], int(item[2]), bool(item[3]), bytes.fromhex(item[4]))


_V = TypeVar("_V")


def drop_idle(store: dict[str, _V], cutoff_ms: int, last_seen: Callable[[_V], int]) -> int:
    """Delete the entries of ``store`` last seen before ``cutoff_ms``; how many."""
    stale = [key for key, value in store.items() if last_seen(value) < cutoff_ms]
    for key in stale:
        del store[key]
    return len(stale)


#: An address is one ``bytes`` too: when it was last used, how many customers used it,
#: then their ids (at most 8, length-prefixed UTF-8, in the order first seen).
ADDRESS_HEAD: Final = struct.Struct("<qB")


def address_used(raw: bytes | None, ts_ms: int, customer_id: str, max_customers: int) -> bytes:
    """An address (``None``: a new one) after ``customer_id`` placed an order to it at
    ``ts_ms``: the customer added if new and fewer than ``max_customers`` are kept."""
    if raw is None:
        return ADDRESS_HEAD.pack(ts_ms, 1) + _text(customer_id)
    (_, count), tail = ADDRESS_HEAD.unpack_from(raw), raw[ADDRESS_HEAD.size :]
    if count < max_customers and customer_id not in _texts(raw, ADDRESS_HEAD.size):
        count, tail = count + 1, tail + _text(customer_id)
    return ADDRESS_HEAD.pack(ts_ms, count) + tail


def address_customers(raw: bytes) -> int:
    """How many customers used the address (at most the kept maximum)."""
    count: int = ADDRESS_HEAD.unpack_from(raw)[1]
    return count


def address_last_seen(raw: bytes) -> int:
    """Event time an address was last used."""
    seen_ms: int = ADDRESS_HEAD.unpack_from(raw)[0]
    return seen_ms


def address_worth(raw: bytes) -> tuple[bool, int]:
    """Eviction order over the cap: addresses of one customer first."""
    seen_ms, count = ADDRESS_HEAD.unpack_from(raw)
    return (count > 1, seen_ms)


def address_to_list(raw: bytes) -> list[Any]:
    """The snapshot form: ``[seen, [customer id, ...]]`` (as before addresses were packed)."""
    return [address_last_seen(raw), list(_texts(raw, ADDRESS_HEAD.size))]


def address_from_list(item: list[Any]) -> bytes:
    """Restore :func:`address_to_list`."""
    ids = [str(i) for i in item[1]]
    return ADDRESS_HEAD.pack(int(item[0]), len(ids)) + b"".join(map(_text, ids))


def order_to_list(raw: bytes) -> list[Any]:
    """The snapshot form of a packed order (see :func:`order_from_list`)."""
    shipped, delivered, expires, labelled, vectors = unpack_order(raw)
    return [shipped, delivered, expires, labelled, vectors.hex(), 1]
