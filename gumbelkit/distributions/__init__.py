"""Relaxed distributions with ``log_prob``: Concrete, ExpConcrete, binary Concrete, Hard Concrete.

Every class works on every backend: the mathematics is written once against the array API
standard, and the adapter of the parameters' library supplies the random numbers and the
stop-gradient. Samples come from the library's own samplers (:func:`gumbelkit.gumbel_softmax`
and the Gumbel noise behind it), so they have the laws the conformance suite checks.

Densities and their base measures (docs/mathematics.md#concrete-density,
docs/mathematics.md#binary-concrete and docs/mathematics.md#hard-concrete):

- :class:`RelaxedOneHotCategorical` (Concrete): a density on the simplex with respect to
  Lebesgue measure on the first ``K - 1`` coordinates; it integrates to 1.
- :class:`ExpRelaxedOneHotCategorical` (ExpConcrete, log space): ``log q(z)``, the
  torch.distributions / TFP form. It is a density with respect to ``exp(-z_K) dz_1..dz_{K-1}``,
  not Lebesgue measure: fine for KL terms and likelihood ratios between ExpConcretes, wrong
  where it is integrated or mixed with densities on another base measure.
- :class:`RelaxedBernoulli` (binary Concrete): a density on ``(0, 1)``.
- :class:`LogitRelaxedBernoulli`: the Logistic(``logits / tau``, ``1 / tau``) density on the
  real line.
- :class:`HardConcrete` (L0 gates): atoms at 0 and 1 and a density between; it has ``cdf``,
  the atom probabilities and the expected L0 penalty, no ``log_prob``.

Computation runs in float32, or float64 for float64 parameters, and results are cast to the
parameters' dtype. A ``-inf`` logit masks its class: it is dropped from the event, its
probability is exactly 0 and its gradient exactly 0.
"""

from __future__ import annotations

from gumbelkit.distributions._binary import LogitRelaxedBernoulli, RelaxedBernoulli
from gumbelkit.distributions._concrete import (
    ExpRelaxedOneHotCategorical,
    RelaxedOneHotCategorical,
)
from gumbelkit.distributions._hard_concrete import HardConcrete

__all__ = [
    "ExpRelaxedOneHotCategorical",
    "HardConcrete",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
]
