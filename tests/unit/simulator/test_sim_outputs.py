"""Writers, labels file, CLI, hostile inputs, public API and a speed figure."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from streams.dev import simulator
from streams.dev.simulator import (
    Simulation,
    SimulationConfig,
    bad_events,
    build_labels,
    write_events_file,
    write_labels_file,
)
from streams.dev.simulator.cli import simulate
from streams.dev.simulator.hostile import ONE_MIB, REASONS
from tests.unit.simulator.sim_helpers import contract_errors

TINY = SimulationConfig(
    seed=9, duration=timedelta(hours=6), orders_per_day=2_000, warmup=timedelta(days=1)
)


class TestJsonl:
    def test_lines_are_replay_format(self, tmp_path: Path) -> None:
        """Each line is {"topic": ..., "value": {...}} with a contract-valid value."""
        path = tmp_path / "events.jsonl"
        count = write_events_file(Simulation(TINY).events(), path)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == count > 0
        for line in lines:
            record = json.loads(line)
            assert set(record) == {"topic", "value"}
            assert contract_errors(record["topic"], record["value"]) == []

    def test_labels_file_round_trips(self, tmp_path: Path, small_config: SimulationConfig) -> None:
        """The labels file is JSON with the schema tag and one entry per incident."""
        sim = Simulation(small_config)
        for _ in sim.events():
            pass
        path = tmp_path / "labels.json"
        write_labels_file(build_labels(sim), path)
        labels = json.loads(path.read_text(encoding="utf-8"))
        assert labels["schema"] == "aftersales.labels/v1"
        assert len(labels["incidents"]) == len(small_config.incidents)


class TestCli:
    def test_writes_events_and_labels(self, tmp_path: Path) -> None:
        """simulate --out --labels writes both files and exits 0."""
        out, labels = tmp_path / "e.jsonl", tmp_path / "l.json"
        result = CliRunner().invoke(
            simulate,
            [
                "--days",
                "0.25",
                "--orders-per-day",
                "2000",
                "--seed",
                "3",
                "--incident",
                "wait_time_surge",
                "--incident",
                "order_drop:region=UK",
                "--out",
                str(out),
                "--labels",
                str(labels),
            ],
        )
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
        types = [i["type"] for i in json.loads(labels.read_text())["incidents"]]
        assert types == ["wait_time_surge", "order_drop"]

    def test_same_seed_same_file(self, tmp_path: Path) -> None:
        """Two CLI runs with one seed write identical bytes."""
        paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
        for path in paths:
            CliRunner().invoke(
                simulate, ["--days", "0.1", "--orders-per-day", "1000", "--out", str(path)]
            )
        assert paths[0].read_bytes() == paths[1].read_bytes()

    def test_needs_an_output(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --out or a Kafka bootstrap the command fails with a usage error."""
        monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        result = CliRunner().invoke(simulate, ["--days", "0.1"])
        assert result.exit_code == 2
        assert "--out" in result.output

    def test_bad_incident_is_named(self, tmp_path: Path) -> None:
        """An unknown incident target is reported against --incident."""
        result = CliRunner().invoke(
            simulate, ["--incident", "order_drop:channel=fax", "--out", str(tmp_path / "e.jsonl")]
        )
        assert result.exit_code == 2
        assert "channel" in result.output

    def test_bad_start_is_named(self, tmp_path: Path) -> None:
        """A start without an offset is refused against --start."""
        result = CliRunner().invoke(
            simulate, ["--start", "2026-11-02T00:00:00", "--out", str(tmp_path / "e.jsonl")]
        )
        assert result.exit_code == 2
        assert "--start" in result.output


class TestHostile:
    def test_every_reason_is_produced(self) -> None:
        """Cycling n >= 9 covers every reason category."""
        bad = bad_events(np.random.default_rng(1), len(REASONS))
        assert {b.reason for b in bad} - {None} == set(REASONS)

    def test_duplicate_repeats_a_valid_original(self) -> None:
        """The duplicate's bytes equal a preceding valid event's bytes."""
        bad = bad_events(np.random.default_rng(1), len(REASONS))
        original = next(b for b in bad if b.reason is None)
        duplicate = next(b for b in bad if b.reason == "duplicate")
        assert duplicate.raw == original.raw
        assert contract_errors(original.topic, json.loads(original.raw)) == []

    def test_oversized_exceeds_one_mib(self) -> None:
        """Oversized inputs are over 1 MiB."""
        bad = bad_events(np.random.default_rng(2), len(REASONS))
        assert all(len(b.raw) > ONE_MIB for b in bad if b.reason == "oversized")

    @pytest.mark.parametrize(
        "reason", ["missing_field", "wrong_type", "out_of_range", "bad_ts", "unknown_status"]
    )
    def test_json_rejects_fail_the_contract(self, reason: str) -> None:
        """Well-formed JSON rejects really break the contract."""
        bad = bad_events(np.random.default_rng(3), 9 * 6)
        chosen = [b for b in bad if b.reason == reason]
        assert chosen
        assert all(contract_errors(b.topic, json.loads(b.raw)) for b in chosen)

    def test_deterministic(self) -> None:
        """The same seed gives the same bytes."""
        a = bad_events(np.random.default_rng(4), 20)
        b = bad_events(np.random.default_rng(4), 20)
        assert a == b


class TestPublicApi:
    def test_exported_members(self) -> None:
        """__all__ is pinned: changing the public API is a conscious decision."""
        assert sorted(simulator.__all__) == sorted(
            [
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
                "SimulationConfig",
                "Simulation",
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
        )


class TestSpeed:
    def test_reports_events_per_second(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Prints generation speed (no wall-time assertion; see benchmarks/simulator.py)."""
        config = SimulationConfig(
            seed=1, duration=timedelta(hours=12), orders_per_day=20_000, warmup=timedelta(days=1)
        )
        began = time.perf_counter()
        count = sum(1 for _ in Simulation(config).events())
        elapsed = time.perf_counter() - began
        with capsys.disabled():
            print(f"\nsimulator: {count} events in {elapsed:.2f} s = {count / elapsed:,.0f}/s")
        assert count > 0
