"""Detection quality on the project's own simulator (issue 4, item 3).

Simulates a scenario (default: ``two_weeks.toml``, 21 days, a week+ of history then
one incident of every type), replays it through the exact live pipeline
(:class:`streams.pipeline.replay.ReplayPipeline`) and matches the firing alerts to the
simulator's labels:

- an incident is *detected* when a firing alert on one of its ``expected`` targets
  (rule + dimension + key) has its ``window_end`` (the event time for per-event
  alerts) inside ``(start, end + one window of the rule]``; the detection *delay* is
  that ``window_end`` minus the label's ``start``;
- a firing alert is *false* when it matches no incident's ``expected`` or
  ``related`` targets (key ``"*"`` = any key) with its ``window_end`` inside
  ``[start - one window, end + 1 day]``. False alerts are counted per rule and per
  simulated day over the days after the warm-up (``--warmup-days``, default 7).

Targets: every incident detected, at most 1 false alert per rule per simulated
day (on average over the evaluated days; the worst single day is reported too).

Run: ``.venv/bin/python benchmarks/quality.py [--seed 1] [--orders-per-day 20000]
[--rules FILE] [--scenario default] [--warmup-days 7]``; ``make bench-quality``.
Writes ``benchmarks/results/quality-<seed>.json`` (``quality-<seed>-<N>opd.json``
at another scale than 20k orders/day).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.dev.simulator import Simulation, SimulationConfig, build_labels  # noqa: E402
from streams.dev.simulator.config import DEFAULT_START  # noqa: E402
from streams.dev.simulator.scenario import load_scenario  # noqa: E402
from streams.dev.simulator.timefmt import parse_ts  # noqa: E402
from streams.pipeline.replay import ReplayPipeline  # noqa: E402
from streams.rules.catalogue import RuleSet, load_rules  # noqa: E402

MS_PER_DAY = 86_400_000
DEFAULT_ORDERS_PER_DAY = 20_000.0
DEFAULT_SEED = 1


def _records(sim: Simulation) -> Iterator[tuple[Any, bytes, bytes]]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for event in sim.events():
        yield event.topic, event.key.encode(), dumps(event.value).encode()


def _ms(text: str) -> int:
    return parse_ts(text)


def _matches(alert: dict[str, Any], target: dict[str, str]) -> bool:
    return (
        alert["rule"] == target["rule"]
        and alert["dimension"] == target["dimension"]
        and target["key"] in ("*", alert["key"])
    )


def run_simulation(
    seed: int = DEFAULT_SEED,
    orders_per_day: float = DEFAULT_ORDERS_PER_DAY,
    rules: RuleSet | None = None,
    scenario: str = "default",
    days: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Simulate and replay; return (firing alerts, labels, run info)."""
    rules = rules if rules is not None else load_rules(None)
    loaded = load_scenario(scenario, DEFAULT_START)
    length = days if days is not None else (loaded.days or 21.0)
    config = SimulationConfig(
        seed=seed,
        duration=timedelta(days=length),
        orders_per_day=orders_per_day,
        incidents=loaded.incidents,
    )
    sim = Simulation(config)
    pipeline = ReplayPipeline(rules, risk=False)
    began = time.perf_counter()
    alerts = [
        {
            "rule": a.rule,
            "dimension": a.dimension,
            "key": a.key,
            "direction": a.direction,
            "severity": a.severity,
            "window_end": int(a.window_end.timestamp() * 1000),
            "window_end_text": a.window_end.isoformat().replace("+00:00", "Z"),
            "observed": a.observed,
            "baseline": a.baseline,
            "upper": a.upper,
            "lower": a.lower,
            "score": a.score,
            "sample_size": a.sample_size,
        }
        for a in pipeline.run(_records(sim))
        if a.status == "firing"
    ]
    elapsed = time.perf_counter() - began
    labels = build_labels(sim)
    info = {
        "seed": seed,
        "orders_per_day": orders_per_day,
        "days": length,
        "scenario": scenario,
        "events": pipeline.lines,
        "seconds": round(elapsed, 1),
        "start_ms": config.start_ms,
        "end_ms": config.end_ms,
    }
    return alerts, labels, info


