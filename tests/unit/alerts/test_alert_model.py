"""Tests for alerts.model: the alert event value type."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from alerts.exceptions import AlertValidationError
from alerts.model import (
    RULE_CLASSES,
    AlertEvent,
    SeriesRef,
    datetime_to_ms,
    format_time,
    ms_to_datetime,
    parse_time,
    round_significant,
)

EventFactory = Callable[..., AlertEvent]
CONTRACT = Path("/work/shared/CONTRACT.md")
CONTRACT_FIELDS = [
    "schema", "alert_id", "status", "rule", "dimension", "key", "severity", "direction",
    "observed", "baseline", "lower", "upper", "score", "sample_size", "window_start",
    "window_end", "started_at", "summary", "runbook", "context",
]  # fmt: skip


def _contract_section_3_fields() -> list[str]:
    text = CONTRACT.read_text()
    block = text.split("## 3. Alert event", 1)[1].split("```", 2)[1]
    names: list[str] = []
    for line in block.strip().splitlines():
        words = re.split(r"\s{2,}", line.strip())[0]
        names.extend(w.strip() for w in words.split(","))
    return [n for n in names if n]


class TestSchema:
    def test_fields_match_pinned_contract_list(self) -> None:
        """The dataclass fields are exactly the contract's, in its order, then the optional
        class of section 7.2."""
        assert [f.name for f in dataclasses.fields(AlertEvent)] == [
            *CONTRACT_FIELDS,
            "anomaly_class",
        ]

    @pytest.mark.skipif(not CONTRACT.exists(), reason="shared contract not mounted")
    def test_pinned_list_matches_contract_file(self) -> None:
        """The pinned list is the one written in CONTRACT.md section 3."""
        assert _contract_section_3_fields() == CONTRACT_FIELDS

    def test_to_dict_keys_are_contract_fields(self, make_event: EventFactory) -> None:
        """to_dict has every contract field and the rule's class (7.2), nothing else."""
        assert list(make_event().to_dict()) == [*CONTRACT_FIELDS, "class"]

    def test_class_follows_the_rule(self, make_event: EventFactory) -> None:
        """The class defaults to the rule's; an unknown class is refused naming the field."""
        event = make_event()
        assert event.to_dict()["class"] == RULE_CLASSES[event.rule]
        assert AlertEvent.from_dict(event.to_dict()) == event
        data = {**event.to_dict(), "class": "weather"}
        with pytest.raises(AlertValidationError, match="class"):
            AlertEvent.from_dict(data)

    @pytest.mark.parametrize(
        ("rule", "dimension", "expected"),
        [
            ("return_rate", "region,carrier,reason", "logistics"),
            ("return_rate", "region,carrier", "logistics"),
            ("return_rate", "carrier", "logistics"),
            ("complaint_rate", "region", "logistics"),
            ("return_rate", "sku", "product"),
            ("return_rate", "category,reason", "product"),
            ("return_rate", "sku,carrier", "product"),
            ("cancellation_rate", "region", "fraud"),
            ("delivery_time_p90", "carrier", "logistics"),
        ],
    )
    def test_a_product_rule_on_a_route_is_logistics(
        self, make_event: EventFactory, rule: str, dimension: str, expected: str
    ) -> None:
        """Returns or complaints rising on a carrier, region or their cell go to whoever
        handles carriers (Alertmanager routes on ``class``); on a SKU or category, or on a
        SKU's carrier, they stay the product's."""
        event = make_event(rule=rule, dimension=dimension, key="k")
        assert event.to_dict()["class"] == expected
        assert AlertEvent.from_dict(event.to_dict()).anomaly_class == expected

    def test_event_is_immutable(self, make_event: EventFactory) -> None:
        """Assigning a field raises."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            make_event().status = "resolved"  # type: ignore[misc]

    def test_event_is_hashable(self, make_event: EventFactory) -> None:
        """Equal events hash equal (context does not take part)."""
        assert len({make_event(), make_event()}) == 1

    def test_kafka_key(self, make_event: EventFactory) -> None:
        """kafka_key is rule:dimension:key."""
        assert make_event(dimension="region,carrier", key="EU,DHL").kafka_key == (
            "return_rate:region,carrier:EU,DHL"
        )

    def test_series_ref_kafka_key(self) -> None:
        """SeriesRef gives the same key as the event."""
        assert SeriesRef("order_volume", "total", "all").kafka_key == "order_volume:total:all"


class TestSerialisation:
    def test_times_are_rfc3339_utc_z(self, make_event: EventFactory) -> None:
        """Times serialise as 2026-11-02T10:15:00Z."""
        data = make_event().to_dict()
        assert (data["window_start"], data["window_end"]) == (
            "2026-11-02T09:15:00Z",
            "2026-11-02T10:15:00Z",
        )

    def test_offset_times_are_normalised_to_utc(self, make_event: EventFactory) -> None:
        """A +02:00 time is stored and written in UTC."""
        paris = timezone(timedelta(hours=2))
        event = make_event(window_end=datetime(2026, 11, 2, 12, 15, tzinfo=paris))
        assert event.to_dict()["window_end"] == "2026-11-02T10:15:00Z"

    def test_json_round_trip(self, make_event: EventFactory) -> None:
        """from_json(to_json(e)) == e and re-serialises to the same bytes."""
        event = make_event()
        again = AlertEvent.from_json(event.to_json())
        assert again == event
        assert again.to_json() == event.to_json()

    def test_json_is_sorted_and_compact(self, make_event: EventFactory) -> None:
        """Keys are sorted and there is no whitespace between tokens."""
        raw = make_event().to_json()
        assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()

    def test_float_noise_serialises_identically(self, make_event: EventFactory) -> None:
        """Values differing only in float noise give byte-identical JSON."""
        a = make_event(observed=0.1 + 0.2, score=3.4000000000000004)
        b = make_event(observed=0.3, score=3.4)
        assert a.to_json() == b.to_json()

    def test_context_floats_are_rounded(self, make_event: EventFactory) -> None:
        """Floats inside context are rounded like the top-level numbers."""
        event = make_event(context={"share": 0.1 + 0.2, "items": [0.7000000000000001]})
        assert event.context == {"share": 0.3, "items": [0.7]}

    def test_null_context_becomes_empty_object(self, make_event: EventFactory) -> None:
        """A null context is written as {}."""
        assert make_event(context=None).to_dict()["context"] == {}

    def test_milliseconds_kept(self, make_event: EventFactory) -> None:
        """Sub-second times keep milliseconds and drop microseconds."""
        t = datetime(2026, 11, 2, 10, 15, 0, 123_456, tzinfo=UTC)
        assert make_event(window_end=t).to_dict()["window_end"] == "2026-11-02T10:15:00.123Z"

    def test_from_dict_ignores_unknown_fields(self, make_event: EventFactory) -> None:
        """Unknown extra keys are ignored (forward compatible)."""
        data = make_event().to_dict() | {"x_extra": 1}
        assert AlertEvent.from_dict(data) == make_event()

    def test_from_dict_without_context(self, make_event: EventFactory) -> None:
        """context is optional on input."""
        data = make_event(context={}).to_dict()
        del data["context"]
        assert AlertEvent.from_dict(data).context == {}


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("schema", "aftersales.alert/v2"),
            ("alert_id", ""),
            ("status", "pending"),
            ("rule", "Return Rate"),
            ("rule", ""),
            ("dimension", ""),
            ("severity", "high"),
            ("direction", "sideways"),
            ("observed", None),
            ("observed", "1.0"),
            ("observed", True),
            ("observed", float("nan")),
            ("baseline", float("inf")),
            ("baseline", None),
            ("lower", "x"),
            ("sample_size", -1),
            ("sample_size", 1.5),
            ("sample_size", True),
            ("window_end", datetime(2026, 11, 2, 10, 15)),  # naive
            ("summary", ""),
            ("runbook", None),
            ("context", ["not", "an", "object"]),
            ("context", {"when": datetime(2026, 1, 1, tzinfo=UTC)}),
        ],
    )
    def test_bad_field_rejected_naming_it(
        self, make_event: EventFactory, field: str, value: Any
    ) -> None:
        """A bad value raises AlertValidationError whose field names it."""
        with pytest.raises(AlertValidationError) as info:
            make_event(**{field: value})
        assert info.value.field.split(".")[0] == field

    def test_window_start_after_end_rejected(self, make_event: EventFactory) -> None:
        """window_start may not be after window_end."""
        with pytest.raises(AlertValidationError, match="window_start"):
            make_event(window_start=datetime(2026, 11, 2, 11, 0, tzinfo=UTC))

    @pytest.mark.parametrize("missing", ["alert_id", "status", "observed", "started_at"])
    def test_from_dict_missing_field(self, make_event: EventFactory, missing: str) -> None:
        """A missing required field is reported by name."""
        data = make_event().to_dict()
        del data[missing]
        with pytest.raises(AlertValidationError) as info:
            AlertEvent.from_dict(data)
        assert info.value.field == missing

    @pytest.mark.parametrize("text", ["2026-11-02", "10:15:00Z", "2026-11-02T10:15:00", 17])
    def test_from_dict_bad_time(self, make_event: EventFactory, text: Any) -> None:
        """Times without an offset, partial or non-string are rejected."""
        data = make_event().to_dict() | {"window_end": text}
        with pytest.raises(AlertValidationError, match="window_end"):
            AlertEvent.from_dict(data)

    def test_from_json_rejects_garbage(self) -> None:
        """Invalid JSON raises AlertValidationError."""
        with pytest.raises(AlertValidationError):
            AlertEvent.from_json(b"{not json")

    def test_empty_key_allowed(self, make_event: EventFactory) -> None:
        """An empty key is allowed (e.g. a 'total' dimension)."""
        assert make_event(key="").key == ""


class TestTimeHelpers:
    @pytest.mark.parametrize("ms", [0, 1, 999, 1_793_614_500_000, 1_793_614_500_999, -1])
    def test_ms_round_trip(self, ms: int) -> None:
        """ms -> datetime -> ms is exact."""
        assert datetime_to_ms(ms_to_datetime(ms)) == ms

    def test_format_then_parse(self) -> None:
        """parse_time inverts format_time."""
        t = ms_to_datetime(1_793_614_500_250)
        assert parse_time(format_time(t)) == t

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(0.0, 0.0), (-0.0, 0.0), (1.0, 1.0), (0.1 + 0.2, 0.3), (123456789.123, 123456789.0)],
    )
    def test_round_significant(self, value: float, expected: float) -> None:
        """Rounding keeps 9 significant digits and folds -0.0."""
        assert repr(round_significant(value)) == repr(expected)
