"""Locales (``AFTERSALES_LOCALE``): complete catalogues, Chinese texts end to end, the China rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.locales import LOCALES, catalogue, placeholders
from alerts.model import RULE_CLASSES, RULE_NAMES, SeriesRef
from alerts.text import RULE_UNITS, AlertTexts, format_value
from streams.cli.main import replay
from streams.exceptions import ConfigError
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import CATALOGUE, load_rules, parse_rules
from streams.rules.registry import DEFAULT_REGISTRY
from streams.runtime.config import Settings
from tests.unit.alerts.conftest import FIRE
from thresholds.decision import Decision

REPO = Path(__file__).resolve().parents[2]
CHINA_RULES = REPO / "deploy" / "rules" / "china.toml"
HOUR = 3_600_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
OTHERS = [locale for locale in LOCALES if locale != "en"]


def decision(**overrides: object) -> Decision:
    """A firing return-rate decision: 31.25 % against 5 % over 1,204 deliveries."""
    values: dict[str, object] = {
        "observed": 0.3125,
        "baseline": 0.05,
        "lower": 0.02,
        "upper": 0.08,
        "sample_size": 1204,
    }
    return replace(FIRE, **{**values, **overrides})  # type: ignore[arg-type]


class TestCatalogueComplete:
    @pytest.mark.parametrize("locale", OTHERS)
    def test_same_keys_as_english(self, locale: str) -> None:
        """Every locale has exactly the English catalogue's keys."""
        assert set(catalogue(locale).texts) == set(catalogue("en").texts)

    @pytest.mark.parametrize("locale", OTHERS)
    def test_same_placeholders_as_english(self, locale: str) -> None:
        """Every text uses the same placeholders as its English original."""
        en = catalogue("en").texts
        differ = {
            key: (placeholders(en[key]), placeholders(text))
            for key, text in catalogue(locale).texts.items()
            if placeholders(en[key]) != placeholders(text)
        }
        assert differ == {}

    @pytest.mark.parametrize("locale", OTHERS)
    def test_empty_exactly_where_english_is(self, locale: str) -> None:
        """A text is empty (e.g. no sample noun) in every locale or in none."""
        en = catalogue("en").texts
        assert {k for k, v in catalogue(locale).texts.items() if not v} == {
            k for k, v in en.items() if not v
        }

    def test_registry_is_the_alert_catalogue(self) -> None:
        """The registered rule modules are the rules ``alerts`` knows (which may not import
        ``streams``): same names, same order, each with an anomaly class and a unit."""
        assert tuple(DEFAULT_REGISTRY) == RULE_NAMES
        assert set(RULE_CLASSES) == set(RULE_UNITS) == set(DEFAULT_REGISTRY)

    @pytest.mark.parametrize("locale", LOCALES)
    @pytest.mark.parametrize("rule", sorted(DEFAULT_REGISTRY))
    def test_every_rule_has_every_text(self, locale: str, rule: str) -> None:
        """Each registered rule (:mod:`streams.rules.registry`) has a unit and, per locale,
        a label, sample nouns and a valid runbook."""
        texts = catalogue(locale).texts
        assert rule in RULE_UNITS
        for field in ("label", "sample_one", "sample_many", "runbook"):
            assert f"rule.{rule}.{field}" in texts
        assert texts[f"rule.{rule}.label"] and texts[f"rule.{rule}.runbook"]
        AlertTexts(locale=locale)  # validates every runbook template

    @pytest.mark.parametrize("locale", LOCALES)
    def test_every_dimension_is_named(self, locale: str) -> None:
        """Every dimension the rules use has a name in every locale."""
        used = {
            part
            for entry in CATALOGUE.values()
            for dims in entry.required_dimensions
            for part in dims.split(",")
        }
        assert used <= {
            key.removeprefix("dimension.")
            for key in catalogue(locale).texts
            if key.startswith("dimension.")
        }

    @pytest.mark.parametrize("locale", LOCALES)
    def test_every_template_renders(self, locale: str) -> None:
        """Every template formats with its own placeholders filled."""
        for key, text in catalogue(locale).texts.items():
            names = placeholders(text)
            assert "{" not in text.format(**dict.fromkeys(names, "x")) or not names, key

    def test_unknown_locale_refused(self) -> None:
        """An unknown locale is an error naming the choices."""
        with pytest.raises(ValueError, match="expected en or zh_CN"):
            AlertTexts(locale="fr")  # type: ignore[arg-type]


