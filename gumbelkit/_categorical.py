"""Categorical sampling by the fastest exact method for the shapes: Gumbel-max or alias tables.

The mathematics: docs/mathematics.md#categorical-sampling-when-a-row-is-reused.

Gumbel-max costs one uniform per class per draw, which is the least work for one draw per row.
Many draws from the same row are cheaper from a table built once per row: Walker's alias table
costs ``O(K)`` numbers to build and two random numbers per draw, a column and a comparison.

The table is built without a loop over the classes (so it traces under ``jax.jit`` and runs as a
few array operations everywhere), by Vose's sweep written with prefix sums and merges: with
``q = K softmax(logits)``, the light classes (``q <= 1``) are filled in index order from the
heavy ones (``q > 1``), also in index order. With ``D`` the prefix sums of the lights' deficits
``1 - q`` and ``S`` the inclusive prefix sums of the heavies' surpluses ``q - 1``, the light
class ``i`` takes its alias from the first heavy class ``j`` with ``S_j > D_i``, and the heavy
``j`` keeps ``w_j = S_j + 1 - A_j`` of its own column, where ``A_j`` is the sum of the deficits
of the lights it and the heavies before it fill; the rest of its column goes to the next heavy.
Every threshold of a light class is its own ``q_i``, so a rare class keeps its full relative
precision; the comparison uniform is refined near 0 as the noise's upper tail is
(``_noise.draw_complement``), so a threshold of ``1e-18`` is accepted at its rate.
"""

from __future__ import annotations

import math
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import call_error, publish
from gumbelkit._noise import draw_complement
from gumbelkit._prepared import Prepared
from gumbelkit._row_blocks import by_row_blocks, by_shape_blocks
from gumbelkit._typing import Array, DType, Namespace
from gumbelkit.backends import Backend

__all__ = [
    "ALIAS_FROM_DRAWS_PER_CLASS",
    "ALIAS_WITHOUT_CDF_FROM_DRAWS",
    "METHODS",
    "TABLE_FROM_DRAWS",
    "alias_table",
    "categorical",
    "choose_method",
    "level_cdf",
    "table_dtype",
]

METHODS = ("auto", "gumbel", "cdf", "alias")
"""The values of ``categorical``'s ``method``."""

TABLE_FROM_DRAWS = 4
"""The draws per row from which ``method="auto"`` draws from a table instead of Gumbel-max.

Below it, Gumbel-max's ``K`` uniforms per draw cost less than building a table. Measured with
``python benchmarks/categorical_crossover.py`` (benchmarks/RESULTS.md): at 4 draws per row the
CDF was the faster in 6 of 8 cases on NumPy and PyTorch, at 2 in 4 of 8.
"""

ALIAS_WITHOUT_CDF_FROM_DRAWS = 16
"""Where only the alias tables run (JAX without ``jax_enable_x64``, whose CDF would need float64
uniforms), the draws per row from which ``method="auto"`` takes them over Gumbel-max.

Measured under ``jax.jit`` with ``python benchmarks/categorical_crossover.py --libraries jax``:
the tables won at 16 draws per row in every case, Gumbel-max at 4 in every case (at 8, each in
two of four).
"""

ALIAS_FROM_DRAWS_PER_CLASS = 4
"""The draws per row and class from which ``method="auto"`` takes alias tables over the CDF.

An alias table costs more to build than a CDF (two merges of sorted runs, ``merge_rows``,
against a running sum) and less per draw (two random numbers and a lookup against a binary
search). Measured with ``python benchmarks/categorical_crossover.py --per-class`` on six shapes
(benchmarks/RESULTS.md): at 2 draws per class the CDF was the faster in all 12 cases of NumPy
and PyTorch; at 4 the tables in 5 of 6 on NumPy and 3 of 6 on PyTorch (at worst 11% slower); at
8 in 10 of 12.
"""


def choose_method(draws: int, num_classes: int, *, cdf: bool = True) -> str:
    """Return the method ``"auto"`` takes for ``draws`` per row from rows of ``num_classes``.

    ``cdf=False``: where the CDF cannot run, only Gumbel-max and alias tables.
    """
    if not cdf:
        return "alias" if draws >= ALIAS_WITHOUT_CDF_FROM_DRAWS else "gumbel"
    if draws < TABLE_FROM_DRAWS:
        return "gumbel"
    return "alias" if draws >= ALIAS_FROM_DRAWS_PER_CLASS * num_classes else "cdf"


