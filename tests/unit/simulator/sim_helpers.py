"""Test helpers: a small contract checker (CONTRACT.md section 2) and columnar event views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from streams.dev.simulator.cli import incident_option
from streams.dev.simulator.config import DEFAULT_START, SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.incidents import INCIDENT_TYPES, Incident

STATUSES = {
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
_STR = (str,)
_SPEC: dict[str, tuple[set[str], dict[str, str]]] = {
    # topic -> (required fields, {field: kind})
    "orders": (
        {"order_id", "status"},
        {
            "order_id": "str",
            "status": "status",
            "customer_id": "str",
            "sku": "str",
            "category": "str",
            "region": "str",
            "carrier": "str",
            "channel": "str",
            "address_id": "str",
            "quantity": "int>=1",
            "amount": "num>=0",
            "reason": "str",
        },
    ),
    "complaints": (
        {"complaint_id"},
        {
            "complaint_id": "str",
            "order_id": "str",
            "customer_id": "str",
            "sku": "str",
            "category": "str",
            "region": "str",
            "carrier": "str",
            "channel": "str",
            "reason": "str",
            "severity": "severity",
        },
    ),
    "wait-times": (
        {"ticket_id", "wait_seconds"},
        {
            "ticket_id": "str",
            "wait_seconds": "num>=0",
            "queue": "str",
            "channel": "str",
            "region": "str",
            "handle_seconds": "num>=0",
            "csat": "rating",
        },
    ),
    # Contract 7.1.
    "reviews": (
        {"review_id", "rating"},
        {
            "review_id": "str",
            "rating": "rating",
            "order_id": "str",
            "customer_id": "str",
            "sku": "str",
            "category": "str",
            "text": "str",
        },
    ),
}


def _ok(kind: str, value: Any) -> bool:
    if value is None:
        return True
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "str": isinstance(value, str),
        "status": isinstance(value, str) and value in STATUSES,
        "int>=1": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        "num>=0": is_num and value >= 0,
        "severity": isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3,
        "rating": isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5,
    }[kind]


def contract_errors(topic: str, value: Any) -> list[str]:
    """Everything wrong with one input event per the contract (empty list = valid)."""
    if topic not in _SPEC:
        return [f"unknown topic {topic!r}"]
    if not isinstance(value, dict):
        return ["not an object"]
    errors = []
    event_id, ts = value.get("event_id"), value.get("ts")
    if not isinstance(event_id, str) or not event_id:
        errors.append("event_id")
    if isinstance(ts, str):
        try:
            if datetime.fromisoformat(ts).tzinfo is None:
                errors.append("ts without offset")
        except ValueError:
            errors.append("ts not RFC 3339")
    elif not (isinstance(ts, int) and not isinstance(ts, bool)):
        errors.append("ts type")
    required, kinds = _SPEC[topic]
    errors += [f"missing {f}" for f in sorted(required) if value.get(f) is None]
    errors += [
        f"bad {f}={value[f]!r}" for f, k in kinds.items() if f in value and not _ok(k, value[f])
    ]
    return errors


class Columns:
    """Selected fields of many events as numpy arrays (missing = ``""`` or ``nan``)."""

    STR_FIELDS = (
        "status",
        "sku",
        "category",
        "region",
        "carrier",
        "channel",
        "reason",
        "queue",
        "customer_id",
        "address_id",
    )

    def __init__(self, events: Iterable[Event]) -> None:
        ts, topic, key, amount, wait = [], [], [], [], []
        strs: dict[str, list[str]] = {f: [] for f in self.STR_FIELDS}
        for e in events:
            v = e.value
            ts.append(e.ts_ms)
            topic.append(e.topic)
            key.append(e.key)
            amount.append(v.get("amount", np.nan))
            wait.append(v.get("wait_seconds", np.nan))
            for f, col in strs.items():
                col.append(v.get(f) or "")
        self.ts = np.array(ts, dtype=np.int64)
        self.topic = np.array(topic, dtype=object)
        self.key = np.array(key, dtype=object)
        self.amount = np.array(amount, dtype=np.float64)
        self.wait = np.array(wait, dtype=np.float64)
        for f, col in strs.items():
            setattr(self, f, np.array(col, dtype=object))

    def __len__(self) -> int:
        return len(self.ts)

    def between(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Mask of events with ``start_ms <= ts < end_ms``."""
        return (self.ts >= start_ms) & (self.ts < end_ms)

    def order_status(self, status: str) -> np.ndarray:
        """Mask of order events with one status."""
        return (self.topic == "orders") & (self.status == status)

    def return_rate(self, mask: np.ndarray) -> float:
        """(return_requested + exchange_requested) / delivered among ``mask``."""
        returns = mask & (
            self.order_status("return_requested") | self.order_status("exchange_requested")
        )
        delivered = mask & self.order_status("delivered")
        return float(returns.sum() / max(delivered.sum(), 1))


def every_incident_config(*extra: Incident, **changes: Any) -> SimulationConfig:
    """A fast two-day run with one incident of each CLI type (plus ``extra``)."""
    duration = timedelta(days=2)
    incidents = tuple(
        incident_option(kind, i, len(INCIDENT_TYPES), DEFAULT_START, duration)
        for i, kind in enumerate(INCIDENT_TYPES)
    )
    return SimulationConfig(
        seed=5,
        duration=duration,
        orders_per_day=1_500,
        n_skus=300,
        warmup=timedelta(days=6),
        incidents=(*incidents, *extra),
        **changes,
    )