class TestChineseTexts:
    def test_summary(self) -> None:
        """The summary is one Chinese sentence with the place, value, band and sample."""
        text = AlertTexts(locale="zh_CN").summary(
            SeriesRef("return_rate", "sku", "SKU-1"), decision()
        )
        assert text == (
            "SKU SKU-1 的退货率为 31.2%，正常值 5.0%（正常区间 2.0%\u20138.0%），"
            "为平时的 6.2 倍，基于 1,204 单签收。"
        )

    def test_summary_overall_and_compound(self) -> None:
        """Totals read 整体; compound dimensions name each part."""
        texts = AlertTexts(locale="zh_CN")
        assert texts.summary(
            SeriesRef("order_volume", "total", "total"),
            decision(observed=12.0, baseline=140.0, lower=90.0, upper=190.0, direction="down"),
        ).startswith("整体订单量为 12，正常值 140")
        assert (
            texts.where(SeriesRef("return_rate", "region,carrier", "east,sf"))
            == "地区 east / 快递公司 sf 的"
        )

    def test_runbook(self) -> None:
        """The runbook is the Chinese catalogue's, with the dimension named in Chinese."""
        text = AlertTexts(locale="zh_CN").runbook(
            SeriesRef("return_rate", "sku", "SKU-1"), decision()
        )
        assert text.startswith("检查SKU SKU-1 的尺码表")

    @pytest.mark.parametrize(
        ("value", "unit", "expected"),
        [
            (1250.0, "amount", "\u00a51,250.00"),
            (870.0, "seconds", "14.5 分钟"),
            (7200.0, "seconds", "2.0 小时"),
            (5.0, "seconds", "5.0 秒"),
            (12345.0, "count", "12,345"),
            (0.3125, "ratio", "31.2%"),
            (None, "count", "无"),
        ],
    )
    def test_values(self, value: float | None, unit: str, expected: str) -> None:
        """Money in yuan, durations in Chinese units, thousands separated."""
        assert format_value(value, unit, "zh_CN") == expected  # type: ignore[arg-type]

    def test_english_money_has_no_symbol(self) -> None:
        """English keeps amounts as plain numbers (the shop's currency is not known)."""
        assert format_value(1250.0, "amount") == "1,250.00"

    def test_time_in_shop_offset(self) -> None:
        """Times are shown in the rules' UTC offset with the zone named."""
        assert catalogue("zh_CN").time(T0, 8 * HOUR) == "2026-11-02 08:00 UTC+8"
        assert catalogue("en").zone(-(5 * HOUR + 30 * 60_000)) == "UTC-5:30"


class TestLocaleSetting:
    @pytest.mark.parametrize("raw", ["zh_CN", "zh-CN", "zh_cn", " zh-cn "])
    def test_chinese_spellings(self, raw: str) -> None:
        """zh_CN is accepted as written in either common spelling."""
        assert Settings.from_env({"AFTERSALES_LOCALE": raw}).locale == "zh_CN"

    def test_default_english(self) -> None:
        """Without the variable the locale is English."""
        assert Settings.from_env({}).locale == "en"

    def test_unknown_refused_naming_variable(self) -> None:
        """An unknown locale is refused with the variable's name."""
        with pytest.raises(ConfigError, match="AFTERSALES_LOCALE: invalid value 'fr'"):
            Settings.from_env({"AFTERSALES_LOCALE": "fr"})

    def test_cli_refuses_unknown_locale(self, tmp_path: Path) -> None:
        """replay exits with a one-line configuration error, no traceback."""
        events = tmp_path / "e.jsonl"
        events.write_text("")
        result = CliRunner().invoke(replay, [str(events)], env={"AFTERSALES_LOCALE": "de"})
        assert result.exit_code == 2
        assert "invalid configuration: AFTERSALES_LOCALE" in result.output
        assert "Traceback" not in result.output


