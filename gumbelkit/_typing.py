"""Type aliases for arrays and their namespaces, in one place.

The array API standard has no static types that every library's arrays satisfy, so arrays,
namespaces, devices and dtypes are ``Any`` to the type checker; the names say what is meant.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Array", "DType", "Device", "Namespace"]

Array = Any
"""An array of any supported library (NumPy, PyTorch, JAX, CuPy, Dask, array-api-strict)."""

Namespace = Any
"""An array-API namespace, such as ``array_api_compat.numpy`` or ``jax.numpy``."""

Device = Any
"""A device of a namespace (``"cpu"``, a ``torch.device``, a JAX sharding, ...)."""

DType = Any
"""A dtype of a namespace."""
