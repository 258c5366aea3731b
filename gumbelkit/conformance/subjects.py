"""The backends under test: selection by name, array conversion, dtypes and devices.

A :class:`Subject` wraps one adapter (built-in or third-party) with what the tests need and
the standard does not say: how to build its arrays from NumPy data and read them back
(:mod:`gumbelkit.testing`). The built-in backends are those of the catalogue,
``gumbelkit.backends.BUILTIN_BACKENDS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy.typing as npt
import pytest

from gumbelkit import testing
from gumbelkit.backends import (
    BUILTIN_BACKENDS,
    BuiltinBackend,
    builtin_backend,
    get_backend,
    register_backend,
    registered_backends,
)

BUILTIN = tuple(entry.name for entry in BUILTIN_BACKENDS)
"""The names of the built-in backends, in the catalogue's order."""

ENVIRONMENT_VARIABLE = "GUMBELKIT_BACKEND"


@dataclass(frozen=True)
class Subject:
    """One backend under test."""

    name: str
    adapter: Any
    xp: Any
    builtin: BuiltinBackend | None = None

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The floating dtypes this backend has, by name: the catalogue's for a built-in one."""
        if self.builtin is not None:
            return self.builtin.dtypes
        return testing.floating_dtypes(self.xp)

    def dtype(self, name: str) -> Any:
        """Return this backend's dtype called ``name``."""
        return testing.get_dtype(self.xp, name)

    def require(self, dtype: str) -> None:
        """Skip the calling test, with the reason, where this backend lacks ``dtype``."""
        if dtype not in self.dtypes:
            pytest.skip(f"{self.name} has no {dtype}")

    def asarray(self, values: Any, dtype: str = "float64") -> Any:
        """Build an array of this backend from NumPy data."""
        return testing.asarray(self.xp, values, dtype)

    def to_numpy(self, x: Any) -> npt.NDArray[Any]:
        """Read an array back as NumPy (computing Dask, copying from devices); half -> float32."""
        return testing.to_numpy(x)

    @property
    def device(self) -> str:
        """The device this backend's arrays are built on."""
        probe = self.xp.asarray([0.0])
        return str(array_api_compat.device(probe))


def missing_reason(name: str) -> str | None:
    """Return why the built-in backend ``name`` cannot run here, or None."""
    return builtin_backend(name).unavailable_reason()


def make_subject(name: str) -> Subject:
    """Return the subject for a built-in name, a registered adapter's name, or ``module:attr``."""
    if name == "jax":
        import jax

        # float64 laws need x64; float32 inputs stay float32. (jax.config is untyped.)
        config: Any = jax.config
        config.update("jax_enable_x64", True)
    adapter = get_backend(name)
    if ":" in name and not any(a is adapter for a in registered_backends()):
        # A third-party adapter given as module:attr must also serve the arrays it matches.
        register_backend(adapter)
    builtin = builtin_backend(name) if name in BUILTIN else None
    return Subject(adapter.name, adapter, adapter.namespace(None), builtin)


def selected_names(option: str | None) -> list[str]:
    """Return the backend names asked for by ``--backend`` or ``GUMBELKIT_BACKEND`` (default: all).

    Each name is kept once, in the order given.

    Raises
    ------
    ValueError
        For a name that is neither built in, registered, nor an importable ``module:attr``,
        for a list of no name, and for ``all`` beside other names.
    """
    # An empty option names nothing (an error); an empty variable is an unset one.
    value = option if option is not None else os.environ.get(ENVIRONMENT_VARIABLE, "") or "all"
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if not names:
        raise ValueError(f"no backend named in {value!r}: give names separated by commas, or "
                         "'all'")
    if names == ["all"]:
        return list(BUILTIN)
    for name in names:
        if name not in BUILTIN:
            # Raises ValueError naming the known backends, or what a module:attr lacks.
            get_backend(name)
    return names
