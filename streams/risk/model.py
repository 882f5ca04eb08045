"""Online logistic regression with AdaGrad steps and L2 shrinkage.

Each update is one stochastic gradient step on the log-loss of one labelled order:
``w_i <- w_i - eta / sqrt(G_i) * ((p - y) x_i + l2 w_i)`` with ``G_i`` the running sum
of squared gradients (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods",
JMLR 12). Pure Python floats: the same updates in the same order give bit-identical
weights in ``replay`` and in the worker.

Examples
--------
>>> model = OnlineLogit(("x",))
>>> for _ in range(200):
...     model.update((1.0,), 1)
...     model.update((-1.0,), 0)
>>> model.predict((1.0,)) > 0.5 > model.predict((-1.0,))
True
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

__all__ = ["OnlineLogit", "sigmoid"]


def sigmoid(z: float) -> float:
    """Logistic function, safe for large ``|z|``."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class OnlineLogit:
    """Weights over named features plus a bias.

    Parameters
    ----------
    names
        Feature names, in the order of the vectors given to :meth:`predict`.
    eta
        AdaGrad base step (0.1).
    l2
        L2 shrinkage per step (1e-4), keeps weights of rare features small.
    prior
        Initial probability the bias starts at (0.12: a typical order's risk).
    """

    def __init__(
        self, names: Sequence[str], *, eta: float = 0.1, l2: float = 1e-4, prior: float = 0.12
    ) -> None:
        self.names = tuple(names)
        self.eta = eta
        self.l2 = l2
        self.weights = [0.0] * len(self.names)
        self.bias = math.log(prior / (1.0 - prior))
        self.grad_sq = [1e-6] * (len(self.names) + 1)
        self.updates = 0

    def logit(self, x: Sequence[float]) -> float:
        """``bias + w . x``."""
        weights = self.weights
        if len(x) != len(weights):
            msg = f"expected {len(weights)} features, got {len(x)}"
            raise ValueError(msg)
        # fsum is exact whatever feeds it: ``map`` only saves the generator's frames.
        return self.bias + math.fsum(map(operator.mul, weights, x))

    def predict(self, x: Sequence[float]) -> float:
        """Probability of the positive class."""
        return sigmoid(self.logit(x))

    def update(self, x: Sequence[float], y: int) -> None:
        """One AdaGrad step on the log-loss of ``(x, y)``."""
        err = self.predict(x) - float(y)
        weights, grad_sq = self.weights, self.grad_sq
        for i, v in enumerate(x):
            g = err * v + self.l2 * weights[i]
            if g:
                grad_sq[i] += g * g
                weights[i] -= self.eta * g / math.sqrt(grad_sq[i])
        grad_sq[-1] += err * err
        self.bias -= self.eta * err / math.sqrt(grad_sq[-1])
        self.updates += 1

    def to_dict(self) -> dict[str, Any]:
        """The weights, bias, squared-gradient sums and update count (JSON-ready)."""
        return {"w": self.weights, "b": self.bias, "g": self.grad_sq, "n": self.updates}

    def load(self, data: dict[str, Any]) -> None:
        """Restore :meth:`to_dict` (vectors must match the feature count)."""
        weights, grad_sq = [float(v) for v in data["w"]], [float(v) for v in data["g"]]
        if len(weights) != len(self.names) or len(grad_sq) != len(self.names) + 1:
            raise ValueError("risk model snapshot has another feature set")
        self.weights, self.grad_sq = weights, grad_sq
        self.bias = float(data["b"])
        self.updates = int(data["n"])
