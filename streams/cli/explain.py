"""``aftersales explain``: every window of one series, and why it fired or did not.

Replays the input through the same pipeline as ``replay`` and records, for each
closed window of the chosen series, what the engine saw and decided: the observed
value and its sample size, the baseline and band, the standardised score, the
sequential evidence (the CUSUM statistics after the window) and the decision.
Read-only: it watches the closer through its ``on_closed`` hook and reads the
series' state from its bank, so what it shows is what the worker decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from alerts.model import format_time, ms_to_datetime
from streams.pipeline.closer import Closed
from streams.pipeline.replay import ReplayPipeline
from streams.rules.calendar import Calendar
from streams.rules.catalogue import RuleSet

__all__ = ["ExplainRow", "explain", "format_rows"]


@dataclass(frozen=True, slots=True)
class ExplainRow:
    """One closed window of the explained series."""

    window_start_ms: int
    window_end_ms: int
    sample_size: int | None
    observed: float
    baseline: float | None
    lower: float | None
    upper: float | None
    score: float
    cusum_up: float | None
    cusum_down: float | None
    ready: bool
    violating: bool
    transition: str | None
    severity: str | None
    alerting: bool

    @property
    def decision(self) -> str:
        """One word: fire, resolve, alerting, out-of-band, warm-up or normal."""
        if self.transition is not None:
            return self.transition
        if self.alerting:
            return "alerting"
        if self.violating:
            return "out-of-band"
        return "normal" if self.ready else "warm-up"


def explain(
    records: Iterable[tuple[str, bytes | None, bytes | None]],
    rules: RuleSet,
    rule: str,
    dimension: str,
    key: str,
    *,
    partitions: int = 4,
    calendar: Calendar | None = None,
) -> Iterator[ExplainRow]:
    """The closed windows of series ``rule:dimension:key`` over ``records``, in order
    (judged with the promotion ``calendar``, if given, as ``replay`` would)."""
    pipeline = ReplayPipeline(rules, partitions=partitions, calendar=calendar, risk=False)
    closer = pipeline.closer
    series_id = f"{rule}:{dimension}:{key}"
    rows: list[ExplainRow] = []

    def watch(closed: Closed) -> None:
        if (closed.rule, closed.dimension, closed.key) != (rule, dimension, key):
            return
        bank = closer.banks.get(rule)
        state = bank.state(series_id) if bank is not None and series_id in bank else None
        d = closed.decision
        rows.append(
            ExplainRow(
                closed.window_start_ms,
                closed.window_end_ms,
                d.sample_size,
                d.observed,
                d.baseline,
                d.lower,
                d.upper,
                d.score,
                None if state is None else state.cusum_up,
                None if state is None else state.cusum_down,
                d.ready,
                d.violating,
                d.transition,
                d.severity,
                d.alerting,
            )
        )

    closer.on_closed = watch
    for _ in pipeline.run(records):
        if rows:
            yield from rows
            rows.clear()
    yield from rows


def format_rows(rows: Iterable[ExplainRow], cusum_h: float | None) -> Iterator[str]:
    """A plain-text table, one line per window."""
    yield (
        f"{'window end':<20} {'n':>6} {'observed':>11} {'baseline':>11} {'lower':>11} "
        f"{'upper':>11} {'score':>7} {'cusum up/down':>15}  decision"
        + (f"  (fires at cusum {cusum_h:g})" if cusum_h is not None else "")
    )
    for row in rows:
        evidence = (
            ""
            if row.cusum_up is None or row.cusum_down is None
            else f"{row.cusum_up:.2f}/{row.cusum_down:.2f}"
        )
        severity = f" {row.severity}" if row.severity and row.decision != "normal" else ""
        yield (
            f"{format_time(ms_to_datetime(row.window_end_ms)):<20} "
            f"{'' if row.sample_size is None else row.sample_size:>6} "
            f"{_num(row.observed):>11} {_num(row.baseline):>11} {_num(row.lower):>11} "
            f"{_num(row.upper):>11} {row.score:>7.2f} {evidence:>15}  "
            f"{row.decision}{severity}"
        )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
