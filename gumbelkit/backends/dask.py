"""The Dask adapter: lazy ``dask.array.random.Generator`` uniforms, chunked like the output.

Each block of noise comes from its own stream: ``dask.array.random.Generator`` spawns one
``numpy.random.SeedSequence`` child per block, in C order of the block index, when the graph is
built. The values therefore depend on the seed, the shape and the chunks, never on the scheduler
or on which worker computes a block. Nothing here computes: every result is a lazy Dask array.

The adapter interface passes no chunks to ``uniform``, so :func:`device` returns the logits'
device string with the logits' chunks attached (:class:`ChunkedDevice`), and :func:`uniform`
chunks the noise like the output: the sample dimensions first, then the logits' chunks. The
noise then lines up block for block with the logits, and adding them rechunks nothing.
"""

from __future__ import annotations

import functools
import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import array_api_compat
import array_api_compat.dask.array as xp_dask
import dask.array as da
import numpy as np
from dask.array.core import PerformanceWarning, elemwise, normalize_chunks
from dask.base import tokenize

from gumbelkit.backends._common import (
    check_seed,
    is_numpy_real_floating,
    is_seed,
    rng_type_error,
)

name = "dask"
supports_autodiff = False

_ACCEPTED_RNG = (
    "None, an int seed, a dask.array.random.Generator, or a numpy.random.Generator, "
    "BitGenerator or SeedSequence"
)

SAMPLE_BLOCK_BYTES = 128 * 2**20
"""The sample dimensions are split so that a block of noise holds at most this many bytes (or one
sample per block where a logits block is larger). A fixed size, not Dask's configurable
``array.chunk-size``, so a seed gives the same values whatever the configuration."""

ROW_BLOCK_BYTES = 128 * 2**20
"""The largest block a sort or a gather along the class axis makes by merging the class
chunks of a block of rows; a larger one is split along the rows."""

Chunks = tuple[tuple[int, ...], ...]


class ChunkedDevice(str):
    """The device of a Dask array, ``"cpu"``, carrying the chunks of that array.

    It is the plain device string for everything else (equal, same hash, same text), so the
    namespace's ``asarray(..., device=...)`` and ``arange(..., device=...)`` accept it where
    gumbelkit passes the logits' device on; only :func:`uniform` reads :attr:`chunks`.

    Parameters
    ----------
    device : str
        The device string, ``"cpu"`` for NumPy-backed Dask arrays.
    chunks : tuple of tuple of int
        The chunks of the array.

    Examples
    --------
    >>> import dask.array as da
    >>> placed = device(da.zeros((4, 6), chunks=(2, 3)))
    >>> placed == "cpu", placed.chunks
    (True, ((2, 2), (3, 3)))

    """

    chunks: Chunks

    def __new__(cls, device: str, chunks: Chunks) -> ChunkedDevice:
        """Return ``device`` with ``chunks`` attached."""
        placed = super().__new__(cls, device)
        placed.chunks = chunks
        return placed

    def __getnewargs__(self) -> tuple[str, Chunks]:  # type: ignore[override]
        """Return the arguments that rebuild this device when unpickled or copied."""
        return str(self), self.chunks


is_real_floating = is_numpy_real_floating


def matches(x: object) -> bool:
    """Return whether ``x`` is a Dask array."""
    return array_api_compat.is_dask_array(x)


def _without_empty_chunks(x: Any) -> Any:
    """Return ``x`` rechunked without its chunks of size 0 where an axis has other chunks.

    Dask's reductions fail at compute time on an empty block of a non-empty array (its
    per-block step meets a block of another shape). Such chunks come from filtering, as
    ``x[mask]`` makes them; they hold no value, and dropping them changes no value.
    """
    chunks = tuple(tuple(c for c in axis if c != 0) or axis[:1] for axis in x.chunks)
    if chunks == tuple(x.chunks) or any(math.isnan(c) for axis in chunks for c in axis):
        return x  # nothing to drop, or sizes unknown until computed (Dask's own path)
    return x.rechunk(chunks)


