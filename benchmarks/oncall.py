"""Cost of the on-call features (mutes, calendar, feedback multipliers) on ``replay``.

Simulates ``--days`` days in process (scenario-free traffic, ``--orders-per-day``), then
replays the same records three times with the shipped rules: plain; with three mute
timings and a shop-wide calendar event (with aftermath) over the middle third; and the
same plus feedback multipliers on 1,000 series. Prints events/s and alerts of each run.
Run: ``.venv/bin/python benchmarks/oncall.py [--days 3] [--orders-per-day 10000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.pipeline.replay import ReplayPipeline
from streams.rules.calendar import Calendar, parse_calendar
from streams.rules.catalogue import RuleSet, parse_rules

START = datetime(2026, 11, 2, tzinfo=UTC)
MUTES = [
    {"name": "night", "rules": ["order_volume"], "from": "01:00", "to": "05:00"},
    {
        "name": "stock-take",
        "rules": ["return_rate", "complaint_rate"],
        "dimension": "sku",
        "key": "SKU-00*",
        "days": ["sun"],
        "from": "20:00",
        "to": "08:00",
    },
    {
        "name": "queue",
        "rules": ["*"],
        "dimension": "queue",
        "key": "ret*",
        "from": "12:00",
        "to": "13:00",
    },
]


def rules(with_mutes: bool) -> RuleSet:
    document = tomllib.loads(
        resources.files("streams").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    if with_mutes:
        document["mutes"] = MUTES
    return parse_rules(document)


def calendar(days: float) -> Calendar:
    start = START + timedelta(days=days / 3)
    return parse_calendar(
        {
            "events": [
                {
                    "name": "sale",
                    "start": start.isoformat(),
                    "end": (start + timedelta(days=days / 6)).isoformat(),
                    "uplift": 2.0,
                    "scope": {},
                    "aftermath": f"{days / 6 * 24:.0f}h",
                }
            ]
        }
    )


def run(
    label: str,
    records: list[tuple[str, bytes, bytes]],
    ruleset: RuleSet,
    cal: Calendar | None,
    sensitivity: dict[str, float] | None,
) -> None:
    pipeline = ReplayPipeline(
        ruleset, calendar=cal, sensitivity=sensitivity, max_future_ms=None, risk=False
    )
    began = time.perf_counter()
    alerts = sum(1 for _ in pipeline.run(records))
    seconds = time.perf_counter() - began
    print(
        f"{label:<34} {len(records) / seconds:>10,.0f} events/s  {seconds:6.1f} s  "
        f"{alerts:>5} alerts  {sum(pipeline.closer.drain_suppressed().values()):>6} muted"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--orders-per-day", type=float, default=10_000)
    args = parser.parse_args()
    config = SimulationConfig(
        seed=1, start=START, duration=timedelta(days=args.days), orders_per_day=args.orders_per_day
    )
    records = [
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in simulate(config)
    ]
    print(
        f"input: {len(records):,} events, {args.days:g} days, {args.orders_per_day:,.0f} orders/day"
    )
    plain = rules(False)
    muted = rules(True)
    sensitivity = {f"return_rate:sku:SKU-{i:05d}": 1.3 for i in range(1_000)}
    run("plain", records, plain, None, None)
    run("mutes + calendar", records, muted, calendar(args.days), None)
    run("mutes + calendar + 1,000 multipliers", records, muted, calendar(args.days), sensitivity)


if __name__ == "__main__":
    main()
