"""The JAX adapter: ``jax.random`` keys, ``jax.lax.stop_gradient``."""

from __future__ import annotations

from typing import Any

import array_api_compat
import jax
import jax.numpy as jnp

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


def uniform(rng: Any, shape: tuple[int, ...], dtype: Any, device: Any) -> tuple[Any, Any]:
    """Draw uniforms in ``[tiny, 1)`` and return the advanced key.

    ``jax.random.uniform`` maps 23 (52) random mantissa bits to ``[0, 1 - 2**-23]``; with
    ``minval=tiny`` its affine map and final ``max`` lift 0 to ``tiny`` and change no other
    value.
    """
    next_key, draw_key = jax.random.split(rng)
    tiny = jnp.finfo(dtype).smallest_normal
    u = jax.random.uniform(draw_key, shape, dtype=dtype, minval=tiny, maxval=1.0)
    if device is not None and not isinstance(u, jax.core.Tracer):
        u = jax.device_put(u, device)
    return u, next_key


def stop_gradient(x: Any) -> Any:
    """Return ``jax.lax.stop_gradient(x)``."""
    return jax.lax.stop_gradient(x)


def is_host_readable(x: Any) -> bool:
    """Return whether ``x`` is a concrete array on a CPU device (not a tracer)."""
    if isinstance(x, jax.core.Tracer):
        return False
    return all(device.platform == "cpu" for device in x.devices())
