"""Sampling without replacement: Gumbel-top-k, the Plackett-Luce law, relaxed top-k.

The mathematics: docs/mathematics.md#top-k-and-plackett-luce.

The k largest of ``logits + G``, in decreasing order, are an ordered sample without
replacement from ``softmax(logits)`` (Kool et al., arXiv 1903.06059); their law is
Plackett-Luce. The relaxed top-k of Xie & Ermon (arXiv 1901.10517) sums k tempered softmaxes,
each one damping the items the previous ones chose.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    broadcast_shapes,
    call_error,
    check_bool,
    check_logits,
    check_placed_with,
    concrete_bool,
    logits_row,
    publish,
    type_name,
)
from gumbelkit._prepared import Prepared
from gumbelkit._row_blocks import by_row_blocks
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend, resolved_for

__all__ = ["gumbel_top_k", "plackett_luce_log_prob", "relaxed_top_k"]

# The floor of ``1 - a`` in the relaxed top-k recursion for a class with no finite class beside
# it: float32's smallest normal, as in Xie & Ermon's reference code, in every compute dtype.
_EPSILON = 2.0**-126


def _check_k(k: object, num_classes: int) -> int:
    """Return ``k`` if it is an int in ``[1, num_classes]``, else raise naming ``k``."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TypeError(f"k must be an int; got {type_name(k)}")
    if not 1 <= int(k) <= num_classes:
        raise ValueError(f"k must be in [1, {num_classes}] for {num_classes} classes; got {k}")
    return int(k)


def _finite_counts(
    prepared: Prepared, index_dtype: Any, z: Array | None = None
) -> tuple[Array, Array]:
    """Return, with the class axis kept, each row's number of finite logits and validity.

    A row is valid where its maximum is finite: no NaN, no ``+inf``, at least one finite logit
    (and, given ``z = logits + G`` of a given noise, in ``z`` too:
    :meth:`Prepared.logits_row_is_valid`).
    """
    xp, logits, axis = prepared.xp, prepared.logits, prepared.axis
    count = xp.sum(xp.astype(xp.isfinite(logits), index_dtype), axis=axis, keepdims=True)
    return count, prepared.logits_row_is_valid(keepdims=True, z=z)


def _unmasked(prepared: Prepared) -> bool:
    """Return whether the logits are free to read and no row has a ``-inf`` or a NaN.

    Then every row has ``K`` finite logits or is invalid (a ``+inf``): no count is needed. One
    row minimum, where counting the finite logits costs a cast and a sum of every entry.
    """
    xp = prepared.xp
    if not prepared.backend.is_host_readable(prepared.logits):
        return False
    unmasked = xp.all(xp.isfinite(xp.min(prepared.logits, axis=prepared.axis)))
    # Asked of the reduction too: under jax.jit a constant's reduction is traced.
    return prepared.backend.is_host_readable(unmasked) and bool(unmasked)


def _check_enough_classes(prepared: Prepared, k: int, unmasked: bool) -> None:
    """Raise ``ValueError`` naming ``k`` for a valid row with fewer than ``k`` finite logits.

    Only where reading the logits costs no device sync and no trace break, or where
    ``validate=True`` asks for it; rows with a NaN, a ``+inf`` or no finite logit are invalid
    data, governed by the invalid-row rule (and by ``validate``), not by this check.
    """
    xp = prepared.xp
    if not (prepared.validate or prepared.backend.is_host_readable(prepared.logits)):
        return
    if unmasked:
        return
    count, valid = _finite_counts(prepared, xp.int32)
    short = xp.logical_and(valid, count < k)
    if not (prepared.validate or prepared.backend.is_host_readable(short)):
        return  # constant logits under jax.jit: their counts are traced
    if not concrete_bool(xp.any(short), "k"):
        return
    flat = xp.reshape(xp.squeeze(short, axis=prepared.axis), (-1,))
    first = int(xp.argmax(xp.astype(flat, xp.int8)))
    shape = tuple(d for i, d in enumerate(prepared.logits.shape) if i != prepared.axis)
    counts = xp.reshape(count, (-1,))
    found = int(counts[first])
    where = f" in {logits_row(first, shape, prepared.axis)}, which has" if shape else ","
    raise ValueError(
        f"k = {k} exceeds the number of unmasked (finite) logits{where} {found}; a sample "
        "without replacement cannot be longer than that"
    )


