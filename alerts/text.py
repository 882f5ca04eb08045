"""Human texts of an alert: the one-sentence ``summary`` and the ``runbook``.

Each rule has a :class:`RuleText`: a label for the measured quantity, its unit
(``count``, ``ratio``, ``seconds``, ``amount``), the noun for its sample size and
a runbook template. Templates may use only the placeholders in
:data:`PLACEHOLDERS`; anything else is rejected when the ``RuleText`` is built,
with a :class:`~alerts.exceptions.TemplateError` naming the placeholder.

Examples
--------
>>> texts = AlertTexts()
>>> texts.format_value(0.3125, "return_rate")
'31.2%'
>>> validate_template("Check {sku}")
Traceback (most recent call last):
    ...
alerts.exceptions.TemplateError: unknown placeholder {sku} in runbook template; allowed: ...
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final, Literal, get_args

from alerts.exceptions import TemplateError
from alerts.model import SeriesRef, split_key
from thresholds.decision import Decision, Direction

__all__ = [
    "DEFAULT_RULE_TEXTS",
    "PLACEHOLDERS",
    "AlertTexts",
    "RuleText",
    "Unit",
    "context_note",
    "format_value",
    "validate_template",
]

Unit = Literal["count", "ratio", "seconds", "amount"]
PLACEHOLDERS: Final = frozenset(
    {"rule", "dimension", "key", "observed", "baseline", "lower", "upper", "direction"}
)
_MISSING: Final = "n/a"
_TIMES: Final = "\u00d7"  # multiplication sign
_EN_DASH: Final = "\u2013"


def validate_template(template: str) -> str:
    """Return ``template`` if it only uses known, plain placeholders; else raise."""
    if not isinstance(template, str) or not template.strip():
        raise TemplateError("runbook template must be a non-empty string")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"malformed runbook template {template!r}: {exc}") from exc
    allowed = ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            shown = name or "(empty)"
            raise TemplateError(
                f"unknown placeholder {{{shown}}} in runbook template; allowed: {allowed}",
                placeholder=shown,
            )
        if spec or conversion:
            raise TemplateError(
                f"placeholder {{{name}}} takes no format spec or conversion; "
                "values are already formatted for the rule's unit",
                placeholder=name,
            )
    return template


def format_value(value: float | None, unit: Unit) -> str:
    """Format a number for people: ``31.2%``, ``1,204``, ``14.5 min``, ``1,250.00``."""
    if value is None:
        return _MISSING
    if unit == "ratio":
        pct = value * 100
        return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"
    if unit == "seconds":
        if abs(value) < 10:
            return f"{value:.1f} s"
        if abs(value) < 60:
            return f"{value:.0f} s"
        if abs(value) < 3600:
            return f"{value / 60:.1f} min"
        return f"{value / 3600:.1f} h"
    if unit == "amount":
        return f"{value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    raise ValueError(f"unit must be one of {get_args(Unit)}, got {unit!r}")


@dataclass(frozen=True, slots=True)
class RuleText:
    """How one rule talks about itself.

    Parameters
    ----------
    label
        The measured quantity, capitalised: ``"Return rate"``.
    unit
        How values are formatted.
    sample_noun
        Singular and plural noun for ``sample_size``: ``("delivery", "deliveries")``;
        ``None`` leaves the sample size out of the summary.
    runbook
        Template with placeholders from :data:`PLACEHOLDERS`; validated here.
    """

    label: str
    unit: Unit
    sample_noun: tuple[str, str] | None
    runbook: str

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise TemplateError(f"unit must be one of {get_args(Unit)}, got {self.unit!r}")
        validate_template(self.runbook)


DEFAULT_RULE_TEXTS: Final[Mapping[str, RuleText]] = MappingProxyType(
    {
        "order_volume": RuleText(
            "Order volume",
            "count",
            None,
            "Check checkout, payment and the storefront for {dimension} {key} first (a drop "
            "is usually an outage, a spike a promotion or bot traffic); warn fulfilment and "
            "customer service before the backlog lands.",
        ),
        "order_outlier": RuleText(
            "Order value",
            "amount",
            None,
            "Hold order {key} for a manual check before it ships: confirm amount and "
            "quantity with the customer and look for a pricing error or fraud.",
        ),
        "customer_order_burst": RuleText(
            "Orders",
            "count",
            None,
            "Pause fulfilment of the recent orders from {dimension} {key} and check for "
            "fraud, a reseller or a checkout that submits twice before anything ships.",
        ),
        "return_rate": RuleText(
            "Return rate",
            "ratio",
            ("delivery", "deliveries"),
            "Check the size chart, photos and description of {key}; contact recent buyers "
            "before they return and pause ads if the rate keeps rising.",
        ),
        "complaint_rate": RuleText(
            "Complaint rate",
            "ratio",
            ("delivery", "deliveries"),
            "Read the latest complaints about {dimension} {key} and fix the shared cause "
            "(listing, packaging or carrier); message recent buyers before they complain.",
        ),
        "complaint_volume": RuleText(
            "Complaints",
            "count",
            None,
            "Look for the common cause of the new complaints ({dimension} {key}); post a "
            "status note and give customer service a prepared answer before the queue grows.",
        ),
        "wait_time_p90": RuleText(
            "90th-percentile wait",
            "seconds",
            ("ticket", "tickets"),
            "Move agents to queue {key} or open an overflow queue, and offer callbacks "
            "until the wait is back near {baseline}.",
        ),
        "wait_sla_breach_share": RuleText(
            "Share of waits over the SLA",
            "ratio",
            ("ticket", "tickets"),
            "Add staff to queue {key} now, serve the longest waits first and tell waiting "
            "customers the expected delay.",
        ),
        "handle_time_p90": RuleText(
            "90th-percentile handling time",
            "seconds",
            ("ticket", "tickets"),
            "Find out what makes tickets on queue {key} slow (a new issue type, a broken "
            "tool, new agents) and publish a prepared answer; move experienced agents there.",
        ),
        "low_satisfaction_share": RuleText(
            "Share of low satisfaction ratings",
            "ratio",
            ("rating", "ratings"),
            "Read the latest low-rated tickets of queue {key} with the service lead and "
            "call back the unhappy customers before they complain or leave.",
        ),
        "bad_review_rate": RuleText(
            "Share of bad reviews",
            "ratio",
            ("review", "reviews"),
            "Read the new bad reviews of {dimension} {key}, check the product, listing and "
            "batch with the category manager and answer the reviewers.",
        ),
        "cancellation_rate": RuleText(
            "Cancellation rate",
            "ratio",
            ("order", "orders"),
            "Check why orders of {dimension} {key} are cancelled: fraud checks, a pricing "
            "error, stock or delivery promises; stop the cause before more orders go.",
        ),
    }
)

_GENERIC_RUNBOOK: Final = (
    "Look at {dimension} {key}: {rule} went {direction} to {observed} against a normal "
    "{baseline}; find what changed before customers notice."
)


def _where(series: SeriesRef) -> str:
    if series.dimension == "total":
        return "overall"
    dims = series.dimension.split(",")
    values = split_key(series.key)
    if len(dims) > 1 and len(dims) == len(values):
        return "for " + " / ".join(f"{d} {v}" for d, v in zip(dims, values, strict=True))
    return f"for {series.dimension} {series.key}"


def _band(lower: str | None, upper: str | None) -> str:
    if lower is not None and upper is not None:
        return f" (band {lower}{_EN_DASH}{upper})"
    if upper is not None:
        return f" (upper limit {upper})"
    if lower is not None:
        return f" (lower limit {lower})"
    return ""


def _how_far(observed: float, baseline: float | None, direction: Direction | None) -> str:
    if baseline is None or baseline <= 0 or observed < 0:
        return ""
    ratio = observed / baseline
    if ratio >= 2:
        return f", {ratio:.1f}{_TIMES} the usual"
    if ratio > 1 and direction != "down":
        return f", {(ratio - 1) * 100:.0f}% above the usual"
    if ratio < 1 and direction != "up":
        return f", {(1 - ratio) * 100:.0f}% below the usual"
    return ""


@dataclass(frozen=True, slots=True)
class AlertTexts:
    """Renders summaries and runbooks for every rule.

    Rules missing from ``rules`` fall back to a generic count text, so a new
    rule still alerts in full sentences.
    """

    rules: Mapping[str, RuleText] = field(default_factory=lambda: DEFAULT_RULE_TEXTS)

    def __post_init__(self) -> None:
        for rule, text in self.rules.items():
            if not isinstance(text, RuleText):
                raise TemplateError(f"rules.{rule}: expected a RuleText, got {text!r}")
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    def with_runbooks(self, runbooks: Mapping[str, str]) -> AlertTexts:
        """A copy whose runbook templates are replaced per rule (validated)."""
        merged = dict(self.rules)
        for rule, template in runbooks.items():
            base = self.rule_text(rule)
            try:
                merged[rule] = replace(base, runbook=template)
            except TemplateError as exc:
                raise TemplateError(f"rules.{rule}.runbook: {exc}", exc.placeholder) from exc
        return AlertTexts(MappingProxyType(merged))

    def rule_text(self, rule: str) -> RuleText:
        """The rule's text, or a generic one for an unknown rule."""
        found = self.rules.get(rule)
        if found is not None:
            return found
        return RuleText(rule.replace("_", " ").capitalize(), "count", None, _GENERIC_RUNBOOK)

    def format_value(self, value: float | None, rule: str, unit: Unit | None = None) -> str:
        """Format ``value`` in the rule's unit (or ``unit`` when given)."""
        return format_value(value, unit or self.rule_text(rule).unit)

    def summary(self, series: SeriesRef, decision: Decision, *, unit: Unit | None = None) -> str:
        """One sentence: what, where, how far from normal, over how many events."""
        text = self.rule_text(series.rule)
        u = unit or text.unit
        observed = format_value(decision.observed, u)
        sentence = f"{text.label} {_where(series)} is {observed}"
        if decision.baseline is not None:
            sentence += f" against a normal {format_value(decision.baseline, u)}"
        lower = None if decision.lower is None else format_value(decision.lower, u)
        upper = None if decision.upper is None else format_value(decision.upper, u)
        sentence += _band(lower, upper)
        sentence += _how_far(decision.observed, decision.baseline, decision.direction)
        if text.sample_noun is not None and decision.sample_size is not None:
            singular, plural = text.sample_noun
            noun = singular if decision.sample_size == 1 else plural
            sentence += f", over {decision.sample_size:,} {noun}"
        return sentence + "."

    def runbook(
        self,
        series: SeriesRef,
        decision: Decision,
        *,
        direction: Direction | None = None,
        unit: Unit | None = None,
        context: Mapping[str, object] | None = None,
    ) -> str:
        """The rule's runbook template filled in for this series and decision, followed by
        what the ``context`` names (top reason, carrier, sku..., affected orders), if any.

        Never raises for a template that passed :func:`validate_template`; should a
        template slip through anyway, the generic runbook is used instead of failing
        the alert at run time.
        """
        text = self.rule_text(series.rule)
        u = unit or text.unit
        values = {
            "rule": series.rule,
            "dimension": series.dimension,
            "key": series.key,
            "observed": format_value(decision.observed, u),
            "baseline": format_value(decision.baseline, u),
            "lower": format_value(decision.lower, u),
            "upper": format_value(decision.upper, u),
            "direction": direction or decision.direction or _MISSING,
        }
        try:
            filled = text.runbook.format(**values)
        except (ValueError, KeyError, IndexError, AttributeError):
            filled = _GENERIC_RUNBOOK.format(**values)
        note = context_note(context) if context else ""
        return f"{filled} {note}" if note else filled


