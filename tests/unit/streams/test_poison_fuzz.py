"""Arbitrary JSON through stage 1, the partials encoding and the closer (issue #17).

Whatever a producer writes, handling it never raises: a value is either accepted and
then encodable everywhere it travels (Kafka keys, partials records, alert JSON), or
dead-lettered with a reason. The same bytes the worker would send are built here.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.text import AlertTexts
from streams.contract.events import TOPICS
from streams.contract.validation import REASONS
from streams.pipeline.aggregate import EventAlert
from streams.pipeline.closer import WindowCloser
from streams.pipeline.replay import KEY_FIELDS, Stage1, Stage1Output
from streams.pipeline.wire import decode, encode_event_alert, encode_watermark, pack_partials
from streams.rules.catalogue import load_rules

RULES = load_rules(None)
NAMES = {t: f"aftersales.{t}" for t in TOPICS}
T0 = 1_793_614_500_000

#: Field names the contract knows, so values reach the rules, plus a few others.
FIELDS = [
    "event_id",
    "ts",
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
    "complaint_id",
    "severity",
    "ticket_id",
    "wait_seconds",
    "queue",
    "handle_seconds",
    "x",
]

nasty_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "\ud800",
            "a\udfffb",
            "\u202eevil",
            "\x00",
            "女装",
            "\u2028",
            "",
            " ",
            "a" * 300,
            "placed",
            "shipped",
            "delivered",
            "return_requested",
        ]
    ),
)
nasty_number = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(-0.0),
    st.just(True),
)
json_leaf = st.one_of(st.none(), nasty_text, nasty_number)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def records(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    topic = draw(st.sampled_from(TOPICS))
    value: dict[str, Any] = {
        "event_id": draw(st.one_of(nasty_text, st.uuids().map(str))),
        "ts": draw(
            st.one_of(
                st.integers(T0 - 10**9, T0 + 10**9),
                st.sampled_from(["2026-11-02T10:15:00z", "20261102T101500Z", 1e400]),
                json_value,
            )
        ),
        KEY_FIELDS[topic]: draw(nasty_text),
        "status": draw(
            st.sampled_from(
                ["placed", "shipped", "delivered", "return_requested", "cancelled", "bogus"]
            )
        ),
        "wait_seconds": draw(st.one_of(st.floats(0, 5_000), nasty_number)),
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=8)):
        value[name] = draw(json_value)
    raw = json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # raw UTF-8 surrogates instead of \\u escapes
        raw = json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    key = str(value[KEY_FIELDS[topic]]).encode("utf-8", "surrogatepass")
    return topic, key, raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=20))
def test_any_json_is_accepted_and_encodable_or_dead_lettered(
    batch: list[tuple[str, bytes, bytes]],
) -> None:
    stage1 = Stage1(RULES, NAMES, max_future_ms=None)
    closer = WindowCloser(RULES, dict.fromkeys(TOPICS, 4), AlertTexts())
    out = Stage1Output()
    for offset, (topic, key, raw) in enumerate(batch):
        stage1.process(topic, 0, offset, key, raw, out)  # type: ignore[arg-type]
    stage1.seal(out)
    accepted = sum(stage1.intake.counts[(t, "ok")] for t in TOPICS)
    assert accepted + len(out.dead_letters) == len(batch)
    for dead in out.dead_letters:
        assert dead.reason in REASONS and dead.reason != "internal_error", dead
        assert dead.headers() and dead.to_json()
    alerts = []
    for verdict in out.verdicts:  # what the worker sends: the series as the Kafka key
        assert verdict.series.encode()
        decoded = decode(encode_event_alert(verdict))
        assert isinstance(decoded, EventAlert)
        alerts.extend(closer.on_event_alert(decoded))
    for _, record in pack_partials(out.partials, 4):
        for sealed in decode(record):  # type: ignore[union-attr]
            closer.on_partial(sealed)
    for source, mark in out.watermarks:
        decoded_mark = decode(encode_watermark(source, mark))
        alerts.extend(closer.on_watermark(*decoded_mark))  # type: ignore[misc]
    alerts.extend(closer.on_watermark("orders/0", T0 + 10**10))
    for alert in alerts:
        assert alert.to_json().decode("utf-8")
