"""Human texts of an alert: the one-sentence ``summary`` and the ``runbook``.

Each rule has a :class:`RuleText`: a label for the measured quantity, its unit
(``count``, ``ratio``, ``seconds``, ``amount``), the noun for its sample size and
a runbook template, in the locale's catalogue (:mod:`alerts.locales`). Templates
may use only the placeholders in :data:`PLACEHOLDERS`; anything else is rejected when
the ``RuleText`` is built, with a :class:`~alerts.exceptions.TemplateError` naming the
placeholder.

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
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, Literal, get_args

from alerts.context_text import context_note
from alerts.exceptions import TemplateError
from alerts.locales import Catalogue, Locale, catalogue
from alerts.model import RULE_CLASSES, SeriesRef, anomaly_class, split_key
from thresholds.decision import Decision, Direction

__all__ = [
    "DEFAULT_RULE_TEXTS",
    "PLACEHOLDERS",
    "RULE_UNITS",
    "AlertTexts",
    "RuleText",
    "Unit",
    "context_note",
    "format_value",
    "rule_texts",
    "validate_template",
]

Unit = Literal["count", "ratio", "seconds", "amount", "hours"]
PLACEHOLDERS: Final = frozenset(
    {"rule", "dimension", "key", "observed", "baseline", "lower", "upper", "direction"}
)
#: How each catalogue rule's values are formatted (the same in every locale).
RULE_UNITS: Final[Mapping[str, Unit]] = MappingProxyType(
    {
        "order_volume": "count",
        "order_outlier": "amount",
        "customer_order_burst": "count",
        "return_rate": "ratio",
        "complaint_rate": "ratio",
        "complaint_volume": "count",
        "wait_time_p90": "seconds",
        "wait_sla_breach_share": "ratio",
        "handle_time_p90": "seconds",
        "low_satisfaction_share": "ratio",
        "bad_review_rate": "ratio",
        "cancellation_rate": "ratio",
        "delivery_time_p90": "hours",
        "late_delivery_share": "ratio",
        "lost_parcel": "hours",
        "refund_delay_p90": "hours",
        "frequent_returner": "count",
        "shared_address": "count",
    }
)


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


def format_value(value: float | None, unit: Unit, locale: Locale = "en") -> str:
    """Format a number for people: ``31.2%``, ``1,204``, ``14.5 min``, ``1,250.00``.

    ``zh_CN`` writes money as ``¥1,250.00`` and durations as ``14.5 分钟``.
    """
    texts = catalogue(locale)
    if value is None:
        return texts.text("value.missing")
    if unit == "ratio":
        pct = value * 100
        return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"
    if unit == "seconds":
        if abs(value) < 10:
            return texts.text("unit.s", value=f"{value:.1f}")
        if abs(value) < 60:
            return texts.text("unit.s", value=f"{value:.0f}")
        if abs(value) < 3600:
            return texts.text("unit.min", value=f"{value / 60:.1f}")
        return texts.text("unit.h", value=f"{value / 3600:.1f}")
    if unit == "hours":
        return texts.text("unit.h", value=f"{value:,.1f}")
    if unit == "amount":
        return texts.text("unit.amount", value=f"{value:,.2f}")
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
    route_runbook
        A product rule's template for its alerts on a carrier, region or their cell
        (:func:`alerts.model.anomaly_class` makes those logistics'); ``None``: ``runbook``.
    """

    label: str
    unit: Unit
    sample_noun: tuple[str, str] | None
    runbook: str
    route_runbook: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise TemplateError(f"unit must be one of {get_args(Unit)}, got {self.unit!r}")
        validate_template(self.runbook)
        if self.route_runbook is not None:
            validate_template(self.route_runbook)


def rule_texts(locale: Locale = "en") -> Mapping[str, RuleText]:
    """Every catalogue rule's :class:`RuleText` in ``locale`` (from :mod:`alerts.locales`)."""
    texts = catalogue(locale)
    rules = {}
    for rule, unit in RULE_UNITS.items():
        one, many = (texts.text(f"rule.{rule}.sample_{n}") for n in ("one", "many"))
        rules[rule] = RuleText(
            texts.text(f"rule.{rule}.label"),
            unit,
            (one, many) if one else None,
            texts.text(f"rule.{rule}.runbook"),
            texts.texts.get(f"rule.{rule}.runbook_route"),
        )
    return MappingProxyType(rules)


DEFAULT_RULE_TEXTS: Final[Mapping[str, RuleText]] = rule_texts("en")


def _how_far(
    observed: float, baseline: float | None, direction: Direction | None, texts: Catalogue
) -> str:
    if baseline is None or baseline <= 0 or observed < 0:
        return ""
    ratio = observed / baseline
    if ratio >= 2:
        return texts.text("summary.times", ratio=f"{ratio:.1f}")
    if ratio > 1 and direction != "down":
        return texts.text("summary.above", percent=f"{(ratio - 1) * 100:.0f}")
    if ratio < 1 and direction != "up":
        return texts.text("summary.below", percent=f"{(1 - ratio) * 100:.0f}")
    return ""


