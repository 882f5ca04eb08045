"""What an alert's context says in words: the sentence appended to its runbook.

A rule's context (:mod:`streams.pipeline.window_judge`) lists the sub-keys that
contribute most (``top_<field>``: reason, carrier, SKU...) and, for per-order roll-ups,
the affected orders; :func:`context_note` names them in the locale's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from alerts.locales import Catalogue, catalogue

__all__ = ["context_note"]

#: Context lists shown by :func:`context_note`, and how many of their entries.
_NOTE_TOP: Final = 2
_NOTE_ORDERS: Final = 5


def context_note(context: Mapping[str, object], texts: Catalogue | None = None) -> str:
    """One or two sentences naming what the alert's context holds: the top sub-keys
    (``top_<field>`` lists) and the affected orders (``orders``).

    >>> context_note(
    ...     {
    ...         "top_reason": [{"key": "damaged", "count": 5, "share": 0.625}],
    ...         "orders": ["O-1", "O-2"],
    ...     }
    ... )
    'Most affected: reason damaged (62%). Affected orders: O-1, O-2.'
    """
    texts = texts or catalogue("en")
    parts = []
    for name in sorted(context):
        entries = context[name]
        if not name.startswith("top_") or not isinstance(entries, list):
            continue
        shown = [
            f"{entry['key']} ({entry['share'] * 100:.0f}%)"
            for entry in entries[:_NOTE_TOP]
            if isinstance(entry, Mapping) and "key" in entry and "share" in entry
        ]
        if shown:
            field = name[4:]
            label = (
                texts.text(f"context.{field}")
                if f"context.{field}" in texts.texts
                else texts.label("dimension", field)
            )
            parts.append(f"{label} {', '.join(shown)}")
    sentences = [texts.text("context.most_affected", parts="; ".join(parts))] if parts else []
    orders = context.get("orders")
    if isinstance(orders, list) and orders:
        more = len(orders) - _NOTE_ORDERS
        listed = ", ".join(str(order) for order in orders[:_NOTE_ORDERS])
        if more > 0:
            listed += texts.text("context.more", n=more)
        sentences.append(texts.text("context.orders", orders=listed))
    return " ".join(sentences)
