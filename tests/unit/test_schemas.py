"""docs/schemas/: the JSON Schemas of the input events, the alert event, the dead-letter
record, the order-risk and feedback records, the replay input line, the simulator's
labels and the promotion calendar, checked against real output and against the code
that reads them.

- Alerts of a replay of simulated incidents (firing, resolved, window and per-event
  rules) and every simulated input event validate.
- Dead letters of the hostile inputs validate.
- The order-risk records of ``replay --risk-out`` and of a trained scorer, the verdicts
  ``aftersales feedback`` writes, the lines and labels of ``aftersales simulate`` and
  the shipped example calendar validate; each schema also rejects a broken record.
- On sample good and bad inputs, the schema accepts a value exactly when the code that
  reads it does (``decode_event``, ``Verdict.from_json``, ``parse_calendar``). What a
  schema cannot say is listed in docs/schemas/README.md and kept out of the comparison.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from alerts.model import format_time
from streams.cli.main import main
from streams.contract.validation import decode_event
from streams.dev.simulator import Simulation, build_labels
from streams.dev.simulator.cli import incident_option
from streams.dev.simulator.config import DEFAULT_START, SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.hostile import bad_events
from streams.dev.simulator.incidents import INCIDENT_TYPES, RefundDelay, SupplierQuality
from streams.dev.simulator.jsonl import write_events_file
from streams.dev.simulator.promotion import Promotion
from streams.exceptions import ConfigError, InvalidEvent
from streams.pipeline.feedback import InvalidVerdict, Verdict
from streams.pipeline.replay import KEY_FIELDS, ReplayPipeline, read_jsonl
from streams.risk import RiskScorer
from streams.risk.record import RiskRecord
from streams.rules.calendar import parse_calendar
from streams.rules.catalogue import load_rules
from tests.alert_samples import replayed_alerts
from tests.unit.risk.test_scorer import DAY, order
from tests.unit.simulator.sim_helpers import every_incident_config

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
INPUTS = {
    "orders": "order",
    "complaints": "complaint",
    "wait-times": "wait-time",
    "reviews": "review",
}


ALL = [
    "order",
    "complaint",
    "wait-time",
    "review",
    "alert",
    "dead-letter",
    "order-risk",
    "feedback",
    "replay-line",
    "labels",
    "calendar",
]


@cache
def registry() -> Registry:
    """Every schema of docs/schemas under its ``$id`` (the replay line refers to the
    input events' schemas by file name)."""
    return Registry().with_resources(
        (f"{name}.schema.json", Resource.from_contents(schema(name))) for name in ALL
    )


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed ``docs/schemas/<name>.schema.json``."""
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of ``docs/schemas/<name>.schema.json``."""
    Draft202012Validator.check_schema(schema(name))
    return Draft202012Validator(schema(name), registry=registry())


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
    @pytest.mark.parametrize("name", ALL)
    def test_is_a_valid_2020_12_schema(self, name: str) -> None:
        """Each file is a valid JSON Schema (draft 2020-12) named by its ``$id``."""
        assert validator(name).schema["$schema"].endswith("2020-12/schema")
        assert validator(name).schema["$id"] == f"{name}.schema.json"

    def test_every_file_is_tested_and_listed(self) -> None:
        """No schema file escapes these tests or the index in docs/schemas/README.md."""
        files = {path.name.removesuffix(".schema.json") for path in SCHEMAS.glob("*.json")}
        assert files == set(ALL)
        index = (SCHEMAS / "README.md").read_text()
        assert all(f"({name}.schema.json)" in index for name in ALL)


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


def without(value: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``value`` with ``changes`` applied; a change to ``None`` removes the field."""
    merged = {**value, **changes}
    return {k: v for k, v in merged.items() if not (v is None and k in changes)}


class TestOrderRisk:
    def test_replay_risk_out_validates(self, tmp_path: Path) -> None:
        """Every record ``aftersales replay --risk-out`` writes for a simulated day
        validates, at each of the three stages."""
        events, risk = tmp_path / "events.jsonl", tmp_path / "risk.jsonl"
        write_events_file(
            simulate(SimulationConfig(seed=4, duration=timedelta(days=1), orders_per_day=800)),
            events,
        )
        result = CliRunner().invoke(
            main,
            ["replay", str(events), "--out", str(tmp_path / "a.jsonl"), "--risk-out", str(risk)],
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in risk.read_text().splitlines()]
        assert len(records) > 1_000
        assert {r["stage"] for r in records} == {"placed", "shipped", "delivered"}
        for record in records:
            assert errors("order-risk", record) == [], record

    def test_trained_scorer_records_validate_at_every_level(self) -> None:
        """A scorer that has learned a returning customer gives low, medium and high
        records; each validates (level consistent with the score)."""
        scorer = RiskScorer()
        records = []
        for i in range(400):
            for n, customer in ((2 * i, "C-bad"), (2 * i + 1, "C-good")):
                t = i * DAY // 4
                for kind, at in (("placed", t), ("shipped", t + DAY), ("delivered", t + 3 * DAY)):
                    scored = scorer.apply(order(at, n, kind, customer))
                    assert scored is not None
                    records.append(scored.to_dict())
                if customer == "C-bad":
                    scorer.apply(order(t + 5 * DAY, n, "return_requested", customer))
        assert {r["level"] for r in records} == {"low", "medium", "high"}
        for record in records:
            assert errors("order-risk", record) == [], record

    @pytest.mark.parametrize("score", [0.0, 0.1499, 0.15, 0.3499, 0.35, 1.0])
    def test_level_must_follow_the_score(self, score: float) -> None:
        """At the level thresholds the schema accepts the record's own level and no other."""
        record = RiskRecord("O-1", 0, "placed", score, (), None, None, None, None, None).to_dict()
        assert errors("order-risk", record) == []
        for level in {"low", "medium", "high"} - {record["level"]}:
            assert errors("order-risk", {**record, "level": level}) != [], level

    @pytest.mark.parametrize(
        "changes",
        [
            {"score": 1.2},
            {"score": -0.01},
            {"stage": "returned"},
            {"ts": "2026-11-02T10:00:00+08:00"},
            {"ts": 1793614500000},
            {"order_id": ""},
            {"schema": "aftersales.order-risk/v2"},
            {"customer_id": None},
            {"sku": 7},
            {"factors": [{"name": "new_customer", "value": 1.0}]},
            {"factors": [{"name": "New Customer", "value": 1.0, "contribution": 0.2}]},
        ],
        ids=str,
    )
    def test_rejects_a_broken_record(self, changes: dict[str, Any]) -> None:
        """A record outside contract 7.4 fails the schema (``None`` removes the field)."""
        record = RiskScorer().apply(order(0, 1, "placed"))
        assert record is not None
        good = record.to_dict()
        assert errors("order-risk", good) == []
        assert errors("order-risk", without(good, changes)) != []


VERDICT = {
    "schema": "aftersales.feedback/v1",
    "alert_id": "93544e9743f84af0",
    "verdict": "false",
    "rule": "return_rate",
    "dimension": "sku",
    "key": "SKU-00042",
    "note": "planned stock move",
    "ts": "2026-11-30T10:15:00.250Z",
}

#: (changes to VERDICT, accepted?): ``None`` removes the field.
VERDICT_SAMPLES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"note": None, "ts": None}, True),
    ({"verdict": "true", "extra": [1]}, True),
    ({"alert_id": "x" * 200, "key": "华东,SF"}, True),
    ({"note": "x" * 2000}, True),
    ({"verdict": "maybe"}, False),
    ({"verdict": False}, False),
    ({"verdict": None}, False),
    ({"alert_id": ""}, False),
    ({"alert_id": "x" * 201}, False),
    ({"rule": 3}, False),
    ({"dimension": None}, False),
    ({"key": ["SKU-1"]}, False),
    ({"schema": "aftersales.feedback/v2"}, False),
    ({"schema": None}, False),
    ({"note": "x" * 2001}, False),
    ({"ts": 1793614500000}, False),
]


