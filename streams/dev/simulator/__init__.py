"""Realistic, seeded after-sales traffic with injectable incidents and ground-truth labels.

Pure generation (:class:`Simulation`, yielding :class:`Event` in event-time order) is kept
apart from output (:func:`write_events_file`, :func:`produce_events`) and from the click
adapter (:mod:`streams.dev.simulator.cli`). Module map:

- ``config``: :class:`SimulationConfig` and its category/region specs
- ``catalog``: SKUs, prices, Zipf popularity; ``seasonality``: daily/weekly profile, noise
- ``orders``: vectorised order lifecycles; ``service``: customer-service waits
- ``incidents``: one dataclass per incident type; ``scenario``: scenario files
- ``generator``: the simulation loop; ``schedule``: the event-time calendar queue
- ``labels``: what each incident should trigger; ``jsonl`` / ``kafka``: outputs
- ``hostile``: malformed inputs for intake tests
"""

from streams.dev.simulator.config import CategorySpec, RegionSpec, SimulationConfig
from streams.dev.simulator.events import TOPICS, Event
from streams.dev.simulator.generator import Simulation, simulate
from streams.dev.simulator.hostile import BadEvent, bad_events
from streams.dev.simulator.incidents import (
    INCIDENT_TYPES,
    CarrierDamage,
    ComplaintSpike,
    CustomerBurst,
    Incident,
    OrderDrop,
    SkuReturnSpike,
    WaitTimeSurge,
    WrongPrice,
)
from streams.dev.simulator.jsonl import write_events, write_events_file, write_labels_file
from streams.dev.simulator.labels import build_labels
from streams.dev.simulator.scenario import Scenario, load_scenario

__all__ = [
    "INCIDENT_TYPES",
    "TOPICS",
    "BadEvent",
    "CarrierDamage",
    "CategorySpec",
    "ComplaintSpike",
    "CustomerBurst",
    "Event",
    "Incident",
    "OrderDrop",
    "RegionSpec",
    "Scenario",
    "Simulation",
    "SimulationConfig",
    "SkuReturnSpike",
    "WaitTimeSurge",
    "WrongPrice",
    "bad_events",
    "build_labels",
    "load_scenario",
    "simulate",
    "write_events",
    "write_events_file",
    "write_labels_file",
]
