"""Collection beside a compiled build (``make install-compiled``).

A module that Python imports from its C extension cannot also be collected from its
``.py`` file (pytest's doctests report an import file mismatch), so those files are
skipped there: their doctests run on the default, pure-Python install, as in CI.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Skip a ``.py`` file that a compiled extension beside it shadows."""
    if collection_path.suffix != ".py":
        return None
    stem = collection_path.with_suffix("")
    if any(Path(f"{stem}{suffix}").exists() for suffix in EXTENSION_SUFFIXES):
        return True
    return None
