"""Exceptions raised by the threshold engine.

Hierarchy::

    ValueError
     ├── NonFiniteInputError   a NaN or infinite number reached the engine
     └── StateMismatchError    a state belongs to another configuration or format
"""

from __future__ import annotations

__all__ = ["NonFiniteInputError", "StateMismatchError"]


class NonFiniteInputError(ValueError):
    """A NaN or infinite input; the message names the field and the value."""


class StateMismatchError(ValueError):
    """A serialised state does not match the detector that tries to load it."""
