"""Parameter checks: every bad argument gets an error that names it and what was expected.

Checks here look only at Python values, shapes and dtypes, never at array data, so they cost no
device sync and work under every trace. Data checks (``validate=True``) live in
:func:`check_rows_valid`.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ParamSpec, TypeGuard, TypeVar, cast

from gumbelkit import _core
from gumbelkit._typing import Array, DType, Namespace
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


def is_real_scalar(value: object) -> TypeGuard[numbers.Real]:
    """Return whether ``value`` is a real number that is not an array, and not a bool.

    An int, a float, a NumPy scalar (``numpy.float64`` has a ``shape`` too, and subclasses
    ``float``; ``numpy.int64`` does neither).
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_shape(shape: object, argument: str, *,
                beside: tuple[int, ...] = (), beside_name: str = "") -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints (an int means a 1-d shape).

    An array is refused, a NumPy integer array too: a shape is a Python value, the same on
    every backend and under a trace, where an array's values cannot be read. With ``beside``
    (the shape it is joined to, ``beside_name`` naming it), their values together must number
    fewer than ``2**63``, which no array reaches: a clear error instead of an overflow deep in
    a backend or a machine out of memory.
    """
    if type(shape) is tuple and not shape:  # the common default, checked for free
        return ()
    if _is_int(shape):
        shape = (shape,)
    elif hasattr(shape, "shape") and not isinstance(shape, Sequence):
        raise TypeError(
            f"{argument} must be an int or a tuple of ints, not an array; got a "
            f"{type_name(shape)} of shape {tuple(shape.shape)}: convert it with "
            f"tuple(int(n) for n in {argument})"
        )
    if not isinstance(shape, Sequence) or not all(_is_int(n) for n in shape):
        raise TypeError(f"{argument} must be an int or a tuple of ints; got {shape!r}")
    dims = tuple(int(n) for n in shape)
    if any(n < 0 for n in dims):
        raise ValueError(f"{argument} must have non-negative sizes; got {dims}")
    values = math.prod(dims + beside)
    if values >= 2**63 or any(n >= 2**63 for n in dims):  # a size of 0 elsewhere: no values
        joined = f" with {beside_name} of shape {beside}" if beside_name else ""
        raise ValueError(f"{argument} {dims}{joined} asks for {values} values or a size of "
                         "2**63 or more, more than any array holds (2**63 - 1)")
    return dims


def check_bool(value: object, argument: str) -> bool:
    """Return ``value`` as a bool, else raise ``TypeError`` naming ``argument``.

    A bool or NumPy's bool scalar (``np.True_``, as configuration read by NumPy gives); not an
    int or an array, whose truth is no flag.
    """
    if isinstance(value, bool):
        return value
    numpy = sys.modules.get("numpy")  # loaded if value can be one of its scalars
    if numpy is not None and isinstance(value, numpy.bool_):
        return bool(value)
    raise TypeError(f"{argument} must be True or False; got {value!r}")


def check_axis(axis: object, ndim: int, argument: str = "axis") -> int:
    """Return ``axis`` as a non-negative axis of an ``ndim``-dimensional ``logits``.

    ``argument`` names it in the message (PyTorch's front end calls it ``dim``).
    """
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, checked for free
        return axis % ndim
    if not _is_int(axis):
        raise TypeError(f"{argument} must be an int; got {axis!r}")
    if not -ndim <= int(axis) < ndim:  # type: ignore[call-overload]
        raise ValueError(
            f"{argument} must be in [-{ndim}, {ndim}) for {ndim}-dimensional logits; got {axis}"
        )
    normalised: int = int(axis) % ndim  # type: ignore[call-overload]
    return normalised


def check_supported(x: Array, argument: str, backend: Backend) -> None:
    """Raise ``TypeError`` naming ``argument`` where ``backend`` cannot compute on ``x``.

    A sparse or nested PyTorch tensor, for one (the adapter's ``unsupported``): the library's
    own error would come from deep inside a sampler, naming an operator.
    """
    problem = backend.unsupported(x)
    if problem is not None:
        raise TypeError(f"{argument} must be a dense array; got {problem}")


def check_logits(logits: Array, axis: object, xp: Namespace, backend: Backend) -> int:
    """Check the dtype, rank and class axis of ``logits``; return the normalised axis."""
    check_supported(logits, "logits", backend)
    if not backend.is_real_floating(logits.dtype):
        raise TypeError(
            "logits must have a real floating dtype (float16, bfloat16, float32 or float64); "
            f"got {logits.dtype}"
            # An ml_dtypes bfloat16 NumPy array: a dtype the library itself does not have.
            + (f" ({backend.name} has no bfloat16)" if str(logits.dtype) == "bfloat16" else "")
        )
    if logits.ndim == 0:
        raise ValueError("logits must have at least one dimension, the class axis; got a scalar")
    # Unknown sizes are None in the standard and NaN in Dask (a float product; a traced size
    # is no float); 0.1 µs.
    if None in logits.shape or isinstance(math.prod(logits.shape), float):
        raise ValueError(
            f"logits must have a known shape; got {tuple(logits.shape)} (a Dask array after "
            "boolean indexing: logits.compute_chunk_sizes() finds it)"
        )
    normalised = check_axis(axis, logits.ndim)
    if logits.shape[normalised] == 0:
        raise ValueError(
            f"logits must have at least one class along axis {axis}; got shape {logits.shape}"
        )
    return normalised


def check_real(value: object, argument: str, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float (positive if asked), else raise naming ``argument``."""
    expected = "a positive finite number" if positive else "a finite number"
    if type(value) is float:
        number = value
    elif not is_real_scalar(value):
        raise TypeError(f"{argument} must be a real number; got {type_name(value)}")
    else:
        try:
            number = float(value)
        except OverflowError:  # an int or a Fraction beyond the float range
            raise ValueError(
                f"{argument} must be {expected}; got {type_name(value)} beyond the range of a "
                "float (magnitude above 1.8e308)"
            ) from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{argument} must be {expected}; got {number}")
    return number


def positive_finite(x: Array, xp: Namespace, backend: Backend) -> Array:
    """Return where the real floating array ``x`` of ``backend``'s library is positive and finite.

    Positivity is read from the bits: ``nextafter(x, -inf)`` keeps its sign bit clear exactly
    where ``x > 0``. ``x > 0`` itself calls a subnormal 0 where the hardware treats subnormal
    inputs as zero (XLA on the CPU, eagerly, and not always under ``jax.jit``), which would
    refuse a temperature that a float ``tau`` of the same value has clamped to the smallest
    normal number. The mask has no derivative: ``x`` goes through the backend's stop-gradient
    (JAX has no differentiation rule for ``nextafter``).
    """
    x = backend.stop_gradient(x)
    below = xp.nextafter(x, xp.full_like(x, -math.inf))
    return xp.logical_and(xp.isfinite(x), xp.logical_not(xp.signbit(below)))


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


def framework_row_temperature(tau_shape: tuple[int, ...], logits_shape: tuple[int, ...],
                              axis: int, argument: str, *,
                              grows_batch: bool = False) -> tuple[int, ...] | None:
    """Return the shape, without the class axis, of a temperature broadcast as frameworks do.

    PyTorch's and JAX's code divides ``(logits + G) / tau``: ``tau`` broadcasts against the
    logits with its trailing dimensions lined up with theirs, and one temperature per row has
    size 1 along the class axis (``(n, 1)`` for ``(n, K)`` logits, ``(n, 1)`` for ``(B, n, K)``
    too). The front ends take such a ``tau`` to the core as that shape without the class axis,
    which lines up with the logits' rows as it did with the logits. A ``tau`` that does not
    broadcast against the logits so is in the core's own form (the logits' shape without the
    class axis, ``(n,)`` for ``(n, K)``): None, the core takes it as it is and checks it. A
    ``tau`` that broadcasts against the logits but varies along the class axis, a temperature per
    class, raises ``ValueError``: where it could also be read as one per row (``(K,)`` for
    ``(K, K)`` logits), the two readings differ. An ``axis`` out of range gives None (the core
    names it).

    A sampler's output has the logits' shape, so by default ``tau`` must broadcast to it without
    changing it. With ``grows_batch`` (a distribution, whose batch shape is that of the logits'
    rows and the temperature together) ``tau`` may also have more dimensions than the logits or
    a larger size where theirs is 1, as ``(logits + G) / tau`` grows: ``(2, 3, 1)`` for ``(3, K)``
    logits is a batch of ``(2, 3)``, ``(3, 1)`` for ``(K,)`` one of ``(3,)``.
    """
    ndim = len(logits_shape)
    if not -ndim <= axis < ndim or (len(tau_shape) > ndim and not grows_batch):
        return None
    width = max(ndim, len(tau_shape))
    lined_up = (1,) * (width - len(tau_shape)) + tuple(tau_shape)
    lined_logits = (1,) * (width - ndim) + tuple(logits_shape)
    class_axis = axis % ndim + width - ndim
    for dim, (t, n) in enumerate(zip(lined_up, lined_logits, strict=True)):
        grows = grows_batch and n == 1 and dim != class_axis
        if t != 1 and t != n and not grows:
            return None
    if lined_up[class_axis] != 1:
        rows = (*logits_shape[:axis % ndim], 1, *logits_shape[axis % ndim + 1:])
        raise ValueError(
            f"{argument} of shape {tuple(tau_shape)} broadcasts against the logits of shape "
            f"{tuple(logits_shape)} with a temperature per class; give one temperature per row, "
            f"with size 1 along the class dimension (shape {rows} for every row)"
        )
    return lined_up[:class_axis] + lined_up[class_axis + 1:]


def check_array_argument(
    x: Array,
    argument: str,
    backend: Backend,
    xp: Namespace,
    target_shape: tuple[int, ...] | None,
    *,
    beside: Array,
    like: str = "logits",
) -> None:
    """Check that ``x`` is a real floating array of ``backend``'s library, placed with ``beside``.

    ``like`` names ``beside``, what ``x`` must share a library and a device with, in the
    message. Where ``target_shape`` is given, ``x`` must also broadcast to it without changing
    it.
    """
    if not backend.matches(x):
        raise TypeError(
            f"{argument} must be an array of the same library as {like} ({backend.name}); "
            f"got {type_name(x)}"
        )
    check_supported(x, argument, backend)
    check_placed_with(x, argument, backend, beside, like)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{argument} must have a real floating dtype; got {x.dtype}")
    if target_shape is None:
        return
    if broadcast_shapes(tuple(x.shape), target_shape) != target_shape:
        raise ValueError(
            f"{argument} of shape {tuple(x.shape)} does not broadcast to {target_shape}"
        )


def check_placed_with(x: Array, argument: str, backend: Backend, beside: Array,
                      like: str = "logits") -> None:
    """Raise ``ValueError`` naming ``argument`` where ``x`` lies away from ``beside``.

    Away: on a device from which the library would refuse to combine the two
    (:attr:`Backend.placed_with`); ``like`` names ``beside`` in the message.
    """
    if not backend.placed_with(x, beside):
        raise ValueError(f"{argument} must be on the device of {like} "
                         f"({backend.device(beside)}); got an array on {backend.device(x)}")


def check_device(device: object, namespace: Namespace, library: str) -> None:
    """Raise ``ValueError`` naming ``device`` unless ``namespace`` makes arrays on it here.

    An empty array on the device is the test: each library refuses a device in its own words
    and types (PyTorch without CUDA raises an ``AssertionError``), which the message keeps.
    """
    if device is None:
        return
    try:
        namespace.empty((0,), device=device)
    except Exception as exc:  # the library's own type, whatever it is
        raise ValueError(
            f"device must be a device that {library} can create arrays on here; got "
            f"{device!r} ({type(exc).__name__}: {exc})"
        ) from None


def eager_where_readable(x: Array, backend: Backend) -> AbstractContextManager[Any]:
    """Return the backend's ``eager_scope`` where ``x`` can be read for free, else no context.

    Inside it, a parameter array captured as a constant by ``jax.jit`` is checked and held in
    range as it is eagerly, and the trace embeds the held values.
    """
    if backend.is_host_readable(x):
        return backend.eager_scope()
    return nullcontext()


def check_temperature_array(
    tau: Array, argument: str, backend: Backend, xp: Namespace, validate: bool
) -> Array:
    """Return where the temperature array ``tau`` is valid: positive and finite.

    An invalid entry raises ``ValueError`` where reading it is free (host memory, no trace, a
    constant that ``jax.jit`` captured) or ``validate`` asks for it; elsewhere its rows come
    out NaN. The samplers' ``tau``, the distributions' and the front ends' temperatures are
    checked here.
    """
    with eager_where_readable(tau, backend):
        ok = positive_finite(tau, xp, backend)
        if (validate or backend.is_host_readable(ok)) and not concrete_bool(xp.all(ok),
                                                                            argument):
            raise ValueError(f"{argument} must be positive and finite everywhere; got a value "
                             "<= 0, NaN or inf")
    return ok


def held_temperature(tau: Array, ok: Array, backend: Backend, xp: Namespace,
                     dtype: DType) -> Array:
    """Return the temperature array ``tau`` in ``dtype``, held in the range the samplers use.

    ``ok`` is :func:`check_temperature_array`'s mask: an invalid entry becomes NaN, so its rows
    come out NaN. A valid one is held in ``[tiny, 1 / tiny]`` of ``dtype`` before the cast,
    which would round a smaller or larger temperature to 0 or inf
    (:func:`gumbelkit._core.clamp_temperature`). A ``tau`` that can be read (a constant that
    ``jax.jit`` captured too) is held now: the trace embeds the held values, not a subnormal
    that XLA flushes to 0, which would make its rows NaN.
    """
    with eager_where_readable(tau, backend):
        return _core.clamp_temperature(tau, ok, dtype, xp)


def concrete_bool(flag: Array, argument: str) -> bool:
    """Read a boolean array scalar, explaining why this fails under a trace."""
    try:
        return bool(flag)
    except Exception as exc:  # JAX raises ConcretizationTypeError, torch.func a RuntimeError
        raise TypeError(
            f"checking {argument} reads array data, which is impossible under a trace "
            "(jax.jit, jax.vmap, torch.func); call with validate=False there "
            "(validate_args=False for a distribution)"
        ) from exc


def row_index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Return the multi-index of the C-order ``flat`` index into ``shape``: a row's name."""
    row = []
    for size in reversed(shape):
        flat, position = divmod(flat, size)
        row.append(position)
    return tuple(reversed(row))


def logits_row(flat: int, row_shape: tuple[int, ...], axis: int) -> str:
    """Name the logits row at the C-order ``flat`` index into ``row_shape``, for messages.

    ``row_shape`` is the shape of the logits without ``axis``; 1-d logits, a single row, are
    just "logits".
    """
    if not row_shape:
        return "logits"
    return f"logits row {row_index(flat, row_shape)} (index without axis {axis})"


def check_rows_valid(logits: Array, axis: int, xp: Namespace) -> None:
    """Raise ``ValueError`` naming the first row of ``logits`` with a NaN or no finite value."""
    row_max = xp.max(logits, axis=axis)
    bad = xp.logical_not(xp.isfinite(row_max))
    if not concrete_bool(xp.any(bad), "logits"):
        return
    if logits.ndim == 1:
        raise ValueError("logits have a NaN, a +inf, or no finite value; they need a finite "
                         "logit and no NaN or +inf (-inf masks a class)")
    flat = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int8)))
    raise ValueError(
        f"{logits_row(flat, tuple(row_max.shape), axis)} has a NaN, a +inf, or no finite "
        "value; every row needs finite logits (-inf masks a class)"
    )


