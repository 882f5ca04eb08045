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
``reason``                machine-readable code (``streams.validation.REASONS``)
``detail``                one human sentence
``field``                 the offending field, when there is one
========================  =============================================
"""

from __future__ import annotations

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
    ) -> DeadLetter:
        """Build the record for a value rejected with ``error``."""
        return cls(key, value, source_topic, source_partition, source_offset,
                   error.reason, error.detail, error.field)

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers carrying the source and the reason."""
        headers = [
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("reason", self.reason.encode()),
            ("detail", self.detail.encode("utf-8", "replace")),
        ]
        if self.field is not None:
            headers.append(("field", self.field.encode()))
        return headers
