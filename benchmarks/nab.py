"""Run score-series over the NAB corpus and score it with NAB's method.

Usage: ``.venv/bin/python benchmarks/nab.py [--results DIR] [--nab DIR] [--jobs N] [--split]``.
The NAB directory defaults to ``$NAB_DIR`` or ``../shared/nab`` beside the repo.
``--split`` also scores the dev half (files at even index of the sorted
``data/*/*.csv``, used to compare design variants) and the held-out odd half.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli.score_series import score_series_csv  # noqa: E402


def _one(job: tuple[str, str]) -> str:
    src, dst = job
    score_series_csv(src, dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default_nab = os.environ.get("NAB_DIR", str(ROOT.parent / "shared" / "nab"))
    parser.add_argument("--nab", default=default_nab)
    parser.add_argument("--results", default=str(ROOT / "nab-results"))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--split", action="store_true", help="also score the dev (even) and held-out (odd) halves"
    )
    args = parser.parse_args(argv)
    nab = Path(args.nab)
    results = Path(args.results)
    data = nab / "data"
    jobs = []
    for src in sorted(data.glob("*/*.csv")):
        dst = results / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        jobs.append((str(src), str(dst)))
    t0 = time.perf_counter()
    with Pool(args.jobs) as pool:
        for _ in pool.imap_unordered(_one, jobs):
            pass
    print(f"scored {len(jobs)} files in {time.perf_counter() - t0:.1f} s -> {results}")
    scorer = [sys.executable, str(nab / "nab_score.py"), "--results", str(results)]
    _report(scorer, "")
    if args.split:
        windows = json.loads((nab / "combined_windows.json").read_text())
        names = [str(src.relative_to(data)) for src in sorted(data.glob("*/*.csv"))]
        with tempfile.TemporaryDirectory() as tmp:
            for half, parity in (("dev half", 0), ("held-out half", 1)):
                labels = Path(tmp) / f"windows_{parity}.json"
                subset = {n: windows[n] for i, n in enumerate(names) if i % 2 == parity}
                labels.write_text(json.dumps(subset))
                _report([*scorer, "--labels", str(labels)], f"{half}: ")
    return 0


def _report(scorer: list[str], prefix: str) -> None:
    for label, extra in (("optimize", []), ("alert column", ["--alert-column"])):
        run = subprocess.run(scorer + extra, capture_output=True, text=True, check=True)
        summary = [ln for ln in run.stdout.splitlines() if ln.startswith(("profile=", "NAB "))]
        print(f"== {prefix}{label}")
        print("\n".join(summary))


if __name__ == "__main__":
    raise SystemExit(main())
