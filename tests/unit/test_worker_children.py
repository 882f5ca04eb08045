"""Child ``worker`` processes that tests and benchmarks start run outside the repository.

Faust writes ``<app id>-host-data/`` into the worker's working directory, so a child
started without ``cwd`` (or with the repository as ``cwd``) leaves a folder in the tree.
The calls are found with :mod:`ast` (nothing runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
STARTERS = frozenset({"Popen", "run", "call", "check_call", "check_output"})
REPOSITORY_NAMES = frozenset({"ROOT", "REPO"})


def _starts_worker(call: ast.Call) -> bool:
    """``subprocess.<starter>([..., "worker", ...], ...)``."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in STARTERS and call.args):
        return False
    command = call.args[0]
    return isinstance(command, ast.List) and any(
        isinstance(item, ast.Constant) and item.value == "worker" for item in command.elts
    )


def _worker_starts(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and _starts_worker(node):
            yield node


def _in_repository(call: ast.Call) -> bool:
    """No ``cwd``, or ``cwd`` is the repository root (``ROOT``/``REPO``)."""
    cwd = next((k.value for k in call.keywords if k.arg == "cwd"), None)
    return cwd is None or (isinstance(cwd, ast.Name) and cwd.id in REPOSITORY_NAMES)


class TestWorkerChildren:
    def test_some_are_found(self) -> None:
        """The scan sees the known worker starts (so an empty result means nothing)."""
        found = [path.name for path in SOURCES for _ in _worker_starts(path)]
        assert {"test_recovery.py", "test_kafka_security.py", "soak.py"} <= set(found)

    @pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
    def test_worker_runs_outside_the_repository(self, path: Path) -> None:
        """Every ``worker`` child gets a ``cwd`` that is not the repository root."""
        offenders = [call.lineno for call in _worker_starts(path) if _in_repository(call)]
        assert offenders == [], f"{path.name}: start the worker with cwd=tmp_path"
