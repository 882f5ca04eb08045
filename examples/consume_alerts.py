"""Read alert events from the alerts topic and print one line per new alert.

A starting point for your own consumer (a ticketing bridge, a chat bot, a
spreadsheet): it needs only ``aiokafka`` and the standard library.

- Alerts are JSON objects with ``"schema": "aftersales.alert/v1"`` (see
  docs/events.md and docs/schemas/alert.schema.json).
- Delivery is at least once, and an open episode is re-emitted when its severity
  rises, so deduplicate on ``(alert_id, status, severity)``.
- The key of each record is ``rule:dimension:key``: all events of one series land
  on one partition, in order.

Usage::

    python examples/consume_alerts.py                       # localhost:29092 (compose)
    python examples/consume_alerts.py --bootstrap kafka:9092 --group my-bridge
    python examples/consume_alerts.py --from-beginning --json

With ``--group`` the consumer commits its position, so a restart continues where
it stopped; without it, it reads from now on (or from the beginning).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

SCHEMA = "aftersales.alert/v1"


class Deduplicator:
    """Remembers the last ``capacity`` ``(alert_id, status, severity)`` triples seen."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._seen: dict[tuple[str, str, str], None] = {}

    def is_new(self, alert: dict[str, Any]) -> bool:
        """True the first time this alert's triple is seen."""
        triple = (alert["alert_id"], alert["status"], alert["severity"])
        if triple in self._seen:
            return False
        self._seen[triple] = None
        if len(self._seen) > self.capacity:
            del self._seen[next(iter(self._seen))]
        return True


def format_alert(alert: dict[str, Any]) -> str:
    """One readable line: when, status, severity, where, and the summary."""
    return (
        f"{alert['window_end']} {alert['status'].upper():<8} {alert['severity']:<8} "
        f"{alert['rule']} {alert['dimension']}={alert['key']}: {alert['summary']}"
    )


async def consume(
    bootstrap: str,
    topic: str,
    *,
    group: str | None,
    from_beginning: bool,
    on_alert: Callable[[dict[str, Any]], None],
    limit: int | None = None,
    idle_timeout_s: float | None = None,
) -> int:
    """Call ``on_alert`` for each new alert; stop after ``limit`` alerts or
    ``idle_timeout_s`` without a record (both optional). Returns alerts handled."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group is not None,
    )
    dedup = Deduplicator()
    handled = 0
    await consumer.start()
    try:
        while limit is None or handled < limit:
            batch = await consumer.getmany(timeout_ms=1_000 if idle_timeout_s else 10_000)
            if not batch:
                if idle_timeout_s is not None:
                    idle_timeout_s -= 1.0
                    if idle_timeout_s <= 0:
                        break
                continue
            for records in batch.values():
                for record in records:
                    try:
                        alert = json.loads(record.value)
                    except (TypeError, ValueError):
                        print(
                            f"skipped a record that is not JSON at offset {record.offset}",
                            file=sys.stderr,
                        )
                        continue
                    if not isinstance(alert, dict) or alert.get("schema") != SCHEMA:
                        continue  # another schema version: leave it to a newer consumer
                    if dedup.is_new(alert):
                        on_alert(alert)
                        handled += 1
    finally:
        await consumer.stop()
    return handled


def main(argv: list[str] | None = None) -> int:
    """Print the alerts topic's events until interrupted; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:29092")
    )
    parser.add_argument(
        "--topic", default=os.environ.get("AFTERSALES_TOPIC_PREFIX", "aftersales.") + "alerts"
    )
    parser.add_argument("--group", help="consumer group (commits its position)")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw alert JSON")
    parser.add_argument("--limit", type=int, help="stop after this many alerts")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many idle seconds")
    args = parser.parse_args(argv)

    def show(alert: dict[str, Any]) -> None:
        print(
            json.dumps(alert, ensure_ascii=False) if args.json else format_alert(alert), flush=True
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            consume(
                args.bootstrap,
                args.topic,
                group=args.group,
                from_beginning=args.from_beginning,
                on_alert=show,
                limit=args.limit,
                idle_timeout_s=args.idle_timeout,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
