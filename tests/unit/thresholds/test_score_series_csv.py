"""The score-series CSV adapter (streams/cli/score_series.py)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from streams.cli.score_series import parse_timestamp_ms, score_series_csv


class TestParseTimestamp:
    @pytest.mark.parametrize(
        ("text", "ms"),
        [
            ("2014-04-01 00:00:00", 1_396_310_400_000),
            ("2014-04-01T02:00:00+02:00", 1_396_310_400_000),
            ("2014-04-01T00:00:00Z", 1_396_310_400_000),
            ("2014-04-01 00:00:00.250000", 1_396_310_400_250),
            ("1396310400000", 1_396_310_400_000),
        ],
    )
    def test_formats(self, text: str, ms: int) -> None:
        """NAB, RFC 3339 and epoch-ms timestamps map to the same epoch milliseconds."""
        assert parse_timestamp_ms(text) == ms

    def test_garbage_names_value(self) -> None:
        """An unparseable timestamp raises ValueError quoting it."""
        with pytest.raises(ValueError, match="yesterday"):
            parse_timestamp_ms("yesterday")


class TestScoreSeriesCsv:
    def _write(self, path: Path, rows: list[tuple[str, str]]) -> None:
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value"])
            w.writerows(rows)

    def test_columns_and_rows(self, tmp_path: Path) -> None:
        """Output keeps rows and order, with anomaly_score in [0, 1] and alert 0/1."""
        rows = [
            (f"2014-04-01 00:{i // 60:02d}:{i % 60:02d}", str(10 + (i % 7))) for i in range(400)
        ]
        rows[200] = (rows[199][0], "9")  # repeated timestamp
        rows[300] = ("2014-04-01 00:00:00", "11")  # step back in time
        src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
        self._write(src, rows)
        score_series_csv(str(src), str(dst))
        out = list(csv.DictReader(dst.open()))
        assert [(r["timestamp"], r["value"]) for r in out] == rows
        assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in out)
        assert {r["alert"] for r in out} <= {"0", "1"}

    def test_stdout(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without an output path the CSV goes to stdout."""
        src = tmp_path / "in.csv"
        self._write(src, [("1396310400000", "1"), ("1396310460000", "2")])
        score_series_csv(str(src), None)
        assert capsys.readouterr().out.splitlines()[0] == "timestamp,value,anomaly_score,alert"

    def test_nan_value_names_line(self, tmp_path: Path) -> None:
        """A NaN value raises ValueError naming the line and the value."""
        src = tmp_path / "in.csv"
        self._write(src, [("1396310400000", "1"), ("1396310460000", "nan")])
        with pytest.raises(ValueError, match=r"line 3: value .*nan"):
            score_series_csv(str(src), str(tmp_path / "o.csv"))

    def test_deterministic(self, tmp_path: Path) -> None:
        """Two runs over the same file give byte-identical output."""
        src = tmp_path / "in.csv"
        self._write(
            src,
            [(str(i * 60_000), repr(math.sin(i / 9) * 50 + (i == 500) * 400)) for i in range(900)],
        )
        score_series_csv(str(src), str(tmp_path / "a.csv"))
        score_series_csv(str(src), str(tmp_path / "b.csv"))
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
