"""Backend adapters: what the array API standard lacks, one small module per library.

The array API standard has no random numbers and no autograd. An adapter supplies exactly
those two things for one array library, plus a few facts about its arrays; everything else in
gumbelkit is written once against the standard.

An adapter is any object (a module works) with the members of ``Adapter``. The built-in
adapters live in this package and are imported lazily, the first time an array of their library
is seen: a cheap predicate from array-api-compat, which looks only at ``sys.modules``, decides
whether the library can be involved at all, so gumbelkit never imports a framework the user has
not imported.

Third-party libraries register their own adapter with ``register_backend``.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import array_api_compat as compat

from gumbelkit.backends._catalogue import BUILTIN_BACKENDS, BuiltinBackend, builtin_backend

__all__ = [
    "BUILTIN_BACKENDS",
    "Adapter",
    "BuiltinBackend",
    "available_backends",
    "backend_for",
    "backend_for_namespace",
    "backend_for_rng",
    "builtin_backend",
    "get_backend",
    "register_backend",
    "registered_backends",
    "unavailable_reason",
    "unregister_backend",
]

Array = Any
Namespace = Any
Device = Any
DType = Any


@runtime_checkable
class Adapter(Protocol):
    """The contract every backend adapter fulfils.

    Further members are optional (an adapter may set one it lacks to None, which reads
    faster than a missing attribute): ``device(x)`` returns the device of ``x`` (default:
    ``array_api_compat.device``); ``errstate()`` returns a context manager that silences
    floating-point warnings around deliberate infinities (NumPy's ``errstate``); and the
    fast paths ``gumbel`` (noise with the values of ``uniform`` and the core transform),
    ``perturbed`` (logits plus that noise in one fresh buffer), ``tempered_softmax_``,
    ``one_hot_argmax`` and ``one_hot_argmax_`` (arithmetic with the core's values, the last
    two may reuse gumbelkit's own buffers), ``tracks_gradient`` (whether a gradient may be
    taken now), ``is_real_floating`` (a faster dtype check), ``row_max`` and ``argmax`` (the
    namespace's ``max`` and ``argmax`` with less overhead), ``fused_gumbel_softmax`` (a whole
    soft sample from a kernel that draws its own noise, or None), and ``top_k`` (the indices of
    the k largest entries, ties to the lower index, for ``gumbel_top_k``). docs/backends.md
    describes each.

    Attributes
    ----------
    name : str
        Short name of the library, e.g. ``"torch"``: selects the adapter by name
        (``get_backend``) and appears in messages.
    supports_autodiff : bool
        Whether the library differentiates through array operations. Where it does not, the
        straight-through combination ``hard + (soft - stop_gradient(soft))`` is skipped: its
        value is ``hard`` and nothing would ever read its gradient.

    Examples
    --------
    The protocol is runtime-checkable; each built-in adapter is a module that fulfils it:

    >>> import numpy as np
    >>> from gumbelkit.backends import Adapter, backend_for
    >>> adapter = backend_for(np.zeros(3))
    >>> isinstance(adapter, Adapter), adapter.name, adapter.supports_autodiff
    (True, 'numpy', False)

    """

    name: str
    supports_autodiff: bool

    def matches(self, x: object) -> bool:
        """Return whether ``x`` is an array of this library (never imports it)."""
        ...

    def namespace(self, x: Array) -> Namespace:
        """Return the array-API namespace of ``x``."""
        ...

    def owns_rng(self, rng: object) -> bool:
        """Return whether ``rng`` is a native random source of this library."""
        ...

    def make_rng(self, rng: object, device: Device) -> Any:
        """Turn ``None``, an int seed or a native generator into the native random source.

        Raise ``TypeError`` naming ``rng`` for anything else, and ``ValueError`` for a
        generator that lives on another device than ``device``.
        """
        ...

    def uniform(
        self, rng: Any, shape: tuple[int, ...], dtype: DType, device: Device
    ) -> tuple[Array, Any]:
        """Draw uniforms in the open interval ``(0, 1)``.

        Every value is at least ``finfo(dtype).smallest_normal`` and below 1. ``dtype`` is
        float32 or float64. Returns the uniforms and the random source to use for the next
        draw (the same object for stateful generators, a new key for functional ones).
        """
        ...

    def stop_gradient(self, x: Array) -> Array:
        """Return ``x`` with a zero derivative (identity where there is no autodiff)."""
        ...

    def is_host_readable(self, x: Array) -> bool:
        """Return whether reading the values of ``x`` costs no device sync and no trace break.

        Parameter arrays (a per-row ``tau``) are checked eagerly only where this is true or
        where the caller asked for ``validate=True``.
        """
        ...


_BUILTIN_BY_NAME = {entry.name: entry for entry in BUILTIN_BACKENDS}

_registered: list[Adapter] = []
_by_type: dict[type, Adapter] = {}
_lock = threading.Lock()


def _load(entry: BuiltinBackend) -> Adapter:
    module: ModuleType = entry.load_adapter()
    return module  # a module satisfies the protocol


def register_backend(adapter: Adapter) -> None:
    """Register an adapter for an array library gumbelkit does not know.

    Registered adapters are consulted before the built-in ones, newest first, so a registration
    can also replace a built-in adapter for the arrays it matches.

    Parameters
    ----------
    adapter : Adapter
        An object or module with the members of ``Adapter``.

    Raises
    ------
    TypeError
        If ``adapter`` lacks a member of the contract.

    Examples
    --------
    docs/backends.md registers a complete adapter for a toy array library. Any object with the
    members of the contract will do, here the built-in NumPy adapter itself:

    >>> import gumbelkit.backends as gb
    >>> adapter = gb.get_backend("numpy")
    >>> gb.register_backend(adapter)
    >>> gb.registered_backends()[0] is adapter
    True
    >>> gb.unregister_backend(adapter)
    >>> gb.register_backend(object())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: adapter must provide matches, namespace, ... (see gumbelkit.backends.Adapter)

    """
    missing = [
        member
        for member in (*_CONTRACT_METHODS, "name", "supports_autodiff")
        if not hasattr(adapter, member)
    ]
    if missing:
        raise TypeError(
            f"adapter must provide {', '.join(missing)} (see gumbelkit.backends.Adapter)"
        )
    with _lock:
        _registered.insert(0, adapter)
        _by_type.clear()


_CONTRACT_METHODS = (
    "matches",
    "namespace",
    "owns_rng",
    "make_rng",
    "uniform",
    "stop_gradient",
    "is_host_readable",
)


def unregister_backend(adapter: Adapter) -> None:
    """Remove an adapter added with ``register_backend``.

    Arrays it matched go to the next adapter that matches them: an older registration or a
    built-in one.

    Parameters
    ----------
    adapter : Adapter
        The registered adapter, the very object that was passed to ``register_backend``.

    Raises
    ------
    ValueError
        If ``adapter`` is not registered.

    Examples
    --------
    >>> import gumbelkit.backends as gb
    >>> adapter = gb.get_backend("numpy")
    >>> gb.register_backend(adapter)
    >>> gb.unregister_backend(adapter)
    >>> adapter in gb.registered_backends()
    False

    """
    with _lock:
        _registered.remove(adapter)
        _by_type.clear()


def registered_backends() -> tuple[Adapter, ...]:
    """Return the adapters added with ``register_backend``, newest first.

    Returns
    -------
    tuple of Adapter
        The registered adapters in the order they are consulted; empty if there are none.

    Examples
    --------
    >>> import gumbelkit.backends as gb
    >>> gb.registered_backends()
    ()

    """
    return tuple(_registered)


def _find(x: object) -> Adapter | None:
    for adapter in _registered:
        if adapter.matches(x):
            return adapter
    for entry in BUILTIN_BACKENDS:
        if entry.is_array(x):
            return _load(entry)
    return None


def backend_for(x: object, *, argument: str = "logits") -> Adapter:
    """Return the adapter for the array ``x``.

    Parameters
    ----------
    x : array
        An array of any supported or registered library.
    argument : str, optional
        The name of the argument ``x`` was passed as, for the error message.

    Returns
    -------
    Adapter
        The newest registered adapter that matches ``x``, else the built-in adapter of its
        library (imported on first use).

    Raises
    ------
    TypeError
        If no adapter matches ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.backends import backend_for
    >>> backend_for(np.zeros(3)).name
    'numpy'
    >>> backend_for([0.0, 1.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: logits must be an array of a supported library (numpy, ...; got builtins.list

    """
    # Lock-free fast path: a dict read is atomic, and this keeps the lookup traceable by
    # torch.compile without a graph break.
    adapter = _by_type.get(type(x))
    if adapter is not None:
        return adapter
    found = _find(x)
    if found is None:
        raise TypeError(
            f"{argument} must be an array of a supported library (numpy, torch, jax, cupy, "
            f"dask, array_api_strict) or of one registered with register_backend; "
            f"got {type(x).__module__}.{type(x).__qualname__}"
        )
    # dict.setdefault is atomic; a lock here is untraceable by torch.compile.
    _by_type.setdefault(type(x), found)
    return found


def backend_for_namespace(xp: Namespace) -> Adapter:
    """Return the adapter for an array namespace such as ``numpy`` or ``torch``.

    The namespace makes an empty array, ``xp.empty((0,))``, and the adapter of that array is
    returned; ``gumbel(xp=...)`` uses this.

    Parameters
    ----------
    xp : namespace
        An array namespace: ``numpy``, ``torch``, ``jax.numpy``, ``dask.array``,
        ``array_api_strict``, an array-api-compat namespace, or a registered library's.

    Returns
    -------
    Adapter
        The adapter of the namespace's arrays.

    Raises
    ------
    TypeError
        If ``xp`` cannot make an array, or no adapter matches its arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.backends import backend_for_namespace
    >>> backend_for_namespace(np).name
    'numpy'

    """
    try:
        probe = xp.empty((0,))
    except Exception as exc:
        raise TypeError(
            f"xp must be an array namespace (a module such as numpy, torch or jax.numpy); "
            f"got {xp!r}"
        ) from exc
    return backend_for(probe, argument="xp")


def backend_for_rng(rng: object) -> Adapter | None:
    """Return the adapter whose native random source ``rng`` is, or None.

    ``gumbel()`` uses it to pick the array library from ``rng`` when ``xp`` is not given.

    Parameters
    ----------
    rng : object
        A random source: ``None``, an int seed, or a native generator or key.

    Returns
    -------
    Adapter or None
        The newest registered adapter that owns ``rng``, else the built-in adapter of the
        library its type comes from; None for ``None``, an int, or a source no adapter owns.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.backends import backend_for_rng
    >>> backend_for_rng(np.random.default_rng(0)).name
    'numpy'
    >>> backend_for_rng(42) is None
    True

    """
    if rng is None or isinstance(rng, int):
        return None
    for adapter in _registered:
        if adapter.owns_rng(rng):
            return adapter
    for entry in BUILTIN_BACKENDS:
        if entry.maybe_rng(rng):
            adapter = _load(entry)
            if adapter.owns_rng(rng):
                return adapter
    return None


def get_backend(name: str) -> Adapter:
    """Return an adapter by name: a built-in name, a registered adapter's name, or ``module:attr``.

    Registered adapters are asked first, newest first, so a registration can shadow a built-in
    name.

    Parameters
    ----------
    name : str
        ``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"``, ``"dask"``, ``"array_api_strict"``,
        the ``name`` of a registered adapter, or ``"module:attr"`` naming an adapter object in
        an importable module.

    Returns
    -------
    Adapter
        The adapter; a built-in one is imported on first use.

    Raises
    ------
    ValueError
        If no adapter has that name, or ``module:attr`` is not an adapter.

    Examples
    --------
    >>> from gumbelkit.backends import get_backend
    >>> get_backend("numpy").name
    'numpy'
    >>> get_backend("mxnet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'mxnet'; expected one of ... or 'module:attr'

    """
    for adapter in _registered:
        if adapter.name == name:
            return adapter
    if name in _BUILTIN_BY_NAME:
        return _load(_BUILTIN_BY_NAME[name])
    if ":" in name:
        module_name, _, attr = name.partition(":")
        adapter = getattr(importlib.import_module(module_name), attr)
        if not isinstance(adapter, Adapter):
            raise ValueError(f"{name} is not a gumbelkit adapter (see gumbelkit.backends.Adapter)")
        return adapter
    known = ", ".join([*(a.name for a in _registered), *_BUILTIN_BY_NAME])
    raise ValueError(f"unknown backend {name!r}; expected one of {known} or 'module:attr'")


def unavailable_reason(name: str) -> str | None:
    """Return why the built-in backend ``name`` cannot run on this machine, or None.

    This imports the library (and, for CuPy, asks CUDA for a device), so call it only where
    that is wanted: test collection, ``gumbelkit check``.

    Parameters
    ----------
    name : str
        A built-in backend name: ``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"``, ``"dask"``
        or ``"array_api_strict"``.

    Returns
    -------
    str or None
        None if the backend can run here, else a one-line reason (the library is not
        installed, or CuPy finds no usable CUDA GPU).

    Raises
    ------
    ValueError
        If ``name`` is not a built-in backend.

    Examples
    --------
    >>> from gumbelkit.backends import unavailable_reason
    >>> unavailable_reason("numpy") is None
    True

    """
    return builtin_backend(name).unavailable_reason()


def available_backends() -> Sequence[str]:
    """Return the names of the built-in backends whose library is installed.

    Installed is not the same as usable: this imports nothing, so it cannot tell whether CuPy
    finds a GPU (``unavailable_reason`` can).

    Returns
    -------
    sequence of str
        Built-in backend names, in the order arrays are matched against them.

    Examples
    --------
    >>> from gumbelkit.backends import available_backends
    >>> "numpy" in available_backends()
    True

    """
    return [entry.name for entry in BUILTIN_BACKENDS if entry.is_installed()]
