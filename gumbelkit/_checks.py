"""Parameter checks: every bad argument gets an error that names it and what was expected.

Checks here look only at Python values, shapes and dtypes, never at array data, so they cost no
device sync and work under every trace. Data checks (``validate=True``) live in
:func:`check_rows_valid`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend
from gumbelkit.estimators import Estimator, Gapped, GumbelRao, ReinMaxTemperatureWarning

ESTIMATORS = ("st", "st-probs", "reinmax", "gumbel-rao", "gapped", "gapped-p")
_PARAMETRISED: dict[str, Estimator] = {
    "gumbel-rao": GumbelRao(),
    "gapped": Gapped(1.0),
    "gapped-p": Gapped("p"),
}


def type_name(x: object) -> str:
    """Return the qualified name of ``x``'s type, for messages (builtins unprefixed)."""
    return f"{type(x).__module__}.{type(x).__qualname__}".removeprefix("builtins.")


def _is_int(x: object) -> bool:
    # type(x) is int first: the ABC check costs a microsecond, a lot for a (32, 10) call.
    return type(x) is int or (isinstance(x, numbers.Integral) and not isinstance(x, bool))


def check_shape(shape: object, argument: str) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints (an int means a 1-d shape)."""
    if shape == () and type(shape) is tuple:  # the common default, checked for free
        return ()
    if _is_int(shape):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(_is_int(n) for n in shape):
        raise TypeError(f"{argument} must be an int or a tuple of ints; got {shape!r}")
    dims = tuple(int(n) for n in shape)
    if any(n < 0 for n in dims):
        raise ValueError(f"{argument} must have non-negative sizes; got {dims}")
    return dims


def check_bool(value: object, argument: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``TypeError`` naming ``argument``."""
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be True or False; got {value!r}")
    return value


def check_axis(axis: object, ndim: int) -> int:
    """Return ``axis`` as a non-negative axis of an ``ndim``-dimensional ``logits``."""
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, checked for free
        return axis % ndim
    if not _is_int(axis):
        raise TypeError(f"axis must be an int; got {axis!r}")
    if not -ndim <= int(axis) < ndim:  # type: ignore[call-overload]
        raise ValueError(
            f"axis must be in [-{ndim}, {ndim}) for {ndim}-dimensional logits; got {axis}"
        )
    normalised: int = int(axis) % ndim  # type: ignore[call-overload]
    return normalised


def check_logits(logits: Array, axis: object, xp: Namespace, backend: Backend) -> int:
    """Check the dtype, rank and class axis of ``logits``; return the normalised axis."""
    if not backend.is_real_floating(logits.dtype):
        raise TypeError(
            "logits must have a real floating dtype (float16, bfloat16, float32 or float64); "
            f"got {logits.dtype}"
        )
    if logits.ndim == 0:
        raise ValueError("logits must have at least one dimension, the class axis; got a scalar")
    normalised = check_axis(axis, logits.ndim)
    if logits.shape[normalised] == 0:
        raise ValueError(
            f"logits must have at least one class along axis {axis}; got shape {logits.shape}"
        )
    return normalised


def check_real(value: object, argument: str, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float (positive if asked), else raise naming ``argument``."""
    if type(value) is float:
        number = value
    elif not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{argument} must be a real number; got {type_name(value)}")
    else:
        number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        expected = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{argument} must be {expected}; got {number}")
    return number


def check_estimator(estimator: object, *, hard: bool = True, tau: object = None) -> Estimator:
    """Return ``estimator`` as a name or an object of ``gumbelkit.estimators``.

    A name with parameters becomes its object (``"gumbel-rao"`` is ``GumbelRao()``). Only
    ``"st"`` goes with ``hard=False``. ReinMax with a float ``tau`` below 1 warns with
    :class:`~gumbelkit.estimators.ReinMaxTemperatureWarning`.
    """
    if type(estimator) is str and estimator == "st":  # the default, checked for free
        return "st"
    if isinstance(estimator, (GumbelRao, Gapped)):
        resolved: Estimator = estimator
    elif isinstance(estimator, str):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(map(repr, ESTIMATORS))}; "
                             f"got {estimator!r}")
        resolved = _PARAMETRISED.get(estimator, estimator)
    else:
        raise TypeError("estimator must be a name or a gumbelkit.estimators.GumbelRao or "
                        f"Gapped; got {type_name(estimator)}")
    if not hard and resolved != "st":
        raise ValueError(f"estimator {estimator!r} is a gradient estimator of hard samples: "
                         "pass hard=True, or leave estimator='st' for soft samples")
    if (resolved == "reinmax" and isinstance(tau, numbers.Real) and not isinstance(tau, bool)
            and tau < 1):
        warnings.warn(
            f"ReinMax with tau={float(tau):g}: ReinMax prefers tau >= 1 (tau = 1 makes its "
            "expected gradient exact for quadratic objectives); tau affects only its gradient, "
            "never the sample",
            ReinMaxTemperatureWarning,
            stacklevel=3,
        )
    return resolved


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """Return the broadcast of ``shapes``, or None where they do not broadcast."""
    # Not max(..., default=0): torch.compile cannot trace the default keyword.
    ndim = max([0, *(len(s) for s in shapes)])
    result = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def check_array_argument(
    x: Array,
    argument: str,
    backend: Backend,
    xp: Namespace,
    target_shape: tuple[int, ...] | None,
    *,
    like: str = "logits",
) -> None:
    """Check that ``x`` is a real floating array of ``backend``'s library.

    ``like`` names what ``x`` must share a library with, in the message. Where
    ``target_shape`` is given, ``x`` must also broadcast to it without changing it.
    """
    if not backend.matches(x):
        raise TypeError(
            f"{argument} must be an array of the same library as {like} ({backend.name}); "
            f"got {type_name(x)}"
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{argument} must have a real floating dtype; got {x.dtype}")
    if target_shape is None:
        return
    if broadcast_shapes(tuple(x.shape), target_shape) != target_shape:
        raise ValueError(
            f"{argument} of shape {tuple(x.shape)} does not broadcast to {target_shape}"
        )


def concrete_bool(flag: Array, argument: str) -> bool:
    """Read a boolean array scalar, explaining why this fails under a trace."""
    try:
        return bool(flag)
    except Exception as exc:  # JAX raises ConcretizationTypeError, torch.func a RuntimeError
        raise TypeError(
            f"checking {argument} reads array data, which is impossible under a trace "
            "(jax.jit, jax.vmap, torch.func); call with validate=False there"
        ) from exc


def row_index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Return the multi-index of the C-order ``flat`` index into ``shape``: a row's name."""
    row = []
    for size in reversed(shape):
        flat, position = divmod(flat, size)
        row.append(position)
    return tuple(reversed(row))


def check_rows_valid(logits: Array, axis: int, xp: Namespace) -> None:
    """Raise ``ValueError`` naming the first row of ``logits`` with a NaN or no finite value."""
    row_max = xp.max(logits, axis=axis)
    bad = xp.logical_not(xp.isfinite(row_max))
    if not concrete_bool(xp.any(bad), "logits"):
        return
    flat = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int8)))
    raise ValueError(
        f"logits row {row_index(flat, tuple(row_max.shape))} (index without axis {axis}) has "
        "a NaN, a +inf, or no finite value; every row needs finite logits (-inf masks a class)"
    )

