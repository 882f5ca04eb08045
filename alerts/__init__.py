"""Alert events, their lifecycle, their texts, where they go, and the metrics.

Modules: :mod:`alerts.model` (the event), :mod:`alerts.episodes` (the pure
firing → resolved step), :mod:`alerts.text` (summary and runbook),
:mod:`alerts.sinks` (list, JSONL file, Kafka topic, console),
:mod:`alerts.metrics` (every Prometheus metric), :mod:`alerts.testing`
(a fake producer), :mod:`alerts.exceptions`.
"""

from alerts.episodes import EpisodeState, Step, advance, alert_id_for, instant_alert
from alerts.exceptions import (
    AlertError,
    AlertValidationError,
    DecisionError,
    MetricLabelError,
    SinkError,
    TemplateError,
)
from alerts.metrics import (
    DEFAULT_SERIES_CAP,
    AlertMetrics,
    SeriesCollector,
    SeriesView,
    render_latest,
)
from alerts.model import RULE_NAMES, SCHEMA, AlertEvent, SeriesRef
from alerts.sinks import (
    DEFAULT_ALERTS_TOPIC,
    AlertProducer,
    AlertSink,
    ConsoleSink,
    FanOutSink,
    JsonlSink,
    ListSink,
    TopicSink,
)
from alerts.testing import FakeProducer, SentRecord
from alerts.text import DEFAULT_RULE_TEXTS, AlertTexts, RuleText, Unit, validate_template

__all__ = [
    "DEFAULT_ALERTS_TOPIC",
    "DEFAULT_RULE_TEXTS",
    "DEFAULT_SERIES_CAP",
    "RULE_NAMES",
    "SCHEMA",
    "AlertError",
    "AlertEvent",
    "AlertMetrics",
    "AlertProducer",
    "AlertSink",
    "AlertTexts",
    "AlertValidationError",
    "ConsoleSink",
    "DecisionError",
    "EpisodeState",
    "FakeProducer",
    "FanOutSink",
    "JsonlSink",
    "ListSink",
    "MetricLabelError",
    "RuleText",
    "SentRecord",
    "SeriesCollector",
    "SeriesRef",
    "SeriesView",
    "SinkError",
    "Step",
    "TemplateError",
    "TopicSink",
    "Unit",
    "advance",
    "alert_id_for",
    "instant_alert",
    "render_latest",
    "validate_template",
]
