"""Child ``aftersales`` processes that leave nothing in the repository.

Faust keeps a data directory ``<app id>-host-data`` in the working directory of
``aftersales worker``; a child started in the repository leaves one there. Tests start
it in their own temporary directory instead (``cwd=tmp_path``) with :func:`child_env`,
which keeps this checkout first on ``PYTHONPATH`` so the child runs the code under test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["REPO", "child_env"]

REPO: Final = Path(__file__).resolve().parents[1]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this checkout first on ``PYTHONPATH`` (for a child started elsewhere)."""
    path = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path}
