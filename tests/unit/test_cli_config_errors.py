"""The CLI on bad configuration: one line naming the field, exit 2, never a traceback.

Runs ``python -m streams.cli.main`` as a subprocess (no broker: every case fails
before the worker connects).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD_RULES = {
    "persistence": (
        (
            '[rules.return_rate]\nrunbook = "x"\n[rules.return_rate.detector]\n'
            'persistence = ["a", "b"]\n'
        ),
        "rules.return_rate.detector.persistence",
    ),
    "guard": (
        ('[rules.return_rate]\nrunbook = "x"\n[rules.return_rate.detector]\nguard_above = "x"\n'),
        "rules.return_rate.detector.guard_above",
    ),
    "utc_offset": (
        '[settings]\nutc_offset = "99h"\n[rules.return_rate]\nrunbook = "x"\n',
        "settings.utc_offset",
    ),
    "format_width": (
        '[rules.return_rate]\nrunbook = "{observed:>999999999}"\n',
        "rules.return_rate.runbook",
    ),
    "settings_only": ("[settings]\nrisk_max_keys = 5\n", "rules"),
    "huge_grace": (
        "[rules.order_volume.detector]\ngrace_period = 10000000000000000000000\n",
        "rules.order_volume.detector.grace_period",
    ),
    "infinite_severity_step": (
        "[rules.order_volume.detector]\nseverity_steps = [1.0, inf]\n",
        "rules.order_volume.detector.severity_steps",
    ),
    "huge_window": (
        '[rules.return_rate]\nrunbook = "x"\nwindow = "' + "9" * 400 + 'm"\n',
        "rules.return_rate.window",
    ),
}


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m streams.cli.main ARGS`` with a clean AFTERSALES_* environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], field: str) -> None:
    """Exit 2, no traceback, one stderr line ``Error: invalid configuration: FIELD: ...``."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: invalid configuration: {field}: "), result.stderr


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """A one-line events file (never read: the rules fail first)."""
    path = tmp_path / "events.jsonl"
    path.write_text('{"topic": "orders", "value": {}}\n')
    return path


class TestReplayBadRules:
    @pytest.mark.parametrize("case", sorted(BAD_RULES))
    def test_field_named_without_traceback(self, case: str, tmp_path: Path, events: Path) -> None:
        """``replay --rules BAD.toml`` prints one error line naming the field."""
        text, field = BAD_RULES[case]
        rules = tmp_path / "bad.toml"
        rules.write_text(text)
        assert_one_line_error(run(["replay", str(events), "--rules", str(rules)]), field)

    def test_non_utf8_rules_file_named(self, tmp_path: Path, events: Path) -> None:
        """A Latin-1 rules file is named in one line, not a UnicodeDecodeError traceback."""
        rules = tmp_path / "latin1.toml"
        rules.write_bytes(b'[rules.return_rate]\nrunbook = "caf\xe9"\n')
        assert_one_line_error(run(["replay", str(events), "--rules", str(rules)]), str(rules))


class TestWorkerBadConfig:
    def test_bad_rules_file(self, tmp_path: Path) -> None:
        """``worker --rules BAD.toml`` stops before connecting, naming the field."""
        rules = tmp_path / "bad.toml"
        text, field = BAD_RULES["utc_offset"]
        rules.write_text(text)
        assert_one_line_error(run(["worker", "--rules", str(rules)]), field)

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("AFTERSALES_WEB_PORT", "eighty"),
            ("AFTERSALES_WEB_HOST", "local host"),
            ("AFTERSALES_PERSONAL_LABELS", "scramble"),
            ("AFTERSALES_APP_ID", "a" * 300),
        ],
    )
    def test_bad_variable(self, variable: str, value: str) -> None:
        """A bad environment variable is named in one line."""
        assert_one_line_error(run(["worker"], {variable: value}), variable)

    def test_unknown_variable_warned(self, tmp_path: Path) -> None:
        """An unknown AFTERSALES_* variable is logged as a warning naming it and a suggestion."""
        rules = tmp_path / "bad.toml"
        rules.write_text(BAD_RULES["guard"][0])
        result = run(
            ["worker", "--rules", str(rules)],
            {"AFTERSALES_WEBPORT": "7000", "AFTERSALES_LOG_FORMAT": "json"},
        )
        warning = next(
            line for line in result.stderr.splitlines() if "unknown_setting_variable" in line
        )
        assert '"variable": "AFTERSALES_WEBPORT"' in warning
        assert '"did_you_mean": "AFTERSALES_WEB_PORT"' in warning
