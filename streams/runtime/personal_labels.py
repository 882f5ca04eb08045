"""The worker's :class:`~alerts.personal.LabelMask`, built from its settings."""

from __future__ import annotations

from alerts.personal import LabelMask
from streams.logs import get_logger
from streams.runtime.config import Settings

__all__ = ["label_mask"]

log = get_logger("aftersales.config")


def label_mask(settings: Settings, *, warn: bool = True) -> LabelMask:
    """How customer and address keys appear in Prometheus labels (``AFTERSALES_PERSONAL_LABELS``).

    Call after logging is configured: hashing without a secret key logs a warning
    (``warn=False``: not for the local demo).
    """
    if warn and settings.personal_labels == "hash" and not settings.personal_labels_key:
        log.warning(
            "personal_labels_key_unset",
            detail="customer and address labels are hashed with a key derived from "
            "the app id; set AFTERSALES_PERSONAL_LABELS_KEY to a secret so "
            "nobody can test guessed ids against them",
        )
    return LabelMask(settings.personal_labels, settings.personal_labels_secret)
