"""Power of ``delivery_time_p90`` against a delay on one region x carrier cell.

Simulates 14 days of the default shop (``streams/dev/simulator``, no other incident) with
one :class:`DeliveryDelay` on EU-West x DHL (parcels shipped within one day take
``magnitude`` times their usual transit), over seeds x orders a day x magnitudes x the
day the delay starts, and replays each run with ``delivery_time_p90`` alone (the rules
file's table, its grace period cut to 3 days so the delay lands after it). Prints per
run the hours from the delay's start to the first alert on the cell, its region or its
carrier (``None``: missed within 8 days) and the other episodes opened after day 3
(false), then the totals::

    python benchmarks/delivery_delay.py --rules streams/default_rules.toml

To compare two settings, run it twice with two rules files on the same seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.dev.simulator import Simulation
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.incidents import DeliveryDelay
from streams.logs import configure_logging
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules, read_rules_document

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
CELL = ("EU-West", "DHL")


def delay_rules(path: str | None) -> RuleSet:
    """``delivery_time_p90`` of the rules file at ``path`` alone, alerting after 3 days."""
    document = read_rules_document(path)
    table = document["rules"]["delivery_time_p90"]
    table.setdefault("detector", {})["grace_period"] = 72
    document["rules"] = {"delivery_time_p90": table}
    return parse_rules(document)


def run(
    rules: RuleSet, seed: int, orders_per_day: float, magnitude: float, start_day: int
) -> tuple[float | None, int]:
    """Hours to the first alert on the delayed cell (or its region or carrier), and the
    number of other episodes opened after day 3."""
    region, carrier = CELL
    begins = START + start_day * DAY
    delay = DeliveryDelay(
        start=begins, duration=DAY, region=region, carrier=carrier, magnitude=magnitude
    )
    config = SimulationConfig(
        seed=seed, start=START, duration=14 * DAY, orders_per_day=orders_per_day
    )
    events = Simulation(replace(config, incidents=(delay,))).events()
    found, false = None, 0
    records = (
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in events
    )
    for alert in ReplayPipeline(rules, risk=False).run(records):
        if alert.status != "firing":
            continue
        at = alert.window_end
        on_cell = alert.key in (f"{region},{carrier}", region, carrier)
        if on_cell and begins <= at <= begins + 8 * DAY:
            if found is None:
                found = (at - begins).total_seconds() / 3600
        elif at >= START + 3 * DAY:
            false += 1
    return found, false


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=None, help="rules file; default: the shipped rules")
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--orders-per-day", default="1000,5000")
    parser.add_argument("--magnitudes", default="1.6,2.2")
    parser.add_argument("--start-days", default="4,6", help="days after a Monday start")
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    rules = delay_rules(args.rules)
    found_n = false_n = runs = 0
    print("# seed orders/day magnitude start_day found_after_h false_episodes")
    for seed, volume, magnitude, day in itertools.product(
        (int(s) for s in args.seeds.split(",")),
        (float(v) for v in args.orders_per_day.split(",")),
        (float(m) for m in args.magnitudes.split(",")),
        (int(d) for d in args.start_days.split(",")),
    ):
        found, false = run(rules, seed, volume, magnitude, day)
        runs += 1
        found_n += found is not None
        false_n += false
        print(f"{seed} {volume:g} {magnitude:g} {day} {found} {false}", flush=True)
    print(f"# found {found_n} of {runs}; false episodes {false_n}")


if __name__ == "__main__":
    main()
