"""The noise draw: standard Gumbel noise from a backend, and noise conditioned on the argmax.

Every sampler draws its noise here, from the random source it threads explicitly: each draw
takes a native source and returns the source advanced past it (a JAX key split, a stateful
generator as it is), which the next draw of the same call takes.

Conditional noise, the exponential race:

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

from gumbelkit import _core
from gumbelkit._checks import concrete_bool
from gumbelkit._typing import Array, Device, DType, Namespace
from gumbelkit.backends import Backend

__all__ = ["conditional_noise", "draw_gumbel", "perturb"]


def draw_gumbel(
    backend: Backend, source: Any, shape: tuple[int, ...], dtype: DType, device: Device
) -> tuple[Array, Any]:
    """Return standard Gumbel noise of ``shape`` drawn from the native ``source``.

    Also returns the source advanced past the draw, for the next draw of the same call.
    ``dtype`` is the compute dtype (float32 or float64).
    """
    return backend.gumbel(source, shape, dtype, device)


def perturb(
    backend: Backend,
    source: Any,
    logits: Array,
    shape: tuple[int, ...],
    dtype: DType,
    device: Device,
) -> tuple[Array, Any]:
    """Return ``logits + G`` for the noise ``G`` that :func:`draw_gumbel` draws, and the source.

    The sum is a fresh buffer of ``shape`` (the output's), which the caller owns.
    """
    return backend.perturbed(source, logits, shape, dtype, device)


def conditional_noise(
    theta: Array,
    index: Array,
    axis: int,
    shape: tuple[int, ...],
    *,
    backend: Backend,
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
    theta = backend.stop_gradient(theta)
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
    if check_index and backend.is_host_readable(index_valid) and not concrete_bool(
        xp.all(index_valid), "index"
    ):
        raise ValueError(
            f"index must name an unmasked class of each row, in [0, {num_classes}); got an "
            "index out of range or at a -inf logit"
        )

    # -log E, E = -log U: standard Gumbel noise from the backend's uniforms.
    minus_log_e, source = draw_gumbel(backend, source, shape, dtype, device)
    minus_log_e_i = xp.sum(xp.where(chosen, minus_log_e, zero), axis=axis, keepdims=True)
    log_sum_exp = _core.logsumexp(
        theta, axis, xp=xp, stop_gradient=backend.stop_gradient, keepdims=True
    )
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
