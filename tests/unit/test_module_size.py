"""Small modules: one over ``LIMIT`` lines says why in its docstring (issue 11).

The reason is a paragraph of the module docstring that starts with ``Size:``; it names
what keeps the module whole, or the split that is still owed. A module that shrinks
under the limit may drop it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "thresholds", "alerts")
LIMIT = 400


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _long_modules() -> list[Path]:
    return [p for p in _modules() if len(p.read_text(encoding="utf-8").splitlines()) > LIMIT]


def _has_reason(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraphs = [part.strip() for part in docstring.split("\n\n")]
    return any(part.startswith("Size:") and len(part) > len("Size:") + 20 for part in paragraphs)


def test_the_packages_have_modules() -> None:
    assert len(_modules()) > 50  # the walk finds the tree (a moved root would pass vacuously)


@pytest.mark.parametrize("path", _long_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_why(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert _has_reason(path), (
        f"{path.relative_to(ROOT)} has {lines} lines (limit {LIMIT}): split it, or say why "
        "it stays whole in a 'Size:' paragraph of its docstring"
    )


def test_the_reason_is_read_from_the_docstring(tmp_path: Path) -> None:
    with_reason = tmp_path / "a.py"
    with_reason.write_text('"""Title.\n\nSize: one state machine whose parts share state."""\n')
    without = tmp_path / "b.py"
    without.write_text('"""Title.\n\nSize:"""\n# Size: a comment is no reason\n')
    assert _has_reason(with_reason)
    assert not _has_reason(without)
