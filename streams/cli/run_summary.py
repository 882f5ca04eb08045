"""The plain end-of-run summary of ``replay``: alerts by rule and severity, dead letters
by reason, and a hint when nothing fired (usually too little history for the rules'
warm-up).

Pure functions over counts; the CLI prints the lines to standard error, in the
catalogue's language (``AFTERSALES_LOCALE``; English by default). Columns are padded by
display width, so a Chinese heading takes two cells per character as on a terminal.

Examples
--------
>>> from collections import Counter
>>> for line in summary_lines(
...     events=1_200,
...     seconds=2.0,
...     firing=Counter({("return_rate", "warning"): 2, ("order_volume", "critical"): 1}),
...     resolved=1,
...     dead=Counter({"not_json": 3}),
... ):
...     print(line)
replay: 1,200 events in 2.0 s (600 events/s)
alerts: 3 firing, 1 resolved
  rule                    critical   warning      info
  order_volume                   1         0         0
  return_rate                    0         2         0
dead letters: 3
  not_json                       3
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from alerts.locales import Catalogue, catalogue
from streams.cli.progress_line import pad_to_width
from streams.rules.catalogue import RuleSet

__all__ = ["SEVERITY_RANK", "summary_lines", "warmup_days", "warmup_hint"]

#: Severities from the most to the least urgent (the order of every table).
SEVERITY_RANK: tuple[str, ...] = ("critical", "warning", "info")
_DAY_MS = 86_400_000


def summary_lines(
    *,
    events: int,
    seconds: float,
    firing: Counter[tuple[str, str]],
    resolved: int,
    dead: Counter[str],
    texts: Catalogue | None = None,
) -> list[str]:
    """The summary as lines of plain text (no colours, no escape codes)."""
    texts = texts or catalogue("en")
    rate = texts.text("run.rate", rate=f"{events / seconds:,.0f}") if seconds > 0 else ""
    lines = [
        texts.text("run.replay", events=f"{events:,}", seconds=f"{seconds:.1f}", rate=rate),
        texts.text("run.alerts", firing=f"{sum(firing.values()):,}", resolved=f"{resolved:,}"),
    ]
    if firing:
        lines.append(
            "  "
            + pad_to_width(texts.text("run.rule"), 22)
            + "".join(
                pad_to_width(texts.text(f"severity.{s}"), 10, right=True) for s in SEVERITY_RANK
            )
        )
        for rule in sorted({rule for rule, _ in firing}):
            lines.append(
                f"  {rule:<22}" + "".join(f"{firing[(rule, s)]:>10,}" for s in SEVERITY_RANK)
            )
    lines.append(texts.text("run.dead_letters", count=f"{sum(dead.values()):,}"))
    for reason, count in sorted(dead.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {reason:<22}{count:>10,}")
    return lines


def warmup_days(rules: RuleSet) -> dict[str, float]:
    """Days of history each window rule needs before it may alert.

    A detector is ready after ``grace_period`` windows with data, one every ``hop``
    (see :class:`thresholds.config.DetectorConfig`), once the rule's windows settled
    (``RuleSpec.settle_ms``): warm-up = settle + grace_period x hop.
    """
    return {
        rule.name: (rule.settle_ms + rule.detector.grace_period * rule.hop_ms) / _DAY_MS
        for rule in rules.rules
        if rule.detector is not None
    }


def warmup_hint(
    rules: RuleSet, span_days: float | None, texts: Catalogue | None = None
) -> list[str]:
    """Why a replay may have raised no alert, and what to try (lines of text)."""
    texts = texts or catalogue("en")
    needs = warmup_days(rules)
    if not needs:
        return [texts.text("hint.no_window_rule")]
    longest = max(needs.values())
    if span_days is not None and span_days >= longest:
        return [texts.text("hint.quiet", span=_days(span_days, texts))]
    groups: dict[str, list[str]] = {}
    for name, days in sorted(needs.items(), key=lambda item: -item[1]):
        groups.setdefault(_days(days, texts), []).append(name)
    spans = texts.text("run.group_separator").join(
        f"{texts.text('run.list_separator').join(sorted(names))} {days}"
        for days, names in groups.items()
    )
    seen = texts.text("hint.span", span=_days(span_days, texts)) if span_days is not None else ""
    suggest = max(21, int(longest * 2 + 0.999))
    return [
        texts.text("hint.warmup", needs=spans),
        texts.text("hint.try", span=seen, days=suggest),
    ]


def _days(days: float, texts: Catalogue) -> str:
    if days < 1 / 24:
        return texts.text("unit.min", value=f"{days * 1_440:.0f}")
    if days < 1:
        return texts.text("unit.h", value=f"{days * 24:.0f}")
    return texts.text("run.days", value=f"{days:.1f}" if days < 10 else f"{days:.0f}")


def count_alerts(alerts: Iterable[tuple[str, str, str]]) -> tuple[Counter[tuple[str, str]], int]:
    """Firing events by (rule, severity), and the number of resolved events, from
    ``(rule, severity, status)`` triples."""
    firing: Counter[tuple[str, str]] = Counter()
    resolved = 0
    for rule, severity, status in alerts:
        if status == "firing":
            firing[(rule, severity)] += 1
        else:
            resolved += 1
    return firing, resolved
