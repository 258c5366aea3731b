"""Backend adapters: what the array API standard lacks, one small module per library.

The array API standard has no random numbers and no autograd. An adapter supplies exactly
those two things for one array library, plus a few facts about its arrays; everything else in
gumbelkit is written once against the standard.

An adapter is any object (a module works) with the members of ``Adapter``. The built-in
adapters live in this package and are imported lazily, the first time an array of their library
is seen: a cheap predicate that looks only at ``sys.modules`` or the array's type (mostly
array-api-compat's ``is_*_array``) decides whether the library can be involved at all, so
gumbelkit never imports a framework the user has not imported.

Third-party libraries register their own adapter with ``register_backend``.
"""

from gumbelkit.backends._catalogue import BUILTIN_BACKENDS, BuiltinBackend, builtin_backend
from gumbelkit.backends._contract import OPTIONAL_MEMBERS, REQUIRED_MEMBERS, Adapter, Backend
from gumbelkit.backends._registry import (
    available_backends,
    backend_for,
    backend_for_namespace,
    backend_for_rng,
    get_backend,
    register_backend,
    registered_backends,
    resolve,
    resolved_for,
    unavailable_reason,
    unregister_backend,
)

__all__ = [
    "BUILTIN_BACKENDS",
    "OPTIONAL_MEMBERS",
    "REQUIRED_MEMBERS",
    "Adapter",
    "Backend",
    "BuiltinBackend",
    "available_backends",
    "backend_for",
    "backend_for_namespace",
    "backend_for_rng",
    "builtin_backend",
    "get_backend",
    "register_backend",
    "registered_backends",
    "resolve",
    "resolved_for",
    "unavailable_reason",
    "unregister_backend",
]
