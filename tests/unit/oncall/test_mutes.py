"""Mute timings: validation, recurrence, and their effect through ``replay``."""

from __future__ import annotations

from typing import Any

import pytest

from streams.exceptions import ConfigError
from streams.pipeline.closer import Closed
from streams.pipeline.replay import ReplayPipeline
from streams.rules.mutes import parse_mutes
from tests.unit.oncall.helpers import DAY, HOUR, MIN, T0, end_ms, firing, orders, run, shipped

RULES = {"order_volume", "return_rate"}


class TestValidation:
    @pytest.mark.parametrize(
        ("table", "field"),
        [
            ({"rules": ["order_volume"], "from": "22:00"}, "mutes[0].name"),
            ({"name": "x", "from": "22:00"}, "mutes[0].rules"),
            ({"name": "x", "rules": ["no_such_rule"], "from": "22:00"}, "mutes[0].rules"),
            ({"name": "x", "rules": ["order_volume"], "from": "25:00"}, "mutes[0].from"),
            ({"name": "x", "rules": ["order_volume"], "to": "7pm"}, "mutes[0].to"),
            ({"name": "x", "rules": ["order_volume"], "days": ["funday"]}, "mutes[0].days"),
            ({"name": "x", "rules": ["order_volume"], "days": []}, "mutes[0].days"),
            (
                {"name": "x", "rules": ["order_volume"], "from": "22:00", "train": "no"},
                "mutes[0].train",
            ),
            (
                {
                    "name": "x",
                    "rules": ["order_volume"],
                    "start": "yesterday",
                    "end": "2026-01-01T00:00:00Z",
                },
                "mutes[0].start",
            ),
            (
                {
                    "name": "x",
                    "rules": ["order_volume"],
                    "start": "2026-01-02T00:00:00Z",
                    "end": "2026-01-01T00:00:00Z",
                },
                "mutes[0].end",
            ),
            ({"name": "x", "rules": ["order_volume"]}, "mutes[0]"),
            (
                {"name": "x", "rules": ["order_volume"], "from": "22:00", "colour": "red"},
                "mutes[0].colour",
            ),
        ],
    )
    def test_bad_mute_names_the_field(self, table: dict[str, Any], field: str) -> None:
        """A bad mute is refused with the exact TOML path of the field."""
        with pytest.raises(ConfigError) as info:
            parse_mutes([table], RULES, 0)
        assert info.value.field == field

    def test_rules_file_refuses_bad_mute(self) -> None:
        """The rules loader validates [[mutes]] at start."""
        with pytest.raises(ConfigError) as info:
            shipped(
                ["order_volume"],
                mutes=[{"name": "x", "rules": ["order_volume"], "days": ["mon"], "from": "9"}],
            )
        assert info.value.field == "mutes[0].from"

    def test_duplicate_names_refused(self) -> None:
        """Two mutes of one name are refused (metrics are labelled by name)."""
        table = {"name": "x", "rules": ["order_volume"], "from": "22:00"}
        with pytest.raises(ConfigError) as info:
            parse_mutes([table, table], RULES, 0)
        assert info.value.field == "mutes[1].name"


class TestRecurrence:
    def test_weekly_wraps_past_midnight_in_local_time(self) -> None:
        """Sunday 22:00-06:00 at UTC+8 covers Monday 03:00 local, not Monday 07:00."""
        table = parse_mutes(
            [
                {
                    "name": "stock-take",
                    "rules": ["order_volume"],
                    "days": ["sun"],
                    "from": "22:00",
                    "to": "06:00",
                }
            ],
            RULES,
            8 * HOUR,
        )
        monday = T0 + 5 * DAY  # 2026-10-19, a Monday (UTC midnight)
        local = -8 * HOUR  # a local wall-clock time t is UTC t - 8 h
        assert table.active(
            "order_volume", monday + 3 * HOUR + local, monday + 3 * HOUR + local + 15 * MIN
        )
        assert not table.active(
            "order_volume", monday + 7 * HOUR + local, monday + 7 * HOUR + local + 15 * MIN
        )
        assert not table.active(
            "order_volume",
            monday - DAY + 3 * HOUR + local,
            monday - DAY + 3 * HOUR + local + 15 * MIN,
        )

    def test_key_glob_and_dimension(self) -> None:
        """The glob matches keys of the named dimension only."""
        mute = parse_mutes(
            [{"name": "eu", "rules": ["*"], "dimension": "region", "key": "EU-*", "from": "00:00"}],
            RULES,
            0,
        ).mutes[0]
        assert mute.matches("region", "EU-West")
        assert not mute.matches("region", "US-East")
        assert not mute.matches("carrier", "EU-West")

    def test_bounded_by_start_and_end(self) -> None:
        """A recurring mute applies only between its start and end."""
        table = parse_mutes(
            [
                {
                    "name": "x",
                    "rules": ["order_volume"],
                    "from": "00:00",
                    "start": "2026-10-15T00:00:00Z",
                    "end": "2026-10-16T00:00:00Z",
                }
            ],
            RULES,
            0,
        )
        assert not table.active("order_volume", T0 + 12 * HOUR, T0 + 13 * HOUR)
        assert table.active("order_volume", T0 + DAY + 12 * HOUR, T0 + DAY + 13 * HOUR)