def _on(device: Any) -> str:
    """Return `` on <device>`` for a message, or nothing where the device is unknown (a trace)."""
    return "" if device is None else f" on {device}"


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    return method


# Fixed-point sums: a row of K classes sums to at most K 2**(60 - ceil(log2 K)) <= 2**60 units,
# and with the offsets of the levels (slot L at L 2**60, at most 2 2**60 for _LEVELS = 3) a
# key stays below 3 2**60 < 2**63.
_FIXED_POINT_BITS = 60


def _bits_for(num_classes: int) -> int:
    """Return ``ceil(log2(num_classes))``: the bits a sum of that many terms needs."""
    return max(0, (num_classes - 1).bit_length())


def _weights(
    logits: Array, dtype: DType, *, backend: Backend, xp: Namespace
) -> tuple[Array, Array]:
    """Return ``exp(logits - max)`` per row in ``dtype`` (1 across an invalid row) and validity.

    A row is valid where its maximum is finite: no NaN, no ``+inf``, a finite logit. A ``-inf``
    logit has weight exactly 0.
    """
    x = _core.as_dtype(logits, dtype, xp)
    top = backend.row_max(x, -1, keepdims=True)
    valid = xp.isfinite(top)
    # A difference that overflows is -inf (weight 0, its limit): through the namespace, whose
    # Dask subtraction computes without NumPy's warning.
    weight = xp.exp(xp.subtract(x, xp.where(valid, top, xp.zeros_like(top))))
    return xp.where(valid, weight, xp.ones_like(weight)), xp.reshape(valid, (-1,))


def table_dtype(backend: Backend, xp: Namespace, device: Any) -> DType:
    """Return the dtype alias tables are built in: float64 where ``device`` has it, else float32."""
    return xp.float64 if backend.float64_available(device) else xp.float32


def alias_table(
    logits: Array, dtype: DType, *, backend: Backend, xp: Namespace, device: Any
) -> tuple[Array, Array, Array]:
    """Return the alias table of each row of the 2-d ``logits`` (classes along the last axis).

    Parameters
    ----------
    logits : array
        Logits of shape ``(rows, K)``.
    dtype : dtype
        The floating dtype to build the table in (float64 where available).
    backend, xp, device
        The backend, namespace and device of ``logits``.

    Returns
    -------
    threshold : array
        ``(rows, K)`` in ``dtype``: column ``c`` gives class ``c`` where the comparison uniform
        lies below ``threshold[c]``, else ``alias[c]``.
    alias : array
        ``(rows, K)`` class indices, in the dtype of ``argmax``.
    valid : array
        ``(rows,)`` booleans: the row has no NaN, no ``+inf`` and a finite logit. The table of an
        invalid row is that of the uniform law.

    """
    num_classes = int(logits.shape[-1])
    weight, valid = _weights(logits, dtype, backend=backend, xp=xp)
    q = weight * (num_classes / xp.sum(weight, axis=-1, keepdims=True))
    # The sweep's sums in integers of 2**-bits column (exact in any order of summation, as a
    # parallel scan sums): a deficit or surplus rounds by at most 2**-bits, and every
    # threshold of a light class is its own q, unrounded.
    bits = _FIXED_POINT_BITS - _bits_for(num_classes)
    scale = 2.0**bits
    gap = 1.0 - q  # a light class's deficit, minus a heavy one's surplus (exactly)
    zero = xp.zeros_like(q)
    deficit = xp.astype(xp.round(xp.maximum(gap, zero) * scale), xp.int64)
    surplus = xp.astype(xp.round(xp.maximum(-gap, zero) * scale), xp.int64)
    d = _core.with_leading_zero(backend.running_sum(deficit), xp)  # d[:, i]: before class i
    s = backend.running_sum(surplus)  # s[:, j]: through class j
    # Where the two sequences meet: the first j with s_j > d_i (s first among equal entries),
    # and how many d_i lie below s_j.
    lights_below, first_heavy_above = backend.merge_rows(s, d[:, :num_classes])
    index_dtype = lights_below.dtype
    # What heavy j keeps of its own column: its surplus through j, less the deficits filled.
    kept = xp.astype(s - _core.take_rows(d, lights_below, xp, device), dtype) / scale + 1.0
    own = xp.clip(kept, 0.0, 1.0)
    # The heavy classes (a surplus that rounds to 0 leaves a full column: a light one), and
    # each one's successor among them: the first class whose count of heavies through it
    # exceeds its own (the last heavy class is its own: its column is full but for rounding).
    heavy = surplus > 0
    rank = backend.running_sum(xp.astype(heavy, index_dtype))  # through the class
    _, next_heavy = backend.merge_rows(rank, rank)  # heavies through k at most rank_j
    position = xp.arange(num_classes, dtype=index_dtype, device=device)
    successor = xp.where(next_heavy < num_classes, next_heavy, position)
    # Rounding can put a light's start past every surplus: its deficit is rounding, and the
    # largest class (heavy wherever one exists) takes it.
    # (The first index of the largest q, written without argmax: lowering JAX's argmax asks
    # for its index dtype again, outside jax.enable_x64, https://github.com/jax-ml/jax/issues/5982.)
    largest = xp.min(xp.where(q == backend.row_max(q, -1, keepdims=True), position,
                              xp.asarray(num_classes, dtype=index_dtype, device=device)),
                     axis=-1, keepdims=True)
    light_alias = xp.where(first_heavy_above < num_classes, first_heavy_above, largest)
    threshold = xp.where(heavy, own, xp.minimum(q, xp.ones_like(q)))
    alias = xp.where(heavy, successor, light_alias)
    return threshold, alias, valid


