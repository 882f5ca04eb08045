"""Ids of simulated SKUs, customers and addresses: ``SKU-00001``, ``C-0000001``, ``A-0000001``.

A leaf module: the configuration checks incident targets against them, the catalogue
and the order model name their entities with them.
"""

from __future__ import annotations

__all__ = ["address_id", "customer_id", "sku_id"]


def sku_id(index: int) -> str:
    """The id of the SKU at 0-based ``index``."""
    return f"SKU-{index + 1:05d}"


def customer_id(index: int) -> str:
    """The id of the customer at 0-based ``index``."""
    return f"C-{index + 1:07d}"


def address_id(index: int) -> str:
    """The id of address ``index`` (customer ``i`` lives at ``i``, sometimes at ``n + i``)."""
    return f"A-{index + 1:07d}"
