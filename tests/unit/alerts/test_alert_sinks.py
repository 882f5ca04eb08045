"""Tests for alerts.sinks and the FakeProducer double."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.exceptions import SinkError
from alerts.model import AlertEvent
from alerts.sinks import (
    ConsoleSink,
    FanOutSink,
    JsonlSink,
    ListSink,
    TopicSink,
    format_console_line,
)
from alerts.testing import FakeProducer, SentRecord
from alerts.text import AlertTexts

EventFactory = Callable[..., AlertEvent]


class TestListSink:
    async def test_keeps_events_in_order(self, make_event: EventFactory) -> None:
        """Added events are kept in order."""
        sink = ListSink()
        first, second = make_event(), make_event(status="resolved")
        await sink.start()
        sink.add(first)
        sink.add(second)
        await sink.stop()
        assert sink.events == [first, second]

    def test_works_without_start(self, make_event: EventFactory) -> None:
        """A ListSink accepts events without start()."""
        sink = ListSink()
        sink.add(make_event())
        assert len(sink.events) == 1


class TestJsonlSink:
    async def test_one_line_per_event(self, tmp_path: Path, make_event: EventFactory) -> None:
        """Each event becomes its to_json() line."""
        path = tmp_path / "alerts.jsonl"
        sink = JsonlSink(path)
        events = [make_event(), make_event(status="resolved")]
        await sink.start()
        for event in events:
            sink.add(event)
        await sink.stop()
        assert path.read_bytes() == b"".join(e.to_json() + b"\n" for e in events)

    async def test_lines_round_trip(self, tmp_path: Path, make_event: EventFactory) -> None:
        """Each written line decodes back to its event."""
        path = tmp_path / "alerts.jsonl"
        sink = JsonlSink(path)
        await sink.start()
        sink.add(make_event())
        await sink.stop()
        assert [AlertEvent.from_json(line) for line in path.read_bytes().splitlines()] == [
            make_event()
        ]

    async def test_nothing_written_before_flush(
        self, tmp_path: Path, make_event: EventFactory
    ) -> None:
        """add buffers; flush writes."""
        path = tmp_path / "alerts.jsonl"
        sink = JsonlSink(path)
        await sink.start()
        sink.add(make_event())
        assert path.read_bytes() == b""
        await sink.flush()
        assert path.read_bytes().count(b"\n") == 1
        await sink.stop()

    @pytest.mark.parametrize(("mode", "lines"), [("w", 1), ("a", 2)])
    async def test_mode(
        self, tmp_path: Path, make_event: EventFactory, mode: str, lines: int
    ) -> None:
        """Mode w truncates an existing file; a appends."""
        path = tmp_path / "alerts.jsonl"
        path.write_bytes(make_event().to_json() + b"\n")
        sink = JsonlSink(path, mode=mode)  # type: ignore[arg-type]
        await sink.start()
        sink.add(make_event())
        await sink.stop()
        assert path.read_bytes().count(b"\n") == lines

    def test_add_before_start_rejected(self, tmp_path: Path, make_event: EventFactory) -> None:
        """add before start raises SinkError."""
        with pytest.raises(SinkError, match="start"):
            JsonlSink(tmp_path / "x.jsonl").add(make_event())


class TestTopicSink:
    async def test_sends_keyed_json(self, make_event: EventFactory) -> None:
        """Each event is sent to the topic keyed rule:dimension:key."""
        producer = FakeProducer()
        sink = TopicSink(producer, "shop.alerts")
        event = make_event()
        await sink.start()
        sink.add(event)
        await sink.flush()
        assert producer.sent == [
            SentRecord("shop.alerts", b"return_rate:sku:SKU-00042", event.to_json())
        ]

    async def test_default_topic(self, make_event: EventFactory) -> None:
        """The default topic is aftersales.alerts."""
        producer = FakeProducer()
        sink = TopicSink(producer)
        await sink.start()
        sink.add(make_event())
        await sink.stop()
        assert producer.sent[0].topic == "aftersales.alerts"

    async def test_nothing_sent_before_flush(self, make_event: EventFactory) -> None:
        """add only buffers."""
        producer = FakeProducer()
        sink = TopicSink(producer)
        await sink.start()
        sink.add(make_event())
        assert (producer.sent, sink.pending) == ([], 1)

    async def test_failure_keeps_unsent_for_retry(self, make_event: EventFactory) -> None:
        """A failed send raises SinkError and the next flush resends the rest in order."""
        producer = FakeProducer(fail_after=1)
        sink = TopicSink(producer)
        events = [make_event(alert_id=f"id{i}") for i in range(3)]
        await sink.start()
        for event in events:
            sink.add(event)
        with pytest.raises(SinkError, match="id1"):
            await sink.flush()
        assert sink.pending == 2
        producer.fail_after = None
        await sink.flush()
        assert [r.value for r in producer.sent] == [e.to_json() for e in events]

    def test_add_before_start_rejected(self, make_event: EventFactory) -> None:
        """add before start raises SinkError."""
        with pytest.raises(SinkError):
            TopicSink(FakeProducer()).add(make_event())


class TestConsoleSink:
    def test_writes_one_line_per_event(self, make_event: EventFactory) -> None:
        """Each added event writes one line through the writer."""
        lines: list[str] = []
        ConsoleSink(lines.append).add(make_event())
        assert len(lines) == 1 and "\n" not in lines[0]

    def test_line_content(self, make_event: EventFactory) -> None:
        """The line shows status, severity, rule, where, observed, normal and band."""
        assert format_console_line(make_event()) == (
            "2026-11-02 10:15 UTC FIRING   critical return_rate sku=SKU-00042 "
            "observed 31.2% vs normal 9.8% band [4.1% .. 15.6%] score 3.40 "
            "id 93544e9743f84af0"
        )

    def test_firing_inside_the_band_is_marked_sustained(self, make_event: EventFactory) -> None:
        """Score 0 on a firing event (a sequential-evidence fire) is marked; a resolved
        one is not."""
        line = format_console_line(make_event(score=0.0))
        assert "score 0.00 (sustained) id " in line
        assert "sustained" not in format_console_line(make_event(score=0.0, status="resolved"))
        zh = format_console_line(make_event(score=0.0), AlertTexts(locale="zh_CN"))
        assert "得分 0.00（持续性证据），编号" in zh

    def test_line_in_chinese_and_shop_time(self, make_event: EventFactory) -> None:
        """zh_CN words and the window end in the shop's UTC offset (UTC+8)."""
        line = format_console_line(
            make_event(), AlertTexts(locale="zh_CN"), utc_offset_ms=8 * 3_600_000
        )
        assert line == (
            "2026-11-02 18:15 UTC+8 告警 严重 return_rate SKU=SKU-00042 观测 31.2%，"
            "正常 9.8%，区间 [4.1% .. 15.6%]，得分 3.40，编号 93544e9743f84af0"
        )

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"severity": "critical"}, "\x1b[1;31m"),
            ({"severity": "warning"}, "\x1b[33m"),
            ({"severity": "info"}, "\x1b[36m"),
            ({"status": "resolved"}, "\x1b[32m"),
        ],
    )
    def test_colour_flag(
        self, make_event: EventFactory, overrides: dict[str, str], code: str
    ) -> None:
        """With colour on, the line is tinted by severity (green when resolved)."""
        lines: list[str] = []
        ConsoleSink(lines.append, colour=True).add(make_event(**overrides))
        assert lines[0].startswith(code) and lines[0].endswith("\x1b[0m")

    def test_no_colour_by_default(self, make_event: EventFactory) -> None:
        """Without the flag there are no escape codes."""
        lines: list[str] = []
        ConsoleSink(lines.append).add(make_event())
        assert "\x1b" not in lines[0]