def _alias_draws(prepared: Prepared) -> Array:
    """Draw ``sample_shape`` indices per row from alias tables.

    The table is built and read inside ``float64_scope``, where its 64-bit sums can be held;
    the random numbers are drawn outside it, in the namespace's own dtypes. Where float64 is
    not available outside it (JAX without ``jax_enable_x64``), the comparison uniform is
    float32, refined near 0: ``P(V < t) = t`` to a relative ``2**-12``, as the float32 noise's
    tail. A large NumPy call draws by blocks of draws on threads (:func:`by_shape_blocks`),
    every block reading the one table.
    """
    backend, xp, device = prepared.backend, prepared.xp, prepared.device
    num_classes = prepared.num_classes
    logits, row_shape = prepared.class_rows()
    rows = int(logits.shape[0])
    draws = math.prod(prepared.sample_shape)
    uniform_dtype = table_dtype(backend, xp, device)
    with backend.float64_scope():
        if not backend.float64_available(device):
            raise ValueError(
                f"method='alias' builds its tables in float64 and sums them exactly in 64-bit "
                f"integers, which {backend.name} arrays{_on(device)} cannot hold; use "
                "method='gumbel'"
            )
        threshold, alias, valid = alias_table(logits, xp.float64, backend=backend, xp=xp,
                                              device=device)
        valid = xp.reshape(valid, (1, rows))

    def draw(source: Any, shape: tuple[int, ...]) -> Array:
        # Drawn outside the scope: JAX lowers its random bits with the setting of the caller's
        # trace, not the scope's (https://github.com/jax-ml/jax/issues/5982).
        column, source = backend.uniform_index(source, shape, num_classes, device)
        uniform, _ = draw_complement(backend, source, shape, uniform_dtype, device)
        with backend.float64_scope():
            # The tables are read row by row: (rows, draws) columns, returned as drawn.
            by_row = xp.permute_dims(column, (1, 0))
            keep = xp.astype(uniform, xp.float64) < xp.permute_dims(
                _core.take_rows(threshold, by_row, xp, device), (1, 0))
            other = xp.permute_dims(_core.take_rows(alias, by_row, xp, device), (1, 0))
            # In the dtype of the column draws: the namespace's index dtype outside the scope.
            index = xp.where(keep, column, xp.astype(other, column.dtype))
            invalid = xp.asarray(num_classes, dtype=index.dtype, device=device)
            return xp.where(valid, index, invalid)

    index = by_shape_blocks(backend, prepared.new_source(), (draws, rows), draw)
    return xp.reshape(index, prepared.sample_shape + row_shape)


