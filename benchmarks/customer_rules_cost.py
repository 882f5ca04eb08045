"""CPU cost of frequent_returner and shared_address in replay (issue 13).

Process time of replaying two simulated days (20,000 orders a day, every topic) with
the shipped rules without the two rules and with them, twice each, and the same-run
ratio. Run: ``PYTHONPATH=. .venv/bin/python benchmarks/customer_rules_cost.py``.
"""

import json
import sys
import time
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.dev.simulator import Simulation, SimulationConfig
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules


def rules(without: set[str]) -> RuleSet:
    """The shipped rules less ``without``."""
    doc = tomllib.loads(resources.files("streams").joinpath("default_rules.toml").read_text())
    doc["rules"] = {k: v for k, v in doc["rules"].items() if k not in without}
    return parse_rules(doc)


sim = Simulation(
    SimulationConfig(
        seed=3,
        duration=timedelta(days=2),
        orders_per_day=20_000,
        pickup_points=25,
        pickup_share=0.05,
        b2b_customers=10,
        b2b_share=0.01,
    )
)
dumps = json.JSONEncoder(separators=(",", ":")).encode
records = [(e.topic, e.key.encode(), dumps(e.value).encode()) for e in sim.events()]
print("events", len(records), flush=True)
cpu_by: dict[str, list[float]] = {"without": [], "with": []}
for label, without in [
    ("without", {"frequent_returner", "shared_address"}),
    ("with", set()),
    ("without", {"frequent_returner", "shared_address"}),
    ("with", set()),
]:
    t = time.process_time()
    n = sum(1 for _ in ReplayPipeline(rules(without)).run(records))
    cpu = time.process_time() - t
    cpu_by[label].append(cpu)
    print(
        f"{label:8} cpu {cpu:7.1f} s  {len(records) / cpu:9.0f} events/cpu-s  alerts {n}",
        flush=True,
    )
print(f"ratio with / without (CPU): {min(cpu_by['with']) / min(cpu_by['without']):.2f}")
