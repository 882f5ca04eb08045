"""Configuration, incidents, scenarios and time helpers of the simulator."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.dev.simulator import (
    INCIDENT_TYPES,
    OrderDrop,
    SimulationConfig,
    SkuReturnSpike,
    load_scenario,
)
from streams.dev.simulator.config import DEFAULT_START, CategorySpec
from streams.dev.simulator.incidents import incident_from_dict, label_window_ms, window_ms
from streams.dev.simulator.timefmt import MS_PER_DAY, format_ts, parse_duration_ms, parse_ts


class TestSimulationConfig:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"orders_per_day": 0}, "orders_per_day"),
            ({"seed": -1}, "seed"),
            ({"duration": timedelta(0)}, "duration"),
            ({"start": datetime(2026, 1, 1)}, "start"),
            ({"n_skus": 0}, "n_skus"),
            ({"cancel_rate": 1.5}, "cancel_rate"),
            ({"speed": 0.0}, "speed"),
            ({"channels": ()}, "channels"),
            ({"channels": (("web", -1.0),)}, "channels[web].weight"),
            (
                {"categories": (CategorySpec("x", 1.0, 0.95, 1.0, 2.0),)},
                "categories[x].return_rate",
            ),
            ({"categories": (CategorySpec("x", 1.0, 0.1, 5.0, 2.0),)}, "categories[x].price_max"),
        ],
    )
    def test_bad_field_is_named(self, kwargs: dict[str, object], field: str) -> None:
        """A bad value raises ValueError whose message starts with the field's name."""
        with pytest.raises(ValueError, match="^" + re.escape(field)):
            SimulationConfig(**kwargs)  # type: ignore[arg-type]

    def test_defaults_are_valid(self) -> None:
        """The default configuration validates and spans one day from a fixed Monday."""
        cfg = SimulationConfig()
        assert cfg.end_ms - cfg.start_ms == MS_PER_DAY
        assert cfg.start.weekday() == 0

    def test_incident_with_unknown_channel_is_refused(self) -> None:
        """An incident naming a channel the config lacks is refused, naming the field."""
        bad = OrderDrop(start=DEFAULT_START, duration=timedelta(hours=1), channel="fax")
        with pytest.raises(ValueError, match=r"incidents\[0\]\(order_drop\)\.channel"):
            SimulationConfig(incidents=(bad,))

    def test_incident_with_unknown_sku_is_refused(self) -> None:
        """An incident naming a SKU outside the catalogue is refused."""
        bad = SkuReturnSpike(start=DEFAULT_START, duration=timedelta(days=1), sku="SKU-99999")
        with pytest.raises(ValueError, match="sku"):
            SimulationConfig(n_skus=100, incidents=(bad,))


class TestIncidentFromDict:
    def test_relative_start_and_duration(self) -> None:
        """'+1d2h' starts relative to the simulation start and durations parse."""
        inc = incident_from_dict(
            {"type": "wait_time_surge", "start": "+1d2h", "duration": "90m", "queue": "returns"},
            DEFAULT_START,
        )
        assert window_ms(inc) == (
            parse_ts("2026-11-03T02:00:00Z"),
            parse_ts("2026-11-03T03:30:00Z"),
        )

    def test_absolute_start(self) -> None:
        """An RFC 3339 start is taken as is."""
        inc = incident_from_dict(
            {"type": "complaint_spike", "start": "2026-11-05T08:00:00Z"}, DEFAULT_START
        )
        assert inc.start == datetime(2026, 11, 5, 8, tzinfo=UTC)

    def test_unknown_type_is_refused(self) -> None:
        """An unknown incident type names the field and the known types."""
        with pytest.raises(ValueError, match=r"^incident\.type"):
            incident_from_dict({"type": "meteor", "start": "+1h"}, DEFAULT_START)

    def test_unknown_field_is_refused(self) -> None:
        """A misspelt target field is named."""
        with pytest.raises(ValueError, match=r"incident\[order_drop\]\.chanel"):
            incident_from_dict(
                {"type": "order_drop", "start": "+1h", "chanel": "app"}, DEFAULT_START
            )

    def test_every_type_has_a_default_duration(self) -> None:
        """Every incident type parses with only type and start."""
        for kind in INCIDENT_TYPES:
            assert incident_from_dict({"type": kind, "start": "+1d"}, DEFAULT_START).type == kind

    def test_return_spike_label_window_covers_the_return_lag(self) -> None:
        """A SKU return spike's label window runs from start + 1 day to end + 3 days."""
        inc = incident_from_dict(
            {"type": "sku_return_spike", "start": "+2d", "duration": "2d"}, DEFAULT_START
        )
        start, end = window_ms(inc)
        assert label_window_ms(inc) == (start + MS_PER_DAY, end + 3 * MS_PER_DAY)


class TestScenario:
    def test_default_has_one_incident_of_each_type(self) -> None:
        """The shipped default scenario injects every incident type once over 21 days."""
        scenario = load_scenario("default", DEFAULT_START)
        assert sorted(i.type for i in scenario.incidents) == sorted(INCIDENT_TYPES)
        assert scenario.days == 21

    def test_default_incidents_come_after_a_week_of_history(self) -> None:
        """No default incident starts in the first week."""
        scenario = load_scenario("default", DEFAULT_START)
        assert min(i.start for i in scenario.incidents) >= DEFAULT_START + timedelta(days=7)

    def test_json_list(self, tmp_path: Path) -> None:
        """A JSON list of incidents loads."""
        path = tmp_path / "s.json"
        path.write_text(json.dumps([{"type": "order_drop", "start": "+3h", "region": "UK"}]))
        (inc,) = load_scenario(path, DEFAULT_START).incidents
        assert isinstance(inc, OrderDrop)
        assert inc.region == "UK"

    def test_bad_entry_is_located(self, tmp_path: Path) -> None:
        """An error in the second incident names its index and field."""
        path = tmp_path / "s.toml"
        path.write_text(
            '[[incidents]]\ntype = "order_drop"\nstart = "+1h"\n'
            '[[incidents]]\ntype = "wrong_price"\nstart = "soon"\n'
        )
        with pytest.raises(ValueError, match=r"incidents\[1\].*start"):
            load_scenario(path, DEFAULT_START)

    def test_invalid_toml(self, tmp_path: Path) -> None:
        """A file that is not TOML is refused with the file named."""
        path = tmp_path / "s.toml"
        path.write_text("[[incidents]\n")
        with pytest.raises(ValueError, match="not valid toml"):
            load_scenario(path, DEFAULT_START)


class TestTimeFormat:
    def test_round_trip(self) -> None:
        """Formatting then parsing gives the same epoch milliseconds."""
        for ms in (0, 1_793_614_503_120, 1_800_000_000_999):
            assert parse_ts(format_ts(ms)) == ms

    def test_format_has_offset(self) -> None:
        """Timestamps are RFC 3339 with millisecond precision and a Z offset."""
        assert format_ts(1_793_614_503_120) == "2026-11-02T10:15:03.120Z"

    @pytest.mark.parametrize("text", ["", "3x", "d", "1h 2m", "-1h"])
    def test_bad_duration(self, text: str) -> None:
        """Malformed durations are refused."""
        with pytest.raises(ValueError, match="duration"):
            parse_duration_ms(text)
