"""The rules file: the shipped default loads; a bad file is refused naming the field."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from streams.exceptions import ConfigError
from streams.rules.catalogue import CATALOGUE, load_rules, parse_rules


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
            (
                ("rules", "return_rate", "dimensions"),
                ["sku", "colour"],
                "rules.return_rate.dimensions",
            ),
            (("rules", "return_rate", "dimensions"), "sku", "rules.return_rate.dimensions"),
            (("rules", "return_rate", "runbook"), "Call {owner}", "rules.return_rate.runbook"),
            (("rules", "return_rate", "runbook"), "", "rules.return_rate.runbook"),
            (
                ("rules", "return_rate", "detector", "persistence"),
                [3, 2],
                "rules.return_rate.detector.persistence",
            ),
            (
                ("rules", "return_rate", "detector", "sensitivity"),
                "extreme",
                "rules.return_rate.detector.sensitivity",
            ),
            (
                ("rules", "return_rate", "detector", "colour"),
                1,
                "rules.return_rate.detector.colour",
            ),
            (("rules", "return_rate", "enabled"), "yes", "rules.return_rate.enabled"),
            (("rules", "return_rate", "context"), ["weather"], "rules.return_rate.context"),
            (("rules", "wait_time_p90", "quantile"), 1.5, "rules.wait_time_p90.quantile"),
            (
                ("rules", "order_outlier", "detector", "grace_period"),
                1,
                "rules.order_outlier.detector.grace_period",
            ),
            (("rules", "refund_rate"), {}, "rules.refund_rate"),
            (
                ("rules", "customer_order_burst", "slow_half_life"),
                "an hour",
                "rules.customer_order_burst.slow_half_life",
            ),
            (("rules", "return_rate", "slow_half_life"), "1h", "rules.return_rate.slow_half_life"),
            (("rules", "complaint_rate", "settle"), "a day", "rules.complaint_rate.settle"),
            (("rules", "complaint_rate", "settle"), -1, "rules.complaint_rate.settle"),
            (("rules", "order_outlier", "settle"), "1d", "rules.order_outlier.settle"),
            (("rules", "shared_address", "settle"), "1d", "rules.shared_address.settle"),
            (
                ("rules", "lost_parcel", "lost_alone_after"),
                0.5,
                "rules.lost_parcel.lost_alone_after",
            ),
            (
                ("rules", "lost_parcel", "lost_alone_after"),
                "x",
                "rules.lost_parcel.lost_alone_after",
            ),
            (
                ("rules", "return_rate", "lost_alone_after"),
                1.0,
                "rules.return_rate.lost_alone_after",
            ),
            (("rules", "order_volume", "total_cusum_h"), "x", "rules.order_volume.total_cusum_h"),
            (("rules", "order_volume", "total_cusum_h"), 0, "rules.order_volume.total_cusum_h"),
            (("rules", "return_rate", "total_cusum_h"), 6.0, "rules.return_rate.total_cusum_h"),
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

    def test_file_without_rules_says_how_to_start(self) -> None:
        """A file of settings alone runs no rule: it is refused with where to start."""
        with pytest.raises(ConfigError, match=r"default_rules\.toml") as info:
            parse_rules({"settings": {"utc_offset": "8h"}})
        assert info.value.field == "rules"

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


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    table = document
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value


def _key_paths(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in table.items():
        if isinstance(value, dict):
            paths += [(*prefix, key), *_key_paths(value, (*prefix, key))]
        else:
            paths.append((*prefix, key))
    return paths


#: Values of the wrong shape or out of any range, tried on every key of the shipped file.
HOSTILE = [
    "x",
    "",
    ["a", "b"],
    [1],
    [1, 2, 3],
    True,
    0,
    -1,
    10**18,
    1e308,
    float("inf"),
    float("nan"),
    {},
    "9" * 400 + "m",
    "{observed:>999999999}",
]
DETECTOR_KEYS = [
    "sensitivity",
    "direction",
    "grace_period",
    "half_life",
    "clip_sigma",
    "min_scale",
    "guard_above",
    "guard_below",
    "severity_steps",
    "persistence",
    "resolve_after",
    "prior",
    "shift_rate",
    "min_sample_size",
    "prior_spread",
]


class TestConfigMessages:
    """The cases of issue #17 item 10, and a sweep of hostile values over every key."""

    @pytest.mark.parametrize(
        ("path", "value", "message"),
        [
            (
                ("rules", "return_rate", "detector", "persistence"),
                ["a", "b"],
                "expected a list of two integers",
            ),
            (("rules", "return_rate", "detector", "guard_above"), "x", "expected a finite number"),
            (
                ("rules", "order_outlier", "detector", "guard_above"),
                "x",
                "expected a finite number",
            ),
            (
                ("rules", "order_outlier", "detector", "severity_steps"),
                [3, 2],
                "1 <= warning <= critical",
            ),
            (("rules", "return_rate", "detector", "sensitivity"), True, "expected low, medium"),
            (("rules", "return_rate", "runbook"), "{observed:>999999999}", "takes no format spec"),
            (("rules", "return_rate", "runbook"), "{key!r}", "takes no format spec"),
            (("rules", "return_rate", "runbook"), "{key[0]}", "unknown placeholder"),
            (("rules", "return_rate", "window"), "9" * 400 + "m", "between 1 ms and 30 days"),
            (("settings", "utc_offset"), "99h", "within -14h..+14h"),
            (("settings", "utc_offset"), "-15h", "within -14h..+14h"),
        ],
    )
    def test_issue_cases_name_the_field(
        self, path: tuple[str, ...], value: Any, message: str
    ) -> None:
        """Each case is a ConfigError naming its TOML path, with a readable message."""
        document = default_document()
        _set(document, path, value)
        with pytest.raises(ConfigError) as info:
            parse_rules(document)
        assert info.value.field == ".".join(path)
        assert message in info.value.message

    @pytest.mark.parametrize(
        ("offset", "ms"),
        [
            ("+14h", 50_400_000),
            ("-14h", -50_400_000),
            ("5.5h", 19_800_000),
            (-3_600_000, -3_600_000),
        ],
    )
    def test_utc_offset_in_range(self, offset: str | int, ms: int) -> None:
        """Offsets of real time zones, -14h..+14h, are accepted."""
        document = default_document()
        document["settings"]["utc_offset"] = offset
        assert parse_rules(document).utc_offset_ms == ms

    def test_hour_slot_is_read_at_the_window_middle(self) -> None:
        """A windowed detector whose windows are less than an hour apart files a window
        under the hour of its middle (half the window before its end); hourly and daily
        windows keep their end; a rules file cannot set that lag."""
        lags = {r.name: r.detector.slot_lag_ms for r in load_rules().rules if r.detector}
        assert lags["wait_time_p90"] == 15 * 60_000  # 30 min, hop 15 min
        assert lags["order_volume"] == 450_000  # 15 min tumbling
        assert lags["handle_time_p90"] == 30 * 60_000  # 1 h, hop 15 min
        assert lags["complaint_volume"] == 0  # 4 h, hop 1 h
        assert lags["return_rate"] == 0  # 1 d, hop 6 h
        document = default_document()
        document["rules"]["wait_time_p90"]["detector"]["slot_lag_ms"] = 0
        with pytest.raises(ConfigError) as info:
            parse_rules(document)
        assert info.value.field.startswith("rules.wait_time_p90.detector")

    def test_non_utf8_file_names_the_file(self, tmp_path: Path) -> None:
        """A Latin-1 rules file is a ConfigError naming the file, not a decode traceback."""
        path = tmp_path / "rules.toml"
        path.write_bytes(b'[rules.return_rate]\nrunbook = "caf\xe9"\n')
        with pytest.raises(ConfigError) as info:
            load_rules(path)
        assert info.value.field == str(path) and "not UTF-8" in info.value.message

    def test_deep_nesting_is_refused(self, tmp_path: Path) -> None:
        """An absurdly nested array is refused as bad TOML instead of a RecursionError."""
        path = tmp_path / "rules.toml"
        path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_rules(path)

    @pytest.mark.parametrize(
        "path",
        [
            *_key_paths(default_document()),
            *[
                ("rules", rule, "detector", key)
                for rule in ("return_rate", "order_outlier")
                for key in DETECTOR_KEYS
            ],
        ],
        ids=".".join,
    )
    def test_hostile_values_only_raise_config_errors(self, path: tuple[str, ...]) -> None:
        """Any value on any key or table either loads or is a ConfigError naming it."""
        for value in HOSTILE:
            document = default_document()
            _set(document, path, value)
            try:
                parse_rules(document)
            except ConfigError as error:
                # A table replaced by {} may instead name its missing required key.
                named = ".".join(path)
                assert error.field == named or error.field.startswith(named + "."), (value, error)


