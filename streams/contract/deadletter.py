"""Dead-letter records: the raw value unchanged, the why in headers.

The value is the original bytes, so nothing is lost and nothing grows (an
oversized value is not base64-inflated past the broker's limit). Metadata travels
in headers, the convention of Kafka Connect's dead-letter queues:

========================  =============================================
header                    value (UTF-8)
========================  =============================================
``source_topic``          full name of the topic the value came from
``source_partition``      partition number
``source_offset``         offset in that partition
``reason``                machine-readable code (``streams.contract.validation.REASONS``)
``detail``                one human sentence
``field``                 the offending field, when there is one
``error_type``            the exception's type, for ``internal_error`` only
========================  =============================================
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from streams.exceptions import InvalidEvent

__all__ = ["DeadLetter"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for the dead-letter topic."""

    key: bytes | None
    value: bytes | None
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    detail: str
    field: str | None = None
    error_type: str | None = None

    @classmethod
    def from_error(
        cls,
        error: InvalidEvent,
        *,
        key: bytes | None,
        value: bytes | None,
        source_topic: str,
        source_partition: int,
        source_offset: int,
        error_type: str | None = None,
    ) -> DeadLetter:
        """Build the record for a value rejected with ``error``."""
        return cls(
            key,
            value,
            source_topic,
            source_partition,
            source_offset,
            error.reason,
            error.detail,
            error.field,
            error_type,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers carrying the source and the reason."""
        headers = [
            ("source_topic", self.source_topic.encode("utf-8", "replace")),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("reason", self.reason.encode()),
            ("detail", self.detail.encode("utf-8", "replace")),
        ]
        if self.field is not None:
            headers.append(("field", self.field.encode("utf-8", "replace")))
        if self.error_type is not None:
            headers.append(("error_type", self.error_type.encode()))
        return headers

    def to_json(self) -> bytes:
        """One JSON line for ``replay --dead-letters``: the headers' fields, and the raw
        key and value in base64 (lossless) and, when they are UTF-8, as text."""
        obj: dict[str, object] = {
            name: value.decode("utf-8", "replace") for name, value in self.headers()
        }
        obj["source_partition"] = self.source_partition
        obj["source_offset"] = self.source_offset
        for name, raw in (("key", self.key), ("value", self.value)):
            obj[f"{name}_base64"] = None if raw is None else base64.b64encode(raw).decode()
            obj[name] = None if raw is None else _text(raw)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if len(text) <= 4_096 else None
