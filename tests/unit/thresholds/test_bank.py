"""SeriesBank bookkeeping (ids, growth, state export)."""

from __future__ import annotations

import numpy as np
import pytest

from thresholds import DetectorConfig, SeriesBank, StateMismatchError

CFG = DetectorConfig(kind="count", grace_period=3)


class TestSeriesBank:
    def test_rows_are_stable(self) -> None:
        """The same id maps to the same row; new ids are appended."""
        bank = SeriesBank(CFG)
        first = bank.rows(["a", "b"]).tolist()
        assert bank.rows(["b", "c", "a"]).tolist() == [first[1], 2, first[0]]
        assert len(bank) == 3

    def test_grows_past_capacity(self) -> None:
        """Adding thousands of ids keeps earlier states intact."""
        bank = SeriesBank(CFG)
        rows = bank.rows(["a"])
        bank.evaluate(0, rows, np.array([5.0]))
        before = bank.export_state("a")
        bank.rows([str(i) for i in range(5000)])
        assert bank.export_state("a") == before

    def test_unknown_id_without_create(self) -> None:
        """``create=False`` raises KeyError for an unknown id."""
        with pytest.raises(KeyError):
            SeriesBank(CFG).rows(["x"], create=False)

    def test_duplicate_rows_rejected(self) -> None:
        """A window cannot list the same series twice."""
        bank = SeriesBank(CFG)
        rows = bank.rows(["a"])
        with pytest.raises(ValueError, match="distinct"):
            bank.evaluate(0, np.concatenate([rows, rows]), np.array([1.0, 2.0]))

    def test_export_import_round_trip(self) -> None:
        """A state exported from one bank and imported into another is identical."""
        bank = SeriesBank(CFG)
        rows = bank.rows(["a", "b"])
        for t in range(10):
            bank.evaluate(t * 60_000, rows, np.array([float(t), 3.0]))
        other = SeriesBank(CFG)
        other.import_state("b", bank.export_state("b"))
        assert other.state("b") == bank.state("b")

    def test_import_foreign_state_rejected(self) -> None:
        """Importing a state of another kind raises StateMismatchError."""
        ratio = SeriesBank(DetectorConfig(kind="ratio"))
        ratio.rows(["a"])
        with pytest.raises(StateMismatchError):
            SeriesBank(CFG).import_state("a", ratio.export_state("a"))

    def test_untouched_rows_unchanged(self) -> None:
        """Series not in the window keep their state."""
        bank = SeriesBank(CFG)
        rows = bank.rows(["a", "b"])
        bank.evaluate(0, rows, np.array([1.0, 2.0]))
        before = bank.export_state("b")
        bank.evaluate(60_000, rows[:1], np.array([7.0]))
        assert bank.export_state("b") == before


class TestBulkExport:
    def _bank(self) -> SeriesBank:
        bank = SeriesBank(DetectorConfig(kind="ratio", grace_period=3))
        rng = np.random.default_rng(5)
        ids = [f"sku-{i}" for i in range(300)]
        rows = bank.rows(ids)
        for t in range(30):
            bank.evaluate(
                t * 3_600_000,
                rows,
                rng.poisson(5, len(ids)).astype(float),
                rng.poisson(40, len(ids)).astype(float) + 1,
            )
        return bank

    def test_round_trip_is_exact(self) -> None:
        """export_all then import_all gives every series the same bytes and the same next
        decisions."""
        bank = self._bank()
        other = SeriesBank(bank.config)
        other.rows(["sku-7", "new"])  # rows in another order and an extra series
        other.import_all(bank.export_all())
        for sid in bank.ids:
            assert other.export_state(sid) == bank.export_state(sid)
        ids = list(bank.ids)
        a = bank.evaluate(
            31 * 3_600_000, bank.rows(ids), np.full(len(ids), 9.0), np.full(len(ids), 40.0)
        )
        b = other.evaluate(
            31 * 3_600_000, other.rows(ids), np.full(len(ids), 9.0), np.full(len(ids), 40.0)
        )
        assert [a.decision(i) for i in range(len(ids))] == [b.decision(i) for i in range(len(ids))]

    def test_empty_bank(self) -> None:
        """An empty bank exports and imports to an empty bank."""
        other = SeriesBank(CFG)
        other.import_all(SeriesBank(CFG).export_all())
        assert len(other) == 0

    def test_other_config_is_refused(self) -> None:
        """A blob from another configuration raises instead of loading wrong states."""
        with pytest.raises(StateMismatchError):
            SeriesBank(CFG).import_all(self._bank().export_all())

    def test_truncated_blob_is_refused(self) -> None:
        """A cut blob raises rather than loading part of the states."""
        blob = self._bank().export_all()
        with pytest.raises(ValueError):
            SeriesBank(DetectorConfig(kind="ratio", grace_period=3)).import_all(blob[:-8])
