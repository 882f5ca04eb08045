"""The promotion calendar file: validation, recurrence, scope, and the command line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from alerts.model import datetime_to_ms, parse_time
from streams.cli.main import main
from streams.exceptions import ConfigError
from streams.rules.calendar import load_calendar, parse_calendar

GOOD: dict[str, Any] = {
    "name": "spring sale",
    "start": "2025-03-12T06:00:00Z",
    "end": "2025-03-13T13:00:00Z",
    "uplift": 2.25,
    "scope": {},
    "aftermath": "5d",
}


def at(text: str) -> int:
    return datetime_to_ms(parse_time(text))


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"name": ""}, "events[0].name"),
            ({"start": "12 March"}, "events[0].start"),
            ({"start": "2025-03-12T06:00:00"}, "events[0].start"),
            ({"end": "2025-03-11T00:00:00Z"}, "events[0].end"),
            ({"uplift": 0}, "events[0].uplift"),
            ({"uplift": "2x"}, "events[0].uplift"),
            ({"scope": {"colour": "red"}}, "events[0].scope.colour"),
            ({"scope": {"sku": []}}, "events[0].scope.sku"),
            ({"scope": "all"}, "events[0].scope"),
            ({"aftermath": "five days"}, "events[0].aftermath"),
            ({"recur": "monthly"}, "events[0].recur"),
            ({"silence": "order_volume"}, "events[0].silence"),
            ({"surprise": 1}, "events[0].surprise"),
        ],
    )
    def test_bad_event_names_the_field(self, change: dict[str, Any], field: str) -> None:
        """A bad event is refused with the path of its field."""
        with pytest.raises(ConfigError) as info:
            parse_calendar({"events": [{**GOOD, **change}]})
        assert info.value.field == field

    def test_missing_field_is_named(self) -> None:
        """A missing required field is named."""
        table = {k: v for k, v in GOOD.items() if k != "aftermath"}
        with pytest.raises(ConfigError) as info:
            parse_calendar({"events": [GOOD, table]})
        assert info.value.field == "events[1].aftermath"

    def test_not_toml(self, tmp_path: Path) -> None:
        """A file that is not TOML is refused with its path."""
        path = tmp_path / "cal.toml"
        path.write_text("[[events]\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_calendar(path)


class TestEvents:
    def test_shipped_example_has_the_shopping_year(self) -> None:
        """The shipped example parses and holds 618, 11.11, 12.12 and the CNY shutdown."""
        path = resources.files("streams").joinpath("example_calendar.toml")
        calendar = load_calendar(str(path))
        names = {event.name for event in calendar.events}
        assert {"618", "Double 11", "Double 12"} <= names
        assert any("Chinese New Year" in name for name in names)
        hits = calendar.phases(at("2030-11-11T03:00:00Z"), at("2030-11-11T03:15:00Z"))
        assert [(h.event.name, h.phase) for h in hits] == [("Double 11", "event")]

    def test_yearly_recurrence_and_aftermath(self) -> None:
        """A yearly event recurs on its date; its aftermath follows each occurrence."""
        calendar = parse_calendar({"events": [{**GOOD, "recur": "yearly"}]})
        assert [
            h.phase for h in calendar.phases(at("2031-03-12T12:00:00Z"), at("2031-03-12T12:15:00Z"))
        ] == ["event"]
        assert [
            h.phase for h in calendar.phases(at("2031-03-16T12:00:00Z"), at("2031-03-16T12:15:00Z"))
        ] == ["aftermath"]
        assert calendar.phases(at("2031-03-20T12:00:00Z"), at("2031-03-20T12:15:00Z")) == []

    def test_one_off_does_not_recur(self) -> None:
        """Without recur the event happens once."""
        calendar = parse_calendar({"events": [GOOD]})
        assert calendar.phases(at("2026-03-12T12:00:00Z"), at("2026-03-12T12:15:00Z")) == []

    @pytest.mark.parametrize(
        ("scope", "dimension", "key", "inside"),
        [
            ({}, "total", "all", True),
            ({"channel": "app"}, "channel", "app", True),
            ({"channel": "app"}, "channel", "web", False),
            ({"channel": "app"}, "total", "all", False),
            ({"sku": ["SKU-1", "SKU-2"]}, "sku", "SKU-2", True),
            ({"region": "north"}, "region,carrier", "north,DHL", True),
            ({"region": "north"}, "region,carrier", "south,DHL", False),
        ],
    )
    def test_scope(self, scope: dict[str, Any], dimension: str, key: str, inside: bool) -> None:
        """A series is in scope when its dimension names a scope field with a listed value."""
        event = parse_calendar({"events": [{**GOOD, "scope": scope}]}).events[0]
        assert event.in_scope(dimension, key) is inside


class TestCommandLine:
    def test_replay_refuses_bad_calendar(self, tmp_path: Path) -> None:
        """replay --calendar with a bad uplift exits 2 naming the field."""
        events = tmp_path / "events.jsonl"
        events.write_text("", encoding="utf-8")
        calendar = tmp_path / "cal.toml"
        calendar.write_text(
            '[[events]]\nname = "x"\nstart = "2025-03-12T06:00:00Z"\n'
            'end = "2025-03-13T06:00:00Z"\nuplift = -1\nscope = {}\n'
            'aftermath = "1d"\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(main, ["replay", str(events), "--calendar", str(calendar)])
        assert result.exit_code == 2
        assert "events[0].uplift" in result.output

    def test_worker_refuses_bad_calendar_file_setting(self, tmp_path: Path) -> None:
        """The worker refuses AFTERSALES_CALENDAR_FILE with a bad field before connecting."""
        calendar = tmp_path / "cal.toml"
        calendar.write_text('[[events]]\nname = "x"\n', encoding="utf-8")
        result = CliRunner().invoke(
            main, ["worker"], env={"AFTERSALES_CALENDAR_FILE": str(calendar)}
        )
        assert result.exit_code == 2
        assert "events[0].start" in result.output


class TestExplain:
    def test_explain_shows_the_calendar_factor(self, tmp_path: Path) -> None:
        """explain --calendar judges the series as replay does: inside the event the
        baseline is scaled (observed / baseline stays near 1 on a x2 day)."""
        import json

        from tests.unit.oncall.helpers import DAY, HOUR, T0, orders

        def doubled(t: int) -> float:
            return 2.0 if T0 + 2 * DAY + 10 * HOUR <= t < T0 + 2 * DAY + 16 * HOUR else 1.0

        events = tmp_path / "events.jsonl"
        with events.open("w", encoding="utf-8") as out:
            for _, _, value in orders(3, 40, T0 + 2 * DAY + 16 * HOUR, doubled):
                out.write(json.dumps({"topic": "orders", "value": json.loads(value)}) + "\n")
        calendar = tmp_path / "cal.toml"
        calendar.write_text(
            '[[events]]\nname = "x2"\nstart = "2026-10-16T10:00:00Z"\n'
            'end = "2026-10-16T16:00:00Z"\nuplift = 2.0\nscope = {}\n'
            'aftermath = "0d"\n',
            encoding="utf-8",
        )
        args = [
            "explain",
            str(events),
            "--rule",
            "order_volume",
            "--dimension",
            "total",
            "--key",
            "all",
            "--jsonl",
        ]

        def last_ratio(extra: list[str]) -> float:
            result = CliRunner().invoke(main, args + extra)
            assert result.exit_code == 0, result.output
            rows = [json.loads(line) for line in result.output.splitlines() if line]
            row = rows[-2]  # a window well inside the x2 period
            return row["observed"] / row["baseline"]

        assert last_ratio([]) > 1.6
        assert last_ratio(["--calendar", str(calendar)]) < 1.3