def accepted_by_workers(value: dict[str, Any]) -> bool:
    """Whether a worker's feedback reader (``Verdict.from_json``) accepts ``value``."""
    try:
        Verdict.from_json(json.dumps(value).encode())
    except InvalidVerdict:
        return False
    return True


class TestFeedback:
    def test_verdicts_on_replayed_alerts_validate(self) -> None:
        """The record ``aftersales feedback`` produces (built as ``send_verdict`` builds
        it) for real alerts validates and reads back unchanged."""
        now = format_time(datetime.now(UTC))
        for alert in replayed_alerts()[:40]:
            for verdict in ("false", "true"):
                record = Verdict(
                    alert.alert_id, verdict, alert.rule, alert.dimension, alert.key, "", now
                )
                value = json.loads(record.to_json())
                assert errors("feedback", value) == [], value
                assert Verdict.from_json(record.to_json()) == record

    @pytest.mark.parametrize(("changes", "valid"), VERDICT_SAMPLES, ids=str)
    def test_schema_and_workers_agree(self, changes: dict[str, Any], valid: bool) -> None:
        """Schema and the workers' reader both accept, or both reject, the sample."""
        value = without(VERDICT, changes)
        assert accepted_by_workers(value) is valid
        assert (errors("feedback", value) == []) is valid


