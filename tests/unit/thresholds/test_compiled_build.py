"""The stale-build check: a compiled module older than its source stops the import."""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from thresholds._compiled import (
    StaleBuildError,
    is_compiled,
    refuse_stale_build,
    stale_extensions,
)

SUFFIX = EXTENSION_SUFFIXES[0]


def module(folder: Path, name: str, *, source_age: int, build_age: int) -> Path:
    """A source and its extension, each modified ``age`` seconds ago."""
    folder.mkdir(parents=True, exist_ok=True)
    source, extension = folder / f"{name}.py", folder / f"{name}{SUFFIX}"
    source.write_text("x = 1\n")
    extension.write_bytes(b"\x7fELF")
    now = 1_800_000_000
    os.utime(source, (now - source_age, now - source_age))
    os.utime(extension, (now - build_age, now - build_age))
    return source


def test_a_build_newer_than_its_sources_passes(tmp_path: Path) -> None:
    module(tmp_path, "fresh", source_age=60, build_age=10)
    (tmp_path / f"abc123__mypyc{SUFFIX}").write_bytes(b"")  # mypyc's shared library: no source
    (tmp_path / "plain.py").write_text("y = 2\n")  # not compiled
    assert stale_extensions(tmp_path) == []
    refuse_stale_build(tmp_path)


def test_a_source_changed_after_the_build_is_named(tmp_path: Path) -> None:
    module(tmp_path, "fresh", source_age=60, build_age=10)
    stale = module(tmp_path / "sub", "edited", source_age=5, build_age=10)
    assert stale_extensions(tmp_path) == [stale]
    with pytest.raises(StaleBuildError, match=r"edited\.py changed after it was compiled"):
        refuse_stale_build(tmp_path)
    assert issubclass(StaleBuildError, ImportError)


def test_the_message_lists_five_and_counts_the_rest(tmp_path: Path) -> None:
    for i in range(7):
        module(tmp_path, f"m{i}", source_age=1, build_age=10)
    with pytest.raises(StaleBuildError, match=r"m4\.py and 2 more changed .*make install-compiled"):
        refuse_stale_build(tmp_path)


def test_this_install_is_pure_or_fresh() -> None:
    """The packages imported here: no compiled module is older than its source."""
    root = Path(__file__).resolve().parents[3]
    assert stale_extensions(root / "thresholds") == []
    assert stale_extensions(root / "streams") == []


def test_is_compiled_reads_the_module_file() -> None:
    import thresholds._compiled as pure  # never compiled (setup.py)

    assert not is_compiled(pure)
    fake = type(pure)("fake")
    fake.__file__ = f"/x/fake{SUFFIX}"
    assert is_compiled(fake)
