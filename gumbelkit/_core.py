"""Array-agnostic mathematics: written once against the array API standard.

Every function takes the array namespace ``xp`` (and, where a gradient must be cut, the
adapter's ``stop_gradient``) explicitly and never asks which library it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Array = Any
Namespace = Any

__all__ = [
    "gumbel_from_uniform",
    "one_hot",
    "straight_through",
    "tempered_softmax",
]


def gumbel_from_uniform(u: Array, xp: Namespace) -> Array:
    """Return standard Gumbel noise ``-log(-log(u))``.

    ``u`` must lie in the open interval ``(0, 1)``; the adapters guarantee
    ``tiny <= u <= 1 - eps/2``, where both ends give finite noise.
    """
    return -xp.log(-xp.log(u))


def tempered_softmax(
    z: Array,
    tau: float | Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
) -> Array:
    """Return ``softmax(z / tau)`` along ``axis``, computed as ``softmax((z - max z) / tau)``.

    Shifting before dividing keeps every intermediate finite for any ``tau > 0``: the shifted
    values are at most 0, so a tiny ``tau`` sends them to ``-inf`` (whose exponential is 0)
    rather than overflowing ``z / tau`` to ``+inf`` and producing ``inf - inf``. The shift
    carries no gradient (it cancels exactly), and a ``-inf`` entry of ``z`` gets probability
    exactly 0 and gradient exactly 0. A row whose maximum is not finite (NaN, all ``-inf``, or
    ``+inf``) comes out all NaN.
    """
    row_max = stop_gradient(xp.max(z, axis=axis, keepdims=True))
    e = xp.exp((z - row_max) / tau)
    return e / xp.sum(e, axis=axis, keepdims=True)


def one_hot(index: Array, num_classes: int, axis: int, dtype: Any, xp: Namespace) -> Array:
    """Return a one-hot array with the classes along ``axis`` (a non-negative axis of the result).

    ``index`` has the result's shape without ``axis``. Entries outside ``[0, num_classes)``
    give an all-zero row.
    """
    ndim = index.ndim + 1
    class_shape = [1] * ndim
    class_shape[axis] = num_classes
    classes = xp.reshape(
        xp.arange(num_classes, dtype=index.dtype, device=_device(index)), tuple(class_shape)
    )
    return xp.astype(xp.expand_dims(index, axis=axis) == classes, dtype)


def straight_through(
    hard: Array, soft: Array, stop_gradient: Callable[[Array], Array]
) -> Array:
    """Return ``hard + (soft - stop_gradient(soft))``: ``hard``'s value, ``soft``'s gradient.

    For finite ``soft`` the bracket is exactly 0, so the forward value is exactly ``hard``.
    A NaN in ``soft`` (an invalid row) propagates to the output.
    """
    return hard + (soft - stop_gradient(soft))


def _device(x: Array) -> Any:
    from array_api_compat import device

    return device(x)
