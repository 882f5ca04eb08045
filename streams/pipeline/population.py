"""Stage 2 of the entity rules: each key's verdict against its own history or the population.

Bursts, shared addresses and frequent returners watch every customer or address; a
baseline per key would cost a series per key ever seen. So a closer keeps, per rule and
dimension, one :class:`~thresholds.entity_rate.EntityRates` (busy keys' own rates, the
rest judged against the population) or :class:`~thresholds.return_history.ReturnHistory`
(returning customers' rolling returns), and turns each window's verdicts into the
:class:`~thresholds.decision.Decision` its episodes run on (:func:`verdict_decision`).
The :class:`~streams.pipeline.closer.WindowCloser` owns the episodes; this module owns
the population state, its warm-up and its part of the closer's snapshot.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

from streams.pipeline.aggregate import Partial, series_id
from streams.rules.catalogue import RuleSet, RuleSpec
from thresholds.decision import Decision, Transition
from thresholds.entity_rate import DEFAULT_MAX_ENTITIES, BurstVerdict, EntityRates
from thresholds.return_history import ReturnHistory

__all__ = ["Population", "burst_context", "verdict_decision"]

#: How often (event time) the burst rule forgets entities that stopped ordering.
_SWEEP_MS: Final = 6 * 3_600_000


class Population:
    """The entity rules' state of one closer.

    ``shard_of`` maps a series id to its partials partition and ``shard_cap`` a rule to
    its per-shard share of ``max_series`` (both the closer's), so a worker's closer (one
    shard) and replay's (every shard) learn and judge alike.
    """

    def __init__(
        self, shard_of: Callable[[str], int], shard_cap: Callable[[RuleSpec], int]
    ) -> None:
        self._shard_of = shard_of
        self._shard_cap = shard_cap
        #: Busy entities' own histories for the burst rule, per (rule, dimension).
        self.entity_rates: dict[tuple[str, str], EntityRates] = {}
        #: Rolling returns of returning customers for ``frequent_returner``, per dimension.
        self.returners: dict[tuple[str, str], ReturnHistory] = {}
        #: Windows closed per sharded entity rule and ``dimension/shard``: they warm up for
        #: ``grace_period`` of them (the first day teaches which addresses are busy).
        self.entity_closes: Counter[str] = Counter()

    # -- snapshot ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This state's entries of the closer's snapshot header."""
        return {
            "entity_rates": [
                [rule, dimension, rates.to_dict()]
                for (rule, dimension), rates in sorted(self.entity_rates.items())
            ],
            "entity_closes": dict(sorted(self.entity_closes.items())),
            "returners": [
                [rule, dimension, history.to_dict()]
                for (rule, dimension), history in sorted(self.returners.items())
            ],
        }

    def restore(self, state: Mapping[str, Any], rules: RuleSet) -> None:
        """Load :meth:`snapshot`'s entries (of rules still configured) from ``state``."""
        known = {rule.name for rule in rules.rules}
        self.entity_rates = {}
        for rule_name, dimension, rates in state.get("entity_rates", []):
            if rule_name in known:
                self.rates(rules.by_name(rule_name), dimension).load(rates)
        self.entity_closes = Counter({k: int(v) for k, v in state.get("entity_closes", {}).items()})
        self.returners = {}
        for rule_name, dimension, returner_state in state.get("returners", []):
            if rule_name in known:
                self.history(rules.by_name(rule_name), dimension).load(returner_state)

    # -- state per rule and dimension --------------------------------------------------------

    def rates(self, rule: RuleSpec, dimension: str) -> EntityRates:
        """The entity rates of ``rule`` on ``dimension`` (made on first use)."""
        rates = self.entity_rates.get((rule.name, dimension))
        if rates is None:
            detector = rule.detector
            assert detector is not None
            floor = detector.guard_above if detector.guard_above is not None else 4.5
            burst = rule.definition.entity == "burst"
            # shared_address: a day's distinct customers have no slow horizon to add up,
            # and its own warm-up (entity_closes, below).
            slow_floor = rule.slow_floor if burst else math.inf
            rates = self.entity_rates[(rule.name, dimension)] = EntityRates(
                rule.window_ms,
                rule.hop_ms,
                floor=floor,
                slow_floor=slow_floor,
                slow_half_life_ms=rule.slow_half_life_ms,
                hold_below=detector.resolve_below,
                # A fresh burst state learns for its first grace_period windows: every
                # regular customer is new then (docs/rules.md).
                warmup_ms=detector.grace_period * rule.hop_ms if burst else 0,
                max_entities=min(self._shard_cap(rule), DEFAULT_MAX_ENTITIES),
            )
        return rates

    def history(self, rule: RuleSpec, dimension: str) -> ReturnHistory:
        """The return history of ``rule`` on ``dimension`` (made on first use)."""
        history = self.returners.get((rule.name, dimension))
        if history is None:
            detector = rule.detector
            assert detector is not None
            min_count = detector.guard_above if detector.guard_above is not None else 5.0
            history = self.returners[(rule.name, dimension)] = ReturnHistory(
                rule.window_ms,
                min_count=min_count,
                z=detector.z,
                max_entities=min(self._shard_cap(rule), DEFAULT_MAX_ENTITIES),
            )
        return history

    # -- verdicts ----------------------------------------------------------------------------

    def verdicts(
        self,
        rule: RuleSpec,
        dimension: str,
        end: int,
        merged: Mapping[tuple[str, str], Partial],
        also: Iterable[str],
    ) -> dict[str, BurstVerdict]:
        """One dimension's verdicts of an entity rule for the window ending at ``end``
        (see :attr:`streams.rules.spec.Rule.entity`); ``also``: keys with an open episode,
        judged even without events."""
        mine = {key: partial for (dim, key), partial in merged.items() if dim == dimension}
        model = rule.definition.entity
        if model == "burst":
            rates = self.rates(rule, dimension)
            verdicts = rates.close(end, {key: p.num for key, p in mine.items()}, list(also))
            if end % _SWEEP_MS < rule.hop_ms:
                rates.sweep(end)
            return verdicts
        # "returns" and "distinct_customers" (:data:`streams.rules.spec.EntityModel`): one
        # state per closer shard that learns for its first ``grace_period`` windows (of that
        # shard) before it fires. Replay (one closer, every shard) and a worker (one
        # closer per shard) learn and judge alike. A shard without partials in this window
        # is not closed, as a worker's closer without pending partials would not close it.
        by_shard: dict[int, dict[str, Partial]] = {}
        for key, partial in mine.items():
            shard = self._shard_of(series_id(rule.name, dimension, key))
            by_shard.setdefault(shard, {})[key] = partial
        held: dict[int, list[str]] = {}
        for key in also:
            held.setdefault(self._shard_of(series_id(rule.name, dimension, key)), []).append(key)
        detector = rule.detector
        assert detector is not None
        verdicts = {}
        for shard, partials in sorted(by_shard.items()):
            name = f"{dimension}/{shard}"
            state: ReturnHistory | EntityRates
            if model == "returns":
                state = self.history(rule, name)
                out = state.close(
                    end, {key: (p.num, p.den) for key, p in partials.items()}, held.get(shard, ())
                )
            else:  # "distinct_customers": the customers each source saw, united
                state = self.rates(rule, name)
                out = state.close(
                    end,
                    {
                        key: float(len(p.context.get("customer_id", ()))) if p.context else 0.0
                        for key, p in partials.items()
                    },
                    held.get(shard, ()),
                )
            if end % _SWEEP_MS < rule.hop_ms:
                state.sweep(end)
            warm = f"{rule.name}:{name}"
            self.entity_closes[warm] += 1
            if self.entity_closes[warm] <= detector.grace_period:
                # Warm-up: learn only (every address is new when monitoring starts). Most
                # verdicts are quiet already: only the others are copied.
                out = {
                    key: v if _quiet(v) else replace(v, violating=False, horizon=None, excess=0.0)
                    for key, v in out.items()
                }
            verdicts.update(out)
        return verdicts


def verdict_decision(verdict: BurstVerdict, was_open: bool) -> Decision:
    """The decision an entity's verdict makes for its episode (``was_open``: one is open):
    fire when it turns violating, resolve when it stops unless the verdict is
    :attr:`~thresholds.entity_rate.BurstVerdict.held` (its episode stays open, silent);
    ``critical`` from an excess of one band over the upper limit."""
    count, upper, violating = verdict.count, verdict.upper, verdict.violating
    transition: Transition | None = None
    if violating and not was_open:
        transition = "fire"
    elif was_open and not violating and not verdict.held:
        transition = "resolve"
    return Decision(
        observed=count,
        baseline=verdict.expected,
        lower=None,
        upper=upper,
        score=verdict.excess,
        anomaly_score=count / (count + upper),
        sample_size=int(count),
        ready=True,
        violating=violating,
        direction="up" if violating else None,
        severity=("critical" if verdict.excess >= 1.0 else "warning") if violating else None,
        alerting=violating or (was_open and verdict.held),
        transition=transition,
    )


def burst_context(verdict: BurstVerdict, half_life_ms: int) -> dict[str, Any]:
    """``context.burst`` of a ``customer_order_burst`` alert: the horizon that crossed
    (``fast``, ``slow`` or ``None`` once calm), the entity's decayed count of orders, its
    edge (``None`` when the verdict was not judged: a state still learning) and half-life,
    so an alert fired on orders spread over an hour says so."""
    edge = verdict.slow_edge
    return {
        "horizon": verdict.horizon,
        "decayed_orders": round(verdict.slow, 2),
        "decayed_limit": round(edge, 2) if math.isfinite(edge) else None,
        "half_life_minutes": round(half_life_ms / 60_000, 1),
    }


def _quiet(verdict: BurstVerdict) -> bool:
    """Whether ``verdict`` already is what the warm-up makes of it (not violating, no
    horizon, an excess of +0.0)."""
    return (
        not verdict.violating
        and verdict.horizon is None
        and verdict.excess == 0.0
        and math.copysign(1.0, verdict.excess) > 0
    )
