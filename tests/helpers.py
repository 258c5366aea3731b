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
