"""Shared simulator fixtures: one scaled-down run of the default scenario, kept as columns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from streams.dev.simulator import Simulation, SimulationConfig, build_labels, load_scenario
from streams.dev.simulator.config import DEFAULT_START
from tests.unit.simulator.sim_helpers import Columns, every_incident_config

RUN_ORDERS_PER_DAY = 5_000.0


@dataclass
class Run:
    """A finished simulation, its events as columns, and its labels."""

    sim: Simulation
    cols: Columns
    labels: dict[str, Any]


@pytest.fixture(scope="session")
def default_run() -> Run:
    """The shipped two-week scenario (three weeks in all) at 5,000 orders a day."""
    scenario = load_scenario("default", DEFAULT_START)
    seed = int(os.environ.get("SIM_TEST_SEED", "2026"))  # other seeds: robustness checks
    config = SimulationConfig(
        seed=seed,
        duration=timedelta(days=scenario.days or 21),
        orders_per_day=RUN_ORDERS_PER_DAY,
        incidents=scenario.incidents,
    )
    sim = Simulation(config)
    cols = Columns(sim.events())
    return Run(sim, cols, build_labels(sim))


@pytest.fixture(scope="session")
def small_config() -> SimulationConfig:
    """A fast two-day run with one incident of each type."""
    return every_incident_config()
