"""Cyclic garbage-collector settings for the stream processes (worker, intake, replay)."""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

#: Cyclic-GC thresholds of the stream processes (CPython's default is 700, 10, 10).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """Make the cyclic garbage collector rare in a stream process.

    The worker allocates a few container objects per event (the event, its partial
    updates, records) and keeps large, long-lived, acyclic state (de-duplication ids,
    open windows, baselines). With CPython's default thresholds the collector ran every
    700 allocations and rescanned that state again and again: a quarter of stage 1's
    CPU and two thirds of the closer's decoding in ``benchmarks/throughput.py``. Cycles
    are still collected, only less often; objects alive at start-up are frozen out of
    the scans (``gc.freeze``, Python 3.7+).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
