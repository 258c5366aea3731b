"""The parameter handling every family shares, and the argument checks of the package.

:class:`_Parameters` holds the backend, namespace, device and dtypes of a distribution's
parameter array; :class:`_ElementwiseParameters` adds what the families with one scalar
distribution per entry (the binary Concrete and the Hard Concrete) have in common.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    broadcast_shapes,
    check_array_argument,
    check_bool,
    check_real,
    check_shape,
    concrete_bool,
    is_real_scalar,
    not_an_array,
    positive_finite,
)
from gumbelkit._noise import draw_gumbel
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend, resolved_for


def _check_temperature(tau: Any, backend: Backend, xp: Namespace, validate: bool) -> float | Array:
    """Return ``tau`` checked: a positive finite float, or a real floating array of ``backend``.

    A real number that is not an array (an int, a NumPy scalar) becomes a float. An array is
    read (positive and finite everywhere) where that is free or ``validate`` asks for it;
    elsewhere an invalid entry gives NaN results at its rows. Its shape is the caller's to
    check: it broadcasts against the logits' batch shape.
    """
    if not hasattr(tau, "shape") or is_real_scalar(tau):
        return check_real(tau, "tau", positive=True)
    check_array_argument(tau, "tau", backend, xp, None)
    ok = positive_finite(tau, xp, backend)
    if (validate or backend.is_host_readable(ok)) and not concrete_bool(xp.all(ok), "tau"):
        raise ValueError("tau must be positive and finite everywhere; got a value <= 0, NaN or inf")
    return tau


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


class _Parameters:
    """The backend, namespace, device and dtypes of a distribution's parameter array."""

    def __init__(self, params: Array, argument: str, validate_args: object) -> None:
        try:
            self._backend: Backend = resolved_for(params, argument=argument)
        except TypeError as error:
            raise not_an_array(params, argument, error) from None
        self._xp: Namespace = self._backend.namespace(params)
        if not self._xp.isdtype(params.dtype, "real floating"):
            raise TypeError(
                f"{argument} must have a real floating dtype (float16, bfloat16, float32 or "
                f"float64); got {params.dtype}"
            )
        self._validate_args = check_bool(validate_args, "validate_args")
        self._device = self._backend.device(params)
        self._dtype = params.dtype
        self._compute_dtype = _core.compute_dtype(params.dtype, self._xp)

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
                             like="the parameters")

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
        return _core.clamp_temperature(tau, positive_finite(tau, self._xp, self._backend),
                                       self._compute_dtype, self._xp)


class _ElementwiseParameters(_Parameters):
    """A parameter array with one scalar distribution per entry: its shape is the batch shape."""

    def __init__(self, params: Array, argument: str, validate_args: object) -> None:
        super().__init__(params, argument, validate_args)
        self._argument = argument
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
        shape = check_shape(sample_shape, "sample_shape") + self._batch_shape
        source = self._backend.make_rng(rng, self._device)
        noise, _ = draw_gumbel(
            self._backend, source, (*shape, 2), self._compute_dtype, self._device
        )
        return noise[..., 0] - noise[..., 1]
