"""The backends under test: selection by name, array conversion, dtypes and devices.

A :class:`Subject` wraps one adapter (built-in or third-party) with what the tests need and
the standard does not say: how to build its arrays from NumPy data and read them back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest

from gumbelkit import backends

BUILTIN = ("numpy", "torch", "jax", "dask", "array_api_strict", "cupy")
ENVIRONMENT_VARIABLE = "GUMBELKIT_BACKEND"

@dataclass(frozen=True)
class Subject:
    """One backend under test."""

    name: str
    adapter: Any
    xp: Any

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The floating dtypes this backend has, by name."""
        return tuple(n for n in ("float16", "bfloat16", "float32", "float64")
                     if hasattr(self.xp, n))

    def dtype(self, name: str) -> Any:
        return getattr(self.xp, name)

    def require(self, dtype: str) -> None:
        """Skip the calling test, with the reason, where this backend lacks ``dtype``."""
        if dtype not in self.dtypes:
            pytest.skip(f"{self.name} has no {dtype}")

    def asarray(self, values: Any, dtype: str = "float64") -> Any:
        """Build an array of this backend from NumPy data."""
        data = np.array(values)  # a copy: torch warns on read-only views (np.broadcast_to)
        if self.name == "dask":
            import dask.array as da

            return da.from_array(data.astype(dtype), chunks=-1)
        if dtype in ("bfloat16", "float16") and self.name == "torch":
            import torch

            return torch.asarray(data.astype(np.float32)).to(getattr(torch, dtype))
        if dtype in ("bfloat16", "float16"):
            return self.xp.astype(self.xp.asarray(data.astype(np.float32)), self.dtype(dtype))
        return self.xp.asarray(data, dtype=self.dtype(dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        """Read an array back as NumPy (computing Dask, copying from devices); half -> float32."""
        if array_api_compat.is_torch_array(x):
            x = x.detach().cpu()
            values = (x.float() if x.is_floating_point() and x.element_size() < 4 else x).numpy()
        elif array_api_compat.is_dask_array(x):
            values = np.asarray(x.compute())
        elif array_api_compat.is_cupy_array(x):
            values = x.get()
        else:
            try:
                values = np.asarray(x)
            except TypeError:
                values = np.from_dlpack(x)
        if str(values.dtype) in ("bfloat16", "float16"):
            values = values.astype(np.float32)
        return np.asarray(values)

    @property
    def device(self) -> str:
        probe = self.xp.asarray([0.0])
        return str(array_api_compat.device(probe))


def missing_reason(name: str) -> str | None:
    """Return why the built-in backend ``name`` cannot run here, or None."""
    return backends.unavailable_reason(name)


def make_subject(name: str) -> Subject:
    """Return the subject for a built-in name, a registered adapter's name, or ``module:attr``."""
    if name == "jax":
        import jax

        # float64 laws need x64; float32 inputs stay float32.
        jax.config.update("jax_enable_x64", True)
    adapter = backends.get_backend(name)
    if ":" in name and adapter not in backends.registered_backends():
        # A third-party adapter given as module:attr must also serve the arrays it matches.
        backends.register_backend(adapter)
    return Subject(adapter.name, adapter, adapter.namespace(None))


def selected_names(option: str | None) -> list[str]:
    """The backend names asked for by ``--backend`` or ``GUMBELKIT_BACKEND`` (default: all).

    Raises
    ------
    ValueError
        For a name that is neither built in, registered, nor ``module:attr``.
    """
    value = option or os.environ.get(ENVIRONMENT_VARIABLE, "") or "all"
    names = [n.strip() for n in value.split(",") if n.strip()]
    if names == ["all"]:
        return list(BUILTIN)
    for name in names:
        if name not in BUILTIN and ":" not in name:
            backends.get_backend(name)  # raises ValueError naming the known backends
    return names