def _top_indices(prepared: Prepared, z: Array, keys: Array, k: int, unmasked: bool) -> Array:
    """Return the indices of the ``k`` largest ``keys`` (of ``z = logits + G``), decreasing.

    The invalid index ``K`` fills a row with a NaN, a ``+inf`` or no finite logit (or such a
    row of ``z`` from a given noise), and the positions of a row that its finite logits cannot
    fill. ``unmasked`` is :func:`_unmasked`'s answer for the call: then no row needs its finite
    logits counted.
    """
    xp = prepared.xp
    top = prepared.backend.top_k(keys, k, prepared.out_axis)
    invalid_index = xp.asarray(prepared.num_classes, dtype=top.dtype, device=prepared.device)
    if unmasked:
        return xp.where(prepared.logits_row_is_valid(keepdims=True, z=z), top, invalid_index)
    count, valid = _finite_counts(prepared, top.dtype, z)
    position_shape = [1] * prepared.logits.ndim
    position_shape[prepared.axis] = k
    positions = xp.reshape(
        xp.arange(k, dtype=top.dtype, device=prepared.device), tuple(position_shape)
    )
    # Masked classes sort last, so position j holds a finite class exactly when j < count.
    fillable = xp.logical_and(positions < count, valid)
    return xp.where(fillable, top, invalid_index)


def _gumbel_top_k_body(
    logits: Array,
    k: int,
    *misplaced: object,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    validate: bool = False,
    mask: Array | None = None,
    **unknown: object,
) -> Array:
    """Draw ``k`` classes without replacement; the body of :func:`gumbel_top_k`."""
    if misplaced or unknown:
        raise call_error(gumbel_top_k, misplaced, unknown)
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate, mask=mask)
    k = _check_k(k, prepared.num_classes)
    # One look at the whole call, not one per block.
    unmasked = _unmasked(prepared)
    _check_enough_classes(prepared, k, unmasked)
    # A large NumPy call runs by row blocks on threads, each from its own spawned stream.
    with prepared.backend.errstate():
        return by_row_blocks(prepared, _top_k_block, k, unmasked)


def _top_k_block(prepared: Prepared, k: int, unmasked: bool) -> Array:
    """Return the ``k`` indices of one row block: the top of ``logits + G``, decreasing."""
    z, _, _ = prepared.perturbed_logits()
    return _top_indices(prepared, z, prepared.ranking_keys(z), k, unmasked)


@publish(_gumbel_top_k_body)
def gumbel_top_k(
    logits: Array,
    k: int,
    *,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    validate: bool = False,
    mask: Array | None = None,
) -> Array:
    """Draw ``k`` classes without replacement: the indices of the ``k`` largest ``logits + G``.

    The indices come in decreasing order of ``logits + G``; they are an ordered sample without
    replacement from ``softmax(logits)``, distributed by the Plackett-Luce law (see
    :func:`plackett_luce_log_prob`). Ties go to the lower index.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: it is never drawn.
    k : int
        Sample size, in ``[1, K]`` for ``K`` classes.
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source; exclusive with ``noise``.
    noise : array, optional
        Precomputed standard Gumbel noise that broadcasts to ``sample_shape + logits.shape``.
    sample_shape : int or tuple of int, optional
        Independent samples per row; the output shape is ``sample_shape + logits.shape`` with
        the class axis replaced by ``k``.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a NaN
        or no finite logit, or with fewer than ``k`` finite logits.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).

    Returns
    -------
    array
        Indices in the namespace's default index dtype, on the device of ``logits``. A row
        with a NaN, a ``+inf`` or no finite logit gives ``K`` in every position.

    Raises
    ------
    ValueError
        For ``k`` outside ``[1, K]``; and for a row with fewer than ``k`` finite logits where
        the logits can be read without a device sync (NumPy, array-api-strict, PyTorch on the
        CPU outside ``torch.compile``, concrete JAX arrays on the CPU) or ``validate=True``.
        Elsewhere (GPU arrays, Dask, traces) such a row gives ``K`` in the positions a finite
        class cannot fill.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> gk.gumbel_top_k(np.log(np.array([0.1, 0.2, 0.3, 0.4])), 2, rng=0).shape
    (2,)

    """
    raise NotImplementedError  # never runs: publish makes _gumbel_top_k_body this function


