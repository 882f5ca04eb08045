"""Resident memory per active series: 10,000 and 100,000 series through both stages.

Each size runs in a fresh subprocess: a :class:`~streams.pipeline.replay.ReplayPipeline` with the
shipped rules gets ``delivered`` orders for ``series / 2`` distinct skus over three 6-hour
windows (so ``return_rate`` and ``complaint_rate`` each hold one series per sku), plus
hourly tick events on every partition of every topic so all windows close. Active series
are counted in the closer's series banks; the RSS growth (after ``gc.collect()``) is divided
by that count. Run: ``.venv/bin/python benchmarks/memory.py [--series 10000 100000]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import Report, rss_bytes

_HOUR_MS = 3_600_000
_START_MS = 1_793_577_600_000  # 2026-11-02T00:00:00Z
_WINDOWS = 3


def _records(skus: int) -> Iterator[tuple[str, bytes, bytes]]:
    def dumps(obj: dict[str, object]) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    n = 0
    for window in range(_WINDOWS):
        base = _START_MS + window * 6 * _HOUR_MS
        for i in range(skus):
            n += 1
            ts = base + (i * 6 * _HOUR_MS) // skus
            order = f"O-{n}"
            yield (
                "orders",
                order.encode(),
                dumps(
                    {
                        "event_id": f"e{n}",
                        "ts": ts,
                        "order_id": order,
                        "status": "delivered",
                        "sku": f"SKU-{i:06d}",
                        "category": "apparel",
                        "region": "north",
                        "carrier": "fastship",
                        "channel": "web",
                        "customer_id": f"C-{i}",
                    }
                ),
            )
            if i % max(1, skus // 6) == 0:  # hourly ticks keep every source's watermark moving
                yield from _ticks(ts, f"{window}-{i}")
    yield from _ticks(_START_MS + (_WINDOWS + 2) * 6 * _HOUR_MS, "end")


def _ticks(ts: int, tag: str) -> Iterator[tuple[str, bytes, bytes]]:
    for k in range(16):  # 16 keys reach all 4 partitions of each topic
        key = f"T-{tag}-{k}"
        yield (
            "orders",
            key.encode(),
            json.dumps(
                {"event_id": f"to{key}", "ts": ts, "order_id": key, "status": "paid"}
            ).encode(),
        )
        yield (
            "complaints",
            key.encode(),
            json.dumps({"event_id": f"tc{key}", "ts": ts, "complaint_id": key}).encode(),
        )
        yield (
            "wait-times",
            key.encode(),
            json.dumps(
                {
                    "event_id": f"tw{key}",
                    "ts": ts,
                    "ticket_id": key,
                    "wait_seconds": 60,
                    "queue": "general",
                }
            ).encode(),
        )


def child(series: int) -> None:
    """Measure one size in this process; print a JSON line."""
    from streams.pipeline.replay import ReplayPipeline
    from streams.rules.catalogue import load_rules

    pipeline = ReplayPipeline(load_rules(None), partitions=4)
    records = list(_records(series // 2))
    gc.collect()
    before = rss_bytes()
    alerts = sum(1 for _ in pipeline.run(records))
    del records
    gc.collect()
    after = rss_bytes()
    active = sum(len(bank.ids) for bank in pipeline.closer.banks.values())
    print(
        json.dumps(
            {
                "series": series,
                "active": active,
                "rss_before": before,
                "rss_after": after,
                "events": pipeline.lines,
                "alerts": alerts,
            }
        )
    )


def main() -> None:
    """Run each size in a fresh subprocess and report bytes per active series."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", type=int)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    report = Report("memory")
    for series in args.series:
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(series)],
            check=True,
            capture_output=True,
            text=True,
            timeout=1_800,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        delta = result["rss_after"] - result["rss_before"]
        per = delta / max(result["active"], 1)
        report.line(
            f"{result['active']:>8,} active series ({result['events']:,} events): "
            f"RSS {result['rss_before'] / 1_048_576:.0f} -> "
            f"{result['rss_after'] / 1_048_576:.0f} MiB, +{delta / 1_048_576:.1f} MiB "
            f"= {per / 1024:.2f} KiB per active series"
            f"{'  (target <= 4 KiB)' if series >= 100_000 else ''}"
        )
    if not args.no_save:
        report.save()


if __name__ == "__main__":
    main()
