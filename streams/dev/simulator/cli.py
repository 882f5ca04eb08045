"""``aftersales simulate``: the click adapter over the simulator (the core never imports click).

Examples (shell)::

    aftersales simulate --days 1 --out events.jsonl --labels labels.json
    aftersales simulate --scenario default --out events.jsonl --labels labels.json
    aftersales simulate --incident wait_time_surge --incident "order_drop:region=UK"
    aftersales simulate --scenario default --kafka localhost:9092 --speed 3600
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from alerts.locales import Catalogue, catalogue
from streams.cli.progress_line import ProgressLine, pad_to_width
from streams.cli.settings import load_locale
from streams.dev.simulator.config import DEFAULT_START, SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.generator import Simulation
from streams.dev.simulator.incidents import (
    DEFAULT_DURATIONS,
    INCIDENT_TYPES,
    Incident,
    incident_from_dict,
)
from streams.dev.simulator.jsonl import write_events, write_events_file, write_labels_file
from streams.dev.simulator.labels import build_labels
from streams.dev.simulator.scenario import load_scenario
from streams.dev.simulator.timefmt import from_ms, parse_ts


def _parse_start(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime:
    if value is None:
        return DEFAULT_START
    if value.strip().lower() == "now":
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        return from_ms(parse_ts(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def incident_option(
    spec: str, index: int, count: int, start: datetime, duration: timedelta
) -> Incident:
    """Parse ``TYPE[:field=value,...]``; without ``start``, incidents are spread evenly over
    the second half of the run (the first half is history for baselines)."""
    kind, _, rest = spec.partition(":")
    data: dict[str, Any] = {"type": kind.strip()}
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        field, sep, value = pair.partition("=")
        if not sep:
            msg = f"{pair!r} is not field=value"
            raise ValueError(msg)
        data[field.strip()] = value.strip()
    if "start" not in data:
        offset = duration * (0.5 + 0.5 * index / max(count, 1))
        data["start"] = "+" + f"{int(offset.total_seconds())}s"
    if kind in INCIDENT_TYPES and "duration" not in data:
        data["duration"] = f"{int(min(DEFAULT_DURATIONS[kind], duration / 4).total_seconds())}s"
    return incident_from_dict(data, start)


@click.command("simulate")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--start",
    callback=_parse_start,
    metavar="RFC3339|now",
    help="Start of the run (after any --history-days); 'now' is the current "
    "minute (UTC) [default: 2026-11-02T00:00:00Z, a Monday].",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Length in days after --start [default: the scenario's, else 1].",
)
@click.option(
    "--history-days",
    type=click.FloatRange(min=0, max=60),
    default=0.0,
    show_default=True,
    help="Also simulate this many days before --start, sent as fast as possible "
    "even with --speed (back-fill for the baselines); incidents and --days "
    "stay relative to --start.",
)
@click.option(
    "--orders-per-day",
    type=click.FloatRange(min=0, min_open=True),
    default=20_000.0,
    show_default=True,
    help="Mean placed orders per day.",
)
@click.option(
    "--scenario",
    metavar="FILE|default",
    help="Incidents from a TOML/JSON file; 'default' = one of each over 2 weeks.",
)
@click.option(
    "--incident",
    "incident_specs",
    multiple=True,
    metavar="TYPE[:k=v,...]",
    help=f"Inject an incident (repeatable); TYPE in {', '.join(INCIDENT_TYPES)}; "
    "start=+5m is relative to --start.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write events as replay JSONL here ('-' for stdout).",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the injected incidents' labels (JSON) here.",
)
@click.option(
    "--kafka",
    envvar="KAFKA_BOOTSTRAP_SERVERS",
    metavar="BOOTSTRAP",
    help="Produce to Kafka [default: $KAFKA_BOOTSTRAP_SERVERS] unless --out is set.",
)
@click.option("--topic-prefix", default="aftersales.", show_default=True)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Live mode: event time runs this many times faster than wall time "
    "(1 = real time: no event is ahead of the clock).",
)
def simulate(
    seed: int,
    start: datetime,
    days: float | None,
    history_days: float,
    orders_per_day: float,
    scenario: str | None,
    incident_specs: tuple[str, ...],
    out: Path | None,
    labels: Path | None,
    kafka: str | None,
    topic_prefix: str,
    speed: float | None,
) -> None:
    """Generate realistic after-sales traffic with injected incidents."""
    config = build_config(
        seed=seed,
        start=start,
        days=days,
        history_days=history_days,
        orders_per_day=orders_per_day,
        scenario=scenario,
        incident_specs=incident_specs,
        speed=speed,
    )
    if out is None and not kafka:
        raise click.UsageError("give --out FILE or --kafka BOOTSTRAP (or KAFKA_BOOTSTRAP_SERVERS)")
    # With --history-days the live pace starts at --start: history is back-fill.
    paced_from_ms = int(start.timestamp() * 1000) if history_days else None
    sim = Simulation(config)
    began = time.perf_counter()
    texts = catalogue(load_locale())
    progress = ProgressLine("simulate", texts=texts)
    by_topic: Counter[str] = Counter()
    events = _tracked(sim.events(), config, progress, by_topic)
    try:
        if out is not None:
            if str(out) == "-":
                count = write_events(events, sys.stdout)
            else:
                count = write_events_file(events, out)
        else:
            from streams.dev.simulator.kafka import produce_events

            counts = asyncio.run(
                produce_events(
                    events,
                    _kafka_options(kafka or ""),
                    topic_prefix,
                    realtime_speed=speed,
                    paced_from_ms=paced_from_ms,
                )
            )
            count = sum(counts.values())
    finally:
        progress.close()
    elapsed = time.perf_counter() - began
    if labels is not None:
        write_labels_file(build_labels(sim), labels)
    if progress.enabled:
        for line in _plain_summary(count, elapsed, by_topic, sim.incidents, out, labels, texts):
            click.echo(line, err=True)
        return
    summary = {
        "events": count,
        "seconds": round(elapsed, 2),
        "incidents": [dataclasses.asdict(i) | {"type": i.type} for i in sim.incidents],
    }
    click.echo(json.dumps(summary, default=str), err=True)


def build_config(
    *,
    seed: int,
    start: datetime,
    days: float | None,
    history_days: float,
    orders_per_day: float,
    scenario: str | None,
    incident_specs: tuple[str, ...],
    speed: float | None,
) -> SimulationConfig:
    """The simulation the options ask for: ``history_days`` before ``start``, then ``days``
    (incidents relative to ``start``); a usage error names a bad option."""
    incidents: list[Incident] = []
    if scenario is not None:
        try:
            loaded = load_scenario(scenario, start)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from exc
        incidents.extend(loaded.incidents)
        days = days if days is not None else loaded.days
    duration = timedelta(days=days if days is not None else 1.0)
    for i, spec in enumerate(incident_specs):
        try:
            incidents.append(incident_option(spec, i, len(incident_specs), start, duration))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(f"{spec}: {exc}", param_hint="--incident") from exc
    history = timedelta(days=history_days)
    try:
        return SimulationConfig(
            seed=seed,
            start=start - history,
            duration=history + duration,
            orders_per_day=orders_per_day,
            incidents=tuple(incidents),
            speed=speed,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _tracked(
    events: Iterator[Event],
    config: SimulationConfig,
    progress: ProgressLine,
    by_topic: Counter[str],
    every: int = 4_096,
) -> Iterator[Event]:
    """``events`` unchanged, counted by topic, with progress as the fraction of the
    simulated period done (by event time)."""
    start_ms = config.start.timestamp() * 1000
    span_ms = config.duration.total_seconds() * 1000
    count = 0
    for event in events:
        count += 1
        by_topic[event.topic] += 1
        if count % every == 0:
            progress.update(count, (event.ts_ms - start_ms) / span_ms if span_ms else None)
        yield event
    progress.update(count, 1.0)


def _plain_summary(
    count: int,
    elapsed: float,
    by_topic: Counter[str],
    incidents: Sequence[Incident],
    out: Path | None,
    labels: Path | None,
    texts: Catalogue,
) -> list[str]:
    """What ``simulate`` wrote, for a person at a terminal, in the catalogue's language."""
    topics = ", ".join(f"{topic} {n:,}" for topic, n in sorted(by_topic.items()))
    where = (
        texts.text("sim.to_file", path=str(out))
        if out is not None and str(out) != "-"
        else texts.text("sim.to_stdout" if out is not None else "sim.to_kafka")
    )
    lines = [
        texts.text(
            "sim.summary", events=f"{count:,}", where=where, seconds=f"{elapsed:.1f}", topics=topics
        )
    ]
    if incidents:
        lines.append(texts.text("sim.incidents", count=str(len(incidents))))
        lines += [
            texts.text(
                "sim.incident",
                type=pad_to_width(i.type, 22),
                start=i.start.isoformat(),
            )
            for i in incidents
        ]
    else:
        lines.append(texts.text("sim.no_incidents"))
    if labels is not None:
        lines.append(texts.text("sim.labels", path=str(labels)))
    return lines


def _kafka_options(bootstrap: str) -> dict[str, Any]:
    """Client options for ``bootstrap`` with the environment's ``KAFKA_*`` security settings."""
    from streams.exceptions import ConfigError
    from streams.runtime.config import Settings
    from streams.runtime.kafka_options import client_options

    env = {name: value for name, value in os.environ.items() if name.startswith("KAFKA_")}
    try:
        settings = Settings.from_env({**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    except ConfigError as error:
        param = "--kafka" if error.field == "KAFKA_BOOTSTRAP_SERVERS" else None
        raise click.BadParameter(str(error), param_hint=param) from None
    return client_options(settings)
