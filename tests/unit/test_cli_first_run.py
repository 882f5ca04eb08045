"""First-run feedback: progress and an end summary on a terminal, nothing extra when
piped, ``--version``, and a hint when a replay raised no alert.

The terminal cases run ``python -m streams.cli.main`` with standard error on a
pseudo-terminal (the ``pty`` module), exactly as a person at a shell sees it.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli.main import main

ESCAPE = "\x1b"


def run_on_terminal(
    args: list[str], cwd: Path, extra_env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run the CLI with standard error on a pseudo-terminal; exit code and what it showed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli.main", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env={**_env(), **(extra_env or {})},
    )
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65_536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(120), shown.decode("utf-8", "replace")


def run_piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with standard output and error captured (not terminals)."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _simulate_surge(tmp_path: Path, *, days: int) -> list[str]:
    """``simulate`` arguments: ``days`` of a small shop with a wait-time surge."""
    return [
        "simulate",
        "--days",
        str(days),
        "--orders-per-day",
        "2000",
        "--incident",
        "wait_time_surge",
        "--out",
        str(tmp_path / "e.jsonl"),
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days (too little history for the rate rules) plus one bad line."""
    path = tmp_path_factory.mktemp("first-run") / "events.jsonl"
    result = run_piped(
        ["simulate", "--days", "2", "--orders-per-day", "2000", "--out", str(path)], path.parent
    )
    assert result.returncode == 0, result.stderr
    with path.open("a") as out:
        out.write('{"topic": "orders", "value": "not an object"}\n')
    return path


class TestTerminal:
    def test_simulate_shows_progress_and_a_summary(self, tmp_path: Path) -> None:
        """On a terminal, simulate redraws events, rate and ETA, then a plain summary."""
        code, shown = run_on_terminal(_simulate_surge(tmp_path, days=2), tmp_path)
        assert code == 0, shown
        assert "\rsimulate: " in shown and " events " in shown and "/s" in shown
        assert "ETA " in shown
        assert "done in " in shown
        assert "simulate: " in shown and "orders " in shown and "wait-times " in shown
        assert "wait_time_surge" in shown

    def test_simulate_on_terminal_in_chinese(self, tmp_path: Path) -> None:
        """With AFTERSALES_LOCALE=zh_CN simulate's progress line and summary are Chinese."""
        code, shown = run_on_terminal(
            _simulate_surge(tmp_path, days=1), tmp_path, {"AFTERSALES_LOCALE": "zh_CN"}
        )
        assert code == 0, shown
        assert "\rsimulate：" in shown and " 条/秒" in shown and "完成，用时 " in shown
        assert "模拟：" in shown and "条事件，写入 " in shown and "orders " in shown
        assert "注入事件：1 个" in shown and "wait_time_surge" in shown and "开始于 " in shown
        assert "ETA" not in shown and "incidents:" not in shown

    def test_replay_shows_progress_summary_and_hint(self, two_days: Path, tmp_path: Path) -> None:
        """On a terminal, replay redraws progress, then alerts and dead letters by reason,
        and the warm-up hint since nothing fired."""
        code, shown = run_on_terminal(
            ["replay", str(two_days), "--out", str(tmp_path / "alerts.jsonl")], tmp_path
        )
        assert code == 0, shown
        assert "\rreplay: " in shown and "ETA " in shown and "done in " in shown
        assert "alerts: 0 firing, 0 resolved" in shown
        assert "dead letters: 1" in shown
        assert "not_object" in shown
        assert "hint: no alert fired" in shown
        assert "return_rate" in shown and "8.0 days" in shown

    def test_replay_on_terminal_in_chinese(self, two_days: Path, tmp_path: Path) -> None:
        """With AFTERSALES_LOCALE=zh_CN the progress line, the summary and the hint are
        Chinese; the Chinese progress line is redrawn like the English one."""
        code, shown = run_on_terminal(
            ["replay", str(two_days), "--out", str(tmp_path / "alerts.jsonl")],
            tmp_path,
            {"AFTERSALES_LOCALE": "zh_CN"},
        )
        assert code == 0, shown
        assert "\rreplay：" in shown and " 条/秒" in shown
        assert "预计剩余 " in shown and "完成，用时 " in shown
        assert "告警：触发 0 条，恢复 0 条" in shown and "死信：1 条" in shown
        assert "提示：没有触发告警" in shown and "8.0 天" in shown
        assert "ETA" not in shown and "hint:" not in shown


class TestPiped:
    def test_simulate_piped_has_no_progress_and_keeps_its_json_summary(
        self, tmp_path: Path
    ) -> None:
        """Piped, simulate writes no progress line and its one-line JSON summary."""
        result = run_piped(
            [
                "simulate",
                "--days",
                "0.5",
                "--orders-per-day",
                "2000",
                "--out",
                str(tmp_path / "e.jsonl"),
            ],
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "\r" not in result.stderr and ESCAPE not in result.stderr
        assert result.stderr.startswith('{"events": ')

    def test_replay_piped_has_no_progress_or_escape_codes(
        self, two_days: Path, tmp_path: Path
    ) -> None:
        """Piped, replay prints the plain summary and hint but no progress or escapes."""
        result = run_piped(["replay", str(two_days)], tmp_path)
        assert result.returncode == 0, result.stderr
        assert "\r" not in result.stderr and ESCAPE not in result.stderr
        assert "ETA" not in result.stderr
        assert "dead letters: 1" in result.stderr
        assert "hint: no alert fired" in result.stderr


class TestVersion:
    def test_version_comes_from_package_metadata(self) -> None:
        """``aftersales --version`` prints the installed distribution's version."""
        result = CliRunner().invoke(main, ["--version"])
        assert result.exit_code == 0
        assert result.output == f"aftersales {version('aftersales-monitor')}\n"


class TestCompletion:
    def test_bash_completion_names_the_commands(self) -> None:
        """The completion documented in docs/cli.md completes command names."""
        result = CliRunner().invoke(
            main,
            [],
            prog_name="aftersales",
            env={
                "_AFTERSALES_COMPLETE": "bash_complete",
                "COMP_WORDS": "aftersales rep",
                "COMP_CWORD": "1",
            },
        )
        assert result.output.splitlines() == ["plain,replay"]
        docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
        assert "_AFTERSALES_COMPLETE=bash_source aftersales" in docs


class TestHint:
    def test_no_hint_when_alerts_fired(self, tmp_path: Path) -> None:
        """A replay that raises alerts shows them by rule and severity, and no hint."""
        events = tmp_path / "burst.jsonl"
        made = run_piped(
            [
                "simulate",
                "--days",
                "1",
                "--orders-per-day",
                "2000",
                "--incident",
                "customer_burst",
                "--out",
                str(events),
            ],
            tmp_path,
        )
        assert made.returncode == 0, made.stderr
        result = CliRunner().invoke(
            main, ["replay", str(events), "--out", str(tmp_path / "a.jsonl")]
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / "a.jsonl").read_text().count('"customer_order_burst"') > 0
        table = result.stderr.split("alerts:")[1].splitlines()
        assert table[1].split() == ["rule", "critical", "warning", "info"]
        assert any(line.split()[0] == "customer_order_burst" for line in table[2:])
        assert "hint:" not in result.stderr
