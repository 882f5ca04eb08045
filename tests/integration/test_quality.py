"""Detection quality on the simulator's default scenario, at a reduced scale (no Kafka).

Replays 21 simulated days (a week+ of history, then one incident of every type)
through :class:`streams.pipeline.replay.ReplayPipeline` with the shipped rules and checks
the targets of issue 4: every incident detected by an expected alert, and at most
one false alert per rule per simulated day after the warm-up. The full-scale run is
``make bench-quality`` (``benchmarks/quality.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from streams.rules.catalogue import load_rules

ROOT = Path(__file__).resolve().parents[2]
ORDERS_PER_DAY = 5_000.0
SEED = 1


def _quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_quality", ROOT / "benchmarks" / "quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_incident_detected_with_few_false_alerts() -> None:
    quality = _quality()
    rules = load_rules(None)
    alerts, labels, info = quality.run_simulation(SEED, ORDERS_PER_DAY, rules)
    summary = quality.evaluate(alerts, labels, rules, info)

    # The seven original incident types, the four of the signal rules (handling-time
    # surge, satisfaction drop, bad-review wave, cancellation spike) and the three of the
    # logistics rules (delivery delay, lost parcels).
    assert len(summary["incidents"]) == 13
    missed = [(i["id"], i["type"]) for i in summary["incidents"] if not i["detected"]]
    assert not missed, f"missed incidents: {missed}"
    too_many = {
        rule: r["false_per_day"] for rule, r in summary["rules"].items() if r["false_per_day"] > 1.0
    }
    assert not too_many, f"false alerts per day above 1: {too_many}"
