"""Decode and validate raw input values into typed events.

Size: two decoders that must agree: the reference decoder, which names every rejection,
and the one-pass msgspec decoder used when it can vouch for a value; keeping them side
by side keeps the agreement reviewable.

Every rejection raises :class:`~streams.exceptions.InvalidEvent` with one of the
machine-readable reasons in :data:`REASONS` and, where it applies, the field.
Unknown extra fields are ignored; optional fields may be absent or null.

Two decoders give one result: a one-pass msgspec decoder for the values it can vouch
for (nearly all real traffic), and the reference decoder (``json`` and the field
checks) for everything else, which names the reason and field of a rejection. The
module is over 400 lines because both belong beside the bounds they share.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec

from streams.contract.events import (
    ORDER_STATUSES,
    ComplaintEvent,
    Event,
    OrderEvent,
    ReviewEvent,
    TopicName,
    WaitTimeEvent,
)
from streams.exceptions import InvalidEvent

__all__ = [
    "MAX_AMOUNT",
    "MAX_QUANTITY",
    "MAX_SECONDS",
    "MAX_TS_MS",
    "MIN_TS_MS",
    "REASONS",
    "decode_event",
    "parse_ts",
]

#: Every reason a value can be dead-lettered for.
REASONS: Final[frozenset[str]] = frozenset(
    {
        "too_large",  # value exceeds max_event_bytes; not parsed
        "not_json",  # not UTF-8 JSON
        "not_object",  # JSON, but not an object
        "missing_field",  # a required field is absent or null
        "wrong_type",  # a field has the wrong JSON type
        "out_of_range",  # a number outside its allowed range (or not finite)
        "bad_timestamp",  # ts unparsable, without offset, or outside MIN_TS_MS..MAX_TS_MS
        "unknown_status",  # order status not in the contract's list
        "bad_text",  # a string that is not valid Unicode text or holds control/bidi characters
        "duplicate_key",  # the JSON object names one field twice
        "duplicate",  # event_id already processed (counted as outcome=duplicate)
        "late",  # the event's window was already sealed (counted as outcome=late)
        "internal_error",  # handling the record raised; the worker dead-letters it and goes on
        "unknown_topic",  # replay input naming a topic that is not an input topic
    }
)

#: Accepted event-time range: 2000-01-01 .. 2100-01-01 (UTC), in epoch milliseconds.
MIN_TS_MS: Final[int] = 946_684_800_000
MAX_TS_MS: Final[int] = 4_102_444_800_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses an object naming a field twice (RFC 8259 §4:
    names SHOULD be unique; parsers disagree on which one wins, so we take neither)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        # The first name seen twice: `seen.add` (None) is only called for its effect.
        name = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise InvalidEvent(
            "duplicate_key",
            f"field {_short(name, 40)!r} appears twice",
            name if name.isprintable() else None,
        )
    return obj


_decode_json = json.JSONDecoder(object_pairs_hook=_unique_keys).decode

#: Documented upper bounds of the numeric fields: far above any real value, and low
#: enough that sums, means and sketches stay finite (a 400-digit integer is valid JSON).
MAX_AMOUNT: Final[float] = 1e12
MAX_QUANTITY: Final[int] = 1_000_000
MAX_SECONDS: Final[float] = 366 * 86_400.0

#: RFC 3339 ``date-time`` (section 5.6), separator and zone letters in either case.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)

#: Bidirectional-formatting controls (Unicode TR9): they reorder how a label or a
#: summary is displayed ("Trojan Source"), so no identifier may hold one.
_BIDI_CONTROLS: Final[frozenset[str]] = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


#: Longest accepted string field: ids and dimension values become series keys, Kafka
#: keys and Prometheus label values, so an unbounded one is refused as out of range.
MAX_STRING: Final[int] = 256


def decode_event(
    topic: TopicName, raw: bytes | None, max_bytes: int = 1_048_576, latest_ts_ms: int | None = None
) -> Event:
    """Parse and validate one raw value from ``topic``; raise ``InvalidEvent`` if it is bad.

    ``latest_ts_ms`` is the newest acceptable event time (the intake passes the wall
    clock plus a tolerance): one event stamped decades ahead would otherwise move its
    partition's event time and make everything after it late.
    """
    if raw is None:
        raise InvalidEvent("not_json", "empty value (tombstone)")
    if len(raw) > max_bytes:
        raise InvalidEvent("too_large", f"{len(raw)} bytes > {max_bytes}")
    event = _decode_fast(topic, raw) if type(raw) is bytes else None
    if event is None:
        event = _decode_reference(topic, raw)
    if latest_ts_ms is not None and event.ts_ms > latest_ts_ms:
        raise InvalidEvent(
            "bad_timestamp",
            f"{event.ts_ms} is {event.ts_ms - latest_ts_ms} ms past the accepted "
            "horizon (clock skew or a wrong date)",
            "ts",
        )
    return event


def _decode_reference(topic: TopicName, raw: bytes) -> Event:
    """The reference decoder: ``json`` and field-by-field checks in contract order. It
    names the reason and field of every rejection; :func:`_decode_fast` hands it every
    value it does not accept itself."""
    try:
        if raw[:1] == b"{" and raw[1:2] not in (b"\x00", b""):
            # What json.loads(bytes) does for UTF-8 (its encoding sniffing picks UTF-8 for
            # any value starting with "{" and a non-zero byte), minus two calls.
            obj = _decode_json(raw.decode("utf-8", "surrogatepass"))
        else:
            obj = json.loads(raw, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidEvent("not_json", _short(str(exc))) from None
    except RecursionError:
        raise InvalidEvent("not_json", "nesting too deep") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("not_object", f"JSON {type(obj).__name__}, expected an object")
    return _BUILDERS[topic](obj)


def parse_ts(value: Any) -> int:
    """Event time as epoch ms from an RFC 3339 string with offset or integer epoch ms.

    >>> parse_ts("2026-11-02T10:15:00Z")
    1793614500000
    >>> parse_ts(1793614500000)
    1793614500000
    """
    if isinstance(value, bool):
        raise InvalidEvent("bad_timestamp", "boolean is not a timestamp", "ts")
    if isinstance(value, int):
        ts_ms = value
    elif isinstance(value, str):
        if _RFC3339.fullmatch(value) is None:
            raise InvalidEvent(
                "bad_timestamp",
                f"not RFC 3339 (date, 'T', time and offset): {_short(value)!r}",
                "ts",
            )
        try:
            parsed = datetime.fromisoformat(value if value.isupper() else value.upper())
        except ValueError:
            raise InvalidEvent(
                "bad_timestamp", f"not a valid date or time: {_short(value)!r}", "ts"
            ) from None
        ts_ms = (parsed - _EPOCH) // _ONE_MS
    else:
        raise InvalidEvent("bad_timestamp", f"{type(value).__name__}, expected string or int", "ts")
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise InvalidEvent("bad_timestamp", f"{ts_ms} outside 2000..2100", "ts")
    return ts_ms


_ONE_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check_text(value: str, name: str) -> None:
    """Refuse what cannot be a key, a label or a line of a summary: lone surrogates
    (not encodable as UTF-8), control characters (Unicode Cc, line and paragraph
    separators) and bidirectional-formatting controls.

    Called only for strings that are not ``isprintable()`` (C speed, true for almost
    every real identifier, CJK included).
    """
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise InvalidEvent("bad_text", f"{name} holds a lone surrogate (not UTF-8 text)", name)
        if category in ("Cc", "Zl", "Zp"):
            raise InvalidEvent(
                "bad_text", f"{name} holds control character U+{ord(char):04X}", name
            )
        if char in _BIDI_CONTROLS:
            raise InvalidEvent("bad_text", f"{name} holds bidi control U+{ord(char):04X}", name)


def _required_str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        raise InvalidEvent("missing_field", f"{name} is required", name)
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"{name} must be a string", name)
    if not value:
        raise InvalidEvent("out_of_range", f"{name} must not be empty", name)
    if len(value) > MAX_STRING:
        raise InvalidEvent("out_of_range", f"{name} longer than {MAX_STRING} characters", name)
    if not value.isprintable():
        _check_text(value, name)
    return value


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"{name} must be a string or null", name)
    if len(value) > MAX_STRING:
        raise InvalidEvent("out_of_range", f"{name} longer than {MAX_STRING} characters", name)
    if not value.isprintable():
        _check_text(value, name)
    return value


def _number(obj: dict[str, Any], name: str, high: float, *, required: bool) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent("missing_field", f"{name} is required", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("wrong_type", f"{name} must be a number", name)
    # Compared before float(): an int of 400 digits is valid JSON but overflows a float;
    # NaN fails both comparisons.
    if not 0 <= value <= high:
        raise InvalidEvent("out_of_range", f"{name} must be a number in 0..{high:g}", name)
    return float(value)


def _int(obj: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent("wrong_type", f"{name} must be an integer", name)
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidEvent("out_of_range", f"{name} must be {bound}", name)
    return value


def _common(obj: dict[str, Any]) -> tuple[str, int]:
    event_id = _required_str(obj, "event_id")
    if "ts" not in obj or obj["ts"] is None:
        raise InvalidEvent("missing_field", "ts is required", "ts")
    return event_id, parse_ts(obj["ts"])


def _order(obj: dict[str, Any]) -> OrderEvent:
    event_id, ts_ms = _common(obj)
    order_id = _required_str(obj, "order_id")
    status = obj.get("status")
    if status is None:
        raise InvalidEvent("missing_field", "status is required", "status")
    if not isinstance(status, str):
        raise InvalidEvent("wrong_type", "status must be a string", "status")
    if status not in ORDER_STATUSES:
        raise InvalidEvent("unknown_status", f"status {_short(status, 40)!r}", "status")
    get = obj.get
    strings = [get(name) for name in _ORDER_STRINGS]
    for name, value in zip(_ORDER_STRINGS, strings, strict=True):
        if value is not None and (
            not isinstance(value, str) or len(value) > MAX_STRING or not value.isprintable()
        ):
            _optional_str(obj, name)  # raises (if bad), field by field in contract order
    customer_id, sku, category, region, carrier, channel, address_id = strings
    quantity = get("quantity")
    if quantity is not None:
        quantity = _int(obj, "quantity", 1, MAX_QUANTITY)
    amount = get("amount")
    if amount is not None:
        amount = _number(obj, "amount", MAX_AMOUNT, required=False)
    promised = get("promised_at")
    if promised is not None:
        promised = _time(promised, "promised_at")
    refund = get("refund_amount")
    if refund is not None:
        refund = _number(obj, "refund_amount", MAX_AMOUNT, required=False)
    return OrderEvent(
        event_id=event_id,
        ts_ms=ts_ms,
        order_id=order_id,
        status=status,
        customer_id=customer_id,
        sku=sku,
        category=category,
        region=region,
        carrier=carrier,
        channel=channel,
        address_id=address_id,
        quantity=quantity,
        amount=amount,
        reason=_optional_str(obj, "reason"),
        promised_at_ms=promised,
        refund_amount=refund,
    )


def _time(value: Any, name: str) -> int:
    """An optional RFC 3339 time field (contract 7.1) as epoch ms."""
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"{name} must be an RFC 3339 string", name)
    try:
        return parse_ts(value)
    except InvalidEvent as exc:
        raise InvalidEvent("bad_timestamp", f"{name}: {exc.detail}", name) from None


#: The optional strings of an order checked before ``quantity``, in field order.
_ORDER_STRINGS: Final[tuple[str, ...]] = (
    "customer_id",
    "sku",
    "category",
    "region",
    "carrier",
    "channel",
    "address_id",
)


def _complaint(obj: dict[str, Any]) -> ComplaintEvent:
    event_id, ts_ms = _common(obj)
    return ComplaintEvent(
        event_id=event_id,
        ts_ms=ts_ms,
        complaint_id=_required_str(obj, "complaint_id"),
        order_id=_optional_str(obj, "order_id"),
        customer_id=_optional_str(obj, "customer_id"),
        sku=_optional_str(obj, "sku"),
        category=_optional_str(obj, "category"),
        region=_optional_str(obj, "region"),
        carrier=_optional_str(obj, "carrier"),
        channel=_optional_str(obj, "channel"),
        reason=_optional_str(obj, "reason"),
        severity=_int(obj, "severity", 1, 3),
    )


def _wait_time(obj: dict[str, Any]) -> WaitTimeEvent:
    event_id, ts_ms = _common(obj)
    wait = _number(obj, "wait_seconds", MAX_SECONDS, required=True)
    assert wait is not None  # required=True never returns None
    return WaitTimeEvent(
        event_id=event_id,
        ts_ms=ts_ms,
        ticket_id=_required_str(obj, "ticket_id"),
        wait_seconds=wait,
        queue=_optional_str(obj, "queue"),
        channel=_optional_str(obj, "channel"),
        region=_optional_str(obj, "region"),
        handle_seconds=_number(obj, "handle_seconds", MAX_SECONDS, required=False),
        csat=_int(obj, "csat", 1, 5),
    )


#: Longest review text (contract 7.1).
MAX_REVIEW_TEXT: Final[int] = 2_000


def _review(obj: dict[str, Any]) -> ReviewEvent:
    event_id, ts_ms = _common(obj)
    review_id = _required_str(obj, "review_id")
    if obj.get("rating") is None:
        raise InvalidEvent("missing_field", "rating is required", "rating")
    rating = _int(obj, "rating", 1, 5)
    assert rating is not None
    text = obj.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidEvent("wrong_type", "text must be a string or null", "text")
        if len(text) > MAX_REVIEW_TEXT:
            raise InvalidEvent(
                "out_of_range", f"text longer than {MAX_REVIEW_TEXT} characters", "text"
            )
        if not text.isprintable():
            # Free text may hold line breaks and tabs; the rest as for any string.
            _check_text(text.replace("\n", " ").replace("\r", " ").replace("\t", " "), "text")
    return ReviewEvent(
        event_id=event_id,
        ts_ms=ts_ms,
        review_id=review_id,
        rating=rating,
        order_id=_optional_str(obj, "order_id"),
        customer_id=_optional_str(obj, "customer_id"),
        sku=_optional_str(obj, "sku"),
        category=_optional_str(obj, "category"),
        text=text,
    )


_BUILDERS: Final[dict[TopicName, Callable[[dict[str, Any]], Event]]] = {
    "orders": _order,
    "complaints": _complaint,
    "wait-times": _wait_time,
    "reviews": _review,
}


# -- one-pass decoding ---------------------------------------------------------------------
#
# msgspec decodes a value straight into a Struct of the topic's contract fields, checking
# JSON types, lengths and ranges in C as it parses. It answers only "valid" or "not": a
# value it refuses, or one the checks below cannot clear, goes to the reference decoder
# above, which names the dead-letter reason and field exactly as before. So the fast path
# only ever accepts values the reference accepts, with the same result
# (tests/unit/test_validation_fast.py checks both on every rejection case and on fuzz).

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STRING)]
_Str = Annotated[str, msgspec.Meta(max_length=MAX_STRING)]
_Amount = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
_Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
_Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
_Severity = Annotated[int, msgspec.Meta(ge=1, le=3)]
_Rating = Annotated[int, msgspec.Meta(ge=1, le=5)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_REVIEW_TEXT)]


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """An input value as msgspec decodes it. Unknown fields are refused here (the
    reference ignores them): only then is every key a known scalar field, which the
    duplicate-key check below relies on."""


class _OrderWire(_Wire):
    event_id: _Id
    ts: int | str
    order_id: _Id
    status: str
    customer_id: _Str | None = None
    sku: _Str | None = None
    category: _Str | None = None
    region: _Str | None = None
    carrier: _Str | None = None
    channel: _Str | None = None
    address_id: _Str | None = None
    quantity: _Quantity | None = None
    amount: _Amount | None = None
    reason: _Str | None = None
    promised_at: str | None = None
    refund_amount: _Amount | None = None


class _ComplaintWire(_Wire):
    event_id: _Id
    ts: int | str
    complaint_id: _Id
    order_id: _Str | None = None
    customer_id: _Str | None = None
    sku: _Str | None = None
    category: _Str | None = None
    region: _Str | None = None
    carrier: _Str | None = None
    channel: _Str | None = None
    reason: _Str | None = None
    severity: _Severity | None = None


class _WaitTimeWire(_Wire):
    event_id: _Id
    ts: int | str
    ticket_id: _Id
    wait_seconds: _Seconds
    queue: _Str | None = None
    channel: _Str | None = None
    region: _Str | None = None
    handle_seconds: _Seconds | None = None
    csat: _Rating | None = None


class _ReviewWire(_Wire):
    event_id: _Id
    ts: int | str
    review_id: _Id
    rating: _Rating
    order_id: _Str | None = None
    customer_id: _Str | None = None
    sku: _Str | None = None
    category: _Str | None = None
    text: _Text | None = None


class _Miss(Exception):
    """The fast path cannot vouch for a value: the reference decoder judges it."""


#: The usual spelling, UTC to the millisecond or finer: the minute is parsed (and checked)
#: once by :func:`parse_ts` and cached, seconds and milliseconds are added to it.
_UTC_MS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}):([0-5]\d)\.(\d{3})\d{0,6}Z")
_MINUTES: dict[str, int] = {}


def _fast_ts(value: int | str) -> int:
    """``parse_ts`` for the fast path; a minute already seen costs a regex match and a
    lookup (the range check holds: both bounds fall on a whole minute)."""
    if type(value) is int:
        if MIN_TS_MS <= value < MAX_TS_MS:
            return value
        raise _Miss
    if not isinstance(value, str):  # a bool: the reference decoder names it
        raise _Miss
    try:
        match = _UTC_MS.fullmatch(value)
        if match is None:
            return parse_ts(value)
        minute, second, milli = match.groups()
        base = _MINUTES.get(minute)
        if base is None:
            base = parse_ts(minute + ":00Z")
            if len(_MINUTES) >= 4_096:
                _MINUTES.clear()
            _MINUTES[minute] = base
        return base + int(second) * 1_000 + int(milli)
    except InvalidEvent:
        raise _Miss from None


# The builders pass fields by position (a msgspec Struct's keyword init costs 7x more);
# tests/unit/test_validation_fast.py pins the events' field order they rely on.


def _fast_order(w: _OrderWire) -> OrderEvent:
    if w.status not in ORDER_STATUSES:
        raise _Miss
    return OrderEvent(
        w.event_id,
        _fast_ts(w.ts),
        w.order_id,
        w.status,
        w.customer_id,
        w.sku,
        w.category,
        w.region,
        w.carrier,
        w.channel,
        w.address_id,
        w.quantity,
        w.amount,
        w.reason,
        None if w.promised_at is None else _fast_ts(w.promised_at),
        w.refund_amount,
    )


def _fast_complaint(w: _ComplaintWire) -> ComplaintEvent:
    return ComplaintEvent(
        w.event_id,
        _fast_ts(w.ts),
        w.complaint_id,
        w.order_id,
        w.customer_id,
        w.sku,
        w.category,
        w.region,
        w.carrier,
        w.channel,
        w.reason,
        w.severity,
    )


def _fast_wait_time(w: _WaitTimeWire) -> WaitTimeEvent:
    return WaitTimeEvent(
        w.event_id,
        _fast_ts(w.ts),
        w.ticket_id,
        w.wait_seconds,
        w.queue,
        w.channel,
        w.region,
        w.handle_seconds,
        w.csat,
    )


def _fast_review(w: _ReviewWire) -> ReviewEvent:
    return ReviewEvent(
        w.event_id,
        _fast_ts(w.ts),
        w.review_id,
        w.rating,
        w.order_id,
        w.customer_id,
        w.sku,
        w.category,
        w.text,
    )


_FAST: Final[dict[TopicName, tuple[Callable[[bytes], Any], Callable[[Any], Event]]]] = {
    "orders": (msgspec.json.Decoder(_OrderWire).decode, _fast_order),
    "complaints": (msgspec.json.Decoder(_ComplaintWire).decode, _fast_complaint),
    "wait-times": (msgspec.json.Decoder(_WaitTimeWire).decode, _fast_wait_time),
    "reviews": (msgspec.json.Decoder(_ReviewWire).decode, _fast_review),
}
_decode_any = msgspec.json.Decoder().decode
_astuple = msgspec.structs.astuple


def _decode_fast(topic: TopicName, raw: bytes) -> Event | None:
    """The event, decoded and validated in one pass, or ``None`` for the reference to judge.

    What msgspec does not check is checked here, on the bytes where that is cheaper:

    * an escape (``\\``) anywhere: left to the reference (escaped control characters,
      surrogates or key names); without one every ``"`` delimits a string;
    * duplicate keys (msgspec keeps the last): the value holds ``2 * (keys + string
      values)`` quotes. With ``N`` non-null fields and ``S`` string values decoded, there
      is no duplicate key if the quotes are ``2 * (N + S)`` (explicit nulls aside; then
      the number of distinct keys replaces ``N``). An overwritten duplicate only adds
      quotes, so the test never passes one;
    * text that is not printable: impossible in ASCII bytes without escapes except
      DEL; else each string is checked with ``str.isprintable``.
    """
    if b"\\" in raw:
        return None
    decode, build = _FAST[topic]
    try:
        wire = decode(raw)
        values = _astuple(wire)
        strings = list(map(type, values)).count(str)
        quotes = raw.count(b'"')
        if quotes != 2 * (len(values) - values.count(None) + strings):
            whole = _decode_any(raw)
            if not isinstance(whole, dict) or quotes != 2 * (len(whole) + strings):
                return None
        if not raw.isascii() or b"\x7f" in raw:
            for value in values:
                if type(value) is str and not value.isprintable():
                    return None
        return build(wire)
    except (msgspec.DecodeError, msgspec.ValidationError, _Miss):
        return None
