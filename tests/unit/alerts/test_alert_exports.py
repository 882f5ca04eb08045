"""Pins the public API of the alerts package."""

from __future__ import annotations

import importlib

import pytest

import alerts

EXPECTED = [
    "DEFAULT_ALERTS_TOPIC", "DEFAULT_RULE_TEXTS", "DEFAULT_SERIES_CAP", "RULE_NAMES",
    "SCHEMA", "AlertError", "AlertEvent", "AlertMetrics", "AlertProducer", "AlertSink",
    "AlertTexts", "AlertValidationError", "ConsoleSink", "DecisionError", "EpisodeState",
    "FakeProducer", "FanOutSink", "JsonlSink", "ListSink", "MetricLabelError", "RuleText",
    "SentRecord", "SeriesCollector", "SeriesRef", "SeriesView", "SinkError", "Step",
    "TemplateError", "TopicSink", "Unit", "advance", "alert_id_for", "instant_alert",
    "render_latest", "validate_template",
]  # fmt: skip
MODULES = ["episodes", "exceptions", "metrics", "model", "sinks", "testing", "text"]


class TestExports:
    def test_all_is_pinned(self) -> None:
        """alerts.__all__ is exactly the pinned list."""
        assert alerts.__all__ == EXPECTED

    @pytest.mark.parametrize("name", EXPECTED)
    def test_exported_names_resolve(self, name: str) -> None:
        """Every exported name is an attribute of the package."""
        assert getattr(alerts, name) is not None

    @pytest.mark.parametrize("module", MODULES)
    def test_module_all_resolves(self, module: str) -> None:
        """Every submodule's __all__ names exist."""
        mod = importlib.import_module(f"alerts.{module}")
        assert all(hasattr(mod, name) for name in mod.__all__)

    def test_exceptions_share_a_base(self) -> None:
        """Every package error derives from AlertError."""
        errors = [
            alerts.AlertValidationError,
            alerts.TemplateError,
            alerts.DecisionError,
            alerts.MetricLabelError,
            alerts.SinkError,
        ]
        assert all(issubclass(e, alerts.AlertError) for e in errors)
