"""The one-pass msgspec decoder against the reference decoder (streams.contract.validation).

The fast path may decline any value (the reference then judges it), but a value it
accepts must be one the reference accepts, decoded to the same event. Hostile values
it must decline: duplicate keys, escapes, unknown fields, non-printable text.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract.events import TOPICS, ComplaintEvent, OrderEvent, ReviewEvent, WaitTimeEvent
from streams.contract.validation import _decode_fast, _decode_reference, decode_event
from streams.exceptions import InvalidEvent

T0 = 1_793_614_500_000
ORDER: dict[str, Any] = {
    "event_id": "e-1",
    "ts": "2026-11-02T10:15:00.173Z",
    "order_id": "o-1",
    "status": "placed",
    "customer_id": "C-1",
    "sku": "SKU-1",
    "category": "home",
    "region": "UK",
    "carrier": "DHL",
    "channel": "web",
    "address_id": "A-1",
    "quantity": 2,
    "amount": 19.5,
    "reason": "r",
    "promised_at": "2026-11-05T00:00:00Z",
    "refund_amount": 3,
}
VALID: dict[str, dict[str, Any]] = {
    "orders": ORDER,
    "complaints": {
        "event_id": "e-2",
        "ts": T0,
        "complaint_id": "c-1",
        "order_id": "o-1",
        "severity": 2,
        "reason": "damaged",
        "carrier": "DPD",
    },
    "wait-times": {
        "event_id": "e-3",
        "ts": "2026-11-02T11:15:00+01:00",
        "ticket_id": "t-1",
        "wait_seconds": 120,
        "handle_seconds": 30.5,
        "csat": 4,
        "queue": "q",
    },
    "reviews": {
        "event_id": "e-4",
        "ts": T0,
        "review_id": "r-1",
        "rating": 1,
        "sku": "S",
        "text": "broken on arrival",
    },
}


def test_event_field_order_is_what_the_fast_builders_pass() -> None:
    """The fast path builds events positionally: a field inserted or moved in
    streams/contract/events.py must be mirrored in streams/contract/validation.py's _fast_* builders."""
    assert OrderEvent.__struct_fields__ == (
        "event_id",
        "ts_ms",
        "order_id",
        "status",
        "customer_id",
        "sku",
        "category",
        "region",
        "carrier",
        "channel",
        "address_id",
        "quantity",
        "amount",
        "reason",
        "promised_at_ms",
        "refund_amount",
    )
    assert ComplaintEvent.__struct_fields__ == (
        "event_id",
        "ts_ms",
        "complaint_id",
        "order_id",
        "customer_id",
        "sku",
        "category",
        "region",
        "carrier",
        "channel",
        "reason",
        "severity",
    )
    assert WaitTimeEvent.__struct_fields__ == (
        "event_id",
        "ts_ms",
        "ticket_id",
        "wait_seconds",
        "queue",
        "channel",
        "region",
        "handle_seconds",
        "csat",
    )
    assert ReviewEvent.__struct_fields__ == (
        "event_id",
        "ts_ms",
        "review_id",
        "rating",
        "order_id",
        "customer_id",
        "sku",
        "category",
        "text",
    )


def outcome(topic: str, raw: bytes) -> object:
    """The reference's event, or its (reason, field)."""
    try:
        return _decode_reference(topic, raw)  # type: ignore[arg-type]
    except InvalidEvent as error:
        return (error.reason, error.field)


@pytest.mark.parametrize("topic", TOPICS)
def test_valid_events_take_the_fast_path(topic: str) -> None:
    """Every contract event, with its optional fields, explicit nulls or compact or spaced
    JSON, is accepted by the fast path and equals the reference's event."""
    value = VALID[topic]
    nulls = {**value, **dict.fromkeys(list(value)[4:])}
    for raw in (
        json.dumps(value).encode(),
        json.dumps(value, separators=(",", ":")).encode(),
        json.dumps(nulls).encode(),
        json.dumps(value, ensure_ascii=False).encode(),
    ):
        fast = _decode_fast(topic, raw)  # type: ignore[arg-type]
        assert fast is not None, raw
        assert fast == outcome(topic, raw)


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-02T10:15:59.999Z",
        "2026-11-02T10:15:07.1239Z",
        "2026-11-02T10:15:07.123456789Z",
        "2099-12-31T23:59:59.999Z",
        "2000-01-01T00:00:00.000Z",
        "2028-02-29T00:00:00.001Z",
    ],
)
def test_cached_minutes_give_parse_ts(ts: str) -> None:
    """The fast path's minute cache gives parse_ts's milliseconds, twice in a row."""
    raw = json.dumps({**ORDER, "ts": ts}).encode()
    for _ in range(2):
        fast = _decode_fast("orders", raw)
        assert fast is not None and fast == outcome("orders", raw)


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-02T10:15:60.000Z",
        "2026-02-30T10:15:00.000Z",
        "2026-11-02T24:00:00.000Z",
        "2100-01-01T00:00:00.000Z",
        "1999-12-31T23:59:59.999Z",
    ],
)
def test_impossible_or_out_of_range_times_are_refused(ts: str) -> None:
    """A leap second, an impossible date or hour and times outside 2000..2100 are bad
    timestamps, cached minute or not."""
    raw = json.dumps({**ORDER, "ts": ts}).encode()
    assert _decode_fast("orders", raw) is None
    assert outcome_of_public("orders", raw) == ("bad_timestamp", "ts")


