"""The optional inputs of contract 7.1: promised_at, refund_amount, csat and reviews."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.contract.events import OrderEvent, ReviewEvent, WaitTimeEvent
from streams.contract.validation import MAX_REVIEW_TEXT, REASONS, decode_event
from streams.exceptions import InvalidEvent

ORDER: dict[str, Any] = {
    "event_id": "e-1",
    "ts": "2026-11-02T10:15:00Z",
    "order_id": "o-1",
    "status": "shipped",
}
WAIT: dict[str, Any] = {
    "event_id": "e-3",
    "ts": 1793614500000,
    "ticket_id": "t-1",
    "wait_seconds": 120,
}
REVIEW: dict[str, Any] = {"event_id": "e-4", "ts": 1793614500000, "review_id": "r-1", "rating": 2}


def decode(topic: str, obj: dict[str, Any]) -> Any:
    return decode_event(topic, json.dumps(obj).encode())  # type: ignore[arg-type]


class TestAccepted:
    def test_order_without_new_fields_reads_as_before(self) -> None:
        """An order without the new fields still decodes; they are None."""
        event = decode("orders", ORDER)
        assert isinstance(event, OrderEvent)
        assert (event.promised_at_ms, event.refund_amount) == (None, None)

    def test_order_with_new_fields(self) -> None:
        """promised_at (RFC 3339) becomes epoch ms; refund_amount a float."""
        event = decode(
            "orders", {**ORDER, "promised_at": "2026-11-04T12:00:00+02:00", "refund_amount": 12}
        )
        assert (event.promised_at_ms, event.refund_amount) == (1793786400000, 12.0)

    def test_wait_with_csat(self) -> None:
        """csat 1..5 is kept; absent or null is None."""
        assert decode("wait-times", {**WAIT, "csat": 5}).csat == 5
        assert decode("wait-times", {**WAIT, "csat": None}).csat is None
        assert isinstance(decode("wait-times", WAIT), WaitTimeEvent)

    def test_review(self) -> None:
        """A review with every optional field, its text holding line breaks."""
        event = decode(
            "reviews",
            {
                **REVIEW,
                "order_id": "o-1",
                "customer_id": "c-1",
                "sku": "SKU-1",
                "category": "shoes",
                "text": "Fell apart.\nAfter a week.",
            },
        )
        assert isinstance(event, ReviewEvent)
        assert (event.rating, event.sku, event.text) == (2, "SKU-1", "Fell apart.\nAfter a week.")


@pytest.mark.parametrize(
    ("topic", "change", "reason", "field"),
    [
        ("orders", {"promised_at": "next tuesday"}, "bad_timestamp", "promised_at"),
        ("orders", {"promised_at": 1793614500000}, "wrong_type", "promised_at"),
        ("orders", {"promised_at": "2026-11-04T12:00:00"}, "bad_timestamp", "promised_at"),
        ("orders", {"refund_amount": -0.01}, "out_of_range", "refund_amount"),
        ("orders", {"refund_amount": 1e13}, "out_of_range", "refund_amount"),
        ("orders", {"refund_amount": "12"}, "wrong_type", "refund_amount"),
        ("wait-times", {"csat": 0}, "out_of_range", "csat"),
        ("wait-times", {"csat": 6}, "out_of_range", "csat"),
        ("wait-times", {"csat": 4.5}, "wrong_type", "csat"),
        ("wait-times", {"csat": True}, "wrong_type", "csat"),
        ("reviews", {"rating": None}, "missing_field", "rating"),
        ("reviews", {"rating": 0}, "out_of_range", "rating"),
        ("reviews", {"rating": "5"}, "wrong_type", "rating"),
        ("reviews", {"review_id": None}, "missing_field", "review_id"),
        ("reviews", {"text": "x" * (MAX_REVIEW_TEXT + 1)}, "out_of_range", "text"),
        ("reviews", {"text": 5}, "wrong_type", "text"),
        ("reviews", {"text": "ok\u202eevil"}, "bad_text", "text"),
        ("reviews", {"sku": ["SKU-1"]}, "wrong_type", "sku"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_rejected(topic: str, change: dict[str, Any], reason: str, field: str) -> None:
    """Each bad value is rejected with its reason and field (so it is dead-lettered)."""
    base = {"orders": ORDER, "wait-times": WAIT, "reviews": REVIEW}[topic]
    with pytest.raises(InvalidEvent) as info:
        decode(topic, {**base, **change})
    assert (info.value.reason, info.value.field) == (reason, field)
    assert info.value.reason in REASONS


def test_review_text_at_the_limit_is_accepted() -> None:
    """Exactly MAX_REVIEW_TEXT characters is fine."""
    assert decode("reviews", {**REVIEW, "text": "x" * MAX_REVIEW_TEXT}).text is not None


def test_replay_reads_the_reviews_topic_and_dead_letters_bad_reviews() -> None:
    """Replay lines may name "reviews"; a bad review is dead-lettered with its reason."""
    from streams.pipeline.replay import ReplayPipeline, read_jsonl
    from streams.rules.catalogue import load_rules

    lines = [
        json.dumps({"topic": "reviews", "value": REVIEW}),
        json.dumps(
            {
                "topic": "reviews",
                "value": {**REVIEW, "event_id": "e-5", "review_id": "r-2", "rating": 9},
            }
        ),
    ]
    replay = ReplayPipeline(load_rules())
    assert list(replay.run(read_jsonl(lines))) == []
    assert [(d.reason, d.source_topic) for d in replay.dead_letters] == [
        ("out_of_range", "aftersales.reviews")
    ]
