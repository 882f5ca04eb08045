"""Typed, validated configuration of one simulation run.

Size: the simulation's typed configuration and its validation, which names every field
in its errors.

Examples
--------
>>> from datetime import timedelta
>>> cfg = SimulationConfig(seed=7, duration=timedelta(hours=6), orders_per_day=1_000)
>>> cfg.end_ms - cfg.start_ms
21600000
>>> SimulationConfig(orders_per_day=-1)
Traceback (most recent call last):
...
ValueError: orders_per_day: must be > 0, got -1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from streams.dev.simulator.ids import sku_id
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    CarrierDamage,
    ComplaintSpike,
    CustomerBurst,
    DeliveryDelay,
    HandleTimeSurge,
    Incident,
    LostParcels,
    OrderDrop,
    RefundDelay,
    SatisfactionDrop,
    SkuReturnSpike,
    SupplierQuality,
    WaitTimeSurge,
    WrongPrice,
)
from streams.dev.simulator.timefmt import to_ms

if TYPE_CHECKING:
    from streams.dev.simulator.promotion import Promotion

Weighted = tuple[tuple[str, float], ...]
"""Names with relative weights, e.g. ``(("web", 0.45), ("app", 0.40))``."""

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)
"""A Monday, fixed so that runs are reproducible."""

COMPLAINT_REASONS: Weighted = (
    ("damaged", 0.22),
    ("late", 0.20),
    ("wrong_item", 0.12),
    ("missing_item", 0.14),
    ("quality", 0.32),
)

#: Why orders are cancelled (the order model draws them with its own probabilities;
#: here so incident targets are checked against them with the rest of the configuration).
CANCEL_REASONS = (
    "payment_failed",
    "customer_request",
    "out_of_stock",
    "fraud_suspected",
    "address_invalid",
)


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """One product category.

    Parameters
    ----------
    name
        Category name carried on events.
    weight
        Relative share of the SKU catalogue.
    return_rate
        Share of delivered orders that are returned or exchanged.
    price_min, price_max
        Unit price range; SKU prices are log-uniform inside it.
    exchange_share
        Share of those returns that are exchanges.
    return_reasons
        Weighted reasons carried by return and exchange requests.
    """

    name: str
    weight: float
    return_rate: float
    price_min: float
    price_max: float
    exchange_share: float = 0.2
    return_reasons: Weighted = (
        ("not_as_described", 0.3),
        ("changed_mind", 0.35),
        ("quality", 0.2),
        ("defective", 0.15),
    )


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """One delivery region with its carriers and typical transit time in days."""

    name: str
    weight: float
    carriers: Weighted
    delivery_days: float


_FASHION_REASONS: Weighted = (
    ("wrong_size", 0.45),
    ("not_as_described", 0.2),
    ("changed_mind", 0.2),
    ("quality", 0.15),
)

DEFAULT_CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("apparel", 0.28, 0.24, 9.0, 140.0, 0.40, _FASHION_REASONS),
    CategorySpec("shoes", 0.10, 0.18, 25.0, 190.0, 0.45, _FASHION_REASONS),
    CategorySpec("electronics", 0.14, 0.07, 15.0, 1200.0, 0.15),
    CategorySpec("home", 0.16, 0.06, 8.0, 400.0, 0.10),
    CategorySpec("beauty", 0.10, 0.03, 4.0, 90.0, 0.05),
    CategorySpec("books", 0.08, 0.02, 5.0, 45.0, 0.05),
    CategorySpec("toys", 0.07, 0.05, 6.0, 130.0, 0.10),
    CategorySpec("sports", 0.07, 0.09, 10.0, 300.0, 0.25),
)

DEFAULT_REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec("EU-West", 0.26, (("DHL", 0.45), ("PostNL", 0.35), ("DPD", 0.20)), 2.0),
    RegionSpec("EU-Central", 0.22, (("DHL", 0.55), ("DPD", 0.25), ("GLS", 0.20)), 2.2),
    RegionSpec("EU-South", 0.14, (("GLS", 0.40), ("DHL", 0.30), ("UPS", 0.30)), 3.5),
    RegionSpec("EU-North", 0.08, (("PostNord", 0.60), ("DHL", 0.40)), 2.8),
    RegionSpec("UK", 0.14, (("RoyalMail", 0.55), ("DPD", 0.25), ("UPS", 0.20)), 2.4),
    RegionSpec("US-East", 0.16, (("UPS", 0.45), ("FedEx", 0.35), ("USPS", 0.20)), 3.0),
)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything one run depends on; the same config gives the same bytes.

    Parameters
    ----------
    seed
        Seed of the numpy ``Generator`` streams (catalogue and traffic).
    start, duration
        Emitted event-time range ``[start, start + duration)``.
    orders_per_day
        Mean placed orders per day before seasonality and noise.
    n_skus, zipf_exponent
        Catalogue size and the long-tail exponent of SKU popularity (weight ``1 / rank**s``).
    n_customers
        Size of the customer pool; each customer has one or two addresses.
    categories, regions, channels
        The catalogue's categories, the delivery regions (with carriers) and sales channels.
    cancel_rate, complaint_rate, tickets_per_order
        Share of orders cancelled, of deliveries complained about, and customer-service
        tickets per placed order.
    queues, contact_channels
        Weighted customer-service queues and contact channels (``chat``, ``phone``, ``email``).
    noise
        Log-scale standard deviation of the slow multiplicative noise on traffic volume.
    warmup
        Traffic simulated before ``start`` and not emitted, so that deliveries, returns and
        refunds of earlier orders are already in flight at ``start``.
    incidents
        Injected incidents (see :mod:`streams.dev.simulator.incidents`).
    speed
        Event-time to wall-time factor for live output (``60`` = one hour per minute);
        ``None`` means as fast as possible.
    promotions
        Planned promotions (:mod:`streams.dev.simulator.promotion`): nuisances, not incidents.
    pickup_points, pickup_share
        Pick-up-point addresses shared by many customers, and the share of orders sent
        to one of them (busy by nature; ``0`` = none).
    b2b_customers, b2b_share
        Business accounts ordering many times a day to their one address, and the share
        of orders they place (``0`` = none).
    risk_drivers
        Strength of the per-order after-sales drivers (``0`` = none, the older
        behaviour): each customer's return propensity (log-normal, sigma
        ``risk_drivers``), each region x carrier's damage factor and larger baskets
        returning more. Drawn from their own random stream, so the other events' draws
        stay the same; the true per-order probability is kept for the risk benchmark.
    """

    seed: int = 0
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(days=1)
    orders_per_day: float = 20_000.0
    n_skus: int = 2_000
    zipf_exponent: float = 1.05
    n_customers: int = 250_000
    categories: tuple[CategorySpec, ...] = DEFAULT_CATEGORIES
    regions: tuple[RegionSpec, ...] = DEFAULT_REGIONS
    channels: Weighted = (("web", 0.45), ("app", 0.40), ("marketplace", 0.15))
    cancel_rate: float = 0.02
    complaint_rate: float = 0.025
    tickets_per_order: float = 0.9
    queues: Weighted = (
        ("returns", 0.30),
        ("delivery", 0.35),
        ("payments", 0.10),
        ("general", 0.25),
    )
    contact_channels: Weighted = (("chat", 0.50), ("phone", 0.35), ("email", 0.15))
    noise: float = 0.08
    warmup: timedelta = timedelta(days=12)
    incidents: tuple[Incident, ...] = field(default=())
    speed: float | None = None
    promotions: tuple[Promotion, ...] = field(default=())
    pickup_points: int = 0
    pickup_share: float = 0.0
    b2b_customers: int = 0
    b2b_share: float = 0.0
    risk_drivers: float = 0.0

    def __post_init__(self) -> None:
        """Validate every field; raise ``ValueError`` naming the first bad one."""
        _check(
            isinstance(self.seed, int) and self.seed >= 0, "seed", "must be an int >= 0", self.seed
        )
        _check(self.start.tzinfo is not None, "start", "must be timezone-aware", self.start)
        _check(self.duration > timedelta(0), "duration", "must be > 0", self.duration)
        _check(self.warmup >= timedelta(0), "warmup", "must be >= 0", self.warmup)
        _check(self.orders_per_day > 0, "orders_per_day", "must be > 0", self.orders_per_day)
        _check(self.n_skus >= 1, "n_skus", "must be >= 1", self.n_skus)
        _check(self.zipf_exponent >= 0, "zipf_exponent", "must be >= 0", self.zipf_exponent)
        _check(self.n_customers >= 1, "n_customers", "must be >= 1", self.n_customers)
        for name in ("cancel_rate", "complaint_rate"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, name, "must be in [0, 1]", value)
        _check(
            self.tickets_per_order >= 0, "tickets_per_order", "must be >= 0", self.tickets_per_order
        )
        _check(self.noise >= 0, "noise", "must be >= 0", self.noise)
        _check(
            0.0 <= self.risk_drivers <= 3.0, "risk_drivers", "must be in [0, 3]", self.risk_drivers
        )
        _check(self.speed is None or self.speed > 0, "speed", "must be > 0 or None", self.speed)
        for name in ("pickup_points", "b2b_customers"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 0, name, "must be an int >= 0", value)
        for name, count in (
            ("pickup_share", self.pickup_points),
            ("b2b_share", self.b2b_customers),
        ):
            value = getattr(self, name)
            _check(0.0 <= value < 0.5, name, "must be in [0, 0.5)", value)
            _check(value == 0.0 or count > 0, name, "needs a count > 0 to share orders", value)
        _check_categories(self.categories)
        _check_regions(self.regions)
        for name in ("channels", "queues", "contact_channels"):
            _check_weighted(getattr(self, name), name)
        validate_incidents(self.incidents, self)

    @property
    def start_ms(self) -> int:
        """First emitted event time, epoch ms."""
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        """End of the emitted range (exclusive), epoch ms."""
        return self.start_ms + int(self.duration.total_seconds() * 1000)

    @property
    def warmup_ms(self) -> int:
        """Length of the unemitted warm-up, ms."""
        return int(self.warmup.total_seconds() * 1000)

    @property
    def carriers(self) -> tuple[str, ...]:
        """All carrier names in first-seen order across regions."""
        seen: dict[str, None] = {}
        for region in self.regions:
            for name, _ in region.carriers:
                seen.setdefault(name, None)
        return tuple(seen)


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        msg = f"{name}: {rule}, got {value!r}"
        raise ValueError(msg)


