"""The plain end-of-run summary of ``replay``: alerts by rule and severity, dead letters
by reason, and a hint when nothing fired (usually too little history for the rules'
warm-up).

Pure functions over counts; the CLI prints the lines to standard error.

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
) -> list[str]:
    """The summary as lines of plain text (no colours, no escape codes)."""
    rate = f" ({events / seconds:,.0f} events/s)" if seconds > 0 else ""
    lines = [
        f"replay: {events:,} events in {seconds:.1f} s{rate}",
        f"alerts: {sum(firing.values()):,} firing, {resolved:,} resolved",
    ]
    if firing:
        lines.append(f"  {'rule':<22}" + "".join(f"{s:>10}" for s in SEVERITY_RANK))
        for rule in sorted({rule for rule, _ in firing}):
            lines.append(
                f"  {rule:<22}" + "".join(f"{firing[(rule, s)]:>10,}" for s in SEVERITY_RANK)
            )
    lines.append(f"dead letters: {sum(dead.values()):,}")
    for reason, count in sorted(dead.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {reason:<22}{count:>10,}")
    return lines


def warmup_days(rules: RuleSet) -> dict[str, float]:
    """Days of history each window rule needs before it may alert.

    A detector is ready after ``grace_period`` windows with data, one every ``hop``
    (see :class:`thresholds.config.DetectorConfig`): warm-up = grace_period x hop.
    """
    return {
        rule.name: rule.detector.grace_period * rule.hop_ms / _DAY_MS
        for rule in rules.rules
        if rule.detector is not None
    }


def warmup_hint(rules: RuleSet, span_days: float | None) -> list[str]:
    """Why a replay may have raised no alert, and what to try (lines of text)."""
    needs = warmup_days(rules)
    if not needs:
        return ["hint: no window rule is enabled in these rules."]
    longest = max(needs.values())
    if span_days is not None and span_days >= longest:
        return [
            (
                f"hint: no alert fired, although the input ({_days(span_days)}) covers every "
                "rule's warm-up: nothing left its band. Inject an incident to see one, e.g. "
                "`aftersales simulate --days 21 --incident wait_time_surge`."
            )
        ]
    groups: dict[str, list[str]] = {}
    for name, days in sorted(needs.items(), key=lambda item: -item[1]):
        groups.setdefault(_days(days), []).append(name)
    spans = "; ".join(f"{', '.join(sorted(names))} {days}" for days, names in groups.items())
    seen = f"this input spans {_days(span_days)}. " if span_days is not None else ""
    suggest = max(21, int(longest * 2 + 0.999))
    return [
        (
            "hint: no alert fired. Rules learn what is normal before they alert; history "
            f"needed: {spans}."
        ),
        (
            f"hint: {seen}Try a longer history, e.g. `aftersales simulate --days {suggest}` "
            "or `--scenario default` (two weeks with incidents), or replay your own older "
            "events (backfill) before the period of interest."
        ),
    ]


def _days(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1_440:.0f} min"
    if days < 1:
        return f"{days * 24:.0f} h"
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


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
