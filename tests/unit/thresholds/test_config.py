"""Validation of DetectorConfig and sensitivity levels."""

import pytest

from thresholds import DetectorConfig, z_threshold


class TestDetectorConfig:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"kind": "gauge"}, "kind"),
            ({"direction": "sideways"}, "direction"),
            ({"grace_period": 0}, "grace_period"),
            ({"half_life": float("nan")}, "half_life"),
            ({"persistence": (4, 3)}, "persistence"),
            ({"shift_rate": 0.0}, "shift_rate"),
            ({"kind": "ratio", "prior": 1.5}, "prior"),
            ({"sensitivity": "extreme"}, "sensitivity"),
            ({"guard_above": float("inf")}, "guard_above"),
            ({"slot_lag_ms": -1}, "slot_lag_ms"),
            ({"slot_lag_ms": 1.5}, "slot_lag_ms"),
        ],
    )
    def test_bad_field_is_named(self, kwargs: dict[str, object], field: str) -> None:
        """A bad parameter raises ValueError whose message starts with the field name."""
        with pytest.raises(ValueError, match=f"^{field}"):
            DetectorConfig(**kwargs)  # type: ignore[arg-type]

    def test_state_key_depends_on_kind(self) -> None:
        """Configurations whose states mean different things have different keys."""
        assert DetectorConfig(kind="count").state_key != DetectorConfig(kind="ratio").state_key


class TestSensitivity:
    @pytest.mark.parametrize(
        ("level", "z"), [("low", 4.0), ("medium", 3.0), ("high", 2.5), (3.3, 3.3)]
    )
    def test_levels(self, level: str | float, z: float) -> None:
        """Named levels and numeric overrides map to the documented z."""
        assert z_threshold(level) == z
