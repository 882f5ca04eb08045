"""Re-score a saved quality-matrix run against today's oracles, without replaying it.

The engine's alerts, and so each incident's detection and delay, are in the run's
``.json``; the oracle delays come from :func:`benchmarks.matrix_scenario.build_run`,
which rebuilds each (volume, seed) cell's incidents from its parameters in well under a
second. Use it when the yardstick changes and the engine did not: the delays are the
saved ones, only the oracles, ratios and "within the limit" rows are recomputed.

Run: ``.venv/bin/python benchmarks/matrix_rescore.py RUN.json [RUN.json ...]``; prints
the tables :func:`benchmarks.quality_matrix.table` prints for a live run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.matrix_scenario import VOLUMES, build_run
from benchmarks.matrix_scoring import Episode, FalseSummary, IncidentScore
from benchmarks.quality_matrix import table
from streams.rules.catalogue import RuleSet, load_rules


def rescored(cell: dict[str, Any], rules: RuleSet) -> dict[str, Any]:
    """One saved cell with its incidents' oracles recomputed (wrong prices keep theirs:
    their oracle is the first mis-priced order, seen during the run)."""
    run = build_run(cell["volume"], cell["seed"], rules)
    scores = []
    for saved in cell["incidents"]:
        # ``incident-N`` is the run's N-th incident (a ``--topics`` run saves only some).
        index = int(saved["id"].rsplit("-", 1)[1]) - 1
        now = run.incidents[index] if 0 <= index < len(run.incidents) else None
        if now is None or (saved["kind"], saved["magnitude"]) != (now.kind, now.magnitude):
            msg = f"seed {cell['seed']} {cell['volume']}: incident {saved['id']} differs"
            raise ValueError(msg)
        oracle = saved["oracle_ms"] if now.kind == "wrong_price" else now.oracle_ms
        first = saved.get("first")
        scores.append(
            IncidentScore(
                saved["id"],
                saved["kind"],
                saved["magnitude"],
                saved["detected"],
                saved["delay_ms"],
                saved["delay_from_first_extra_ms"],
                oracle,
                Episode(**first) if first else None,
            )
        )
    f = cell["false"]
    return {
        **cell,
        "scores": scores,
        "false": FalseSummary(
            f["episodes"],
            f["false"],
            f["days"],
            f["per_rule"],
            [Episode(**e) for e in f["list"]],
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="quality-matrix .json files")
    parser.add_argument("--rules", default=None, help="rules file the runs used")
    args = parser.parse_args(argv)
    rules = load_rules(args.rules)
    cells: dict[str, list[dict[str, Any]]] = {"TUNE": [], "REPORT": []}
    for path in args.runs:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        for group in cells:
            cells[group] += [rescored(cell, rules) for cell in saved.get(group, [])]
    for group, mine in cells.items():
        if mine:
            seeds = sorted({c["seed"] for c in mine})
            print(table(mine, list(VOLUMES), f"\n== {group} seeds {seeds}, re-scored =="))
    return 0


if __name__ == "__main__":
    sys.exit(main())