def test_detector_policy_and_cusum_settings_are_read() -> None:
    """policy, cusum_k and cusum_h reach the detector; a bad policy names its path."""
    from streams.exceptions import ConfigError
    from streams.rules.catalogue import parse_rules

    def rules(**detector: object) -> object:
        return parse_rules(
            {
                "rules": {
                    "order_volume": {
                        "window": "15m",
                        "dimensions": ["total"],
                        "runbook": "Check {key}.",
                        "detector": detector,
                    }
                }
            }
        )

    spec = rules(
        policy="persistence",
        cusum_k=0.5,
        cusum_h=8,  # type: ignore[attr-defined]
        cusum_direction="down",
    ).rules[0]
    assert spec.detector is not None
    assert (
        spec.detector.policy,
        spec.detector.cusum_k,
        spec.detector.cusum_h,
        spec.detector.cusum_direction,
    ) == ("persistence", 0.5, 8, "down")
    with pytest.raises(ConfigError) as info:
        rules(cusum_direction="sideways")
    assert info.value.field == "rules.order_volume.detector.cusum_direction"
    with pytest.raises(ConfigError) as info:
        rules(policy="sometimes")
    assert info.value.field == "rules.order_volume.detector.policy"


def test_settle_defaults_to_the_cohort_and_is_read() -> None:
    """``return_rate`` settles for its cohort, ``complaint_rate`` for its shipped day, a
    rule without either not at all; an explicit ``settle`` wins, 0 switches it off."""
    rules = parse_rules(default_document())
    assert rules.by_name("return_rate").settle_ms == 3 * 86_400_000
    assert rules.by_name("complaint_rate").settle_ms == 86_400_000
    assert rules.by_name("order_volume").settle_ms == 0
    document = default_document()
    document["rules"]["return_rate"]["settle"] = 0
    document["rules"]["order_volume"]["settle"] = "2h"
    rules = parse_rules(document)
    assert rules.by_name("return_rate").settle_ms == 0
    assert rules.by_name("order_volume").settle_ms == 7_200_000


def test_lost_alone_after_defaults_and_is_read() -> None:
    """A lone overdue parcel waits 1.5 x its deadline unless the rules file says
    otherwise; 1 reports it at the deadline."""
    assert parse_rules(default_document()).by_name("lost_parcel").lost_alone == 1.5
    document = default_document()
    document["rules"]["lost_parcel"]["lost_alone_after"] = 1
    assert parse_rules(document).by_name("lost_parcel").lost_alone == 1.0