def _check_indices(indices: Array, num_classes: int, xp: Namespace, backend: Backend) -> None:
    """Raise ``ValueError`` for an index outside ``[0, K)`` or an index repeated in a row.

    ``indices`` has its positions along the last axis. Only where the comparisons can be read
    for free: constant indices under ``jax.jit`` give traced ones, and go unchecked.
    """
    outside = xp.logical_or(indices < 0, indices >= num_classes)
    if not backend.is_host_readable(outside):
        return
    if bool(xp.any(outside)):
        raise ValueError(
            f"indices must lie in [0, {num_classes}) for {num_classes} classes; got "
            f"{int(xp.min(indices))} to {int(xp.max(indices))}"
        )
    ordered = xp.sort(indices, axis=-1, stable=False)  # to find repeats: any order of ties
    if bool(xp.any(ordered[..., 1:] == ordered[..., :-1])):
        raise ValueError("indices must not repeat a class within a row: an ordering without "
                         "replacement names each class once")


def plackett_luce_log_prob(logits: Array, indices: Array, *, axis: int = -1) -> Array:
    """Return the log-probability of ordered samples without replacement (Plackett-Luce).

    ``log P(i_1..i_k) = sum_j [logits[i_j] - logsumexp(logits over the classes not yet
    chosen)]``, the law of :func:`gumbel_top_k`. Computed from the logits with a running mask
    (``O(k K)`` time and memory per row), it never forms ``1 - sum(pi)``, so it stays accurate
    where the chosen classes hold almost all of the mass. Each step subtracts the maximum of
    the classes it sees, so only differences of logits enter: the result is exact to rounding
    for logits of any finite magnitude. Differentiable with respect to ``logits``, for
    score-function (REINFORCE) estimators.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype.
        ``-inf`` masks a class.
    indices : array
        Integer array of the same library: the ordered classes, ``k`` in ``[1, K]`` of them
        along the axis of ``logits`` (counted from the end), in ``[0, K)`` and distinct within
        a row. The other axes broadcast against those of ``logits``, so the output of
        ``gumbel_top_k(logits, k, sample_shape=...)`` fits as it is.
    axis : int, optional
        The class axis of ``logits``.

    Returns
    -------
    array
        The log-probabilities, shaped as the broadcast rows (the class axis removed), in the
        dtype of ``logits`` (computed in float32, or float64 for float64 logits). ``-inf``
        for an ordering that names a masked class; NaN for a row of ``logits`` with a NaN, a
        ``+inf`` or no finite value. A log-probability below the dtype's range (a difference
        of logits that overflows, as ``-3e38 - 3e38`` in float32) rounds to ``-inf``.

    Raises
    ------
    ValueError
        For an index outside ``[0, K)`` or a class repeated within a row, where ``indices``
        can be read without a device sync (NumPy, array-api-strict, PyTorch on the CPU outside
        ``torch.compile``, concrete JAX arrays on the CPU). Elsewhere such an ordering, which
        has probability 0, gets ``-inf``.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> logits = np.log(np.array([0.5, 0.3, 0.2]))
    >>> log_p = gk.plackett_luce_log_prob(logits, np.array([0, 2]))
    >>> round(float(np.exp(log_p)), 12)  # 0.5 * 0.2 / (1 - 0.5)
    0.2

    """
    backend = resolved_for(logits, argument="logits")
    xp = backend.namespace(logits)
    axis = check_logits(logits, axis, xp, backend)
    num_classes = int(logits.shape[axis])
    if not backend.matches(indices):
        raise TypeError(
            f"indices must be an array of the same library as logits ({backend.name}); got "
            f"{type_name(indices)}"
        )
    check_placed_with(indices, "indices", backend, logits)
    if not xp.isdtype(indices.dtype, "integral"):
        raise TypeError(f"indices must have an integer dtype; got {indices.dtype}")
    # Read as int64 (int32 where the namespace has no 64-bit arrays): the class numbers are
    # compared in the indices' dtype, where a narrow one wraps them (uint8: class 256 read as
    # 0) and PyTorch's CPU compares no uint16 to uint64. A uint64 beyond int64 reads negative:
    # out of range.
    wide = xp.int64 if backend.float64_available(None) else xp.int32
    if indices.dtype != wide:
        indices = xp.astype(indices, wide)
    position_axis = axis - logits.ndim
    if indices.ndim < -position_axis:
        raise ValueError(
            f"indices must have at least {-position_axis} dimensions, the positions along "
            f"axis {position_axis} of the logits' class axis; got shape {tuple(indices.shape)}"
        )
    k = int(indices.shape[position_axis])
    if not 1 <= k <= num_classes:
        raise ValueError(
            f"indices must hold 1 to {num_classes} positions along axis {position_axis} for "
            f"{num_classes} classes; got shape {tuple(indices.shape)}"
        )
    # Positions and classes last: the recursion works on the last axis.
    order = _core.move_axis(indices, position_axis, -1, xp)
    theta = _core.move_axis(
        xp.astype(logits, _core.compute_dtype(logits.dtype, xp), copy=False), axis, -1, xp)
    rows = broadcast_shapes(tuple(theta.shape[:-1]), tuple(order.shape[:-1]))
    if rows is None:
        raise ValueError(
            f"indices of shape {tuple(indices.shape)} do not broadcast against logits of shape "
            f"{tuple(logits.shape)} (class axis {axis} and position axis {position_axis} aside)"
        )
    if backend.is_host_readable(order):
        _check_indices(order, num_classes, xp, backend)
    # NumPy warns about the deliberate infinities, and about a log-probability below the range
    # of float16 logits, which the cast makes -inf (the docstring's promise).
    with backend.errstate():
        log_prob = _plackett_luce(theta, order, backend, xp, backend.device(logits))
        return xp.astype(log_prob, logits.dtype, copy=False)