def _block_safe(reduce: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``reduce`` (an ``argmax`` or a cumulative sum) made to accept an empty block."""

    def reduced(x: Any, /, **options: Any) -> Any:
        return reduce(_without_empty_chunks(x), **options)

    reduced.__name__ = reduced.__qualname__ = reduce.__name__
    return reduced


def _empty_safe(reduce: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``reduce`` (Dask's ``max`` or ``min``) made to accept an empty array or block.

    Dask's own reduction fails at compute time on an empty array even where the reduced axes
    are not empty (its per-block step turns an empty block into one of another shape). Where the
    result is empty too, no value is read: the first entry along each reduced axis, a slice
    of the right shape, dtype and chunks, is the result. A reduction over an empty axis, which
    has no value, is left to ``reduce``. A non-empty array with an empty block is reduced
    without it (:func:`_without_empty_chunks`).
    """

    def reduced(x: Any, /, *, axis: int | tuple[int, ...] | None = None,
                keepdims: bool = False) -> Any:
        shape = tuple(x.shape)
        named = range(len(shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
        axes = {a % len(shape) for a in named}
        kept = [d for i, d in enumerate(shape) if i not in axes]
        # An unknown size (NaN) is not 0: such arrays take Dask's path.
        if 0 not in kept or any(shape[a] == 0 for a in axes):
            return reduce(_without_empty_chunks(x), axis=axis, keepdims=keepdims)
        first = slice(0, 1) if keepdims else 0
        return x[tuple(first if i in axes else slice(None) for i in range(len(shape)))]

    return reduced


def _reshape(x: Any, /, shape: tuple[int, ...], **options: Any) -> Any:
    """Return array-api-compat's ``reshape`` of ``x``, also where ``x`` has no value.

    Dask reshapes only by merging or splitting whole chunks, and fails on an empty array whose
    chunks do not line up (``((0,), (3, 4))`` to ``(-1,)``), as it does on a block of size 0
    beside others; an empty array holds nothing to move, so it is first made one chunk, and
    an empty block is dropped (:func:`_without_empty_chunks`).
    """
    sizes = tuple(x.shape)
    if not any(math.isnan(size) for size in sizes) and math.prod(sizes) == 0:
        x = x.rechunk(tuple(-1 for _ in sizes))
    else:
        x = _without_empty_chunks(x)
    return _COMPAT.reshape(x, shape, **options)


def _quietly(ufunc: np.ufunc, x1: Any, x2: Any) -> Any:
    """Return ``ufunc(x1, x2)`` of two blocks with NumPy's warnings off.

    It runs when the graph computes, on a worker, outside any ``numpy.errstate`` that the
    code building the graph could open: the block silences its own warnings.
    """
    with np.errstate(all="ignore"):
        return ufunc(x1, x2)


def _quiet(ufunc: np.ufunc) -> Callable[[Any, Any], Any]:
    """Return the namespace function ``ufunc(x1, x2)``, each block computed by :func:`_quietly`.

    The graph is that of the operator (one elementwise layer, the same chunks and dtype); only
    its blocks are silent. gumbelkit subtracts, multiplies, divides and steps to a neighbour
    through the namespace where the result may overflow on purpose: a logit more than the
    dtype's largest value below its row's maximum, a tiny temperature, the float below the
    dtype's lowest value.
    """
    blocks = functools.partial(_quietly, ufunc)

    def quietly(x1: Any, x2: Any, /) -> Any:
        return elemwise(blocks, x1, x2)

    quietly.__name__ = quietly.__qualname__ = ufunc.__name__
    return quietly


# array-api-compat's Dask namespace, whose names its type stubs do not list.
_COMPAT: Any = xp_dask


def _clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
    """Return ``clip(x, min, max)``; bounds that are Python numbers by Dask's own ``clip``.

    array-api-compat's builds a full-shape array of each number bound, split into blocks that
    Dask computes early and keeps: ``conditional_gumbel`` of 256 MiB of logits peaked at
    1.2 GiB. Dask's ``clip`` is one elementwise layer, the array's chunks and dtype.
    """
    if all(b is None or (isinstance(b, (int, float)) and not isinstance(b, bool))
           for b in (min, max)):
        return da.clip(x, min, max)
    return _COMPAT.clip(x, min=min, max=max)


def _one_chunk_along(x: Any, axis: int) -> Any:
    """Return ``x`` in one chunk along ``axis``, its chunks along the other axes kept.

    What a sort and a gather per row need. Kept, the other chunks line up with those of the
    arrays the result meets again (the logits); array-api-compat makes them Dask's
    ``"auto"``, which merges them up to its ``array.chunk-size``: the top-p filter of 256 MiB
    of logits in (512, 2048) chunks peaked at 1.5 GiB. Only where a block would then exceed
    :data:`ROW_BLOCK_BYTES` (or one row, if that is larger) are the other axes split.
    """
    axis = axis % x.ndim
    if x.numblocks[axis] < 2 or any(math.isnan(c) for chunks in x.chunks for c in chunks):
        return x
    row = x.shape[axis] * x.dtype.itemsize
    block = row * math.prod(max(chunks, default=0) for i, chunks in enumerate(x.chunks)
                            if i != axis)
    if block <= ROW_BLOCK_BYTES:
        return x.rechunk({axis: -1})
    return x.rechunk({i: -1 if i == axis else "auto" for i in range(x.ndim)},
                     block_size_limit=max(ROW_BLOCK_BYTES, row))


def _along_one_chunk(sort: Callable[..., Any]) -> Callable[..., Any]:
    """Return array-api-compat's ``sort`` or ``argsort``, the other axes' chunks kept."""

    def sorted_along(x: Any, /, *, axis: int = -1, **options: Any) -> Any:
        return sort(_one_chunk_along(x, axis), axis=axis, **options)

    sorted_along.__name__ = sorted_along.__qualname__ = sort.__name__
    return sorted_along


def _take_block(x: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    return np.take_along_axis(x, indices, axis=axis)


def _take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    """Return ``take_along_axis(x, indices, axis)``, block by block along the other axes.

    array-api-compat's Dask namespace has none, and a flat ``take`` with each row's offset
    makes every block of the result depend on every block of ``x``: ``categorical``'s
    ``"cdf"`` draws from 256 MiB of logits peaked at 3.3 GiB. Here ``x`` is one chunk along
    ``axis`` (:func:`_one_chunk_along`), and each block of ``indices`` reads the block of
    ``x`` that holds its own rows.
    """
    if x.ndim != indices.ndim:
        raise ValueError(
            f"take_along_axis needs x and indices of the same rank, got {x.ndim} and "
            f"{indices.ndim}"
        )
    axis = axis % x.ndim
    others = [i for i in range(x.ndim) if i != axis]
    shape = np.broadcast_shapes(*(tuple(a.shape[i] for i in others) for a in (x, indices)))

    def broadcast(a: Any) -> Any:
        full = list(shape)
        full.insert(axis, a.shape[axis])
        return da.broadcast_to(a, tuple(full))

    x = _one_chunk_along(broadcast(x), axis)
    indices = broadcast(indices).rechunk({i: x.chunks[i] for i in others})
    letters = "abcdefghijklmnopqrstuvwxy"[:x.ndim]
    along = letters[:axis] + "z" + letters[axis + 1:]
    return da.blockwise(_take_block, letters, x, along, indices, letters, axis=axis,
                        concatenate=True,
                        dtype=x.dtype, meta=np.empty((0,) * x.ndim, dtype=x.dtype))


class _Namespace(types.ModuleType):
    """array-api-compat's Dask namespace, with a ``max`` and ``min`` that take empty arrays.

    Its reductions and scans along an axis (``max``, ``min``, ``argmax``, ``argmin``,
    ``cumulative_sum``, ``cumulative_prod``), which fail at compute time on a block of size 0 in
    Dask itself, drop such blocks first (:func:`_without_empty_chunks`); so does its
    ``reshape``, which also takes an empty array of any chunks (:func:`_reshape`).

    Its ``divide``, ``subtract``, ``multiply`` and ``nextafter`` compute without NumPy's
    floating-point warnings (:func:`_quiet`), and its ``clip`` takes number bounds as Dask
    does (:func:`_clip`). Its ``take_along_axis``, which array-api-compat's lacks, gathers
    block by block (:func:`_take_along_axis`); it, ``sort`` and ``argsort`` make the sorted
    axis one chunk and keep the other axes' chunks (:func:`_one_chunk_along`). Every other
    name is array-api-compat's, looked up on use.
    """

    max = staticmethod(_empty_safe(da.max))
    min = staticmethod(_empty_safe(da.min))
    argmax = staticmethod(_block_safe(_COMPAT.argmax))
    argmin = staticmethod(_block_safe(_COMPAT.argmin))
    cumulative_sum = staticmethod(_block_safe(_COMPAT.cumulative_sum))
    cumulative_prod = staticmethod(_block_safe(_COMPAT.cumulative_prod))
    reshape = staticmethod(_reshape)
    divide = staticmethod(_quiet(np.divide))
    subtract = staticmethod(_quiet(np.subtract))
    multiply = staticmethod(_quiet(np.multiply))
    nextafter = staticmethod(_quiet(np.nextafter))
    clip = staticmethod(_clip)
    take_along_axis = staticmethod(_take_along_axis)
    sort = staticmethod(_along_one_chunk(_COMPAT.sort))
    argsort = staticmethod(_along_one_chunk(_COMPAT.argsort))

    def __getattr__(self, attribute: str) -> Any:
        """Return array-api-compat's ``attribute``."""
        return getattr(xp_dask, attribute)


_NAMESPACE = _Namespace(xp_dask.__name__, xp_dask.__doc__)


def namespace(x: Any) -> Any:
    """Return array-api-compat's Dask namespace, its ``max`` and ``min`` safe on empty arrays."""
    return _NAMESPACE


def device(x: Any) -> Any:
    """Return the device of ``x``; a NumPy-backed array's ``"cpu"`` carries its chunks."""
    placed = array_api_compat.device(x)
    if isinstance(placed, str):
        return ChunkedDevice(placed, tuple(x.chunks))
    return placed


def float64_available(device: Any) -> bool:
    """Return True: Dask's NumPy and CuPy blocks can always be float64 and int64."""
    return True


def placed_with(x: Any, y: Any) -> bool:
    """Return True: Dask computes any two of its arrays together, whatever their chunks."""
    return True


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a ``dask.array.random.Generator``."""
    return isinstance(rng, da.random.Generator)


def make_rng(rng: object, device: Any) -> da.random.Generator:
    """Return a ``dask.array.random.Generator``; ``None`` draws fresh OS entropy.

    The generator spawns one independent stream per block of each draw, so a seed gives the
    same array whatever scheduler computes it. A NumPy ``Generator`` lends its bit generator's
    seed sequence, whose spawn counter advances with each draw (its state does not).
    """
    if isinstance(rng, da.random.Generator):
        return rng
    if isinstance(rng, np.random.Generator):
        return da.random.Generator(rng.bit_generator)
    if rng is None or isinstance(rng, (np.random.BitGenerator, np.random.SeedSequence)):
        return da.random.default_rng(rng)
    if is_seed(rng):
        return da.random.default_rng(check_seed(rng))
    raise rng_type_error(name, _ACCEPTED_RNG, rng)


def _noise_chunks(shape: tuple[int, ...], dtype: Any, device: Any) -> Chunks | str:
    """Return the chunks of a draw of ``shape``: Dask's ``"auto"``, or the output's chunks.

    Where ``device`` carries the chunks of logits whose shape ends ``shape``, the trailing
    dimensions take those chunks and the leading (sample) dimensions are split into blocks of at
    most :data:`SAMPLE_BLOCK_BYTES`. An empty draw has nothing to bound: Dask's ``"auto"``
    chunking divides by the size of a block, 0 there, so its other dimensions are one block
    (``gumbel((0, 2, 257), xp=dask.array)`` raised ``ZeroDivisionError``).
    """
    chunks = getattr(device, "chunks", None)
    lead = len(shape) - len(chunks) if chunks is not None else -1
    if chunks is None or lead < 0 or tuple(sum(c) for c in chunks) != shape[lead:]:
        # A draw of another shape than the output's.
        return tuple((size,) for size in shape) if 0 in shape else "auto"
    if lead == 0:
        return chunks
    if 0 in shape:
        return tuple((size,) for size in shape[:lead]) + chunks
    return tuple(
        normalize_chunks(("auto",) * lead + chunks, shape, limit=SAMPLE_BLOCK_BYTES, dtype=dtype)
    )


def uniform(
    rng: da.random.Generator, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Any, da.random.Generator]:
    """Draw lazy uniforms in ``[tiny, 1)``: NumPy's ``Generator.random`` per block.

    Block ``b`` (the flat C-order index over the blocks of the draw) draws from a ``PCG64``
    seeded with the ``b``-th of ``n_blocks`` children spawned from the generator's seed
    sequence; the chunks are those of :func:`_noise_chunks`.
    """
    u = rng.random(shape, dtype=dtype, chunks=_noise_chunks(shape, dtype, device))
    return da.maximum(u, np.finfo(dtype).smallest_normal), rng


def draw_by_blocks(
    rng: da.random.Generator,
    shape: tuple[int, ...],
    dtype: Any,
    device: Any,
    draw: Callable[..., tuple[np.ndarray, Any]],
) -> tuple[Any, da.random.Generator]:
    """Draw noise of ``shape`` lazily, block by block, with ``draw`` on NumPy blocks.

    The blocks and their streams are those of :func:`uniform`: block ``b`` draws from a
    generator of the generator's bit-generator type seeded with the ``b``-th of ``n_blocks``
    children spawned from its seed sequence, so its first uniforms are the ones ``uniform``
    draws there, and every further draw of the block (the noise's refinement) continues that
    block's own stream. ``draw(backend, generator, block_shape, dtype, "cpu")`` runs the
    noise's construction with the NumPy backend.
    """
    from gumbelkit.backends import numpy as numpy_adapter
    from gumbelkit.backends._registry import resolve

    numpy_backend = resolve(numpy_adapter)
    chunks = normalize_chunks(_noise_chunks(shape, dtype, device), shape, dtype=dtype)
    bit_generator = rng._bit_generator  # what dask's Generator spawns its blocks' streams from
    seeds = bit_generator._seed_seq.spawn(math.prod(len(c) for c in chunks))
    kind = type(bit_generator)

    def block(block_info: Any = None) -> np.ndarray:
        info = block_info[None]
        flat = int(np.ravel_multi_index(info["chunk-location"], info["num-chunks"]))
        generator = np.random.Generator(kind(seeds[flat]))
        noise, _ = draw(numpy_backend, generator, tuple(info["chunk-shape"]), dtype, "cpu")
        return noise

    token = tokenize(kind.__name__, [(s.entropy, s.spawn_key) for s in seeds], shape, chunks,
                     np.dtype(dtype).str)
    noise = da.map_blocks(block, chunks=chunks, dtype=dtype,
                          meta=np.empty((0,) * len(shape), dtype=dtype), token=token)
    return noise, rng


def stop_gradient(x: Any) -> Any:
    """Return ``x``: Dask has no autodiff."""
    return x


def is_host_readable(x: Any) -> bool:
    """Return False: reading a Dask array computes its graph."""
    return False


def _block_top_k(block: np.ndarray, k: int, block_info: Any = None) -> np.ndarray:
    """Return one class block's ``k`` largest entries and their row indices, stacked.

    The result has shape ``block.shape[:-1] + (2, kk)``, ``kk = min(k, block size)``: the
    values, then the indices counted from the start of the whole row, both in float64 (exact
    for float32 and float64 values, and for indices below 2**53), in decreasing order of value,
    ties to the lower index (a stable sort of the negated values).
    """
    start = block_info[0]["array-location"][-1][0] if block_info else 0
    order = np.argsort(-block, axis=-1, kind="stable")[..., :k]
    values = np.take_along_axis(block, order, axis=-1).astype(np.float64)
    return np.stack([values, (order + start).astype(np.float64)], axis=-2)


def _merge_top_k(candidates: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` largest among each row's candidates, decreasing.

    The candidates come block after block, each block's in decreasing order with ties in index
    order, so among equal values they appear in increasing index: a stable sort keeps the lower
    index first.
    """
    values, indices = candidates[..., 0, :], candidates[..., 1, :]
    order = np.argsort(-values, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(indices, order, axis=-1).astype(np.int64)


def top_k(x: Any, k: int, axis: int) -> Any:
    """Return the indices of the ``k`` largest ``x`` along ``axis``, in decreasing order.

    Ties go to the lower index, as with a stable descending sort. Each block of the class axis
    keeps its own ``k`` largest entries; one task per block of rows then merges those
    candidates. No task holds more than one block of ``x``, where array-api-compat's
    ``argsort`` first merges the class axis into one chunk. The indices are int64 (the default
    index dtype) with the rows' chunks and the ``k`` positions in one chunk.
    """
    last = axis % x.ndim == x.ndim - 1
    if not last:
        x = da.moveaxis(x, axis, -1)
    lead = tuple(range(x.ndim - 1))
    pair_index, candidate_index, out_index = x.ndim, x.ndim + 1, x.ndim + 2
    candidate_chunks = tuple(min(k, size) for size in x.chunks[-1])
    candidates = da.map_blocks(
        _block_top_k, x, k, dtype=np.float64, new_axis=x.ndim - 1,
        chunks=(*x.chunks[:-1], (2,), candidate_chunks),
    )
    # A contraction over the candidate axis with concatenate=True hands each merge task all of
    # its rows' candidates at once, without a rechunk layer.
    merged = da.blockwise(
        _merge_top_k, (*lead, out_index),
        candidates, (*lead, pair_index, candidate_index),
        k=k, concatenate=True, new_axes={out_index: k}, dtype=np.int64,
    )
    return merged if last else da.moveaxis(merged, -1, axis)


def one_hot_argmax_(z: Any, axis: int) -> Any:
    """Return the hard sample of ``z``: the generic path's values, with ``z``'s chunks.

    The one-hot of ``argmax(z, axis)`` (ties to the first index) in ``z``'s dtype, a row whose
    maximum is not finite all NaN. The class indices it is compared with are chunked like the
    class axis of ``z``, so the sample keeps every chunk of the logits (the generic path's
    ``arange`` would bring Dask's own chunks); an empty chunk that the ``argmax`` dropped is put
    back. Nothing is computed.
    """
    axis %= z.ndim
    index = _NAMESPACE.argmax(z, axis=axis, keepdims=True)
    classes = da.arange(z.shape[axis], chunks=(z.chunks[axis],), dtype=index.dtype)
    classes = classes[(None,) * axis + (slice(None),) + (None,) * (z.ndim - axis - 1)]
    with warnings.catch_warnings():
        # Broadcasting one block per row against one per class makes z's blocks, which Dask
        # calls an increase in the number of chunks once both counts pass about ten.
        warnings.simplefilter("ignore", PerformanceWarning)
        one_hot = (index == classes).astype(z.dtype)
        valid = da.isfinite(_NAMESPACE.max(z, axis=axis, keepdims=True))
        sample = da.where(valid, one_hot, np.asarray(np.nan, dtype=z.dtype))
    return sample if sample.chunks == z.chunks else sample.rechunk(z.chunks)