# The levels of the CDF: weights (relative to the row's largest) in [2**-30, 1], then
# [2**-60, 2**-30), then below. Each level is summed in integers of its own unit, exactly (in
# any order of summation, as a parallel scan sums), with the level's largest weight
# 2**(60 - ceil(log2 K)) units: its smallest keeps a relative 2**-(30 - log2 K) (2**-13 for
# K = 131072). Weights below 2**-(60 + 60 - log2 K), 70 nats and more below the maximum, round
# to 0 and are never drawn.
_LEVEL_BITS = 30
_LEVELS = 3


def level_cdf(
    logits: Array, dtype: DType, *, backend: Backend, xp: Namespace, device: Any
) -> tuple[Array, Array, Array, Array]:
    """Return each row's weights as exact integer prefix sums laid out by level.

    Parameters
    ----------
    logits : array
        Logits of shape ``(rows, K)``.
    dtype : dtype
        The floating dtype of the totals (float64 where available).
    backend, xp, device
        The backend, namespace and device of ``logits``.

    Returns
    -------
    keys : array
        ``(rows, L K)`` int64, ``L`` at most 3 (occupied levels only, where the data can be
        read), the rarest level first: entry ``l K + i`` is ``l 2**60`` plus the running sum,
        in level ``l``'s units, of the weights ``exp(logit - max)`` of classes ``0 .. i`` that
        lie in that level. A search for ``l 2**60 + m`` (``m`` from 1 to the level's total)
        lands on class ``i`` of level ``l`` for ``m`` in its step: the step's length is the
        class's weight in units.
    totals : array
        ``(rows, L)`` in ``dtype``: each level's total weight.
    units : array
        ``(L,)`` in ``dtype``: each level's unit, a power of two.
    valid : array
        ``(rows,)`` booleans: the row has no NaN, no ``+inf`` and a finite logit.

    """
    num_classes = int(logits.shape[-1])
    # The weights in the logits' compute dtype: float32 resolves each to a relative 2**-24,
    # finer than the units below, and costs half of float64.
    weight, valid = _weights(logits, _core.compute_dtype(logits.dtype, xp), backend=backend,
                             xp=xp)
    levels = _LEVELS
    if backend.is_host_readable(weight) and math.prod(weight.shape) > 0:
        # A level that no weight of the batch lies in adds nothing: leaving it out changes no
        # draw. Eagerly, one reduction says how many levels are occupied.
        smallest = float(xp.min(weight))
        if smallest == 0.0:  # a masked class: the smallest positive weight
            smallest = float(xp.min(xp.where(weight > 0.0, weight, xp.ones_like(weight))))
        levels = 1
        while levels < _LEVELS and smallest < 2.0 ** (-_LEVEL_BITS * levels):
            levels += 1
    bits = _FIXED_POINT_BITS - _bits_for(num_classes)
    segments, totals, units = [], [], []
    for slot, level in enumerate(reversed(range(levels))):
        level_weight = weight
        if levels > 1:
            inside = weight >= 2.0 ** (-_LEVEL_BITS * (level + 1)) if level < levels - 1 else None
            if level > 0:
                below = weight < 2.0 ** (-_LEVEL_BITS * level)
                inside = below if inside is None else xp.logical_and(inside, below)
            level_weight = xp.where(inside, weight, xp.zeros_like(weight))
        scale = 2.0 ** (_LEVEL_BITS * level + bits)
        # Truncated to whole units: below one unit of 2**(30 - log2 K) or more per weight.
        running = backend.running_sum(xp.astype(level_weight * scale, xp.int64))
        segments.append(running + slot * 2**_FIXED_POINT_BITS if slot else running)
        totals.append(xp.astype(running[:, -1:], dtype) / scale)
        units.append(1.0 / scale)
    keys = xp.concat(segments, axis=-1) if len(segments) > 1 else segments[0]
    return (keys, xp.concat(totals, axis=-1),
            xp.asarray(units, dtype=dtype, device=device), valid)