def _plackett_luce(theta: Array, order: Array, backend: Backend, xp: Namespace,
                   device: Any) -> Array:
    """Return the running-mask recursion of the Plackett-Luce law, all positions at once.

    The recursion: docs/mathematics.md#the-plackett-luce-law.

    ``theta`` holds the classes and ``order`` the positions along the last axis; the other
    axes broadcast. Position ``j`` sees the classes that no earlier position named: the
    ``O(k K)`` masks are built together rather than in a loop of ``k`` steps.
    """
    k = int(order.shape[-1])
    classes = xp.arange(int(theta.shape[-1]), dtype=order.dtype, device=device)
    positions = xp.reshape(xp.arange(k, dtype=order.dtype, device=device), (k, 1))
    # pick[..., j, c]: position j names class c; before[..., j, c]: an earlier position did,
    # that is, the first position naming c (k for none) is below j.
    pick = xp.expand_dims(order, axis=-1) == classes
    never = xp.asarray(k, dtype=order.dtype, device=device)
    first = xp.min(xp.where(pick, positions, never), axis=-2, keepdims=True)
    before = first < positions
    minus_inf = xp.asarray(-math.inf, dtype=theta.dtype, device=device)
    remaining = xp.where(before, minus_inf, xp.expand_dims(theta, axis=-2))
    # Each position's logits less their maximum: theta_i - LSE = (theta_i - m) - LSE(theta - m),
    # so differences of logits enter, never logits so large that log K is below their spacing.
    # The shift carries no gradient (it cancels); a non-finite maximum (nothing remains, or an
    # invalid row) shifts by 0. A difference beyond the dtype's range is -inf, its limit (the
    # namespace's subtraction: Dask's computes it without NumPy's warning).
    top = backend.stop_gradient(xp.max(remaining, axis=-1, keepdims=True))
    remaining = xp.subtract(remaining, _core.finite_or_zero(top, xp))
    # A repeated class reads -inf in ``remaining``; an index outside [0, K) names no class.
    picked = xp.sum(xp.where(pick, remaining, xp.zeros_like(minus_inf)), axis=-1)
    picked = xp.where(xp.any(pick, axis=-1), picked, minus_inf)
    step = picked - _core.logsumexp(remaining, -1, xp=xp, stop_gradient=backend.stop_gradient)
    # An impossible pick is -inf, also where nothing finite remains (-inf - -inf).
    log_prob = xp.sum(xp.where(picked == -math.inf, minus_inf, step), axis=-1)
    valid = xp.isfinite(xp.max(theta, axis=-1))
    return xp.where(valid, log_prob, xp.full_like(log_prob, math.nan))


