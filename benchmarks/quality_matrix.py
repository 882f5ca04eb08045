"""Detection-quality matrix (issue 16): volumes x seeds x incident types x magnitudes.

For each volume (0.3x, 1x, 3x the simulator's default orders/day, tickets scaled to a
few hundred per queue a day at 1x) and each seed, simulates 14 days with an obvious and
a subtle incident of every type after day 7, a planned promotion (ramp to x2-2.5 over
8 h, 12-24 h plateau, its return wave), Sunday delivery dips, daily/weekly seasonality,
pick-up-point addresses and B2B accounts, and late, duplicate and malformed records
(:mod:`benchmarks.matrix_scenario`). Replays it through :class:`ReplayPipeline` (what
``aftersales replay`` runs) with the shipped rules and scores the alerts against the
simulator's labels (:mod:`benchmarks.matrix_scoring`):

- per type x magnitude x volume: recall, median detection delay, median delay / oracle
  delay (CUSUM's ``log(ARL0) / KL`` at one false alarm per 30 days of the rule's
  evaluations, from the simulator's known before/after parameters, gathered as the
  incident arrives: its span, and the lag of complaints and returns after delivery;
  ``never`` when the whole incident holds less evidence); sizing errors are timed from
  their first extra return; recall also over the incidents within that limit;
- per volume: false episodes per day (all rules together, after the 7-day warm-up),
  precision by episode, and how many false episodes fell in the promotion or were
  bursts on pick-up points / B2B accounts;
- band efficiency per metric kind: the median over incident-free windows of
  ``(upper - baseline) / sampling sigma``, read through the closer's ``on_closed``
  report hook (read-only: the engine decides exactly as without it), and how much of it
  is learned model error (a share's read in its arcsine scale,
  :func:`benchmarks.matrix_scoring.share_model_factor`).

Seeds are split: ``--tune-seeds`` are the ones the engine may be tuned on, ``--seeds``
(REPORT) the ones to quote; each set gets its own table. ``--quick``: one volume (1x
unless ``--volumes`` names one), the first TUNE seed only, so iterating never looks at
the REPORT seeds (about 5 minutes at 1x, 1-2 at 0.3x, on one core). Everything runs in
this one process. ``--topics wait-times`` replays only that topic's events and scores
only the rules reading nothing else (their incidents and false episodes): the wait rules
over ten TUNE seeds at 0.3x and 1x in about five minutes instead of hours. With
``--any-expected`` it also scores the incidents only some of whose expected rules read
nothing else (a complaint spike, which ``complaint_rate`` also expects, under ``--topics
complaints``): recall by the fed rules alone, a lower bound, for comparing two variants of
one rule family.

Run: ``.venv/bin/python benchmarks/quality_matrix.py [--quick] [--seeds 11,12]
[--tune-seeds 1] [--seeds-3x 11] [--volumes 0.3x,1x,3x] [--rules FILE] [--topics T,...]``;
``make bench-quality-matrix``. The default full run (TUNE seed 1 at 0.3x and 1x, REPORT
seed 11 at all three volumes) takes about 35 minutes on one core of a busy machine; a
3x run costs ~3x a 1x run, so more seeds (``--seeds 11-13 --seeds-3x 11-13``) scale
that up.
Writes ``benchmarks/results/quality-matrix-<date>.txt`` (the printed tables) and
``.json`` (every incident and false episode).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.matrix_scenario import (  # noqa: E402
    BASE_ORDERS_PER_DAY,
    KINDS,
    VOLUMES,
    MatrixRun,
    build_run,
    pooled_wait_log_sigma,
)
from benchmarks.matrix_scoring import (  # noqa: E402
    MS_PER_DAY,
    Episode,
    IncidentScore,
    band_efficiency,
    episodes,
    false_episodes,
    score_incident,
    share_model_factor,
)
from streams.contract.events import TOPICS  # noqa: E402
from streams.dev.simulator.events import Event  # noqa: E402
from streams.dev.simulator.generator import Simulation  # noqa: E402
from streams.dev.simulator.hostile import with_nuisances  # noqa: E402
from streams.dev.simulator.incidents import WrongPrice, window_ms  # noqa: E402
from streams.dev.simulator.labels import build_labels  # noqa: E402
from streams.dev.simulator.timefmt import format_ts, parse_ts  # noqa: E402
from streams.logs import configure_logging  # noqa: E402
from streams.pipeline.closer import Closed  # noqa: E402
from streams.pipeline.replay import ReplayPipeline  # noqa: E402
from streams.rules.calendar import Calendar, parse_calendar  # noqa: E402
from streams.rules.catalogue import RuleSet, load_rules  # noqa: E402

WARMUP_DAYS = 7.0
METRIC_KIND = {
    "order_volume": "count",
    "complaint_volume": "count",
    "return_rate": "share",
    "complaint_rate": "share",
    "wait_sla_breach_share": "share",
    "wait_time_p90": "p90",
}
"""Window rules with a learned band; ``customer_order_burst`` (a fixed population floor)
and ``order_outlier`` (per event) have none to measure."""
PROMO_TAIL_MS = 2 * MS_PER_DAY
"""Windows up to this long after a promotion (its return wave) are not 'steady'."""


# -- one run -------------------------------------------------------------------------------


class _BandRecorder:
    """Band efficiency of every incident-free window, via ``WindowCloser.on_closed``."""

    def __init__(
        self,
        run: MatrixRun,
        labels: list[dict[str, Any]],
        windows_ms: dict[str, int],
        wait_sigma: float,
        z_by_rule: dict[str, float],
    ) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        #: The same in units of the rule's band ``z``: total sigma / sampling sigma, how
        #: much the learned model error widens the band beyond the sampling noise.
        self.inflation: dict[str, list[float]] = defaultdict(list)
        self.z_by_rule = z_by_rule
        self.wait_sigma = wait_sigma
        self.windows_ms = windows_ms
        self.busy: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
        for label in labels:
            lo, hi = label["start_ms"], label["end_ms"] + MS_PER_DAY
            for t in [*label["expected"], *label["related"]]:
                self.busy[(t["rule"], t["dimension"], t["key"])].append((lo, hi))
        promo = run.promotion
        self.promo = (promo.start_ms, promo.end_ms + PROMO_TAIL_MS)

    def __call__(self, closed: Closed) -> None:
        kind = METRIC_KIND.get(closed.rule)
        if kind is None:
            return
        d = closed.decision
        if d.baseline is None or d.upper is None:
            return
        start, end = closed.window_start_ms, closed.window_end_ms
        if end > self.promo[0] and start < self.promo[1]:
            return
        for key in (
            (closed.rule, closed.dimension, closed.key),
            (closed.rule, closed.dimension, "*"),
        ):
            for lo, hi in self.busy.get(key, ()):
                if end > lo and start < hi:
                    return
        value = band_efficiency(kind, d.baseline, d.upper, d.sample_size, self.wait_sigma)
        if value is not None and math.isfinite(value):
            z = self.z_by_rule[closed.rule]
            self.values[closed.rule].append(value)
            # A share's model error is read in the arcsine scale its band is drawn in (the
            # band's width in binomial sigmas of p also holds the transform's skew).
            factor = (
                share_model_factor(d.baseline, d.upper, d.sample_size, z)
                if kind == "share"
                else value / z
            )
            if factor is not None and math.isfinite(factor):
                self.inflation[closed.rule].append(factor)


class _PriceWatch:
    """The first mis-priced order of each wrong-price incident (its oracle), seen in passing."""

    def __init__(self, run: MatrixRun) -> None:
        self.first: dict[int, int] = {}
        self.watch = {
            i: (m.incident.sku, *window_ms(m.incident))
            for i, m in enumerate(run.incidents)
            if isinstance(m.incident, WrongPrice)
        }

    def events(self, events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            if self.watch and event.topic == "orders" and event.value.get("status") == "placed":
                for i, (sku, lo, hi) in self.watch.items():
                    if (
                        event.value.get("sku") == sku
                        and lo <= event.ts_ms < hi
                        and i not in self.first
                    ):
                        self.first[i] = event.ts_ms
            yield event


def declared_promotion(run: MatrixRun) -> Calendar:
    """The run's promotion as a shop would declare it in its calendar (``--calendar``):
    whole shop, from the ramp's start to the ramp-down's end, its peak as the uplift, a
    7-day aftermath (the simulator's return wave comes within days of delivery)."""
    promo = run.promotion
    return parse_calendar(
        {
            "events": [
                {
                    "name": "promotion",
                    "start": format_ts(promo.start_ms),
                    "end": format_ts(promo.end_ms),
                    "uplift": round(promo.peak, 2),
                    "scope": {},
                    "aftermath": "7d",
                }
            ]
        }
    )


def fed_rules(rules: RuleSet, topics: frozenset[str] | None) -> frozenset[str]:
    """The rules whose every input topic is in ``topics`` (all rules when ``None``)."""
    return frozenset(r.name for r in rules.rules if topics is None or set(r.topics) <= topics)


def scored(expected: set[str], fed: frozenset[str], *, any_expected: bool = False) -> bool:
    """Whether an incident expecting ``expected`` rules is scored when only ``fed`` run:
    all of them fed, or (``any_expected``) at least one.

    >>> scored({"complaint_volume", "complaint_rate"}, frozenset({"complaint_volume"}))
    False
    >>> scored(
    ...     {"complaint_volume", "complaint_rate"},
    ...     frozenset({"complaint_volume"}),
    ...     any_expected=True,
    ... )
    True
    """
    return bool(expected & fed) if any_expected else expected <= fed


def run_cell(
    run: MatrixRun,
    rules: RuleSet,
    *,
    band: bool = True,
    calendar: bool = False,
    topics: frozenset[str] | None = None,
    any_expected: bool = False,
) -> dict[str, Any]:
    """Simulate and replay one (volume, seed) run; score it (``calendar``: with the run's
    promotion declared, :func:`declared_promotion`).

    ``topics``: replay only the events of these topics, score only the incidents whose
    expected rules all read nothing else (``any_expected``: some of them, :func:`scored`),
    and count only those rules' false episodes (a family of rules in seconds instead of
    the whole shop in minutes)."""
    fed = fed_rules(rules, topics)
    sim = Simulation(run.config)
    windows_ms = {r.name: r.window_ms for r in rules.rules}
    pre_labels = _labels(build_labels(sim))
    pipeline = ReplayPipeline(
        rules, calendar=declared_promotion(run) if calendar else None, risk=False
    )
    recorder = None
    if band:
        z_by_rule = {r.name: r.detector.z for r in rules.rules if r.detector is not None}
        recorder = _BandRecorder(
            run, pre_labels, windows_ms, pooled_wait_log_sigma(run.config), z_by_rule
        )
        pipeline.closer.on_closed = recorder
    prices = _PriceWatch(run)
    rng = np.random.default_rng([run.seed, 99])
    began = time.perf_counter()
    alerts = [
        {
            "alert_id": a.alert_id,
            "status": a.status,
            "rule": a.rule,
            "dimension": a.dimension,
            "key": a.key,
            "severity": a.severity,
            "instant": a.is_instant,
            "window_end": int(a.window_end.timestamp() * 1000),
        }
        for a in pipeline.run(with_nuisances(prices.events(_only(sim.events(), topics)), rng))
        if a.rule in fed
    ]
    seconds = time.perf_counter() - began
    labels = _labels(build_labels(sim))
    cfg = run.config
    eps = episodes(alerts, cfg.end_ms)
    scores = []
    for i, (label, m) in enumerate(zip(labels, run.incidents, strict=True)):
        if not scored({t["rule"] for t in label["expected"]}, fed, any_expected=any_expected):
            continue
        oracle = m.oracle_ms
        if isinstance(m.incident, WrongPrice) and i in prices.first:
            oracle = float(prices.first[i] - label["start_ms"])
        score = score_incident(
            label, eps, windows_ms, kind=m.kind, magnitude=m.magnitude, oracle_ms=oracle
        )
        score.extra = {"size": m.size, "start": label["start"]}
        scores.append(score)
    eval_from = cfg.start_ms + int(WARMUP_DAYS * MS_PER_DAY)
    false = false_episodes(eps, labels, windows_ms, eval_from, cfg.end_ms)
    promo_lo, promo_hi = run.promotion.start_ms, run.promotion.end_ms + MS_PER_DAY
    in_promo = sum(1 for ep in false.false_list if promo_lo <= ep.opened_ms <= promo_hi)
    busy_bursts = sum(
        1 for ep in false.false_list if ep.rule == "customer_order_burst" and _busy_entity(ep, cfg)
    )
    return {
        "volume": run.volume,
        "seed": run.seed,
        "orders_per_day": cfg.orders_per_day,
        "events": pipeline.lines,
        "seconds": round(seconds, 1),
        "dead_letters": len(pipeline.dead_letters),
        "scores": scores,
        "false": false,
        "false_in_promotion": in_promo,
        "false_busy_entity_bursts": busy_bursts,
        "band": dict(recorder.values) if recorder is not None else {},
        "inflation": dict(recorder.inflation) if recorder is not None else {},
        "promotion": {
            "start": run.promotion.start.isoformat(),
            "peak": run.promotion.peak,
            "hold_h": run.promotion.hold.total_seconds() / 3600,
        },
    }


def _only(events: Iterable[Event], topics: frozenset[str] | None) -> Iterator[Event]:
    """``events`` of ``topics`` (all of them when ``None``)."""
    return iter(events) if topics is None else (e for e in events if e.topic in topics)


def _labels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label in doc["incidents"]:
        entry = dict(label)
        entry["start_ms"], entry["end_ms"] = parse_ts(label["start"]), parse_ts(label["end"])
        if "first_extra_return" in label:
            entry["first_extra_return_ms"] = parse_ts(label["first_extra_return"])
        out.append(entry)
    return out


def _busy_entity(ep: Episode, cfg: Any) -> bool:
    """A pick-up-point address or a B2B customer / address (ids past the customer pool)."""
    try:
        number = int(ep.key.split("-", 1)[1])
    except (IndexError, ValueError):
        return False
    limit = cfg.n_customers if ep.dimension == "customer" else 2 * cfg.n_customers
    return number > limit


# -- tables --------------------------------------------------------------------------------


def _minutes(ms: float | None) -> str:
    if ms is None or math.isnan(ms):
        return "-"
    if math.isinf(ms):
        return "never"
    minutes = ms / 60_000
    return f"{minutes:.0f}m" if minutes < 600 else f"{minutes / 60:.0f}h"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(cells: list[dict[str, Any]], volumes: list[str], title: str) -> str:
    """The plain-text matrix of one seed set (volumes without a run are left out)."""
    volumes = [v for v in volumes if any(c["volume"] == v for c in cells)]
    lines = [title]
    head = f"{'type':<17} {'mag':<8}" + "".join(
        f" | {v + ' recall':>11} {'delay':>6} {'oracle':>6} {'ratio':>6}" for v in volumes
    )
    lines += [head, "-" * len(head)]
    by: dict[tuple[str, str, str], list[IncidentScore]] = defaultdict(list)
    for cell in cells:
        for s in cell["scores"]:
            by[(s.kind, s.magnitude, cell["volume"])].append(s)
    scored = {kind for kind, _, _ in by}
    for kind in KINDS:
        if kind not in scored:
            continue  # not scored in this run (``--topics``)
        for mag in ("obvious", "subtle"):
            row = f"{kind:<17} {mag:<8}"
            for v in volumes:
                ss = by.get((kind, mag, v), [])
                hit = [s for s in ss if s.detected]
                delays = [
                    float(
                        s.delay_from_first_extra_ms
                        if s.delay_from_first_extra_ms is not None
                        else s.delay_ms
                    )
                    for s in hit
                ]
                oracles = [s.oracle_ms for s in ss if s.oracle_ms is not None]
                ratios = [r for s in hit if (r := s.ratio) is not None]
                ratio = _median(ratios)
                row += (
                    f" | {len(hit):>4}/{len(ss):<6} {_minutes(_median(delays)):>6} "
                    f"{_minutes(_median(oracles)):>6} "
                    f"{(f'{ratio:.1f}' if ratio is not None else '-'):>6}"
                )
            lines.append(row)
    lines.append("")
    lines.append(f"{'overall':<26}" + "".join(f" | {v:>32}" for v in volumes))
    rows: dict[str, list[str]] = defaultdict(list)
    for v in volumes:
        mine = [c for c in cells if c["volume"] == v]
        scores = [s for c in mine for s in c["scores"]]
        for mag in ("obvious", "subtle"):
            ss = [s for s in scores if s.magnitude == mag]
            rows[f"recall {mag}"].append(
                f"{sum(s.detected for s in ss)}/{len(ss)} = "
                f"{sum(s.detected for s in ss) / max(len(ss), 1):.2f}"
            )
            # Incidents whose whole evidence reaches the oracle's threshold.
            able = [s for s in ss if s.oracle_ms is None or math.isfinite(s.oracle_ms)]
            rows[f"  within the limit {mag}"].append(
                f"{sum(s.detected for s in able)}/{len(able)} = "
                f"{sum(s.detected for s in able) / max(len(able), 1):.2f}"
            )
        days = sum(c["false"].days for c in mine)
        false = sum(c["false"].false for c in mine)
        total = sum(c["false"].episodes for c in mine)
        rows["false episodes / day"].append(f"{false / days:.2f} ({false} in {days:g} d)")
        traces = sum(
            1
            for c in mine
            for ep in c["false"].false_list
            if ep.rule == "lost_parcel" and ep.dimension == "order"
        )
        rows["  without parcel traces"].append(
            f"{(false - traces) / days:.2f} ({false - traces} in {days:g} d)"
        )
        rows["precision by episode"].append(
            f"{(total - false) / total:.2f} ({total - false}/{total})" if total else "-"
        )
        rows["  false in promotion"].append(str(sum(c["false_in_promotion"] for c in mine)))
        rows["  false bursts pick-up/B2B"].append(
            str(sum(c["false_busy_entity_bursts"] for c in mine))
        )
        per_rule: dict[str, int] = defaultdict(int)
        for c in mine:
            for rule, n in c["false"].per_rule.items():
                per_rule[rule] += n
        top = sorted(per_rule.items(), key=lambda x: -x[1])[:2]
        rows["  top false rules"].append(", ".join(f"{r} {n}" for r, n in top) or "-")
        ratios = [r for s in scores if s.detected and (r := s.ratio) is not None]
        med = _median(ratios)
        rows["median delay / oracle"].append(f"{med:.1f}" if med is not None else "-")
    for name, values in rows.items():
        lines.append(f"{name:<26}" + "".join(f" | {x:>32}" for x in values))
    return "\n".join(lines)


def band_table(cells: list[dict[str, Any]], volumes: list[str]) -> str:
    """Median band efficiency per metric kind (and rule) per volume, all seeds pooled."""
    lines = [
        (
            "band efficiency: median (upper - baseline) / sampling sigma over incident-free "
            "windows (all seeds); x: total sigma / sampling sigma, the learned model error's "
            "share of the band (1.00: none). A share's is read in the arcsine scale its band is "
            "drawn in (in binomial sigmas of p the band is wider above where n p is small, as "
            "an exact tail is); a count's and a p90's is the band efficiency divided by the "
            "rule's z (at small counts it also holds the Poisson tail's skew)"
        )
    ]
    head = f"{'kind / rule':<30}" + "".join(f" | {v:>24}" for v in volumes)
    lines += [head, "-" * len(head)]
    kinds = sorted(set(METRIC_KIND.values()))
    for kind in kinds:
        rules = [r for r, k in METRIC_KIND.items() if k == kind]
        for label, names in [(kind, rules), *[(f"  {r}", [r]) for r in rules]]:
            row = f"{label:<30}"
            for v in volumes:
                vals = [
                    x
                    for c in cells
                    if c["volume"] == v
                    for r in names
                    for x in c["band"].get(r, [])
                ]
                infl = [
                    x
                    for c in cells
                    if c["volume"] == v
                    for r in names
                    for x in c.get("inflation", {}).get(r, [])
                ]
                row += (
                    f" | {statistics.median(vals):>7.2f} x{statistics.median(infl):>5.2f}"
                    f" (n={len(vals):>5})"
                    if vals
                    else f" | {'-':>24}"
                )
            lines.append(row)
    return "\n".join(lines)


def _serialise(cell: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in cell.items() if k not in ("scores", "false", "band", "inflation")}
    out["incidents"] = [
        {
            **{k: v for k, v in asdict(s).items() if k not in ("first", "extra")},
            # JSON has no infinity: an incident beyond the limit has "never".
            **({"oracle_ms": "never"} if s.oracle_ms == math.inf else {}),
            **s.extra,
            "ratio": s.ratio,
            "first": asdict(s.first) if s.first else None,
        }
        for s in cell["scores"]
    ]
    f = cell["false"]
    out["false"] = {
        "episodes": f.episodes,
        "false": f.false,
        "days": f.days,
        "per_rule": f.per_rule,
        "list": [asdict(e) for e in f.false_list],
    }
    out["band_median"] = {r: statistics.median(v) for r, v in cell["band"].items() if v}
    out["inflation_median"] = {
        r: statistics.median(v) for r, v in cell.get("inflation", {}).items() if v
    }
    return out


# -- main ----------------------------------------------------------------------------------


def _seeds(text: str) -> list[int]:
    """``"1-3,11"`` -> ``[1, 2, 3, 11]``; ``""`` -> ``[]``."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        out = [-1]
    if any(s < 0 for s in out):
        msg = f"seeds: must be whole numbers >= 0 or ranges like 1-3, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return out


def _topics(text: str) -> frozenset[str]:
    names = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(names - set(TOPICS))
    if not names or unknown:
        msg = f"unknown topic(s) {unknown or text!r}: choose from {', '.join(TOPICS)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def _volumes(text: str) -> list[str]:
    out = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in out if v not in VOLUMES]
    if bad or not out:
        raise argparse.ArgumentTypeError(
            f"volumes: must be a comma list of {', '.join(VOLUMES)}, got {text!r}"
        )
    return out


def _plan(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """Runs in order: 0.3x of every seed, then REPORT by volume, then TUNE by volume (so a
    run cut short still has REPORT figures at every volume)."""
    runs = [
        (group, seed, volume)
        for group, seeds in (("TUNE", args.tune_seeds), ("REPORT", args.seeds))
        for seed in seeds
        for volume in args.volumes
        if volume != "3x" or seed in args.seeds_3x
    ]
    return sorted(runs, key=lambda r: (r[2] != "0.3x", r[0] == "TUNE", VOLUMES[r[2]], r[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one volume (1x, or the first of --volumes), the first TUNE seed only",
    )
    parser.add_argument(
        "--seeds", type=_seeds, default=[11], help="REPORT seeds, e.g. 11-13 (default 11)"
    )
    parser.add_argument(
        "--tune-seeds",
        type=_seeds,
        default=[1],
        help="TUNE seeds, e.g. 1-3 (default 1); '' for none",
    )
    parser.add_argument("--volumes", type=_volumes, default=list(VOLUMES))
    parser.add_argument(
        "--seeds-3x",
        type=_seeds,
        default=[11],
        help="the only seeds run at 3x (its runs cost ~3x the 1x runs; default 11)",
    )
    parser.add_argument("--rules", default=None, help="rules file (default: shipped rules)")
    parser.add_argument(
        "--no-band",
        action="store_true",
        help="skip band efficiency (no on_closed hook; a little faster)",
    )
    parser.add_argument(
        "--calendar",
        action="store_true",
        help="declare each run's promotion in a calendar, as a shop would (7-day aftermath)",
    )
    parser.add_argument(
        "--topics",
        type=_topics,
        default=None,
        help=(
            "replay only these input topics (e.g. wait-times): the incidents and false "
            "episodes of the rules reading only them, in minutes (the topics are added to "
            "the results' file names)"
        ),
    )
    parser.add_argument(
        "--any-expected",
        action="store_true",
        help=(
            "with --topics, also score incidents only some of whose expected rules are fed "
            "(recall by those rules alone: a lower bound)"
        ),
    )
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.any_expected and not args.topics:
        print("--any-expected: needs --topics (every rule is fed without it)", file=sys.stderr)
        return 2
    configure_logging("json", "WARNING")  # the tables, not the replay's debug lines
    if args.quick:  # iterate on a TUNE seed: the REPORT seeds stay unseen
        quick_volume = args.volumes[0] if args.volumes != list(VOLUMES) else "1x"
        args.volumes, args.seeds = [quick_volume], []
        args.tune_seeds, args.seeds_3x = (args.tune_seeds or [1])[:1], args.tune_seeds[:1]
    try:
        rules = load_rules(args.rules)
    except Exception as exc:  # noqa: BLE001 - one clear line, no traceback
        print(f"--rules: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    out: list[str] = [
        (
            f"# quality matrix, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; rules: "
            f"{args.rules or 'shipped'}; mode: {'quick' if args.quick else 'full'}"
            f"{'; promotion declared in a calendar' if args.calendar else ''}"
            f"{'; only topics ' + ','.join(sorted(args.topics)) if args.topics else ''}"
            f"{' (incidents any of whose expected rules are fed)' if args.any_expected else ''}"
        ),
        (
            f"# volumes {', '.join(args.volumes)} of {BASE_ORDERS_PER_DAY:,.0f} orders/day; "
            f"TUNE seeds {args.tune_seeds or '-'}; REPORT seeds {args.seeds}; "
            f"{f'3x only for seeds {args.seeds_3x}; ' if '3x' in args.volumes else ''}"
            f"{WARMUP_DAYS:g}-day warm-up, 14 simulated days"
        ),
    ]
    print("\n".join(out), flush=True)
    cells: dict[str, list[dict[str, Any]]] = {"TUNE": [], "REPORT": []}
    for group, seed, volume in _plan(args):
        cell = run_cell(
            build_run(volume, seed, rules),
            rules,
            band=not args.no_band,
            calendar=args.calendar,
            topics=args.topics,
            any_expected=args.any_expected,
        )
        line = (
            f"# {group} seed {seed} {volume}: {cell['events']:,} records "
            f"({cell['dead_letters']} dead-lettered) in {cell['seconds']} s; "
            f"detected {sum(s.detected for s in cell['scores'])}/"
            f"{len(cell['scores'])}, false episodes {cell['false'].false}"
        )
        out.append(line)
        cells[group].append(cell)
        # The tables so far, so that an interrupted run still leaves figures behind.
        print(line + "\n" + table(cells[group], args.volumes, f"({group} so far)"), flush=True)
    for group in ("TUNE", "REPORT"):
        if not cells[group]:
            continue
        seeds = sorted({c["seed"] for c in cells[group]})
        text = table(
            cells[group],
            args.volumes,
            f"\n== {group} seeds {seeds} "
            f"({'may be tuned on' if group == 'TUNE' else 'quote these'}) ==",
        )
        print(text)
        out.append(text)
    everything = cells["TUNE"] + cells["REPORT"]
    if not args.no_band:
        text = "\n" + band_table(everything, args.volumes)
        print(text)
        out.append(text)
    footer = (
        f"\n# delay: median first-alert window_end - incident start (sizing errors: - "
        f"first extra return), over detected incidents; oracle: median CUSUM delay "
        f"log(ARL0)/KL, ARL0 = 30 days of the rule's evaluations, with the evidence "
        f"gathered as the incident arrives (its span; complaints and returns lagged "
        f"after delivery), 'never' when the whole incident holds less; within the "
        f"limit: recall over incidents with a finite oracle; ratio: median "
        f"delay/oracle.\n# wall time {time.perf_counter() - began:.0f} s"
    )
    print(footer)
    out.append(footer)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    partial = "-quick" if args.quick else ""
    if args.topics:
        partial += "-" + "-".join(sorted(args.topics))
        if args.any_expected:
            partial += "-any-expected"
    stem = f"quality-matrix-{datetime.now(UTC):%Y-%m-%d}{partial}"
    (results / f"{stem}.txt").write_text("\n".join(out) + "\n", encoding="utf-8")
    (results / f"{stem}.json").write_text(
        json.dumps({g: [_serialise(c) for c in cs] for g, cs in cells.items()}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(f"results: {results / stem}.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
