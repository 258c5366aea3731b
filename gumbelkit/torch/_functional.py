"""The functional front end: ``torch.nn.functional.gumbel_softmax``'s signature over the core."""

from __future__ import annotations

import warnings

import torch

import gumbelkit
from gumbelkit._checks import check_axis, framework_row_temperature, type_name
from gumbelkit.estimators import Estimator

__all__ = ["gumbel_max", "gumbel_softmax"]

# The default of F.gumbel_softmax's eps; any other value draws its deprecation warning.
_EPS_DEFAULT = 1e-10


def _row_temperature(tau: float | torch.Tensor, logits: torch.Tensor,
                     dim: int) -> float | torch.Tensor:
    """Return ``tau`` as the core takes it: a float, or a tensor without the class axis.

    A tensor broadcasts as in ``(logits + G) / tau``, PyTorch's rule: one temperature per row
    keeps the class axis with size 1 (``(n, 1)`` for ``(n, K)`` or ``(B, n, K)`` logits), which
    goes here (:func:`gumbelkit._checks.framework_row_temperature`). The core's own form, the
    shape of ``logits`` without ``dim``, passes as it is.
    """
    if isinstance(tau, torch.Tensor) and tau.ndim > 0 and isinstance(logits, torch.Tensor):
        rows = framework_row_temperature(tuple(tau.shape), tuple(logits.shape), dim, "tau")
        if rows is not None:
            return tau.reshape(rows)
    return tau


def _check_logits_and_dim(logits: object, dim: object) -> None:
    """Check that ``logits`` is a tensor and ``dim`` one of its dims (the core says ``axis``).

    The core takes every library's arrays; this front end, like ``F.gumbel_softmax``, takes
    tensors only, so NumPy logits raise here rather than come back as a NumPy array.
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor; got {type_name(logits)} "
                        "(gumbelkit's own functions take the arrays of every library)")
    if logits.ndim > 0:
        check_axis(dim, logits.ndim, "dim")


def gumbel_softmax(
    logits: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    hard: bool = False,
    eps: float = _EPS_DEFAULT,
    dim: int = -1,
    *,
    generator: torch.Generator | None = None,
    estimator: Estimator = "st",
) -> torch.Tensor:
    """Draw a Gumbel-Softmax sample, with ``torch.nn.functional.gumbel_softmax``'s signature.

    The positional order and the defaults are PyTorch's, so replacing the import is the whole
    migration. The sample is :func:`gumbelkit.gumbel_softmax`'s: finite noise for every
    uniform, noise and softmax in float32 or wider, ties to the first index.

    Parameters
    ----------
    logits : torch.Tensor
        Unnormalised log-probabilities, classes along ``dim``; a ``-inf`` entry masks its class.
    tau : float or torch.Tensor, optional
        Temperature, positive and finite: a float, or a tensor with one temperature per row
        that broadcasts against ``logits`` as in PyTorch, with size 1 along ``dim`` (``(n, 1)``
        for ``(n, K)`` or ``(B, n, K)`` logits); also the shape of ``logits`` without ``dim``.
        A temperature per class raises ``ValueError``.
    hard : bool, optional
        Return an exactly one-hot sample whose gradient is given by ``estimator``.
    eps : float, optional
        Deprecated and without effect, as in PyTorch: a value other than the default warns
        with PyTorch's ``UserWarning`` (in eager mode; not while ``torch.compile`` traces).
    dim : int, optional
        The class dimension of ``logits``.
    generator : torch.Generator, optional
        The random source, on the device of ``logits``; ``None`` uses PyTorch's global
        generator, so ``torch.manual_seed`` applies as with ``F.gumbel_softmax``.
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the hard sample, as for :func:`gumbelkit.gumbel_softmax`;
        "st" (straight-through) is PyTorch's.

    Returns
    -------
    torch.Tensor
        The sample, with the shape, dtype and device of ``logits``.

    Examples
    --------
    >>> import torch
    >>> import gumbelkit.torch as gkt
    >>> logits = torch.randn(4, 10)
    >>> y = gkt.gumbel_softmax(logits, 0.5, True, generator=torch.Generator().manual_seed(0))
    >>> bool((y.sum(dim=-1) == 1).all())
    True

    """
    if eps != _EPS_DEFAULT and not torch.compiler.is_compiling():
        # PyTorch's own message and category (torch/nn/functional.py), so filters match both.
        # Not while torch.compile traces: Dynamo cannot trace warnings.warn outside PyTorch,
        # and fullgraph=True would fail on a parameter that does nothing.
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    _check_logits_and_dim(logits, dim)
    sample: torch.Tensor = gumbelkit.gumbel_softmax(
        logits, tau=_row_temperature(tau, logits, dim), hard=hard, axis=dim, rng=generator,
        estimator=estimator,
    )
    return sample


def gumbel_max(
    logits: torch.Tensor,
    dim: int = -1,
    *,
    generator: torch.Generator | None = None,
    sample_shape: int | tuple[int, ...] = (),
) -> torch.Tensor:
    """Draw categorical indices ``argmax(logits + G)`` (the Gumbel-Max trick).

    Parameters
    ----------
    logits : torch.Tensor
        Unnormalised log-probabilities, classes along ``dim``; a ``-inf`` entry is never drawn.
    dim : int, optional
        The class dimension of ``logits``.
    generator : torch.Generator, optional
        The random source, on the device of ``logits``; ``None`` uses PyTorch's global
        generator.
    sample_shape : int or tuple of int, optional
        Independent draws per row; the result has shape ``sample_shape`` + the row shape.

    Returns
    -------
    torch.Tensor
        ``int64`` indices on the device of ``logits``, as :func:`gumbelkit.gumbel_max` returns.

    Examples
    --------
    >>> import torch
    >>> import gumbelkit.torch as gkt
    >>> gkt.gumbel_max(torch.zeros(2, 5), sample_shape=(3,)).shape
    torch.Size([3, 2])

    """
    _check_logits_and_dim(logits, dim)
    index: torch.Tensor = gumbelkit.gumbel_max(logits, axis=dim, rng=generator,
                                               sample_shape=sample_shape)
    return index