def not_an_array(value: object, argument: str, error: TypeError) -> TypeError:
    """Return ``error`` (no adapter matches ``value``), saying how to convert a Python value.

    A list, a tuple or a Python number gets the hint to convert it with ``asarray``; anything
    else gets ``error`` as it is.
    """
    if hasattr(value, "mask") and hasattr(value, "filled"):  # numpy.ma, refused: say why
        message = str(error).rsplit("; got ", 1)[0]
        return TypeError(f"{message}; got a masked array, whose mask gumbelkit would not see: "
                         f"pass {argument}.filled(0.0) and mask=~numpy.ma.getmaskarray({argument})")
    if not isinstance(value, (list, tuple, int, float, complex)):
        return error
    message = str(error).rsplit("; got ", 1)[0]
    return TypeError(f"{message}; got a {type(value).__name__}: convert {argument} with "
                     "numpy.asarray (or your library's asarray)")


# --- the habits of other libraries' samplers ---------------------------------------------------

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Keywords of other libraries' samplers (torch.nn.functional.gumbel_softmax, torch.topk,
# numpy.random, jax.random, torch.distributions) and gumbelkit's name for each.
_HABITS = {
    "dim": "axis",
    "temperature": "tau",
    "generator": "rng",
    "key": "rng",
    "seed": "rng",
    "size": "sample_shape",
}


