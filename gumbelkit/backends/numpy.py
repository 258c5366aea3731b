"""The NumPy adapter: ``numpy.random.Generator`` uniforms, no autodiff."""

from __future__ import annotations

import functools
import math
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from gumbelkit import _core
from gumbelkit.backends._common import (
    check_seed,
    is_numpy_array,
    is_numpy_real_floating,
    is_seed,
    rng_type_error,
)

name = "numpy"
supports_autodiff = False

_ACCEPTED_RNG = "None, an int seed, or a numpy.random.Generator, BitGenerator or SeedSequence"


def matches(x: object) -> bool:
    """Return whether ``x`` is a NumPy array (not a masked array or a matrix)."""
    return is_numpy_array(x)


def namespace(x: Any) -> Any:
    """Return array-api-compat's NumPy namespace."""
    return xp_numpy


is_real_floating = is_numpy_real_floating


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a NumPy random source."""
    return isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence))


def to_numpy_generator(rng: object, backend: str = name) -> np.random.Generator:
    """Turn ``None`` / a seed / a NumPy random source into a ``numpy.random.Generator``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if is_seed(rng):
        return np.random.default_rng(check_seed(rng))
    raise rng_type_error(backend, _ACCEPTED_RNG, rng)


def make_rng(rng: object, device: Any) -> np.random.Generator:
    """Return a ``numpy.random.Generator``; ``None`` draws fresh OS entropy."""
    if type(rng) is np.random.Generator:  # the common case, without a further call
        return rng
    return to_numpy_generator(rng)


# The only dtypes uniform() draws (the compute dtypes); np.finfo costs a microsecond a call.
_SMALLEST_NORMAL = {np.dtype(t): np.finfo(t).smallest_normal for t in (np.float32, np.float64)}


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[np.ndarray, np.random.Generator]:
    """Draw uniforms in ``[tiny, 1 - 2**-24]`` (float32) or ``[tiny, 1 - 2**-53]`` (float64).

    ``Generator.random`` already stays below 1 (it returns ``k * 2**-24`` or ``k * 2**-53``);
    only 0 must be lifted to the smallest normal.
    """
    return _lift_zero_(np.asarray(rng.random(shape, dtype=dtype))), rng


def _lift_zero_(u: np.ndarray) -> np.ndarray:
    """Return ``Generator.random``'s ``u`` with 0 lifted to the smallest normal, in its buffer.

    A 0 is rare (2**-24 of float32 draws), so a reduction that only reads ``u`` looks for one
    first: a quarter of the time of writing the maximum everywhere.
    """
    smallest = _SMALLEST_NORMAL[u.dtype]
    if u.size and np.minimum.reduce(u, axis=None) < smallest:
        np.maximum(u, smallest, out=u)
    return u


def gumbel_(u: np.ndarray) -> np.ndarray:
    """Return ``-log(-log(u))`` computed in ``u``'s buffer: the core's values, one buffer.

    The noise then costs about the generator's time plus two logarithms.
    """
    np.log(u, out=u)
    np.negative(u, out=u)
    np.log(u, out=u)
    np.negative(u, out=u)
    return u


