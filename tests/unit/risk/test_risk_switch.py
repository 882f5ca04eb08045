"""``AFTERSALES_RISK_SCORE=false``: the intake makes no risk facts (so no closer scores an
order and nothing is published on the order-risk topic); every rule still runs."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.pipeline.replay import Stage1, Stage1Output
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

T0 = 1_793_000_000_000


def _placed(i: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"O-{i}:placed",
            "ts": T0 + i * 1_000,
            "order_id": f"O-{i}",
            "status": "placed",
            "customer_id": f"C-{i}",
            "sku": "S-1",
            "category": "toys",
            "channel": "web",
            "amount": 20.0,
        }
    ).encode()


def _run(risk: bool) -> tuple[Stage1Output, Stage1]:
    stage1 = Stage1(load_rules(None), {t: f"aftersales.{t}" for t in TOPICS}, risk=risk)
    out = Stage1Output()
    for i in range(5):
        stage1.process("orders", 0, i, f"O-{i}".encode(), _placed(i), out)
    stage1.seal(out)
    return out, stage1


def test_off_makes_no_risk_facts_and_keeps_every_rule() -> None:
    """Off: no facts; the same orders still reach the rules' windows as with it on."""
    on, stage_on = _run(risk=True)
    off, stage_off = _run(risk=False)
    assert len(on.risk_facts) == 5 and off.risk_facts == []
    assert off.dead_letters == [] and on.dead_letters == []
    assert stage_off.intake.counts == stage_on.intake.counts
    assert stage_off.aggregators.keys() == stage_on.aggregators.keys()


def test_the_worker_takes_the_setting() -> None:
    """The worker's (and so each intake process's) stage 1 follows the setting."""
    metrics = AlertMetrics.create(CollectorRegistry())
    rules = load_rules(None)
    on = Worker(Settings.from_env({}), rules, metrics)
    off = Worker(Settings.from_env({"AFTERSALES_RISK_SCORE": "false"}), rules, metrics)
    assert on.stage1.risk is True and off.stage1.risk is False
