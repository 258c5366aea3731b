"""Test helpers: the shared ones come from gumbelkit.testing; the Philox reference is test-only.

``make`` and ``native_dtype`` skip the calling test where the array module lacks the dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gumbelkit.testing import (
    asarray,
    assert_close,
    assert_same_namespace_device,
    get_dtype,
    has_dtype,
    to_numpy,
)
from gumbelkit.testing import reference_gumbel as np_gumbel
from gumbelkit.testing import reference_softmax as np_softmax

__all__ = [
    "assert_close",
    "assert_same_namespace_device",
    "exact_tail_noise",
    "make",
    "native_dtype",
    "np_gumbel",
    "np_softmax",
    "philox4x32_10",
    "philox_gumbel",
    "to_numpy",
]


def native_dtype(xp: Any, name: str) -> Any:
    """Return the dtype ``name`` of the array module ``xp``, or skip where it has none."""
    if not has_dtype(xp, name):
        pytest.skip(f"{xp.__name__} has no {name} dtype")
    return get_dtype(xp, name)


def make(xp: Any, data: Any, dtype: str = "float64") -> Any:
    """Build an array of module ``xp`` from NumPy data, in the dtype named ``dtype``."""
    native_dtype(xp, dtype)
    return asarray(xp, data, dtype)


# Philox-4x32-10 (Salmon et al., SC 2011), written from the paper for the kernels' noise tests.
_PHILOX_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_KEY_STEPS = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter: Any, key: Any) -> np.ndarray:
    """Return the four output words (uint32, last axis) of Philox-4x32-10.

    ``counter`` has four uint32 words on its last axis, ``key`` two; they broadcast.
    """
    counter = np.asarray(counter, dtype=np.uint64)
    key = np.asarray(key, dtype=np.uint64)
    c0, c1, c2, c3 = (counter[..., i] for i in range(4))
    k0, k1 = key[..., 0], key[..., 1]
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        product0 = _PHILOX_MULTIPLIERS[0] * c0  # exact: both factors are below 2**32
        product1 = _PHILOX_MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (
            (product1 >> np.uint64(32)) ^ c1 ^ k0,
            product1 & mask,
            (product0 >> np.uint64(32)) ^ c3 ^ k1,
            product0 & mask,
        )
        k0 = (k0 + np.uint64(_PHILOX_KEY_STEPS[0])) & mask
        k1 = (k1 + np.uint64(_PHILOX_KEY_STEPS[1])) & mask
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def philox_gumbel(seed: int, index: Any) -> np.ndarray:
    """Return, in float64, the fused kernels' noise for the flat output ``index`` under ``seed``.

    Counter ``(lo(index), hi(index), 0, 0)``, key ``(lo(seed), hi(seed))`` (Triton's
    ``tl.randint``); the top 23 bits ``k`` of the first word give ``u = (k + 1/2) 2**-23``.
    """
    index = np.asarray(index, dtype=np.uint64)
    low, high = index & np.uint64(0xFFFFFFFF), index >> np.uint64(32)
    zeros = np.zeros_like(index)
    counter = np.stack([low, high, zeros, zeros], axis=-1)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint64)
    bits = philox4x32_10(counter, key)[..., 0]
    u = ((bits >> np.uint32(9)).astype(np.float64) + 0.5) * 2.0**-23
    return -np.log(-np.log(u))


def exact_tail_noise(generator: np.random.Generator, shape: tuple[int, ...],
                     dtype: Any) -> np.ndarray:
    """The noise construction of docs/mathematics.md#the-upper-tail-and-rare-classes.

    Written from the documentation, independently of gumbelkit: uniforms from ``generator``
    (the smallest normal standing for 0); outside the sliver ``u >= 1 - 2**-s``, ``-log(-log
    u)`` in ``dtype``; inside it, ``V = 2**-s W`` with ``W`` the complement of a fresh uniform,
    refined the same way while it falls in its own sliver (``depth`` levels), and the noise
    ``-log(-log1p(-V))`` in float64, rounded to ``dtype``. The draws come in the documented
    order: the grid uniforms, then one row of ``depth`` uniforms per value in the sliver.
    """
    dtype = np.dtype(dtype)
    bits, depth = (12, 8) if dtype == np.float32 else (40, 3)
    tiny = np.finfo(dtype).smallest_normal

    def uniforms(size: Any) -> np.ndarray:
        return np.maximum(generator.random(size, dtype=dtype), tiny)

    def refined(count: int) -> np.ndarray:
        # One row of `depth` uniforms per redrawn value; level by level, the first complement
        # above 2**-bits (or the last) holds it, scaled by 2**-bits per level passed.
        w = 1.0 - uniforms((count, depth)).astype(np.float64)  # exact
        value = np.empty(count)
        for row in range(count):
            scale = 1.0
            for level in range(depth):
                if w[row, level] > 2.0**-bits or level == depth - 1:
                    value[row] = scale * w[row, level]
                    break
                scale *= 2.0**-bits
        return value

    u = uniforms(shape)
    noise = -np.log(-np.log(u))
    sliver = u >= 1.0 - 2.0**-bits
    if sliver.any():
        v = 2.0**-bits * refined(int(sliver.sum()))
        noise[sliver] = (-np.log(-np.log1p(-v))).astype(dtype)
    return noise

