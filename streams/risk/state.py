"""The risk scorer's per-key records and their snapshot forms.

Open orders are one packed ``bytes`` each (there are hundreds of thousands, and a bytes
object is neither boxed field by field nor tracked by the garbage collector); SKUs and
region x carrier cells are small slotted objects. Customers and addresses, packed too,
are in :mod:`streams.risk.customers`. ``last_seen`` and ``worth``
give the order in which :class:`~streams.risk.scorer.RiskScorer` evicts idle keys and
keys over its cap.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = [
    "ORDER_HEAD",
    "UNSET",
    "Cell",
    "Sku",
    "decay",
    "drop_idle",
    "is_labelled",
    "labelled",
    "lapsed_undelivered",
    "order_from_list",
    "order_to_list",
    "pack_order",
    "unpack_order",
]


def decay(at_ms: int, now_ms: int, tau_ms: float) -> float:
    """``exp(-(now - at) / tau)``: the weight left of what was counted at ``at_ms``."""
    return math.exp(-(now_ms - at_ms) / tau_ms) if now_ms > at_ms else 1.0


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
_UNSET_BYTES: Final = struct.pack("<q", UNSET)
_DELIVERED_AT, _EXPIRES_AT, _LABELLED_AT = 8, 16, 24


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


def is_labelled(raw: bytes) -> bool:
    """Whether an outcome (return, exchange or complaint) labelled the packed order."""
    return bool(raw[_LABELLED_AT])


def labelled(raw: bytes) -> bytes:
    """The packed order with its label set."""
    return raw[:_LABELLED_AT] + b"\x01" + raw[_LABELLED_AT + 1 :]


def lapsed_undelivered(raw: bytes, now_ms: int) -> bool:
    """Whether the packed order was never delivered and its ``open_ms`` has passed."""
    return (
        raw[_DELIVERED_AT:_EXPIRES_AT] == _UNSET_BYTES and ORDER_HEAD.unpack_from(raw)[2] <= now_ms
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


def order_to_list(raw: bytes) -> list[Any]:
    """The snapshot form of a packed order (see :func:`order_from_list`)."""
    shipped, delivered, expires, labelled, vectors = unpack_order(raw)
    return [shipped, delivered, expires, labelled, vectors.hex(), 1]
