"""CPU cost of ``decode_event`` per input value, on simulated traffic.

Decodes the values of a simulated day (``streams.dev.simulator``) with
``streams.contract.validation.decode_event`` and prints microseconds per value per topic (best of
``--repeat`` passes: the least disturbed by other work on a shared machine). ``--src DIR``
times the code of another checkout (e.g. main) with this same script and traffic, for a
same-session comparison. Run: ``.venv/bin/python benchmarks/decode.py [--src DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Simulate, then time decode_event per topic."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", type=Path, default=_ROOT, help="checkout whose code is timed")
    parser.add_argument("--days", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    from benchmarks._common import encode, traffic
    from streams.contract.validation import decode_event

    values: dict[str, list[bytes]] = defaultdict(list)
    for event in traffic(args.days):
        values[event.topic].append(encode(event))
    print(f"# decode benchmark: code of {args.src.resolve()}; {args.days:g} simulated days")
    total_s = total_n = 0.0
    for topic, raws in sorted(values.items()):
        best = float("inf")
        for _ in range(args.repeat):
            began = time.process_time()
            for raw in raws:
                decode_event(topic, raw)  # type: ignore[arg-type]
            best = min(best, time.process_time() - began)
        total_s += best
        total_n += len(raws)
        print(f"{topic:<12} {len(raws):>8,} values  {best / len(raws) * 1e6:6.2f} us/value")
    print(f"{'all':<12} {int(total_n):>8,} values  {total_s / total_n * 1e6:6.2f} us/value")


if __name__ == "__main__":
    main()
