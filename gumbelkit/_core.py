"""Array-agnostic mathematics: written once against the array API standard.

Every function takes the array namespace ``xp`` (and, where a gradient must be cut, the
adapter's ``stop_gradient``) explicitly and never asks which library it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gumbelkit._typing import Array, DType, Namespace

__all__ = [
    "UNCLAMPED_TEMPERATURES",
    "as_dtype",
    "clamp_temperature",
    "compute_dtype",
    "gumbel_from_complement",
    "gumbel_from_uniform",
    "log_or_minus_inf",
    "logsumexp",
    "move_axis",
    "one_hot",
    "real_as_float",
    "replace_where",
    "representable_temperature",
    "straight_through",
    "take_rows",
    "temperature_bounds",
    "tempered_softmax",
    "with_leading_zero",
]


def compute_dtype(dtype: DType, xp: Namespace) -> DType:
    """Return the dtype noise and softmax run in: float64 for float64, else float32.

    Never lower than float32: half-precision noise would bias the sampled law. A float64 that
    does not compare equal to ``xp.float64`` (NumPy's big-endian ``">f8"``), or a wider float
    (NumPy's ``longdouble``), runs in float64 too: the width decides, not the byte order.
    """
    # float32 and float64 are decided by one comparison each: finfo costs a microsecond.
    if dtype == xp.float32:
        return xp.float32
    if dtype == xp.float64 or xp.finfo(dtype).bits > 32:
        return xp.float64
    return xp.float32


def as_dtype(x: Array, dtype: DType, xp: Namespace) -> Array:
    """Return ``x`` in ``dtype``: ``x`` itself where it has it (``astype`` costs a call)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def gumbel_from_uniform(u: Array, xp: Namespace) -> Array:
    """Return standard Gumbel noise ``-log(-log(u))``.

    ``u`` must lie in the open interval ``(0, 1)``; the adapters guarantee
    ``tiny <= u <= 1 - eps/2``, where both ends give finite noise.
    """
    return -xp.log(-xp.log(u))


def gumbel_from_complement(v: Array, xp: Namespace) -> Array:
    """Return standard Gumbel noise ``-log(-log1p(-v))`` of the complement ``v = 1 - u``.

    For a small ``v`` this keeps full relative precision where ``-log(-log(u))`` would have
    rounded ``u`` to 1: the noise of the upper tail.
    """
    return -xp.log(-xp.log1p(-v))


def replace_where(x: Array, mask: Array, values: Array, xp: Namespace) -> Array:
    """Return ``x`` with the 1-d ``values`` placed, in C order, where ``mask`` is true.

    Static shapes throughout (``jax.jit``, ``torch.compile``): the ``j``-th true entry takes
    ``values[j]``; true entries beyond the length of ``values`` keep ``x``.
    """
    rank = xp.reshape(xp.cumulative_sum(xp.astype(xp.reshape(mask, (-1,)), xp.int32)) - 1,
                      tuple(x.shape))
    size = int(values.shape[0])
    picked = xp.take(values, xp.reshape(xp.clip(rank, 0, size - 1), (-1,)), axis=0)
    keep = xp.logical_and(mask, rank < size)
    return xp.where(keep, xp.reshape(picked, tuple(x.shape)), x)


def put_at(x: Array, positions: Array, values: Array, xp: Namespace, device: Any) -> Array:
    """Return ``x`` with ``values[j]`` at the flat C-order position ``positions[j]``.

    ``positions`` is increasing. The array API has no scatter: each entry of ``x`` finds its
    candidate slot by a binary search in ``positions`` and takes the value where the slot's
    position is its own.
    """
    count = int(positions.shape[0])
    if count == 0:
        return x
    flat = xp.reshape(x, (-1,))
    index = xp.arange(flat.shape[0], dtype=positions.dtype, device=device)
    slot = xp.clip(xp.searchsorted(positions, index), 0, count - 1)
    hit = xp.take(positions, slot, axis=0) == index
    placed = xp.where(hit, xp.astype(xp.take(values, slot, axis=0), x.dtype), flat)
    return xp.reshape(placed, tuple(x.shape))


def tempered_softmax(
    z: Array,
    tau: float | Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    differentiable: bool = True,
) -> Array:
    """Return ``softmax(z / tau)`` along ``axis``, computed as ``softmax((z - max z) / tau)``.

    ``tau`` must be positive, finite and representable in ``z``'s dtype (see
    :func:`representable_temperature`). Shifting before dividing keeps every intermediate
    finite: the shifted values are at most 0, so a tiny ``tau`` sends them to ``-inf`` (whose
    exponential is 0) rather than overflowing ``z / tau`` to ``+inf`` and producing
    ``inf - inf``. The shift carries no gradient (it cancels exactly), and a ``-inf`` entry of
    ``z`` gets probability exactly 0 and gradient exactly 0. A row whose maximum is not finite
    (NaN, all ``-inf``, or ``+inf``) comes out all NaN.

    An array ``tau`` may itself be differentiated: the division is
    :func:`divide_by_temperature`'s, whose gradient has no NaN at a masked entry or at a tiny
    ``tau``; ``differentiable=False`` (a library without autodiff) skips its guard.
    """
    _, e, total = tempered_exponentials(z, tau, axis, xp=xp, stop_gradient=stop_gradient,
                                        differentiable=differentiable)
    return e / total


def tempered_exponentials(
    z: Array,
    tau: float | Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    differentiable: bool = True,
) -> tuple[Array, Array, Array]:
    """Return ``s = (z - max z) / tau``, ``exp(s)`` and its sum along ``axis`` (kept).

    :func:`tempered_softmax` is ``exp(s) / sum``; ``s`` and the sum also give the logarithm of
    a share of it without rounding the share first (the relaxed top-k's ``log(1 - a)``).
    """
    # The subtraction and the division are the namespace's, not the operators: they are where
    # a logit more than the dtype's largest value below the row maximum, or a tiny tau,
    # overflows to -inf on purpose, and a lazy library's namespace (Dask's) runs them without
    # NumPy's overflow warning at compute time, when no errstate of the caller's is active.
    shifted = xp.subtract(z, stop_gradient(xp.max(z, axis=axis, keepdims=True)))
    scaled = divide_by_temperature(shifted, tau, xp=xp, stop_gradient=stop_gradient,
                                   differentiable=differentiable)
    e = xp.exp(scaled)
    return scaled, e, xp.sum(e, axis=axis, keepdims=True)


def finite_or_zero(x: Array, xp: Namespace) -> Array:
    """Return ``x`` where it is finite, else 0: a row maximum to shift by, or by nothing.

    A row whose maximum is not finite (all ``-inf``, ``+inf``, NaN) then shifts by 0 and puts
    no ``inf - inf`` into a value or a gradient.
    """
    return xp.where(xp.isfinite(x), x, xp.zeros_like(x))


def divide_by_temperature(
    x: Array, tau: float | Array, *, xp: Namespace, stop_gradient: Callable[[Array], Array],
    differentiable: bool = True,
) -> Array:
    """Return ``x / tau``, whose reverse-mode gradient has no NaN where its value is finite.

    The namespace's divide: a tiny ``tau`` overflows on purpose, and a lazy library's
    namespace (Dask's) divides without NumPy's overflow warning at compute time. An array
    ``tau`` may itself be differentiated. The derivative ``-x / tau**2``, which autodiff forms
    as ``(x / tau) / tau`` (PyTorch) or with ``tau**-2`` (JAX), overflows for a tiny ``tau``
    (``1e-20`` in float32, against ``x = 1``) even where the gradient is 0 (a class whose
    softmax weight rounded to 0, a sigmoid at 0 or 1), and ``0 * inf`` is NaN; an infinite
    ``x / tau`` (a masked class) gives ``0 * inf`` too. So ``x`` is divided by a constant copy
    of ``tau``, times ``exp(log tau0 - log tau)``: 1, with the derivative ``-1 / tau``, and an
    infinite quotient is kept out of that product: its gradient is 0. The values are those of
    ``x / tau``; a sum of derivatives beyond the dtype's range is infinite, as it is. Forward
    mode (``jax.jacfwd``) still forms each entry's derivative, which overflows. Without
    ``differentiable`` (a library without autodiff) it is the plain quotient.
    """
    if isinstance(tau, float) or not differentiable:
        return xp.divide(x, tau)
    constant = stop_gradient(tau)
    quotient = xp.divide(x, constant)
    unit = xp.exp(xp.log(constant) - xp.log(tau))
    infinite = xp.isinf(quotient)
    finite_part = xp.where(infinite, xp.zeros_like(quotient), quotient)
    return xp.where(infinite, quotient, finite_part * unit)


def temperature_bounds(dtype_info: Any) -> tuple[float, float]:
    """Return the range ``[tiny, 1 / tiny]`` that a temperature is clamped to.

    ``tiny`` is the compute dtype's smallest normal number. A temperature below it would round
    to 0 in that dtype (``0 / 0`` is NaN at the row maximum); one above ``1 / tiny`` has a
    subnormal reciprocal, which compilers that divide by multiplying with the reciprocal (XLA)
    flush to 0, giving ``-inf * 0`` = NaN at a masked entry. At either bound the sample has
    reached its limit already: one-hot, or uniform over the unmasked classes.
    """
    tiny = float(dtype_info.smallest_normal)
    return tiny, 1.0 / tiny


UNCLAMPED_TEMPERATURES = (1e-37, 1e37)
"""Temperatures inside the :func:`temperature_bounds` of float32 and float64 alike."""


def representable_temperature(tau: float, xp: Namespace, dtype: Any) -> float:
    """Return the Python float ``tau`` clamped to :func:`temperature_bounds` of ``dtype``."""
    low, high = UNCLAMPED_TEMPERATURES
    if low <= tau <= high:  # no finfo needed
        return tau
    low, high = temperature_bounds(xp.finfo(dtype))
    return min(max(tau, low), high)


def clamp_temperature(tau: Array, ok: Array, dtype: DType, xp: Namespace) -> Array:
    """Return an array temperature in ``dtype``, clamped to :func:`temperature_bounds`.

    ``ok`` says where ``tau`` is valid (positive and finite); an invalid entry becomes NaN, so
    the rows it governs come out NaN like any invalid row.
    """
    clamped = xp.clip(xp.astype(tau, dtype, copy=False), *temperature_bounds(xp.finfo(dtype)))
    return xp.where(ok, clamped, xp.full_like(clamped, math.nan))


def logsumexp(
    x: Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    keepdims: bool = False,
) -> Array:
    """Return ``log(sum(exp(x)))`` along ``axis``; ``-inf`` for an all ``-inf`` row.

    The sum is shifted by the row maximum (which carries no gradient), and every intermediate
    stays finite for an all ``-inf`` row, so it puts no NaN into a gradient.
    """
    top = stop_gradient(xp.max(x, axis=axis, keepdims=True))
    top = finite_or_zero(top, xp)
    total = xp.sum(xp.exp(x - top), axis=axis, keepdims=True)
    positive = total > 0
    safe = xp.where(positive, total, xp.ones_like(total))
    result = xp.where(positive, xp.log(safe) + top, xp.full_like(total, -math.inf))
    return result if keepdims else xp.squeeze(result, axis=axis)


def one_hot(
    index: Array, num_classes: int, axis: int, dtype: Any, xp: Namespace, *, device: Any
) -> Array:
    """Return a one-hot array with the classes along ``axis`` (a non-negative axis of the result).

    ``index`` has the result's shape without ``axis`` and lives on ``device``. Entries outside
    ``[0, num_classes)`` give an all-zero row.
    """
    ndim = index.ndim + 1
    class_shape = [1] * ndim
    class_shape[axis] = num_classes
    classes = xp.reshape(
        xp.arange(num_classes, dtype=index.dtype, device=device), tuple(class_shape)
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



def placed_scalar(x: Array, xp: Namespace, device: Any) -> Array:
    """Return the 0-d array ``x`` on ``device``, as the library combines it with an array there.

    A 0-d array that the library takes beside any device (PyTorch's CPU scalar) goes through a
    zero on ``device`` before its shape changes: broadcast or reshaped, it would no longer be a
    scalar, and would be refused there.
    """
    return xp.zeros((), dtype=x.dtype, device=device) + x


def take_rows(x: Array, index: Array, xp: Namespace, device: Any) -> Array:
    """Return ``x[r, index[r, j]]`` for 2-d ``x`` and ``index``: a gather per row.

    The namespace's ``take_along_axis`` (array API 2024.12), with indices in its default
    index dtype (PyTorch's takes int64 only): a chunked array (Dask) then gathers block by
    block. A namespace without it takes one flat ``take`` with the rows' offsets (integer
    arithmetic, exact), which reads every row from the one flattened array.
    """
    if hasattr(xp, "take_along_axis"):
        info = xp.__array_namespace_info__()
        index_dtype = info.default_dtypes(device=device)["indexing"]
        return xp.take_along_axis(x, xp.astype(index, index_dtype, copy=False), axis=-1)
    rows, width = int(x.shape[0]), int(x.shape[1])
    offsets = xp.reshape(xp.arange(rows, dtype=index.dtype, device=device) * width, (rows, 1))
    flat = xp.take(xp.reshape(x, (-1,)), xp.reshape(index + offsets, (-1,)), axis=0)
    return xp.reshape(flat, tuple(index.shape))


def log_or_minus_inf(x: Array, xp: Namespace) -> Array:
    """Return ``log x`` of non-negative ``x``: ``-inf`` where ``x`` is 0, with a zero gradient.

    ``log`` alone has the derivative ``1/0`` there, and a normalisation before it (probabilities
    divided by their sum) spreads the resulting NaN to every entry of the row.
    """
    positive = x > 0
    return xp.where(positive, xp.log(xp.where(positive, x, xp.ones_like(x))),
                    xp.full_like(x, -math.inf))


def real_as_float(value: Any) -> float:
    """Return the real number ``value`` as a float: an infinity of its sign beyond their range.

    ``float`` raises ``OverflowError`` for an int or a ``Fraction`` of magnitude above 1.8e308;
    a range check then sees an infinity, which it refuses or accepts as it would any.
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def move_axis(x: Array, source: int, destination: int, xp: Namespace) -> Array:
    """Return ``x`` with axis ``source`` moved to ``destination`` (``x`` where it is there).

    ``permute_dims``, not ``moveaxis``: ``torch.func.vmap`` has no batching rule for PyTorch's
    ``moveaxis``.
    """
    source, destination = source % x.ndim, destination % x.ndim
    if source == destination:
        return x
    order = [i for i in range(x.ndim) if i != source]
    order.insert(destination, source)
    return xp.permute_dims(x, tuple(order))


def with_leading_zero(running: Array, xp: Namespace) -> Array:
    """Return a 2-d running sum with a column of zeros in front: the sums before each entry."""
    return xp.concat([xp.zeros_like(running[:, :1]), running], axis=-1)
