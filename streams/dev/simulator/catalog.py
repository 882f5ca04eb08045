"""The SKU catalogue: categories, prices, long-tail popularity and per-SKU return propensity.

Popularity follows a Zipf-like law: the SKU of popularity rank ``r`` (1-based) is
ordered with weight ``1 / r**s``. Ranks are a seeded permutation of the SKU ids so
that ``SKU-00001`` is not always the best seller.

Examples
--------
>>> from streams.dev.simulator.config import SimulationConfig
>>> cat = Catalog.build(SimulationConfig(seed=1, n_skus=50))
>>> len(cat.skus), cat.skus[0]
(50, 'SKU-00001')
>>> bool(abs(cat.popularity.sum() - 1.0) < 1e-9)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.ids import sku_id

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


SUPPLIERS_PER_CATEGORY = 10
"""Each category's SKUs come from this many suppliers (a fixed hash of the SKU index)."""


def supplier_id(category: str, index: int) -> str:
    """The id of supplier ``index`` (0-based) of ``category``, e.g. ``SUP-home-03``."""
    return f"SUP-{category}-{index + 1:02d}"


def supplier_index(sku_index: int) -> int:
    """Which of its category's suppliers makes the SKU at ``sku_index`` (Knuth's hash)."""
    return (sku_index * 2_654_435_761 % (1 << 32)) * SUPPLIERS_PER_CATEGORY >> 32


@dataclass(frozen=True, slots=True)
class Catalog:
    """Per-SKU arrays indexed by SKU index.

    Parameters
    ----------
    skus
        SKU ids.
    category
        Category index of each SKU (into ``config.categories``).
    price
        Usual unit price.
    popularity
        Probability that an order is for this SKU (sums to 1).
    return_factor
        Multiplier on the category return rate; popularity-weighted mean 1 per category.
    rank
        0-based popularity rank (0 = best seller).
    """

    skus: tuple[str, ...]
    category: IntArray
    price: FloatArray
    popularity: FloatArray
    return_factor: FloatArray
    rank: IntArray

    @classmethod
    def build(cls, config: SimulationConfig) -> Catalog:
        """Draw the catalogue from its own seeded stream (independent of traffic draws)."""
        rng = np.random.default_rng([config.seed, 0])
        n = config.n_skus
        weights = np.array([c.weight for c in config.categories])
        category = rng.choice(len(weights), size=n, p=weights / weights.sum()).astype(np.int64)
        lo = np.array([c.price_min for c in config.categories])[category]
        hi = np.array([c.price_max for c in config.categories])[category]
        raw = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        price = np.maximum(np.round(raw) - 0.01, 0.99)
        rank = rng.permutation(n).astype(np.int64)
        pop = (1.0 / (rank + 1.0) ** config.zipf_exponent).astype(np.float64)
        pop /= pop.sum()
        factor = rng.lognormal(0.0, 0.35, size=n)
        for c in range(len(weights)):
            mask = category == c
            if mask.any():
                factor[mask] /= np.average(factor[mask], weights=pop[mask])
        skus = tuple(sku_id(i) for i in range(n))
        return cls(skus, category, price, pop, factor, rank)

    def by_rank(self, rank: int, category: int | None = None) -> int:
        """Index of the SKU at popularity ``rank`` (0-based), optionally within one category."""
        order = np.argsort(self.rank)
        if category is not None:
            order = order[self.category[order] == category]
        return int(order[min(rank, len(order) - 1)])

    def typical_returner(self, category: int) -> int:
        """A popular SKU of ``category`` (not its best seller) whose return rate is ordinary.

        The default target of a SKU return spike: popular enough to measure, and with a
        return factor in ``[0.75, 1.25]`` so that a 3x spike is not capped at 90%.
        """
        order = np.argsort(self.rank)
        order = order[self.category[order] == category]
        ordinary = [int(i) for i in order[1:] if 0.75 <= self.return_factor[i] <= 1.25]
        return ordinary[0] if ordinary else int(order[min(1, len(order) - 1)])

    def supplier_of(self, index: int, category_names: tuple[str, ...]) -> str:
        """The supplier id of the SKU at ``index``."""
        return supplier_id(category_names[int(self.category[index])], supplier_index(index))

    def supplier_skus(self, supplier: str, category_names: tuple[str, ...]) -> IntArray:
        """Indices of the SKUs of ``supplier``; ``ValueError`` if it makes none."""
        hits = [i for i in range(len(self.skus)) if self.supplier_of(i, category_names) == supplier]
        if not hits:
            msg = f"supplier: unknown supplier {supplier!r}"
            raise ValueError(msg)
        return np.array(hits, dtype=np.int64)

    def index_of(self, sku: str) -> int:
        """Index of a SKU id; ``ValueError`` if unknown."""
        try:
            index = int(sku.removeprefix("SKU-")) - 1
        except ValueError:
            index = -1
        if not 0 <= index < len(self.skus) or self.skus[index] != sku:
            msg = f"sku: unknown SKU {sku!r}"
            raise ValueError(msg)
        return index
