"""File output: events as JSONL in the ``replay`` input format, labels as JSON.

Each line is ``{"topic": "orders"|"complaints"|"wait-times", "value": {...}}`` with compact
separators, so the same events give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from streams.dev.simulator.events import Event

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event_line(event: Event) -> str:
    """One replay-format JSONL line for ``event`` (with the trailing newline)."""
    return _dumps({"topic": event.topic, "value": event.value}) + "\n"


def write_events(events: Iterable[Event], out: IO[str]) -> int:
    """Write ``events`` to a text stream, one line each; return how many were written."""
    count = 0
    buffer: list[str] = []
    for event in events:
        buffer.append(event_line(event))
        count += 1
        if len(buffer) >= 4096:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))
    return count


def write_events_file(events: Iterable[Event], path: Path) -> int:
    """Write ``events`` to ``path`` (UTF-8, ``\\n`` line ends); return how many."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        return write_events(events, out)


def write_labels_file(labels: dict[str, Any], path: Path) -> None:
    """Write the labels document as indented JSON."""
    path.write_text(json.dumps(labels, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