def publish(implementation: Callable[..., _R]) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Return a decorator that publishes ``implementation`` as the function it decorates.

    The decorated function holds the public name, docstring and signature (the signature the
    documentation renders and type checkers read); ``implementation`` takes the same
    parameters and, after them, ``*misplaced`` and ``**unknown``, which collect the arguments
    of another library's habits (``tau`` by position, ``dim=``) so that
    :func:`call_error` can say what to write. ``implementation`` itself is returned, with the
    public name, docstring and signature: a call costs no wrapper.
    """

    def decorate(documented: Callable[_P, _R]) -> Callable[_P, _R]:
        implementation.__name__ = documented.__name__
        implementation.__qualname__ = documented.__qualname__
        implementation.__doc__ = documented.__doc__
        implementation.__signature__ = inspect.signature(documented)  # type: ignore[attr-defined]
        return cast("Callable[_P, _R]", implementation)

    return decorate


def _shown(value: object) -> str:
    """Return a short Python spelling of ``value`` for a suggested call, ``...`` if none."""
    if value is None or type(value) in (bool, int, float, str, tuple):
        text = repr(value)
        if len(text) <= 30:
            return text
    return "..."


def call_error(
    function: Callable[..., Any], misplaced: tuple[object, ...], unknown: dict[str, object]
) -> TypeError:
    """Return the ``TypeError`` for a call that ``function``'s signature does not take.

    ``misplaced`` holds the positional arguments after those ``function`` takes by position,
    ``unknown`` the keywords it does not have. The message says what to write instead: the
    keywords, with the values given (``tau`` and ``hard`` of
    ``torch.nn.functional.gumbel_softmax(logits, 0.5, True)``), or gumbelkit's name of another
    library's keyword (``dim`` is ``axis``).
    """
    name = function.__name__
    parameters = inspect.signature(function).parameters.values()
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]
    if misplaced:
        given = [f"{k}={_shown(v)}" for k, v in zip(keywords, misplaced, strict=False)]
        return TypeError(
            f"{name} takes {' and '.join(positional)} by position and everything else by "
            f"keyword ({', '.join(keywords)}): write {name}({', '.join(positional + given)})"
        )
    key, value = next(iter(unknown.items()))
    if key == "eps":
        return TypeError(
            f"{name} takes no eps: its uniforms lie in the open interval (0, 1), so the noise is "
            f"finite without one (docs/numeric-contract.md); drop eps={_shown(value)}"
        )
    habit = _HABITS.get(key)
    if habit in keywords:
        return TypeError(f"{name} has no keyword {key}: gumbelkit calls it {habit}; write "
                         f"{habit}={_shown(value)}")
    close = difflib.get_close_matches(key, keywords, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return TypeError(f"{name} got an unexpected keyword argument {key!r}{hint}; its keywords "
                     f"are {', '.join(keywords)}")

