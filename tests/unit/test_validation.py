"""Decoding and validation of input events against the contract (section 2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.contract.events import ComplaintEvent, OrderEvent, WaitTimeEvent
from streams.contract.validation import MAX_STRING, REASONS, decode_event, parse_ts
from streams.exceptions import InvalidEvent

ORDER: dict[str, Any] = {
    "event_id": "e-1",
    "ts": "2026-11-02T10:15:00Z",
    "order_id": "o-1",
    "status": "placed",
    "sku": "SKU-1",
    "quantity": 2,
    "amount": 19.5,
}
COMPLAINT: dict[str, Any] = {"event_id": "e-2", "ts": 1793614500000, "complaint_id": "c-1"}
WAIT: dict[str, Any] = {
    "event_id": "e-3",
    "ts": "2026-11-02T11:15:00+01:00",
    "ticket_id": "t-1",
    "wait_seconds": 120,
}


def encode(obj: object) -> bytes:
    return json.dumps(obj).encode()


def reason_of(topic: str, raw: bytes) -> tuple[str, str | None]:
    with pytest.raises(InvalidEvent) as info:
        decode_event(topic, raw)  # type: ignore[arg-type]
    assert info.value.reason in REASONS
    return info.value.reason, info.value.field


class TestValidEvents:
    def test_order(self) -> None:
        """A contract order becomes an OrderEvent with ts in epoch ms."""
        event = decode_event("orders", encode(ORDER))
        assert isinstance(event, OrderEvent)
        assert event.ts_ms == 1793614500000
        assert (event.quantity, event.amount, event.customer_id) == (2, 19.5, None)

    def test_complaint_with_epoch_ms(self) -> None:
        """Integer epoch milliseconds are accepted as ts."""
        event = decode_event("complaints", encode(COMPLAINT))
        assert isinstance(event, ComplaintEvent)
        assert event.ts_ms == 1793614500000

    def test_wait_time_with_offset(self) -> None:
        """An RFC 3339 offset is honoured."""
        event = decode_event("wait-times", encode(WAIT))
        assert isinstance(event, WaitTimeEvent)
        assert event.ts_ms == 1793614500000
        assert event.wait_seconds == 120.0

    def test_unknown_fields_and_nulls_are_ignored(self) -> None:
        """Extra fields are ignored and optional fields may be null."""
        event = decode_event("orders", encode({**ORDER, "extra": [1], "sku": None, "amount": None}))
        assert isinstance(event, OrderEvent)
        assert event.sku is None and event.amount is None

    def test_zero_amount_is_valid(self) -> None:
        """Amount 0 is inside the allowed range."""
        event = decode_event("orders", encode({**ORDER, "amount": 0}))
        assert isinstance(event, OrderEvent) and event.amount == 0.0

    def test_fractional_milliseconds_round_down(self) -> None:
        """Sub-millisecond precision is truncated, deterministically."""
        assert parse_ts("2026-11-02T10:15:00.0019Z") == 1793614500001


class TestRejections:
    @pytest.mark.parametrize(
        ("topic", "raw", "reason", "field"),
        [
            ("orders", b"{not json", "not_json", None),
            ("orders", b"\xff\xfe\x00", "not_json", None),
            ("orders", b"", "not_json", None),
            ("orders", b"[1, 2]", "not_object", None),
            ("orders", b'"text"', "not_object", None),
            (
                "orders",
                encode({k: v for k, v in ORDER.items() if k != "order_id"}),
                "missing_field",
                "order_id",
            ),
            ("orders", encode({**ORDER, "event_id": None}), "missing_field", "event_id"),
            (
                "orders",
                encode({k: v for k, v in ORDER.items() if k != "ts"}),
                "missing_field",
                "ts",
            ),
            ("orders", encode({**ORDER, "order_id": 12}), "wrong_type", "order_id"),
            ("orders", encode({**ORDER, "quantity": "2"}), "wrong_type", "quantity"),
            ("orders", encode({**ORDER, "quantity": 1.5}), "wrong_type", "quantity"),
            ("orders", encode({**ORDER, "quantity": True}), "wrong_type", "quantity"),
            ("orders", encode({**ORDER, "amount": "9.99"}), "wrong_type", "amount"),
            ("orders", encode({**ORDER, "sku": 5}), "wrong_type", "sku"),
            ("orders", encode({**ORDER, "amount": -1}), "out_of_range", "amount"),
            ("orders", encode({**ORDER, "quantity": 0}), "out_of_range", "quantity"),
            (
                "orders",
                (
                    b'{"event_id":"e","ts":1793614500000,"order_id":"o","status":"placed",'
                    b'"amount":NaN}'
                ),
                "out_of_range",
                "amount",
            ),
            ("orders", encode({**ORDER, "status": "lost"}), "unknown_status", "status"),
            ("orders", encode({**ORDER, "ts": "yesterday"}), "bad_timestamp", "ts"),
            ("orders", encode({**ORDER, "ts": "2026-11-02T10:15:00"}), "bad_timestamp", "ts"),
            ("orders", encode({**ORDER, "ts": "2026-11-02"}), "bad_timestamp", "ts"),
            ("orders", encode({**ORDER, "ts": 1.5e12}), "bad_timestamp", "ts"),
            ("orders", encode({**ORDER, "ts": -5}), "bad_timestamp", "ts"),
            ("orders", encode({**ORDER, "ts": 10**18}), "bad_timestamp", "ts"),
            ("complaints", encode({**COMPLAINT, "severity": 4}), "out_of_range", "severity"),
            ("complaints", encode({**COMPLAINT, "severity": 0}), "out_of_range", "severity"),
            (
                "wait-times",
                encode({k: v for k, v in WAIT.items() if k != "wait_seconds"}),
                "missing_field",
                "wait_seconds",
            ),
            ("wait-times", encode({**WAIT, "wait_seconds": -0.5}), "out_of_range", "wait_seconds"),
            (
                "wait-times",
                encode({**WAIT, "handle_seconds": -3}),
                "out_of_range",
                "handle_seconds",
            ),
        ],
    )
    def test_reason(self, topic: str, raw: bytes, reason: str, field: str | None) -> None:
        """Each kind of bad value is rejected with its machine-readable reason and field."""
        assert reason_of(topic, raw) == (reason, field)

    def test_oversized_value_is_not_parsed(self) -> None:
        """A value over the size limit is rejected as too_large before parsing."""
        raw = encode({**ORDER, "pad": "x" * 2_000_000})
        with pytest.raises(InvalidEvent) as info:
            decode_event("orders", raw, max_bytes=1_048_576)
        assert info.value.reason == "too_large"

    def test_deeply_nested_json_is_rejected_cleanly(self) -> None:
        """Pathological nesting is a rejection, not a crash."""
        raw = b"[" * 100_000 + b"]" * 100_000
        assert reason_of("orders", raw)[0] in {"not_json", "not_object"}

    def test_tombstone_is_rejected(self) -> None:
        """A null value (tombstone) is dead-lettered as not JSON."""
        with pytest.raises(InvalidEvent) as info:
            decode_event("orders", None)
        assert info.value.reason == "not_json"


class TestBounds:
    @pytest.mark.parametrize("field", ["order_id", "sku", "region", "customer_id"])
    def test_overlong_string_is_out_of_range(self, field: str) -> None:
        """A string field longer than MAX_STRING is refused, naming the field."""
        assert reason_of("orders", encode({**ORDER, field: "x" * (MAX_STRING + 1)})) == (
            "out_of_range",
            field,
        )

    def test_string_at_the_limit_is_accepted(self) -> None:
        """MAX_STRING characters are still fine."""
        event = decode_event("orders", encode({**ORDER, "sku": "x" * MAX_STRING}))
        assert isinstance(event, OrderEvent) and len(event.sku or "") == MAX_STRING

    def test_event_past_the_horizon_is_refused(self) -> None:
        """An event stamped after the newest acceptable time is a bad timestamp."""
        with pytest.raises(InvalidEvent) as info:
            decode_event("orders", encode(ORDER), latest_ts_ms=1793614500000 - 1)
        assert (info.value.reason, info.value.field) == ("bad_timestamp", "ts")

    def test_event_at_the_horizon_is_accepted(self) -> None:
        """An event stamped exactly at the horizon is accepted."""
        assert decode_event("orders", encode(ORDER), latest_ts_ms=1793614500000).ts_ms == (
            1793614500000
        )


BIG_INT = "1" + "0" * 400


class TestTotalValidation:
    """Every value that passes is representable: the poison records of issue #17."""

    @pytest.mark.parametrize(
        ("topic", "raw", "field"),
        [
            ("orders", encode(ORDER).replace(b"19.5", BIG_INT.encode()), "amount"),
            (
                "orders",
                encode(ORDER).replace(b'"quantity": 2', b'"quantity": ' + BIG_INT.encode()),
                "quantity",
            ),
            ("wait-times", encode(WAIT).replace(b"120", BIG_INT.encode()), "wait_seconds"),
            (
                "wait-times",
                encode({**WAIT, "handle_seconds": 1}).replace(
                    b'"handle_seconds": 1', b'"handle_seconds": -' + BIG_INT.encode()
                ),
                "handle_seconds",
            ),
            ("orders", encode({**ORDER, "amount": 1e13}), "amount"),
            ("wait-times", encode({**WAIT, "wait_seconds": 400 * 86_400}), "wait_seconds"),
        ],
    )
    def test_huge_numbers_are_out_of_range(self, topic: str, raw: bytes, field: str) -> None:
        """A 400-digit integer is valid JSON but no float: refused, never an OverflowError."""
        assert reason_of(topic, raw) == ("out_of_range", field)

    @pytest.mark.parametrize("field", ["customer_id", "sku", "order_id", "event_id", "region"])
    def test_lone_surrogate_is_bad_text(self, field: str) -> None:
        """A lone surrogate cannot be encoded as UTF-8 (Kafka key, label): refused."""
        raw = json.dumps({**ORDER, field: "a\ud800b"}).encode()
        assert reason_of("orders", raw) == ("bad_text", field)

    def test_surrogate_bytes_are_bad_text(self) -> None:
        """UTF-8-encoded surrogate bytes (CESU style) are refused the same way."""
        raw = encode({**ORDER, "sku": "X"}).replace(b'"X"', b'"\xed\xa0\x80"')
        assert reason_of("orders", raw)[0] in ("bad_text", "not_json")

    @pytest.mark.parametrize(
        "text", ["a\nb", "a\x00b", "a\x1bb", "a\u2028b", "a\u202eb", "a\u2066b", "a\x85b"]
    )
    def test_control_and_bidi_characters_are_bad_text(self, text: str) -> None:
        """Control characters and bidi overrides never reach keys, labels or summaries."""
        assert reason_of("complaints", encode({**COMPLAINT, "sku": text})) == ("bad_text", "sku")

    @pytest.mark.parametrize("text", ["女装 外套", "Größe-XL", "SKU\u3000日本", "emoji-\U0001f600"])
    def test_ordinary_unicode_is_accepted(self, text: str) -> None:
        """CJK, accents, ideographic spaces and emoji are text like any other."""
        event = decode_event("orders", encode({**ORDER, "category": text}))
        assert isinstance(event, OrderEvent) and event.category == text

    def test_duplicate_keys_are_refused(self) -> None:
        """An object naming a field twice is refused (parsers disagree on which wins)."""
        raw = b'{"event_id":"e","ts":1793614500000,"order_id":"a","order_id":"b","status":"placed"}'
        assert reason_of("orders", raw) == ("duplicate_key", "order_id")

    @pytest.mark.parametrize(
        "ts",
        [
            "2026-11-02t10:15:00z",
            "2026-11-02T10:15:00.123456789+08:00",
            "2026-11-02T10:15:00-00:00",
        ],
    )
    def test_rfc3339_forms_are_accepted(self, ts: str) -> None:
        """RFC 3339 allows lowercase t and z and any fraction digits."""
        assert decode_event("orders", encode({**ORDER, "ts": ts})).ts_ms > 0

    @pytest.mark.parametrize(
        "ts",
        [
            "20261102T101500Z",
            "2026-W44-1T10:15:00Z",
            "2026-11-02T10:15Z",
            "2026-11-02T10:15:00+0800",
            "2026-11-02 10:15:00Z",
            "2026-306T10:15:00Z",
            "2026-02-30T10:15:00Z",
            "2026-11-02T24:15:00Z",
            "2026-11-02T10:15:00+25:00",
        ],
    )
    def test_non_rfc3339_forms_are_refused(self, ts: str) -> None:
        """Basic ISO forms, week and ordinal dates and impossible dates are bad timestamps."""
        assert reason_of("orders", encode({**ORDER, "ts": ts})) == ("bad_timestamp", "ts")
