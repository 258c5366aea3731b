"""The CuPy adapter: ``cupy.random.Generator`` uniforms on the array's GPU, no autodiff."""

from __future__ import annotations

from typing import Any

import array_api_compat
import array_api_compat.cupy as xp_cupy
import cupy

from gumbelkit.backends._common import check_seed, is_seed, open_unit_bounds, rng_type_error

name = "cupy"
supports_autodiff = False


def matches(x: object) -> bool:
    """Return whether ``x`` is a CuPy array."""
    return array_api_compat.is_cupy_array(x)


def namespace(x: Any) -> Any:
    """Return array-api-compat's CuPy namespace."""
    return xp_cupy


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a ``cupy.random.Generator``."""
    return isinstance(rng, cupy.random.Generator)


def make_rng(rng: object, device: Any) -> cupy.random.Generator | None:
    """Return a ``cupy.random.Generator``, or None for CuPy's global generator."""
    if rng is None or isinstance(rng, cupy.random.Generator):
        return rng
    if is_seed(rng):
        with _on(device):
            return cupy.random.default_rng(check_seed(rng))
    raise rng_type_error(name, "None, an int seed, or a cupy.random.Generator", rng)


def _on(device: Any) -> Any:
    return cupy.cuda.Device(device.id if device is not None else None)


def uniform(
    rng: cupy.random.Generator | None, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Any, cupy.random.Generator | None]:
    """Draw uniforms in ``[tiny, 1)`` on ``device``.

    cuRAND's native convention is ``(0, 1]``; the clip maps both ends into the open interval
    whatever CuPy's kernel does.
    """
    with _on(device):
        if rng is None:
            u = cupy.random.random_sample(shape, dtype=dtype)
        else:
            u = rng.random(shape, dtype=dtype)
        tiny, u_max = open_unit_bounds(cupy.finfo(dtype))
        return cupy.clip(u, tiny, u_max, out=u), rng


def stop_gradient(x: Any) -> Any:
    """Return ``x``: CuPy has no autodiff."""
    return x


def is_host_readable(x: Any) -> bool:
    """Return False: reading a CuPy array synchronises with the GPU."""
    return False
