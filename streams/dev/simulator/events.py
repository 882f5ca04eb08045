"""The simulator's output record: one keyed event on one short-named topic."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

ORDERS: Final = "orders"
COMPLAINTS: Final = "complaints"
WAIT_TIMES: Final = "wait-times"
REVIEWS: Final = "reviews"
TOPICS: Final = (ORDERS, COMPLAINTS, WAIT_TIMES, REVIEWS)


class Event(NamedTuple):
    """One generated event.

    Parameters
    ----------
    ts_ms
        Event time in epoch milliseconds (equals the value's ``ts``).
    topic
        Short topic name: ``"orders"``, ``"complaints"``, ``"wait-times"`` or ``"reviews"``.
    key
        Kafka key: order_id, complaint_id, ticket_id or review_id.
    value
        The contract-valid JSON object.
    """

    ts_ms: int
    topic: str
    key: str
    value: dict[str, Any]
