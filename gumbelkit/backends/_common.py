"""Helpers shared by the adapter modules (NumPy and array-api-compat only: no framework here)."""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "check_seed",
    "is_array_api_strict_array",
    "is_numpy_array",
    "is_numpy_real_floating",
    "is_seed",
    "open_unit_bounds",
    "rng_type_error",
]


# Subclasses whose rules differ from an array's: a masked array's mask would go unseen (it is
# passed as mask=), a matrix keeps two dimensions after a reduction.
_REFUSED_NUMPY_SUBCLASSES = (np.ma.MaskedArray, np.matrix)


def is_numpy_array(x: object) -> bool:
    """Return whether ``x`` is a NumPy array, but not a masked array or a matrix.

    The NumPy adapter's ``matches`` and the catalogue's lookup, so that both refuse the two.
    """
    return array_api_compat.is_numpy_array(x) and not isinstance(x, _REFUSED_NUMPY_SUBCLASSES)


def is_numpy_real_floating(dtype: np.dtype[Any]) -> bool:
    """Return whether the NumPy ``dtype`` is real floating: ``xp.isdtype``, 20 times faster.

    The ``is_real_floating`` member of the adapters whose arrays have NumPy dtypes.
    """
    return dtype.kind == "f"


def is_array_api_strict_array(x: object) -> bool:
    """Return whether ``x`` is an array-api-strict array, without importing the library."""
    # array-api-compat has a namespace predicate for array-api-strict but no array predicate,
    # and array-api-strict does not export its array class.
    return type(x).__module__.split(".")[0] == "array_api_strict"


def is_seed(rng: object) -> bool:
    """Return whether ``rng`` is an integer seed (``bool`` is not a seed)."""
    return isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_))


SEED_RANGE = "[0, 2**63)"
"""The int seeds every backend accepts (JAX keys take a signed 64-bit seed)."""


def check_seed(rng: object, argument: str = "rng as an int seed") -> int:
    """Return ``rng`` as an int seed in :data:`SEED_RANGE`, or raise ``ValueError``.

    The message names ``argument``: the sampling functions' ``rng``, the command line's and the
    conformance suite's ``--seed``.
    """
    seed: int = int(rng)  # type: ignore[call-overload]
    if not 0 <= seed < 2**63:
        raise ValueError(f"{argument} must lie in {SEED_RANGE}; got {seed}")
    return seed


def rng_type_error(backend: str, accepted: str, rng: object) -> TypeError:
    """Build the ``TypeError`` for an ``rng`` of the wrong kind."""
    return TypeError(
        f"rng for {backend} arrays must be {accepted}; "
        f"got {type(rng).__module__}.{type(rng).__qualname__}"
    )


def open_unit_bounds(finfo: Any) -> tuple[float, float]:
    """Return ``(tiny, u_max)``: the smallest normal and the largest float below 1.

    Uniforms clipped to this range give finite Gumbel noise: ``-log(-log(tiny))`` and
    ``-log(-log(u_max))`` are both finite. ``tiny`` is the smallest *normal* number because
    accelerators may flush subnormals to zero.
    """
    return float(finfo.smallest_normal), 1.0 - float(finfo.eps) / 2
