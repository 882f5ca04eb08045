"""``aftersales``: the command line (an adapter; the core never imports click).

Size: the command line's commands (worker, replay, explain, score-series, feedback,
outreach, the notify bridge); each is a thin adapter and they share option handling.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from streams.cli.errors import ConfigProblem
from streams.cli.progress_line import ProgressLine, tracked_lines
from streams.cli.settings import load_calendar_file as _load_calendar
from streams.cli.settings import load_locale, load_settings
from streams.exceptions import ConfigError, TopicError
from streams.logs import configure_logging, get_logger
from streams.runtime.config import Settings, unknown_variables

__all__ = ["main"]

log = get_logger("aftersales.cli")


def warn_unknown_variables() -> None:
    """Log each ``AFTERSALES_*`` variable that sets nothing (after logging is configured)."""
    for name, suggestion in unknown_variables():
        log.warning("unknown_setting_variable", variable=name, did_you_mean=suggestion)


def package_version() -> str:
    """The installed distribution's version (package metadata), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aftersales-monitor")
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install -e .`)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_version(), "--version", "-V", prog_name="aftersales", message="%(prog)s %(version)s"
)
def main() -> None:
    """After-sales early warning: dynamic thresholds over order, complaint and wait streams."""


@click.command()
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False),
    help="Rules file (TOML); default: AFTERSALES_RULES_FILE or the shipped rules.",
)
def worker(rules_path: str | None) -> None:
    """Run the stream processor against KAFKA_BOOTSTRAP_SERVERS."""
    from prometheus_client import CollectorRegistry

    from alerts.metrics import AlertMetrics
    from streams.contract.events import TOPICS
    from streams.rules.catalogue import load_rules
    from streams.runtime.app import HostWorker, create_app
    from streams.runtime.personal_labels import label_mask
    from streams.runtime.worker import Worker

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    warn_unknown_variables()
    try:
        rules = load_rules(rules_path or settings.rules_file or None)
        calendar = _load_calendar(settings.calendar_file or None)
    except ConfigError as error:
        raise ConfigProblem(error) from None
    registry = CollectorRegistry()
    metrics = AlertMetrics.create(
        registry, series_cap=settings.metrics_series_cap, topics=TOPICS, mask=label_mask(settings)
    )
    _ensure_topics_or_exit(settings)
    pipeline = Worker(settings, rules, metrics, calendar=calendar)
    app = create_app(settings, pipeline, registry)
    HostWorker(app, settings).execute_from_commandline()


_CALENDAR_HELP = (
    "Promotion calendar (TOML [[events]], see docs/on-call.md); default: "
    "AFTERSALES_CALENDAR_FILE, else none."
)


def _ensure_topics_or_exit(settings: Settings) -> None:
    """Create the service's topics before Faust starts, or exit with one clear line.

    This is also the first connection with the configured security settings, so a
    wrong protocol or credentials surface here instead of in retries. A private
    event loop: Faust later uses the thread's default one.
    """
    import asyncio
    import logging

    from alerts.locales import catalogue
    from streams.runtime.topics import BrokerUnreachable, TopicNames, ensure_topics

    loop = asyncio.new_event_loop()
    # aiokafka logs each failed connection attempt; a failure here is reported as one
    # line below instead.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        loop.run_until_complete(ensure_topics(settings, TopicNames.from_settings(settings)))
    except TopicError as error:
        texts = catalogue(settings.locale)
        reason = error.line(texts) if isinstance(error, BrokerUnreachable) else str(error)
        raise click.ClickException(texts.text("start.failed", reason=reason)) from None
    finally:
        client_log.setLevel(level)
        loop.close()


@click.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False),
    help="Rules file (TOML); default: the shipped rules.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write alert events here (JSONL); default: standard output.",
)
@click.option(
    "--partitions",
    default=4,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Input partitions to emulate (match the topics' partition count for "
    "exact parity with the live worker).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML report here: the alerts, and each "
    "alerting series with its band and episodes (replays the input twice).",
)
@click.option(
    "--dead-letters",
    "dead_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rejected records here (JSONL: reason, detail, field, source "
    "and the raw key and value), as the worker sends them to the dead-letter "
    "topic.",
)
@click.option(
    "--calendar",
    "calendar_path",
    type=click.Path(dir_okay=False),
    envvar="AFTERSALES_CALENDAR_FILE",
    help=_CALENDAR_HELP,
)
@click.option(
    "--risk-out",
    "risk_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-order risk records here (JSONL, schema "
    "aftersales.order-risk/v1), as the worker publishes them to the "
    "order-risk topic; with --report, the report gains an outreach section.",
)
def replay(
    events: Path,
    rules_path: str | None,
    out_path: Path | None,
    partitions: int,
    report_path: Path | None,
    dead_path: Path | None,
    calendar_path: str | None,
    risk_path: Path | None,
) -> None:
    """Run the rules over EVENTS.jsonl without Kafka and print the alerts (JSONL)."""
    from alerts.locales import catalogue
    from alerts.model import AlertEvent
    from alerts.text import AlertTexts
    from streams.cli.run_summary import count_alerts, summary_lines, warmup_hint
    from streams.pipeline.replay import ReplayPipeline, read_jsonl
    from streams.risk import RiskRecord
    from streams.rules.catalogue import load_rules
    from streams.runtime.gc_tuning import tune_gc

    configure_logging("auto", "INFO")
    tune_gc()
    locale = load_locale()
    try:
        rules = load_rules(rules_path or None)
        calendar = _load_calendar(calendar_path)
    except ConfigError as error:
        raise ConfigProblem(error) from None
    # Without --risk-out the scores would be computed and held in memory for nothing.
    pipeline = ReplayPipeline(
        rules,
        partitions=partitions,
        texts=AlertTexts(locale=locale),
        calendar=calendar,
        risk=bool(risk_path),
    )
    started = time.perf_counter()
    alerts = 0
    kept: list[AlertEvent] = []
    seen: list[tuple[str, str, str]] = []
    progress = ProgressLine("replay", texts=catalogue(locale))
    ends = _InputEnds()
    out: IO[bytes] = open(out_path, "wb") if out_path else sys.stdout.buffer  # noqa: SIM115
    risk_out: IO[bytes] | None = open(risk_path, "wb") if risk_path else None  # noqa: SIM115
    risk_count = 0
    if risk_out is not None:

        def write_risk(record: RiskRecord) -> None:
            nonlocal risk_count
            risk_out.write(record.to_json() + b"\n")
            risk_count += 1

        pipeline.on_risk = write_risk
    try:
        with open(events, "rb") as lines:
            tracked = tracked_lines(lines, events.stat().st_size, progress, ends.see)
            for alert in pipeline.run(read_jsonl(tracked)):
                out.write(alert.to_json() + b"\n")
                alerts += 1
                seen.append((alert.rule, alert.severity, alert.status))
                if report_path:
                    kept.append(alert)
    except ValueError as error:
        raise click.ClickException(f"{events}: {error}") from None
    finally:
        progress.close()
        if risk_out is not None:
            risk_out.close()
        if out_path:
            out.close()
        else:
            out.flush()
    elapsed = time.perf_counter() - started
    if dead_path:
        with open(dead_path, "wb") as dead_out:
            dead_out.writelines(dead.to_json() + b"\n" for dead in pipeline.dead_letters)
    log.info(
        "replay_done",
        events=pipeline.lines,
        alerts=alerts,
        risk_records=risk_count,
        dead_letters=len(pipeline.dead_letters),
        seconds=round(elapsed, 2),
        events_per_second=round(pipeline.lines / elapsed) if elapsed else None,
    )
    firing, resolved = count_alerts(seen)
    report = summary_lines(
        events=pipeline.lines,
        seconds=elapsed,
        firing=firing,
        resolved=resolved,
        dead=Counter(dead.reason for dead in pipeline.dead_letters),
        texts=catalogue(locale),
    )
    if not alerts:
        report += warmup_hint(rules, ends.span_days(), catalogue(locale))
    for line in report:
        click.echo(line, err=True)
    if report_path:
        from streams.cli.report import write_report

        def records() -> Iterator[tuple[str, bytes | None, bytes | None]]:
            with open(events, "rb") as lines:
                yield from read_jsonl(lines)

        items = None
        if risk_path:
            from streams.risk.outreach import outreach, read_records

            with open(risk_path, "rb") as risk_lines:
                items = outreach(read_records(risk_lines), top=50)
        charts = write_report(
            report_path,
            rules=rules,
            records=records,
            alerts=kept,
            events_label=str(events),
            rules_label=rules_path or "shipped default rules",
            events_count=pipeline.lines,
            dead_letters=len(pipeline.dead_letters),
            partitions=partitions,
            locale=locale,
            outreach=items,
        )
        log.info("report_written", path=str(report_path), charts=charts)


class _InputEnds:
    """The first and last non-blank input lines, for the event-time span of a replay."""

    def __init__(self) -> None:
        self.first: bytes | None = None
        self.last: bytes | None = None

    def span_days(self) -> float | None:
        """Days between the first and last line's ``ts`` (input is in event-time order),
        or None when either is unreadable."""
        from streams.contract.validation import parse_ts
        from streams.exceptions import InvalidEvent

        try:
            first, last = (
                parse_ts(json.loads(line or b"")["value"]["ts"]) for line in (self.first, self.last)
            )
        except (ValueError, KeyError, TypeError, InvalidEvent):
            return None
        return max(last - first, 0) / 86_400_000

    def see(self, line: bytes) -> None:
        """Note a non-blank input line."""
        if self.first is None:
            self.first = line
        self.last = line


@click.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rule", "rule_name", required=True, help="Rule name, e.g. wait_time_p90.")
@click.option("--dimension", required=True, help="Dimension, e.g. queue or region,carrier.")
@click.option("--key", required=True, help="The dimension's value(s), as in the alert's key.")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False),
    help="Rules file (TOML); default: the shipped rules.",
)
@click.option(
    "--partitions",
    default=4,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Input partitions to emulate (as for replay).",
)
@click.option("--jsonl", "as_jsonl", is_flag=True, help="One JSON object per window.")
@click.option(
    "--calendar",
    "calendar_path",
    type=click.Path(dir_okay=False),
    envvar="AFTERSALES_CALENDAR_FILE",
    help=_CALENDAR_HELP,
)
def explain(
    events: Path,
    rule_name: str,
    dimension: str,
    key: str,
    rules_path: str | None,
    partitions: int,
    as_jsonl: bool,
    calendar_path: str | None,
) -> None:
    """Show every window of one series over EVENTS.jsonl: observed value, sample size,
    baseline, band, score, sequential evidence and decision ("why did this fire, or not")."""
    import json
    from dataclasses import asdict

    from streams.cli.explain import explain as explain_series
    from streams.cli.explain import format_rows
    from streams.pipeline.replay import read_jsonl
    from streams.rules.catalogue import load_rules

    configure_logging("auto", "WARNING")
    try:
        rules = load_rules(rules_path or None)
        calendar = _load_calendar(calendar_path)
    except ConfigError as error:
        raise ConfigProblem(error) from None
    spec = next((r for r in rules.rules if r.name == rule_name), None)
    if spec is None:
        raise click.BadParameter(
            f"not an enabled window rule: {rule_name!r}; enabled: "
            f"{', '.join(r.name for r in rules.rules)}",
            param_hint="--rule",
        )
    if spec.detector is None:
        raise click.BadParameter(
            f"{rule_name} is a per-event rule; explain shows window rules", param_hint="--rule"
        )
    if dimension not in spec.dimension_names:
        raise click.BadParameter(
            f"{rule_name} has the dimensions {', '.join(spec.dimension_names)}",
            param_hint="--dimension",
        )
    with open(events, "rb") as lines:
        rows = explain_series(
            read_jsonl(lines),
            rules,
            rule_name,
            dimension,
            key,
            partitions=partitions,
            calendar=calendar,
        )
        if as_jsonl:
            for row in rows:
                click.echo(json.dumps({**asdict(row), "decision": row.decision}))
            return
        shown = 0
        for line in format_rows(rows, spec.cusum_h_of(dimension)):
            click.echo(line)
            shown += 1
    if shown <= 1:
        from alerts.locales import catalogue

        words = catalogue(load_locale())
        series = f"{rule_name}:{dimension}:{key}"
        click.echo(words.text("explain.none", series=series, events=events), err=True)


@click.command("score-series")
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Output CSV; default: standard output.",
)
def score_series(input_csv: str, out_path: str | None) -> None:
    """Score one series (CSV timestamp,value) with the engine's generic configuration."""
    from streams.cli.score_series import score_series_csv

    try:
        score_series_csv(input_csv, out_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@click.command("notify-bridge")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False),
    help="Rules file whose utc_offset sets the times shown; default: "
    "AFTERSALES_RULES_FILE or the shipped rules.",
)
def notify_bridge(rules_path: str | None) -> None:
    """Forward Alertmanager webhooks to DingTalk and Feishu robots, signed
    (POST /dingtalk, POST /feishu on AFTERSALES_BRIDGE_HOST:AFTERSALES_BRIDGE_PORT)."""
    from streams.notify.bridge import build_targets, run_bridge
    from streams.rules.catalogue import load_rules

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    warn_unknown_variables()
    try:
        rules = load_rules(rules_path or settings.rules_file or None)
        build_targets(settings)
    except ConfigError as error:
        raise ConfigProblem(error) from None
    try:
        run_bridge(settings, rules.utc_offset_ms)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {settings.bridge_host}:"
            f"{settings.bridge_port}: {error.strerror or error}"
        ) from None


@click.command()
@click.argument("alert_id")
@click.option("--false", "verdict", flag_value="false", help="The alert was a false alarm.")
@click.option("--true", "verdict", flag_value="true", help="The alert was right.")
@click.option("--note", default="", help="Why (kept with the verdict, shown in the log).")
@click.option("--rule", help="The alert's rule (skips the lookup on the alerts topic).")
@click.option("--dimension", help="The alert's dimension (with --rule and --key).")
@click.option("--key", help="The alert's key (with --rule and --dimension).")
def feedback(
    alert_id: str,
    verdict: str | None,
    note: str,
    rule: str | None,
    dimension: str | None,
    key: str | None,
) -> None:
    """Record an on-call verdict on ALERT_ID: repeated false alarms make its series less
    sensitive, within a limit (see docs/on-call.md); --true takes a step back."""
    import asyncio

    from aiokafka.errors import KafkaError

    from streams.pipeline.feedback import VerdictValue
    from streams.runtime.feedback_client import AlertNotFound, send_verdict

    if verdict is None:
        raise click.UsageError("give --false or --true")
    given = [rule, dimension, key]
    if any(given) and not all(given):
        raise click.UsageError("give all of --rule, --dimension and --key, or none")
    if len(note) > 2_000:
        raise click.BadParameter("at most 2000 characters", param_hint="--note")
    settings = load_settings()
    configure_logging(settings.log_format, "WARNING")
    series = (
        (rule, dimension, key)
        if rule is not None and dimension is not None and key is not None
        else None
    )
    chosen: VerdictValue = "false" if verdict == "false" else "true"  # --false / --true
    try:
        record = asyncio.run(send_verdict(settings, alert_id, chosen, note, series))
    except AlertNotFound:
        raise click.ClickException(
            f"alert {alert_id} is not on {settings.topic('alerts')}; give --rule, "
            "--dimension and --key"
        ) from None
    except (KafkaError, OSError, TopicError) as error:
        raise click.ClickException(f"cannot record the verdict: {error}") from None
    from alerts.locales import catalogue

    words = catalogue(load_locale())
    click.echo(
        words.text("feedback.recorded", series=record.series, alert_id=alert_id, verdict=verdict)
    )


@click.command()
@click.argument("risk", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many orders to list.",
)
def outreach(risk: Path, top: int) -> None:
    """List the riskiest open orders of RISK.jsonl (replay --risk-out, or the order-risk
    topic as JSONL) with their main factors and a suggested action."""
    from streams.risk.outreach import outreach as rank
    from streams.risk.outreach import read_records

    try:
        with open(risk, "rb") as lines:
            items = rank(read_records(lines), top=top)
    except (KeyError, TypeError, ValueError) as error:
        raise click.ClickException(f"{risk}: not order-risk records ({error})") from None
    if not items:
        from alerts.locales import catalogue

        click.echo(catalogue(load_locale()).text("outreach.none"))
        return
    for item in items:
        factors = ", ".join(f"{name} +{value:.2f}" for name, value in item.factors) or "-"
        click.echo(
            f"{item.order_id}  {item.score:.2f} {item.level:<6} {item.stage:<9} "
            f"{item.customer_id or '-'}  {item.action}  [{factors}]"
        )


main.add_command(worker)
main.add_command(feedback)
main.add_command(outreach)
main.add_command(replay)
main.add_command(explain)
main.add_command(score_series)
main.add_command(notify_bridge)


def _register_optional() -> None:
    """Commands whose modules live beside this one."""
    from streams.cli.backfill import backfill
    from streams.cli.demo import demo
    from streams.dev.simulator.cli import simulate

    main.add_command(backfill)
    main.add_command(simulate)
    main.add_command(demo)


_register_optional()


if __name__ == "__main__":
    main()