def _relaxed_top_k_body(
    logits: Array,
    k: int,
    *misplaced: object,
    tau: float | Array = 1.0,
    hard: bool = False,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    validate: bool = False,
    mask: Array | None = None,
    **unknown: object,
) -> Array:
    """Draw a relaxed k-hot sample; the body of :func:`relaxed_top_k`."""
    if misplaced or unknown:
        raise call_error(relaxed_top_k, misplaced, unknown)
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate, mask=mask)
    k = _check_k(k, prepared.num_classes)
    hard = check_bool(hard, "hard")
    _check_enough_classes(prepared, k, _unmasked(prepared))
    with prepared.backend.errstate():
        tau, tau_ok = prepared.row_temperature(tau)
        # A large NumPy call runs by row blocks on threads; the temperatures go with their rows.
        return by_row_blocks(prepared, _relaxed_top_k_block, tau, tau_ok, k, hard)


@publish(_relaxed_top_k_body)
def relaxed_top_k(
    logits: Array,
    k: int,
    *,
    tau: float | Array = 1.0,
    hard: bool = False,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    validate: bool = False,
    mask: Array | None = None,
) -> Array:
    """Draw a relaxed k-hot sample: the relaxed top-k of Xie & Ermon (arXiv 1901.10517).

    With ``r = logits + G``: ``alpha_1 = r``, ``a_1 = softmax(alpha_1 / tau)``, and for
    ``j = 2..k``: ``alpha_j = alpha_{j-1} + log(1 - a_{j-1})``,
    ``a_j = softmax(alpha_j / tau)``, the logarithm computed without rounding ``1 - a`` to 0
    (docs/mathematics.md#relaxed-top-k; Xie & Ermon's code floors it at ``2**-126``, and a key
    leading the next by more than 87 nats then wins every round). The sample is
    ``y = a_1 + ... + a_k``: entries ``>= 0`` summing to ``k``. Entries are **not** bounded
    by 1: an item whose weight ``a_j`` was small in one round is damped little, and where the
    leading keys lie within about ``tau`` of each other it can gather more than 1. As
    ``tau -> 0``, ``y`` tends to the k-hot of ``gumbel_top_k`` with the same noise.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: weight exactly 0, gradient exactly 0.
    k : int
        Subset size, in ``[1, K]`` for ``K`` classes.
    tau : float or array, optional
        Temperature, positive and finite: a real number (a NumPy scalar too), or an array
        with one temperature per row, as for :func:`gumbelkit.gumbel_softmax`.
    hard : bool, optional
        Return the exact k-hot of the top ``k`` of ``logits + G`` (ties to the lower index)
        with the gradient of the relaxed sample (straight-through).
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source; exclusive with ``noise``.
    noise : array, optional
        Precomputed standard Gumbel noise that broadcasts to the output shape.
    sample_shape : int or tuple of int, optional
        Independent samples per row; the output shape is ``sample_shape + logits.shape``.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a NaN
        or no finite logit, fewer than ``k`` finite logits, or a temperature that is not
        positive and finite.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).

    Returns
    -------
    array
        The sample, with the dtype, device and namespace of ``logits`` (computed in float32, or
        float64 for float64 logits). Rows with a NaN, a ``+inf`` or no finite logit, or a bad
        temperature, come out NaN.

    Raises
    ------
    ValueError
        As :func:`gumbel_top_k` for ``k``. Where a row with fewer than ``k`` finite logits is
        not checked (device arrays, traces), its hard sample marks only the finite classes.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> y = gk.relaxed_top_k(np.log(np.array([0.1, 0.2, 0.3, 0.4])), 2, tau=0.5, rng=0)
    >>> bool(abs(y.sum() - 2) < 1e-12)
    True

    """
    raise NotImplementedError  # never runs: publish makes _relaxed_top_k_body this function


