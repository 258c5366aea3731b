"""Token sampling as language-model servers do it: temperature, top-k, top-p, min-p, row seeds.

The mathematics: docs/mathematics.md#token-sampling.

The filters run in the compute dtype (float32, or float64 for float64 logits) in a fixed order:
temperature, then top-k, then top-p over what top-k kept (renormalised), then min-p. A filtered
class gets the logit ``-inf``; the draw is Gumbel-max on what remains, so its law is exactly the
softmax of the tempered logits over the kept set, with the noise's exact upper tail. A
temperature of 0 is the greedy choice, ``argmax(logits)`` with ties to the first index (the
filters always keep the largest logit). Ties at a top-k or top-p boundary are all kept, as in
Hugging Face's ``TopKLogitsWarper``.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    call_error,
    check_placed_with,
    eager_where_readable,
    is_real_scalar,
    positive_finite,
    publish,
    type_name,
)
from gumbelkit._noise import draw_gumbel
from gumbelkit._prepared import Prepared, from_near_zero
from gumbelkit._row_blocks import by_row_blocks
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend
from gumbelkit.backends._common import check_seed

__all__ = ["filter_logits", "sample_tokens"]


def _row_parameter(
    value: object, argument: str, prepared: Prepared, rows: int, *, integer: bool = False
) -> Array | None:
    """Return a per-row parameter as a ``(rows, 1)`` array, or None where it is not given."""
    if value is None:
        return None
    xp, device = prepared.xp, prepared.device
    dtype = prepared.index_dtype() if integer else prepared.compute_dtype
    row_shape = tuple(n for i, n in enumerate(prepared.logits.shape) if i != prepared.axis)
    if integer and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return xp.full((rows, 1), int(value), dtype=dtype, device=device)
    if not integer and is_real_scalar(value):
        # Checked already (_Filters), so only the valid values the dtype cannot hold move.
        largest, smallest = _held_range(argument, xp.finfo(dtype))
        number = _core.real_as_float(value)
        if largest is not None and number > largest:
            number = largest
        if smallest is not None and 0 < number < smallest:
            number = smallest
        return xp.full((rows, 1), number, dtype=dtype, device=device)
    if not hasattr(value, "shape") or not prepared.backend.matches(value):
        expected = "an int" if integer else "a real number"
        raise TypeError(f"{argument} must be {expected} or an array of the logits' library "
                        f"with their row shape {row_shape}; got {type_name(value)}")
    array: Array = value
    check_placed_with(array, argument, prepared.backend, prepared.logits)
    if not xp.isdtype(array.dtype, "integral" if integer else "real floating"):  # no bool
        kind = "an integer" if integer else "a real floating"
        raise TypeError(f"{argument} must have {kind} dtype; got {array.dtype}")
    if array.ndim == 0:
        array = _core.placed_scalar(array, xp, device)
    try:
        array = xp.broadcast_to(array, row_shape)
    except Exception:  # the namespaces raise ValueError, RuntimeError or TypeError
        raise ValueError(f"{argument} of shape {tuple(array.shape)} does not broadcast to the "
                         f"logits' row shape {row_shape}") from None
    # An array that can be read (a constant captured by jax.jit too) is held in range now:
    # the trace embeds the held values, not a subnormal that XLA flushes to 0.
    wider = not integer and float(xp.finfo(array.dtype).max) > float(xp.finfo(dtype).max)
    with eager_where_readable(array, prepared.backend):
        if wider:  # held before the cast, which would make them inf or 0
            array = _within_range_of(array, argument, dtype, prepared)
        cast = xp.astype(array, dtype)
        if not integer and not wider:
            # A subnormal of the compute dtype, given or made by the cast (bfloat16).
            cast = _within_range_of(cast, argument, dtype, prepared, largest_too=False)
    if integer and int(xp.iinfo(array.dtype).max) > int(xp.iinfo(dtype).max):
        # A uint64 above the index dtype's range wraps to a negative count: it keeps every
        # class, as the largest index does (the count is clipped to the classes). Compared
        # after the cast: PyTorch's CPU compares no uint64.
        largest = xp.asarray(int(xp.iinfo(dtype).max), dtype=dtype, device=device)
        cast = xp.where(cast < 0, largest, cast)
    return xp.reshape(cast, (rows, 1))


def _held_range(argument: str, finfo: Any) -> tuple[float | None, float | None]:
    """Return how the compute dtype holds the valid values of ``argument`` it cannot represent.

    ``(largest, smallest)``: a finite value above ``largest`` becomes ``largest``, a positive
    value below ``smallest`` becomes ``smallest``; None leaves that end as it is. A temperature
    above the dtype's largest value is that value (uniform over the classes kept either way,
    where the cast would make it ``inf``, which the range check refuses). A positive
    temperature or ``top_p`` below its smallest normal number is that number (the largest
    logits alone, the top class alone): the cast would make a small one 0, read as greedy or
    refused, and XLA flushes a subnormal constant of a compiled function to 0, so that divided
    by it the row's maximum was NaN under ``jax.jit``. A ``min_p`` keeps its value (a
    subnormal one keeps classes beyond the normals' range).
    """
    largest = float(finfo.max) if argument == "temperature" else None
    smallest = float(finfo.smallest_normal) if argument in ("temperature", "top_p") else None
    return largest, smallest


def _within_range_of(array: Array, argument: str, dtype: Any, prepared: Prepared, *,
                     largest_too: bool = True) -> Array:
    """Return a parameter array with its valid values held as :func:`_held_range` says.

    As for a number (:func:`_row_parameter`), in the compute ``dtype``'s range; invalid values
    (negative, NaN, ``inf``) stay as they are, for the range checks to refuse. Positive is
    read from the bits (:func:`positive_finite`): XLA on the CPU reads a subnormal as 0 in
    ``x > 0``. ``largest_too=False`` holds only the small end (an array already in ``dtype``).
    """
    xp = prepared.xp
    largest, smallest = _held_range(argument, xp.finfo(dtype))
    if largest is not None and largest_too:
        array = xp.where(xp.logical_and(xp.isfinite(array), array > largest),
                         xp.full_like(array, largest), array)
    if smallest is not None:
        tiny = xp.logical_and(positive_finite(array, xp, prepared.backend), array < smallest)
        array = xp.where(tiny, xp.full_like(array, smallest), array)
    return array


def _check_range(ok: Array, argument: str, expected: str, prepared: Prepared) -> None:
    """Raise naming ``argument`` where ``ok`` is readable (free, or validate) and not all true."""
    backend = prepared.backend
    if (prepared.validate or backend.is_host_readable(ok)) and not bool(prepared.xp.all(ok)):
        raise ValueError(f"{argument} must be {expected} in every row")


class _Filters:
    """The checked filter parameters of one call, each ``(rows, 1)`` or None.

    Also the dtype their counts take (:meth:`Prepared.index_dtype`).
    """

    def __init__(self, prepared: Prepared, rows: int, temperature: object, top_k: object,
                 top_p: object, min_p: object) -> None:
        xp = prepared.xp
        ranges: tuple[tuple[str, object, str, Callable[[float], bool]], ...] = (
            ("temperature", temperature, "a finite number >= 0 (0 is greedy)",
             lambda v: math.isfinite(v) and v >= 0),
            # A top_k that is not an integer is a TypeError whatever its value (below).
            ("top_k", top_k if isinstance(top_k, numbers.Integral) else None, "at least 1",
             lambda v: v >= 1),
            ("top_p", top_p, "in (0, 1]", lambda v: 0 < v <= 1),
            ("min_p", min_p, "in [0, 1]", lambda v: 0 <= v <= 1),
        )
        for argument, value, expected, inside in ranges:
            # A number is checked now on every backend (an array where reading it is free).
            if is_real_scalar(value) and not inside(_core.real_as_float(value)):
                raise ValueError(f"{argument} must be {expected}; got {value!r}")
        if isinstance(top_k, numbers.Integral) and not isinstance(top_k, bool):
            # Above the number of classes keeps them all: clipped now, so that any int fits.
            top_k = min(int(top_k), prepared.num_classes)
        self.index_dtype = prepared.index_dtype()
        self.temperature = _row_parameter(temperature, "temperature", prepared, rows)
        self.top_k = _row_parameter(top_k, "top_k", prepared, rows, integer=True)
        # One k for all rows, known now: the top-k filter selects instead of sorting.
        integral = isinstance(top_k, numbers.Integral) and not isinstance(top_k, bool)
        self.largest_k = int(top_k) if integral else None  # type: ignore[call-overload]
        self.top_p = _row_parameter(top_p, "top_p", prepared, rows)
        self.min_p = _row_parameter(min_p, "min_p", prepared, rows)
        # A number's logarithm, taken here in float64: XLA on the CPU takes a subnormal as 0.
        self.log_min_p: float | None = None
        if is_real_scalar(min_p):
            number = _core.real_as_float(min_p)
            self.log_min_p = math.log(number) if number > 0 else -math.inf
        checks = []
        if self.temperature is not None:
            t = self.temperature
            checks.append((xp.logical_and(xp.isfinite(t), t >= 0), "temperature",
                           "a finite number >= 0 (0 is greedy)"))
        if self.top_k is not None:
            checks.append((self.top_k >= 1, "top_k", "at least 1"))
        if self.top_p is not None:
            # Positive by the bits: XLA on the CPU calls a subnormal 0 in ``p > 0``.
            p = self.top_p
            checks.append((xp.logical_and(positive_finite(p, xp, prepared.backend), p <= 1),
                           "top_p", "in (0, 1]"))
        if self.min_p is not None:
            p = self.min_p
            checks.append((xp.logical_and(p >= 0, p <= 1), "min_p", "in [0, 1]"))
        ok = xp.ones((rows, 1), dtype=xp.bool, device=prepared.device)
        for row_ok, argument, expected in checks:
            _check_range(row_ok, argument, expected, prepared)
            ok = xp.logical_and(ok, row_ok)
        self.ok = ok  # under a trace, a row with a parameter out of range is an invalid row

    def per_row(self) -> tuple[str, ...]:
        """Return the names of the ``(rows, 1)`` arrays: the parameters given, and ``ok``."""
        return tuple(name for name in ("temperature", "top_k", "top_p", "min_p", "ok")
                     if getattr(self, name) is not None)

    def with_rows(self, arrays: dict[str, Array]) -> _Filters:
        """Return these filters with the ``(rows, 1)`` ``arrays`` of a block of rows."""
        part = copy.copy(self)
        for name, value in arrays.items():
            setattr(part, name, value)
        return part


def _sorted_descending(z: Array, xp: Namespace) -> Array:
    """Return each row of ``z`` sorted in decreasing order.

    Not stable: equal values are the same value, in any order. NumPy's stable sort (the array
    API's default) is a radix or merge sort, 20 times slower than its vectorized quicksort on
    rows of 50,257 float32.
    """
    return xp.sort(z, axis=-1, descending=True, stable=False)


def _divided(shifted: Array, temperature: Array, top: Array, backend: Backend,
             xp: Namespace) -> Array:
    """Return ``shifted / temperature``, also for a temperature above 1 / smallest normal.

    XLA on the CPU divides by multiplying with the reciprocal, which it flushes to 0 where that
    is subnormal: above ``2**126`` in float32 a masked class became ``-inf * 0 = NaN`` (and was
    drawn) and ``-3e38 / 1e38`` came out 0. Rows with such a temperature divide both by the
    same power of two first (``2**-64``, ``2**-512`` in float64), which changes no quotient
    beyond its rounding, and a ``-inf`` stays ``-inf``. The temperature is tied to the data
    there (``+ 0 * top``, ``top`` the finite row maxima that ``shifted`` is relative to): XLA
    folds a temperature that is a constant of the compiled function (a Python number under
    ``jax.jit``) and its scaling back into the flushed reciprocal. Where the temperatures can
    be read and none is that large, the plain division, unscaled (the values the scaling
    would give).

    The division is the samplers' (:func:`gumbelkit._core.divide_by_temperature`), whose
    gradient has no NaN at a masked class (``-inf``): there the derivative of the quotient in
    the temperature is infinite, and it reached the logits through the tie to ``top``
    (``torch.func.grad``, ``jax.jit`` of ``jax.grad``). The tie carries no gradient.
    """
    finfo = xp.finfo(temperature.dtype)
    huge = 1.0 / float(finfo.smallest_normal)  # 2**126, 2**1022
    if not backend.is_host_readable(temperature) or bool(xp.any(temperature > huge)):
        temperature = temperature + 0.0 * backend.stop_gradient(top)
        power = 2.0**-64 if finfo.bits <= 32 else 2.0**-512
        scale = xp.where(temperature > huge, xp.full_like(temperature, power),
                         xp.ones_like(temperature))
        shifted, temperature = xp.multiply(shifted, scale), xp.multiply(temperature, scale)
    return _core.divide_by_temperature(shifted, temperature, xp=xp,
                                       stop_gradient=backend.stop_gradient,
                                       differentiable=backend.supports_autodiff)


def _filtered(
    z: Array, filters: _Filters, backend: Backend, xp: Namespace, device: Any
) -> tuple[Array, Array]:
    """Return the tempered, filtered ``(rows, K)`` logits (``-inf`` where filtered) and greedy."""
    num_classes = int(z.shape[-1])
    neg_inf = xp.asarray(-math.inf, dtype=z.dtype, device=device)
    greedy = xp.zeros((int(z.shape[0]), 1), dtype=xp.bool, device=device)
    if filters.temperature is not None:
        greedy = filters.temperature == 0
        # Shifted by the row maximum before the division, which leaves the softmax as it is
        # and every finite logit finite (3e38 / 0.5 would overflow); a difference that
        # overflows is -inf, its limit, as is a quotient by a tiny temperature. Through the
        # namespace: Dask's subtracts and divides without NumPy's warnings when it computes.
        top = xp.max(z, axis=-1, keepdims=True)
        z = _divided(xp.subtract(z, top),
                     xp.where(greedy, xp.ones_like(filters.temperature), filters.temperature),
                     top, backend, xp)
    descending = None
    if filters.top_k is not None:
        k = xp.clip(filters.top_k, 1, num_classes)
        if filters.largest_k is not None and filters.largest_k < num_classes:
            # One k for every row: the k largest by a partial selection, not a sort.
            largest = backend.top_k(z, filters.largest_k, -1)
            descending = _core.take_rows(z, largest, xp, device)
        else:
            descending = _sorted_descending(z, xp)
        z = xp.where(z >= _core.take_rows(descending, k - 1, xp, device), z, neg_inf)
        # Top-p sees only what top-k kept: the tail of the sorted values is -inf.
        positions = xp.arange(int(descending.shape[-1]), device=device)
        descending = xp.where(positions < k, descending, neg_inf)
    if filters.top_p is not None:
        z = _top_p(z, descending, filters.top_p, filters.index_dtype, backend, xp, device)
    if filters.min_p is not None:
        # p >= min_p max(p), in logits: z >= max(z) + log(min_p) (min_p = 0 keeps every class;
        # log(0) is never taken, so Dask warns of nothing when it computes).
        log_min_p: float | Array | None = filters.log_min_p
        if log_min_p is None:
            log_min_p = _core.log_or_minus_inf(filters.min_p, xp)
        floor = xp.max(z, axis=-1, keepdims=True) + log_min_p
        z = xp.where(z >= floor, z, neg_inf)
    return z, greedy


def _top_p(z: Array, descending: Array | None, top_p: Array, index_dtype: Any,
           backend: Backend, xp: Namespace, device: Any) -> Array:
    """Return ``z`` filtered to the fewest classes, by decreasing probability, of mass ``top_p``.

    A class is kept where the mass before it is below ``top_p``, that is, where the mass from
    it on exceeds ``1 - top_p``; the last kept value bounds the kept logits, so ties at the
    boundary stay. The mass from a class on is summed from the smallest class, with its
    relative precision: the mass before it, summed from the largest, read 1 behind a class 17
    nats down in float32 (``1 + 4e-8`` rounds to 1), and ``top_p = 1`` dropped that class.
    ``descending`` is ``z`` sorted, or its top-k (``-inf`` beyond), where top-k ran.
    """
    neg_inf = xp.asarray(-math.inf, dtype=z.dtype, device=device)
    if descending is None:
        descending = _sorted_descending(z, xp)
    top = descending[:, :1]
    weight = xp.exp(xp.subtract(descending, _core.finite_or_zero(top, xp)))
    listed = xp.isfinite(descending)
    count = xp.sum(xp.astype(listed, index_dtype), axis=-1, keepdims=True)
    zero = xp.zeros_like(count)
    # Ties at a top-k boundary that a partial selection or the cut at k left out of
    # ``descending``: each weighs as its last finite value.
    ties = xp.sum(xp.astype(xp.isfinite(z), index_dtype), axis=-1, keepdims=True) - count
    tied_mass = xp.astype(ties, z.dtype) * _core.take_rows(weight, xp.maximum(count - 1, zero),
                                                           xp, device)
    rest = xp.flip(backend.running_sum(xp.flip(weight, axis=-1)), axis=-1) + tied_mass
    above = xp.logical_or(rest > (1.0 - top_p) * rest[:, :1], top_p >= 1.0)
    kept = xp.sum(xp.astype(xp.logical_and(listed, above), index_dtype), axis=-1, keepdims=True)
    last = _core.take_rows(descending, xp.maximum(kept - 1, zero), xp, device)
    return xp.where(z >= last, z, neg_inf)


def _rows(prepared: Prepared) -> tuple[Array, Array, tuple[int, ...]]:
    """Return the logits as ``(rows, K)`` in the compute dtype, invalid rows as zeros, validity."""
    logits, row_shape = prepared.class_rows()
    return (*_valid_rows(logits, prepared), row_shape)


def _valid_rows(logits: Array, prepared: Prepared) -> tuple[Array, Array]:
    """Return ``(rows, K)`` logits in the compute dtype, invalid rows as zeros, and validity."""
    xp = prepared.xp
    z = _core.as_dtype(logits, prepared.compute_dtype, xp)
    # An invalid row (a NaN, a +inf, no finite logit) is filtered as zeros, which warns nowhere
    # (Dask computes later, outside any errstate); its result is replaced.
    valid = xp.isfinite(prepared.backend.row_max(z, -1, keepdims=True))
    return xp.where(valid, z, xp.zeros_like(z)), valid


def _filter_logits_body(
    logits: Array,
    *misplaced: object,
    temperature: float | Array | None = None,
    top_k: int | Array | None = None,
    top_p: float | Array | None = None,
    min_p: float | Array | None = None,
    axis: int = -1,
    **unknown: object,
) -> Array:
    """Return the filtered logits; the body of :func:`filter_logits`, which documents it."""
    if misplaced or unknown:
        raise call_error(filter_logits, misplaced, unknown)
    prepared = Prepared(logits, axis, None, None, (), False)
    with prepared.backend.errstate():
        return _filter_prepared(prepared, temperature, top_k, top_p, min_p)


def _filter_prepared(prepared: Prepared, temperature: object, top_k: object, top_p: object,
                     min_p: object) -> Array:
    """Return :func:`filter_logits` of the checked logits."""
    xp, device = prepared.xp, prepared.device
    z, valid, row_shape = _rows(prepared)
    filters = _Filters(prepared, int(z.shape[0]), temperature, top_k, top_p, min_p)
    if filters.temperature is not None:
        # Greedy rows keep only their largest logits: the law of temperature -> 0.
        greedy = filters.temperature == 0
        top = xp.max(z, axis=-1, keepdims=True)
        z = xp.where(xp.logical_and(greedy, z < top), xp.asarray(-math.inf, dtype=z.dtype,
                                                                  device=device), z)
    out, _ = _filtered(z, filters, prepared.backend, xp, device)
    # A row with a parameter out of range (unread under a trace or on Dask) is invalid too.
    valid = xp.logical_and(valid, filters.ok)
    out = xp.where(valid, out, xp.asarray(math.nan, dtype=out.dtype, device=device))
    out = xp.reshape(out, (*row_shape, prepared.num_classes))
    return _core.move_axis(out, -1, prepared.axis, xp)


@publish(_filter_logits_body)
def filter_logits(
    logits: Array,
    *,
    temperature: float | Array | None = None,
    top_k: int | Array | None = None,
    top_p: float | Array | None = None,
    min_p: float | Array | None = None,
    axis: int = -1,
) -> Array:
    """Return the tempered logits with the classes the filters remove set to ``-inf``.

    The softmax of the result along ``axis`` is the law :func:`sample_tokens` draws from. It is
    computed in float32, or float64 for float64 logits. With a temperature, the tempered
    logits are ``(logits - max) / temperature`` per row: shifted so that the row's largest is
    0, which leaves the softmax as it is and keeps every finite logit finite.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``.
    temperature : float or array, optional
        Divides the logits; one per row (an array broadcasting to the row shape) or one for
        all. 0 keeps only the row's largest logits (the greedy choice).
    top_k : int or array of int, optional
        Keep the ``top_k`` largest tempered logits (and every logit tied with the last); a
        value above the number of classes keeps them all.
    top_p : float or array, optional
        Then keep the fewest classes, by decreasing probability, whose probability (over what
        top-k kept) sums to at least ``top_p``, in ``(0, 1]``.
    min_p : float or array, optional
        Then keep the classes whose probability is at least ``min_p`` times the largest, with
        ``min_p`` in ``[0, 1]``.
    axis : int, optional
        The class axis.

    Returns
    -------
    array
        The filtered logits in the compute dtype, the shape of ``logits``.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> gk.filter_logits(np.log(np.array([0.5, 0.3, 0.15, 0.05])), top_p=0.7)
    array([-0.69314718, -1.2039728 ,        -inf,        -inf])

    """
    raise NotImplementedError  # never runs: publish makes _filter_logits_body this function


def _noise_by_seed(prepared: Prepared, seeds: object, rows: int, row_shape: tuple[int, ...],
                   shape: tuple[int, ...]) -> tuple[Array, Array | None]:
    """Return Gumbel noise of ``(rows, K)``, each row from its own seed's stream.

    Also returns, for a seed array that cannot be read (under a trace), ``(rows, 1)`` booleans
    saying where the seed lies in ``[0, 2**63)``; None where every seed was checked.
    """
    backend, device = prepared.backend, prepared.device
    dtype = prepared.compute_dtype
    seed_array, seeds_ok = _checked_seeds(prepared, seeds, rows, row_shape)

    def row_noise(source: Any) -> Array:
        noise, _ = draw_gumbel(backend, source, shape, dtype, device)
        return noise

    ok = None if seeds_ok is None else prepared.xp.reshape(seeds_ok, (rows, 1))
    return backend.map_seeds(row_noise, seed_array, device), ok


def _checked_seeds(prepared: Prepared, seeds: object, rows: int,
                   row_shape: tuple[int, ...]) -> tuple[object, Array | None]:
    """Return the seeds as ``map_seeds`` takes them, and where a traced one is in range.

    Raises naming ``seeds`` where one is not an int, lies outside ``[0, 2**63)`` (where it can
    be read) or where there is not one per row. The second value is :func:`_seeds_in_range`
    of a seed array that cannot be read (under a trace), None where every seed was checked.
    """
    backend = prepared.backend
    seeds_ok: Array | None = None
    if isinstance(seeds, Sequence) or (hasattr(seeds, "shape") and not backend.matches(seeds)):
        flat = _flat(seeds)
        wrong = [s for s in flat if not isinstance(s, numbers.Integral) or isinstance(s, bool)]
        if wrong:
            raise TypeError(f"seeds must be ints, one per row; got {type_name(wrong[0])}")
        values = [check_seed(s, "seeds") for s in flat]  # the range of an int rng
        if len(values) != rows:
            raise ValueError(f"seeds must hold one seed per row, {rows} for the row shape "
                             f"{row_shape}; got {len(values)}")
        seed_array: object = values
    elif hasattr(seeds, "shape") and backend.matches(seeds):
        seed_rows: Array = seeds
        if "map_seeds" in backend.supplied:  # combined with the logits; else read to the host
            check_placed_with(seed_rows, "seeds", backend, prepared.logits)
        if not prepared.xp.isdtype(seed_rows.dtype, "integral"):
            raise TypeError(f"seeds must have an integer dtype, one seed per row; got "
                            f"{seed_rows.dtype}")
        if math.prod(tuple(seed_rows.shape)) != rows:
            raise ValueError(f"seeds must hold one seed per row, {rows} for the row shape "
                             f"{row_shape}; got an array of shape {tuple(seed_rows.shape)}")
        flat_rows: Array = prepared.xp.reshape(seed_rows, (-1,))  # in C order, as the rows
        if "map_seeds" not in backend.supplied:
            # The default map_seeds reads the seeds to the host: read once, here, and checked
            # as a list is.
            return [check_seed(s, "seeds") for s in _read_seeds(flat_rows, backend)], None
        in_range = _seeds_in_range(flat_rows, prepared.xp)
        # Free to read: checked as a list would be. Asked of the comparison, not the seeds:
        # under jax.jit a constant's comparison is traced.
        if in_range is not None and backend.is_host_readable(in_range):
            _check_seed_array(flat_rows, in_range, prepared.xp)
        else:  # a row whose seed is out of range is invalid, as for the other parameters
            seeds_ok = in_range
        seed_array = flat_rows
    else:
        raise TypeError(f"seeds must be a sequence of ints or an integer array with one seed "
                        f"per row; got {type_name(seeds)}")
    return seed_array, seeds_ok


def _seeds_in_range(seeds: Array, xp: Namespace) -> Array | None:
    """Return where the 1-d integer ``seeds`` lie in ``[0, 2**63)``; None where all must.

    Only the bound its dtype can cross is compared: none for uint8 to uint32, and uint64's top
    half by a value of its own dtype (a Python int ``2**63`` overflows JAX's).
    """
    info = xp.iinfo(seeds.dtype)
    if int(info.min) < 0:
        in_range: Array = seeds >= 0
        return in_range
    if int(info.max) >= 2**63:
        in_range = seeds <= xp.asarray(2**63 - 1, dtype=seeds.dtype)
        return in_range
    return None


def _check_seed_array(seeds: Array, in_range: Array, xp: Namespace) -> None:
    """Raise naming ``seeds`` where a seed of the 1-d integer array lies outside ``[0, 2**63)``.

    ``in_range`` is :func:`_seeds_in_range` of ``seeds``: for a backend with its own
    ``map_seeds``, where it can be read for free (the others read the seeds as a list,
    :func:`_read_seeds`).
    """
    if not bool(xp.all(in_range)):
        first = int(xp.argmax(xp.astype(xp.logical_not(in_range), xp.int8)))
        check_seed(int(seeds[first]), "seeds")  # raises, naming the seed


def _read_seeds(seeds: Array, backend: Backend) -> list[Any]:
    """Return the values of the seed array, or raise naming ``seeds`` where they cannot be read.

    A PyTorch tensor on the ``meta`` device has a shape and no values.
    """
    try:
        if hasattr(seeds, "tolist"):
            listed: list[Any] = seeds.tolist()
            return listed
        return [int(seed) for seed in seeds]  # 0-d arrays (Dask's computed one by one)
    except (NotImplementedError, RuntimeError) as error:
        raise TypeError(
            f"seeds must be an array whose values can be read: {backend.name} reads the seeds "
            f"to the host, and an array on {backend.device(seeds)} could not be read ({error})"
        ) from error


def _flat(seeds: Any) -> list[Any]:
    if hasattr(seeds, "tolist"):
        listed = seeds.tolist()
        return _flat(listed) if isinstance(listed, list) else [listed]
    out: list[Any] = []
    for s in seeds:
        out.extend(_flat(s) if isinstance(s, (list, tuple)) else [s])
    return out


def _sample_tokens_body(
    logits: Array,
    *misplaced: object,
    temperature: float | Array | None = None,
    top_k: int | Array | None = None,
    top_p: float | Array | None = None,
    min_p: float | Array | None = None,
    rng: object = None,
    seeds: object = None,
    axis: int = -1,
    validate: bool = False,
    mask: Array | None = None,
    **unknown: object,
) -> Array:
    """Draw one token per row; the body of :func:`sample_tokens`, which documents it."""
    if misplaced or unknown:
        raise call_error(sample_tokens, misplaced, unknown)
    if seeds is not None and rng is not None:
        raise ValueError("seeds and rng are exclusive: pass one seed per row, or one rng")
    prepared = Prepared(logits, axis, rng, None, (), validate, mask=mask)
    with prepared.backend.errstate():
        return _sample_prepared(prepared, temperature, top_k, top_p, min_p, seeds)


def _sample_prepared(prepared: Prepared, temperature: object, top_k: object, top_p: object,
                     min_p: object, seeds: object) -> Array:
    """Return :func:`sample_tokens` of the checked logits."""
    xp, device = prepared.xp, prepared.device
    logits, row_shape = prepared.class_rows()
    rows, num_classes = int(logits.shape[0]), prepared.num_classes
    filters = _Filters(prepared, rows, temperature, top_k, top_p, min_p)
    if rows == 0 or seeds is not None:
        seeds_ok = None
        if rows == 0:
            if seeds is not None:  # no seed to draw with, and still one per row, none
                _checked_seeds(prepared, seeds, rows, row_shape)
            noise = xp.zeros((rows, num_classes), dtype=prepared.compute_dtype, device=device)
        else:
            noise, seeds_ok = _noise_by_seed(prepared, seeds, rows, row_shape, (num_classes,))
        tokens = _tokens(logits, filters, lambda: noise, prepared, seeds_ok)
        return xp.reshape(tokens, row_shape)
    # As gumbel_max: by row blocks (a large NumPy call on threads, each block filtering its own
    # rows), the noise drawn with the logits' shape, so that unfiltered tokens are gumbel_max's
    # indices from the same seed. The per-row parameters go with their rows: each is laid out
    # as the logits with one class.
    names = filters.per_row()
    one_class = tuple(1 if i == prepared.axis else n for i, n in enumerate(prepared.out_shape))
    parameters = [xp.reshape(getattr(filters, name), one_class) for name in names]
    return by_row_blocks(prepared, _block_tokens, filters, names, *parameters)


def _block_tokens(prepared: Prepared, filters: _Filters, names: tuple[str, ...],
                  *parameters: Array) -> Array:
    """Return the tokens of one row block (:func:`by_row_blocks`), class axis removed."""
    xp = prepared.xp
    logits, row_shape = prepared.class_rows()
    part = filters.with_rows({name: xp.reshape(value, (-1, 1))
                              for name, value in zip(names, parameters, strict=True)})

    def noise() -> Array:
        drawn, _ = draw_gumbel(prepared.backend, prepared.new_source(), prepared.out_shape,
                               prepared.compute_dtype, prepared.device)
        return xp.reshape(_core.move_axis(drawn, prepared.axis, -1, xp), tuple(logits.shape))

    return xp.reshape(_tokens(logits, part, noise, prepared), row_shape)


def _tokens(logits: Array, filters: _Filters, noise: Callable[[], Array],
            prepared: Prepared, seeds_ok: Array | None = None) -> Array:
    """Return the ``(rows, 1)`` tokens of ``(rows, K)`` logits.

    The filters, then the race against ``noise()`` (drawn after them: PyTorch's call of (64,
    50257) took 70 ms with the noise first, 55 after), then the checks; ``seeds_ok``
    (``(rows, 1)``) marks the rows whose traced seed was in range.
    """
    backend, xp, device = prepared.backend, prepared.xp, prepared.device
    z, valid = _valid_rows(logits, prepared)
    filtered, greedy = _filtered(z, filters, backend, xp, device)
    if filters.temperature is None:  # a temperature left every row's maximum at 0
        # Large rows race from their maximum, as gumbel_max's (from_near_zero).
        filtered, _ = from_near_zero(filtered, -1, backend, xp)
    index = backend.argmax(filtered + noise(), axis=-1, keepdims=True)
    if filters.temperature is not None:
        index = xp.where(greedy, backend.argmax(z, axis=-1, keepdims=True), index)
    valid = xp.logical_and(valid, filters.ok)
    if seeds_ok is not None:
        valid = xp.logical_and(valid, seeds_ok)
    invalid = xp.asarray(prepared.num_classes, dtype=index.dtype, device=device)
    return xp.where(valid, index, invalid)


@publish(_sample_tokens_body)
def sample_tokens(
    logits: Array,
    *,
    temperature: float | Array | None = None,
    top_k: int | Array | None = None,
    top_p: float | Array | None = None,
    min_p: float | Array | None = None,
    rng: object = None,
    seeds: object = None,
    axis: int = -1,
    validate: bool = False,
    mask: Array | None = None,
) -> Array:
    """Draw one token per row after temperature, top-k, top-p and min-p, as LLM servers do.

    The draw is Gumbel-max on :func:`filter_logits`: its law is exactly the softmax of the
    tempered logits over the classes the filters keep, renormalised, with the noise's exact
    upper tail. Each parameter is one value or one per row.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; one row per sequence.
    temperature, top_k, top_p, min_p : optional
        As for :func:`filter_logits`. A temperature of 0 gives ``argmax(logits)`` exactly
        (ties to the first index), whatever the other filters say.
    rng : None, int, or a native generator or key, optional
        One random source for the whole batch.
    seeds : sequence of int or array of int, optional
        One seed per row instead of ``rng``: a row's token depends on its own seed and logits
        only, whatever else is in the batch (each row draws from its own stream, made as an
        int ``rng`` is; JAX: ``jax.random.key(seed)`` per row, under ``jax.vmap``).
    axis : int, optional
        The class axis.
    validate : bool, optional
        Read the data and raise ``ValueError`` for an invalid row or parameter.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).

    Returns
    -------
    array
        One index per row, the row shape of ``logits``. A row with a NaN, a ``+inf`` or no
        finite logit, or with a parameter out of range under a trace, gives the number of
        classes.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> logits = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    >>> gk.sample_tokens(logits, temperature=np.array([0.0, 0.7]), top_p=0.9, rng=0).shape
    (2,)

    """
    raise NotImplementedError  # never runs: publish makes _sample_tokens_body this function
