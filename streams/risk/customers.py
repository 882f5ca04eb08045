"""The risk scorer's customers and addresses, each one packed ``bytes``.

A shop keeps hundreds of thousands of each (customers for 180 idle days): as one bytes
object a record is neither boxed field by field nor tracked by the garbage collector
(379 bytes per customer with its address, against 536 as objects; order-risk.md).
Ids inside a record are length-prefixed UTF-8. ``*_last_seen`` and ``*_worth`` give the
order in which :class:`~streams.risk.scorer.RiskScorer` evicts idle keys and keys over
its cap; ``*_to_list`` / ``*_from_list`` are the snapshot forms (unchanged since these
records were objects).
"""

from __future__ import annotations

import struct
from typing import Any, Final, NamedTuple

__all__ = [
    "ADDRESS_HEAD",
    "CUSTOMER_HEAD",
    "Customer",
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
]

#: A customer: the :class:`Customer` fields below, then each address as its UTF-8 length
#: (2 bytes) and text.
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
