"""DingTalk and Feishu message bodies for one Alertmanager notification (pure).

DingTalk custom robots take ``{"msgtype": "markdown", "markdown": {"title", "text"}}`` or,
with a button, ``{"msgtype": "actionCard", "actionCard": {"title", "text", "singleTitle",
"singleURL"}}``; Feishu custom bots take ``{"msg_type": "interactive", "card": {...}}``
with a ``header`` and ``lark_md`` elements (DingTalk "自定义机器人发送消息的消息类型";
Feishu "自定义机器人使用指南", 消息卡片). Words come from the locale's catalogue; the
alert's ``summary`` and ``runbook`` annotations are already in that language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from alerts.locales import Catalogue
from streams.notify.payload import Alert, Notification

__all__ = [
    "MAX_ALERTS_SHOWN",
    "MessageStyle",
    "band_url",
    "dingtalk_message",
    "feishu_card",
    "title",
]

#: Alerts listed per message; the rest are counted ("and 3 more").
MAX_ALERTS_SHOWN: Final = 10
#: Grafana dashboard with the band view (deploy/grafana/dashboards/aftersales-thresholds.json).
BAND_DASHBOARD: Final = "aftersales-thresholds"
_FEISHU_COLOURS: Final = {"critical": "red", "warning": "orange", "info": "blue"}


@dataclass(frozen=True, slots=True)
class MessageStyle:
    """What messages need besides the notification: words, shop time, Grafana."""

    words: Catalogue
    utc_offset_ms: int = 0
    grafana_url: str = ""


def band_url(alert: Alert, grafana_url: str) -> str:
    """Link to the alert's band in Grafana, or ``""`` (no Grafana, or not an anomaly)."""
    labels = alert.labels
    if not grafana_url or not all(labels.get(k) for k in ("rule", "dimension", "key")):
        return ""
    query = urlencode(
        {"var-rule": labels["rule"], "var-dimension": labels["dimension"], "var-key": labels["key"]}
    )
    return f"{grafana_url.rstrip('/')}/d/{BAND_DASHBOARD}/?{query}"


def _what(alert: Alert, words: Catalogue) -> str:
    labels = alert.labels
    rule = labels.get("rule")
    if not rule:
        return labels.get("alertname", "alert")
    name = words.texts.get(f"rule.{rule}.label", rule)
    dimension = labels.get("dimension", "")
    if not dimension:
        return name
    shown = ",".join(words.label("dimension", d) for d in dimension.split(","))
    return f"{name} · {shown} {labels.get('key', '')}".rstrip()


def title(note: Notification, style: MessageStyle) -> str:
    """``[FIRING] critical · Return rate · sku SKU-1`` (or a count for several alerts)."""
    words = style.words
    first = note.alerts[0]
    status = words.label("status", note.status)
    if len(note.alerts) == 1:
        severity = words.label("severity", first.labels.get("severity", "warning"))
        return words.text(
            "notify.title", status=status, severity=severity, what=_what(first, words)
        )
    return words.text(
        "notify.title_many",
        status=status,
        count=len(note.alerts),
        what=_what(first, words).split(" · ")[0],
    )


def _lines(alert: Alert, style: MessageStyle) -> list[str]:
    words = style.words
    labels, notes = alert.labels, alert.annotations
    severity = words.label("severity", labels.get("severity", "warning"))
    status = words.label("status", alert.status)
    lines = [f"**{status} {severity} · {_what(alert, words)}**"]
    summary = notes.get("summary") or notes.get("description") or ""
    if summary:
        lines.append(f"{words.text('notify.summary')}: {summary}")
    if notes.get("runbook"):
        lines.append(f"{words.text('notify.runbook')}: {notes['runbook']}")
    if alert.starts_at is not None:
        lines.append(
            f"{words.text('notify.started')}: {words.time(alert.starts_at, style.utc_offset_ms)}"
        )
    link = band_url(alert, style.grafana_url)
    if link:
        lines.append(f"[{words.text('notify.band_link')}]({link})")
    return lines


def _body(note: Notification, style: MessageStyle, separator: str) -> str:
    blocks = ["\n\n".join(_lines(alert, style)) for alert in note.alerts[:MAX_ALERTS_SHOWN]]
    hidden = len(note.alerts) - MAX_ALERTS_SHOWN
    if hidden > 0:
        blocks.append(style.words.text("notify.more", count=hidden))
    return separator.join(blocks)


def dingtalk_message(note: Notification, style: MessageStyle) -> dict[str, Any]:
    """A DingTalk robot message: an actionCard with a Grafana button when there is a band
    link for the first alert, else markdown."""
    heading = title(note, style)
    text = f"### {heading}\n\n" + _body(note, style, "\n\n---\n\n")
    link = band_url(note.alerts[0], style.grafana_url)
    if link:
        return {
            "msgtype": "actionCard",
            "actionCard": {
                "title": heading,
                "text": text,
                "singleTitle": style.words.text("notify.band_link"),
                "singleURL": link,
            },
        }
    return {"msgtype": "markdown", "markdown": {"title": heading, "text": text}}


def feishu_card(note: Notification, style: MessageStyle) -> dict[str, Any]:
    """A Feishu interactive card: coloured header, one block per alert, Grafana button."""
    first = note.alerts[0]
    colour = (
        "green"
        if note.status == "resolved"
        else _FEISHU_COLOURS.get(first.labels.get("severity", ""), "orange")
    )
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(_lines(alert, style))}}
        for alert in note.alerts[:MAX_ALERTS_SHOWN]
    ]
    hidden = len(note.alerts) - MAX_ALERTS_SHOWN
    if hidden > 0:
        elements.append(
            {
                "tag": "div",
                "text": {
                    "tag": "lark_md",
                    "content": style.words.text("notify.more", count=hidden),
                },
            }
        )
    link = band_url(first, style.grafana_url)
    if link:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "type": "primary",
                        "url": link,
                        "text": {
                            "tag": "plain_text",
                            "content": style.words.text("notify.band_link"),
                        },
                    }
                ],
            }
        )
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": colour,
                "title": {"tag": "plain_text", "content": title(note, style)},
            },
            "elements": elements,
        },
    }
