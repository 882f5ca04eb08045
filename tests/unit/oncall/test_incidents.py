"""Incident folding through ``replay``: a carrier problem that moves 50 SKU return rates
yields one incident on the region x carrier cell, listing its children."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from alerts.model import AlertEvent
from streams.pipeline.replay import ReplayPipeline
from tests.unit.oncall.helpers import DAY, HOUR, T0, shipped

pytestmark = pytest.mark.slow

SKUS = [f"SKU-{i:02d}" for i in range(50)]
PROBLEM = (T0 + 10 * DAY, T0 + 13 * DAY)


def traffic(seed: int = 2) -> list[tuple[str, bytes, bytes]]:
    """40 deliveries per SKU a day, 70 % by bluebox in west; 10 % returned, except
    bluebox-west parcels delivered in PROBLEM (60 %)."""
    rng = np.random.default_rng(seed)
    events: list[tuple[int, dict[str, Any]]] = []
    n = 0
    for day in range(15):
        for sku in SKUS:
            for ts in sorted(rng.uniform(8, 20, 40)):
                n += 1
                t = T0 + day * DAY + int(ts * HOUR)
                west = rng.random() < 0.7
                cell = (
                    {"region": "west", "carrier": "bluebox"}
                    if west
                    else {"region": "north", "carrier": "redbox"}
                )
                order = {"order_id": f"O{n}", "sku": sku, "category": "shoes", **cell}
                events.append((t, {**order, "event_id": f"d{n}", "ts": t, "status": "delivered"}))
                bad = west and PROBLEM[0] <= t < PROBLEM[1]
                if rng.random() < (0.6 if bad else 0.1):
                    r = t + int(rng.uniform(2, 20) * HOUR)
                    events.append(
                        (
                            r,
                            {
                                **order,
                                "event_id": f"r{n}",
                                "ts": r,
                                "status": "return_requested",
                                "reason": "damaged",
                            },
                        )
                    )
    events.sort(key=lambda item: item[0])
    return [("orders", e["order_id"].encode(), json.dumps(e).encode()) for _, e in events]


@pytest.fixture(scope="module")
def alerts() -> list[AlertEvent]:
    document_rules = shipped(["return_rate"], dimensions={"return_rate": ["sku", "region,carrier"]})
    from dataclasses import replace

    rule = replace(document_rules.rules[0], context=("carrier", "region", "reason"))
    rules = replace(document_rules, rules=(rule,))
    return list(ReplayPipeline(rules, partitions=2, max_future_ms=None).run(traffic()))


class TestFolding:
    def test_one_incident_lists_the_children(self, alerts: list[AlertEvent]) -> None:
        """The SKUs' episodes fold into one incident on west x bluebox, its children listed
        with the share of the excess each explains."""
        sku_alerts = {a.key for a in alerts if a.dimension == "sku" and a.status == "firing"}
        assert len(sku_alerts) >= 30, "the scenario did not move the SKU rates"
        incidents = [a for a in alerts if a.dimension == "incident"]
        firing = [a for a in incidents if a.status == "firing"]
        assert {a.alert_id for a in firing} == {firing[0].alert_id}, "more than one incident"
        assert {a.key for a in firing} == {"region,carrier=west,bluebox"}
        last = firing[-1].context["incident"]
        children = {c["key"] for c in last["children"]}
        assert children <= set(SKUS) and len(children) >= 30
        assert sum(c["share"] for c in last["children"]) == pytest.approx(1.0, abs=0.02)
        assert last["parent_share"] > 0.9
        assert firing[-1].sample_size == len(children)

    def test_incident_resolves_with_its_children(self, alerts: list[AlertEvent]) -> None:
        """When every child episode has resolved, the incident resolves (once)."""
        resolved = [a for a in alerts if a.dimension == "incident" and a.status == "resolved"]
        assert len(resolved) == 1
        last_child = max(
            a.window_end for a in alerts if a.dimension == "sku" and a.status == "resolved"
        )
        assert resolved[0].window_end == last_child

    def test_children_events_unchanged(self, alerts: list[AlertEvent]) -> None:
        """Children stay on the topic as plain alerts of their own series."""
        assert all("incident" not in a.context for a in alerts if a.dimension == "sku")


class TestAlertmanagerGroup:
    def test_children_join_the_incident_group(self, alerts: list[AlertEvent]) -> None:
        """On aftersales_alert_info the incident and its open children share the label
        group = incident id (Alertmanager groups on it); other alerts keep their
        dimension."""
        from prometheus_client import CollectorRegistry

        from alerts.metrics import AlertMetrics

        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        incident = next(a for a in alerts if a.dimension == "incident")
        cell = next(a for a in alerts if a.dimension == "region,carrier")
        # Up to the later of the incident's first firing and the cell's own alert (with
        # the shipped rules the SKUs' episodes open the incident a window before it).
        until = max(incident.window_end, cell.window_end)
        before = [a for a in alerts if a.window_end <= until]
        for alert in before:
            metrics.record_alert(alert)
        groups = {
            (s.labels["dimension"], s.labels["group"])
            for family in registry.collect()
            if family.name == "aftersales_alert_info"
            for s in family.samples
        }
        assert ("incident", incident.alert_id) in groups
        assert ("sku", incident.alert_id) in groups
        assert ("sku", "sku") not in groups
        assert ("region,carrier", "region,carrier") in groups


class TestSchema:
    def test_incident_events_follow_the_alert_schema(self, alerts: list[AlertEvent]) -> None:
        """Incident events are valid alert events (docs/schemas/alert.schema.json)."""
        import jsonschema

        root = __import__("pathlib").Path(__file__).resolve().parents[3]
        schema = json.loads((root / "docs" / "schemas" / "alert.schema.json").read_text())
        incidents = [a for a in alerts if a.dimension == "incident"]
        assert incidents
        for alert in incidents:
            jsonschema.validate(json.loads(alert.to_json()), schema)
