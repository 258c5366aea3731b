"""Test helpers: conversions to NumPy and namespace/device assertions (SciPy's xp_assert style)."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """Return the values of an array of any backend as a NumPy array (computes Dask).

    bfloat16 and float16 become float32, which holds them exactly.
    """
    if array_api_compat.is_torch_array(x):
        x = x.detach().cpu()
        return (x.float() if x.is_floating_point() and x.element_size() < 4 else x).numpy()
    if array_api_compat.is_dask_array(x):
        x = x.compute()
    elif array_api_compat.is_cupy_array(x):
        x = x.get()
    values = np.asarray(x)
    if str(values.dtype) in ("bfloat16", "float16"):
        values = values.astype(np.float32)
    return values


def assert_same_namespace_device(out: Any, like: Any) -> None:
    """Assert that ``out`` stayed in the namespace and on the device of ``like``."""
    assert type(array_api_compat.array_namespace(out)) is type(
        array_api_compat.array_namespace(like)
    )
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(like), (
        f"result left the input's namespace: {type(out)} vs {type(like)}"
    )
    assert array_api_compat.device(out) == array_api_compat.device(like)


def assert_close(actual: Any, desired: Any, *, like: Any = None, rtol: float = 1e-7,
                 atol: float = 0.0) -> None:
    """Assert closeness in NumPy and, given ``like``, its namespace, device and dtype."""
    if like is not None:
        assert_same_namespace_device(actual, like)
        assert actual.dtype == like.dtype, f"dtype {actual.dtype} != {like.dtype}"
    np.testing.assert_allclose(to_numpy(actual), np.asarray(desired), rtol=rtol, atol=atol)


def np_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """A float64 softmax reference, independent of gumbelkit."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_gumbel(u: np.ndarray) -> np.ndarray:
    """Gumbel noise from uniforms in float64, independent of gumbelkit."""
    return -np.log(-np.log(np.asarray(u, dtype=np.float64)))


def native_dtype(xp: Any, name: str) -> Any:
    """Return the dtype ``name`` of the array module ``xp``, or skip where it has none."""
    import pytest

    if xp.__name__ == "dask.array":
        xp = np
    if not hasattr(xp, name):
        pytest.skip(f"{xp.__name__} has no {name} dtype")
    return getattr(xp, name)


def make(xp: Any, data: Any, dtype: str = "float64") -> Any:
    """Build an array of module ``xp`` from NumPy data, in the dtype named ``dtype``."""
    values = np.asarray(data)
    if xp.__name__ == "dask.array":
        return xp.from_array(values.astype(native_dtype(np, dtype)), chunks=-1)
    if xp.__name__ == "torch" and dtype in ("bfloat16", "float16"):
        return xp.asarray(values.astype(np.float32)).to(native_dtype(xp, dtype))
    if xp.__name__ == "array_api_strict" and values.dtype == object:
        raise TypeError("array_api_strict arrays need numeric data")
    return xp.asarray(values, dtype=native_dtype(xp, dtype))


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
