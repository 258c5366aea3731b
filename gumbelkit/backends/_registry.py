"""The registry: finds the adapter of an array, a name or a random source, and resolves it once.

Built-in adapters come from the catalogue and are imported lazily, the first time an array of
their library is seen; registered adapters are consulted first, newest first. Each adapter is
resolved into one :class:`~gumbelkit.backends.Backend` (its optional members filled), cached
per array type, so a sampling call pays one dictionary read for it.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from gumbelkit._typing import Namespace
from gumbelkit.backends._catalogue import BUILTIN_BACKENDS, BuiltinBackend, builtin_backend
from gumbelkit.backends._contract import OPTIONAL_MEMBERS, REQUIRED_MEMBERS, Adapter, Backend

__all__ = [
    "available_backends",
    "backend_for",
    "backend_for_namespace",
    "backend_for_rng",
    "get_backend",
    "register_backend",
    "registered_backends",
    "resolve",
    "resolved_for",
    "unavailable_reason",
    "unregister_backend",
]

_BUILTIN_BY_NAME = {entry.name: entry for entry in BUILTIN_BACKENDS}

_registered: list[Adapter] = []
# The resolved backend of each array type seen, and of each adapter (by identity).
_by_type: dict[type, Backend] = {}
_resolved: dict[int, Backend] = {}
_lock = threading.Lock()


def _load(entry: BuiltinBackend) -> Adapter:
    module: ModuleType = entry.load_adapter()
    return module  # a module satisfies the protocol


def _contract_breach(adapter: Any) -> str | None:
    """Return what ``adapter`` lacks of the contract, in words, or None where it has it all.

    The members must be there, ``name`` a non-empty str, ``supports_autodiff`` a bool and the
    rest callable. A class whose methods need an instance is not an adapter: registered, it
    would be asked ``matches(x)`` with ``x`` in the place of ``self`` for every array.
    """
    missing = [member for member in REQUIRED_MEMBERS if not hasattr(adapter, member)]
    if missing:
        return f"must provide {', '.join(missing)}"
    if isinstance(adapter, type) and not isinstance(
            inspect.getattr_static(adapter, "matches"), (staticmethod, classmethod)):
        return (f"is the class {adapter.__name__}, whose methods need an instance: register "
                f"{adapter.__name__}()")
    name = adapter.name
    if not isinstance(name, str) or not name:
        return f"must have a non-empty str name; got {name!r}"
    autodiff = adapter.supports_autodiff
    if not isinstance(autodiff, bool):
        return f"must have a bool supports_autodiff; got {autodiff!r}"
    functions = [m for m in REQUIRED_MEMBERS if m not in ("name", "supports_autodiff")]
    not_callable = [member for member in functions if not callable(getattr(adapter, member))]
    if not_callable:
        return f"must have callable {', '.join(not_callable)}"
    # An optional member is supplied (callable) or not (missing or None): anything else would
    # fail inside a sampling call, naming nothing.
    wrong = [member for member in OPTIONAL_MEMBERS
             if getattr(adapter, member, None) is not None
             and not callable(getattr(adapter, member))]
    if wrong:
        return f"must have {', '.join(wrong)} callable or None (an optional member)"
    return None


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
        If ``adapter`` lacks a member of the contract, or one has the wrong type (``name`` a
        non-empty str, ``supports_autodiff`` a bool, the others callable, an optional member
        callable or None), or it is a class whose methods need an instance.

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
    breach = _contract_breach(adapter)
    if breach is not None:
        raise TypeError(f"adapter {breach} (see gumbelkit.backends.Adapter)")
    global _by_type
    with _lock:
        _registered.insert(0, adapter)
        _by_type = {}  # a lookup under way writes into the old cache, never into this one
        _resolved.pop(id(adapter), None)


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
    global _by_type
    with _lock:
        # By identity: list.remove compares with ==, which an equal adapter would satisfy.
        at = next((i for i, a in enumerate(_registered) if a is adapter), None)
        if at is None:
            raise ValueError(f"adapter {getattr(adapter, 'name', adapter)!r} is not registered "
                             "(unregister_backend takes the object given to register_backend)")
        del _registered[at]
        _by_type = {}
        _resolved.pop(id(adapter), None)


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
    for adapter in tuple(_registered):  # a registration may insert while this looks
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
    return resolved_for(x, argument=argument).adapter


def resolve(adapter: Adapter) -> Backend:
    """Return the :class:`Backend` of ``adapter``, resolved on first use and then reused.

    Parameters
    ----------
    adapter : Adapter
        A built-in adapter module or a registered adapter.

    Returns
    -------
    Backend
        The adapter with every optional member filled.

    Examples
    --------
    >>> from gumbelkit.backends import get_backend, resolve
    >>> resolve(get_backend("numpy")) is resolve(get_backend("numpy"))
    True

    """
    # Keyed by identity (an adapter need not be hashable); the backend keeps its adapter alive,
    # so the id is not reused while the entry exists. dict.setdefault is atomic: concurrent
    # first uses agree on one object.
    backend = _resolved.get(id(adapter))
    if backend is None:
        backend = _resolved.setdefault(id(adapter), Backend(adapter))
    return backend


def resolved_for(x: object, *, argument: str = "logits") -> Backend:
    """Return the resolved :class:`Backend` of the array ``x``: what the samplers call.

    Parameters
    ----------
    x : array
        An array of any supported or registered library.
    argument : str, optional
        The name of the argument ``x`` was passed as, for the error message.

    Returns
    -------
    Backend
        The backend of :func:`backend_for`'s adapter.

    Raises
    ------
    TypeError
        If no adapter matches ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.backends import resolved_for
    >>> resolved_for(np.zeros(3)).name
    'numpy'

    """
    # Lock-free fast path: a dict read is atomic, and this keeps the lookup traceable by
    # torch.compile without a graph break. A registration replaces the cache, so what this
    # lookup finds goes into the cache it read, never into a newer one.
    cache = _by_type
    backend = cache.get(type(x))
    if backend is not None:
        return backend
    found = _find(x)
    if found is None:
        raise TypeError(
            f"{argument} must be an array of a supported library (numpy, torch, jax, cupy, "
            f"dask, array_api_strict) or of one registered with register_backend; "
            f"got {type(x).__module__}.{type(x).__qualname__}"
        )
    # dict.setdefault is atomic; a lock here is untraceable by torch.compile.
    return cache.setdefault(type(x), resolve(found))


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
    for adapter in tuple(_registered):
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
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, a backend's name; got {type(name).__name__}")
    for adapter in tuple(_registered):
        if adapter.name == name:
            return adapter
    if name in _BUILTIN_BY_NAME:
        return _load(_BUILTIN_BY_NAME[name])
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            adapter = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError, TypeError) as error:  # ":" or "m:"
            raise ValueError(f"{name} names no adapter: {type(error).__name__}: {error} "
                             "(expected 'module:attr', an adapter object in an importable "
                             "module)") from error
        breach = _contract_breach(adapter)
        if breach is not None:
            raise ValueError(f"{name} is not a gumbelkit adapter: it {breach} (see "
                             "gumbelkit.backends.Adapter)")
        return adapter  # type: ignore[no-any-return]
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
