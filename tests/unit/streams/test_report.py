"""The self-contained HTML replay report (``streams.cli.report`` and ``replay --report``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.model import AlertEvent, SeriesRef
from streams.cli.main import replay
from streams.cli.report import record_series, select_series, write_report
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules

HOUR = 3_600_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
EVIL = "<script>alert(1)</script>"

RULES_DOC = {
    "settings": {"lateness": "5m"},
    "rules": {
        "order_volume": {
            "window": "1h",
            "dimensions": ["total", "region"],
            "runbook": "Check {key}.",
            "detector": {"grace_period": 24, "persistence": [1, 1]},
        },
    },
}


def rules() -> RuleSet:
    """order_volume on total and region with 1 h windows."""
    return parse_rules(RULES_DOC)


def values() -> Iterator[dict[str, object]]:
    """30 steady hours for two regions, then a spike in the region named like a script tag."""
    hours = (
        [{EVIL: 40, "south": 40}] * 30
        + [{EVIL: 200, "south": 40}] * 2
        + [{EVIL: 40, "south": 40}] * 8
    )
    i = 0
    for hour, counts in enumerate(hours):
        events = [region for region, n in sorted(counts.items()) for _ in range(n)]
        for j, region in enumerate(events):
            ts = T0 + hour * HOUR + j * HOUR // len(events)
            yield {
                "event_id": f"e{i}",
                "ts": ts,
                "order_id": f"o{i}",
                "status": "placed",
                "region": region,
            }
            i += 1


def records() -> Iterator[tuple[str, bytes, bytes]]:
    for value in values():
        yield "orders", str(value["order_id"]).encode(), json.dumps(value).encode()


@pytest.fixture(scope="module")
def alerts() -> list[AlertEvent]:
    return list(ReplayPipeline(rules(), partitions=2).run(records()))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def html(alerts: list[AlertEvent], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(
        path,
        rules=rules(),
        records=records,
        alerts=alerts,  # type: ignore[arg-type]
        events_label="events <1>.jsonl",
        rules_label="test rules",
        events_count=1000,
        dead_letters=0,
        partitions=2,
    )
    return path.read_text(encoding="utf-8")


class TestSelectSeries:
    def test_only_window_series_with_alerts(self, alerts: list[AlertEvent]) -> None:
        """The series chosen for charts are those with window alerts, once each."""
        chosen, total = select_series(alerts)
        assert SeriesRef("order_volume", "region", EVIL) in chosen
        assert total == len(chosen) == len({a.series for a in alerts})

    def test_cap_limits_charts(self, alerts: list[AlertEvent]) -> None:
        """A cap of zero charts nothing but still counts the alerting series."""
        chosen, total = select_series(alerts, cap=0)
        assert chosen == [] and total >= 1


class TestRecordSeries:
    def test_records_only_requested_series(self) -> None:
        """The second pass keeps the window closes of the requested series only."""
        ref = SeriesRef("order_volume", "region", "south")
        recorded, (first, last) = record_series(
            rules(),
            records(),
            [ref],  # type: ignore[arg-type]
            partitions=2,
        )
        assert list(recorded) == [ref]
        assert len(recorded[ref].end_ms) > 30
        assert first == T0 and last is not None and last > first


class TestReport:
    def test_has_a_chart_per_alerting_series(self, html: str, alerts: list[AlertEvent]) -> None:
        """Every alerting series gets one full-range chart."""
        assert html.count('<svg class="chart"') == len({a.series for a in alerts}) >= 1

    def test_chart_title_names_the_series(self, html: str) -> None:
        """Each chart is titled ``rule · dimension=key``."""
        assert "order_volume · region=&lt;script&gt;" in html

    def test_draws_the_band_polygon(self, html: str) -> None:
        """The band lower..upper is a filled polygon."""
        assert re.search(r'<polygon class="band" points="[\d., ]+"', html)

    def test_draws_baseline_and_observed(self, html: str) -> None:
        """The baseline and the observed value are polylines."""
        assert '<polyline class="baseline"' in html and '<polyline class="observed"' in html

    def test_shades_the_episode(self, html: str) -> None:
        """The episode is a shaded vertical span."""
        assert '<rect class="episode"' in html

    def test_lists_firing_and_resolved_rows(self, html: str) -> None:
        """The alert table has a firing and a resolved row."""
        assert "<td class='firing'>firing</td>" in html
        assert "<td class='resolved'>resolved</td>" in html

    def test_escapes_keys(self, html: str) -> None:
        """A key containing a script tag stays escaped everywhere."""
        assert "<script" not in html
        assert "&lt;script&gt;" in html

    def test_escapes_the_input_name(self, html: str) -> None:
        """The input file name is escaped in the header."""
        assert "events &lt;1&gt;.jsonl" in html

    def test_is_self_contained(self, html: str) -> None:
        """The report references nothing outside itself."""
        assert "http://" not in html and "https://" not in html
        assert "<link" not in html and "src=" not in html

    def test_is_deterministic(self, html: str, alerts: list[AlertEvent], tmp_path: Path) -> None:
        """The same input renders byte-identical reports."""
        path = tmp_path / "again.html"
        write_report(
            path,
            rules=rules(),
            records=records,
            alerts=alerts,  # type: ignore[arg-type]
            events_label="events <1>.jsonl",
            rules_label="test rules",
            events_count=1000,
            dead_letters=0,
            partitions=2,
        )
        assert path.read_text(encoding="utf-8") == html


class TestReplayCommand:
    def test_report_option_writes_html_and_alerts(self, tmp_path: Path) -> None:
        """``replay --report`` writes the HTML report and still writes the alerts."""
        events = tmp_path / "events.jsonl"
        events.write_text(
            "".join(json.dumps({"topic": "orders", "value": v}) + "\n" for v in values()),
            encoding="utf-8",
        )
        rules_file = tmp_path / "rules.toml"
        rules_file.write_text(
            '[settings]\nlateness = "5m"\n[rules.order_volume]\nwindow = "1h"\n'
            'dimensions = ["total", "region"]\nrunbook = "Check {key}."\n'
            "[rules.order_volume.detector]\ngrace_period = 24\npersistence = [1, 1]\n",
            encoding="utf-8",
        )
        out, report = tmp_path / "alerts.jsonl", tmp_path / "report.html"
        result = CliRunner().invoke(
            replay,
            [str(events), "--rules", str(rules_file), "--out", str(out), "--report", str(report)],
        )
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8").count("\n") >= 2
        assert '<svg class="chart"' in report.read_text(encoding="utf-8")