def _relaxed_top_k_block(
    prepared: Prepared, tau: float | Array, tau_ok: Array | None, k: int, hard: bool
) -> Array:
    """Return the sample of one row block in the dtype of the logits.

    ``tau`` and ``tau_ok`` are :meth:`Prepared.row_temperature`'s, restricted to the block.
    """
    out = _relaxed_top_k(prepared, tau, tau_ok, k, hard)
    return prepared.xp.astype(out, prepared.logits.dtype, copy=False)


def _relaxed_top_k(
    prepared: Prepared, tau: float | Array, tau_ok: Array | None, k: int, hard: bool
) -> Array:
    """Return the soft or straight-through hard sample, in the compute dtype."""
    xp, backend, out_axis = prepared.xp, prepared.backend, prepared.out_axis
    z, _, _ = prepared.perturbed_logits()
    if hard and not backend.supports_autodiff:
        # Without autodiff the straight-through bracket is 0 and would only mark invalid rows.
        valid = prepared.row_is_valid(z)
        if tau_ok is not None:
            valid = xp.logical_and(valid, tau_ok)
        return xp.where(valid, _k_hot(prepared, z, k), prepared.nan())
    soft = _relaxed_sum(z, tau, k, out_axis, xp, backend.stop_gradient, prepared.device)
    if not hard:
        return soft
    return _core.straight_through(_k_hot(prepared, z, k), soft, backend.stop_gradient)


def _relaxed_sum(
    z: Array, tau: float | Array, k: int, axis: int, xp: Namespace,
    stop_gradient: Callable[[Array], Array], device: Any,
) -> Array:
    """Return the relaxed top-k recursion ``sum_j softmax(alpha_j / tau)``.

    The recursion: docs/mathematics.md#relaxed-top-k.
    """
    alpha = z
    scaled, e, total_exp = _core.tempered_exponentials(alpha, tau, axis, xp=xp,
                                                       stop_gradient=stop_gradient)
    weights = e / total_exp
    total = weights
    for _ in range(1, k):
        alpha = alpha + _log_remaining(alpha, weights, scaled, total_exp, axis, xp,
                                       stop_gradient, device)
        scaled, e, total_exp = _core.tempered_exponentials(alpha, tau, axis, xp=xp,
                                                           stop_gradient=stop_gradient)
        weights = e / total_exp
        total = total + weights
    return total


