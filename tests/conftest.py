"""One ``xp`` fixture parametrizes every test over the installed backends.

A backend that cannot run here is skipped with the reason, never silently passed. Set
``GUMBELKIT_TEST_DEVICE=cuda`` to run the PyTorch tests on a GPU.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from enum import Enum
from types import ModuleType

import pytest

from gumbelkit.backends import BUILTIN_BACKENDS, unavailable_reason


class _BackendMembers(Enum):
    """A built-in backend and the module a test uses to build arrays."""

    def __init__(self, adapter_name: str, module: str) -> None:
        self.adapter_name = adapter_name
        self.module_name = module

    @property
    def pytest_id(self) -> str:
        return self.adapter_name


# One member per entry of the catalogue, named after it (Backend.NUMPY, Backend.JAX, ...).
Backend = _BackendMembers(
    "Backend",
    [(entry.name.upper(), (entry.name, entry.array_module)) for entry in BUILTIN_BACKENDS],
    module=__name__,
)


def _skip_reason(backend: Backend) -> str | None:
    """Return why ``backend`` cannot run on this machine, or None."""
    return unavailable_reason(backend.adapter_name)


def _configure(backend: Backend) -> None:
    if backend is Backend.JAX:
        import jax

        # float64 tests need x64; float32 stays the dtype of float32 inputs.
        jax.config.update("jax_enable_x64", True)
    if backend is Backend.TORCH and os.environ.get("GUMBELKIT_TEST_DEVICE"):
        import torch

        torch.set_default_device(os.environ["GUMBELKIT_TEST_DEVICE"])


def backend_params(*backends: Backend) -> list[object]:
    """Return pytest params for ``backends`` (default: all), each skipped with its reason."""
    params = []
    for backend in backends or tuple(Backend):
        reason = _skip_reason(backend)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(backend, id=backend.pytest_id, marks=marks))
    return params


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend under test."""
    selected: Backend = request.param
    _configure(selected)
    return selected


@pytest.fixture
def xp(backend: Backend) -> ModuleType:
    """The array module of the backend under test (``numpy``, ``torch``, ``jax.numpy``...)."""
    return importlib.import_module(backend.module_name)


@pytest.fixture
def jax_without_x64() -> Iterator[ModuleType]:
    """JAX with ``jax_enable_x64`` off, its default, for one test (the ``xp`` fixture turns it
    on for the JAX backend)."""
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", False)
    yield jax
    jax.config.update("jax_enable_x64", previous)