class TestSimulatorFiles:
    def test_simulate_lines_and_labels_validate(self, tmp_path: Path) -> None:
        """Every line of ``aftersales simulate --out`` is a valid replay line, and its
        ``--labels`` file validates."""
        events, labels = tmp_path / "events.jsonl", tmp_path / "labels.json"
        result = CliRunner().invoke(
            main,
            [
                "simulate",
                "--days",
                "0.5",
                "--orders-per-day",
                "1000",
                "--incident",
                "customer_burst",
                "--incident",
                "wait_time_surge",
                "--out",
                str(events),
                "--labels",
                str(labels),
            ],
        )
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in events.read_text().splitlines()]
        assert {line["topic"] for line in lines} == set(INPUTS)
        for line in lines:
            assert errors("replay-line", line) == [], line
        document = json.loads(labels.read_text())
        assert len(document["incidents"]) == 2
        assert errors("labels", document) == []

    def test_labels_of_every_incident_type_validate(self) -> None:
        """Labels of a run with one incident of every type (also those built in code
        only) and a promotion validate; the schema names exactly those types."""
        sim = Simulation(
            every_incident_config(
                SupplierQuality(start=DEFAULT_START, duration=timedelta(days=1), magnitude=0.3),
                RefundDelay(start=DEFAULT_START, duration=timedelta(days=1)),
                promotions=(Promotion(start=DEFAULT_START + timedelta(hours=6)),),
            )
        )
        for _ in sim.events():
            pass
        document = build_labels(sim)
        types = {incident["type"] for incident in document["incidents"]}
        enum = schema("labels")["$defs"]["incident"]["properties"]["type"]["enum"]
        assert types == set(enum) == {*INCIDENT_TYPES, "supplier_quality", "refund_delay"}
        assert document["promotions"]
        assert any("order_ids" in incident for incident in document["incidents"])
        assert errors("labels", document) == []

    @pytest.mark.parametrize(
        "line",
        [
            {"topic": "returns", "value": {**ORDER}},
            {"topic": "orders"},
            {"topic": "orders", "value": "not an object"},
            {"topic": "orders", "value": without(ORDER, {"order_id": None})},
            {"topic": "reviews", "value": {**REVIEW, "rating": 6}},
            {"topic": "wait-times", "value": {**WAIT, "wait_seconds": -1}},
        ],
        ids=str,
    )
    def test_replay_line_rejects(self, line: dict[str, Any]) -> None:
        """A line with an unknown topic, no object value, or a value its topic's schema
        refuses fails; the pipeline dead-letters each such line."""
        assert errors("replay-line", line) != []
        pipeline = ReplayPipeline(load_rules())
        list(pipeline.run(read_jsonl([json.dumps(line).encode()])))
        assert len(pipeline.dead_letters) == 1

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("incidents", 0, "type"), "meteor"),
            (("incidents", 0, "expected", 0, "direction"), "sideways"),
            (("incidents", 0, "start"), "2026-11-02"),
            (("schema",), "aftersales.labels/v2"),
        ],
        ids=str,
    )
    def test_labels_reject(self, path: tuple[str | int, ...], value: Any) -> None:
        """A labels document with a broken field fails."""
        sim = Simulation(
            SimulationConfig(
                seed=5,
                duration=timedelta(hours=12),
                orders_per_day=500,
                warmup=timedelta(0),
                incidents=(
                    incident_option("customer_burst", 0, 1, DEFAULT_START, timedelta(hours=12)),
                ),
            )
        )
        for _ in sim.events():
            pass
        document = build_labels(sim)
        assert errors("labels", document) == []
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert errors("labels", document) != []


