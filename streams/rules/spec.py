"""What a rule is (:class:`Rule`, declared once in its module) and how the rules file
configures it (:class:`RuleSpec`).

A :class:`Rule` is data: its name and metric kind, the topics it reads, the dimensions
it allows, what each class of event (and order status) adds to its window partial
(:class:`Feed`, with an optional per-event :class:`Measure`) and its *traits*, the
flags that tell the pipeline how to treat it (judged per entity, needs the per-order
state, all series on one closer, a shared denominator, delivery cohorts). The shipped
rules are the modules of :mod:`streams.rules.builtin`, listed by
:mod:`streams.rules.registry`; the pipeline reads these traits and feeds from
``spec.definition``. (Per-event rules and the entity models still have code of their own
in :mod:`streams.pipeline`.)

Examples
--------
>>> from streams.contract.events import ComplaintEvent
>>> rule = Rule(
...     "complaint_volume",
...     "count",
...     ("complaints",),
...     frozenset({"total"}),
...     ("total",),
...     feeds={(ComplaintEvent, None): Feed(num=1.0)},
... )
>>> rule.feed(ComplaintEvent, None)
Feed(num=1.0, den=0.0, measure=None, cohort=False)
>>> rule.feed(ComplaintEvent, "placed") is None
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from streams.contract.events import TopicName
from thresholds.config import DetectorConfig

__all__ = [
    "DEFAULT_IDLE_TTL_MS",
    "DEFAULT_MAX_SERIES",
    "EntityModel",
    "Feed",
    "Measure",
    "OrderFactsView",
    "Rule",
    "RuleKind",
    "RuleSpec",
]

RuleKind = Literal["count", "ratio", "percentile", "event"]

#: Defaults of ``idle_ttl`` and ``max_series`` (``[settings]`` may change them for all rules).
DEFAULT_IDLE_TTL_MS: Final = 86_400_000
DEFAULT_MAX_SERIES: Final = 50_000


class OrderFactsView(Protocol):
    """What an order event adds to the logistics rules, from the intake's per-order
    state (:class:`streams.pipeline.order_state.OrderFacts`); ``None``: nothing."""

    @property
    def transit_hours(self) -> float | None:
        """Hours from shipment to delivery (a delivery)."""

    @property
    def late(self) -> bool | None:
        """Delivered after the promised time (a delivery)."""

    @property
    def refund_hours(self) -> float | None:
        """Hours from the return request to the refund (a refund)."""


@dataclass(frozen=True, slots=True)
class Measure:
    """A value read from each event: ``read(event, spec, facts)`` gives it, or ``None``
    when the event lacks it (the event then feeds nothing of the rule).

    ``"sketch"``: the value goes into the window's quantile sketch (percentile rules).
    ``"share"``: the value is a truth (a ``bool``); numerator 1 when true, 0 when false
    (the feed's denominator counts the event).
    """

    name: str
    kind: Literal["sketch", "share"]
    read: Callable[[Any, RuleSpec, OrderFactsView | None], float | None]


@dataclass(frozen=True, slots=True)
class Feed:
    """What one event adds to a rule's window partial of each series it belongs to."""

    num: float = 0.0
    den: float = 0.0
    measure: Measure | None = None
    #: With the rule's ``cohort`` set, the event counts only when it falls within the
    #: cohort of its order's anchor, the event the rule's denominator counts (a delivery,
    #: a placement; ``streams.pipeline.cohorts``), decided per event.
    cohort: bool = False


#: The closer-side models of entity rules (``streams.pipeline.closer``):
#:
#: * ``"burst"``: each key's count against its own history or the population's floor,
#:   with a slow horizon (:class:`thresholds.entity_rate.EntityRates`), one state per
#:   dimension;
#: * ``"distinct_customers"``: the same model over the distinct customers each key saw
#:   (its ``customer_id`` context, collected but never shown), one state per closer shard;
#: * ``"returns"``: returns against deliveries over rolling days against the population
#:   (:class:`thresholds.return_history.ReturnHistory`), one state per closer shard.
EntityModel = Literal["burst", "distinct_customers", "returns"]

#: ``(event class, order status)``: an order event's feed depends on its status, any
#: other event's on its class alone (status ``None``).
FeedKey = tuple[type, str | None]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One rule of the catalogue: what it measures and how the pipeline treats it
    (compared by identity: a rule is defined once, in its module)."""

    name: str
    kind: RuleKind
    #: Input topics whose events it reads (and whose watermarks gate its windows).
    topics: tuple[TopicName, ...]
    #: Dimensions the rules file may choose from.
    dimensions: frozenset[str]
    #: Dimensions used when the rules file names none (and kept by the shipped file).
    required_dimensions: tuple[str, ...]
    #: What each event class (and order status) adds; absent: nothing. Per-event rules
    #: (kind ``"event"``) score events in :mod:`streams.pipeline.aggregate` instead.
    feeds: Mapping[FeedKey, Feed] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    #: Judged per entity by a closer-side model instead of a series bank (a series per
    #: customer or address ever seen would grow without bound); ``None``: a series bank.
    #: See :data:`EntityModel`.
    entity: EntityModel | None = None
    #: Needs the per-order lifecycle state of the intake (:mod:`streams.pipeline.order_state`).
    order_state: bool = False
    #: All series live on one closer (routed by the rule's name, not the series id), so
    #: each key can be judged against the rule's total in the same window
    #: (``relative_to = "total"``), or against its peers (``"peers"``). Only for dimensions
    #: with few keys: a dimension with many is listed in ``spread``.
    colocated: bool = False
    #: Dimensions of a colocated rule whose series still spread over the closers by their
    #: id (SKUs: too many for one closer). Their peers are the keys on the same closer, a
    #: hash sample of all of them.
    spread: frozenset[str] = frozenset()
    #: Fields whose series share one denominator: events feeding only the denominator
    #: lack the field, so the closer divides a ``reason`` series by the rule's total and a
    #: compound one (``region,carrier,reason``) by its cell's (``region,carrier``).
    shared_denominator: frozenset[str] = frozenset()
    #: Context fields always collected, whatever the rules file's ``context`` says.
    forced_context: tuple[str, ...] = ()
    #: Per-event rules rolled up per key: a window opens an episode only when its count
    #: is improbable under the key's learned usual count (lost parcels per carrier); else
    #: ``rollup_min`` verdicts open one (a wrong price has no usual count).
    rollup_learns_rate: bool = False

    def __post_init__(self) -> None:
        if self.spread and not self.colocated:
            raise ValueError(f"rule {self.name!r}: spread is for colocated rules")
        if not self.spread <= self.dimensions:
            raise ValueError(
                f"rule {self.name!r}: spread {sorted(self.spread - self.dimensions)} "
                "are not among its dimensions"
            )
        if not isinstance(self.feeds, MappingProxyType):
            object.__setattr__(self, "feeds", MappingProxyType(dict(self.feeds)))

    def __reduce__(self) -> tuple[Callable[[dict[str, Any]], Rule], tuple[dict[str, Any]]]:
        """Pickled with its feeds as a dict (a mappingproxy cannot be pickled): the worker
        sends the rule set to its spawned intake child."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        values["feeds"] = dict(self.feeds)
        return _rule_from_fields, (values,)

    @property
    def cohort(self) -> bool:
        """May attribute events to their order's anchor (the ``cohort`` setting): the
        order's events share a partition (orders are keyed by order_id), so its
        aggregator sees both."""
        return any(feed.cohort for feed in self.feeds.values())

    def feed(self, event_class: type, status: str | None) -> Feed | None:
        """What an event of ``event_class`` (an order event: with ``status``) adds."""
        return self.feeds.get((event_class, status))


def _rule_from_fields(values: dict[str, Any]) -> Rule:
    """The inverse of :meth:`Rule.__reduce__`."""
    return Rule(**values)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One configured rule."""

    name: str
    kind: RuleKind
    topics: tuple[TopicName, ...]
    window_ms: int
    hop_ms: int
    dimensions: tuple[tuple[str, ...], ...]
    context: tuple[str, ...]
    #: The file's runbook template (used in every locale); ``""``: the locale catalogue's.
    runbook: str
    detector: DetectorConfig | None
    quantile: float = 0.9
    sla_seconds: float = 900.0
    #: Parameters of :class:`thresholds.event_norm.EventNorm` (per-event rules only).
    norm: tuple[tuple[str, Any], ...] = ()
    #: A series (or per-event norm) with no data for this long after its newest window
    #: with data is evicted (event time; never while its episode is open).
    idle_ttl_ms: int = DEFAULT_IDLE_TTL_MS
    #: Most series the rule keeps (spread over the closer partitions); newer keys fold
    #: into the dimension's overflow series. Per-event norms: per input partition.
    max_series: int = DEFAULT_MAX_SERIES
    #: ``"total"`` (counts): every key but the total is judged against the total's movement
    #: in the same window (peer-relative: a shop-wide rise or dip cancels); ``"peers"``
    #: (ratios): a key is judged against its dimension's other keys in a window where they
    #: rose together (:mod:`streams.pipeline.peers`); ``None``: on its own.
    relative_to: str | None = None
    #: Watched side of the total series when it differs from the detector's direction.
    total_direction: str | None = None
    #: Burst rule: the population's floor of an entity's decayed order count (half-life
    #: ``slow_half_life_ms``), which catches orders spread over an hour
    #: (``thresholds.entity_rate``).
    slow_floor: float = 5.0
    #: Per-event rules with the ``sku`` (``carrier``) dimension: the window its verdicts
    #: are rolled up in.
    sku_window_ms: int = 900_000
    #: ``lost_parcel``: a parcel is lost this many times its cell's p90 transit after it
    #: shipped.
    lost_factor: float = 1.9
    #: ``lost_parcel``: event time a partition's order state must have seen before it
    #: reports parcels lost (its transit history undercounts long transits until then).
    lost_warmup_ms: int = 10 * 86_400_000
    #: Per-event rules rolled up per sku or carrier: verdicts one ``sku_window`` needs to
    #: open an episode.
    rollup_min: int = 1
    #: Lag-aware rates: count only events within this long of their order's anchor (a
    #: return of its delivery, a cancellation of its placement), against the window's
    #: exposure (``streams.pipeline.cohorts``); ``None``: all of them against the window's
    #: anchors.
    cohort_ms: int | None = None
    #: Percentile rules: what the detector decides on. ``"quantile"``: the window's
    #: ``quantile`` itself; ``"log_mean"``: the mean of the values' logs (the efficient
    #: statistic for lognormal-like waits, so every window weighs by its size), while
    #: alerts still report the quantile (``streams.pipeline.log_mean``).
    statistic: str = "quantile"
    #: Burst rule: the half-life of the decayed order count judged against ``slow_floor``.
    slow_half_life_ms: int = 3_600_000
    #: Windows that start less than this long after the hop of the rule's first events
    #: are neither judged nor learned from: a numerator that lags its denominator (complaints
    #: and returns come after their deliveries) is short in them, and warm-up would learn
    #: that start-up transient as the baseline's variance. Defaults to ``cohort_ms``.
    settle_ms: int = 0
    #: ``lost_parcel``: a lone overdue parcel (no others of its cell corroborate it) is
    #: reported at this multiple of its deadline (``lost_factor`` x p90); 1: at it.
    lost_alone: float = 1.5
    #: Percentile rules decided on log-means: the event field of a dimension (``channel``)
    #: whose values differ in level by nature (chat waits seconds, email waits hours).
    #: Each series' log-mean is then judged at its usual mix of them and with the spread
    #: within them, so a shift of the mix is no incident and a surge stands out of a
    #: narrower noise (``streams.pipeline.log_mean``). ``None``: one population.
    strata: str | None = None
    #: Ratio rules: a compound dimension (``"region,carrier"``) whose cells are *set
    #: apart* in the series of ``set_apart_in``: a window of such a series is judged
    #: without the one cell whose rate stands out of the rest of it (exact conditional
    #: binomial test), which its own series judges (``streams.pipeline.set_apart``).
    set_apart: str | None = None
    #: The dimensions whose series set a cell of ``set_apart`` apart.
    set_apart_in: tuple[str, ...] = ()
    #: The total series' own CUSUM threshold ``h`` when it differs from the detector's:
    #: the total's model carries the shop's own surprises (a sale that ends, a holiday),
    #: which cancel in the shares judged against it (``relative_to = "total"``).
    total_cusum_h: float | None = dataclasses.field(default=None, kw_only=True)
    #: The rule's definition (its module under :mod:`streams.rules.builtin`, or a rule of
    #: another :class:`~streams.rules.registry.Registry`): what events add, its traits.
    definition: Rule = dataclasses.field(kw_only=True, compare=False, repr=False)

    def cusum_h_of(self, dimension: str) -> float | None:
        """The CUSUM threshold the series of ``dimension`` fire at (``None``: no detector)."""
        if self.detector is None:
            return None
        if dimension == "total" and self.total_cusum_h is not None:
            return self.total_cusum_h
        return self.detector.cusum_h

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """Dimensions as the alert shows them, e.g. ``"region,carrier"``."""
        return tuple(",".join(parts) for parts in self.dimensions)
