"""Errors raised by the ``alerts`` package.

Hierarchy::

    AlertError                      base of everything raised here
    ├── AlertValidationError        an alert event or episode state is malformed
    │                               (also a ValueError; ``field`` names the culprit)
    ├── TemplateError               a runbook template is malformed or uses an
    │                               unknown placeholder (also a ValueError;
    │                               ``placeholder`` names it)
    ├── DecisionError               a Decision cannot become an alert, e.g. a
    │                               ``"fire"`` without a baseline (an engine bug)
    ├── MetricLabelError            a metric label value outside its closed set
    │                               (also a ValueError)
    └── SinkError                   a sink could not deliver, or was used while
                                    not started; undelivered events stay buffered
"""

from __future__ import annotations

__all__ = [
    "AlertError",
    "AlertValidationError",
    "DecisionError",
    "MetricLabelError",
    "SinkError",
    "TemplateError",
]


class AlertError(Exception):
    """Base class of every error raised by ``alerts``."""


class AlertValidationError(AlertError, ValueError):
    """An alert event or episode state failed validation; ``field`` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TemplateError(AlertError, ValueError):
    """A runbook template is malformed; ``placeholder`` names the bad one, if any."""

    def __init__(self, message: str, placeholder: str | None = None) -> None:
        super().__init__(message)
        self.placeholder = placeholder


class DecisionError(AlertError, ValueError):
    """A Decision is incoherent for the requested alert transition."""


class MetricLabelError(AlertError, ValueError):
    """A label value is not one of the values the metric allows."""


class SinkError(AlertError):
    """A sink failed to deliver, or was used outside ``start()``/``stop()``."""
