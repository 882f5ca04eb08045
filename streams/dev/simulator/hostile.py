"""Malformed inputs for intake tests: raw bytes plus the reason category they should get.

Reason categories (:data:`REASONS`): ``not_json``, ``not_object``, ``missing_field``,
``wrong_type``, ``out_of_range`` (negative amount or quantity, severity 4, ...),
``bad_ts``, ``unknown_status``, ``oversized`` (value > 1 MiB) and ``duplicate``. A
duplicate comes as a pair: the original (reason ``None``, valid) then the same bytes
again (reason ``duplicate``). :func:`with_nuisances` mixes late, duplicate and malformed
records into a simulated stream.

Examples
--------
>>> import numpy as np
>>> bad = bad_events(np.random.default_rng(0), 9)
>>> sorted({b.reason for b in bad if b.reason})[:3]
['bad_ts', 'duplicate', 'missing_field']
>>> sum(b.reason is None for b in bad)
1
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from typing import Any, Final, NamedTuple

import numpy as np

from streams.dev.simulator.events import COMPLAINTS, ORDERS, WAIT_TIMES, Event

REASONS: Final = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_ts",
    "unknown_status",
    "oversized",
    "duplicate",
)
ONE_MIB: Final = 1024 * 1024


class BadEvent(NamedTuple):
    """A raw input and the reason it must be rejected (``None``: valid original)."""

    topic: str
    key: bytes
    raw: bytes
    reason: str | None


def _order(i: int) -> dict[str, Any]:
    return {
        "event_id": f"bad-{i}",
        "ts": "2026-11-02T10:15:03.120Z",
        "order_id": f"O-BAD{i:06d}",
        "status": "placed",
        "sku": "SKU-00001",
        "quantity": 1,
        "amount": 19.99,
    }


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _one(rng: np.random.Generator, i: int, reason: str) -> list[BadEvent]:
    order = _order(i)
    key = order["order_id"].encode()
    if reason == "not_json":
        raw = [b'{"event_id": "x", ', b"\xff\xfe garbage", b"", b"placed"][int(rng.integers(4))]
        return [BadEvent(ORDERS, key, raw, reason)]
    if reason == "not_object":
        raw = [b"[1,2,3]", b'"order"', b"42", b"null"][int(rng.integers(4))]
        return [BadEvent(ORDERS, key, raw, reason)]
    if reason == "missing_field":
        topic, value = [
            (ORDERS, {k: v for k, v in order.items() if k != "order_id"}),
            (ORDERS, {k: v for k, v in order.items() if k != "status"}),
            (COMPLAINTS, {"event_id": f"bad-{i}", "ts": order["ts"], "reason": "late"}),
            (WAIT_TIMES, {"event_id": f"bad-{i}", "ts": order["ts"], "ticket_id": "T-BAD"}),
            (ORDERS, {k: v for k, v in order.items() if k != "event_id"}),
        ][int(rng.integers(5))]
        return [BadEvent(topic, key, _encode(value), reason)]
    if reason == "wrong_type":
        field, bad = [
            ("quantity", "two"),
            ("amount", "19.99"),
            ("order_id", 123),
            ("quantity", 1.5),
            ("sku", ["a"]),
        ][int(rng.integers(5))]
        return [BadEvent(ORDERS, key, _encode({**order, field: bad}), reason)]
    if reason == "out_of_range":
        choice = int(rng.integers(4))
        if choice == 2:
            value = {
                "event_id": f"bad-{i}",
                "ts": order["ts"],
                "complaint_id": "K-BAD",
                "severity": 4,
            }
            return [BadEvent(COMPLAINTS, b"K-BAD", _encode(value), reason)]
        if choice == 3:
            value = {
                "event_id": f"bad-{i}",
                "ts": order["ts"],
                "ticket_id": "T-BAD",
                "wait_seconds": -3.0,
            }
            return [BadEvent(WAIT_TIMES, b"T-BAD", _encode(value), reason)]
        field, bad = [("amount", -5.0), ("quantity", 0)][choice]
        return [BadEvent(ORDERS, key, _encode({**order, field: bad}), reason)]
    if reason == "bad_ts":
        ts = ["yesterday", "2026-13-45T99:00:00Z", "2026-11-02T10:15:03", None, True][
            int(rng.integers(5))
        ]
        return [BadEvent(ORDERS, key, _encode({**order, "ts": ts}), reason)]
    if reason == "unknown_status":
        status = ["shipped_twice", "PLACED", "", "lost"][int(rng.integers(4))]
        return [BadEvent(ORDERS, key, _encode({**order, "status": status}), reason)]
    if reason == "oversized":
        padding = "x" * (ONE_MIB + int(rng.integers(1, 1024)))
        return [BadEvent(ORDERS, key, _encode({**order, "note": padding}), reason)]
    raw = _encode(order)
    return [BadEvent(ORDERS, key, raw, None), BadEvent(ORDERS, key, raw, "duplicate")]


def bad_events(rng: np.random.Generator, n: int) -> list[BadEvent]:
    """``n`` malformed inputs cycling through :data:`REASONS` (duplicates add their original)."""
    out: list[BadEvent] = []
    for i in range(n):
        out.extend(_one(rng, i, REASONS[i % len(REASONS)]))
    return out


def with_nuisances(
    events: Iterable[Event],
    rng: np.random.Generator,
    *,
    late_share: float = 0.01,
    max_late_ms: int = 600_000,
    duplicate_share: float = 0.005,
    malformed_every: int = 5_000,
) -> Iterator[tuple[str, bytes, bytes]]:
    """Raw ``(topic, key, value)`` records of ``events`` with realistic input faults.

    A ``late_share`` of events is delivered up to ``max_late_ms`` of event time after
    its place (some within the engine's lateness, some beyond it), a
    ``duplicate_share`` is delivered twice, and every ``malformed_every`` events one
    :func:`bad_events` record is slipped in. Values are compact JSON.

    Examples
    --------
    >>> from streams.dev.simulator.events import Event
    >>> evs = [Event(i * 1000, "orders", f"O-{i}", {"event_id": f"e{i}"}) for i in range(50)]
    >>> out = list(
    ...     with_nuisances(
    ...         evs,
    ...         np.random.default_rng(1),
    ...         late_share=0.2,
    ...         max_late_ms=5_000,
    ...         duplicate_share=0.1,
    ...         malformed_every=20,
    ...     )
    ... )
    >>> len(out) > 50
    True
    """
    if not 0 <= late_share < 1 or not 0 <= duplicate_share < 1:
        msg = f"late_share, duplicate_share: must be in [0, 1), got {late_share}, {duplicate_share}"
        raise ValueError(msg)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    held: list[tuple[int, int, str, bytes, bytes]] = []
    seq = 0
    for count, event in enumerate(events, 1):
        while held and held[0][0] <= event.ts_ms:
            _, _, topic, key, raw = heapq.heappop(held)
            yield topic, key, raw
        record = (event.topic, event.key.encode(), dumps(event.value).encode())
        u = rng.random()
        if u < late_share:
            seq += 1
            delay = int(rng.integers(1, max_late_ms + 1))
            heapq.heappush(held, (event.ts_ms + delay, seq, *record))
        else:
            yield record
            if u < late_share + duplicate_share:
                yield record
        if malformed_every and count % malformed_every == 0:
            bad = _one(rng, count, REASONS[int(rng.integers(len(REASONS) - 1))])[0]
            yield bad.topic, bad.key, bad.raw
    while held:
        _, _, topic, key, raw = heapq.heappop(held)
        yield topic, key, raw
