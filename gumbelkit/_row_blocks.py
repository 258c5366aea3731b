"""Large calls by row blocks on a thread pool, each block with its own random stream.

NumPy's ufuncs and its ``Generator`` release the GIL, so the rows of a large NumPy call can be
sampled on every core. A call whose output holds at least :data:`MIN_BLOCKED_VALUES` values is
split along one of its row dimensions (any dimension of the output but the class axis) into
fixed blocks: at least :data:`MIN_BLOCKS`, each of at most about :data:`BLOCK_VALUES` values.
Block ``b`` draws its noise from the ``b``-th of the streams the backend spawns from the caller's
generator (``Backend.block_streams``: ``numpy.random.Generator.spawn``) and runs the sampler's
own single-block code on its rows; the blocks run on :func:`get_num_threads` threads (the
calling thread and a pool of the others, taking blocks in turn) and write their rows into one
output. The layout is a function of the output's shape only, and block ``b`` always takes
stream ``b``: the values depend on the seed and the shapes, never on the number of threads.
One thread runs the same blocks one after the other.

Noise alone (:func:`gumbelkit.gumbel`) takes its last dimension for the class axis, so that
noise of a shape is blocked, and drawn, as the samples of logits of that shape are.

A smaller call, a backend that does not block (every backend but NumPy), and a shape with no
row dimension to split (one long row) run as one block: the sampler's code as it is, with the
caller's generator, at the cost of one size test.

Precomputed noise (``noise=``) needs no stream: its call is blocked too, each block taking its
rows of the noise, so its values are the unblocked call's. A random source beside the noise
(Gumbel-Rao's ``rng``) is spawned as usual.

Entry points: a sampler of logits calls :func:`by_row_blocks` with its checked
:class:`~gumbelkit._prepared.Prepared` and its single-block function, as ``gumbel_max`` does
with ``by_row_blocks(prepared, Prepared.gumbel_max_indices, keepdims)``; a new sampler (such as
``gumbelkit.categorical``) wraps its own single-block code the same way, passing its per-row
arrays as further arguments. A sampler of a bare shape (:func:`gumbelkit.gumbel`) calls
:func:`by_shape_blocks`. The thread count is
:func:`set_num_threads` / :func:`get_num_threads`, or the environment variable
``GUMBELKIT_NUM_THREADS``, by default the CPUs this process may run on.
"""

from __future__ import annotations

import contextvars
import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any

from gumbelkit._prepared import Prepared, slice_aligned
from gumbelkit._typing import Array
from gumbelkit.backends import Backend

__all__ = [
    "BLOCK_VALUES",
    "ENVIRONMENT_VARIABLE",
    "MAX_BLOCKS",
    "MIN_BLOCKED_VALUES",
    "MIN_BLOCKS",
    "block_layout",
    "by_row_blocks",
    "by_shape_blocks",
    "get_num_threads",
    "set_num_threads",
]

BLOCK_VALUES = 2**20
"""The most output values a block holds where :data:`MIN_BLOCKS` allows (a block has at least
one row of the split dimension). Large enough that the per-block work that holds the GIL (a
spawned generator, the sampler's Python code, the small arrays of the noise's tail) stays a
small share: on two cores, float32 soft samples and argmaxes of (8192, 1024) in blocks of 2**18
values ran about 1.5 times as fast on two threads as on one, in blocks of 2**20 values about
1.8 times. Changing it changes the values of blocked calls."""

MIN_BLOCKS = 8
"""The fewest blocks a blocked call is split into, where its split dimension has as many rows,
so that up to eight threads share even a call just above :data:`MIN_BLOCKED_VALUES`. Changing
it changes the values of blocked calls."""

MAX_BLOCKS = 2**16
"""The most blocks a call is split into: beyond ``MAX_BLOCKS * BLOCK_VALUES`` values (2**36,
256 GiB of float32) the blocks grow instead. Every block spawns a generator before any runs
(about 17 µs and 1.2 KB each): a call of 2**40 values in blocks of 2**20 spent two minutes and
10 GB on them before its first block could fail to allocate the output. Changing it changes the
values of blocked calls of more than 2**36 values."""

