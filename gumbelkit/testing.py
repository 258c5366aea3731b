"""Test helpers for any array library: build arrays, read them back, assert where results live.

The unit tests and the conformance suite (``gumbelkit.conformance``) share these, and a
third-party backend's own tests can use them. ``xp`` is an array module (``numpy``,
``torch``, ``jax.numpy``, ``dask.array``, ``cupy``, ``array_api_strict``), the
array-api-compat namespace of one, or the namespace a third-party adapter returns; a dtype is
given by its name (``"float32"``, ``"bfloat16"``).

This module imports NumPy and array-api-compat only; each array library is imported inside the
function that needs it, and pytest is never imported.
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
import numpy as np
import numpy.typing as npt

__all__ = [
    "FLOATING_DTYPES",
    "asarray",
    "assert_close",
    "assert_same_namespace_device",
    "floating_dtypes",
    "get_dtype",
    "has_dtype",
    "reference_gumbel",
    "reference_relaxed_top_k",
    "reference_softmax",
    "to_numpy",
]

FLOATING_DTYPES = ("float16", "bfloat16", "float32", "float64")
"""The floating dtypes gumbelkit samples in, by name, narrowest first."""

_HALF = ("float16", "bfloat16")
_DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                *FLOATING_DTYPES, "complex64", "complex128")


def _library(xp: Any) -> str:
    """Return the name of the array module behind ``xp`` (array-api-compat's prefix removed)."""
    name = str(getattr(xp, "__name__", ""))
    return name.removeprefix("array_api_compat.")


def _dtype_source(xp: Any) -> Any:
    # dask.array names only some dtypes; its arrays take NumPy's.
    return np if _library(xp) == "dask.array" else xp


def has_dtype(xp: Any, name: str) -> bool:
    """Return whether the array module ``xp`` has the dtype called ``name``.

    Parameters
    ----------
    xp : module
        The array module or namespace.
    name : str
        The dtype's name, such as ``"bfloat16"``.

    Returns
    -------
    bool
        True where ``xp`` can build arrays of that dtype.

    Raises
    ------
    ValueError
        If ``name`` is not the name of a dtype (``"sum"`` names a function).

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import has_dtype
    >>> has_dtype(np, "float16"), has_dtype(np, "bfloat16")
    (True, False)

    """
    if name not in _DTYPE_NAMES:
        raise ValueError(f"name must be a dtype's name, one of {', '.join(_DTYPE_NAMES)}; "
                         f"got {name!r}")
    return hasattr(_dtype_source(xp), name)


def get_dtype(xp: Any, name: str) -> Any:
    """Return the dtype called ``name`` of the array module ``xp``.

    Parameters
    ----------
    xp : module
        The array module or namespace.
    name : str
        The dtype's name, such as ``"float32"``.

    Returns
    -------
    dtype
        The library's own dtype object (NumPy's for Dask).

    Raises
    ------
    ValueError
        If ``xp`` has no such dtype (NumPy has no ``bfloat16``), or ``name`` names none.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import get_dtype
    >>> get_dtype(np, "float32")
    <class 'numpy.float32'>

    """
    if not has_dtype(xp, name):
        raise ValueError(f"{getattr(xp, '__name__', xp)} has no {name} dtype")
    return getattr(_dtype_source(xp), name)


def floating_dtypes(xp: Any) -> tuple[str, ...]:
    """Return the names of the floating dtypes of :data:`FLOATING_DTYPES` that ``xp`` has.

    Parameters
    ----------
    xp : module
        The array module or namespace.

    Returns
    -------
    tuple of str
        The dtype names, narrowest first.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import floating_dtypes
    >>> floating_dtypes(np)
    ('float16', 'float32', 'float64')

    """
    return tuple(name for name in FLOATING_DTYPES if has_dtype(xp, name))


def asarray(xp: Any, values: Any, dtype: str = "float64") -> Any:
    """Build an array of the array module ``xp`` from NumPy data, in the dtype called ``dtype``.

    The values are copied. Half-precision values are rounded to float32 first, then once more
    to ``dtype`` (NumPy has no bfloat16, and every library converts from float32). A Dask array
    has one chunk.

    Parameters
    ----------
    xp : module
        The array module or namespace whose array to build.
    values : array_like
        The values: a NumPy array, a nested list or a scalar.
    dtype : str, optional
        The name of the dtype of the result, such as ``"float32"`` or ``"bfloat16"``.

    Returns
    -------
    array
        An array of ``xp`` on its default device.

    Raises
    ------
    ValueError
        If ``xp`` has no dtype called ``dtype``.
    TypeError
        If array-api-strict is given non-numeric data.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import asarray
    >>> asarray(np, [1.0, 2.0], "float32")
    array([1., 2.], dtype=float32)

    """
    data = np.array(values)  # a copy: PyTorch warns about read-only NumPy views
    if not data.dtype.isnative:  # PyTorch refuses a byte order other than the machine's
        data = data.astype(data.dtype.newbyteorder("="))
    library = _library(xp)
    if library == "array_api_strict" and data.dtype == object:
        raise TypeError("array_api_strict arrays need numeric data")
    target = get_dtype(xp, dtype)
    if dtype in _HALF:
        data = data.astype(np.float32)
    if library == "dask.array":
        dask_array: Any = importlib.import_module("dask.array")  # untyped
        return dask_array.from_array(data.astype(target), chunks=-1)
    if dtype not in _HALF:
        return xp.asarray(data, dtype=target)
    single = xp.asarray(data)
    if library == "torch":
        return single.to(target)
    namespace = xp if hasattr(xp, "astype") else array_api_compat.array_namespace(single)
    return namespace.astype(single, target)


def to_numpy(x: Any) -> npt.NDArray[Any]:
    """Return the values of an array of any library as a NumPy array.

    A PyTorch tensor is detached and copied to the host, a Dask array computed, a CuPy array
    copied from its GPU; an array that NumPy cannot read directly (``__array__``) is read
    through DLPack. bfloat16 and float16 values become float32, which holds them exactly.

    Parameters
    ----------
    x : array or scalar
        The array to read.

    Returns
    -------
    numpy.ndarray
        Its values.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import to_numpy
    >>> to_numpy(np.array([0.5, 1.5], dtype=np.float16))
    array([0.5, 1.5], dtype=float32)

    """
    if array_api_compat.is_torch_array(x):
        # Conjugate and negative views (x.conj(), its .imag) have no NumPy view: resolved first.
        x = x.detach().cpu().resolve_conj().resolve_neg()
        if x.is_floating_point() and x.element_size() < 4:
            x = x.float()
        values = np.asarray(x.numpy())
    elif array_api_compat.is_dask_array(x):
        lazy: Any = x  # dask.array.Array.compute is untyped
        values = np.asarray(lazy.compute())
    elif array_api_compat.is_cupy_array(x):
        values = np.asarray(x.get())
    elif not hasattr(x, "__array__") and hasattr(x, "__dlpack__"):
        # np.asarray would not raise here: it wraps the object in a 0-d object array.
        values = np.from_dlpack(x)
    else:
        try:
            values = np.asarray(x)
        except (TypeError, RuntimeError):  # array-api-strict raises RuntimeError off the CPU
            values = np.from_dlpack(x)
    if values.dtype == object:
        raise TypeError(
            f"cannot read the values of a {type(x).__name__}: it has neither NumPy's "
            "__array__ nor DLPack's __dlpack__ and __dlpack_device__"
        )
    if values.dtype.name in _HALF:
        values = values.astype(np.float32)
    return values


def assert_same_namespace_device(actual: Any, like: Any) -> None:
    """Assert that ``actual`` is an array of the namespace and on the device of ``like``.

    Parameters
    ----------
    actual : array
        The result to check.
    like : array
        The input whose namespace and device the result must keep.

    Raises
    ------
    AssertionError
        If the namespaces or the devices differ.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import assert_same_namespace_device
    >>> assert_same_namespace_device(np.zeros(2), np.ones(3))

    """
    out_namespace = array_api_compat.array_namespace(actual)
    like_namespace = array_api_compat.array_namespace(like)
    if out_namespace is not like_namespace:
        raise AssertionError(
            f"the result left the input's namespace: {type(actual)} vs {type(like)}"
        )
    if array_api_compat.device(actual) != array_api_compat.device(like):
        raise AssertionError(
            f"the result left the input's device: {array_api_compat.device(actual)} vs "
            f"{array_api_compat.device(like)}"
        )


def assert_close(
    actual: Any, desired: Any, *, like: Any = None, rtol: float = 1e-7, atol: float = 0.0
) -> None:
    """Assert that ``actual`` is close to ``desired``, and given ``like``, kept its kind.

    Parameters
    ----------
    actual : array
        The result, of any array library.
    desired : array_like
        The expected values, as NumPy data.
    like : array, optional
        An input whose namespace, device and dtype ``actual`` must have.
    rtol, atol : float, optional
        The tolerances of :func:`numpy.testing.assert_allclose`.

    Raises
    ------
    AssertionError
        If the values differ beyond the tolerances, or ``actual`` left the namespace, device
        or dtype of ``like``.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import assert_close
    >>> x = np.array([1.0, 2.0])
    >>> assert_close(x * 3, [3.0, 6.0], like=x)

    """
    if like is not None:
        assert_same_namespace_device(actual, like)
        if actual.dtype != like.dtype:
            raise AssertionError(f"dtype {actual.dtype} != {like.dtype}")
    np.testing.assert_allclose(to_numpy(actual), np.asarray(desired), rtol=rtol, atol=atol)


def reference_softmax(z: npt.ArrayLike, axis: int = -1, *, tau: Any = 1.0) -> npt.NDArray[Any]:
    """Return ``softmax(z / tau)`` along ``axis`` in float64, independently of gumbelkit.

    The maximum is subtracted before dividing by ``tau``, so a tiny ``tau`` does not overflow;
    a ``-inf`` entry gets exactly 0.

    Parameters
    ----------
    z : array_like
        The scores.
    axis : int, optional
        The axis to normalize over.
    tau : float or array_like, optional
        The temperature, positive; an array broadcasts against ``z``.

    Returns
    -------
    numpy.ndarray
        The probabilities, float64.

    Raises
    ------
    ValueError
        If a temperature is not positive (or is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import reference_softmax
    >>> reference_softmax([[0.0, 0.0], [0.0, -np.inf]])
    array([[0.5, 0.5],
           [1. , 0. ]])

    """
    temperature = np.asarray(tau, dtype=np.float64)
    if not np.all(temperature > 0):
        raise ValueError(f"tau must be positive; got {tau!r}")
    values = np.asarray(z, dtype=np.float64)
    e = np.exp((values - np.max(values, axis=axis, keepdims=True)) / temperature)
    return np.asarray(e / np.sum(e, axis=axis, keepdims=True))


def reference_gumbel(u: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return standard Gumbel noise ``-log(-log(u))`` from uniforms, in float64.

    Parameters
    ----------
    u : array_like
        Uniforms in the open interval (0, 1).

    Returns
    -------
    numpy.ndarray
        The noise, float64.

    Raises
    ------
    ValueError
        If a value of ``u`` lies outside ``(0, 1)`` (or is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import reference_gumbel
    >>> np.round(reference_gumbel([0.5, 0.9]), 4)
    array([0.3665, 2.2504])

    """
    values = np.asarray(u, dtype=np.float64)
    if not np.all((values > 0) & (values < 1)):
        raise ValueError("u must lie in the open interval (0, 1)")
    return -np.log(-np.log(values))


def reference_relaxed_top_k(
    z: npt.ArrayLike, k: int, tau: Any, axis: int = -1
) -> npt.NDArray[np.float64]:
    """Return Xie & Ermon's relaxed top-k of the perturbed logits ``z``, in float64.

    ``alpha_1 = z``, ``alpha_j = alpha_{j-1} + log(1 - a_{j-1})``, ``a_j = softmax(alpha_j /
    tau)``, and the sample ``a_1 + ... + a_k`` (docs/mathematics.md#relaxed-top-k). Each
    ``log(1 - a_i)`` is the logarithm of the other classes' share, ``logsumexp`` of their
    ``alpha / tau`` less that of all, over a mask per class (``O(K^2)`` per row), so a weight
    that rounds to 1 loses nothing; a class with no finite class beside it gets
    ``log(2**-126)``.

    Parameters
    ----------
    z : array_like
        The perturbed logits (logits plus noise); ``-inf`` masks a class.
    k : int
        The number of rounds.
    tau : float or array_like
        The temperature, positive; an array broadcasts against ``z``.
    axis : int, optional
        The class axis.

    Returns
    -------
    numpy.ndarray
        The relaxed k-hot, float64.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.testing import reference_relaxed_top_k
    >>> reference_relaxed_top_k([200.0, 0.0, -1.0], 2, tau=1e-3)
    array([1., 1., 0.])

    """
    alpha = np.moveaxis(np.asarray(z, dtype=np.float64), axis, -1)
    temperature = np.asarray(tau, dtype=np.float64)
    if temperature.ndim:
        temperature = np.moveaxis(np.broadcast_to(temperature, np.broadcast_shapes(
            temperature.shape, np.asarray(z).shape)), axis, -1)
    num_classes = alpha.shape[-1]
    others = ~np.eye(num_classes, dtype=bool)  # row i: every class but i
    total = np.zeros_like(alpha)
    for round_number in range(k):
        scaled = alpha / temperature
        top = np.max(scaled, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.exp(scaled - top)
            total = total + e / np.sum(e, axis=-1, keepdims=True)
            if round_number == k - 1:
                break
            # Row i of the last two axes: the classes other than i, each shifted by its own
            # maximum, so that a share far below the leader's does not underflow.
            masked = np.where(others, scaled[..., None, :], -np.inf)
            shift = np.max(masked, axis=-1)
            shift = np.where(np.isfinite(shift), shift, 0.0)
            log_shares = np.log(np.sum(np.exp(masked - shift[..., None]), axis=-1)) + shift
            log_remaining = log_shares - (np.log(np.sum(e, axis=-1, keepdims=True)) + top)
        alone = ~np.any(np.where(others, np.isfinite(alpha)[..., None, :], False), axis=-1)
        alpha = alpha + np.where(alone, np.log(2.0**-126), log_remaining)
    return np.asarray(np.moveaxis(total, -1, axis))
