"""``aftersales simulate --start now --history-days D``: history before now, incidents
relative to now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from streams.dev.simulator.cli import simulate
from streams.dev.simulator.timefmt import parse_ts


class TestHistoryBeforeNow:
    def test_history_ends_at_now_and_incidents_follow_it(self, tmp_path: Path) -> None:
        """Events start about D days before now; a +5m incident starts 5 minutes after now."""
        out = tmp_path / "events.jsonl"
        before = datetime.now(UTC).replace(second=0, microsecond=0)
        result = CliRunner().invoke(
            simulate,
            [
                "--start",
                "now",
                "--history-days",
                "1",
                "--days",
                "0.05",
                "--orders-per-day",
                "1000",
                "--incident",
                "customer_burst:start=+5m",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        times = [parse_ts(json.loads(line)["value"]["ts"]) for line in out.open()]
        now_ms = before.timestamp() * 1000
        assert abs(times[0] - (now_ms - 86_400_000)) < 3_600_000
        assert max(times) < now_ms + 0.06 * 86_400_000
        (incident,) = json.loads(result.stderr.splitlines()[-1])["incidents"]
        start = datetime.fromisoformat(incident["start"])
        assert timedelta(minutes=5) <= start - before <= timedelta(minutes=6)

    def test_without_history_nothing_changes(self, tmp_path: Path) -> None:
        """Without --history-days the run starts at --start, as before."""
        out = tmp_path / "events.jsonl"
        result = CliRunner().invoke(
            simulate,
            [
                "--start",
                "2026-11-02T00:00:00Z",
                "--days",
                "0.05",
                "--orders-per-day",
                "1000",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        first = parse_ts(json.loads(out.open().readline())["value"]["ts"])
        assert first >= parse_ts("2026-11-02T00:00:00Z")
