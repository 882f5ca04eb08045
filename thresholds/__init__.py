"""Dynamic thresholds for after-sales metrics: robust seasonal baselines and alert decisions.

API overview
------------
Configure one detector per rule with :class:`DetectorConfig` (``kind`` is
``"count"``, ``"ratio"`` or ``"percentile"``; ``sensitivity``, ``direction``,
warm-up ``grace_period``, ``persistence``, hysteresis, absolute guards and an
optional ``prior`` baseline). Then either

* keep one :class:`SeriesState` per series and call
  :meth:`Detector.score` (pure read) and :meth:`Detector.update` (mutates), or
  :meth:`Detector.step` (both) at each window close; or
* hold many series in a :class:`SeriesBank` and close one window for all of them
  with :meth:`SeriesBank.evaluate` (vectorised; returns an :class:`Outcome` of
  arrays, :meth:`Outcome.decision` gives one :class:`Decision`).
  :meth:`SeriesBank.export_state` / :meth:`SeriesBank.import_state` move one
  series' state as bytes.

Per-event values (order amount, quantity) use :class:`EventNorm`: ``score`` each
event against a :class:`NormState` without changing it, ``update`` the norm once
per closed window. Window percentiles come from :class:`QuantileSketch`
(mergeable DDSketch). :class:`SeriesScorer` is the one generic configuration
behind ``aftersales score-series`` (and the NAB benchmark).

Every answer is a :class:`Decision`. Timestamps are epoch milliseconds. NaN or
infinite inputs raise :class:`NonFiniteInputError` (a ``ValueError``).

Examples
--------
>>> from thresholds import Detector, DetectorConfig
>>> det = Detector(DetectorConfig(kind="count", direction="both", grace_period=4))
>>> state = det.new_state()
>>> for hour, orders in enumerate([50, 53, 48, 51, 49]):
...     decision = det.step(state, hour * 3_600_000, orders)
>>> decision.ready, decision.alerting
(True, False)
>>> det.step(state, 5 * 3_600_000, 0).transition  # orders drop to zero
'fire'
"""

from pathlib import Path

from thresholds._compiled import refuse_stale_build

refuse_stale_build(Path(__file__).parent)

from thresholds.bank import SeriesBank
from thresholds.config import DetectorConfig, MetricKind, WatchDirection
from thresholds.decision import Decision, Direction, Severity, Transition
from thresholds.detector import Detector
from thresholds.engine import Outcome
from thresholds.errors import NonFiniteInputError, StateMismatchError
from thresholds.event_norm import EventNorm, NormState
from thresholds.sensitivity import SENSITIVITY_LEVELS, Sensitivity, z_threshold
from thresholds.series_scorer import ScoredRow, ScorerConfig, SeriesScorer
from thresholds.sketch import QuantileSketch
from thresholds.state import STATE_BYTES, SeriesState

__all__ = [
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
    "Sensitivity",
    "SeriesBank",
    "SeriesScorer",
    "SeriesState",
    "Severity",
    "StateMismatchError",
    "Transition",
    "WatchDirection",
    "z_threshold",
]
