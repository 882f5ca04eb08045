"""docs/schemas/: the JSON Schemas of the input events, the alert event and the
dead-letter record, checked against real output and against the validator.

- Alerts of a replay of simulated incidents (firing, resolved, window and per-event
  rules) and every simulated input event validate.
- Dead letters of the hostile inputs validate.
- On sample good and bad inputs, the schema accepts a value exactly when
  ``streams.contract.validation.decode_event`` does. What a schema cannot say is listed in
  docs/schemas/README.md and kept out of the comparison.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from streams.contract.validation import decode_event
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.hostile import bad_events
from streams.exceptions import InvalidEvent
from streams.pipeline.replay import KEY_FIELDS, ReplayPipeline, read_jsonl
from streams.rules.catalogue import load_rules
from tests.alert_samples import replayed_alerts

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
INPUTS = {
    "orders": "order",
    "complaints": "complaint",
    "wait-times": "wait-time",
    "reviews": "review",
}


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of ``docs/schemas/<name>.schema.json``."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(name: str, instance: Any) -> list[str]:
    """Schema errors of ``instance`` (empty: valid)."""
    return [error.message for error in validator(name).iter_errors(instance)]


def accepted_by_validator(topic: str, value: dict[str, Any]) -> bool:
    """Whether the intake's validator accepts ``value`` on ``topic``."""
    try:
        decode_event(topic, json.dumps(value).encode())  # type: ignore[arg-type]
    except InvalidEvent:
        return False
    return True


class TestSchemaFiles:
    @pytest.mark.parametrize(
        "name", ["order", "complaint", "wait-time", "review", "alert", "dead-letter"]
    )
    def test_is_a_valid_2020_12_schema(self, name: str) -> None:
        """Each file is a valid JSON Schema (draft 2020-12)."""
        assert validator(name).schema["$schema"].endswith("2020-12/schema")


class TestRealOutput:
    def test_replayed_alerts_validate(self) -> None:
        """Every alert of a replay of simulated incidents validates."""
        alerts = replayed_alerts()
        assert {a.status for a in alerts} == {"firing", "resolved"}
        assert {a.lower is None for a in alerts} == {True, False}
        for alert in alerts:
            assert errors("alert", json.loads(alert.to_json())) == [], alert

    def test_simulated_inputs_validate(self) -> None:
        """Every event of a simulated day validates against its topic's schema."""
        config = SimulationConfig(seed=3, duration=timedelta(days=1), orders_per_day=1_500)
        seen: Counter[str] = Counter()
        for event in simulate(config):
            assert errors(INPUTS[event.topic], event.value) == [], event
            seen[event.topic] += 1
        assert set(seen) == set(INPUTS)

    def test_dead_letters_of_hostile_inputs_validate(self) -> None:
        """Every dead letter of the hostile inputs (and of bad replay lines) validates."""
        bad = bad_events(np.random.default_rng(5), 60)
        records = [(b.topic, b.key, b.raw) for b in bad]
        lines = [
            b"\xff\xfe not utf-8\n",
            b'{"topic": "returns", "value": {}}\n',
            b'["not", "an", "object"]\n',
        ]
        pipeline = ReplayPipeline(load_rules())
        list(pipeline.run(records))
        list(pipeline.run(read_jsonl(lines)))
        reasons = Counter(dead.reason for dead in pipeline.dead_letters)
        assert len(reasons) >= 8, reasons
        for dead in pipeline.dead_letters:
            assert errors("dead-letter", json.loads(dead.to_json())) == [], dead


ORDER = {
    "event_id": "e-1",
    "ts": "2026-11-02T10:15:00+08:00",
    "order_id": "O-1",
    "status": "placed",
}
COMPLAINT = {"event_id": "e-2", "ts": 1793614500000, "complaint_id": "K-1"}
REVIEW = {"event_id": "e-4", "ts": 1793614500000, "review_id": "R-1", "rating": 2}
WAIT = {"event_id": "e-3", "ts": "2026-11-02T10:15:00.5Z", "ticket_id": "T-1", "wait_seconds": 42}
BASE = {"orders": ORDER, "complaints": COMPLAINT, "wait-times": WAIT, "reviews": REVIEW}

