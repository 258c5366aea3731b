"""gumbelkit's relaxed distributions for Pyro: the PyTorch classes with Pyro's mixin.

Pyro calls a distribution to sample it and asks it for ``score_parts``, ``expand_by`` and
``to_event``, which ``torch.distributions`` classes lack; Pyro adds them to PyTorch's own
classes with its ``TorchDistributionMixin``, and this module does the same to gumbelkit's.
Use these classes in ``pyro.sample``; they are the :mod:`gumbelkit.torch.distributions`
classes in every other respect (``isinstance`` holds). Importing this module imports Pyro.
"""

from __future__ import annotations

from pyro.distributions.torch_distribution import TorchDistributionMixin

from gumbelkit.torch import distributions as _base

__all__ = [
    "ExpRelaxedCategorical",
    "HardConcrete",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "RelaxedOneHotCategoricalStraightThrough",
]

# Pyro's wrappers of PyTorch's classes put the PyTorch class first and the mixin second
# (pyro/distributions/torch.py); the same order keeps gumbelkit's expand and shapes. The
# mixin's expand returns Pyro's ExpandedDistribution, gumbelkit's returns its own class: the
# type checker calls the two incompatible, hence the ignores on the class lines.


class ExpRelaxedCategorical(_base.ExpRelaxedCategorical, TorchDistributionMixin):
    """:class:`gumbelkit.torch.distributions.ExpRelaxedCategorical` for Pyro models.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite; one temperature per row as a tensor.
    probs : torch.Tensor, optional
        Class probabilities along the last axis; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.pyro import ExpRelaxedCategorical
    >>> ExpRelaxedCategorical(0.5, logits=torch.zeros(3))().shape
    torch.Size([3])

    """


class RelaxedOneHotCategorical(_base.RelaxedOneHotCategorical, TorchDistributionMixin):
    """:class:`gumbelkit.torch.distributions.RelaxedOneHotCategorical` for Pyro models.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite; one temperature per row as a tensor (``(n, 1)`` for ``(n, K)``
        logits works too).
    probs : torch.Tensor, optional
        Class probabilities along the last axis; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import torch
    >>> import pyro
    >>> from gumbelkit.torch.pyro import RelaxedOneHotCategorical
    >>> pyro.sample("z", RelaxedOneHotCategorical(0.5, logits=torch.zeros(2, 3))).shape
    torch.Size([2, 3])

    """


class RelaxedOneHotCategoricalStraightThrough(  # type: ignore[misc]
    _base.RelaxedOneHotCategoricalStraightThrough, TorchDistributionMixin
):
    """:class:`gumbelkit.torch.distributions.RelaxedOneHotCategoricalStraightThrough` for Pyro.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite; one temperature per row as a tensor.
    probs : torch.Tensor, optional
        Class probabilities along the last axis; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the one-hot sample.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.pyro import RelaxedOneHotCategoricalStraightThrough
    >>> y = RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(3))()
    >>> float(y.sum())
    1.0

    """


class LogitRelaxedBernoulli(_base.LogitRelaxedBernoulli, TorchDistributionMixin):
    """:class:`gumbelkit.torch.distributions.LogitRelaxedBernoulli` for Pyro models.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite, broadcasting against the logits.
    probs : torch.Tensor or float, optional
        ``P(round(Y) = 1)``; exclusive with ``logits``.
    logits : torch.Tensor or float, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.pyro import LogitRelaxedBernoulli
    >>> LogitRelaxedBernoulli(0.5, logits=torch.zeros(4))().shape
    torch.Size([4])

    """


class RelaxedBernoulli(_base.RelaxedBernoulli, TorchDistributionMixin):
    """:class:`gumbelkit.torch.distributions.RelaxedBernoulli` for Pyro models.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite, broadcasting against the logits.
    probs : torch.Tensor or float, optional
        ``P(Y > 1/2)``; exclusive with ``logits``.
    logits : torch.Tensor or float, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.pyro import RelaxedBernoulli
    >>> RelaxedBernoulli(0.5, logits=torch.zeros(4)).to_event(1).event_shape
    torch.Size([4])

    """


class HardConcrete(_base.HardConcrete, TorchDistributionMixin):  # type: ignore[misc]
    """:class:`gumbelkit.torch.distributions.HardConcrete` for Pyro models (no ``log_prob``).

    Parameters
    ----------
    log_alpha : torch.Tensor
        The gates' location parameter.
    beta : float, optional
        Temperature, positive.
    gamma : float, optional
        Lower end of the stretch interval, negative.
    zeta : float, optional
        Upper end of the stretch interval, above 1.
    validate_args : bool, optional
        Check the parameters and the values given to ``cdf``.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.pyro import HardConcrete
    >>> HardConcrete(torch.zeros(4))().shape
    torch.Size([4])

    """
