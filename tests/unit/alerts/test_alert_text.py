"""Tests for alerts.text: summaries, runbooks and template validation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.exceptions import TemplateError
from alerts.locales import Locale
from alerts.model import RULE_NAMES, SeriesRef
from alerts.text import (
    DEFAULT_RULE_TEXTS,
    PLACEHOLDERS,
    AlertTexts,
    RuleText,
    Unit,
    format_value,
    validate_template,
)
from thresholds.decision import Decision

DecisionFactory = Callable[..., Decision]
SKU = SeriesRef("return_rate", "sku", "SKU-00042")
FIRE_DECISION = Decision(
    observed=0.3,
    baseline=0.1,
    lower=0.05,
    upper=0.15,
    score=3.0,
    anomaly_score=0.9,
    sample_size=100,
    ready=True,
    violating=True,
    direction="up",
    severity="critical",
    alerting=True,
    transition="fire",
)


class TestFormatValue:
    @pytest.mark.parametrize(
        ("value", "unit", "expected"),
        [
            (0.312, "ratio", "31.2%"),
            (0.0, "ratio", "0.0%"),
            (0.0042, "ratio", "0.42%"),
            (1.5, "ratio", "150.0%"),
            (1204.0, "count", "1,204"),
            (12.5, "count", "12.5"),
            (0.0, "count", "0"),
            (4.25, "seconds", "4.2 s"),
            (45.0, "seconds", "45 s"),
            (870.0, "seconds", "14.5 min"),
            (5400.0, "seconds", "1.5 h"),
            (1250.5, "amount", "1,250.50"),
            (None, "ratio", "n/a"),
        ],
    )
    def test_formats_per_unit(self, value: float | None, unit: Unit, expected: str) -> None:
        """Each unit has its human format."""
        assert format_value(value, unit) == expected

    def test_unknown_unit_rejected(self) -> None:
        """An unknown unit raises ValueError."""
        with pytest.raises(ValueError, match="unit"):
            format_value(1.0, "bytes")  # type: ignore[arg-type]


class TestSummary:
    def test_brief_example(self, make_decision: DecisionFactory) -> None:
        """The return-rate sentence reads what, where, how far, over how many."""
        decision = make_decision(observed=0.312, baseline=0.098, lower=0.041, upper=0.156)
        assert AlertTexts().summary(SKU, decision) == (
            "Return rate for sku SKU-00042 is 31.2% against a normal 9.8% "
            "(band 4.1%\u201315.6%), 3.2\u00d7 the usual, over 212 deliveries."
        )

    def test_fire_inside_the_band_says_why(self, make_decision: DecisionFactory) -> None:
        """An episode that fired on sequential evidence while its window is inside the
        band says so; the same window without a fire does not."""
        decision = make_decision(
            observed=0.14, baseline=0.098, lower=0.041, upper=0.156, violating=False
        )
        assert decision.transition == "fire"
        text = AlertTexts().summary(SKU, decision)
        assert text.endswith(
            "over 212 deliveries; inside the band in this window, but above the usual "
            "window after window (sustained evidence)."
        )
        quiet = AlertTexts().summary(SKU, make_decision(observed=0.14, transition=None))
        assert "sustained" not in quiet
        down = make_decision(observed=0.05, violating=False, direction="down")
        assert "below the usual window after window" in AlertTexts().summary(SKU, down)
        zh = AlertTexts(locale="zh_CN").summary(SKU, decision)
        assert zh.endswith("已连续多个窗口高于平时（持续性证据）。")

    def test_a_burst_on_its_slow_horizon_names_the_orders_that_added_up(self) -> None:
        """A burst fired on its decayed count has one order in its window: the summary
        says how many recent orders added up past which limit, in both locales; a burst
        fired in one window, or no burst context, adds nothing."""
        series = SeriesRef("customer_order_burst", "customer", "C-1")
        decision = Decision(
            1.0, 0.0, None, 4.5, 0.03, 0.2, 1, True, True, "up", "warning", True, "fire"
        )
        slow = {
            "burst": {
                "horizon": "slow",
                "decayed_orders": 5.14,
                "decayed_limit": 5.0,
                "half_life_minutes": 60.0,
            }
        }
        assert AlertTexts().summary(series, decision, context=slow) == (
            "Orders for customer C-1 is 1 against a normal 0 (upper limit 4.5) in this "
            "window, but 5.1 recent orders add up past the limit of 5 (a decayed count: "
            "each order's weight halves every 60 min)."
        )
        zh = AlertTexts(locale="zh_CN").summary(series, decision, context=slow)
        assert zh.endswith("近期订单累计 5.1 单，超过上限 5（衰减计数：每单权重每 60 分钟减半）。")
        fast = {"burst": {**slow["burst"], "horizon": "fast"}}
        plain = AlertTexts().summary(series, decision)
        assert AlertTexts().summary(series, decision, context=fast) == plain
        assert "recent orders" not in plain

    def test_drop_overall(self, make_decision: DecisionFactory) -> None:
        """A volume drop on the total dimension says 'overall' and '% below'."""
        decision = make_decision(
            observed=512.0, baseline=1020.0, lower=830.0, upper=1210.0, direction="down"
        )
        assert AlertTexts().summary(SeriesRef("order_volume", "total", "all"), decision) == (
            "Order volume overall is 512 against a normal 1,020 (band 830\u20131,210), "
            "50% below the usual."
        )

    def test_multi_dimension(self, make_decision: DecisionFactory) -> None:
        """A region,carrier key is spelled out pairwise."""
        series = SeriesRef("return_rate", "region,carrier", "EU,DHL")
        assert "for region EU / carrier DHL is" in AlertTexts().summary(series, make_decision())

    @pytest.mark.parametrize(
        ("lower", "upper", "fragment"),
        [
            (None, 0.156, "(upper limit 15.6%)"),
            (0.041, None, "(lower limit 4.1%)"),
        ],
    )
    def test_one_sided_band(
        self,
        make_decision: DecisionFactory,
        lower: float | None,
        upper: float | None,
        fragment: str,
    ) -> None:
        """A one-sided band names the side in force."""
        summary = AlertTexts().summary(SKU, make_decision(lower=lower, upper=upper))
        assert fragment in summary

    @pytest.mark.parametrize(
        ("overrides", "absent"),
        [
            ({"lower": None, "upper": None}, "band"),
            ({"baseline": None}, "normal"),
            ({"baseline": 0.0}, "usual"),
            ({"sample_size": None}, "over"),
        ],
    )
    def test_missing_parts_left_out(
        self, make_decision: DecisionFactory, overrides: dict[str, object], absent: str
    ) -> None:
        """Missing band, baseline or sample size drops that clause."""
        assert absent not in AlertTexts().summary(SKU, make_decision(**overrides))

    def test_singular_sample(self, make_decision: DecisionFactory) -> None:
        """One delivery is singular."""
        assert "over 1 delivery." in AlertTexts().summary(SKU, make_decision(sample_size=1))

    def test_seconds_rule(self, make_decision: DecisionFactory) -> None:
        """wait_time_p90 formats minutes."""
        decision = make_decision(observed=1500.0, baseline=300.0, lower=None, upper=600.0)
        summary = AlertTexts().summary(SeriesRef("wait_time_p90", "queue", "returns"), decision)
        assert summary.startswith("90th-percentile wait for queue returns is 25.0 min")

    def test_unit_override(self, make_decision: DecisionFactory) -> None:
        """An explicit unit overrides the rule's."""
        decision = make_decision(observed=7.0, baseline=1.0, lower=None, upper=3.0)
        series = SeriesRef("order_outlier", "order", "O-9")
        assert " is 7 against" in AlertTexts().summary(series, decision, unit="count")

    def test_unknown_rule_gets_generic_text(self, make_decision: DecisionFactory) -> None:
        """A rule without texts still renders a sentence and a runbook."""
        series = SeriesRef("refund_delay", "region", "EU")
        texts = AlertTexts()
        assert texts.summary(series, make_decision()).startswith("Refund delay for region EU")
        assert "refund_delay went up" in texts.runbook(series, make_decision())


