"""Shared helpers of the on-call tests: synthetic order traffic and a replay."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.model import AlertEvent, datetime_to_ms
from streams.pipeline.oncall import OnCall
from streams.pipeline.replay import ReplayPipeline
from streams.rules.calendar import parse_calendar
from streams.rules.catalogue import RuleSet, parse_rules
from streams.rules.mutes import MuteTable
from thresholds.engine import Outcome

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_791_936_000_000  # 2026-10-14T00:00:00Z, a Wednesday


def shipped(
    names: Iterable[str],
    mutes: list[dict[str, Any]] | None = None,
    dimensions: dict[str, list[str]] | None = None,
) -> RuleSet:
    """The shipped rules, only ``names`` enabled, with ``mutes`` and some dimensions."""
    document = tomllib.loads(
        resources.files("streams").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    document["rules"] = {k: v for k, v in document["rules"].items() if k in set(names)}
    for rule, dims in (dimensions or {}).items():
        document["rules"][rule]["dimensions"] = dims
        table = document["rules"][rule]
        if not {table.get("set_apart"), *table.get("set_apart_in", [])} <= set(dims):
            # return_rate sets its region,carrier cells apart in categories: not here.
            table.pop("set_apart", None)
            table.pop("set_apart_in", None)
    if mutes is not None:
        document["mutes"] = mutes
    return parse_rules(document)


def orders(
    seed: int, per_15min: float, until_ms: int, factor: Callable[[int], float]
) -> Iterator[tuple[str, bytes, bytes]]:
    """Placed orders of channel ``app`` from T0: Poisson at ``per_15min * factor(t)``
    (``factor`` <= 4; thinned from the peak rate, so a stop of orders ends on time)."""
    rng = np.random.default_rng(seed)
    peak = 4.0
    t, i = T0, 0
    while True:
        t += int(rng.exponential(15 * MIN / (per_15min * peak)))
        if t >= until_ms:
            return
        if rng.random() * peak >= factor(t):
            continue
        i += 1
        value = {
            "event_id": f"o{i}",
            "ts": t,
            "order_id": f"O{i}",
            "status": "placed",
            "channel": "app",
        }
        yield "orders", f"O{i}".encode(), json.dumps(value).encode()


def firing(alerts: list[AlertEvent], rule: str) -> list[AlertEvent]:
    """The firing events of ``rule``."""
    return [a for a in alerts if a.status == "firing" and a.rule == rule]


def end_ms(alert: AlertEvent) -> int:
    """An alert's window end in epoch ms."""
    return datetime_to_ms(alert.window_end)


def run(pipeline: ReplayPipeline, records: Iterable[tuple[str, bytes, bytes]]) -> list[AlertEvent]:
    """Every alert of a replay."""
    return list(pipeline.run(records))


def sale(scope: dict[str, Any], aftermath: str) -> OnCall:
    """An ``OnCall`` with one x2.5 event, 2026-10-20 (T0 + 6 days) for a day."""
    cal = parse_calendar(
        {
            "events": [
                {
                    "name": "sale",
                    "start": "2026-10-20T00:00:00Z",
                    "end": "2026-10-21T00:00:00Z",
                    "uplift": 2.5,
                    "scope": scope,
                    "aftermath": aftermath,
                }
            ]
        }
    )
    return OnCall(MuteTable(()), cal)


def peeked(
    baseline: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    sample_size: npt.NDArray[np.int64],
) -> Outcome:
    """What the engine peeks before a plan: the band, every row ready and quiet."""
    size = len(baseline)
    zeros = np.zeros(size)
    return Outcome(
        observed=zeros,
        baseline=baseline,
        lower=lower,
        upper=upper,
        score=zeros,
        anomaly_score=zeros,
        z=zeros,
        sample_size=sample_size,
        ready=np.ones(size, np.bool_),
        violating=np.zeros(size, np.bool_),
        direction=np.zeros(size, np.int8),
        severity=np.zeros(size, np.int8),
        alerting=np.zeros(size, np.bool_),
        transition=np.zeros(size, np.int8),
    )
