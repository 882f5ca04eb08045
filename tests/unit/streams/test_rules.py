"""The rules file: the shipped default loads; a bad file is refused naming the field."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from streams.exceptions import ConfigError
from streams.rules import CATALOGUE, load_rules, parse_rules


def default_document() -> dict[str, Any]:
    text = resources.files("streams").joinpath("default_rules.toml").read_text("utf-8")
    return tomllib.loads(text)


class TestDefaultRules:
    def test_every_contract_rule_is_configured(self) -> None:
        """The shipped file configures the whole catalogue."""
        assert {rule.name for rule in load_rules().rules} == set(CATALOGUE)

    def test_contract_dimensions_are_covered(self) -> None:
        """Each rule watches at least the contract's dimensions."""
        for rule in load_rules().rules:
            assert set(CATALOGUE[rule.name].required_dimensions) <= set(rule.dimension_names)

    def test_wait_sla_is_fifteen_minutes(self) -> None:
        """The SLA share rule defaults to 900 s."""
        assert load_rules().by_name("wait_sla_breach_share").sla_seconds == 900.0


class TestBadRules:
    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            (("rules", "return_rate", "window"), "soon", "rules.return_rate.window"),
            (("rules", "return_rate", "window"), "0m", "rules.return_rate.window"),
            (("rules", "customer_order_burst", "hop"), "7m", "rules.customer_order_burst.hop"),
            (("rules", "return_rate", "dimensions"), ["sku", "colour"],
             "rules.return_rate.dimensions"),
            (("rules", "return_rate", "dimensions"), "sku", "rules.return_rate.dimensions"),
            (("rules", "return_rate", "runbook"), "Call {owner}", "rules.return_rate.runbook"),
            (("rules", "return_rate", "runbook"), "", "rules.return_rate.runbook"),
            (("rules", "return_rate", "detector", "persistence"), [3, 2],
             "rules.return_rate.detector.persistence"),
            (("rules", "return_rate", "detector", "sensitivity"), "extreme",
             "rules.return_rate.detector.sensitivity"),
            (("rules", "return_rate", "detector", "colour"), 1,
             "rules.return_rate.detector.colour"),
            (("rules", "return_rate", "enabled"), "yes", "rules.return_rate.enabled"),
            (("rules", "return_rate", "context"), ["weather"], "rules.return_rate.context"),
            (("rules", "wait_time_p90", "quantile"), 1.5, "rules.wait_time_p90.quantile"),
            (("rules", "order_outlier", "detector", "grace_period"), 1,
             "rules.order_outlier.detector.grace_period"),
            (("rules", "refund_rate"), {}, "rules.refund_rate"),
            (("settings", "lateness"), "-5m", "settings.lateness"),
            (("settings", "timezone"), "UTC", "settings.timezone"),
        ],
    )
    def test_field_is_named(self, path: tuple[str, ...], value: Any, field: str) -> None:
        """A bad value is refused with an error naming its TOML path."""
        document = default_document()
        table = document
        for part in path[:-1]:
            table = table.setdefault(part, {})
        table[path[-1]] = value
        with pytest.raises(ConfigError) as info:
            parse_rules(document)
        assert info.value.field == field

    def test_unreadable_file_is_named(self, tmp_path: Path) -> None:
        """A missing file is refused with its path."""
        with pytest.raises(ConfigError, match="cannot read"):
            load_rules(tmp_path / "missing.toml")

    def test_invalid_toml_is_refused(self, tmp_path: Path) -> None:
        """A file that is not TOML is refused with the parser's message."""
        path = tmp_path / "rules.toml"
        path.write_text("[rules\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_rules(path)

    def test_disabled_rule_is_left_out(self) -> None:
        """``enabled = false`` removes a rule."""
        document = default_document()
        document["rules"]["order_outlier"]["enabled"] = False
        assert "order_outlier" not in {rule.name for rule in parse_rules(document).rules}
