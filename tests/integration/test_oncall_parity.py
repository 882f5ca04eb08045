"""Mute timings and the promotion calendar in the live worker: over Kafka it publishes
exactly what ``replay`` computes with the same rules file (with a mute) and calendar,
and that differs from a replay without them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker
from streams.pipeline.replay import ReplayPipeline
from streams.rules.calendar import load_calendar
from streams.rules.catalogue import load_rules
from tests.integration.test_parity import (
    PARTITIONS,
    RULES,
    START,
    assert_same_alerts,
    live_alerts,
    parity_events,
    parity_replay,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY2 = START + timedelta(days=1)
#: Mutes the wait-time surge's queue for its afternoon (daily 13:00-16:00 UTC).
MUTE = """
[[mutes]]
name = "returns desk afternoon"
rules = ["wait_time_p90", "wait_sla_breach_share"]
dimension = "queue"
key = "ret*"
from = "13:00"
to = "16:00"
"""
CALENDAR = f"""
[[events]]
name = "flash sale"
start = "{(DAY2 + timedelta(hours=14)).isoformat()}"
end = "{(DAY2 + timedelta(hours=18)).isoformat()}"
uplift = 1.5
scope = {{}}
aftermath = "1d"
"""


def replay(rules_path: Path, calendar_path: Path | None, events: list) -> list[dict]:  # type: ignore[type-arg]
    calendar = load_calendar(calendar_path) if calendar_path else None
    pipeline = ReplayPipeline(load_rules(rules_path), partitions=PARTITIONS, calendar=calendar)
    return [
        a.to_dict()
        for a in pipeline.run(
            (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
            for e in events
        )
    ]


class TestOnCallParity:
    async def test_worker_with_mutes_and_calendar_equals_replay(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
    ) -> None:
        """Same events, rules file with a mute, and calendar: the worker's alerts equal
        replay's, which lack the muted surge and carry the calendar tag."""
        rules_path = tmp_path / "rules.toml"
        rules_path.write_text(RULES.read_text(encoding="utf-8") + MUTE, encoding="utf-8")
        calendar_path = tmp_path / "calendar.toml"
        calendar_path.write_text(CALENDAR, encoding="utf-8")
        events = parity_events()
        plain = parity_replay()  # replay(RULES, None, events), computed once per session
        expected = replay(rules_path, calendar_path, events)

        def surge(alerts: list[dict]) -> list[dict]:  # type: ignore[type-arg]
            """The returns queue's wait_time_p90 alerts of the second day's muted hours
            (the first evening's own page, 21:45, is outside the mute)."""
            return [
                a
                for a in alerts
                if a["rule"] == "wait_time_p90"
                and a["key"] == "returns"
                and a["window_end"].startswith(DAY2.date().isoformat())
                and "13:00" < a["window_end"][11:16] <= "16:00"
            ]

        assert surge(plain) and not surge(expected), "the mute changed nothing"
        assert any("calendar" in a["context"] for a in expected), "no alert in the event"

        alerts = await live_alerts(
            broker,
            topic_prefix,
            load_rules(rules_path),
            events,
            len(expected),
            120,
            AFTERSALES_CALENDAR_FILE=str(calendar_path),
        )
        assert_same_alerts(alerts, expected)
