"""gumbelkit for PyTorch users: PyTorch's signatures and classes over the one core.

``import gumbelkit.torch`` (``import gumbelkit`` never imports PyTorch). The names follow
PyTorch's, so replacing an import is the migration (the values that are refused where PyTorch
takes them, such as ``tau=0``, ``hard=1`` or 0-d logits, are in docs/migration.md):

- :func:`gumbel_softmax` has the positional order and defaults of
  ``torch.nn.functional.gumbel_softmax`` (``dim=-1``, ``eps`` accepted and ignored), plus a
  ``generator`` and an ``estimator``;
- :func:`gumbel_max` draws ``argmax(logits + G)`` along ``dim``;
- :mod:`gumbelkit.torch.nn` has the modules ``GumbelSoftmax`` and ``HardConcreteGate``;
- :mod:`gumbelkit.torch.distributions` has ``torch.distributions`` subclasses with PyTorch's
  constructors (``RelaxedOneHotCategorical``, ``RelaxedBernoulli`` and the rest);
- :mod:`gumbelkit.torch.pyro` has the same classes for Pyro models (imported on its own, as it
  needs Pyro).

Every value is computed by :func:`gumbelkit.gumbel_softmax`, :func:`gumbelkit.gumbel_max` and
:mod:`gumbelkit.distributions`; this package only translates the arguments.
"""

from __future__ import annotations

from gumbelkit.torch import distributions, nn
from gumbelkit.torch._functional import gumbel_max, gumbel_softmax

__all__ = ["distributions", "gumbel_max", "gumbel_softmax", "nn"]
