"""The outreach list: the riskiest orders still open, their main factors, what to do.

Reads order-risk records (``replay --risk-out`` or the topic dumped as JSONL), keeps
each order's latest record, drops orders whose outcome horizon (30 days after the
record) ended before the newest record in the input, and ranks the rest by score.
The suggested action follows the largest positive factor: product factors ->
"send the size guide", logistics factors -> "check the parcel with the carrier",
customer and address factors -> "call the customer".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

__all__ = ["ACTIONS", "OutreachItem", "action_for", "outreach", "read_records"]

ACTIONS: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "sku_return_rate",
            "category_return_rate",
            "sku_return_surge",
            "quantity",
            "amount_vs_sku",
        ),
        "send the size guide",
    ),
    **dict.fromkeys(
        ("cell_complaint_rate", "transit_time", "late_days"), "check the parcel with the carrier"
    ),
    **dict.fromkeys(
        (
            "customer_history",
            "new_customer",
            "amount_vs_customer",
            "address_shared",
            "customer_addresses",
        ),
        "call the customer",
    ),
}
_HORIZON_S: Final = 30 * 86_400


def action_for(factor: str | None) -> str:
    """The suggested action for a record's main factor."""
    return ACTIONS.get(factor or "", "call the customer")


@dataclass(frozen=True, slots=True)
class OutreachItem:
    """One order to contact."""

    order_id: str
    score: float
    level: str
    stage: str
    ts: str
    customer_id: str | None
    factors: tuple[tuple[str, float], ...]
    action: str


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def outreach(
    records: Iterable[dict[str, Any]], top: int = 20, factors: int = 3
) -> list[OutreachItem]:
    """The ``top`` riskiest open orders of ``records`` (records missing a field raise
    ``KeyError``/``ValueError``, for the caller to report)."""
    latest: dict[str, dict[str, Any]] = {}
    newest = float("-inf")
    for record in records:
        ts = _epoch(record["ts"])
        newest = max(newest, ts)
        held = latest.get(record["order_id"])
        if held is None or ts >= _epoch(held["ts"]):
            latest[record["order_id"]] = record
    open_records = [r for r in latest.values() if _epoch(r["ts"]) + _HORIZON_S >= newest]
    open_records.sort(key=lambda r: (-float(r["score"]), r["order_id"]))
    items = []
    for r in open_records[:top]:
        main = tuple(
            (f["name"], float(f["contribution"]))
            for f in r["factors"]
            if float(f["contribution"]) > 0
        )[:factors]
        items.append(
            OutreachItem(
                r["order_id"],
                float(r["score"]),
                r["level"],
                r["stage"],
                r["ts"],
                r.get("customer_id"),
                main,
                action_for(main[0][0] if main else None),
            )
        )
    return items


def read_records(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    """Parse JSONL risk records, skipping blank lines; a bad line raises ``ValueError``
    naming its line number."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "order_id" not in record:
                raise ValueError("not a risk record")  # noqa: TRY301 - reported with its line below
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        yield record
