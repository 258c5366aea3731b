"""The parameter handling every family shares, and the argument checks of the package.

:class:`_Parameters` holds the backend, namespace, device and dtypes of a distribution's
parameter array; :class:`_ElementwiseParameters` adds what the families with one scalar
distribution per entry (the binary Concrete and the Hard Concrete) have in common.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from gumbelkit import _core
from gumbelkit._checks import (
    _shown,
    broadcast_shapes,
    call_error,
    check_array_argument,
    check_bool,
    check_real,
    check_shape,
    check_supported,
    check_temperature_array,
    concrete_bool,
    eager_where_readable,
    held_temperature,
    is_real_scalar,
    not_an_array,
    positive_finite,
)
from gumbelkit._noise import draw_gumbel
from gumbelkit._typing import Array, DType, Namespace
from gumbelkit.backends import Backend, resolved_for


def check_temperature(
    tau: Any, backend: Backend, xp: Namespace, validate: bool, params: Array,
    argument: str = "tau",
) -> float | Array:
    """Return ``tau`` checked: a positive finite float, or a real floating array of ``backend``.

    A real number that is not an array (an int, a NumPy scalar) becomes a float. An array is
    read (positive and finite everywhere) where that is free or ``validate`` asks for it;
    elsewhere an invalid entry gives NaN results at its rows. Its shape is the caller's to
    check: it broadcasts against the logits' batch shape. Errors name ``argument`` (the front
    ends' constructors call it ``temperature``).
    """
    if not hasattr(tau, "shape") or is_real_scalar(tau):
        return check_real(tau, argument, positive=True)
    check_array_argument(tau, argument, backend, xp, None, beside=params)
    check_temperature_array(tau, argument, backend, xp, validate)
    return tau


def clamped_temperature(tau: Array, backend: Backend, xp: Namespace, dtype: DType) -> Array:
    """Return a temperature array in ``dtype``, held in the range the samplers use.

    :func:`gumbelkit._checks.held_temperature`: an invalid entry (not positive, not finite)
    becomes NaN, so its rows come out NaN.
    """
    with eager_where_readable(tau, backend):
        ok = positive_finite(tau, xp, backend)
    return held_temperature(tau, ok, backend, xp, dtype)


def simplex_tolerance(value_eps: float) -> float:
    """How far from 1 the sum of a point of the simplex held with this ``eps`` may be.

    Each entry of a value in a coarse dtype (a bfloat16 or float16 sample) rounds by up to
    half its ``eps``, and its sum by up to that much: 4 ``eps``. At least ``1e-6``, the
    tolerance of ``torch.distributions``' and NumPyro's simplex constraints: a float32 point
    cast to float64 misses 1 by the float32 rounding of its sum, a few ``1e-7``. The front
    ends' supports and the core's validation share it.
    """
    return max(4 * value_eps, 1e-6)


def validation_tolerance(value_eps: float, compute_eps: float) -> float:
    """How far from 1 the validation of a point of the simplex lets its sum be.

    :func:`simplex_tolerance` of the value's ``eps``, or ``4 sqrt(eps)`` of the compute dtype
    where that is more: a point computed in the compute dtype (a Concrete's softmax, an
    ExpConcrete's ``log_softmax`` whose common ``log`` of the sum rounds) misses 1 by more than
    the rounding of its entries. The core's validation and the front ends' log-simplex share it.
    """
    return max(4 * math.sqrt(compute_eps), simplex_tolerance(value_eps))


def _temperature_repr(tau: float | Array) -> str:
    """Return the temperature as a ``repr`` shows it: the float, or ``array`` and its shape."""
    return str(tau) if isinstance(tau, float) else f"array{tuple(tau.shape)}"


def _broadcast_or_raise(
    value_shape: tuple[int, ...], shape: tuple[int, ...], argument: str, what: str
) -> tuple[int, ...]:
    result = broadcast_shapes(value_shape, shape)
    if result is None:
        raise ValueError(f"{argument} of shape {value_shape} does not broadcast against {what} "
                         f"of shape {shape}")
    return result


def _require(flag: Array, argument: str, message: str) -> None:
    """Raise ``ValueError(message)`` unless the boolean array scalar ``flag`` is true."""
    if not concrete_bool(flag, argument):
        raise ValueError(message)


def _require_unit_interval(y: Array, argument: str, xp: Namespace, what: str = "") -> None:
    """Raise ``ValueError`` unless every entry of ``y`` lies in [0, 1] (``what`` says why)."""
    _require(xp.all(xp.logical_and(y >= 0, y <= 1)), argument,
             f"{argument} must lie in [0, 1]{what}; got a value outside it or NaN")


# --- the habits of torch.distributions ---------------------------------------------------------

_C = TypeVar("_C", bound=type)


def _is_number_like(value: object, min_ndim: int) -> bool:
    """Return whether ``value`` can only be a temperature where logits were expected.

    A real number that is not an array never is logits; a 0-d array is not where the logits
    need a class axis (``min_ndim`` 1). A 0-d array of a binary family may be logits.
    """
    if is_real_scalar(value):
        return True
    try:
        shape = getattr(value, "shape", None)
    except RuntimeError:  # a nested PyTorch tensor, whose sizes cannot be read
        return False
    return shape is not None and len(shape) < min_ndim


def _habit_error(cls: type[_Parameters], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> TypeError | None:
    """Return the ``TypeError`` for a construction written the torch.distributions way.

    torch.distributions writes ``RelaxedOneHotCategorical(temperature, probs=None,
    logits=None, validate_args=None)``; gumbelkit's families take the logits first and call the
    temperature ``tau`` (``beta`` for the Hard Concrete). Returns None where the arguments show
    none of these habits, so that the error raised stands.
    """
    name = cls.__name__
    parameters = inspect.signature(cls).parameters
    names = list(parameters)
    first, temperature = names[0], cls._temperature_argument
    positional = [n for n, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    swapped = (cls._temperature_first and bool(args)
               and _is_number_like(args[0], cls._logits_min_ndim))
    if swapped:
        tau_text = f"{temperature}={_shown(args[0])}"
    elif "temperature" in kwargs or temperature in kwargs:
        tau_text = f"{temperature}={_shown(kwargs.get('temperature', kwargs.get(temperature)))}"
    else:
        tau_text = f"{temperature}=..."
    if "probs" in kwargs and "probs" not in parameters and cls._logits_of_probs:
        return TypeError(
            f"{name} takes logits, not probs (torch.distributions takes either): write "
            f"{name}({cls._logits_of_probs}, {tau_text})"
        )
    if "temperature" in kwargs and "temperature" not in parameters:
        return TypeError(
            f"{name} has no keyword temperature: gumbelkit calls it {temperature}; write "
            f"{name}({first}, {tau_text})"
        )
    logits = args[1] if len(args) > 1 else kwargs.get(first)
    if swapped and hasattr(logits, "shape") and not is_real_scalar(logits):
        return TypeError(
            f"{name} takes {first} first and the temperature second (torch.distributions puts "
            f"the temperature first): write {name}({first}, {tau_text})"
        )
    unknown = {key: value for key, value in kwargs.items() if key not in parameters}
    misplaced = args[len(positional):]
    if unknown or misplaced:
        return call_error(cls, misplaced, unknown)
    return None


def _catches_habits(cls: _C) -> _C:
    """Make the constructor of ``cls`` explain a torch.distributions habit that fails.

    The constructor runs as written; only where it raises ``TypeError`` or ``ValueError`` are
    the arguments read for a habit (:func:`_habit_error`), whose message then replaces the
    error. A successful construction costs one call more. ``functools.wraps`` keeps the
    signature that ``inspect`` and the documentation show.
    """
    init: Callable[..., None] = cls.__dict__["__init__"]  # the class's own constructor

    @functools.wraps(init)
    def constructor(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except (TypeError, ValueError):
            habit = _habit_error(type(self), args, kwargs)
            if habit is None:
                raise
            raise habit from None

    cls.__init__ = constructor  # type: ignore[misc]
    return cls


class _Parameters:
    """The backend, namespace, device and dtypes of a distribution's parameter array."""

    # What _habit_error needs to know of a family: the name of its temperature, whether
    # torch.distributions puts the temperature first, how logits come from probabilities, and
    # how many dimensions its logits have at least.
    _temperature_argument: ClassVar[str] = "tau"
    _temperature_first: ClassVar[bool] = True
    _logits_of_probs: ClassVar[str | None] = None
    _logits_min_ndim: ClassVar[int] = 0

    def __init__(self, params: Array, argument: str, validate_args: object) -> None:
        if validate_args is None:
            raise TypeError(
                "validate_args must be True or False; got None (torch.distributions' default, "
                "which defers to a global switch: here checks that read the data run only when "
                "asked for, validate_args=True)"
            )
        try:
            self._backend: Backend = resolved_for(params, argument=argument)
        except TypeError as error:
            raise not_an_array(params, argument, error) from None
        self._xp: Namespace = self._backend.namespace(params)
        check_supported(params, argument, self._backend)
        if not self._xp.isdtype(params.dtype, "real floating"):
            raise TypeError(
                f"{argument} must have a real floating dtype (float16, bfloat16, float32 or "
                f"float64); got {params.dtype}"
            )
        self._validate_args = check_bool(validate_args, "validate_args")
        self._device = self._backend.device(params)
        self._dtype = params.dtype
        self._compute_dtype = _core.compute_dtype(params.dtype, self._xp)
        self._library_of = params  # what pickling looks the backend up by again
        self._argument = argument  # and the name its errors give it

    def __getstate__(self) -> dict[str, Any]:
        """Return the instance's state for pickling, without the backend, namespace and device.

        A namespace is a module and a JAX device a handle, neither of which pickles; all three
        are looked up again from the parameter array when the state is restored.
        """
        state = self.__dict__.copy()
        del state["_backend"], state["_xp"], state["_device"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the state of :meth:`__getstate__`, looking the backend up again."""
        self.__dict__.update(state)
        # In another process the adapter of a registered library may not be registered.
        argument = self.__dict__.get("_argument", "logits")
        try:
            self._backend = resolved_for(self._library_of, argument=argument)
        except TypeError as error:
            raise not_an_array(self._library_of, argument, error) from None
        self._xp = self._backend.namespace(self._library_of)
        self._device = self._backend.device(self._library_of)

    @property
    def validate_args(self) -> bool:
        """Whether values passed to the methods are checked to lie in the support."""
        return self._validate_args

    def _quietly(self, compute: Callable[[], Array]) -> Array:
        """Run ``compute`` with the backend's floating-point warnings silenced.

        NumPy warns about deliberate infinities (a row with no finite logit, a temperature so
        small that a logit divided by it overflows); those are documented results.
        """
        with self._backend.errstate():
            return compute()

    def _check_value(self, value: Array, argument: str) -> None:
        """Check that ``value`` is a real floating array of the parameters' library."""
        check_array_argument(value, argument, self._backend, self._xp, None,
                             beside=self._library_of, like="the parameters")

    def _compute(self, x: Array) -> Array:
        return self._xp.astype(x, self._compute_dtype, copy=False)

    def _output(self, x: Array) -> Array:
        return self._xp.astype(x, self._dtype, copy=False)

    def _compute_temperature(self, tau: float | Array) -> float | Array:
        """Return ``tau`` in the compute dtype, clamped to the range the samplers use.

        An invalid entry of an array becomes NaN, so its rows come out NaN.
        """
        if isinstance(tau, float):
            return _core.representable_temperature(tau, self._xp, self._compute_dtype)
        return clamped_temperature(tau, self._backend, self._xp, self._compute_dtype)


class _ElementwiseParameters(_Parameters):
    """A parameter array with one scalar distribution per entry: its shape is the batch shape."""

    def __init__(self, params: Array, argument: str, validate_args: object) -> None:
        super().__init__(params, argument, validate_args)
        self._batch_shape = tuple(int(d) for d in params.shape)

    def _require_finite(self, params: Array) -> None:
        """Raise ``ValueError`` for a NaN or an infinity in the parameter array ``params``."""
        _require(self._xp.all(self._xp.isfinite(params)), self._argument,
                 f"{self._argument} must be finite everywhere; got a NaN or an infinity")

    def _value(self, value: Array, argument: str = "value") -> Array:
        """Check ``value`` against the parameters; return it in the compute dtype."""
        self._check_value(value, argument)
        _broadcast_or_raise(tuple(value.shape), self._batch_shape, argument, self._argument)
        return self._compute(value)

    def _logistic_noise(self, sample_shape: int | tuple[int, ...], rng: object) -> Array:
        """Draw Logistic(0, 1) noise ``G_1 - G_2`` from pairs of the library's Gumbel noise.

        The noise has shape ``sample_shape + batch_shape``; it is that of
        :func:`gumbelkit.gumbel_softmax` on logits of that shape with a trailing axis of size 2,
        with the same ``rng`` (on Dask, where the two draws are chunked alike).
        """
        shape = check_shape(sample_shape, "sample_shape", beside=(*self._batch_shape, 2),
                            beside_name="the batch and a pair") + self._batch_shape
        source = self._backend.make_rng(rng, self._device)
        noise, _ = draw_gumbel(
            self._backend, source, (*shape, 2), self._compute_dtype, self._device
        )
        return noise[..., 0] - noise[..., 1]