def _check_weighted(items: Sequence[tuple[str, float]], name: str) -> None:
    _check(len(items) > 0, name, "must not be empty", items)
    names = [n for n, _ in items]
    _check(len(set(names)) == len(names), name, "names must be unique", names)
    for item_name, weight in items:
        _check(
            isinstance(item_name, str) and item_name != "" and "," not in item_name,
            f"{name}.name",
            "must be a non-empty string without commas",
            item_name,
        )
        _check(weight > 0, f"{name}[{item_name}].weight", "must be > 0", weight)


def _check_categories(categories: tuple[CategorySpec, ...]) -> None:
    _check_weighted([(c.name, c.weight) for c in categories], "categories")
    for c in categories:
        where = f"categories[{c.name}]"
        _check(
            0.0 <= c.return_rate <= 0.9,
            f"{where}.return_rate",
            "must be in [0, 0.9]",
            c.return_rate,
        )
        _check(
            0.0 <= c.exchange_share <= 1.0,
            f"{where}.exchange_share",
            "must be in [0, 1]",
            c.exchange_share,
        )
        _check(c.price_min > 0, f"{where}.price_min", "must be > 0", c.price_min)
        _check(
            c.price_max >= c.price_min, f"{where}.price_max", "must be >= price_min", c.price_max
        )
        _check_weighted(c.return_reasons, f"{where}.return_reasons")


