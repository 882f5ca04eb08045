"""Factories shared by the alerts tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.model import SCHEMA, AlertEvent
from thresholds.decision import Decision

FIRE = Decision(
    observed=0.312,
    baseline=0.098,
    lower=0.041,
    upper=0.156,
    score=3.4,
    anomaly_score=0.97,
    sample_size=212,
    ready=True,
    violating=True,
    direction="up",
    severity="critical",
    alerting=True,
    transition="fire",
)
WINDOW_START_MS = 1_793_610_900_000  # 2026-11-02T09:15:00Z
WINDOW_END_MS = 1_793_614_500_000  # 2026-11-02T10:15:00Z


@pytest.fixture
def make_decision() -> Callable[..., Decision]:
    """A firing decision with any fields overridden."""

    def make(**overrides: Any) -> Decision:
        return replace(FIRE, **overrides)

    return make


@pytest.fixture
def make_event() -> Callable[..., AlertEvent]:
    """A valid firing return_rate event with any fields overridden."""

    def make(**overrides: Any) -> AlertEvent:
        fields: dict[str, Any] = {
            "schema": SCHEMA,
            "alert_id": "93544e9743f84af0",
            "status": "firing",
            "rule": "return_rate",
            "dimension": "sku",
            "key": "SKU-00042",
            "severity": "critical",
            "direction": "up",
            "observed": 0.312,
            "baseline": 0.098,
            "lower": 0.041,
            "upper": 0.156,
            "score": 3.4,
            "sample_size": 212,
            "window_start": datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
            "window_end": datetime(2026, 11, 2, 10, 15, tzinfo=UTC),
            "started_at": datetime(2026, 11, 2, 10, 15, tzinfo=UTC),
            "summary": "Return rate for sku SKU-00042 is 31.2%.",
            "runbook": "Check the size chart of SKU-00042.",
            "context": {"top_reasons": [{"reason": "too small", "share": 0.61}]},
        }
        fields.update(overrides)
        return AlertEvent(**fields)

    return make