#: (topic, changes, valid?): the base event of the topic with ``changes`` applied
#: (``None`` as a value removes the field).
SAMPLES: list[tuple[str, dict[str, Any], bool]] = [
    ("orders", {}, True),
    (
        "orders",
        {
            "sku": "SKU-1",
            "amount": 19.99,
            "quantity": 2,
            "region": "华东",
            "reason": None,
            "unknown_extra": [1, 2],
        },
        True,
    ),
    ("orders", {"status": "returned", "customer_id": "", "channel": None}, True),
    ("orders", {"ts": "2026-11-02t10:15:00z"}, True),
    ("orders", {"ts": 946684800000}, True),
    ("orders", {"amount": 1e12, "quantity": 1_000_000}, True),
    ("orders", {"order_id": None}, False),
    ("orders", {"order_id": ""}, False),
    ("orders", {"order_id": 7}, False),
    ("orders", {"status": "lost"}, False),
    ("orders", {"status": None}, False),
    ("orders", {"event_id": None}, False),
    ("orders", {"ts": None}, False),
    ("orders", {"ts": "2026-11-02 10:15:00"}, False),
    ("orders", {"ts": "2026-11-02T10:15:00"}, False),
    ("orders", {"ts": "1999-12-31T23:59:59Z"}, False),
    ("orders", {"ts": 4102444800000}, False),
    ("orders", {"ts": True}, False),
    ("orders", {"ts": 17.5}, False),
    ("orders", {"quantity": 0}, False),
    ("orders", {"quantity": True}, False),
    ("orders", {"quantity": "2"}, False),
    ("orders", {"amount": -0.01}, False),
    ("orders", {"amount": 1.5e12}, False),
    ("orders", {"amount": "19.99"}, False),
    ("orders", {"sku": "x" * 257}, False),
    ("orders", {"sku": "x" * 256}, True),
    ("orders", {"sku": "SKU\n1"}, False),
    ("orders", {"sku": "SKU\u202e1"}, False),
    ("orders", {"region": "a\u2028b"}, False),
    ("orders", {"carrier": ["SF"]}, False),
    ("complaints", {}, True),
    ("reviews", {}, True),
    ("reviews", {"text": "Too small.\nSent it back.", "sku": "SKU-1"}, True),
    ("reviews", {"rating": 6}, False),
    ("reviews", {"rating": None}, False),
    ("reviews", {"text": "x" * 2001}, False),
    ("complaints", {"severity": 3, "reason": "damaged", "order_id": "O-1"}, True),
    ("complaints", {"severity": 4}, False),
    ("complaints", {"severity": 0}, False),
    ("complaints", {"severity": "high"}, False),
    ("complaints", {"complaint_id": None}, False),
    ("complaints", {"reason": 3}, False),
    ("wait-times", {}, True),
    ("wait-times", {"queue": "returns", "handle_seconds": 300.5, "wait_seconds": 0}, True),
    ("wait-times", {"wait_seconds": 31_622_400}, True),
    ("wait-times", {"wait_seconds": None}, False),
    ("wait-times", {"wait_seconds": -1}, False),
    ("wait-times", {"wait_seconds": 31_622_401}, False),
    ("wait-times", {"wait_seconds": "42"}, False),
    ("wait-times", {"handle_seconds": -5}, False),
    ("wait-times", {"ticket_id": None}, False),
    ("wait-times", {"queue": "re\x00turns"}, False),
]

# What a JSON Schema cannot say but the validator checks is listed in
# docs/schemas/README.md and kept out of SAMPLES.


def apply(topic: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The base event of ``topic`` with ``changes`` (None removes a field)."""
    value = {**BASE[topic], **changes}
    return {k: v for k, v in value.items() if v is not None or k not in BASE[topic]}


class TestAgreementWithValidator:
    @pytest.mark.parametrize(
        ("topic", "changes", "valid"),
        SAMPLES,
        ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(SAMPLES)],
    )
    def test_schema_and_validator_agree(
        self, topic: str, changes: dict[str, Any], valid: bool
    ) -> None:
        """Schema and validator both accept, or both reject, the sample."""
        value = apply(topic, changes)
        assert accepted_by_validator(topic, value) is valid
        assert (errors(INPUTS[topic], value) == []) is valid

    def test_null_optional_fields_are_accepted_by_both(self) -> None:
        """Every optional field may be null, for schema and validator alike."""
        for topic, name in INPUTS.items():
            schema = validator(name).schema
            optional = set(schema["properties"]) - set(schema["required"])
            value = {**BASE[topic], **dict.fromkeys(optional)}
            assert accepted_by_validator(topic, value), (topic, optional)
            assert errors(name, value) == [], (topic, optional)

    def test_required_fields_match_the_contract_keys(self) -> None:
        """Each input schema requires the topic's Kafka key field (contract section 1)."""
        for topic, name in INPUTS.items():
            assert KEY_FIELDS[topic] in validator(name).schema["required"]  # type: ignore[index]

    def test_contract_additions_are_described(self) -> None:
        """The optional fields of contract section 7.1 are in the schemas, with ranges."""
        assert (
            errors(
                "order",
                {**ORDER, "promised_at": "2026-11-05T00:00:00+08:00", "refund_amount": 19.99},
            )
            == []
        )
        assert errors("order", {**ORDER, "refund_amount": -1}) != []
        assert errors("order", {**ORDER, "promised_at": "soon"}) != []
        assert errors("wait-time", {**WAIT, "csat": 5}) == []
        assert errors("wait-time", {**WAIT, "csat": 6}) != []
        for value in (
            {**ORDER, "promised_at": "2026-11-05T00:00:00Z", "refund_amount": 3},
            {**WAIT, "csat": 1},
        ):
            topic = "orders" if "order_id" in value else "wait-times"
            assert accepted_by_validator(topic, value)