#: Context lists shown by :func:`context_note`, and how many of their entries.
_NOTE_TOP: Final = 2
_NOTE_ORDERS: Final = 5


def context_note(context: Mapping[str, object]) -> str:
    """One or two sentences naming what the alert's context holds: the top sub-keys
    (``top_<field>`` lists) and the affected orders (``orders``).

    >>> context_note({"top_reason": [{"key": "damaged", "count": 5, "share": 0.625}],
    ...               "orders": ["O-1", "O-2"]})
    'Most affected: reason damaged (62%). Affected orders: O-1, O-2.'
    """
    parts = []
    for name in sorted(context):
        entries = context[name]
        if not name.startswith("top_") or not isinstance(entries, list):
            continue
        shown = [f"{entry['key']} ({entry['share'] * 100:.0f}%)" for entry in entries[:_NOTE_TOP]
                 if isinstance(entry, Mapping) and "key" in entry and "share" in entry]
        if shown:
            label = "kind" if name == "top_status" else name[4:]
            parts.append(f"{label} {', '.join(shown)}")
    sentences = [f"Most affected: {'; '.join(parts)}."] if parts else []
    orders = context.get("orders")
    if isinstance(orders, list) and orders:
        more = len(orders) - _NOTE_ORDERS
        listed = ", ".join(str(order) for order in orders[:_NOTE_ORDERS])
        sentences.append(f"Affected orders: {listed}{f' and {more} more' if more > 0 else ''}.")
    return " ".join(sentences)