MIN_BLOCKED_VALUES = 2**20
"""The output size from which a call is blocked. Below it, the call runs as one block with the
caller's generator, its values those of an unblocked call."""

ENVIRONMENT_VARIABLE = "GUMBELKIT_NUM_THREADS"
"""The environment variable that sets the thread count where :func:`set_num_threads` has not."""

_lock = threading.Lock()
_num_threads: int | None = None  # set_num_threads's value; None: the environment's or the CPUs'
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)  # (process id, threads) of _pool


def _check_count(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise naming ``name``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int or None; got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int or None; got {value}")
    return int(value)  # a NumPy int too


def _available_cpus() -> int:
    """Return the number of CPUs this process may run on (its affinity where known)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """Return the number of threads that large NumPy calls run their row blocks on.

    The value of :func:`set_num_threads` where it was called; else the environment variable
    ``GUMBELKIT_NUM_THREADS``; else the number of CPUs this process may run on
    (``os.sched_getaffinity`` where the platform has it, else ``os.cpu_count()``).

    Returns
    -------
    int
        The thread count, at least 1.

    Raises
    ------
    ValueError
        Where ``GUMBELKIT_NUM_THREADS`` is set to anything but a positive integer.

    Examples
    --------
    >>> import gumbelkit as gk
    >>> gk.get_num_threads() >= 1
    True

    """
    if _num_threads is not None:
        return _num_threads
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return _available_cpus()
    # ASCII digits only: str.isdigit also takes superscripts, which int() refuses.
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be a positive integer; got {text!r}")
    return int(text)


def set_num_threads(threads: int | None) -> None:
    """Set the number of threads that large NumPy calls run their row blocks on.

    A NumPy call whose output holds at least 2**20 values runs fixed row blocks, each drawing
    from its own stream spawned from the caller's generator, on this many threads (the calling
    thread and a pool of the others).
    The blocks and their streams depend on the shapes only, so the values are the same for
    every thread count: the setting changes the speed, never a sample. Other backends run their
    own parallelism and ignore it.

    Parameters
    ----------
    threads : int or None
        A positive number of threads; 1 runs the blocks one after the other in the calling
        thread. None returns to the default: the environment variable
        ``GUMBELKIT_NUM_THREADS`` where it is set, else the CPUs this process may run on.

    Raises
    ------
    TypeError
        For a ``threads`` that is not an int or None.
    ValueError
        For a ``threads`` below 1.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> logits = np.zeros((2048, 512), dtype=np.float32)
    >>> gk.set_num_threads(1)
    >>> one = gk.gumbel_max(logits, rng=0)
    >>> gk.set_num_threads(2)
    >>> bool((gk.gumbel_max(logits, rng=0) == one).all())
    True
    >>> gk.set_num_threads(None)

    """
    global _num_threads
    _num_threads = None if threads is None else _check_count(threads, "threads")


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    """Return the shared pool of ``threads`` workers, made anew for a new count or process.

    A pool inherited through ``fork`` has no threads in the child: the process id in its key
    makes the child build its own. A replaced pool is dropped, not shut down, so a call that
    still holds it can submit its blocks; its idle workers exit once it is collected.
    """
    global _pool, _pool_key
    key = (os.getpid(), threads)
    with _lock:
        if _pool is None or _pool_key != key:
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gumbelkit")
            _pool_key = key
        return _pool


def block_layout(shape: Sequence[int], class_axis: int | None) -> tuple[int, int, int] | None:
    """Return how a call of output ``shape`` is blocked: ``(axis, rows, count)``, or None.

    The blocks split ``axis``, the largest dimension of ``shape`` but ``class_axis`` (the
    first of equal ones), into ``count`` runs of ``rows`` (the last one shorter where they do
    not divide it); block ``b`` holds rows ``b * rows`` to ``min((b + 1) * rows, size)``. There
    are ``max(MIN_BLOCKS, ceil(values / BLOCK_VALUES))`` of them, at most :data:`MAX_BLOCKS`,
    or one per row where the dimension is shorter, as even as whole rows allow. None where the
    call runs as one block:
    fewer than :data:`MIN_BLOCKED_VALUES` values, no dimension to split, or one block in all.
    A function of ``shape`` and ``class_axis`` only.

    Parameters
    ----------
    shape : sequence of int
        The shape of the call's output, sample dimensions included, the class axis kept.
    class_axis : int or None
        The non-negative class axis of ``shape``, which is never split; None for none.

    Returns
    -------
    tuple of int, or None
        The split axis, the rows per block and the number of blocks.

    """
    total = math.prod(shape)
    if total < MIN_BLOCKED_VALUES:
        return None
    axes = [a for a in range(len(shape)) if a != class_axis]
    if not axes:
        return None
    axis = max(axes, key=lambda a: shape[a])
    size = shape[axis]
    wanted = min(size, MAX_BLOCKS, max(MIN_BLOCKS, -(-total // BLOCK_VALUES)))
    rows = -(-size // wanted)
    count = -(-size // rows)
    if count < 2:
        return None
    return axis, rows, count


def _run(tasks: list[Callable[[], None]]) -> None:
    """Run ``tasks`` on the calling thread and ``threads - 1`` workers of the pool.

    The calling thread takes tasks as the workers do, instead of waiting for them: a caller
    that sleeps while its workers start lets the scheduler wake them on the caller's own CPU,
    where they take turns (on two CPUs the same call then ran 1.0 to 1.1 times as fast as on
    one, against 1.7 to 1.9 with the caller working). Each task runs in a copy of the
    caller's context, so NumPy's ``errstate`` (a context variable) holds in the workers as in
    the caller. After an error no task starts; those running finish, and the first error is
    raised: a call too large for memory fails at its first block instead of running every
    block, each holding its error's traceback and arrays.
    """
    threads = get_num_threads()
    helpers = min(threads, len(tasks)) - 1
    if helpers < 1:
        for task in tasks:
            task()
        return
    pending = iter([(contextvars.copy_context(), task) for task in tasks])
    take = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with take:
                next_task = None if errors else next(pending, None)
            if next_task is None:
                return
            context, task = next_task
            try:
                context.run(task)
            except BaseException as error:  # raised in the caller, once the others stop
                with take:
                    errors.append(error)

    # One pool per thread count, whatever the number of blocks of a call.
    pool = _thread_pool(threads - 1)
    running: list[Future[None]] = [pool.submit(work) for _ in range(helpers)]
    work()
    # Every task is taken: a helper that has not started (the pool busy with other calls) has
    # nothing left to do, so the call never waits for a free worker. (A cancelled future
    # counts as done for wait() only once a worker dequeues it: wait for the started ones.)
    wait([helper for helper in running if not helper.cancel()])
    if errors:
        raise errors[0]


def _assemble(
    shape: Sequence[int],
    class_axis: int | None,
    layout: tuple[int, int, int],
    block: Callable[[int, int, int], Array],
    backend: Backend,
) -> Array:
    """Run ``block(b, start, stop)`` for every block and return the blocks in one array.

    Each block's result has the dimensions of ``shape``, the class axis kept, resized (the
    ``k`` of a top-k) or removed (an argmax), and the split axis restricted to its rows. The
    first block to finish allocates the output, with its dtype; every block copies its rows in
    from its own thread.
    """
    axis, rows, count = layout
    size = shape[axis]
    lock = threading.Lock()
    out: list[Array] = []

    def task(b: int) -> None:
        start, stop = b * rows, min((b + 1) * rows, size)
        result = block(b, start, stop)
        # Where the class axis is gone and came before the split axis, the split axis moved.
        at = axis
        if result.ndim == len(shape) - 1 and class_axis is not None and class_axis < axis:
            at -= 1
        with lock:
            if not out:
                full = list(result.shape)
                full[at] = size
                out.append(backend.namespace(result).empty(
                    tuple(full), dtype=result.dtype, device=backend.device(result)
                ))
        out[0][(slice(None),) * at + (slice(start, stop),)] = result

    _run([partial(task, b) for b in range(count)])
    return out[0]


def by_row_blocks(
    prepared: Prepared, compute: Callable[..., Array], *arguments: Any
) -> Array:
    """Return ``compute(prepared, *arguments)``, by row blocks on threads where it is large.

    The entry point of every sampler of logits. ``compute`` is the sampler's single-block code:
    it takes a :class:`~gumbelkit._prepared.Prepared` and the ``arguments``, draws its noise
    from ``prepared`` (``perturbed_logits`` or ``new_source``), and returns an array with the
    dimensions of ``prepared.out_shape``, the class axis kept, resized or removed. Where
    :func:`block_layout` splits the output and the backend spawns streams
    (``Backend.block_streams``), block ``b`` calls ``compute(prepared.block(...), ...)`` on its
    rows with the ``b``-th stream, each argument that is an array restricted to its rows where
    it has the split dimension (arguments broadcast against the output, aligned on the right:
    a per-row temperature with the class axis kept), and the others passed as they are.
    Elsewhere ``compute(prepared, *arguments)`` runs once, as without blocks.

    Parameters
    ----------
    prepared : Prepared
        The checked arguments of the call.
    compute : callable
        ``compute(prepared, *arguments) -> array``, the sampler on one block.
    *arguments
        Further arguments of ``compute``; arrays among them broadcast against the output.

    Returns
    -------
    array
        The sample of the whole call.

    """
    shape = prepared.out_shape
    if math.prod(shape) < MIN_BLOCKED_VALUES or "block_streams" not in prepared.backend.supplied:
        return compute(prepared, *arguments)
    class_axis = len(shape) + prepared.out_axis
    layout = block_layout(shape, class_axis)
    if layout is None:
        return compute(prepared, *arguments)
    axis, _, count = layout
    # Precomputed noise alone draws nothing: no stream to spawn, and no fresh entropy to read.
    draws = prepared.noise is None or prepared.rng is not None
    streams = prepared.backend.block_streams(prepared.new_source() if draws else None, count)
    if streams is None:
        return compute(prepared, *arguments)
    ndim = len(shape)

    def block(b: int, start: int, stop: int) -> Array:
        rows = [slice_aligned(a, ndim, axis, start, stop) for a in arguments]
        return compute(prepared.block(axis, start, stop, streams[b]), *rows)

    return _assemble(shape, class_axis, layout, block, prepared.backend)


def by_shape_blocks(
    backend: Backend,
    source: Any,
    shape: tuple[int, ...],
    compute: Callable[[Any, tuple[int, ...]], Array],
) -> Array:
    """Return ``compute(source, shape)``, by blocks on threads where ``shape`` is large.

    The entry point of a sampler without logits (noise alone). ``compute(source, shape)`` draws
    an array of ``shape`` from the native ``source``. The last dimension plays the class axis:
    it is never split, so noise of a shape is blocked as the samples of logits of that shape
    (class axis last) are, and its blocks are the noise they draw; a 1-d draw is one block.
    Where :func:`block_layout` splits ``shape`` and ``backend`` spawns streams, block ``b``
    calls ``compute`` with the ``b``-th stream and its own shape.

    Parameters
    ----------
    backend : Backend
        The backend that draws.
    source : object
        The native random source made from the caller's ``rng``.
    shape : tuple of int
        The shape of the result.
    compute : callable
        ``compute(source, shape) -> array``, the sampler on one block.

    Returns
    -------
    array
        The array of ``shape``.

    """
    if math.prod(shape) < MIN_BLOCKED_VALUES or "block_streams" not in backend.supplied:
        return compute(source, shape)
    layout = block_layout(shape, len(shape) - 1)
    if layout is None:
        return compute(source, shape)
    axis, _, count = layout
    streams = backend.block_streams(source, count)
    if streams is None:
        return compute(source, shape)

    def block(b: int, start: int, stop: int) -> Array:
        dims = list(shape)
        dims[axis] = stop - start
        return compute(streams[b], tuple(dims))

    return _assemble(shape, len(shape) - 1, layout, block, backend)
