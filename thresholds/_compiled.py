"""Refuse to run a compiled build whose sources changed after it was built.

``make install-compiled`` compiles the hot modules with mypyc into C extensions beside
their sources (``setup.py``), and Python imports an extension before a ``.py`` file of the
same name. A source edited or checked out after the build would be ignored without a
word, so each package calls :func:`refuse_stale_build` before its modules are imported.
A pure-Python install has no extensions and the check finds nothing. Standard library
only: it runs first.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

__all__ = ["StaleBuildError", "is_compiled", "refuse_stale_build", "stale_extensions"]


class StaleBuildError(ImportError):
    """A compiled module is older than its source."""


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was imported from a compiled extension (tests that replace a
    module's functions skip there: compiled callers call them directly)."""
    return str(getattr(module, "__file__", "")).endswith(tuple(EXTENSION_SUFFIXES))


def stale_extensions(package_dir: Path) -> list[Path]:
    """The sources under ``package_dir`` changed (modified later) than their compiled
    extension, sorted."""
    stale: list[Path] = []
    for suffix in EXTENSION_SUFFIXES:
        for extension in package_dir.rglob(f"*{suffix}"):
            source = extension.with_name(extension.name[: -len(suffix)] + ".py")
            if source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
                stale.append(source)
    return sorted(set(stale))


def refuse_stale_build(package_dir: Path) -> None:
    """Raise :class:`StaleBuildError` naming the changed sources, if there are any."""
    stale = stale_extensions(package_dir)
    if stale:
        names = ", ".join(str(path) for path in stale[:5])
        more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
        msg = (
            f"{names}{more} changed after it was compiled: rebuild with "
            "`make install-compiled`, or run the sources after `make clean-compiled`"
        )
        raise StaleBuildError(msg)