def _l2_cache_bytes(caches: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Return the size of a core's L2 cache as Linux reports it, or 1 MiB where it does not."""
    for index in sorted(caches.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        unit = {"K": 2**10, "M": 2**20}.get(size[-1:])
        if level == "2" and kind in ("Unified", "Data") and size[:-1].isdigit() and unit:
            return int(size[:-1]) * unit
    return 2**20


_WHOLE_BYTES = 2**22
"""The largest draw :func:`gumbel_and_sliver` leaves to the composed path (4 MiB: ``2**20``
float32 values, a whole row block)."""


@functools.cache
def _piece_values(itemsize: int) -> int:
    """Return the values per piece of :func:`gumbel_and_sliver` for floats of ``itemsize`` bytes.

    The largest power of two from 2**15 to 2**18 whose values and the sliver's booleans fill at
    most three quarters of a core's L2 cache, so that a piece stays there through the draw,
    the comparison and the two logarithms: 2**18 float32 values (and 2**17 float64) on a 2 MiB
    cache, half as many on 1 MiB. The piece size changes the speed only, never a value.
    """
    budget = _l2_cache_bytes() * 3 // 4 // (itemsize + 1)
    exponent: int = min(18, max(15, budget.bit_length() - 1))
    return 1 << exponent


def gumbel_and_sliver(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, device: Any, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.random.Generator] | None:
    """Return ``gumbel_(u)`` of ``uniform``'s ``u`` and the positions of ``u >= threshold``.

    Drawn piece by piece into one buffer: ``Generator.random`` continues its stream from call
    to call (float32 values take the halves of its 64-bit words in order, across calls too), so
    the values are those of one draw. Each piece is drawn, searched and transformed while it
    is in the cache (:func:`_piece_values`). A draw of at most :data:`_WHOLE_BYTES` returns
    None: the composed path's whole-array passes are as fast or faster there, where they stay
    in the last-level cache, and they cost fewer Python calls, which the threads running row
    blocks wait on each other for (a row block holds at most ``2**20`` values). Measured with
    the exact tail over the textbook noise, interleaved in one process on a 2-core AMD EPYC
    (benchmarks/RESULTS.md): a (1, 2**22) float32 ``gumbel_max`` 1.02 to 1.05 in pieces, 1.11
    in whole passes; the blocks of (64, 50257) on two threads 1.14 to 1.17 in pieces of 2**17,
    1.07 to 1.09 whole.
    """
    n = math.prod(shape)
    itemsize = np.dtype(dtype).itemsize
    if n * itemsize <= _WHOLE_BYTES:
        return None
    most = _piece_values(itemsize)
    noise = np.empty(shape, dtype=dtype)
    flat = noise.reshape(-1)
    found = []
    size = -(-n // -(-n // most))  # equal pieces of at most `most`: no short last one
    # One buffer for every piece's comparison: a fresh one per piece costs more than the
    # comparison (its pages are faulted in anew, and threads contend for that).
    above = np.empty(size, dtype=bool)
    for start in range(0, n, size):
        piece = flat[start:start + size]
        _lift_zero_(rng.random(dtype=noise.dtype, out=piece))
        hits = np.flatnonzero(np.greater_equal(piece, threshold, out=above[:piece.shape[0]]))
        if hits.shape[0]:
            found.append(hits + start)
        gumbel_(piece)
    positions = np.concatenate(found) if found else np.empty(0, dtype=np.intp)
    return noise, positions, rng


def positions_at_least(u: np.ndarray, threshold: float) -> np.ndarray:
    """Return the flat C-order positions of the entries of ``u`` at or above ``threshold``.

    One comparison and one scan of its booleans: the count is the result's length.
    """
    return np.flatnonzero(u >= threshold)


def put_(x: np.ndarray, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Write ``values`` at the flat C-order ``positions`` of ``x``'s buffer."""
    if x.flags.c_contiguous:
        x.reshape(-1)[positions] = values
        return x
    result: np.ndarray = _core.put_at(x, positions, values, xp_numpy, "cpu")
    return result


def add_(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return ``x + y`` in ``x``'s buffer (``x`` has the result's shape)."""
    np.add(x, y, out=x)
    return x


def tempered_softmax_(z: np.ndarray, tau: Any, axis: int) -> np.ndarray:
    """``softmax((z - max z) / tau)`` in the buffer ``z``: the core's arithmetic, in place.

    Same operations in the same order as ``gumbelkit._core.tempered_softmax`` (without
    autodiff, the guard of an array temperature's gradient changes no value), so the values
    are identical; only the temporaries are gone.
    """
    # ufunc.reduce is np.max / np.sum without their Python-level wrappers.
    np.subtract(z, np.maximum.reduce(z, axis=axis, keepdims=True), out=z)
    np.divide(z, tau, out=z)
    np.exp(z, out=z)
    np.divide(z, np.add.reduce(z, axis=axis, keepdims=True), out=z)
    return z


def one_hot_argmax_(z: np.ndarray, axis: int) -> np.ndarray:
    """Write the hard sample into the buffer ``z``: the generic path's values, fewer calls.

    Returns the one-hot of ``argmax(z, axis)`` (ties to the first index) in ``z``'s dtype, with
    a row whose maximum is not finite (NaN, ``+inf``, or all ``-inf``) all NaN, as
    ``_core.one_hot`` and the row-validity ``where`` of the generic path give it. The one-hot
    is the class-index comparison written straight into ``z``; adding ``m - m`` for the row
    maximum ``m``, 0 where it is finite and NaN elsewhere, marks the invalid rows.
    """
    index = z.argmax(axis=axis, keepdims=True)
    row_max = np.maximum.reduce(z, axis=axis, keepdims=True)
    trailing = z.ndim - 1 - axis % z.ndim  # dimensions after the class axis
    np.equal(index, _class_indices(z.shape[axis], trailing), out=z, casting="unsafe")
    np.add(z, row_max - row_max, out=z)
    return z


@functools.lru_cache(maxsize=64)
def _class_indices(num_classes: int, trailing: int) -> np.ndarray:
    """Return ``arange(num_classes)`` along an axis followed by ``trailing`` ones (read-only)."""
    classes = np.arange(num_classes).reshape((-1,) + (1,) * trailing)
    classes.flags.writeable = False  # shared between calls
    return classes


def row_max(x: np.ndarray, axis: int, keepdims: bool = False) -> Any:
    """Return ``max(x, axis)``, NaN where a NaN is, with ``np.maximum.reduce``.

    The same values without ``np.max``'s Python wrapper: a few microseconds less for a small
    input.
    """
    if keepdims:  # two calls: NumPy's stubs type keepdims as a literal
        return np.maximum.reduce(x, axis=axis, keepdims=True)
    return np.maximum.reduce(x, axis=axis)


def uniform_index(
    rng: np.random.Generator, shape: tuple[int, ...], n: int, device: Any
) -> tuple[np.ndarray, np.random.Generator]:
    """Draw integers uniform on ``0 .. n - 1`` with ``Generator.integers`` (unbiased)."""
    return np.asarray(rng.integers(0, n, size=shape)), rng


# Values per block of search_rows: the block's rows of the table and its few buffers stay in
# the caches across the search's steps (1.1 to 1.6 times faster than one block of all the values
# for 64 rows of 4,096 entries and 1,000 to 8,192 values each, or one row of 50,257 and 201,028).
_SEARCH_BLOCK = 2**14
# From this many values a call searches in one block. Threads that search small blocks at once
# wait on each other for the GIL between the short steps, and the blocks of a call on threads
# (by_shape_blocks) hold about 2**17 values or more (an uneven split's last one can hold
# fewer): 256 rows of 4,096 with 4,096 draws each took 65 ms on one thread and 63 on two with
# small blocks, 80 and 51 in one block per thread.
_ONE_SEARCH_BLOCK_FROM = 2**17


def search_rows(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return ``searchsorted(table[r], values[r], side="left")`` per row.

    A binary search of every value at once, ``ceil(log2(width + 1))`` vectorized steps that
    each compare one gathered table entry per value and move its lower end by a fixed amount:
    no branch per value, where ``np.searchsorted`` of unsorted values mispredicts about half of
    its steps (1.8 times faster for 64 rows of 4,096 entries and 1,000 values each). Fewer than
    2**17 values are searched by blocks of whole rows, or of one row's values where a row has
    more than a block; more in one block. One short row of values keeps ``np.searchsorted``
    itself, without the steps' fixed cost.
    """
    rows, width = table.shape
    count = values.shape[1]
    if rows == 1 and values.size < 4096:
        one_row: np.ndarray = np.searchsorted(table[0], values[0], side="left")
        return one_row[None, :].astype(np.intp)
    found = np.empty(values.shape, dtype=np.intp)
    block = values.size if values.size >= _ONE_SEARCH_BLOCK_FROM else _SEARCH_BLOCK
    block_rows = max(1, block // max(count, 1))
    block_values = max(count, 1) if block_rows > 1 else block
    for first_row in range(0, rows, block_rows):
        part = slice(first_row, first_row + block_rows)
        flat = np.ascontiguousarray(table[part]).reshape(-1)
        start = (np.arange(min(block_rows, rows - first_row), dtype=np.intp) * width)[:, None]
        for first in range(0, count, block_values):
            columns = slice(first, first + block_values)
            low = _search_steps(flat, values[part, columns], start, width)
            np.subtract(low, start, out=found[part, columns])
    return found


def _search_steps(flat: np.ndarray, values: np.ndarray, start: np.ndarray,
                  width: int) -> np.ndarray:
    """Return each value's flat place in its row of ``flat`` (the rows starting at ``start``)."""
    low = np.repeat(start, values.shape[1], axis=1)
    probe = np.empty_like(low)
    entry = np.empty(values.shape, dtype=flat.dtype)
    below = np.empty(values.shape, dtype=bool)
    # The answer lies in [low, low + size]: an entry below the value at low + size // 2 puts it
    # above that entry, in the upper part, which has size - size // 2 entries less to search.
    size = width
    while size > 0:
        half = size // 2
        np.add(low, half, out=probe)
        # mode="clip": an unbuffered take (probe never leaves the rows; "raise" copies via a
        # buffer when given out).
        np.take(flat, probe, out=entry, mode="clip")
        np.less(entry, values, out=below)
        low += below * (size - half)
        size = half
    return low


def merge_rows(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the two runs' places in their merge: one stable sort, then its inverse by a scatter.

    NumPy's stable sort of integers or floats is a timsort, which merges the two
    non-decreasing runs in linear time. Each entry's place in the merge, less the entries of
    its own run before it, counts the other run's entries before it. The scatter replaces the
    default's second sort and running sum (1.7 times faster for 4,096 rows of 1,024).
    """
    count = first.shape[1]
    order = np.argsort(np.concatenate([first, second], axis=1), axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.broadcast_to(np.arange(order.shape[1]), order.shape),
                      axis=1)
    before_first: np.ndarray = place[:, :count] - np.arange(count)
    before_second: np.ndarray = place[:, count:] - np.arange(second.shape[1])
    return before_first, before_second


def argmax(x: np.ndarray, axis: int, keepdims: bool = False) -> Any:
    """Return ``argmax(x, axis)`` (ties and NaN to the first index) by the array's method."""
    return x.argmax(axis=axis, keepdims=keepdims)


def block_streams(
    source: np.random.Generator | None, count: int
) -> list[np.random.Generator | None] | None:
    """Return ``count`` generators spawned from ``source``, one per row block of a large call.

    ``Generator.spawn`` derives each child from the seed sequence of ``source``'s bit generator
    and advances that sequence's spawn counter, not the generator's state: the children depend
    on the seed and on how many were spawned before, never on the threads that use them. A
    ``SeedSequence`` given as ``rng`` is that seed sequence, so its counter advances too, as
    with the Dask backend. A bit generator without a seed sequence (legacy seeding) cannot
    spawn: None, and the call runs as one block. ``source`` None (precomputed noise, nothing
    to draw) gives ``count`` Nones.
    """
    if source is None:
        return [None] * count
    try:
        children: list[np.random.Generator | None] = list(source.spawn(count))
    except (TypeError, ValueError):  # no seed sequence to spawn from
        return None
    return children


_CHUNK = 64
"""The entries per group whose maxima narrow a long row down to :func:`top_k`'s candidates."""


def top_k(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Return the indices of the ``k`` largest ``x`` along ``axis`` by a partial selection.

    The indices are those of the stable descending argsort's first ``k``: decreasing, ties to
    the lower index. A long row is first narrowed to the groups of entries that can hold its
    ``k + 1`` largest (:func:`_candidates`); ``np.argpartition`` then finds the ``k + 1`` largest in
    linear time. Where the ``k``-th largest exceeds the ``(k + 1)``-th, the ``k`` largest are
    exactly that set, which is ordered by value with ties by index (its indices sorted, then a
    stable sort of their values). A row where the two tie (the order among equal values at the
    edge decides which are in), or that holds a NaN (NumPy orders NaN as the largest, the
    stable argsort's rule too), takes the full stable argsort: the same indices, more slowly,
    only in such rows.
    """
    last = x if axis % x.ndim == x.ndim - 1 else np.moveaxis(x, axis, -1)
    num = last.shape[-1]
    if k >= num or last.size == 0:
        top = _descending(last)[..., :k]
    else:
        rows = last.reshape(-1, num)
        values, index = _candidates(rows, k)
        top, exact = _select(values, index, k)
        if not exact.all():
            inexact = np.logical_not(exact)
            top[inexact] = _descending(rows[inexact])[..., :k]
        top = top.reshape((*last.shape[:-1], k))
    return top if last is x else np.moveaxis(top, -1, axis)


def _candidates(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return entries of each row among which its ``k + 1`` largest are, with their indices.

    The first ``_CHUNK * G`` columns (``G = K // _CHUNK``) are dealt into ``G`` groups, column
    ``c`` to group ``c % G``, so that the group maxima are elementwise maxima of contiguous runs
    (a reduction over a short inner axis would cost a loop per group). The candidates are the
    ``k + 1`` groups with the largest maxima (``np.argpartition``, which counts NaN as the
    largest) and the columns after the dealt ones. With ``t`` the smallest of those maxima, an
    entry above ``t`` lies in a group whose maximum exceeds ``t``, one of the ``k + 1``, so every
    entry above ``t`` is a candidate; and the candidates hold ``k + 1`` entries of at least
    ``t``. Hence where the candidates' ``k``-th largest exceeds their ``(k + 1)``-th, it exceeds
    ``t`` and the two are the row's own: the candidates' ``k`` largest are the row's. Elsewhere
    :func:`_select` reports a tie, which the full sort settles. Returns the rows themselves and
    None where a row is too short for the groups to gain.
    """
    count, num = rows.shape
    if 4 * (k + 1) * _CHUNK > num:
        return rows, None
    groups = num // _CHUNK
    dealt = _CHUNK * groups
    body = rows[:, :dealt].reshape(count, _CHUNK, groups)
    peaks = np.maximum.reduce(body, axis=1)
    top = np.argpartition(peaks, groups - k - 1, axis=-1)[:, None, groups - k - 1:]
    values = np.take_along_axis(body, top, axis=2).reshape(count, -1)
    index = (np.arange(_CHUNK)[:, None] * groups + top).reshape(count, -1)
    if dealt == num:
        return values, index
    tail = np.broadcast_to(np.arange(dealt, num), (count, num - dealt))
    return (np.concatenate([values, rows[:, dealt:]], axis=-1),
            np.concatenate([index, tail], axis=-1))


def _select(
    values: np.ndarray, index: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the ``k`` largest ``values`` of each row and whether they are exact.

    ``values`` is 2-d; ``index`` holds the row index of each value (None: its position). The
    ``k`` come in decreasing order, ties to the lower index; they are exact where the ``k``-th
    largest exceeds the ``(k + 1)``-th (False for a NaN among them or at the edge).
    """
    num = values.shape[-1]
    rows = np.arange(values.shape[0])[:, None]
    # Positions num-k-1 and on: the (k + 1)-th largest, then the k largest (unordered).
    part = np.argpartition(values, num - k - 1, axis=-1)[:, num - k - 1:]
    picked = values[rows, part]
    if index is not None:
        part = index[rows, part]
    exact = np.minimum.reduce(picked[:, 1:], axis=-1) > picked[:, 0]
    # By decreasing value, then increasing index (lexsort's last key is its first).
    order = np.lexsort((part[:, 1:], -picked[:, 1:]), axis=-1)
    return part[:, 1:][rows, order], exact


def _descending(x: np.ndarray) -> np.ndarray:
    """Return the stable descending argsort of ``x`` along its last axis (NaN first).

    The generic default's order (array-api-compat's descending argsort): a stable ascending
    argsort of the reversed row, reversed, keeps equal values in index order.
    """
    order = np.flip(np.argsort(np.flip(x, axis=-1), axis=-1, kind="stable"), axis=-1)
    result: np.ndarray = (x.shape[-1] - 1) - order
    return result


def device(x: Any) -> str:
    """Return ``"cpu"``, NumPy's only device (faster than asking array-api-compat)."""
    return "cpu"


def float64_available(device: Any) -> bool:
    """Return True: NumPy arrays can always be float64 and int64."""
    return True


def stop_gradient(x: Any) -> Any:
    """Return ``x``: NumPy has no autodiff."""
    return x


def is_host_readable(x: Any) -> bool:
    """Return True: NumPy arrays live in host memory."""
    return True


def errstate() -> AbstractContextManager[Any]:
    """Silence NumPy's floating-point warnings around gumbelkit's deliberate infinities.

    A tiny ``tau`` sends shifted logits to ``-inf`` (overflow in divide), and an invalid row
    becomes NaN (``inf - inf``); both are the documented results, not accidents.
    """
    return np.errstate(all="ignore")