@dataclass(frozen=True, slots=True)
class AlertTexts:
    """Renders summaries and runbooks for every rule, in one locale.

    ``rules`` defaults to the locale's catalogue. Rules missing from ``rules`` fall
    back to a generic count text, so a new rule still alerts in full sentences.
    """

    rules: Mapping[str, RuleText] | None = None
    locale: Locale = "en"

    def __post_init__(self) -> None:
        catalogue(self.locale)  # refuses an unknown locale
        rules = rule_texts(self.locale) if self.rules is None else self.rules
        for rule, text in rules.items():
            if not isinstance(text, RuleText):
                raise TemplateError(f"rules.{rule}: expected a RuleText, got {text!r}")
        object.__setattr__(self, "rules", MappingProxyType(dict(rules)))

    @property
    def catalogue(self) -> Catalogue:
        """The locale's text catalogue."""
        return catalogue(self.locale)

    def with_runbooks(self, runbooks: Mapping[str, str]) -> AlertTexts:
        """A copy whose runbook templates are replaced per rule (validated), on every dimension."""
        merged = dict(self._rules)
        for rule, template in runbooks.items():
            base = self.rule_text(rule)
            try:
                merged[rule] = replace(base, runbook=template, route_runbook=None)
            except TemplateError as exc:
                raise TemplateError(f"rules.{rule}.runbook: {exc}", exc.placeholder) from exc
        return AlertTexts(MappingProxyType(merged), self.locale)

    @property
    def _rules(self) -> Mapping[str, RuleText]:
        assert self.rules is not None  # set in __post_init__
        return self.rules

    def rule_text(self, rule: str) -> RuleText:
        """The rule's text, or a generic one for an unknown rule."""
        found = self._rules.get(rule)
        if found is not None:
            return found
        return RuleText(
            rule.replace("_", " ").capitalize(),
            "count",
            None,
            self.catalogue.text("rule.generic.runbook"),
        )

    def format_value(self, value: float | None, rule: str, unit: Unit | None = None) -> str:
        """Format ``value`` in the rule's unit (or ``unit`` when given)."""
        return format_value(value, unit or self.rule_text(rule).unit, self.locale)

    def dimension(self, dimension: str) -> str:
        """A dimension as people read it: ``region,carrier`` -> ``地区,快递公司`` in zh_CN."""
        return ",".join(self.catalogue.label("dimension", d) for d in dimension.split(","))

    def where(self, series: SeriesRef) -> str:
        """``overall``, ``for sku SKU-1``, ``for region EU / carrier DHL``."""
        texts = self.catalogue
        if series.dimension == "total":
            return texts.text("summary.where_total")
        dims = series.dimension.split(",")
        values = split_key(series.key)
        if len(dims) > 1 and len(dims) == len(values):
            parts = texts.text("summary.part_separator").join(
                texts.text("summary.where_part", dimension=self.dimension(d), key=v)
                for d, v in zip(dims, values, strict=True)
            )
            return texts.text("summary.where_parts", parts=parts)
        return texts.text(
            "summary.where_one", dimension=self.dimension(series.dimension), key=series.key
        )

    def summary(
        self,
        series: SeriesRef,
        decision: Decision,
        *,
        unit: Unit | None = None,
        context: Mapping[str, object] | None = None,
    ) -> str:
        """One sentence: what, where, how far from normal, over how many events; for a
        burst that crossed on its slow horizon (``context.burst``), the decayed count of
        orders that did."""
        texts = self.catalogue
        text = self.rule_text(series.rule)
        u = unit or text.unit

        def fmt(value: float | None) -> str:
            return format_value(value, u, self.locale)

        sentence = texts.text(
            "summary.sentence",
            label=text.label,
            where=self.where(series),
            observed=fmt(decision.observed),
        )
        if decision.baseline is not None:
            sentence += texts.text("summary.baseline", baseline=fmt(decision.baseline))
        if decision.lower is not None and decision.upper is not None:
            sentence += texts.text(
                "summary.band", lower=fmt(decision.lower), upper=fmt(decision.upper)
            )
        elif decision.upper is not None:
            sentence += texts.text("summary.band_upper", upper=fmt(decision.upper))
        elif decision.lower is not None:
            sentence += texts.text("summary.band_lower", lower=fmt(decision.lower))
        sentence += _how_far(decision.observed, decision.baseline, decision.direction, texts)
        if text.sample_noun is not None and decision.sample_size is not None:
            singular, plural = text.sample_noun
            noun = singular if decision.sample_size == 1 else plural
            sentence += texts.text("summary.sample", count=f"{decision.sample_size:,}", noun=noun)
        if decision.transition == "fire" and not decision.violating:
            # Fired on sequential evidence (CUSUM) while this window is inside the band.
            side = "above" if decision.direction == "up" else "below"
            sentence += texts.text(f"summary.sustained_{side}")
        burst = context.get("burst") if context else None
        if isinstance(burst, Mapping) and burst.get("horizon") == "slow":
            sentence += texts.text(
                "summary.decayed_above",
                decayed=format_value(burst["decayed_orders"], "count", self.locale),
                limit=format_value(burst["decayed_limit"], "count", self.locale),
                half_life=f"{burst['half_life_minutes']:g}",
            )
        return sentence + texts.text("summary.end")

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
        shown_direction = direction or decision.direction
        values = {
            "rule": series.rule,
            "dimension": self.dimension(series.dimension),
            "key": series.key,
            "observed": format_value(decision.observed, u, self.locale),
            "baseline": format_value(decision.baseline, u, self.locale),
            "lower": format_value(decision.lower, u, self.locale),
            "upper": format_value(decision.upper, u, self.locale),
            "direction": (
                self.catalogue.label("direction", shown_direction)
                if shown_direction
                else self.catalogue.text("value.missing")
            ),
        }
        on_route = anomaly_class(series.rule, series.dimension) != RULE_CLASSES.get(series.rule)
        template = text.route_runbook if on_route and text.route_runbook else text.runbook
        try:
            filled = template.format(**values)
        except (ValueError, KeyError, IndexError, AttributeError):
            filled = self.catalogue.text("rule.generic.runbook", **values)
        note = context_note(context, self.catalogue) if context else ""
        return f"{filled} {note}" if note else filled
