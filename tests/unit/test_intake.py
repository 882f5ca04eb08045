"""Intake: validation, de-duplication, routing and counting in one step."""

from __future__ import annotations

import json
from typing import Any

from streams.contract.events import Event, TopicName
from streams.pipeline.intake import Intake

NAMES: dict[TopicName, str] = {
    "orders": "p.orders",
    "complaints": "p.complaints",
    "wait-times": "p.wait-times",
}


def order(event_id: str, ts: int = 1793614500000) -> bytes:
    return json.dumps(
        {"event_id": event_id, "ts": ts, "order_id": "o-" + event_id, "status": "placed"}
    ).encode()


class Recorder:
    def __init__(self, late_before: int = 0) -> None:
        self.events: list[tuple[TopicName, int, int, Event]] = []
        self.late_before = late_before

    def __call__(self, topic: TopicName, partition: int, offset: int, event: Event) -> bool:
        if event.ts_ms < self.late_before:
            return False
        self.events.append((topic, partition, offset, event))
        return True


class TestIntake:
    def test_good_event_is_handed_on(self) -> None:
        """A valid event reaches the handler with its partition and offset and counts as ok."""
        seen = Recorder()
        intake = Intake(seen, NAMES)
        assert intake.process("orders", 2, 7, b"k", order("a")) is None
        assert [(t, p, o, e.event_id) for t, p, o, e in seen.events] == [("orders", 2, 7, "a")]
        assert intake.counts[("orders", "ok")] == 1

    def test_bad_event_becomes_a_dead_letter(self) -> None:
        """An invalid value returns a dead letter with the raw bytes, source and reason."""
        intake = Intake(Recorder(), NAMES)
        dead = intake.process("orders", 1, 42, b"key", b"{oops")
        assert dead is not None
        assert (dead.key, dead.value, dead.reason) == (b"key", b"{oops", "not_json")
        headers = dict(dead.headers())
        assert headers["source_topic"] == b"p.orders"
        assert headers["source_offset"] == b"42"
        assert intake.counts[("orders", "invalid")] == 1
        assert intake.reasons[("orders", "not_json")] == 1

    def test_duplicate_is_processed_once(self) -> None:
        """A second event with the same event_id is dead-lettered as a duplicate, not processed."""
        seen = Recorder()
        intake = Intake(seen, NAMES)
        intake.process("orders", 0, 1, b"k", order("a"))
        dead = intake.process("orders", 0, 2, b"k", order("a"))
        assert dead is not None and dead.reason == "duplicate"
        assert len(seen.events) == 1
        assert intake.counts[("orders", "duplicate")] == 1

    def test_late_event_is_counted_and_dead_lettered(self) -> None:
        """An event the handler refuses as late is counted as late and dead-lettered."""
        intake = Intake(Recorder(late_before=1793614500001), NAMES)
        dead = intake.process("orders", 0, 1, b"k", order("a"))
        assert dead is not None and (dead.reason, dead.field) == ("late", "ts")
        assert dead.value == order("a") and dead.source_offset == 1
        assert intake.counts[("orders", "late")] == 1
        assert intake.counts[("orders", "ok")] == 0
        assert intake.reasons[("orders", "late")] == 1

    def test_a_failing_handler_dead_letters_the_record_and_goes_on(self) -> None:
        """Any exception while handling one record dead-letters it (internal_error, with
        the exception type) and the next record is processed as usual."""
        calls: list[str] = []

        def handler(topic: str, partition: int, offset: int, event: Any) -> bool:
            calls.append(event.event_id)
            if event.event_id == "poison":
                raise OverflowError("int too large to convert to float")
            return True

        intake = Intake(handler, NAMES)
        dead = intake.process("orders", 0, 1, b"k", order("poison"))
        assert dead is not None and dead.reason == "internal_error"
        assert dead.error_type == "OverflowError"
        assert ("error_type", b"OverflowError") in dead.headers()
        assert dead.value == order("poison")
        assert intake.process("orders", 0, 2, b"k", order("fine")) is None
        assert calls == ["poison", "fine"]
        assert intake.counts[("orders", "ok")] == 1
        assert intake.reasons[("orders", "internal_error")] == 1

    def test_drain_resets_counts(self) -> None:
        """Draining returns the counts so far and starts again from zero."""
        intake = Intake(Recorder(), NAMES)
        intake.process("orders", 0, 1, b"k", order("a"))
        counts, _ = intake.drain_counts()
        assert counts[("orders", "ok")] == 1
        assert not intake.counts