class TestFanOutSink:
    async def test_every_sink_gets_every_event(self, make_event: EventFactory) -> None:
        """Events reach all sinks."""
        a, b = ListSink(), ListSink()
        fan = FanOutSink([a, b])
        await fan.start()
        fan.add(make_event())
        await fan.stop()
        assert a.events == b.events == [make_event()]

    async def test_flush_tries_all_then_raises(self, make_event: EventFactory) -> None:
        """A failing sink does not stop the others from flushing."""
        failing = TopicSink(FakeProducer(fail_after=0))
        producer = FakeProducer()
        fan = FanOutSink([failing, TopicSink(producer)])
        await fan.start()
        fan.add(make_event())
        with pytest.raises(SinkError):
            await fan.flush()
        assert len(producer.sent) == 1


class TestFakeProducer:
    async def test_records_sends(self) -> None:
        """send_and_wait records topic, key and value."""
        producer = FakeProducer()
        await producer.send_and_wait("t", value=b"v", key=b"k")
        assert producer.sent == [SentRecord("t", b"k", b"v")]

    async def test_fail_after(self) -> None:
        """fail_after=0 makes the first send raise ConnectionError."""
        with pytest.raises(ConnectionError):
            await FakeProducer(fail_after=0).send_and_wait("t", value=b"v")