class TestRunbook:
    def test_return_rate_default(self, make_decision: DecisionFactory) -> None:
        """The default return-rate runbook names the SKU."""
        assert AlertTexts().runbook(SKU, make_decision()) == (
            "Check the size chart, photos and description of sku SKU-00042; read the "
            "return reasons and contact recent buyers before they return."
        )

    @pytest.mark.parametrize("locale", ["en", "zh_CN"])
    def test_returns_on_a_route_get_the_carrier_runbook(
        self, make_decision: DecisionFactory, locale: Locale
    ) -> None:
        """Damaged parcels on one route show as returns of that cell: its runbook is the
        carrier's and the packing's, not the size chart's; a rules file's runbook for the
        rule is used on every dimension."""
        cell = SeriesRef("return_rate", "region,carrier,reason", "north,SF,damaged")
        texts = AlertTexts(locale=locale)
        route, product = texts.runbook(cell, make_decision()), texts.runbook(SKU, make_decision())
        assert route != product
        assert ("carrier" if locale == "en" else "快递公司") in route
        assert ("size chart" if locale == "en" else "尺码表") not in route
        assert "north,SF,damaged" in route
        own = texts.with_runbooks({"return_rate": "Call {key}."})
        assert own.runbook(cell, make_decision()) == "Call north,SF,damaged."

    def test_every_contract_rule_has_default(self) -> None:
        """Every contract rule has a default text."""
        assert set(DEFAULT_RULE_TEXTS) == set(RULE_NAMES)

    @pytest.mark.parametrize("rule", RULE_NAMES)
    def test_defaults_render(self, make_decision: DecisionFactory, rule: str) -> None:
        """Every default runbook renders without leftover braces."""
        text = AlertTexts().runbook(SeriesRef(rule, "total", "all"), make_decision())
        assert text and "{" not in text

    def test_all_placeholders_filled(self, make_decision: DecisionFactory) -> None:
        """Every allowed placeholder is filled with formatted values."""
        template = " ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
        texts = AlertTexts().with_runbooks({"return_rate": template})
        assert texts.runbook(SKU, make_decision(lower=None)) == (
            "9.8% sku up SKU-00042 n/a 31.2% return_rate 15.6%"
        )

    def test_with_runbooks_keeps_other_rules(self) -> None:
        """Overriding one rule's runbook leaves the others alone."""
        texts = AlertTexts().with_runbooks({"return_rate": "Call {key}."})
        assert texts.rules["complaint_rate"] == DEFAULT_RULE_TEXTS["complaint_rate"]


