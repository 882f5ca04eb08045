"""Fixtures for the deploy tests: the Prometheus tool binaries (see deploy_tools)."""

from __future__ import annotations

import pytest

from tests.deploy.deploy_tools import require_tool


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool."""
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    """Path of amtool."""
    return require_tool("amtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    """Path of the prometheus server."""
    return require_tool("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    """Path of the alertmanager server."""
    return require_tool("alertmanager")