def _cdf_draws(prepared: Prepared) -> Array:
    """Draw ``sample_shape`` indices per row by inverting each row's CDF laid out by level.

    A large NumPy call draws by blocks of draws on threads (:func:`by_shape_blocks`), every
    block searching the one table.
    """
    backend, xp, device = prepared.backend, prepared.xp, prepared.device
    num_classes = prepared.num_classes
    logits, row_shape = prepared.class_rows()
    rows = int(logits.shape[0])
    dtype = table_dtype(backend, xp, device)
    keys, totals, units, valid = level_cdf(logits, dtype, backend=backend, xp=xp, device=device)
    levels = int(totals.shape[-1])
    ends = backend.running_sum(totals)
    before = xp.concat([xp.zeros_like(ends[:, :1]), ends[:, :-1]], axis=-1)
    valid = xp.reshape(valid, (rows, 1))
    # Each level's count of units: the largest float64 at most its exact total (one above
    # 2**53 rounds, maybe up, and a target clipped to it would pass the level's last class),
    # at least one (a level of an invalid row may hold none).
    offsets = xp.asarray([slot * 2**_FIXED_POINT_BITS for slot in range(levels)],
                         dtype=keys.dtype, device=device)
    counts = keys[:, num_classes - 1::num_classes] - offsets
    sizes = totals / units
    sizes = xp.where(xp.astype(sizes, keys.dtype) > counts,
                     xp.nextafter(sizes, xp.zeros_like(sizes)), sizes)
    sizes = xp.maximum(sizes, xp.ones_like(sizes))
    invalid = xp.asarray(num_classes, dtype=keys.dtype, device=device)

    def draw(source: Any, shape: tuple[int, ...]) -> Array:
        # Drawn as (rows, draws), each row's draws a run (the table is searched row by row),
        # and returned as (draws, rows).
        draws = shape[0]
        # t = V total, with V on (0, 1] refined near 0, where the rarest level lies: the level
        # is the first whose running total reaches t, the unit within it
        # ceil((t - before) / unit).
        uniform, _ = draw_complement(backend, source, (rows, draws), dtype, device)
        t = uniform * ends[:, -1:]
        if levels == 1:
            # One level (every weight within 2**-30 of its row's largest, as most rows): no
            # level to find, no offset in the keys.
            within = xp.clip(xp.ceil(t / units[0]), xp.ones_like(sizes), sizes)
            index = backend.search_rows(keys, xp.astype(within, xp.int64))
        else:
            level = xp.zeros((rows, draws), dtype=keys.dtype, device=device)
            for slot in range(levels - 1):
                level = level + xp.astype(t > ends[:, slot:slot + 1], keys.dtype)
            level_index = xp.astype(level, xp.int64)
            start = _core.take_rows(before, level_index, xp, device)
            unit = xp.reshape(xp.take(units, xp.reshape(level_index, (-1,)), axis=0),
                              (rows, draws))
            within = xp.ceil((t - start) / unit)
            size = _core.take_rows(sizes, level_index, xp, device)
            within = xp.clip(within, xp.ones_like(within), size)
            target = xp.astype(within, xp.int64) + level * 2**_FIXED_POINT_BITS
            index = backend.search_rows(keys, target) % num_classes
        index = xp.astype(index, xp.int64, copy=False)
        return xp.permute_dims(xp.where(valid, index, invalid), (1, 0))

    draws = math.prod(prepared.sample_shape)
    index = by_shape_blocks(backend, prepared.new_source(), (draws, rows), draw)
    return xp.reshape(index, prepared.sample_shape + row_shape)


