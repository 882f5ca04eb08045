"""Paths of the deploy files and lookup of the Prometheus tool binaries.

The binaries come from the Debian packages ``prometheus`` and
``prometheus-alertmanager``. Without them the tests that need them are skipped,
unless ``CI`` (or ``AFTERSALES_REQUIRE_DEPLOY_TOOLS``) is set: then a missing
binary is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
ALERTMANAGER_DIR = DEPLOY / "alertmanager"
GRAFANA_DIR = DEPLOY / "grafana"

# Binary names, first match wins; Debian installs Alertmanager as prometheus-alertmanager.
TOOLS: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("alertmanager", "prometheus-alertmanager"),
    "amtool": ("amtool",),
}
INSTALL_HINT = "apt-get install -y prometheus prometheus-alertmanager"


def tools_required() -> bool:
    """Tell whether a missing tool must fail the run instead of skipping."""
    return bool(os.environ.get("CI") or os.environ.get("AFTERSALES_REQUIRE_DEPLOY_TOOLS"))


def find_tool(tool: str) -> str | None:
    """Return the path of a tool: $<TOOL>_BIN if set, else the first name on PATH."""
    override = os.environ.get(f"{tool.upper()}_BIN")
    if override:
        return override
    for name in TOOLS[tool]:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_tool(tool: str) -> str:
    """Return a tool's path, or skip (fail under CI) the calling test."""
    path = find_tool(tool)
    if path is None:
        reason = f"{tool} not found on PATH (install with: {INSTALL_HINT})"
        if tools_required():
            pytest.fail(f"{reason}; required because CI is set", pytrace=False)
        pytest.skip(reason)
    return path
