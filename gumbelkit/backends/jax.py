"""The JAX adapter: ``jax.random`` keys, ``jax.lax.stop_gradient``.

Logits sharded over several devices keep their sharding: :func:`device` describes them by a
replicated sharding on their mesh (valid for the scalars and class indices gumbelkit builds on
that device) that carries their ``PartitionSpec``, and :func:`uniform` draws the noise directly
with the output's sharding, each device generating its own shard. The values do not depend on
the sharding (JAX's partitionable threefry).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from typing import Any

import array_api_compat
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from gumbelkit.backends._common import check_seed, is_seed, rng_type_error

name = "jax"
supports_autodiff = True

_ACCEPTED_RNG = (
    "a key from jax.random.key(seed) or jax.random.PRNGKey(seed), or an int seed; "
    "JAX has no global generator"
)


def matches(x: object) -> bool:
    """Return whether ``x`` is a JAX array (tracers included)."""
    return array_api_compat.is_jax_array(x)


def namespace(x: Any) -> Any:
    """Return ``jax.numpy``, which implements the array API itself."""
    return jnp


def _is_typed_key(rng: Any) -> bool:
    return bool(jnp.issubdtype(rng.dtype, jax.dtypes.prng_key))


def _is_raw_key(rng: Any) -> bool:
    # jax.random.PRNGKey's default (threefry) key: uint32 of shape (..., 2).
    return bool(rng.dtype == jnp.uint32 and rng.ndim >= 1 and rng.shape[-1] == 2)


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a JAX PRNG key (typed, or a raw threefry uint32 pair)."""
    return array_api_compat.is_jax_array(rng) and (_is_typed_key(rng) or _is_raw_key(rng))


def make_rng(rng: object, device: Any) -> Any:
    """Return a single JAX key; an int seed becomes ``jax.random.key(seed)``.

    Without ``jax_enable_x64``, ``jax.random.key`` keeps only the low 32 bits of a seed, so a
    larger seed has its high bits folded in: seeds that differ still give different streams.
    """
    if rng is None:
        raise TypeError(f"rng for jax arrays must be {_ACCEPTED_RNG}; got None")
    if is_seed(rng):
        seed = check_seed(rng)
        if seed < 2**32 or jax.config.read("jax_enable_x64"):
            return jax.random.key(seed)
        return jax.random.fold_in(jax.random.key(seed % 2**32), seed >> 32)
    if not owns_rng(rng):
        raise rng_type_error(name, _ACCEPTED_RNG, rng)
    key: Any = rng
    if key.shape != (() if _is_typed_key(key) else (2,)):
        raise TypeError(
            f"rng must be a single JAX key; got keys of shape {key.shape}: map over a batch "
            "of keys with jax.vmap"
        )
    return key


class ShardedDevice(NamedSharding):
    """Where a sharded array lives: its mesh, replicated, carrying the array's ``PartitionSpec``.

    As a sharding it is the replicated ``NamedSharding(mesh, P())``, valid for arrays of any
    rank, so the scalars and class indices gumbelkit creates "on the logits' device" are placed
    on the same mesh. :func:`uniform` reads :attr:`array_spec` to shard the noise like the
    output.

    Parameters
    ----------
    sharding : jax.sharding.NamedSharding
        The sharding of an array.
    ndim : int
        The rank of that array.

    Examples
    --------
    >>> import jax
    >>> from jax.sharding import NamedSharding, PartitionSpec as P
    >>> mesh = jax.make_mesh((1,), ("rows",))
    >>> placed = ShardedDevice(NamedSharding(mesh, P("rows")), ndim=2)
    >>> placed.spec, placed.array_spec
    (P(), P('rows', None))

    """

    array_spec: PartitionSpec

    def __init__(self, sharding: NamedSharding, ndim: int) -> None:
        super().__init__(sharding.mesh, PartitionSpec(), memory_kind=sharding.memory_kind)
        spec = tuple(sharding.spec)
        self.array_spec = PartitionSpec(*spec, *([None] * (ndim - len(spec))))

    def __repr__(self) -> str:
        # NamedSharding's own repr shows the replicated spec P(), as if nothing were sharded.
        return f"ShardedDevice(mesh={dict(self.mesh.shape)}, array_spec={self.array_spec})"

    def output_sharding(self, shape: tuple[int, ...]) -> NamedSharding | None:
        """Return the sharding of an output of ``shape`` (leading sample dims replicated).

        None for a draw of another shape: one of lower rank than the array, or one whose
        sharded dimensions the mesh does not divide (the exact tail's ``(count, depth)``
        refinement of an odd count, which JAX could not shard so and which is drawn whole).
        """
        lead = len(shape) - len(self.array_spec)
        if lead < 0:
            return None
        spec = PartitionSpec(*([None] * lead), *self.array_spec)
        for size, entry in zip(shape, spec, strict=True):
            axes = () if entry is None else entry if isinstance(entry, tuple) else (entry,)
            if size % math.prod(self.mesh.shape[axis] for axis in axes):
                return None
        return NamedSharding(self.mesh, spec, memory_kind=self.memory_kind)


