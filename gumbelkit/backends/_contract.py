"""The adapter contract in code: the required protocol, the optional members, and ``Backend``.

An adapter supplies what the array API standard lacks (random numbers, a stop-gradient) and may
supply faster paths for a few operations. When an adapter is first used, the registry turns it
into one :class:`Backend`: every optional member it lacks is filled by one generic default,
written against the array API, so the samplers call members and never test for them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, Protocol, runtime_checkable

from gumbelkit import _core
from gumbelkit._typing import Array, Device, DType, Namespace

__all__ = ["OPTIONAL_MEMBERS", "REQUIRED_MEMBERS", "Adapter", "Backend"]


@runtime_checkable
class Adapter(Protocol):
    """The contract every backend adapter fulfils.

    These members are required. The optional ones are listed in :data:`OPTIONAL_MEMBERS`
    and described, with the generic default that replaces a missing one, on
    :class:`Backend`; an adapter may set one it lacks to None. docs/backends.md describes
    each member.

    Attributes
    ----------
    name : str
        Short name of the library, e.g. ``"torch"``: selects the adapter by name
        (``get_backend``) and appears in messages.
    supports_autodiff : bool
        Whether the library differentiates through array operations. Where it does not, the
        straight-through combination ``hard + (soft - stop_gradient(soft))`` is skipped: its
        value is ``hard`` and nothing would ever read its gradient.

    Examples
    --------
    The protocol is runtime-checkable; each built-in adapter is a module that fulfils it:

    >>> import numpy as np
    >>> from gumbelkit.backends import Adapter, backend_for
    >>> adapter = backend_for(np.zeros(3))
    >>> isinstance(adapter, Adapter), adapter.name, adapter.supports_autodiff
    (True, 'numpy', False)

    """

    name: str
    supports_autodiff: bool

    def matches(self, x: object) -> bool:
        """Return whether ``x`` is an array of this library (never imports it)."""
        ...

    def namespace(self, x: Array) -> Namespace:
        """Return the array-API namespace of ``x``."""
        ...

    def owns_rng(self, rng: object) -> bool:
        """Return whether ``rng`` is a native random source of this library."""
        ...

    def make_rng(self, rng: object, device: Device) -> Any:
        """Turn ``None``, an int seed or a native generator into the native random source.

        Raise ``TypeError`` naming ``rng`` for anything else, and ``ValueError`` for a
        generator that lives on another device than ``device``.
        """
        ...

    def uniform(
        self, rng: Any, shape: tuple[int, ...], dtype: DType, device: Device
    ) -> tuple[Array, Any]:
        """Draw uniforms in the open interval ``(0, 1)``.

        Every value is at least ``finfo(dtype).smallest_normal`` and below 1, and every value
        but that floor is a multiple of ``2**-m`` with ``m`` at least 23 (float32) or 52
        (float64): the noise's exact upper tail relies on the grid. ``dtype`` is float32 or
        float64. Returns the uniforms and the random source to use for the next
        draw (the same object for stateful generators, a new key for functional ones).
        """
        ...

    def stop_gradient(self, x: Array) -> Array:
        """Return ``x`` with a zero derivative (identity where there is no autodiff)."""
        ...

    def is_host_readable(self, x: Array) -> bool:
        """Return whether reading the values of ``x`` costs no device sync and no trace break.

        Parameter arrays (a per-row ``tau``) are checked eagerly only where this is true or
        where the caller asked for ``validate=True``.
        """
        ...


REQUIRED_MEMBERS = (
    "matches",
    "namespace",
    "owns_rng",
    "make_rng",
    "uniform",
    "stop_gradient",
    "is_host_readable",
    "name",
    "supports_autodiff",
)
"""The members every adapter has (the :class:`Adapter` protocol)."""

OPTIONAL_MEMBERS = (
    "device",
    "placed_with",
    "errstate",
    "gumbel_",
    "gumbel_and_sliver",
    "scatter_masked_",
    "positions_at_least",
    "put_",
    "add_",
    "draw_by_blocks",
    "tempered_softmax_",
    "one_hot_argmax",
    "one_hot_argmax_",
    "tracks_gradient",
    "is_real_floating",
    "row_max",
    "argmax",
    "fused_gumbel_softmax",
    "top_k",
    "float64_available",
    "float64_scope",
    "eager_scope",
    "uniform_index",
    "search_rows",
    "merge_rows",
    "map_seeds",
    "running_sum",
    "block_streams",
    "unsupported",
)
"""The members an adapter may supply; :class:`Backend` documents each and its default."""


class Backend:
    """An adapter resolved once: every member of the contract, the optional ones filled.

    The registry builds one per adapter, the first time the adapter is used, and the samplers
    call its members. A member the adapter supplies (not None) is used as it is; a missing one
    gets the generic default written against the array API, which computes the values the
    adapter's fast path must match exactly (the tests compare them).

    Parameters
    ----------
    adapter : Adapter
        The adapter to resolve: a built-in adapter module or a registered third-party object.

    Attributes
    ----------
    adapter : Adapter
        The adapter this backend was resolved from.
    supplied : frozenset of str
        The optional members the adapter supplied itself. An algorithm whose best form depends
        on whether a member is native (a k-hot from a native top-k, or from ranks) asks this.
    name, supports_autodiff, matches, namespace, owns_rng, make_rng, uniform, stop_gradient,
    is_host_readable
        The required members of :class:`Adapter`, as the adapter has them.
    device : callable
        ``device(x)``: the device of ``x``. Default: ``array_api_compat.device``.
    placed_with : callable
        ``placed_with(x, y) -> bool``: whether the library combines its arrays ``x`` and ``y``
        where they lie; an argument beside the logits (``tau``, ``noise``, ``mask``, ...) that
        is not gets an error naming it, not the library's own. PyTorch: the same device, or
        ``x`` a 0-d CPU tensor (which PyTorch combines with any device); JAX: unless both are
        committed to different devices; Dask and CuPy (which enables peer access between
        GPUs): always. Default: ``device(x) == device(y)``.
    errstate : callable
        ``errstate()``: a context manager, entered around each call's computation, in which
        gumbelkit's deliberate operations raise no warning or error that a user's setting
        would turn on: NumPy's floating-point warnings around its deliberate infinities and
        underflows (a tiny ``tau``, an invalid row, float16 noise near 0); JAX's implicit rank
        promotion (``jax_numpy_rank_promotion``). Default: a context that does nothing.
    gumbel_ : callable
        ``gumbel_(u)``: ``-log(-log(u))`` of uniforms ``u`` that gumbelkit owns, which it may
        compute in ``u``'s buffer. Default: the core's transform.
    gumbel_and_sliver : callable
        ``gumbel_and_sliver(rng, shape, dtype, device, threshold) -> (noise, positions,
        next_rng)``: ``gumbel_(u)`` of the uniforms ``u`` that ``uniform`` draws from ``rng``,
        with ``positions_at_least(u, threshold)``, the same values computed together (NumPy:
        piece by piece, each inside a core's cache); or None where the adapter does not, or
        not for this call: then ``uniform``, ``positions_at_least`` and ``gumbel_`` run one
        after another. Default: always None.
    scatter_masked_ : callable
        ``scatter_masked_(x, mask, values)``: ``x`` with the 1-d ``values`` written in C order
        where ``mask`` is true, possibly in ``x``'s buffer. Where ``values`` is shorter than the
        mask's count (a static capacity), the true entries beyond it keep ``x``'s value.
        Default: the core's static-shape merge, ``_core.replace_where``.
    positions_at_least : callable
        ``positions_at_least(u, threshold)``: the flat C-order positions (an int64 array) of
        the entries of ``u`` at or above the float ``threshold``, where they can be read for free
        (host memory, outside a trace); None elsewhere. The noise finds its top sliver with it.
        Default: ``nonzero(u >= threshold)`` where ``is_host_readable(u)`` and the
        namespace's ``capabilities()`` allow data-dependent shapes, else None.
    put_ : callable
        ``put_(x, positions, values)``: ``x`` with ``values[j]`` at the flat C-order position
        ``positions[j]`` (increasing, from :attr:`positions_at_least`), possibly in ``x``'s
        buffer. Default: the core's ``_core.put_at``, by a binary search of every position.
    add_ : callable
        ``add_(x, y)``: ``x + y`` where ``x`` is gumbelkit's own buffer of the result's shape,
        which it may overwrite. Default: ``x + y``.
    draw_by_blocks : callable
        ``draw_by_blocks(rng, shape, dtype, device, draw) -> (noise, next_rng)``: the noise of
        ``shape``, drawn by ``draw(backend, block_rng, block_shape, dtype, block_device)`` once
        per block with an independent stream each, where the library computes by blocks (Dask:
        NumPy blocks). Default: one call ``draw(self, rng, shape, dtype, device)``.
    tempered_softmax_ : callable
        ``tempered_softmax_(z, tau, axis)``: the core's ``softmax((z - max z) / tau)``, which
        may overwrite ``z`` (called on gumbelkit's own buffers only). Default: the core's.
    one_hot_argmax : callable
        ``one_hot_argmax(z, axis)``: the one-hot of ``argmax(z, axis)`` in ``z``'s dtype, ties
        to the first index, ``z`` left alone. Default: the core's one-hot of ``argmax``.
    one_hot_argmax_ : callable
        ``one_hot_argmax_(z, axis)``: the hard sample where no gradient is taken, which may
        overwrite ``z``: ``one_hot_argmax`` with a row whose maximum is not finite all NaN.
        Default: exactly that, without reusing ``z``.
    tracks_gradient : callable
        ``tracks_gradient(*arrays) -> bool``: whether a gradient of a result computed from
        ``arrays`` may be taken now. Default: ``supports_autodiff``.
    is_real_floating : callable
        ``is_real_floating(dtype) -> bool``. Default: ``xp.isdtype(dtype, "real floating")``.
    row_max, argmax : callable
        ``row_max(x, axis, keepdims=False)`` and ``argmax(x, axis, keepdims=False)``: the
        namespace's ``max`` and ``argmax`` (NaN propagates; ties and NaN to the first index);
        ``row_max`` also takes ``axis=None``, the maximum of all entries. Default: those of the
        namespace.
    fused_gumbel_softmax : callable
        ``fused_gumbel_softmax(logits, tau, axis, sample_shape, rng)``: a whole soft sample from
        a kernel that draws its own noise, or None where the kernel does not apply. Default:
        always None (the composed path runs).
    top_k : callable
        ``top_k(x, k, axis)``: the indices of the ``k`` largest ``x`` along the negative
        ``axis``, decreasing, ties to the lower index. Default: a stable descending argsort.
    block_streams : callable
        ``block_streams(source, count)``: ``count`` independent native random sources spawned
        from the native ``source``, one for each row block of a large call, where the library
        computes such blocks on a thread pool (NumPy, whose ufuncs and generators release the
        GIL: ``Generator.spawn``); or None where the call should run as one block. ``source``
        None stands for a call that draws nothing (precomputed noise): a list of ``count``
        Nones blocks it. The streams must depend on ``source`` and ``count`` only, never on the
        thread count (``gumbelkit._row_blocks`` runs the blocks). Default: always None, no
        blocking.
    unsupported : callable
        ``unsupported(x) -> str | None``: why gumbelkit cannot compute on ``x``, an array of the
        library, with what to pass instead; or None. The samplers and distributions check
        every array argument with it before computing, and raise ``TypeError`` naming the
        argument. PyTorch: a sparse or nested tensor. Default: always None.
    float64_available : callable
        ``float64_available(device)``: whether arrays of the namespace on ``device`` can be
        float64 and int64 now (JAX only with ``jax_enable_x64``; not array-api-strict's devices
        ``no_float64`` and ``no_x64``, nor PyTorch's ``mps``). Where it is false on the logits'
        device even inside ``float64_scope``, ``categorical`` builds no table; where it is
        false on the default device (``None``), indices are int32. Default: whether the
        namespace's inspection API lists both dtypes for ``device`` (true where it has no such
        API).
    float64_scope : callable
        ``float64_scope()``: a context manager inside which the namespace can create float64
        and int64 arrays where ``float64_available`` is false only by a setting (JAX:
        ``jax.enable_x64``, which also holds while a function is traced). Computations that
        need 64 bits inside and return narrower results run in it: ``categorical``'s tables.
        Default: a context that does nothing.
    eager_scope : callable
        ``eager_scope()``: a context manager inside which operations on arrays that
        ``is_host_readable`` computes at once, also while a function is traced (JAX:
        ``jax.ensure_compile_time_eval``). A parameter array that can be read for free is
        checked and held in range there (a constant that ``jax.jit`` captured), so the trace
        embeds the held values: XLA on the CPU flushes a subnormal constant to 0 before any
        operation sees it. Default: a context that does nothing.
    uniform_index : callable
        ``uniform_index(rng, shape, n, device) -> (index, next_rng)``: integers uniform on
        ``0 .. n - 1``, in the namespace's default index dtype. Default: ``floor(n u)`` of
        float64 uniforms, whose law differs from the uniform one by at most a relative
        ``n 2**-53`` per value.
    search_rows : callable
        ``search_rows(table, values)``: for 2-d ``table`` (each row non-decreasing) and
        ``values`` with as many rows, how many entries of its row of ``table`` lie below each
        value (``searchsorted(..., side="left")`` per row), in the index dtype of ``argsort``.
        Default: a stable sort of each row's values, then ``merge_rows`` of them and the row.
    merge_rows : callable
        ``merge_rows(first, second) -> (before_first, before_second)``: for 2-d ``first`` and
        ``second`` with as many rows, each row non-decreasing, the places of a stable merge of
        each row's two runs in which ``first`` comes first among equal entries:
        ``before_first[r, i]`` counts the entries of ``second[r]`` below ``first[r, i]``
        (``searchsorted(second[r], first[r], side="left")``) and ``before_second[r, j]`` the
        entries of ``first[r]`` at most ``second[r, j]`` (``searchsorted(first[r], second[r],
        side="right")``), in the index dtype of ``argsort``. ``categorical``'s alias tables are
        built on it. Default: one stable sort of the two runs side by side, which a
        run-adaptive sort (NumPy's timsort) merges in linear time.
    running_sum : callable
        ``running_sum(x)``: the inclusive cumulative sum of ``x`` along its last axis.
        Default: the namespace's ``cumulative_sum``.
    map_seeds : callable
        ``map_seeds(draw, seeds, device)``: ``draw(source)`` for the native source each seed
        makes (as an int ``rng`` makes it), stacked along a new first axis; ``seeds`` is a list
        of ints or an integer array of the library. Default: a loop over the seeds.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.backends import Backend, get_backend
    >>> backend = Backend(get_backend("array_api_strict"))
    >>> backend.name, backend.fused_gumbel_softmax(None, 1.0, -1, (), None) is None
    ('array_api_strict', True)

    """

    name: str
    supports_autodiff: bool
    matches: Callable[[object], bool]
    namespace: Callable[[Array], Namespace]
    owns_rng: Callable[[object], bool]
    make_rng: Callable[[object, Device], Any]
    uniform: Callable[[Any, tuple[int, ...], DType, Device], tuple[Array, Any]]
    stop_gradient: Callable[[Array], Array]
    is_host_readable: Callable[[Array], bool]
    device: Callable[[Array], Device]
    placed_with: Callable[[Array, Array], bool]
    errstate: Callable[[], AbstractContextManager[Any]]
    gumbel_: Callable[[Array], Array]
    gumbel_and_sliver: Callable[..., tuple[Array, Array, Any] | None]
    scatter_masked_: Callable[[Array, Array, Array], Array]
    positions_at_least: Callable[[Array, float], Array | None]
    put_: Callable[[Array, Array, Array], Array]
    add_: Callable[[Array, Array], Array]
    draw_by_blocks: Callable[..., tuple[Array, Any]]
    tempered_softmax_: Callable[[Array, Any, int], Array]
    one_hot_argmax: Callable[[Array, int], Array]
    one_hot_argmax_: Callable[[Array, int], Array]
    tracks_gradient: Callable[..., bool]
    is_real_floating: Callable[[DType], bool]
    row_max: Callable[..., Array]
    argmax: Callable[..., Array]
    fused_gumbel_softmax: Callable[..., Array | None]
    top_k: Callable[[Array, int, int], Array]
    block_streams: Callable[[Any, int], list[Any] | None]
    unsupported: Callable[[Array], str | None]
    float64_available: Callable[[Device], bool]
    float64_scope: Callable[[], AbstractContextManager[Any]]
    eager_scope: Callable[[], AbstractContextManager[Any]]
    uniform_index: Callable[[Any, tuple[int, ...], int, Device], tuple[Array, Any]]
    search_rows: Callable[[Array, Array], Array]
    merge_rows: Callable[[Array, Array], tuple[Array, Array]]
    map_seeds: Callable[[Callable[[Any], Array], Any, Device], Array]
    running_sum: Callable[[Array], Array]

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        for member in REQUIRED_MEMBERS:
            setattr(self, member, getattr(adapter, member))
        if not getattr(adapter, "__name__", "").startswith("gumbelkit.backends."):
            self.uniform = _shape_checked(adapter.uniform, self.name)
        supplied = []
        for member in OPTIONAL_MEMBERS:
            own = getattr(adapter, member, None)
            if own is not None:
                supplied.append(member)
            elif member in _CONSTANT_DEFAULTS:
                own = _CONSTANT_DEFAULTS[member](self.supports_autodiff)
            else:
                # A partial of a module-level function, not a bound method: torch.compile can
                # rebuild it when the first lookup of a process happens inside a trace.
                own = partial(_DEFAULTS[member], self)
            setattr(self, member, own)
        self.supplied = frozenset(supplied)

    def __repr__(self) -> str:
        return f"<gumbelkit backend {self.name!r}>"


def _shape_checked(
    uniform: Callable[..., tuple[Array, Any]], name: str
) -> Callable[..., tuple[Array, Any]]:
    """Return a third-party adapter's ``uniform``, refusing an array of another shape or dtype.

    The noise is added to the logits, so uniforms of a shape that merely broadcasts (one per
    row) would give every class of a row the same noise and a wrong law without an error.
    The built-in adapters are tested for it instead; the conformance suite tests any adapter.
    """

    def checked(rng: Any, shape: tuple[int, ...], dtype: DType, device: Device
                ) -> tuple[Array, Any]:
        u, next_rng = uniform(rng, shape, dtype, device)
        got = (tuple(getattr(u, "shape", ())), getattr(u, "dtype", type(u)))
        if got != (tuple(shape), dtype):
            raise TypeError(
                f"the {name} adapter's uniform returned an array of shape {got[0]} and dtype "
                f"{got[1]} where shape {tuple(shape)} and dtype {dtype} were asked for"
            )
        return u, next_rng

    return checked


# The generic defaults, one per optional member. Each asks the adapter for the namespace of its
# array argument (``namespace`` does not depend on it, see Adapter).


def _default_device(backend: Backend, x: Array) -> Device:
    from array_api_compat import device

    return device(x)


def _default_placed_with(backend: Backend, x: Array, y: Array) -> bool:
    return bool(backend.device(x) == backend.device(y))


# The defaults that need nothing of the backend are plain functions (one call less per use).

_NULL_CONTEXT = nullcontext()  # reusable: it holds no state


def _null_context() -> AbstractContextManager[Any]:
    return _NULL_CONTEXT


def _default_gumbel_(backend: Backend, u: Array) -> Array:
    return _core.gumbel_from_uniform(u, backend.namespace(u))


def _default_scatter_masked_(backend: Backend, x: Array, mask: Array, values: Array) -> Array:
    return _core.replace_where(x, mask, values, backend.namespace(x))


def _default_positions_at_least(backend: Backend, u: Array, threshold: float) -> Array | None:
    if not backend.is_host_readable(u):
        return None
    xp = backend.namespace(u)
    # nonzero's shape depends on the data, which a namespace may refuse (array-api-strict's
    # data_dependent_shapes=False): the static-shape merge is used there.
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None and not info().capabilities().get("data-dependent shapes", True):
        return None
    return xp.nonzero(xp.reshape(u >= threshold, (-1,)))[0]


def _default_put_(backend: Backend, x: Array, positions: Array, values: Array) -> Array:
    return _core.put_at(x, positions, values, backend.namespace(x), backend.device(x))


def _default_add_(x: Array, y: Array) -> Array:
    return x + y


def _default_draw_by_blocks(
    backend: Backend,
    rng: Any,
    shape: tuple[int, ...],
    dtype: DType,
    device: Device,
    draw: Callable[..., tuple[Array, Any]],
) -> tuple[Array, Any]:
    return draw(backend, rng, shape, dtype, device)


def _default_tempered_softmax_(backend: Backend, z: Array, tau: Any, axis: int) -> Array:
    return _core.tempered_softmax(
        z, tau, axis, xp=backend.namespace(z), stop_gradient=backend.stop_gradient,
        differentiable=isinstance(tau, float) or backend.tracks_gradient(tau),
    )


def _default_one_hot_argmax(backend: Backend, z: Array, axis: int) -> Array:
    xp = backend.namespace(z)
    return _core.one_hot(
        xp.argmax(z, axis=axis), int(z.shape[axis]), axis % z.ndim, z.dtype, xp,
        device=backend.device(z),
    )


def _default_one_hot_argmax_(backend: Backend, z: Array, axis: int) -> Array:
    xp = backend.namespace(z)
    valid = xp.isfinite(backend.row_max(z, axis, keepdims=True))
    nan = xp.asarray(float("nan"), dtype=z.dtype, device=backend.device(z))
    return xp.where(valid, backend.one_hot_argmax(z, axis), nan)


def _gradient_tracked(*arrays: Array) -> bool:
    return True


def _gradient_not_tracked(*arrays: Array) -> bool:
    return False


def _default_is_real_floating(backend: Backend, dtype: DType) -> bool:
    return bool(backend.namespace(None).isdtype(dtype, "real floating"))


def _default_row_max(backend: Backend, x: Array, axis: int, keepdims: bool = False) -> Array:
    return backend.namespace(x).max(x, axis=axis, keepdims=keepdims)


def _default_argmax(backend: Backend, x: Array, axis: int, keepdims: bool = False) -> Array:
    return backend.namespace(x).argmax(x, axis=axis, keepdims=keepdims)


def _default_fused_gumbel_softmax(
    logits: Array,
    tau: Any,
    axis: int,
    sample_shape: tuple[int, ...],
    rng: object,
) -> Array | None:
    return None


def _default_unsupported(x: Array) -> str | None:
    return None


def _default_block_streams(source: Any, count: int) -> list[Any] | None:
    return None


def _not_supplied(*arguments: Any) -> None:
    return None


def _default_top_k(backend: Backend, x: Array, k: int, axis: int) -> Array:
    order = backend.namespace(x).argsort(x, axis=axis, descending=True, stable=True)
    return order[(..., slice(0, k)) + (slice(None),) * (-axis - 1)]


def _default_float64_available(backend: Backend, device: Device) -> bool:
    info = getattr(backend.namespace(None), "__array_namespace_info__", None)
    if info is None:
        return True
    dtypes = info().dtypes(device=device)
    return "float64" in dtypes and "int64" in dtypes


def _default_uniform_index(
    backend: Backend, rng: Any, shape: tuple[int, ...], n: int, device: Device
) -> tuple[Array, Any]:
    u, rng = backend.uniform(rng, shape, backend.namespace(None).float64, device)
    xp = backend.namespace(u)
    index = xp.astype(xp.floor(u * float(n)), xp.int64)
    # u below 1 by one grid step can round n u up to n.
    return xp.minimum(index, xp.asarray(n - 1, dtype=xp.int64, device=device)), rng


def _default_search_rows(backend: Backend, table: Array, values: Array) -> Array:
    xp = backend.namespace(table)
    device = backend.device(table)
    value_order = xp.argsort(values, axis=-1, stable=True)
    ordered = _core.take_rows(values, value_order, xp, device)
    below_ordered, _ = backend.merge_rows(ordered, table)
    # Back to the values' own order: the inverse permutation of value_order.
    return _core.take_rows(below_ordered, xp.argsort(value_order, axis=-1, stable=True), xp,
                           device)


def _default_merge_rows(backend: Backend, first: Array, second: Array) -> tuple[Array, Array]:
    xp = backend.namespace(first)
    device = backend.device(first)
    count = int(first.shape[1])
    # Each run is non-decreasing, so a stable sort keeps each run's order: the merge.
    order = xp.argsort(xp.concat([first, second], axis=-1), axis=-1, stable=True)
    from_first = order < count
    index_dtype = order.dtype
    first_so_far = backend.running_sum(xp.astype(from_first, index_dtype))
    # Where each run's entries landed in the merge, in index order: a stable sort of the
    # merge's origins (the inverse permutation without a scatter).
    slots = xp.argsort(xp.astype(xp.logical_not(from_first), xp.int8), axis=-1, stable=True)
    merged = xp.arange(1, int(order.shape[1]) + 1, dtype=index_dtype, device=device)
    before_first = _core.take_rows(merged - first_so_far, slots[:, :count], xp, device)
    before_second = _core.take_rows(first_so_far, slots[:, count:], xp, device)
    return before_first, before_second


def _default_running_sum(backend: Backend, x: Array) -> Array:
    return backend.namespace(x).cumulative_sum(x, axis=-1)


def _default_map_seeds(
    backend: Backend, draw: Callable[[Any], Array], seeds: Any, device: Device
) -> Array:
    values = [int(seed) for seed in (seeds.tolist() if hasattr(seeds, "tolist") else seeds)]
    drawn = [draw(backend.make_rng(seed, device)) for seed in values]
    return backend.namespace(drawn[0]).stack(drawn, axis=0)


# Each taking supports_autodiff, the default of a member that needs nothing else.
_CONSTANT_DEFAULTS: dict[str, Callable[[bool], Callable[..., Any]]] = {
    "errstate": lambda autodiff: _null_context,
    "add_": lambda autodiff: _default_add_,
    "tracks_gradient": lambda autodiff: _gradient_tracked if autodiff else _gradient_not_tracked,
    "fused_gumbel_softmax": lambda autodiff: _default_fused_gumbel_softmax,
    "gumbel_and_sliver": lambda autodiff: _not_supplied,
    "float64_scope": lambda autodiff: _null_context,
    "eager_scope": lambda autodiff: _null_context,
    "block_streams": lambda autodiff: _default_block_streams,
    "unsupported": lambda autodiff: _default_unsupported,
}
_DEFAULTS: dict[str, Callable[..., Any]] = {
    member: globals()[f"_default_{member}"]
    for member in OPTIONAL_MEMBERS
    if member not in _CONSTANT_DEFAULTS
}
