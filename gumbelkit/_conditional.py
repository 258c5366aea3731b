"""Gumbel noise conditioned on the argmax: the exponential race of MATH.md section 7.

Given logits ``theta`` and a class ``i``, ``X = theta + G`` conditioned on ``argmax X = i`` is

    X_i = LSE(theta) - log E_i,    X_j = -log(exp(-X_i) + E_j exp(-theta_j))   (j != i)

with ``E`` iid Exp(1): the winner's arrival time ``exp(-X_i)`` of the race with rates
``exp(theta)`` is Exp(sum exp(theta)) whoever wins, and by memorylessness each loser arrives
an independent Exp(exp(theta_j)) time later. The noise is computed directly as

    G_i = (LSE(theta) - theta_i) - log E_i,    G_j = -logaddexp(theta_j - X_i, log E_j)

which never forms ``X_j - theta_j`` by cancellation, and gives a masked class
(``theta_j = -inf``) the finite, unconditioned noise ``-log E_j``: its perturbed logit stays
``-inf`` and it never wins.
"""

from __future__ import annotations

import math
from typing import Any

# The module, not its names: _sampling imports the estimators, which import this module.
from gumbelkit import _sampling
from gumbelkit._checks import broadcast_shapes, concrete_bool
from gumbelkit.backends import Adapter

Array = Any
Namespace = Any

__all__ = ["conditional_gumbel", "conditional_noise"]


def conditional_noise(
    theta: Array,
    index: Array,
    axis: int,
    shape: tuple[int, ...],
    *,
    adapter: Adapter,
    xp: Namespace,
    source: Any,
    device: Any,
    check_index: bool = False,
) -> tuple[Array, Any]:
    """Return noise ``G`` of ``shape`` with ``argmax(theta + G, axis) == index``, and the source.

    ``theta`` (float32 or float64: the compute dtype, which the noise gets) broadcasts to
    ``shape``; ``axis`` is negative, the class axis counted from the end; ``index`` broadcasts
    to ``shape`` without the class axis. The noise carries no gradient. Where ``index`` is out
    of range or names a masked class, or the row of ``theta`` has a NaN, a ``+inf`` or no
    finite value, the row is NaN; with ``check_index`` an out-of-range or masked ``index``
    raises ``ValueError`` instead where its validity can be read for free (host memory, no
    trace).

    The perturbed logits are exact in the compute dtype: every loser ``j`` has
    ``theta_j + G_j < theta_i + G_i`` after rounding, so the argmax is ``index`` even where the
    exact ``X_j`` lies within rounding of ``X_i``. Such a loser gets
    ``G_j = nextafter(fl(t - theta_j), -inf)``, with ``t`` the largest float below
    ``theta_i + G_i``; then ``theta_j + G_j < t`` exactly, since a float's lower neighbour lies
    below every real number it is the rounding of. The move is a few units in the last place
    and happens only where rounding would otherwise have broken the conditioning.
    """
    theta = adapter.stop_gradient(theta)
    dtype = theta.dtype
    num_classes = shape[axis]
    positive_axis = len(shape) + axis
    row_shape = shape[:positive_axis] + shape[positive_axis + 1:]
    index = xp.expand_dims(xp.broadcast_to(index, row_shape), axis=positive_axis)
    class_shape = [1] * len(shape)
    class_shape[positive_axis] = num_classes
    classes = xp.reshape(
        xp.arange(num_classes, dtype=index.dtype, device=device), tuple(class_shape)
    )
    chosen = index == classes
    zero = xp.zeros((), dtype=dtype, device=device)

    row_max = xp.max(theta, axis=axis, keepdims=True)
    row_valid = xp.isfinite(row_max)
    theta_i = xp.sum(xp.where(chosen, theta, zero), axis=axis, keepdims=True)
    # Blame the index only in rows that are valid data; a bad row is NaN whatever it says.
    index_valid = xp.logical_or(
        xp.logical_and(xp.any(chosen, axis=axis, keepdims=True), theta_i != -math.inf),
        xp.logical_not(row_valid),
    )
    if check_index and adapter.is_host_readable(index_valid) and not concrete_bool(
        xp.all(index_valid), "index"
    ):
        raise ValueError(
            f"index must name an unmasked class of each row, in [0, {num_classes}); got an "
            "index out of range or at a -inf logit"
        )

    # -log E, E = -log U: standard Gumbel noise from the backend's uniforms.
    minus_log_e, source = _sampling.draw_gumbel_from(adapter, xp, source, shape, dtype, device)
    minus_log_e_i = xp.sum(xp.where(chosen, minus_log_e, zero), axis=axis, keepdims=True)
    log_sum_exp = row_max + xp.log(xp.sum(xp.exp(theta - row_max), axis=axis, keepdims=True))
    top = log_sum_exp + minus_log_e_i  # X_i
    winner = (log_sum_exp - theta_i) + minus_log_e_i
    loser = -xp.logaddexp(theta - top, -minus_log_e)
    noise = xp.where(chosen, winner, loser)

    # Keep every loser strictly below the winner after rounding (see the docstring).
    perturbed = theta + noise
    best = xp.sum(xp.where(chosen, perturbed, zero), axis=axis, keepdims=True)
    below = xp.nextafter(best, xp.full_like(best, -math.inf))
    lowered = below - theta
    lowered = xp.nextafter(lowered, xp.full_like(lowered, -math.inf))
    keep = xp.logical_or(chosen, perturbed < best)
    noise = xp.where(keep, noise, lowered)

    valid = xp.logical_and(xp.logical_and(row_valid, index_valid), xp.isfinite(best))
    nan = xp.asarray(math.nan, dtype=dtype, device=device)
    return xp.where(valid, noise, nan), source


