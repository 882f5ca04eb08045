"""The wire contract: input events, validation, dead-letter reasons, partial records."""