def device(x: Any) -> Any:
    """Return the device of ``x``: a ``jax.Device``, a :class:`ShardedDevice`, or None.

    None under a trace (the trace places new arrays) and for a multi-device sharding that is
    not a ``NamedSharding`` (new arrays go to the default device; JAX moves them on use).
    """
    if isinstance(x, jax.core.Tracer):
        return None
    sharding = x.sharding
    devices = sharding.device_set
    if len(devices) == 1:
        return next(iter(devices))
    if isinstance(sharding, NamedSharding):
        return ShardedDevice(sharding, x.ndim)
    return None


def placed_with(x: Any, y: Any) -> bool:
    """Return whether JAX combines ``x`` with ``y``: unless both are committed elsewhere.

    JAX moves an uncommitted array (one it placed itself) to the other's devices, and refuses
    two arrays committed to different sets of devices. Under a trace the trace places them.
    """
    if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
        return True
    if not (x.committed and y.committed):
        return True
    return bool(x.sharding.device_set == y.sharding.device_set)


def _bounded_uniform(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    # minval=tiny: jax.random.uniform's affine map and final max lift 0 to tiny and change no
    # other value.
    tiny = jnp.finfo(dtype).smallest_normal
    return jax.random.uniform(key, shape, dtype=dtype, minval=tiny, maxval=1.0)


def _explicit_axes(sharding: NamedSharding) -> bool:
    """Whether every mesh axis the spec names is Explicit (typed sharding, not propagation)."""
    # Explicit axes came with JAX 0.5; before, every axis is Auto.
    axis_type = getattr(jax.sharding, "AxisType", None)
    kinds = getattr(sharding.mesh, "axis_types", None)
    if axis_type is None or kinds is None:
        return False
    kind_of = dict(zip(sharding.mesh.axis_names, kinds, strict=True))
    named = [
        axis
        for entry in sharding.spec
        if entry is not None
        for axis in (entry if isinstance(entry, tuple) else (entry,))
    ]
    return all(kind_of[axis] == axis_type.Explicit for axis in named)


@functools.lru_cache(maxsize=64)
def _sharded_uniform(sharding: NamedSharding) -> Callable[..., Any]:
    """Return a jitted :func:`_bounded_uniform` whose result has ``sharding``.

    Each device generates only its shard. On Explicit mesh axes ``jax.random.uniform`` itself
    must be told the sharding (else it is typed replicated and every device draws it all); on
    Auto axes the output sharding of ``jit`` propagates into the generator.
    """
    explicit = _explicit_axes(sharding)

    def draw(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        if explicit:
            tiny = jnp.finfo(dtype).smallest_normal
            return jax.random.uniform(
                key, shape, dtype=dtype, minval=tiny, maxval=1.0, out_sharding=sharding
            )
        return _bounded_uniform(key, shape, dtype)

    return jax.jit(draw, static_argnames=("shape", "dtype"), out_shardings=sharding)


def uniform(rng: Any, shape: tuple[int, ...], dtype: Any, device: Any) -> tuple[Any, Any]:
    """Draw uniforms in ``[tiny, 1)`` and return the advanced key.

    ``jax.random.uniform`` maps 23 (52) random mantissa bits to ``[0, 1 - 2**-23]``; with
    ``minval=tiny`` its affine map and final ``max`` lift 0 to ``tiny`` and change no other
    value. On a :class:`ShardedDevice` the noise is drawn sharded like the output (the sample
    dimensions replicated); the values are those of an unsharded draw.
    """
    next_key, draw_key = jax.random.split(rng)
    traced = isinstance(draw_key, jax.core.Tracer)
    if isinstance(device, ShardedDevice) and not traced:
        sharding = device.output_sharding(shape)
        if sharding is not None:
            # The key moves onto the mesh, replicated: a key committed to one device would
            # not mix with a computation on all of them.
            key = jax.device_put(draw_key, device)
            return _sharded_uniform(sharding)(key, shape, dtype), next_key
    u = _bounded_uniform(draw_key, shape, dtype)
    if device is not None and not traced:
        u = jax.device_put(u, device)
    return u, next_key


def float64_available(device: Any) -> bool:
    """Return whether ``jax_enable_x64`` is on: without it, JAX arrays are at most float32."""
    return bool(jax.config.read("jax_enable_x64"))


def float64_scope() -> Any:
    """Return ``jax.enable_x64(True)``: float64 and int64 arrays inside, also while tracing.

    The setting is part of JAX's trace context, so a function traced with x64 off can still
    compute in 64 bits inside the scope, and the compiled function keeps those operations;
    except where a primitive's lowering asks for its 64-bit dtype again, under the caller's
    setting (``argmax``, random bits: https://github.com/jax-ml/jax/issues/5982), which the
    code run in the scope avoids. JAX before 0.8 has it as ``jax.experimental.enable_x64``.
    """
    enable = getattr(jax, "enable_x64", None)
    if enable is None:
        enable = importlib.import_module("jax.experimental").enable_x64
    return enable(True)


def errstate() -> Any:
    """Return ``jax.numpy_rank_promotion("allow")`` for gumbelkit's own computations.

    The array API broadcasts arrays of different ranks, and gumbelkit's code does (logits
    against sample dimensions, a per-row parameter against its rows). A user's
    ``jax_numpy_rank_promotion`` of ``"raise"`` or ``"warn"`` guards the user's code; inside
    gumbelkit's calls it would refuse or warn on valid input. The setting is part of JAX's
    trace context, so it also holds while ``jax.jit`` traces a call.
    """
    return jax.numpy_rank_promotion("allow")


def eager_scope() -> Any:
    """Return ``jax.ensure_compile_time_eval()``: concrete arrays compute at once, also in a trace.

    A constant that ``jax.jit`` captured is concrete; what is computed from it in the scope is
    too, and enters the trace as a constant of its own. XLA on the CPU flushes a subnormal
    constant of a compiled function to 0 before any operation sees it (even a bitcast), so a
    subnormal temperature is held at the smallest normal number here, as it is eagerly.
    """
    return jax.ensure_compile_time_eval()


def uniform_index(rng: Any, shape: tuple[int, ...], n: int, device: Any) -> tuple[Any, Any]:
    """Draw integers uniform on ``0 .. n - 1`` with ``jax.random.randint``; return the next key.

    ``randint`` combines two 32-bit words, so its bias is far below that of one float32
    uniform scaled by ``n``.
    """
    next_key, draw_key = jax.random.split(rng)
    index = jax.random.randint(draw_key, shape, 0, n,
                               dtype=jax.dtypes.canonicalize_dtype(jnp.int64))
    if device is not None and not isinstance(draw_key, jax.core.Tracer):
        index = jax.device_put(index, device)
    return index, next_key


def search_rows(table: Any, values: Any) -> Any:
    """Return ``jnp.searchsorted(table[r], values[r])`` per row, by ``jax.vmap``."""
    found = jax.vmap(jnp.searchsorted)(table, values)
    return found.astype(jax.dtypes.canonicalize_dtype(jnp.int64))


def merge_rows(first: Any, second: Any) -> tuple[Any, Any]:
    """Return the two runs' places in their merge by two ``jnp.searchsorted``, by ``jax.vmap``.

    XLA's CPU sort costs several times two binary searches (an alias table of 64 rows of 4,096
    classes: 27 against 116 ms under ``jax.jit``).
    """
    before_second = jax.vmap(functools.partial(jnp.searchsorted, side="right"))(first, second)
    return search_rows(second, first), before_second.astype(
        jax.dtypes.canonicalize_dtype(jnp.int64))


def map_seeds(draw: Callable[[Any], Any], seeds: Any, device: Any) -> Any:
    """Return ``draw(jax.random.key(seed))`` for each seed, by ``jax.vmap`` (traceable seeds).

    A list of ints with a seed that no int32 array holds, without ``jax_enable_x64``, makes its
    keys one by one as :func:`make_rng` makes an int seed's, and maps over them.
    """
    if (isinstance(seeds, list) and not jax.config.read("jax_enable_x64")
            and any(seed >= 2**31 for seed in seeds)):
        return jax.vmap(draw)(jnp.stack([make_rng(seed, device) for seed in seeds]))
    return jax.vmap(lambda seed: draw(jax.random.key(seed)))(jnp.asarray(seeds).reshape(-1))


def stop_gradient(x: Any) -> Any:
    """Return ``jax.lax.stop_gradient(x)``."""
    return jax.lax.stop_gradient(x)


def top_k(x: Any, k: int, axis: int) -> Any:
    """Return the indices of the ``k`` largest ``x`` along ``axis``, in decreasing order.

    ``jax.lax.top_k`` puts the lower index first among equal values, the rule of a stable
    descending sort, and is about 100 times faster than ``jnp.argsort`` on the CPU (a
    256 x 1000 float32 array, k = 10: 1.3 ms against 170 ms). Indices come in the default
    index dtype, as ``argsort``'s do.
    """
    _, index = jax.lax.top_k(jnp.moveaxis(x, axis, -1), k)
    index = index.astype(jax.dtypes.canonicalize_dtype(jnp.int64))
    return jnp.moveaxis(index, -1, axis)


def scatter_masked_(x: Any, mask: Any, values: Any) -> Any:
    """Return ``x`` with ``values`` in C order where ``mask`` is true.

    A concrete mask that ``values`` covers indexes directly; a traced one (``jax.jit``,
    ``jax.vmap``) takes the core's static-shape merge, true entries beyond the capacity
    keeping ``x``.
    """
    if not isinstance(mask, jax.core.Tracer):
        count = int(jnp.count_nonzero(mask))
        if values.shape[0] >= count:
            return x.at[mask].set(values[:count])
    # The barrier keeps XLA from fusing the computation of the few values into the scatter.
    return _merge_by_blocks(x, mask, jax.lax.optimization_barrier(values))


_MERGE_BLOCK = 64
"""Entries per block of :func:`_merge_by_blocks`: its running count is over ``n / 64`` blocks."""


def _merge_by_blocks(x: Any, mask: Any, values: Any) -> Any:
    """Return the core's static-shape merge (``_core.replace_where``) at a 64th of its cost.

    The core ranks every true entry by a running count over all ``n`` entries of the mask,
    which XLA's CPU backend runs at about the cost of drawing the uniforms. Here the running
    count is over the true entries per block of 64; the ``j``-th true entry's block is found by
    a binary search of ``j`` in it, its place within the block by a running count over that
    block alone, and ``values[j]`` is scattered there: work of order ``n / 64 + c log n + 64 c``
    for ``c`` values instead of a pass over ``n``. A ``j`` beyond the count goes nowhere.
    """
    n = math.prod(x.shape)
    size = values.shape[0]
    if n == 0 or size == 0:
        return x
    n_blocks = -(-n // _MERGE_BLOCK)
    blocks = jnp.pad(jnp.reshape(mask, (-1,)), (0, n_blocks * _MERGE_BLOCK - n))
    blocks = jnp.reshape(blocks, (n_blocks, _MERGE_BLOCK))
    per_block = jnp.sum(blocks, axis=1, dtype=jnp.int32)
    ends = jnp.cumsum(per_block)  # true entries up to and including each block
    rank = jnp.arange(size, dtype=jnp.int32)
    block = jnp.searchsorted(ends, rank, side="right")  # n_blocks where rank >= the count
    held = jnp.minimum(block, n_blocks - 1)
    within = rank - (ends[held] - per_block[held])
    running = jnp.cumsum(jnp.astype(blocks[held], jnp.int32), axis=1)
    column = jnp.sum(running <= within[:, None], axis=1, dtype=jnp.int32)
    position = jnp.where(block < n_blocks, held * _MERGE_BLOCK + column, n)
    merged = jnp.reshape(x, (-1,)).at[position].set(values.astype(x.dtype), mode="drop")
    return jnp.reshape(merged, x.shape)


def put_(x: Any, positions: Any, values: Any) -> Any:
    """Return ``x`` with ``values`` at the flat C-order ``positions``."""
    flat = jnp.reshape(x, (-1,)).at[positions].set(values.astype(x.dtype))
    return jnp.reshape(flat, x.shape)


def is_host_readable(x: Any) -> bool:
    """Return whether ``x`` is a concrete array on a CPU device (not a tracer)."""
    if isinstance(x, jax.core.Tracer):
        return False
    return all(device.platform == "cpu" for device in x.devices())
