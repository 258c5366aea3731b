"""The array-api-strict adapter: NumPy's generator, moved onto array-api-strict's devices.

array-api-strict implements the standard and nothing more, so it shows that the core relies on
no library-specific behaviour.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import array_api_strict as xp_strict
import numpy as np

from gumbelkit.backends._common import is_array_api_strict_array
from gumbelkit.backends.numpy import to_numpy_generator

name = "array_api_strict"
supports_autodiff = False


def matches(x: object) -> bool:
    """Return whether ``x`` is an array-api-strict array."""
    return is_array_api_strict_array(x)


def namespace(x: Any) -> Any:
    """Return the ``array_api_strict`` module."""
    return xp_strict


def owns_rng(rng: object) -> bool:
    """Return False: array-api-strict has no random source of its own (NumPy's serve it)."""
    return False


def make_rng(rng: object, device: Any) -> np.random.Generator:
    """Return a ``numpy.random.Generator``; ``None`` draws fresh OS entropy."""
    return to_numpy_generator(rng, name)


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Any, np.random.Generator]:
    """Draw uniforms in ``[tiny, 1)`` with NumPy and wrap them on ``device``."""
    np_dtype = np.float64 if dtype == xp_strict.float64 else np.float32
    u = np.asarray(rng.random(shape, dtype=np_dtype))
    np.maximum(u, np.finfo(np_dtype).smallest_normal, out=u)
    return xp_strict.asarray(u, device=device), rng


def stop_gradient(x: Any) -> Any:
    """Return ``x``: array-api-strict has no autodiff."""
    return x


def is_host_readable(x: Any) -> bool:
    """Return True: array-api-strict arrays are NumPy arrays underneath."""
    return True


def errstate() -> AbstractContextManager[Any]:
    """Silence NumPy's floating-point warnings around gumbelkit's deliberate infinities.

    A tiny ``tau`` sends shifted logits to ``-inf`` (overflow in divide), and an invalid row
    becomes NaN (``inf - inf``); both are the documented results, not accidents.
    """
    return np.errstate(all="ignore")
