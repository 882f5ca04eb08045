"""Personal keys in Prometheus labels: hashed, dropped or kept.

Series whose dimension includes ``customer`` or ``address`` carry a customer or
address id as their key. Prometheus keeps labels for weeks and shows them to
anyone with dashboard access, so :class:`LabelMask` rewrites those keys before
they become labels: ``hash`` replaces each with ``h-`` and the first 12 hex
digits of HMAC-SHA256(secret, ``dimension|key``) (stable across restarts and
workers that share the secret; 48 bits make a collision among a million ids
about 1 in 500), ``drop`` leaves such series out of the per-series gauges and
shows their alerts with the key ``redacted``, ``keep`` changes nothing. Outside
``keep`` the ``alert_id`` label of such alerts is keyed the same way (the plain
id is an unkeyed hash of the key and the start time, open to guessing). The
alerts topic is not affected: it keeps the real keys and ids.

The key also appears in an alert's summary and runbook; those texts get the
same replacement wherever the key (or, for a compound key, a personal part of
it) stands as a whole token.

Examples
--------
>>> mask = LabelMask("hash", secret=b"s3cret")
>>> mask.key(SeriesRef("customer_order_burst", "customer", "C-0000077"))
'h-...'
>>> mask.key(SeriesRef("return_rate", "sku", "SKU-1"))
'SKU-1'
>>> LabelMask("drop").key(SeriesRef("customer_order_burst", "address", "A-1")) is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final, Literal

from alerts.model import SeriesRef

__all__ = ["PERSONAL_DIMENSIONS", "REDACTED", "LabelMask", "Mode"]

Mode = Literal["hash", "drop", "keep"]
PERSONAL_DIMENSIONS: Final = frozenset({"customer", "address"})
REDACTED: Final = "redacted"
_HEX_DIGITS: Final = 12


class LabelMask:
    """Rewrites personal keys for Prometheus labels (see the module docstring).

    Parameters
    ----------
    mode
        ``"hash"``, ``"drop"`` or ``"keep"``.
    secret
        Key of the HMAC in ``hash`` mode. Anyone who knows it can test a guessed
        id against a label, so set a secret one in production.
    """

    def __init__(self, mode: Mode = "hash", secret: bytes = b"") -> None:
        if mode not in ("hash", "drop", "keep"):
            raise ValueError(f"mode must be hash, drop or keep, got {mode!r}")
        self.mode: Mode = mode
        self._secret = secret

    @staticmethod
    def is_personal(dimension: str) -> bool:
        """True when any part of ``dimension`` (e.g. ``"customer,address"``) is personal."""
        return any(part in PERSONAL_DIMENSIONS for part in dimension.split(","))

    def key(self, series: SeriesRef) -> str | None:
        """The series' key as a label; ``None`` means leave the series out (``drop``)."""
        if self.mode == "keep" or not self.is_personal(series.dimension):
            return series.key
        if self.mode == "drop":
            return None
        return self._hash(series.dimension, series.key)

    def info_key(self, series: SeriesRef) -> str:
        """The key shown in an alert's info labels (``drop`` shows ``redacted``)."""
        key = self.key(series)
        return REDACTED if key is None else key

    def alert_id(self, alert_id: str, series: SeriesRef) -> str:
        """The episode id as a label: for personal series outside ``keep``, keyed like keys.

        ``alert_id`` is sha256 of the series and its start time, unkeyed: anyone could
        recover a customer id from it by trying ids and window ends. Keyed, it still
        tells episodes apart and stays stable across restarts.
        """
        if self.mode == "keep" or not self.is_personal(series.dimension):
            return alert_id
        return self._hash("alert_id", alert_id)

    def text(self, text: str, series: SeriesRef) -> str:
        """``text`` with the series' personal key (and personal parts) replaced."""
        if self.mode == "keep" or not self.is_personal(series.dimension):
            return text
        replacements = [(series.key, self.info_key(series))]
        dims = series.dimension.split(",")
        parts = series.key.split(",")
        if len(dims) > 1 and len(dims) == len(parts):
            replacements += [
                (part, REDACTED if self.mode == "drop" else self._hash(dim, part))
                for dim, part in zip(dims, parts, strict=True)
                if dim in PERSONAL_DIMENSIONS
            ]
        for value, masked in replacements:
            if value:
                text = _token(value).sub(masked, text)
        return text

    def _hash(self, dimension: str, key: str) -> str:
        message = f"{dimension}|{key}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, message, hashlib.sha256)
        return "h-" + digest.hexdigest()[:_HEX_DIGITS]


def _token(value: str) -> re.Pattern[str]:
    """``value`` where it stands alone: not inside a longer id or number."""
    return re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w-]|\.\w)")
