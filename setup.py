"""Build hook: the pipeline's hot modules compiled with mypyc, on request.

The project is plain Python; ``pyproject.toml`` holds everything else. This file only adds
C extensions built by mypyc (mypy's compiler of type-annotated Python) from the modules in
:data:`COMPILED_DIRS` less :data:`NOT_COMPILED`: the per-event and per-window code of
stage 1, the closer and the risk score. Replay needs about 30 % less CPU with them and
decides exactly the same (docs/benchmarks.md, "Compiled with mypyc").

Opt-in: ``make install-compiled`` (``AFTERSALES_COMPILE=1``, with the dev extra's mypy and
a C compiler). The default install, ``make install``, is pure Python. The sources stay
the single truth: an extension shadows its ``.py`` file, and
:mod:`thresholds._compiled` refuses to import a package whose sources changed after the
build (``make clean-compiled`` goes back to the sources).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent

#: Compiled: what runs per event or per window close. Not compiled, each for a reason:
#: modules whose work is NumPy array code (compiling gains nothing, and mypyc's stricter
#: typing of NumPy results breaks them); ``wire.py`` (its records subclass ``tuple``,
#: which mypyc cannot compile as native classes); ``contract/validation.py`` (msgspec
#: reads its Structs' annotations, which a compiled class no longer carries); the rules
#: file's model (``streams/rules/*.py``, only ``builtin/`` is compiled) and
#: ``thresholds/config.py``: a compiled frozen dataclass cannot be unpickled, and the
#: rules go to the intake children pickled; the stale-build check (it must run first); package
#: ``__init__`` files and all of the runtime, adapters and tools (I/O-bound or run once).
COMPILED_DIRS = (
    "thresholds",
    "streams/contract",
    "streams/pipeline",
    "streams/risk",
    "streams/rules/builtin",
)
NOT_COMPILED = frozenset(
    {
        "thresholds/_validate.py",
        "thresholds/bank.py",
        "thresholds/engine.py",
        "thresholds/kinds.py",
        "thresholds/seasonal.py",
        "thresholds/series_scorer.py",
        "thresholds/tails.py",
        "thresholds/_compiled.py",
        "thresholds/config.py",
        "streams/contract/validation.py",
        "streams/pipeline/wire.py",
    }
)


def compiled_sources() -> list[str]:
    """The module files mypyc compiles, relative to the project root, sorted."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for folder in COMPILED_DIRS
        for path in (ROOT / folder).glob("*.py")
        if path.name != "__init__.py" and path.relative_to(ROOT).as_posix() not in NOT_COMPILED
    )


def _extensions() -> list[object]:
    if os.environ.get("AFTERSALES_COMPILE", "0") != "1":
        return []
    from mypyc.build import mypycify  # the dev extra's mypy; fails loudly without it

    return list(mypycify(compiled_sources(), opt_level="3"))


setup(ext_modules=_extensions())