@pytest.mark.parametrize(
    "raw",
    [
        # Duplicate keys, with string, number and null values, adjacent or apart.
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","order_id":"b","status":"placed"}',
        (
            b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","quantity":1,'
            b'"quantity":2}'
        ),
        (
            b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","sku":null,'
            b'"sku":null}'
        ),
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","sku":"x","sku":null}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","sku":null,"sku":"x"}',
        (
            b'{"event_id":"e","ts":"2026-11-02T10:15:00Z","ts":1793614500000,"order_id":"a",'
            b'"status":"placed"}'
        ),
        # An escaped key naming a field twice; escaped control and bidi characters.
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","order\\u005fid":"b","status":"placed"}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a\\nb","status":"placed"}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","sku":"\\u202e","status":"placed"}',
        # Raw non-printable text (DEL, C1 control, line separator, bidi override).
        b'{"event_id":"e","ts":1793614500000,"order_id":"a\x7f","status":"placed"}',
        '{"event_id":"e","ts":1793614500000,"order_id":"a\x85","status":"placed"}'.encode(),
        '{"event_id":"e","ts":1793614500000,"order_id":"a\u2028","status":"placed"}'.encode(),
        '{"event_id":"e","ts":1793614500000,"order_id":"a\u202e","status":"placed"}'.encode(),
        # Unknown fields (ignored by the contract, left to the reference), NaN, huge numbers.
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","x":{"a":1,"a":2}}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","amount":NaN}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed","amount":1'
        + b"0" * 400
        + b"}",
        b'{"event_id":"e","ts":1' + b"0" * 400 + b',"order_id":"a","status":"placed"}',
        b'{"event_id":"e","ts":1793614500000,"order_id":"a","status":"lost"}',
        b'{"event_id":"e","ts":"2026-11-02T10:15:00","order_id":"a","status":"placed"}',
        b'\xef\xbb\xbf{"event_id":"e","ts":1793614500000,"order_id":"a","status":"placed"}',
    ],
)
def test_hostile_values_are_left_to_the_reference(raw: bytes) -> None:
    """The fast path declines what it cannot vouch for; decode_event then gives the
    reference's verdict (dead-letter reason and field, or the same event)."""
    assert _decode_fast("orders", raw) is None
    expected = outcome("orders", raw)
    assert outcome_of_public("orders", raw) == expected


def outcome_of_public(topic: str, raw: bytes) -> object:
    try:
        return decode_event(topic, raw)  # type: ignore[arg-type]
    except InvalidEvent as error:
        return (error.reason, error.field)


leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10),
    st.integers(),
    st.floats(allow_nan=False),
    st.integers(T0 - 10**9, T0 + 10**9),
    st.just(10**400),
    st.sampled_from(
        [
            "",
            "x",
            "a" * 256,
            "a" * 257,
            "女装",
            "a\u3000b",
            "\x7f",
            "\u0085",
            "\u202e",
            "\ud800",
            "placed",
            "lost",
            "2026-11-02T10:15:00Z",
            "2026-11-02t10:15:00z",
            "2026-11-02T10:15:00",
            "2026-02-30T10:15:00Z",
            "2026-11-02T10:15:59.999Z",
            "2026-11-02T10:15:60.000Z",
            "2026-11-02T10:15:07.1239Z",
            "2026-11-02T24:00:00.000Z",
            "2099-12-31T23:59:59.999Z",
            "2100-01-01T00:00:00.000Z",
            "1999-12-31T23:59:59.999Z",
            "2000-01-01T00:00:00.000Z",
        ]
    ),
    st.text(max_size=6),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event with some fields replaced, dropped, added or written twice."""
    topic = draw(st.sampled_from(TOPICS))
    value = dict(VALID[topic])
    for name in draw(st.lists(st.sampled_from([*value, "extra"]), max_size=3)):
        if draw(st.booleans()):
            value[name] = draw(leaf)
        else:
            value.pop(name, None)
    pairs = list(value.items())
    rnd = random.Random(draw(st.integers(0, 1 << 30)))
    if pairs and draw(st.booleans()):
        name = rnd.choice(pairs)[0]
        pairs.insert(rnd.randrange(len(pairs) + 1), (name, draw(leaf)))
    body = ",".join(
        f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=draw(st.booleans()))}" for k, v in pairs
    )
    return topic, ("{" + body + "}").encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_fast_path_accepts_only_what_the_reference_accepts(case: tuple[str, bytes]) -> None:
    """Fuzz: whenever the fast path returns an event, the reference returns the same one."""
    topic, raw = case
    fast = _decode_fast(topic, raw)  # type: ignore[arg-type]
    if fast is not None:
        assert fast == outcome(topic, raw)
    assert outcome_of_public(topic, raw) == outcome(topic, raw)