def _categorical_body(
    logits: Array,
    *misplaced: object,
    axis: int = -1,
    sample_shape: int | tuple[int, ...] = (),
    rng: object = None,
    validate: bool = False,
    mask: Array | None = None,
    method: str = "auto",
    **unknown: object,
) -> Array:
    """Draw categorical indices; the body of :func:`categorical`, which documents it."""
    if misplaced or unknown:
        raise call_error(categorical, misplaced, unknown)
    method = _check_method(method)
    prepared = Prepared(logits, axis, rng, None, sample_shape, validate, mask=mask)
    backend, xp, device = prepared.backend, prepared.xp, prepared.device
    if method == "auto":
        draws = math.prod(prepared.sample_shape)
        if backend.float64_available(device):
            method = choose_method(draws, prepared.num_classes)
        else:
            # JAX without x64: alias tables in float64_scope (the CDF draws float64 uniforms);
            # a device without 64-bit arrays even there (Apple's MPS): Gumbel-max.
            with backend.float64_scope():
                scoped = backend.float64_available(device)
            method = choose_method(draws, prepared.num_classes, cdf=False) if scoped else "gumbel"
    if method == "gumbel":
        # As gumbel_max draws (large NumPy calls by row blocks on threads): the same values.
        with backend.errstate():
            return by_row_blocks(prepared, Prepared.gumbel_max_indices, False)
    if math.prod(prepared.out_shape) == 0:  # nothing to build a table for (Dask cannot reshape)
        shape = prepared.sample_shape + tuple(
            n for i, n in enumerate(prepared.logits.shape) if i != prepared.axis)
        return xp.zeros(shape, dtype=prepared.index_dtype(), device=prepared.device)
    if method == "cdf" and not backend.float64_available(device):
        raise ValueError(
            f"method='cdf' sums its tables in 64-bit integers and draws float64 uniforms, "
            f"which {backend.name} arrays{_on(device)} cannot hold now (JAX: set "
            "jax_enable_x64); use method='alias' or 'auto'"
        )
    with backend.errstate():
        return _cdf_draws(prepared) if method == "cdf" else _alias_draws(prepared)


@publish(_categorical_body)
def categorical(
    logits: Array,
    *,
    axis: int = -1,
    sample_shape: int | tuple[int, ...] = (),
    rng: object = None,
    validate: bool = False,
    mask: Array | None = None,
    method: str = "auto",
) -> Array:
    """Draw categorical indices from ``softmax(logits)`` by the fastest exact method.

    The law is that of :func:`gumbel_max`, with the same exact upper tail: a class 40 nats
    below the row maximum is drawn at its true rate. What differs is the method, and so the
    values a seed gives: ``gumbel_max`` is always ``argmax(logits + G)``, whose draws from
    different logits under the same noise are coupled (use it for common random numbers and
    for the straight-through estimators); ``categorical`` picks whatever is fastest.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; a ``-inf`` entry is never drawn.
    axis : int, optional
        The class axis of ``logits``.
    sample_shape : int or tuple of int, optional
        Independent draws per row; the output shape is ``sample_shape`` + the row shape.
    rng : None, int, or a native generator or key, optional
        The random source.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a
        NaN, a ``+inf`` or no finite logit.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).
    method : {"auto", "gumbel", "cdf", "alias"}, optional
        ``"gumbel"``: Gumbel-max, ``K`` uniforms per draw. ``"cdf"``: each row's cumulative
        weights, summed by level of magnitude so that a rare class keeps its relative
        precision, then one uniform and a binary search per draw. ``"alias"``: an alias table
        per row, then one uniform column and one comparison per draw. Tables are summed in
        64-bit integers and float64 (JAX without ``jax_enable_x64``: inside
        ``jax.enable_x64``, also under ``jax.jit``). ``"auto"`` (default) takes Gumbel-max below
        :data:`TABLE_FROM_DRAWS` draws per row, alias tables from
        :data:`ALIAS_FROM_DRAWS_PER_CLASS` draws per row and class, the CDF between (JAX
        without x64: alias tables from :data:`ALIAS_WITHOUT_CDF_FROM_DRAWS` draws per row,
        Gumbel-max below; a device without float64 even there, such as PyTorch's ``mps``:
        Gumbel-max); the choice depends on the shapes and the device, never on the data, so it
        is the same under ``jax.jit``.

    Returns
    -------
    array
        Integer indices on the device of ``logits``. A row with a NaN, a ``+inf`` or no finite
        logit gives the number of classes, an index that is never a valid class.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> gk.categorical(np.log(np.array([0.2, 0.8])), sample_shape=1000, rng=0).shape
    (1000,)

    """
    raise NotImplementedError  # never runs: publish makes _categorical_body this function