def _check_regions(regions: tuple[RegionSpec, ...]) -> None:
    _check_weighted([(r.name, r.weight) for r in regions], "regions")
    for r in regions:
        _check(
            r.delivery_days > 0, f"regions[{r.name}].delivery_days", "must be > 0", r.delivery_days
        )
        _check_weighted(r.carriers, f"regions[{r.name}].carriers")


def validate_incidents(incidents: tuple[Incident, ...], config: SimulationConfig) -> None:
    """Check incident fields against the configuration; ``ValueError`` names the field."""
    regions = {r.name: r for r in config.regions}
    channels = {n for n, _ in config.channels}
    queues = {n for n, _ in config.queues}
    for i, inc in enumerate(incidents):
        where = f"incidents[{i}]({inc.type})"
        if inc.start.tzinfo is None:
            _fail(f"{where}.start", "must be timezone-aware", inc.start)
        if inc.duration <= timedelta(0):
            _fail(f"{where}.duration", "must be > 0", inc.duration)
        if isinstance(inc, OrderDrop):
            if (inc.channel is None) == (inc.region is None) and inc.channel is not None:
                _fail(f"{where}.channel", "give a channel or a region, not both", inc.channel)
            if not 0 <= inc.magnitude < 1:
                _fail(f"{where}.magnitude", "must be a share in [0, 1)", inc.magnitude)
            _known(inc.channel, channels, f"{where}.channel")
            _known(inc.region, regions, f"{where}.region")
        elif isinstance(inc, DeliveryDelay | LostParcels):
            _known(inc.region, regions, f"{where}.region")
            if inc.carrier is not None and inc.region is not None:
                _known(
                    inc.carrier, {c for c, _ in regions[inc.region].carriers}, f"{where}.carrier"
                )
            _known(inc.carrier, set(config.carriers), f"{where}.carrier")
            if isinstance(inc, DeliveryDelay):
                _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
            elif not 0 < inc.magnitude <= 1:
                _fail(f"{where}.magnitude", "must be a share in (0, 1]", inc.magnitude)
        elif isinstance(inc, RefundDelay):
            if inc.category is not None and inc.channel is not None:
                _fail(f"{where}.channel", "give a category or a channel, not both", inc.channel)
            _known(inc.category, {c.name for c in config.categories}, f"{where}.category")
            _known(inc.channel, channels, f"{where}.channel")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, CarrierDamage):
            _known(inc.region, regions, f"{where}.region")
            if inc.carrier is not None and inc.region is not None:
                _known(
                    inc.carrier, {c for c, _ in regions[inc.region].carriers}, f"{where}.carrier"
                )
            _known(inc.carrier, set(config.carriers), f"{where}.carrier")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, WaitTimeSurge | HandleTimeSurge | SatisfactionDrop):
            _known(inc.queue, queues, f"{where}.queue")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, BadReviewWave):
            if inc.sku is not None:
                _known_sku(inc.sku, config.n_skus, f"{where}.sku")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, CancellationSpike):
            _known(inc.reason, set(CANCEL_REASONS), f"{where}.reason")
            _known(inc.channel, channels, f"{where}.channel")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, ComplaintSpike):
            _known(inc.reason, {r for r, _ in COMPLAINT_REASONS}, f"{where}.reason")
            _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
        elif isinstance(inc, SkuReturnSpike | WrongPrice):
            if inc.sku is not None:
                _known_sku(inc.sku, config.n_skus, f"{where}.sku")
            if isinstance(inc, SkuReturnSpike):
                _at_least(inc.magnitude, 1.0, f"{where}.magnitude")
            elif inc.magnitude <= 0 or inc.magnitude == 1:
                _fail(f"{where}.magnitude", "must be > 0 and != 1", inc.magnitude)
        elif isinstance(inc, SupplierQuality):
            if not 0 < inc.magnitude < 1:
                _fail(f"{where}.magnitude", "must be a probability in (0, 1)", inc.magnitude)
        elif isinstance(inc, CustomerBurst) and (
            inc.magnitude < 2 or inc.magnitude != int(inc.magnitude)
        ):
            _fail(f"{where}.magnitude", "must be a whole number of orders >= 2", inc.magnitude)


def _fail(name: str, rule: str, value: object) -> None:
    msg = f"{name}: {rule}, got {value!r}"
    raise ValueError(msg)


def _known(value: str | None, names: set[str] | dict[str, Any], name: str) -> None:
    if value is not None and value not in names:
        _fail(name, f"must be one of {sorted(names)}", value)


def _at_least(value: float, low: float, name: str) -> None:
    if value < low:
        _fail(name, f"must be >= {low}", value)


def _known_sku(sku: str, n_skus: int, name: str) -> None:
    try:
        index = int(sku.removeprefix("SKU-")) - 1
    except ValueError:
        index = -1
    if not 0 <= index < n_skus or sku_id(index) != sku:
        _fail(name, f"must be an existing SKU id (SKU-00001..{sku_id(n_skus - 1)})", sku)
