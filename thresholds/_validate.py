"""Input checks shared by the public entry points (private helpers)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from thresholds.errors import NonFiniteInputError

__all__ = ["finite_array", "finite_float"]


def finite_float(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise naming ``name`` when it is NaN or inf."""
    x = float(value)
    if not math.isfinite(x):
        msg = f"{name} must be a finite number, got {value!r}"
        raise NonFiniteInputError(msg)
    return x


def finite_array(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``values`` as a float64 array, or raise naming the first bad entry."""
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = int(np.flatnonzero(bad.ravel())[0])
        msg = f"{name}[{idx}] must be a finite number, got {arr.ravel()[idx]!r}"
        raise NonFiniteInputError(msg)
    return arr