class TestTemplateValidation:
    @pytest.mark.parametrize(
        ("template", "placeholder"),
        [
            ("Check {sku}", "sku"),
            ("Check {}", "(empty)"),
            ("Check {0}", "0"),
            ("Check {key.upper}", "key.upper"),
            ("Check {key[0]}", "key[0]"),
            ("Check {observed:.2f}", "observed"),
            ("Check {key!r}", "key"),
        ],
    )
    def test_bad_placeholder_named(self, template: str, placeholder: str) -> None:
        """An unknown or decorated placeholder is rejected, naming it."""
        with pytest.raises(TemplateError) as info:
            validate_template(template)
        assert info.value.placeholder == placeholder
        assert placeholder in str(info.value)

    @pytest.mark.parametrize("template", ["Check {key", "Check key}", "", "   "])
    def test_malformed_rejected(self, template: str) -> None:
        """Unbalanced braces and empty templates are rejected."""
        with pytest.raises(TemplateError):
            validate_template(template)

    def test_escaped_braces_allowed(self) -> None:
        """Doubled braces are literal text."""
        assert validate_template("Use {{json}} for {key}") == "Use {{json}} for {key}"

    def test_rule_text_validates_at_construction(self) -> None:
        """A RuleText with a bad template cannot be built."""
        with pytest.raises(TemplateError, match="sku"):
            RuleText("Return rate", "ratio", None, "Check {sku}")

    def test_with_runbooks_names_rule(self) -> None:
        """A bad override names the rule's config path and the placeholder."""
        with pytest.raises(TemplateError, match=r"rules\.return_rate\.runbook.*\{sku\}"):
            AlertTexts().with_runbooks({"return_rate": "Check {sku}"})

    def test_bad_unit_rejected(self) -> None:
        """A RuleText with an unknown unit cannot be built."""
        with pytest.raises(TemplateError, match="unit"):
            RuleText("X", "bytes", None, "Check {key}")  # type: ignore[arg-type]


class TestRunbookNeverRaises:
    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "{",
                    "}",
                    "{{",
                    "}}",
                    "{key}",
                    "{observed",
                    ":",
                    ">",
                    "999999999",
                    "!r",
                    "[0]",
                    ".real",
                    "{observed:>999999999}",
                    "{0}",
                    "{}",
                    "text ",
                    "{key!s}",
                ]
            ),
            max_size=8,
        )
    )
    def test_accepted_templates_render(self, parts: list[str]) -> None:
        """Every template validate_template accepts renders without raising, at a sane size."""
        template = "Check " + "".join(parts)
        try:
            validate_template(template)
        except TemplateError:
            return
        texts = AlertTexts().with_runbooks({"return_rate": template})
        decision = FIRE_DECISION
        rendered = texts.runbook(SeriesRef("return_rate", "sku", "SKU-1"), decision)
        assert len(rendered) < 10 * len(template) + 200

    def test_slipped_template_falls_back(self) -> None:
        """A template that bypassed validation gives the generic runbook, not an exception."""
        text = RuleText("Return rate", "ratio", None, "Check {key}")
        object.__setattr__(text, "runbook", "Check {key[9]}")
        texts = AlertTexts({"return_rate": text})
        rendered = texts.runbook(SeriesRef("return_rate", "sku", "SKU-1"), FIRE_DECISION)
        assert rendered.startswith("Look at sku SKU-1")


class TestContextNote:
    def test_runbook_names_top_keys_and_exchanges(self) -> None:
        """With context, the runbook ends naming the top carrier and the kind of returns."""
        from alerts.model import SeriesRef
        from thresholds.decision import Decision

        decision = Decision(
            0.3, 0.1, 0.05, 0.15, 3.0, 0.9, 100, True, True, "up", "warning", True, "fire"
        )
        context = {
            "top_carrier": [{"key": "dhl", "count": 6, "share": 0.6}],
            "top_status": [
                {"key": "exchange_requested", "count": 7, "share": 0.7},
                {"key": "return_requested", "count": 3, "share": 0.3},
            ],
        }
        text = AlertTexts().runbook(
            SeriesRef("return_rate", "sku", "SKU-1"), decision, context=context
        )
        assert text.endswith(
            "Most affected: carrier dhl (60%); kind exchange_requested (70%), "
            "return_requested (30%)."
        )

    def test_no_context_no_note(self) -> None:
        """Without context the runbook is the template alone."""
        from alerts.text import context_note

        assert context_note({}) == ""
        assert context_note({"orders": []}) == ""
