"""Digest of everything a replay decides, to compare two versions of the code.

Replays a JSONL input (``aftersales simulate --out``) or the benchmarks' simulated shop
(``--days``) with the shipped rules and prints, per output stream, the count and the
SHA-256 of its bytes: the alerts and the risk records as ``replay --out`` and
``--risk-out`` write them, the dead letters, and (``--decisions``) every series'
decision at every window close. Run it once per tree and compare the lines::

    PYTHONPATH=/path/to/a python benchmarks/replay_digest.py --days 3 > a.txt
    PYTHONPATH=/path/to/b python benchmarks/replay_digest.py --days 3 > b.txt
    diff a.txt b.txt

A performance change that keeps behaviour must print the same digests; the CPU seconds
on the last line are for information only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.logs import configure_logging
from streams.pipeline.closer import Closed
from streams.pipeline.replay import ReplayPipeline, read_jsonl
from streams.risk import RiskRecord
from streams.rules.catalogue import load_rules


class _Digest:
    """Count and SHA-256 of a stream of byte lines."""

    def __init__(self) -> None:
        self.count = 0
        self.sha = hashlib.sha256()

    def add(self, line: bytes) -> None:
        self.count += 1
        self.sha.update(line)
        self.sha.update(b"\n")

    def line(self, name: str) -> str:
        return f"{name:10s} {self.count:9d} {self.sha.hexdigest()}"


def _records(args: argparse.Namespace) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    if args.events is not None:
        with open(args.events, "rb") as lines:
            yield from read_jsonl(lines)
        return
    from benchmarks._common import traffic  # only for --days

    for event in traffic(args.days, seed=args.seed):
        yield event.topic, event.key.encode(), json.dumps(event.value).encode()


def _closed_line(closed: Closed) -> bytes:
    fields = asdict(closed)
    return json.dumps(fields, sort_keys=True, default=str).encode()


def run(records: Iterable[tuple[str, bytes | None, bytes | None]], *, decisions: bool) -> None:
    """Replay ``records`` and print one digest line per output stream."""
    pipeline = ReplayPipeline(load_rules(None))
    alerts, risk, dead, closes = _Digest(), _Digest(), _Digest(), _Digest()

    def on_risk(record: RiskRecord) -> None:
        risk.add(record.to_json())

    pipeline.on_risk = on_risk
    if decisions:
        pipeline.closer.on_closed = lambda closed: closes.add(_closed_line(closed))
    began = time.process_time()
    for alert in pipeline.run(records):
        alerts.add(alert.to_json())
    cpu_s = time.process_time() - began
    for letter in pipeline.dead_letters:
        dead.add(letter.to_json())
    print(alerts.line("alerts"))
    print(risk.line("risk"))
    print(dead.line("dead"))
    if decisions:
        print(closes.line("decisions"))
    print(f"# {pipeline.lines} records, {cpu_s:.1f} s CPU (not compared)")


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=Path, help="replay JSONL input")
    parser.add_argument("--days", type=float, default=3.0, help="simulated days without input")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--decisions", action="store_true", help="also digest every window decision"
    )
    args = parser.parse_args()
    configure_logging("json", "WARNING")  # logs on stderr, digests alone on stdout
    run(_records(args), decisions=args.decisions)


if __name__ == "__main__":
    main()
