"""CSV adapter for ``aftersales score-series``: rows in, scores out.

Reads ``timestamp,value`` (timestamps as NAB's ``2014-04-01 00:00:00``, RFC 3339
with or without offset, or integer epoch milliseconds; naive times are UTC),
runs :class:`thresholds.SeriesScorer` row by row in file order, and writes
``timestamp,value,anomaly_score,alert`` with the input's timestamp and value
text unchanged.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TextIO

from thresholds import SeriesScorer

__all__ = ["parse_timestamp_ms", "score_rows", "score_series_csv"]


def parse_timestamp_ms(text: str) -> int:
    """Return epoch milliseconds for a NAB, RFC 3339 or epoch-ms timestamp."""
    s = text.strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        msg = f"timestamp {text!r} is neither RFC 3339 / 'YYYY-MM-DD HH:MM:SS' nor epoch ms"
        raise ValueError(msg) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def score_rows(rows: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str, float, int]]:
    """Yield ``(timestamp, value, anomaly_score, alert)`` for ``(timestamp, value)`` rows."""
    scorer = SeriesScorer()
    for line, (ts_text, value_text) in enumerate(rows, start=2):
        try:
            value = float(value_text)
            out = scorer.score(parse_timestamp_ms(ts_text), value)
        except ValueError as exc:
            msg = f"line {line}: {exc}"
            raise ValueError(msg) from exc
        yield ts_text, value_text, out.anomaly_score, out.alert


def _read(handle: TextIO) -> Iterator[tuple[str, str]]:
    reader = csv.reader(handle)
    header = [h.strip().lower() for h in next(reader, [])]
    try:
        t_col, v_col = header.index("timestamp"), header.index("value")
    except ValueError:
        msg = f"input needs the columns timestamp,value; got {','.join(header)!r}"
        raise ValueError(msg) from None
    for row in reader:
        if row:
            yield row[t_col], row[v_col]


def score_series_csv(input_path: str, output_path: str | None) -> None:
    """Score ``input_path`` and write the result CSV to ``output_path`` (stdout if None)."""
    with open(input_path, newline="", encoding="utf-8") as src:
        rows = list(_read(src))
    out_handle: TextIO
    if output_path is None:
        out_handle = sys.stdout
        _write(out_handle, rows)
    else:
        with open(output_path, "w", newline="", encoding="utf-8") as out_handle:
            _write(out_handle, rows)


def _write(handle: TextIO, rows: list[tuple[str, str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score", "alert"])
    for ts_text, value_text, score, alert in score_rows(rows):
        writer.writerow([ts_text, value_text, repr(score), alert])