def _log_remaining(
    alpha: Array, weights: Array, scaled: Array, total_exp: Array, axis: int, xp: Namespace,
    stop_gradient: Callable[[Array], Array], device: Any,
) -> Array:
    """Return ``log(1 - a)`` for the weights ``a = exp(s) / sum exp(s)``, without rounding.

    ``scaled`` and ``total_exp`` are ``s`` and the sum
    (:func:`gumbelkit._core.tempered_exponentials`). A weight of at most one half (every class
    but a row's leader) gives ``log1p(-a)`` to full precision. The leader's ``1 - a`` is the
    others' share, whose logarithm is ``logsumexp(s_others) - log(sum exp(s))``: exact where
    ``1 - a`` rounds to 0. Xie & Ermon's floor of ``1 - a`` at ``2**-126`` lowered a leader by
    at most 87 nats a round, so a key leading the next by more than that won every round and
    ``y`` did not tend to the k-hot. Where the others' share underflows (their keys lie beyond
    the dtype's range below, after the division by ``tau``), it is ``-inf``, its limit: the
    leader is out of the later rounds, weight 0 and gradient 0. Where the leader has no finite
    class beside it (a row with fewer finite logits than ``k``), it keeps that floor, so the
    sample stays finite.
    """
    minus_inf = xp.asarray(-math.inf, dtype=weights.dtype, device=device)
    leader = weights > 0.5
    others = _core.logsumexp(xp.where(leader, minus_inf, scaled), axis, xp=xp,
                             stop_gradient=stop_gradient, keepdims=True)
    others_left = xp.any(xp.logical_and(xp.logical_not(leader), xp.isfinite(alpha)), axis=axis,
                         keepdims=True)
    floor = xp.asarray(math.log(_EPSILON), dtype=weights.dtype, device=device)
    leader_share = xp.where(others_left, others - xp.log(total_exp), floor)
    # log1p(-a) of a leader's a = 1 is -inf, whose infinite derivative meets the 0 of the
    # branch not taken as a NaN in the gradient: the leader's entry is given 0 there.
    follower = xp.log1p(-xp.where(leader, xp.zeros_like(weights), weights))
    return xp.where(leader, leader_share, follower)


def _k_hot(prepared: Prepared, z: Array, k: int) -> Array:
    """Return the k-hot of the ``k`` largest ``z = perturbed_logits()`` in ``z``'s dtype.

    Ties go to the lower index; masked classes are left out (:meth:`Prepared.ranking_keys`).
    """
    xp, backend, out_axis = prepared.xp, prepared.backend, prepared.out_axis
    z = prepared.ranking_keys(z)
    if "top_k" not in backend.supplied:
        # Each class's rank in the decreasing order: the inverse of the sorting permutation.
        order = xp.argsort(z, axis=out_axis, descending=True, stable=True)
        chosen = xp.argsort(order, axis=out_axis, stable=True) < k
    else:
        # The k-th largest of each row, at the index ``last`` the top-k puts in position k: the
        # classes above its value are chosen, and of those equal to it the ones up to ``last``,
        # which the tie rule (lower index first) puts before it. O(K) per row, whatever k.
        top = backend.top_k(z, k, out_axis)
        last = top[(..., slice(k - 1, k)) + (slice(None),) * (-out_axis - 1)]
        class_shape = [1] * z.ndim
        class_shape[out_axis] = prepared.num_classes
        classes = xp.reshape(
            xp.arange(prepared.num_classes, dtype=top.dtype, device=prepared.device),
            tuple(class_shape),
        )
        minus_inf = xp.asarray(-math.inf, dtype=z.dtype, device=prepared.device)
        kth = xp.max(xp.where(classes == last, z, minus_inf), axis=out_axis, keepdims=True)
        chosen = xp.logical_or(z > kth, xp.logical_and(z == kth, classes <= last))
    return xp.astype(xp.logical_and(chosen, xp.isfinite(z)), z.dtype)