EXAMPLE_CALENDAR = Path(__file__).resolve().parents[2] / "streams" / "example_calendar.toml"
EVENT = {
    "name": "Double 11",
    "start": "2026-11-10T20:00:00+08:00",
    "end": "2026-11-12T02:00:00+08:00",
    "uplift": 4.0,
    "scope": {},
    "aftermath": "14d",
}

#: (changes to EVENT, accepted?): ``None`` removes the field.
CALENDAR_SAMPLES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"recur": "yearly", "silence": ["customer_order_burst"]}, True),
    ({"scope": {"channel": "app"}}, True),
    ({"scope": {"sku": ["SKU-1", "SKU-2"], "region": "华东"}}, True),
    ({"uplift": 0.05, "aftermath": "0d"}, True),
    ({"uplift": 50, "aftermath": "36h"}, True),
    ({"aftermath": "1.5d", "name": "x" * 100}, True),
    ({"start": "2026-11-10t12:00:00z", "end": "2026-11-11 00:00:00Z"}, True),
    ({"scope": {"supplier": "SUP-1"}}, False),
    ({"scope": {"channel": ""}}, False),
    ({"scope": {"sku": []}}, False),
    ({"scope": {"channel": 3}}, False),
    ({"scope": None}, False),
    ({"scope": "all"}, False),
    ({"uplift": 0.04}, False),
    ({"uplift": 51}, False),
    ({"uplift": True}, False),
    ({"uplift": "2"}, False),
    ({"name": ""}, False),
    ({"name": "   "}, False),
    ({"name": "x" * 101}, False),
    ({"name": None}, False),
    ({"start": "2026-11-10"}, False),
    ({"start": "2026-11-10T20:00:00"}, False),
    ({"aftermath": "5"}, False),
    ({"aftermath": "5w"}, False),
    ({"aftermath": 5}, False),
    ({"aftermath": None}, False),
    ({"recur": "monthly"}, False),
    ({"silence": "complaint_volume"}, False),
    ({"silence": [1]}, False),
    ({"colour": "red"}, False),
]


def accepted_by_calendar(document: dict[str, Any]) -> bool:
    """Whether the service's calendar loader (``parse_calendar``) accepts ``document``."""
    try:
        parse_calendar(document)
    except ConfigError:
        return False
    return True


def json_form(value: Any) -> Any:
    """A parsed TOML document as JSON: date-times become RFC 3339 strings."""
    if isinstance(value, dict):
        return {k: json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_form(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


class TestCalendar:
    def test_example_calendar_validates(self) -> None:
        """The shipped example calendar validates and loads."""
        document = tomllib.loads(EXAMPLE_CALENDAR.read_text(encoding="utf-8"))
        assert len(document["events"]) >= 5
        assert errors("calendar", json_form(document)) == []
        assert accepted_by_calendar(document)

    def test_toml_date_times_validate_as_strings(self) -> None:
        """Unquoted TOML date-times (read as datetimes) validate in their string form."""
        document = tomllib.loads(
            '[[events]]\nname = "sale"\nstart = 2026-11-11T00:00:00+08:00\n'
            'end = 2026-11-12T00:00:00Z\nuplift = 2\nscope = {}\naftermath = "5d"\n'
        )
        assert accepted_by_calendar(document)
        assert errors("calendar", json_form(document)) == []

    @pytest.mark.parametrize(("changes", "valid"), CALENDAR_SAMPLES, ids=str)
    def test_schema_and_loader_agree(self, changes: dict[str, Any], valid: bool) -> None:
        """Schema and loader both accept, or both reject, a calendar of one event."""
        document = {"events": [without(EVENT, changes)]}
        assert accepted_by_calendar(document) is valid
        assert (errors("calendar", document) == []) is valid

    @pytest.mark.parametrize(
        ("document", "valid"),
        [({}, True), ({"events": []}, True), ({"event": []}, False), ({"events": {}}, False)],
        ids=str,
    )
    def test_document_level(self, document: dict[str, Any], valid: bool) -> None:
        """Only ``[[events]]`` tables at the top."""
        assert accepted_by_calendar(document) is valid
        assert (errors("calendar", document) == []) is valid
