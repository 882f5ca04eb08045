"""The public names of the thresholds package."""

import thresholds


class TestExports:
    def test_all_is_pinned(self) -> None:
        """``__all__`` lists exactly the documented public API."""
        assert sorted(thresholds.__all__) == sorted(
            [
                "SENSITIVITY_LEVELS",
                "STATE_BYTES",
                "Decision",
                "Detector",
                "DetectorConfig",
                "Direction",
                "EventNorm",
                "MetricKind",
                "NonFiniteInputError",
                "NormState",
                "Outcome",
                "QuantileSketch",
                "ScoredRow",
                "ScorerConfig",
                "SeriesBank",
                "SeriesScorer",
                "SeriesState",
                "Severity",
                "Sensitivity",
                "StateMismatchError",
                "Transition",
                "WatchDirection",
                "z_threshold",
            ]
        )

    def test_every_name_resolves(self) -> None:
        """Every exported name is an attribute of the package."""
        for name in thresholds.__all__:
            assert getattr(thresholds, name) is not None
