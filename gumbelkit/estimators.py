"""Gradient estimators of hard samples, for ``gumbel_softmax(..., hard=True, estimator=...)``.

Every estimator returns the same forward value, the exact one-hot ``D`` of
``argmax(logits + G)``; they differ only in the gradient passed to the logits. The strings
``"st"``, ``"st-probs"``, ``"reinmax"``, ``"gumbel-rao"``, ``"gapped"`` and ``"gapped-p"``
name them; the classes here carry the parameters of the two that have one. See
docs/estimators.md for the formulas and when to use which.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

__all__ = ["Estimator", "Gapped", "GumbelRao", "ReinMaxTemperatureWarning"]


class ReinMaxTemperatureWarning(UserWarning):
    """ReinMax was asked for with a temperature below 1.

    ReinMax's second-order approximation prefers ``tau >= 1`` (at ``tau = 1`` its expected
    gradient is exact for quadratic objectives), while straight-through Gumbel-Softmax
    prefers ``tau < 1``. Filter this warning by its class to silence it::

        warnings.filterwarnings("ignore", category=gk.ReinMaxTemperatureWarning)
    """


@dataclass(frozen=True)
class GumbelRao:
    """Gumbel-Rao: straight-through Gumbel-Softmax, Rao-Blackwellised over the noise.

    The gradient is that of ``mean_m softmax((logits + G_m) / tau)``, where the ``G_m`` are
    ``samples`` independent draws of the noise conditioned on the drawn one-hot ``D``
    (:func:`gumbelkit.conditional_gumbel`), detached from the logits. Its expectation is that
    of straight-through Gumbel-Softmax, with no larger variance; ``samples=1`` has the law of
    straight-through Gumbel-Softmax itself.

    Parameters
    ----------
    samples : int, optional
        Conditional noise draws per sample, at least 1. The string ``"gumbel-rao"`` means
        ``GumbelRao(samples=10)``; the reference implementation (Paulus et al.) uses 100. Cost
        and memory grow linearly with it.

    Examples
    --------
    >>> import gumbelkit as gk
    >>> gk.GumbelRao(samples=100)
    GumbelRao(samples=100)

    """

    samples: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.samples, numbers.Integral) or isinstance(self.samples, bool):
            raise TypeError(f"samples must be an int; got {type(self.samples).__name__}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1; got {self.samples}")
        object.__setattr__(self, "samples", int(self.samples))


@dataclass(frozen=True)
class Gapped:
    """Gapped straight-through (GST, Fan et al. 2022).

    The gradient is that of ``softmax(logits_gapped / tau)``, where ``logits_gapped`` moves the
    sampled class to the largest logit and keeps every other class at least ``gap`` below it:
    a deterministic perturbation, consistent with the sample, that imitates a Gumbel-Softmax
    sample concentrated on ``D`` without drawing noise.

    Parameters
    ----------
    gap : float or "p", optional
        The gap ``delta``, positive and finite (GST-1.0 for ``1.0``, the string ``"gapped"``),
        or ``"p"`` (GST-p, the string ``"gapped-p"``): ``delta = -log(1 - p) / p`` with ``p``
        the probability of the sampled class times ``1 - 1e-5``, which is at least 1 and grows
        as ``p`` approaches 1.

    Examples
    --------
    >>> import gumbelkit as gk
    >>> gk.Gapped(0.5), gk.Gapped("p")
    (Gapped(gap=0.5), Gapped(gap='p'))

    """

    gap: float | Literal["p"] = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.gap, str) and self.gap == "p":
            return
        if not isinstance(self.gap, numbers.Real) or isinstance(self.gap, bool):
            raise TypeError(f"gap must be a positive float or 'p'; got {self.gap!r}")
        try:
            gap = float(self.gap)
        except OverflowError:  # an int beyond the floats
            gap = math.inf
        if not math.isfinite(gap) or gap <= 0:
            raise ValueError(f"gap must be a positive finite float or 'p'; got {gap}")
        object.__setattr__(self, "gap", gap)


Estimator = str | GumbelRao | Gapped
"""What ``gumbel_softmax`` accepts as ``estimator``: a name, or a parametrised estimator."""
