"""Time one window for 100,000 series per metric kind, and report state sizes.

Usage: ``.venv/bin/python benchmarks/engine.py [--series N] [--runs R]``.
Targets: one window for 100,000 series in under 0.5 s; at most 4096 bytes of
state per series, seasonal profile included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from thresholds import STATE_BYTES, DetectorConfig, SeriesBank

TIME_TARGET_S = 0.5
SIZE_TARGET_B = 4096
HOUR_MS = 3_600_000


def _inputs(kind: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    lam = rng.uniform(5, 200, size)
    if kind == "count":
        return rng.poisson(lam).astype(float), None
    den = rng.poisson(lam).astype(float)
    if kind == "ratio":
        return rng.binomial(den.astype(int), 0.15).astype(float), den
    return rng.lognormal(5.5, 0.3, size), den + 1


def bench(kind: str, size: int, runs: int, warm: int) -> tuple[float, float]:
    """Return (median seconds per window, in-memory bytes per series)."""
    rng = np.random.default_rng(0)
    bank = SeriesBank(DetectorConfig(kind=kind))  # type: ignore[arg-type]
    rows = bank.rows([f"{kind}-{i}" for i in range(size)])
    for t in range(warm):
        bank.evaluate(t * HOUR_MS, rows, *_inputs(kind, rng, size))
    times = []
    for t in range(warm, warm + runs):
        value, sample = _inputs(kind, rng, size)
        start = time.perf_counter()
        bank.evaluate(t * HOUR_MS, rows, value, sample)
        times.append(time.perf_counter() - start)
    return statistics.median(times), bank.memory_bytes_per_series()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warm", type=int, default=30, help="windows before timing")
    args = parser.parse_args(argv)
    print(f"one window for {args.series:,} series (median of {args.runs} runs)")
    for kind in ("count", "ratio", "percentile"):
        seconds, mem = bench(kind, args.series, args.runs, args.warm)
        print(
            f"  {kind:<10} {seconds * 1000:7.1f} ms   {seconds / TIME_TARGET_S:5.1%} of the "
            f"{TIME_TARGET_S} s target   in-memory state {mem:.0f} B/series"
        )
    print(
        f"serialised state per series: {STATE_BYTES} B ({STATE_BYTES / SIZE_TARGET_B:.1%} of "
        f"{SIZE_TARGET_B} B), seasonal profile (24 hours + 7 weekdays) included"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
