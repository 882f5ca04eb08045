"""On-call feedback: the verdict record, the book's bounded multipliers, the worker
applying verdicts (log and /metrics), and a less sensitive series through replay."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from alerts.metrics import AlertMetrics
from streams.pipeline.feedback import FeedbackBook, InvalidVerdict, Verdict
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.unit.oncall.helpers import DAY, HOUR, T0, firing, orders, run, shipped

SERIES = ("order_volume", "channel", "app")
SID = "order_volume:channel:app"
LABELS = {"rule": "order_volume", "dimension": "channel", "key": "app"}


def verdict(alert_id: str, value: str = "false") -> Verdict:
    return Verdict(alert_id, value, *SERIES, note="promo traffic")  # type: ignore[arg-type]


class TestVerdictRecord:
    def test_round_trip(self) -> None:
        """A verdict survives its JSON encoding."""
        record = verdict("a1")
        assert Verdict.from_json(record.to_json()) == record

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            (b"not json", "<root>"),
            (b"[]", "<root>"),
            (b'{"schema": "other"}', "schema"),
            (
                (
                    b'{"schema": "aftersales.feedback/v1", "alert_id": "a", "rule": "r", '
                    b'"dimension": "d", "key": "k", "verdict": "maybe"}'
                ),
                "verdict",
            ),
            (
                (
                    b'{"schema": "aftersales.feedback/v1", "alert_id": "", "rule": "r", '
                    b'"dimension": "d", "key": "k", "verdict": "false"}'
                ),
                "alert_id",
            ),
            (None, "<root>"),
        ],
    )
    def test_bad_record_names_the_field(self, raw: bytes | None, field: str) -> None:
        """A bad record is refused naming the field."""
        with pytest.raises(InvalidVerdict) as info:
            Verdict.from_json(raw)
        assert info.value.field == field


class TestBook:
    def test_repeated_false_widens_within_the_limit(self) -> None:
        """The first false verdict changes nothing; each further one widens by the step,
        never past the limit."""
        book = FeedbackBook(step=0.15, max_multiplier=1.6)
        seen = []
        for i in range(8):
            book.apply(verdict(f"a{i}"))
            seen.append(book.multipliers.get(SID, 1.0))
        assert seen == [1.0, 1.15, 1.3, 1.45, 1.6, 1.6, 1.6, 1.6]

    def test_true_verdicts_take_it_back(self) -> None:
        """True verdicts (new alerts or changed ones) step the multiplier back to 1."""
        book = FeedbackBook(step=0.15, max_multiplier=1.6)
        for i in range(3):
            book.apply(verdict(f"a{i}"))
        assert book.multipliers[SID] == 1.3
        book.apply(verdict("a3", "true"))  # a right alert of the series
        assert book.multipliers[SID] == 1.15
        book.apply(verdict("a0", "true"))  # changed its mind on a0
        assert SID not in book.multipliers

    def test_reading_twice_changes_nothing(self) -> None:
        """Re-reading the same verdicts (a restart) gives the same multiplier."""
        book = FeedbackBook()
        for _ in range(2):
            for i in range(3):
                book.apply(verdict(f"a{i}"))
        assert book.multipliers[SID] == pytest.approx(1.3)


@pytest.fixture
def worker() -> tuple[Worker, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = Settings.from_env({"AFTERSALES_INTAKE_PROCESSES": "0"})
    return Worker(settings, load_rules(None), AlertMetrics.create(registry)), registry


class TestWorker:
    def test_false_verdicts_change_sensitivity_in_metrics_and_log(
        self, worker: tuple[Worker, CollectorRegistry]
    ) -> None:
        """Three false verdicts: the series' multiplier is 1.3 in the closers' view, in
        /metrics and in one log line per change; true verdicts bring it back to 1."""
        w, registry = worker
        with capture_logs() as logs:
            for i in range(3):
                w.apply_feedback(verdict(f"a{i}").to_json())
        assert w.sensitivity == {SID: 1.3}
        assert (
            registry.get_sample_value("aftersales_feedback_sensitivity_multiplier", LABELS) == 1.3
        )
        changes = [e for e in logs if e["event"] == "feedback_adjustment"]
        assert [(e["old"], e["new"], e["limit"]) for e in changes] == [
            (1.0, 1.15, 1.6),
            (1.15, 1.3, 1.6),
        ]
        assert (
            registry.get_sample_value(
                "aftersales_feedback_verdicts_total", {"rule": "order_volume", "verdict": "false"}
            )
            == 3
        )
        for i in range(2):
            w.apply_feedback(verdict(f"a{i}", "true").to_json())
        assert w.sensitivity == {}
        assert (
            registry.get_sample_value("aftersales_feedback_sensitivity_multiplier", LABELS) is None
        )

    def test_limit_from_settings(self) -> None:
        """AFTERSALES_FEEDBACK_MAX_MULTIPLIER caps the multiplier."""
        settings = Settings.from_env(
            {"AFTERSALES_INTAKE_PROCESSES": "0", "AFTERSALES_FEEDBACK_MAX_MULTIPLIER": "1.2"}
        )
        w = Worker(settings, load_rules(None), AlertMetrics.create(CollectorRegistry()))
        for i in range(6):
            w.apply_feedback(verdict(f"a{i}").to_json())
        assert w.sensitivity == {SID: 1.2}

    def test_bad_record_is_counted_not_applied(
        self, worker: tuple[Worker, CollectorRegistry]
    ) -> None:
        """An invalid record changes nothing and is counted."""
        w, registry = worker
        w.apply_feedback(b'{"schema": "aftersales.feedback/v1"}')
        assert w.sensitivity == {}
        assert (
            registry.get_sample_value(
                "aftersales_dead_letter_total", {"topic": "feedback", "reason": "invalid_verdict"}
            )
            == 1
        )


class TestReplay:
    @staticmethod
    def _drop(t: int) -> float:
        return 0.6 if T0 + 2 * DAY + 14 * HOUR <= t < T0 + 2 * DAY + 15 * HOUR else 1.0

    @pytest.mark.parametrize(("multiplier", "fires"), [(1.0, True), (1.6, False)])
    def test_multiplier_makes_the_series_less_sensitive(
        self, multiplier: float, fires: bool
    ) -> None:
        """A 40 % drop for an hour fires at the configured band, not at 1.6 times it."""
        rules = shipped(["order_volume"], dimensions={"order_volume": ["total", "channel"]})
        pipeline = ReplayPipeline(
            rules,
            partitions=2,
            max_future_ms=None,
            sensitivity={"order_volume:total:all": multiplier},
        )
        alerts = firing(run(pipeline, orders(5, 40, T0 + 3 * DAY, self._drop)), "order_volume")
        assert bool(alerts) is fires
