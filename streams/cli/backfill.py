"""``aftersales backfill``: warm a new deployment's baselines from history (see
:mod:`streams.runtime.backfill`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from aiokafka.errors import KafkaError

from streams.exceptions import ConfigError, TopicError
from streams.logs import configure_logging, get_logger

__all__ = ["backfill"]

log = get_logger("aftersales.backfill")

T = TypeVar("T")


@click.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False),
    help="Rules file (TOML); default: AFTERSALES_RULES_FILE or the shipped rules. "
    "Use the workers' rules: a rule they lack is dropped at restore.",
)
@click.option(
    "--calendar",
    "calendar_path",
    type=click.Path(dir_okay=False),
    envvar="AFTERSALES_CALENDAR_FILE",
    help="Promotion calendar (TOML [[events]], see docs/on-call.md); default: "
    "AFTERSALES_CALENDAR_FILE, else none.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the alerts the history raised here (JSONL); they are not published.",
)
@click.option(
    "--dead-letters",
    "dead_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rejected records here (JSONL), as replay does.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace snapshots workers already wrote (stop every worker first).",
)
def backfill(
    events: Path,
    rules_path: str | None,
    calendar_path: str | None,
    out_path: Path | None,
    dead_path: Path | None,
    force: bool,
) -> None:
    """Learn baselines from EVENTS.jsonl (replay format) and store them where workers start
    from (the checkpoints topic on KAFKA_BOOTSTRAP_SERVERS): a new deployment then alerts
    from its first day. Run it before the first worker starts."""
    from alerts.locales import catalogue
    from alerts.text import AlertTexts
    from streams.cli.errors import ConfigProblem
    from streams.cli.progress_line import ProgressLine, tracked_lines
    from streams.cli.settings import load_calendar_file, load_settings
    from streams.pipeline.replay import read_jsonl
    from streams.rules.catalogue import load_rules
    from streams.runtime.backfill import (
        BackfillPipeline,
        earliest_events,
        hand_over_gaps,
        publish_state,
        read_layout,
    )
    from streams.runtime.gc_tuning import tune_gc
    from streams.runtime.topics import TopicNames

    settings = load_settings()
    configure_logging(settings.log_format, "WARNING")
    try:
        rules = load_rules(rules_path or settings.rules_file or None)
        calendar = load_calendar_file(calendar_path)
    except ConfigError as error:
        raise ConfigProblem(error) from None
    try:
        layout = _quiet(read_layout(settings))
    except (KafkaError, OSError, TopicError) as error:
        raise click.ClickException(f"cannot backfill: {error}") from None
    if layout.occupied and not force:
        raise click.ClickException(
            f"cannot backfill: {TopicNames.from_settings(settings).checkpoints} already "
            f"holds snapshots (partitions {layout.occupied}): a worker has run and backfill would "
            "replace its state; stop every worker and pass --force"
        )
    tune_gc()
    pipeline = BackfillPipeline(
        rules,
        layout,
        texts=AlertTexts(locale=settings.locale),
        calendar=calendar,
        topic_prefix=settings.topic_prefix,
        risk=settings.risk_score,
    )
    started = time.perf_counter()
    progress = ProgressLine("backfill", texts=catalogue(settings.locale))
    try:
        with open(events, "rb") as lines:
            alerts = pipeline.run(read_jsonl(tracked_lines(lines, events.stat().st_size, progress)))
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    result = pipeline.result
    if out_path:
        with open(out_path, "wb") as out:
            out.writelines(alert.to_json() + b"\n" for alert in alerts)
    if dead_path:
        with open(dead_path, "wb") as dead_out:
            dead_out.writelines(letter.to_json() + b"\n" for letter in result.dead_letters)
    if result.live_from_ms is None:
        raise click.ClickException(
            f"{events}: no window closed ({result.lines:,} lines, "
            f"{len(result.dead_letters):,} rejected): nothing to warm up; nothing written"
        )
    try:
        written = _quiet(publish_state(settings, pipeline, force=force))
        gaps = hand_over_gaps(result.live_from_ms, _quiet(earliest_events(settings, layout, rules)))
    except (KafkaError, OSError, TopicError) as error:
        raise click.ClickException(f"cannot backfill: {error}") from None
    dead = Counter(d.reason for d in result.dead_letters)
    live_from = datetime.fromtimestamp(result.live_from_ms / 1000, UTC)
    words = catalogue(settings.locale)
    for line in (
        words.text(
            "backfill.done",
            lines=f"{result.lines:,}",
            seconds=f"{elapsed:.1f}",
            closers=len(layout.closers),
            bytes=f"{written:,}",
        ),
        words.text(
            "backfill.alerts",
            firing=f"{result.alerts['firing']:,}",
            resolved=f"{result.alerts['resolved']:,}",
            open=len(pipeline.open_alerts()),
        ),
        words.text("run.dead_letters", count=f"{sum(dead.values()):,}")
        + "".join(f"\n  {reason:<22}{n:>10,}" for reason, n in dead.most_common()),
        words.text("backfill.hand_over", time=f"{live_from:%Y-%m-%dT%H:%M:%SZ}"),
    ):
        click.echo(line, err=True)
    if gaps:
        shown = ", ".join(gaps[:8])
        if len(gaps) > 8:
            shown = words.text("backfill.more", shown=shown, count=len(gaps) - 8)
        click.echo(words.text("backfill.gaps", count=len(gaps), partitions=shown), err=True)
        log.warning("backfill_hand_over_gap", partitions=gaps, live_from_ms=result.live_from_ms)


def _quiet(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` with aiokafka's per-attempt connection errors silenced (a failure is
    reported as one line instead)."""
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    finally:
        client_log.setLevel(level)
