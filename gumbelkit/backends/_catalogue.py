"""The one catalogue of the built-in backends: every fact about them that gumbelkit needs.

The registry, the command line (``sample``, ``info``, ``check``), the conformance subjects and
the tests all read this table; none keeps a list of its own. Nothing here imports a framework
(NumPy and array-api-compat are gumbelkit's own dependencies): the predicates look at
``sys.modules`` and at type names only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from types import ModuleType

import array_api_compat as compat

from gumbelkit.backends._common import is_array_api_strict_array, is_numpy_array

__all__ = ["BUILTIN_BACKENDS", "BuiltinBackend", "builtin_backend"]


@dataclass(frozen=True)
class BuiltinBackend:
    """A built-in backend: its names, its arrays, its dtypes, and how to tell if it can run.

    Parameters
    ----------
    name : str
        The backend's name (``get_backend(name)``, ``--backend name``).
    adapter_module : str
        The module of its adapter, imported the first time one of its arrays is seen.
    array_module : str
        The module that builds its arrays (``numpy``, ``jax.numpy``, ``dask.array``, ...).
    distribution : str
        The module whose ``__version__`` is the library's version, and whose presence says the
        library is installed.
    extra : str or None
        The extra of gumbelkit that installs it (None: always installed).
    dtypes : tuple of str
        The floating dtypes its arrays can have.
    is_array : callable
        Whether an object is one of its arrays; never imports the library.
    maybe_rng : callable
        Whether an object may be one of its random sources (the adapter decides for sure).
    load : callable, optional
        Imports the adapter module with a plain import statement, which ``torch.compile`` can
        trace (it cannot trace ``importlib.import_module``).

    Examples
    --------
    >>> from gumbelkit.backends import BUILTIN_BACKENDS
    >>> [entry.name for entry in BUILTIN_BACKENDS if entry.extra is None]
    ['numpy']

    """

    name: str
    adapter_module: str
    array_module: str
    distribution: str
    extra: str | None
    dtypes: tuple[str, ...]
    is_array: Callable[[object], bool]
    maybe_rng: Callable[[object], bool]
    load: Callable[[], ModuleType] | None = None

    def load_adapter(self) -> ModuleType:
        """Import and return the adapter module.

        Returns
        -------
        module
            The adapter module, e.g. ``gumbelkit.backends.numpy``.

        """
        if self.load is not None:
            return self.load()
        return importlib.import_module(self.adapter_module)

    def is_installed(self) -> bool:
        """Return whether the library is installed, without importing it.

        Returns
        -------
        bool
            Whether ``importlib.util.find_spec`` finds the library.

        """
        return find_spec(self.distribution) is not None

    def unavailable_reason(self) -> str | None:
        """Return why this backend cannot run here, or None.

        This imports the library (and, for CuPy, asks CUDA for a device).

        Returns
        -------
        str or None
            None if the backend can run here, else a one-line reason.

        """
        try:
            importlib.import_module(self.array_module)
        except ImportError as exc:
            hint = " (CuPy needs a CUDA GPU)" if self.name == "cupy" else ""
            return f"{self.name} is not installed{hint}: {exc}"
        if self.name == "cupy":
            import cupy

            try:
                if cupy.cuda.runtime.getDeviceCount() == 0:
                    return "CuPy is installed but no CUDA GPU is present"
            except Exception as exc:  # cupy raises its own CUDARuntimeError without a driver
                return f"CuPy is installed but no CUDA GPU is usable: {exc}"
        return None


def _module_loaded(prefix: str) -> Callable[[object], bool]:
    """Return a predicate telling whether ``rng`` may belong to the library ``prefix``."""

    def predicate(rng: object) -> bool:
        return type(rng).__module__.split(".")[0] == prefix

    return predicate


def _is_torch_tensor(x: object) -> bool:
    # Plain isinstance: array_api_compat's predicates are lru_cache-wrapped, and torch.compile
    # warns when it traces one.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _load_torch() -> ModuleType:
    from gumbelkit.backends import torch as adapter

    return adapter


def _never(rng: object) -> bool:
    return False


_FLOATS = ("float16", "float32", "float64")

# PyTorch first: its lookup can run under torch.compile, which must not reach the
# lru_cache-wrapped array_api_compat predicates of the other entries.
BUILTIN_BACKENDS: tuple[BuiltinBackend, ...] = (
    BuiltinBackend("torch", "gumbelkit.backends.torch", "torch", "torch", "torch",
                   ("float16", "bfloat16", "float32", "float64"),
                   _is_torch_tensor, _module_loaded("torch"), _load_torch),
    BuiltinBackend("numpy", "gumbelkit.backends.numpy", "numpy", "numpy", None, _FLOATS,
                   is_numpy_array, _module_loaded("numpy")),
    # A JAX key is a JAX array: the adapter's owns_rng tells keys from other arrays.
    BuiltinBackend("jax", "gumbelkit.backends.jax", "jax.numpy", "jax", "jax",
                   ("float16", "bfloat16", "float32", "float64"),
                   compat.is_jax_array, compat.is_jax_array),
    BuiltinBackend("cupy", "gumbelkit.backends.cupy", "cupy", "cupy", "cupy", _FLOATS,
                   compat.is_cupy_array, _module_loaded("cupy")),
    BuiltinBackend("dask", "gumbelkit.backends.dask", "dask.array", "dask", "dask", _FLOATS,
                   compat.is_dask_array, _module_loaded("dask")),
    # The standard has no half-precision types.
    BuiltinBackend("array_api_strict", "gumbelkit.backends.array_api_strict",
                   "array_api_strict", "array_api_strict", "test", ("float32", "float64"),
                   is_array_api_strict_array, _never),
)
"""The built-in backends, in the order arrays are matched against them."""

_BY_NAME = {entry.name: entry for entry in BUILTIN_BACKENDS}


def builtin_backend(name: str) -> BuiltinBackend:
    """Return the catalogue entry of the built-in backend ``name``.

    Parameters
    ----------
    name : str
        A built-in backend name, e.g. ``"numpy"``.

    Returns
    -------
    BuiltinBackend
        Its entry in :data:`BUILTIN_BACKENDS`.

    Raises
    ------
    ValueError
        If ``name`` is not a built-in backend.

    Examples
    --------
    >>> from gumbelkit.backends import builtin_backend
    >>> builtin_backend("jax").array_module
    'jax.numpy'

    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a built-in backend") from None