def evaluate(
    alerts: list[dict[str, Any]],
    labels: dict[str, Any],
    rules: RuleSet,
    info: dict[str, Any],
    warmup_days: float = 7.0,
) -> dict[str, Any]:
    """Match firing alerts to labels; return the summary document."""
    window = {r.name: r.window_ms for r in rules.rules}
    start_ms, end_ms = info["start_ms"], info["end_ms"]
    eval_from = start_ms + int(warmup_days * MS_PER_DAY)
    eval_days = (end_ms - eval_from) / MS_PER_DAY
    used: set[int] = set()
    incidents = []
    for inc in labels["incidents"]:
        start, end = _ms(inc["start"]), _ms(inc["end"])
        hits = [
            (i, a)
            for i, a in enumerate(alerts)
            if any(_matches(a, t) for t in inc["expected"])
            and start < a["window_end"] <= end + window.get(a["rule"], 0)
        ]
        hits.sort(key=lambda x: x[1]["window_end"])
        first = hits[0][1] if hits else None
        incidents.append(
            {
                "id": inc["id"],
                "type": inc["type"],
                "start": inc["start"],
                "end": inc["end"],
                "detected": first is not None,
                "delay_minutes": (
                    round((first["window_end"] - start) / 60_000, 1) if first else None
                ),
                "first_alert": (
                    {
                        k: first[k]
                        for k in (
                            "rule",
                            "dimension",
                            "key",
                            "direction",
                            "severity",
                            "window_end_text",
                            "observed",
                            "baseline",
                            "upper",
                            "score",
                        )
                    }
                    if first
                    else None
                ),
                "matching_alerts": len(hits),
            }
        )
        for i, a in enumerate(alerts):
            targets = inc["expected"] + inc["related"]
            lo = start - window.get(a["rule"], 0)
            if any(_matches(a, t) for t in targets) and lo <= a["window_end"] <= end + MS_PER_DAY:
                used.add(i)
    false = [a for i, a in enumerate(alerts) if i not in used]
    counted = [a for a in false if a["window_end"] >= eval_from]
    per_rule: dict[str, Any] = {}
    for rule in sorted(window):
        mine = [a for a in counted if a["rule"] == rule]
        by_day = Counter((a["window_end"] - start_ms) // MS_PER_DAY for a in mine)
        per_rule[rule] = {
            "false_alerts": len(mine),
            "false_per_day": round(len(mine) / eval_days, 3) if eval_days > 0 else None,
            "worst_day": max(by_day.values(), default=0),
            "false_in_warmup": sum(
                1 for a in false if a["rule"] == rule and a["window_end"] < eval_from
            ),
            "firing_total": sum(1 for a in alerts if a["rule"] == rule),
        }
    delays = [i["delay_minutes"] for i in incidents if i["delay_minutes"] is not None]
    all_detected = all(i["detected"] for i in incidents)
    worst_rate = max((r["false_per_day"] or 0.0 for r in per_rule.values()), default=0.0)
    return {
        "run": {k: v for k, v in info.items() if k not in ("start_ms", "end_ms")},
        "warmup_days": warmup_days,
        "evaluated_days": eval_days,
        "incidents": incidents,
        "rules": per_rule,
        "median_delay_minutes": statistics.median(delays) if delays else None,
        "verdict": {
            "all_detected": all_detected,
            "max_false_per_rule_per_day": worst_rate,
            "false_rate_ok": worst_rate <= 1.0,
            "worst_single_day_ok": all(r["worst_day"] <= 1 for r in per_rule.values()),
            "pass": all_detected and worst_rate <= 1.0,
        },
        "false_alerts": [
            {
                k: a[k]
                for k in (
                    "rule",
                    "dimension",
                    "key",
                    "direction",
                    "window_end_text",
                    "observed",
                    "baseline",
                    "upper",
                    "lower",
                    "score",
                    "sample_size",
                )
            }
            for a in false
        ],
    }


def print_report(summary: dict[str, Any]) -> None:
    """Human-readable tables of :func:`evaluate`'s summary."""
    run = summary["run"]
    print(
        f"seed {run['seed']}, {run['orders_per_day']:,.0f} orders/day, {run['days']:g} days, "
        f"{run['events']:,} events replayed in {run['seconds']} s"
    )
    print(f"\n{'incident':<12} {'type':<18} {'detected':<9} {'delay':>9}  first alert")
    for inc in summary["incidents"]:
        first = inc["first_alert"]
        delay = f"{inc['delay_minutes']:.0f} min" if inc["delay_minutes"] is not None else "-"
        where = (
            f"{first['rule']} {first['dimension']}={first['key']} ({first['severity']}, "
            f"{first['window_end_text']})"
            if first
            else "-"
        )
        print(
            f"{inc['id']:<12} {inc['type']:<18} {'yes' if inc['detected'] else 'NO':<9} "
            f"{delay:>9}  {where}"
        )
    print(
        f"\nfalse alerts after a {summary['warmup_days']:g}-day warm-up "
        f"({summary['evaluated_days']:g} days evaluated)"
    )
    print(
        f"{'rule':<24} {'false':>6} {'per day':>8} {'worst day':>10} {'in warm-up':>11} "
        f"{'firing':>7}"
    )
    for rule, r in summary["rules"].items():
        print(
            f"{rule:<24} {r['false_alerts']:>6} {r['false_per_day']:>8.2f} "
            f"{r['worst_day']:>10} {r['false_in_warmup']:>11} {r['firing_total']:>7}"
        )
    med = summary["median_delay_minutes"]
    print(
        f"\nmedian detection delay: {med:.0f} min"
        if med is not None
        else "\nmedian detection delay: -"
    )
    v = summary["verdict"]
    print(
        f"verdict: every incident detected: {'yes' if v['all_detected'] else 'NO'}; "
        f"max false alerts per rule per day: {v['max_false_per_rule_per_day']:.2f} "
        f"({'<= 1' if v['false_rate_ok'] else '> 1'}); worst single day <= 1 for every "
        f"rule: {'yes' if v['worst_single_day_ok'] else 'no'} -> "
        f"{'PASS' if v['pass'] else 'FAIL'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--orders-per-day", type=float, default=DEFAULT_ORDERS_PER_DAY)
    parser.add_argument("--rules", default=None, help="rules file (default: shipped rules)")
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--warmup-days", type=float, default=7.0)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--list-false", action="store_true", help="print every false alert")
    args = parser.parse_args(argv)
    rules = load_rules(args.rules)
    alerts, labels, info = run_simulation(args.seed, args.orders_per_day, rules, args.scenario)
    summary = evaluate(alerts, labels, rules, info, args.warmup_days)
    summary["run"]["rules_file"] = args.rules or "shipped"
    print_report(summary)
    if args.list_false:
        print("\nfalse alerts:")
        for a in summary["false_alerts"]:
            print(
                f"  {a['window_end_text']} {a['rule']} {a['dimension']}={a['key']} "
                f"{a['direction']} observed={a['observed']} baseline={a['baseline']} "
                f"lower={a['lower']} upper={a['upper']} n={a['sample_size']}"
            )
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.orders_per_day == DEFAULT_ORDERS_PER_DAY else f"-{args.orders_per_day:g}opd"
    path = out_dir / f"quality-{args.seed}{suffix}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"summary: {path}")
    return 0 if summary["verdict"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