#: A nightly 22:00-23:30 UTC mute of order_volume.
NIGHTLY = {"name": "night shift", "rules": ["order_volume"], "from": "22:00", "to": "23:30"}
OUTAGE_DAYS = (2, 3)


def _outage(t: int) -> float:
    """Orders stop 22:15-23:15 on days 2 and 3, and 22:15-01:15 on day 4."""
    day, at = divmod(t - T0, DAY)
    if day in OUTAGE_DAYS and 22 * HOUR + 15 * MIN <= at < 23 * HOUR + 15 * MIN:
        return 0.0
    if (day == 4 and at >= 22 * HOUR + 15 * MIN) or (day == 5 and at < 75 * MIN):
        return 0.0
    return 1.0


def _replay(
    mutes: list[dict[str, Any]] | None, until_ms: int, watch: list[Closed] | None = None
) -> tuple[list[Any], ReplayPipeline]:
    rules = shipped(
        ["order_volume"], mutes=mutes, dimensions={"order_volume": ["total", "channel"]}
    )
    pipeline = ReplayPipeline(rules, partitions=2, max_future_ms=None)
    if watch is not None:
        bank = pipeline.closer.banks["order_volume"]

        def record(closed: Closed) -> None:
            state = bank.state(f"order_volume:{closed.dimension}:{closed.key}")
            watch.append((closed, state.level, state.n))  # type: ignore[arg-type]

        pipeline.closer.on_closed = record
    return run(pipeline, orders(7, 40, until_ms, _outage)), pipeline


class TestReplay:
    def test_outage_fires_without_the_mute(self) -> None:
        """Control: the nightly outage pages when nothing is muted."""
        alerts, _ = _replay(None, T0 + 4 * DAY)
        fired = firing(alerts, "order_volume")
        assert {(end_ms(a) - T0) // DAY for a in fired} >= set(OUTAGE_DAYS)

    def test_recurring_mute_suppresses_alerts_and_training(self) -> None:
        """With the nightly mute, both outages stay silent, the muted windows teach the
        baseline nothing, and the suppressed decisions are counted."""
        watch: list[Any] = []
        alerts, pipeline = _replay([NIGHTLY], T0 + 4 * DAY, watch)
        assert not firing(alerts, "order_volume")
        muted = [
            (c, level, n)
            for c, level, n in watch
            if pipeline.closer.rules.mutes.active(
                "order_volume", c.window_start_ms, c.window_end_ms
            )
        ]
        assert len(muted) >= 2 * 3 * 7
        for closed, level, n in muted:
            before = [
                (lv, k)
                for c, lv, k in watch
                if c.window_end_ms == closed.window_start_ms and c.key == closed.key
            ]
            assert before == [(level, n)], "a muted window changed the baseline"
        assert pipeline.closer.drain_suppressed()[("night shift", "order_volume")] >= 2

    def test_train_true_learns_the_muted_windows(self) -> None:
        """With train = true the muted windows are learned (and still silent)."""
        watch: list[Any] = []
        alerts, _ = _replay([{**NIGHTLY, "train": True}], T0 + 3 * DAY, watch)
        assert not firing(alerts, "order_volume")
        ends = {c.window_end_ms: n for c, _, n in watch if c.dimension == "total"}
        night = T0 + 2 * DAY + 23 * HOUR
        assert ends[night] == ends[night - 15 * MIN] + 1

    def test_problem_still_there_after_the_mute_fires(self) -> None:
        """An outage that outlasts the mute fires at the first windows after it."""
        alerts, _ = _replay([NIGHTLY], T0 + 5 * DAY + 3 * HOUR)
        fired = firing(alerts, "order_volume")
        assert fired, "the outage past the mute's end did not fire"
        assert all(end_ms(a) >= T0 + 4 * DAY + 23 * HOUR + 30 * MIN for a in fired)
        assert min(end_ms(a) for a in fired) <= T0 + 5 * DAY + HOUR


class TestMetrics:
    def test_mute_gauge_and_counter_on_metrics(self) -> None:
        """The worker's view: mute_states at a watermark feeds aftersales_mute_active, the
        closer's suppressed counts feed aftersales_mute_suppressed_total."""
        from prometheus_client import CollectorRegistry

        from alerts.metrics import AlertMetrics
        from streams.rules.mutes import mute_states

        rules = shipped(["order_volume", "return_rate"], mutes=[NIGHTLY])
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        metrics.set_mutes_active(mute_states(rules, T0 + 22 * HOUR + 30 * MIN))
        labels = {"mute": "night shift", "rule": "order_volume"}
        assert registry.get_sample_value("aftersales_mute_active", labels) == 1
        assert (
            registry.get_sample_value(
                "aftersales_mute_active", {"mute": "night shift", "rule": "return_rate"}
            )
            is None
        )
        metrics.set_mutes_active(mute_states(rules, T0 + 12 * HOUR))
        assert registry.get_sample_value("aftersales_mute_active", labels) == 0
        _, pipeline = _replay([NIGHTLY], T0 + 3 * DAY)
        metrics.add_mute_suppressed(pipeline.closer.drain_suppressed())
        assert registry.get_sample_value("aftersales_mute_suppressed_total", labels) >= 1
