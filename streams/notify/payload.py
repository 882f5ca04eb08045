"""The Alertmanager webhook body (version 4), validated into small immutable values.

Alertmanager POSTs ``{"version": "4", "status", "receiver", "groupLabels", "commonLabels",
"commonAnnotations", "externalURL", "alerts": [{"status", "labels", "annotations",
"startsAt", "endsAt", "generatorURL", "fingerprint"}, ...]}`` (Alertmanager docs,
"Configuration", ``<webhook_config>``). Anything else is refused with a
:class:`PayloadError` that names the offending field, e.g. ``alerts[2].labels``.

Examples
--------
>>> note = parse_notification(
...     b'{"version": "4", "status": "firing", "alerts": '
...     b'[{"status": "firing", "labels": {"alertname": "X"}, "annotations": {}, '
...     b'"startsAt": "2026-11-02T10:15:00Z"}]}'
... )
>>> note.alerts[0].labels["alertname"]
'X'
>>> parse_notification(b'{"alerts": []}')
Traceback (most recent call last):
    ...
streams.notify.payload.PayloadError: alerts: expected a non-empty list of alerts
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = ["MAX_BODY_BYTES", "Alert", "Notification", "PayloadError", "parse_notification"]

#: Larger bodies are refused unread (Alertmanager's groups are far smaller).
MAX_BODY_BYTES: Final = 4 * 1_048_576
Status = Literal["firing", "resolved"]


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook notification; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification."""

    status: Status
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    generator_url: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One Alertmanager notification: a group of alerts."""

    status: Status
    receiver: str
    external_url: str
    alerts: tuple[Alert, ...]


def parse_notification(body: bytes) -> Notification:
    """Validate an Alertmanager webhook body; raise :class:`PayloadError` naming the field."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("body", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("body", "expected a JSON object")
    version = document.get("version", "4")
    if version != "4":
        raise PayloadError("version", f'expected "4" (Alertmanager webhook), got {version!r}')
    raw_alerts = document.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("alerts", "expected a non-empty list of alerts")
    alerts = tuple(_alert(raw, f"alerts[{i}]") for i, raw in enumerate(raw_alerts))
    status = document.get("status", alerts[0].status)
    return Notification(
        _status(status, "status"),
        _string(document, "receiver", ""),
        _string(document, "externalURL", ""),
        alerts,
    )


def _alert(raw: Any, where: str) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(where, "expected an object")
    labels = _strings(raw.get("labels"), f"{where}.labels")
    if not labels:
        raise PayloadError(f"{where}.labels", "expected at least one label")
    annotations = _strings(raw.get("annotations", {}), f"{where}.annotations")
    starts_at = None
    if raw.get("startsAt"):
        text = raw["startsAt"]
        try:
            starts_at = datetime.fromisoformat(str(text))
        except ValueError:
            raise PayloadError(f"{where}.startsAt", f"not an RFC 3339 time: {text!r}") from None
        if starts_at.tzinfo is None:
            raise PayloadError(f"{where}.startsAt", f"time without an offset: {text!r}")
    return Alert(
        _status(raw.get("status"), f"{where}.status"),
        labels,
        annotations,
        starts_at,
        _string(raw, "generatorURL", "", where),
    )


def _status(value: Any, where: str) -> Status:
    if value == "firing":
        return "firing"
    if value == "resolved":
        return "resolved"
    raise PayloadError(where, f'expected "firing" or "resolved", got {value!r}')


def _strings(value: Any, where: str) -> Mapping[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(where, "expected an object of strings")
    return MappingProxyType(dict(value))


def _string(document: dict[str, Any], name: str, default: str, where: str = "") -> str:
    value = document.get(name, default)
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{name}" if where else name, "expected a string")
    return value