class TestChinaRules:
    def test_loads_with_beijing_time(self) -> None:
        """The shipped China rules load cleanly, at UTC+8, with every catalogue rule."""
        rules = load_rules(CHINA_RULES)
        assert rules.utc_offset_ms == 8 * HOUR
        assert {rule.name for rule in rules.rules} == set(CATALOGUE)

    def test_same_as_default_but_offset(self) -> None:
        """Apart from the offset (and a runbook override) it is the default configuration."""
        china, default = load_rules(CHINA_RULES), load_rules()
        for mine, theirs in zip(china.rules, default.rules, strict=True):
            assert (mine.window_ms, mine.hop_ms, mine.dimensions) == (
                theirs.window_ms,
                theirs.hop_ms,
                theirs.dimensions,
            )


def steady_then_spike() -> Iterator[tuple[str, bytes, bytes]]:
    """30 steady hours of 40 orders in region east, then two hours of 200."""
    i = 0
    for hour, count in enumerate([40] * 30 + [200] * 2 + [40] * 8):
        for j in range(count):
            value = {
                "event_id": f"e{i}",
                "ts": T0 + hour * HOUR + j * HOUR // count,
                "order_id": f"o{i}",
                "status": "placed",
                "region": "east",
            }
            yield "orders", value["order_id"].encode(), json.dumps(value).encode()  # type: ignore[union-attr]
            i += 1


RULES_DOC = {
    "settings": {"lateness": "5m", "utc_offset": "8h"},
    "rules": {
        "order_volume": {
            "window": "1h",
            "dimensions": ["region"],
            "detector": {"grace_period": 24, "persistence": [1, 1]},
        }
    },
}


