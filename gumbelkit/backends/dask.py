"""The Dask adapter: lazy ``dask.array.random.Generator`` uniforms, no autodiff."""

from __future__ import annotations

from typing import Any

import array_api_compat
import array_api_compat.dask.array as xp_dask
import dask.array as da
import numpy as np

from gumbelkit.backends._common import check_seed, is_seed, rng_type_error

name = "dask"
supports_autodiff = False

_ACCEPTED_RNG = (
    "None, an int seed, a dask.array.random.Generator, or a numpy.random.Generator, "
    "BitGenerator or SeedSequence"
)


def matches(x: object) -> bool:
    """Return whether ``x`` is a Dask array."""
    return array_api_compat.is_dask_array(x)


def namespace(x: Any) -> Any:
    """Return array-api-compat's Dask namespace."""
    return xp_dask


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a ``dask.array.random.Generator``."""
    return isinstance(rng, da.random.Generator)


def make_rng(rng: object, device: Any) -> da.random.Generator:
    """Return a ``dask.array.random.Generator``; ``None`` draws fresh OS entropy.

    The generator derives one independent stream per chunk, so a seed gives the same array
    whatever scheduler computes it.
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


def uniform(
    rng: da.random.Generator, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Any, da.random.Generator]:
    """Draw lazy uniforms in ``[tiny, 1)``: NumPy's ``Generator.random`` per chunk."""
    u = rng.random(shape, dtype=dtype)
    return da.maximum(u, np.finfo(dtype).smallest_normal), rng


def stop_gradient(x: Any) -> Any:
    """Return ``x``: Dask has no autodiff."""
    return x


def is_host_readable(x: Any) -> bool:
    """Return False: reading a Dask array computes its graph."""
    return False