def _check_index(
    index: object, adapter: Adapter, xp: Namespace, row_shape: tuple[int, ...], device: Any
) -> Array:
    """Return ``index`` as an integer array of the logits' library, or raise naming it."""
    if isinstance(index, int) and not isinstance(index, bool):
        return xp.asarray(index, device=device)
    if not adapter.matches(index):
        raise TypeError(
            f"index must be an int or an integer array of the same library as logits "
            f"({adapter.name}); got {type(index).__module__}.{type(index).__qualname__}"
        )
    array: Array = index
    if not xp.isdtype(array.dtype, "integral"):
        raise TypeError(f"index must have an integer dtype; got {array.dtype}")
    if broadcast_shapes(tuple(array.shape), row_shape) != row_shape:
        raise ValueError(
            f"index of shape {tuple(array.shape)} does not broadcast to {row_shape}, "
            "sample_shape + the shape of logits without axis"
        )
    return array


def conditional_gumbel(
    logits: Array,
    index: Array | int,
    *,
    axis: int = -1,
    rng: object = None,
    sample_shape: int | tuple[int, ...] = (),
) -> Array:
    """Draw Gumbel noise ``G`` conditioned on ``argmax(logits + G) == index``.

    The exact conditional law (MATH.md section 7): ``max(logits + G) - logsumexp(logits)`` is
    standard Gumbel, and given it each other perturbed logit is Gumbel truncated below that
    maximum. Drawn with the exponential race from ``E = -log U``, ``U`` uniform in
    ``[tiny, 1)``, so every ``E`` is finite and positive.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: its noise is finite (unconditioned standard Gumbel)
        and its perturbed logit stays ``-inf``.
    index : int or array of int
        The class to condition on, per row: it broadcasts to ``sample_shape`` + the shape of
        ``logits`` without ``axis`` (one index per row, or one per sample and row).
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source (as for :func:`gumbel_softmax`).
    sample_shape : int or tuple of int, optional
        Independent draws per row; the output shape is ``sample_shape + logits.shape``.

    Returns
    -------
    array
        The noise, with the dtype, device and namespace of ``logits``, computed in float32
        (float64 for float64 logits). In that dtype ``argmax(logits + G, axis)`` is exactly
        ``index``: a loser that would round up to the winner is moved a few units in the last
        place below it (with float16 or bfloat16 logits, the final cast of ``G`` may round
        this away). The noise carries no gradient. An ``index`` out of range or at a ``-inf``
        logit raises ``ValueError`` where its value can be read for free (host memory, no
        trace); elsewhere, as for a row with a NaN, a ``+inf`` or no finite logit, that row
        is NaN.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> logits = np.log(np.array([0.7, 0.2, 0.1]))
    >>> g = gk.conditional_gumbel(logits, 2, sample_shape=(1000,), rng=0)
    >>> bool(((logits + g).argmax(axis=-1) == 2).all())
    True

    """
    prepared = _sampling._Prepared(logits, axis, rng, None, sample_shape, False)
    adapter, xp = prepared.adapter, prepared.xp
    out_shape = prepared.out_shape
    out_axis = prepared.out_axis
    row_shape = out_shape[: len(out_shape) + out_axis] + out_shape[len(out_shape) + out_axis + 1:]
    index = _check_index(index, adapter, xp, row_shape, prepared.device)
    theta = xp.astype(logits, prepared.compute_dtype, copy=False)
    source = adapter.make_rng(rng, prepared.device)
    errstate = getattr(adapter, "errstate", None)
    if errstate is None:
        noise, _ = conditional_noise(
            theta, index, out_axis, out_shape, adapter=adapter, xp=xp, source=source,
            device=prepared.device, check_index=True,
        )
    else:
        # The masked classes' and invalid rows' deliberate infinities warn in NumPy.
        with errstate():
            noise, _ = conditional_noise(
                theta, index, out_axis, out_shape, adapter=adapter, xp=xp, source=source,
                device=prepared.device, check_index=True,
            )
    return xp.astype(noise, logits.dtype, copy=False)