class TestChineseReplay:
    def test_pipeline_alerts_in_chinese(self) -> None:
        """Replayed alerts carry Chinese summaries and the Chinese catalogue runbook when the
        rules file sets none; the alert event's fields are otherwise unchanged."""
        alerts = list(
            ReplayPipeline(
                parse_rules(RULES_DOC), partitions=2, texts=AlertTexts(locale="zh_CN")
            ).run(steady_then_spike())
        )
        firing = [a for a in alerts if a.status == "firing"]
        assert firing
        assert firing[0].summary.startswith("地区 east 的订单量为 ")
        assert firing[0].runbook.startswith("检查地区 east 的下单、支付")
        english = list(
            ReplayPipeline(parse_rules(RULES_DOC), partitions=2).run(steady_then_spike())
        )
        assert [(a.alert_id, a.status, a.observed) for a in alerts] == [
            (a.alert_id, a.status, a.observed) for a in english
        ]
        assert english[0].summary.startswith("Order volume for region east is ")

    def test_cli_replay_and_report_in_chinese(self, tmp_path: Path) -> None:
        """AFTERSALES_LOCALE=zh_CN: replay prints Chinese summaries and writes a Chinese report
        with times in the rules' UTC+8."""
        events, rules_file = tmp_path / "events.jsonl", tmp_path / "rules.toml"
        events.write_text(
            "".join(
                json.dumps({"topic": t, "value": json.loads(v)}) + "\n"
                for t, _, v in steady_then_spike()
            ),
            encoding="utf-8",
        )
        rules_file.write_text(
            '[settings]\nlateness = "5m"\nutc_offset = "8h"\n'
            '[rules.order_volume]\nwindow = "1h"\ndimensions = ["region"]\n'
            "[rules.order_volume.detector]\ngrace_period = 24\n"
            "persistence = [1, 1]\n",
            encoding="utf-8",
        )
        report = tmp_path / "report.html"
        result = CliRunner().invoke(
            replay,
            [str(events), "--rules", str(rules_file), "--report", str(report), "--partitions", "2"],
            env={"AFTERSALES_LOCALE": "zh_CN"},
        )
        assert result.exit_code == 0, result.output
        summaries = [
            json.loads(line)["summary"]
            for line in result.stdout.splitlines()
            if line.startswith("{")
        ]
        assert summaries and all("订单量为" in s for s in summaries)
        html = report.read_text(encoding="utf-8")
        assert '<html lang="zh-CN">' in html and "aftersales 回放报告" in html
        assert "窗口结束（UTC+8）" in html
        # The first window starts at T0 = 00:00 UTC = 08:00 Beijing time.
        assert "2026-11-02 08:00 \u2192" in html

    def test_cli_replay_summary_and_hint_in_chinese(self, tmp_path: Path) -> None:
        """AFTERSALES_LOCALE=zh_CN: replay's end summary and warm-up hint (standard error)
        are Chinese, with durations in Chinese units; English stays the default."""
        events = tmp_path / "events.jsonl"
        events.write_text(
            "".join(
                json.dumps({"topic": t, "value": json.loads(v)}) + "\n"
                for t, _, v in islice(steady_then_spike(), 50)
            )
            + '{"topic": "orders", "value": "not an object"}\n',
            encoding="utf-8",
        )
        out = str(tmp_path / "alerts.jsonl")
        zh = CliRunner().invoke(
            replay, [str(events), "--out", out], env={"AFTERSALES_LOCALE": "zh_CN"}
        )
        assert zh.exit_code == 0, zh.output
        assert "回放：51 条事件" in zh.stderr
        assert "告警：触发 0 条，恢复 0 条" in zh.stderr
        assert "死信：1 条" in zh.stderr and "not_object" in zh.stderr
        assert "提示：没有触发告警" in zh.stderr and "8.0 天" in zh.stderr
        assert "return_rate" in zh.stderr and "hint:" not in zh.stderr
        en = CliRunner().invoke(
            replay, [str(events), "--out", out], env={"AFTERSALES_LOCALE": "en"}
        )
        assert "dead letters: 1" in en.stderr and "8.0 days" in en.stderr


class TestSecondaryCommandsInChinese:
    """The human lines of ``explain`` and ``outreach`` follow AFTERSALES_LOCALE too."""

    def test_explain_without_windows(self, tmp_path: Path) -> None:
        from streams.cli.main import explain

        events = tmp_path / "events.jsonl"
        events.write_text("", encoding="utf-8")
        args = [str(events), "--rule", "wait_time_p90", "--dimension", "queue", "--key", "q"]
        zh = CliRunner().invoke(explain, args, env={"AFTERSALES_LOCALE": "zh_CN"})
        assert "中没有关闭任何 wait_time_p90:queue:q 的窗口" in zh.stderr, zh.output
        en = CliRunner().invoke(explain, args, env={"AFTERSALES_LOCALE": "en"})
        assert "no window of wait_time_p90:queue:q was closed in" in en.stderr, en.output

    def test_outreach_without_open_orders(self, tmp_path: Path) -> None:
        from streams.cli.main import outreach

        risk = tmp_path / "risk.jsonl"
        risk.write_text("", encoding="utf-8")
        zh = CliRunner().invoke(outreach, [str(risk)], env={"AFTERSALES_LOCALE": "zh_CN"})
        assert zh.exit_code == 0, zh.output
        assert zh.stdout.strip() == "输入中没有未完成的订单"
        en = CliRunner().invoke(outreach, [str(risk)], env={"AFTERSALES_LOCALE": "en"})
        assert en.stdout.strip() == "no open order in the input"
