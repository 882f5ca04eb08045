"""Open incidents survive a restart: the closers' snapshots keep them with their children
(each closer the children among its own open episodes), and a restore joins them again,
so the incident keeps its id and a new child joins it instead of opening another one."""

from __future__ import annotations

from alerts.incidents import IncidentFolder
from alerts.model import SCHEMA, AlertEvent, ms_to_datetime
from alerts.text import AlertTexts
from streams.contract.events import TOPICS
from streams.pipeline.closer import WindowCloser
from tests.unit.oncall.helpers import DAY, HOUR, T0, shipped

RULE = "return_rate"
END = T0 + 10 * DAY
HOP = 6 * HOUR
PARENT = "carrier=bluebox"


def child(sku: str, end_ms: int) -> AlertEvent:
    """A firing SKU episode whose window's returns are 90 % carrier bluebox's."""
    return AlertEvent(
        schema=SCHEMA,
        alert_id=f"alert-{sku}",
        status="firing",
        rule=RULE,
        dimension="sku",
        key=sku,
        severity="warning",
        direction="up",
        observed=0.4,
        baseline=0.1,
        lower=None,
        upper=0.2,
        score=1.0,
        sample_size=100,
        window_start=ms_to_datetime(end_ms - DAY),
        window_end=ms_to_datetime(end_ms),
        started_at=ms_to_datetime(end_ms),
        summary="Return rate up",
        runbook="Check the carrier",
        context={"top_carrier": [{"key": "bluebox", "count": 36, "share": 0.9}]},
    )


def opened(folder: IncidentFolder, skus: list[str]) -> str:
    """Fold the firing episodes of ``skus`` at END; the incident id."""
    folder.add(child(sku, END) for sku in skus)
    events = folder.advance(RULE, END)
    assert [(e.dimension, e.key, e.status) for e in events] == [("incident", PARENT, "firing")]
    return events[0].alert_id


def closer(folder: IncidentFolder) -> WindowCloser:
    return WindowCloser(shipped([RULE]), dict.fromkeys(TOPICS, 1), AlertTexts(), folder=folder)


def join(folder: IncidentFolder, sku: str) -> list[AlertEvent]:
    """A new SKU under the same carrier fires in the next window."""
    folder.add([child(sku, END + HOP)])
    return folder.advance(RULE, END + HOP)


class TestIncidentRestore:
    def test_folder_snapshot_and_restore(self) -> None:
        """snapshot -> restore: the same incident id keeps its children, a new child joins."""
        before = IncidentFolder([RULE])
        incident_id = opened(before, ["SKU-1", "SKU-2", "SKU-3"])
        after = IncidentFolder([RULE])
        after.seed(before.open.values())
        after.restore(before.snapshot())
        restored = after.incidents[RULE][PARENT]
        assert restored.incident_id == incident_id
        assert set(restored.children) == {f"{RULE}:sku:SKU-{i}" for i in (1, 2, 3)}
        events = join(after, "SKU-4")
        assert [e.alert_id for e in events] == [incident_id]
        assert {c["key"] for c in events[0].context["incident"]["children"]} == {
            "SKU-1",
            "SKU-2",
            "SKU-3",
            "SKU-4",
        }
        assert after.groups()["alert-SKU-4"] == incident_id

    def test_without_the_incidents_a_restart_opens_another(self) -> None:
        """The defect this guards against: the open episodes alone (what a restart restored
        before) make the next window open a second incident on the same carrier."""
        before = IncidentFolder([RULE])
        incident_id = opened(before, ["SKU-1", "SKU-2", "SKU-3"])
        after = IncidentFolder([RULE])
        after.seed(before.open.values())
        events = join(after, "SKU-4")
        assert [e.key for e in events] == [PARENT]
        assert events[0].alert_id != incident_id

    def test_through_the_closers_snapshots(self) -> None:
        """Children spread over two closers: each snapshot keeps its own children, the
        restored closers hand both parts to the new folder, which joins them."""
        folder = IncidentFolder([RULE])
        incident_id = opened(folder, ["SKU-1", "SKU-2", "SKU-3"])
        first, second = closer(folder), closer(folder)
        for owner, skus in ((first, ["SKU-1", "SKU-2"]), (second, ["SKU-3"])):
            owner.open_alerts = {
                folder.open[f"{RULE}:sku:{s}"].kafka_key: folder.open[f"{RULE}:sku:{s}"]
                for s in skus
            }
        blobs = [first.snapshot(), second.snapshot()]
        restarted = IncidentFolder([RULE])
        for blob in reversed(blobs):
            closer(restarted).restore(blob)
        restored = restarted.incidents[RULE][PARENT]
        assert restored.incident_id == incident_id
        assert set(restored.children) == {f"{RULE}:sku:SKU-{i}" for i in (1, 2, 3)}
        assert set(restarted.open) == set(restored.children)
        events = join(restarted, "SKU-4")
        assert [e.alert_id for e in events] == [incident_id]
        assert events[0].sample_size == 4

    def test_no_incident(self) -> None:
        """A closer without open incidents (or without a folder, as in replay) snapshots
        none and restores into an empty folder."""
        blob = WindowCloser(shipped([RULE]), dict.fromkeys(TOPICS, 1), AlertTexts()).snapshot()
        restarted = IncidentFolder([RULE])
        closer(restarted).restore(blob)
        assert restarted.incidents == {}
