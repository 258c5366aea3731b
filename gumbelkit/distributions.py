"""Relaxed distributions with ``log_prob``: Concrete, ExpConcrete, binary Concrete, Hard Concrete.

Every class works on every backend: the mathematics is written once against the array API
standard, and the adapter of the parameters' library supplies the random numbers and the
stop-gradient. Samples come from the library's own samplers (:func:`gumbelkit.gumbel_softmax`
and the Gumbel noise behind it), so they have the laws the conformance suite checks.

Densities and their base measures (docs/mathematics.md#concrete-density,
docs/mathematics.md#binary-concrete and docs/mathematics.md#hard-concrete):

- :class:`RelaxedOneHotCategorical` (Concrete): a density on the simplex with respect to
  Lebesgue measure on the first ``K - 1`` coordinates; it integrates to 1.
- :class:`ExpRelaxedOneHotCategorical` (ExpConcrete, log space): ``log q(z)``, the
  torch.distributions / TFP form. It is a density with respect to ``exp(-z_K) dz_1..dz_{K-1}``,
  not Lebesgue measure: fine for KL terms and likelihood ratios between ExpConcretes, wrong
  where it is integrated or mixed with densities on another base measure.
- :class:`RelaxedBernoulli` (binary Concrete): a density on ``(0, 1)``.
- :class:`LogitRelaxedBernoulli`: the Logistic(``logits / tau``, ``1 / tau``) density on the
  real line.
- :class:`HardConcrete` (L0 gates): atoms at 0 and 1 and a density between; it has ``cdf``,
  the atom probabilities and the expected L0 penalty, no ``log_prob``.

Computation runs in float32, or float64 for float64 parameters, and results are cast to the
parameters' dtype. A ``-inf`` logit masks its class: it is dropped from the event, its
probability is exactly 0 and its gradient exactly 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    broadcast_shapes,
    check_array_argument,
    check_bool,
    check_logits,
    check_real,
    check_rows_valid,
    check_shape,
    concrete_bool,
)
from gumbelkit._noise import draw_gumbel
from gumbelkit._prepared import Prepared
from gumbelkit._sampling import gumbel_softmax
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend, resolved_for

__all__ = [
    "ExpRelaxedOneHotCategorical",
    "HardConcrete",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
]


# --- array-agnostic mathematics ----------------------------------------------------------------


def _sigmoid(t: Array, xp: Namespace) -> Array:
    """Return ``1 / (1 + exp(-t))`` without overflow: ``exp(-|t|)`` is at most 1."""
    e = xp.exp(-xp.abs(t))
    return xp.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logistic_log_density(t: Array, logits: Array, tau: float | Array, xp: Namespace) -> Array:
    """Return the log-density of Logistic(``logits / tau``, ``1 / tau``) at ``t``.

    With ``d = logits - tau t`` it is ``log tau + d - 2 softplus(d)``, evaluated as
    ``log tau - |d| - 2 log1p(exp(-|d|))`` (docs/mathematics.md#binary-concrete): ``log1p(exp(d))``
    would overflow for
    ``d`` above about 88 in float32 and return ``-inf`` where the value is about
    ``log tau - |d|``.
    """
    d = logits - tau * t
    a = xp.abs(d)
    return _log(tau, xp) - a - 2.0 * xp.log1p(xp.exp(-a))


def _log(value: float | Array, xp: Namespace) -> float | Array:
    """``log`` of a Python float (exactly, in double precision) or of an array."""
    return math.log(value) if isinstance(value, float) else xp.log(value)


def _log_factorial_below(
    count: Array, num_classes: int, axis: int, xp: Namespace, device: Any
) -> Array:
    """Return ``lgamma(count) = log((count - 1)!)`` for integer-valued ``count`` in [1, K].

    The array API has no ``lgamma``: this sums ``log j`` over ``j < count`` along ``axis``, a
    constant vector ``1..K`` against ``count`` (which keeps ``axis`` with size 1).
    """
    shape = [1] * count.ndim
    shape[axis] = num_classes
    j = xp.reshape(
        xp.arange(1, num_classes + 1, dtype=count.dtype, device=device),
        tuple(shape),
    )
    return xp.sum(xp.where(j < count, xp.log(j), xp.zeros_like(j)), axis=axis, keepdims=True)


def _exp_concrete_log_density(
    theta: Array,
    z: Array,
    tau: float | Array,
    axis: int,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    device: Any,
) -> tuple[Array, Array]:
    """Return ``log q(z)`` with ``axis`` kept, and the mask of ``theta``.

    The density: docs/mathematics.md#concrete-density.

    ``log q(z) = lgamma(K) + (K - 1) log tau + sum_k log_softmax(theta - tau z)_k``, over the
    unmasked classes only: a class with ``theta_k = -inf`` is dropped and ``K`` counts the rest.
    ``tau`` is a float or an array that keeps ``axis`` with size 1. Masked entries never enter
    an arithmetic operation (``-inf - tau * (-inf)`` would be NaN, and its gradient too). A row
    with no finite score (no unmasked class, a ``+inf`` or a NaN logit) gives NaN.
    """
    masked = theta == -math.inf
    zero = xp.zeros_like(theta)
    theta_safe = xp.where(masked, zero, theta)
    z_safe = xp.where(masked, xp.zeros_like(z), z)
    scores = theta_safe - tau * z_safe
    scores = xp.where(masked, xp.full_like(scores, -math.inf), scores)
    # log-sum-exp, shifted by the maximum; the shift cancels exactly, so it carries no gradient.
    peak = stop_gradient(xp.max(scores, axis=axis, keepdims=True))
    log_norm = peak + xp.log(xp.sum(xp.exp(scores - peak), axis=axis, keepdims=True))
    log_softmax = scores - log_norm
    log_softmax = xp.where(masked, xp.zeros_like(log_softmax), log_softmax)
    count = xp.sum(xp.astype(xp.logical_not(masked), theta.dtype), axis=axis, keepdims=True)
    log_q = (
        _log_factorial_below(count, int(theta.shape[axis]), axis, xp, device)
        + (count - 1.0) * _log(tau, xp)
        + xp.sum(log_softmax, axis=axis, keepdims=True)
    )
    return xp.where(xp.isfinite(peak), log_q, xp.full_like(log_q, math.nan)), masked


def _tempered_log_softmax(
    z: Array,
    tau: float | Array,
    axis: int,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    lowest: float,
) -> Array:
    """Return ``log_softmax(z / tau)`` along ``axis``, finite wherever ``z`` is.

    Like :func:`gumbelkit._core.tempered_softmax`, it shifts by the row maximum before
    dividing, so the entries are ``<= 0`` and the normaliser ``log(sum exp)`` lies in
    ``[0, log K]``. Where ``tau`` is so small that a shifted entry falls below ``lowest`` (the
    most negative finite value of the result's dtype, which may be narrower than ``z``'s), the
    entry is held there. A ``-inf`` entry of ``z`` (a masked class) stays exactly ``-inf``, with
    no gradient. A row whose maximum is not finite (no unmasked class, ``+inf`` or NaN) comes
    out NaN.
    """
    masked = z == -math.inf
    peak = stop_gradient(xp.max(z, axis=axis, keepdims=True))
    shifted = z - peak
    safe = xp.where(masked, xp.zeros_like(shifted), shifted)
    scaled = safe / tau
    exp_scaled = xp.where(masked, xp.zeros_like(scaled), xp.exp(scaled))
    out = scaled - xp.log(xp.sum(exp_scaled, axis=axis, keepdims=True))
    out = xp.maximum(out, xp.full_like(out, lowest))
    out = xp.where(masked, xp.full_like(out, -math.inf), out)
    return xp.where(xp.isfinite(peak), out, xp.full_like(out, math.nan))


# --- argument handling -------------------------------------------------------------------------


def _quietly(backend: Backend, compute: Callable[[], Array]) -> Array:
    """Run ``compute`` with the backend's floating-point warnings silenced.

    NumPy warns about deliberate infinities (a row with no finite logit, a temperature so
    small that a logit divided by it overflows); those are documented results.
    """
    with backend.errstate():
        return compute()


def _is_real_scalar(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_temperature(
    tau: Any, backend: Backend, xp: Namespace, shape: tuple[int, ...], validate: bool
) -> float | Array:
    """Return ``tau`` checked: a positive finite float, or an array that broadcasts to ``shape``.

    An array is read (positive and finite everywhere) where that is free or ``validate`` asks
    for it; elsewhere an invalid entry gives NaN results at its rows.
    """
    if _is_real_scalar(tau) or not hasattr(tau, "shape"):
        return check_real(tau, "tau", positive=True)
    check_array_argument(tau, "tau", backend, xp, shape)
    ok = xp.logical_and(xp.isfinite(tau), tau > 0)
    if (validate or backend.is_host_readable(ok)) and not concrete_bool(xp.all(ok), "tau"):
        raise ValueError("tau must be positive and finite everywhere; got a value <= 0, NaN or inf")
    return tau


def _check_value(value: Array, backend: Backend, xp: Namespace, argument: str = "value") -> None:
    """Check that ``value`` is a real floating array of ``backend``'s library."""
    check_array_argument(value, argument, backend, xp, None, like="the parameters")


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


class _Parameters:
    """The backend, namespace, device and dtypes of a distribution's parameter array."""

    def __init__(self, params: Array, argument: str, validate_args: object) -> None:
        self._backend: Backend = resolved_for(params, argument=argument)
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
        xp = self._xp
        ok = xp.logical_and(xp.isfinite(tau), tau > 0)
        return _core.clamp_temperature(tau, ok, self._compute_dtype, xp)

    def _logistic_noise(self, shape: tuple[int, ...], rng: object) -> Array:
        """Draw Logistic(0, 1) noise ``G_1 - G_2`` from pairs of the library's Gumbel noise.

        The noise of a draw of ``shape`` is that of :func:`gumbelkit.gumbel_softmax` on
        logits of shape ``shape + (2,)`` with the same ``rng`` (on Dask, where the two draws
        are chunked alike).
        """
        source = self._backend.make_rng(rng, self._device)
        noise, _ = draw_gumbel(
            self._backend, source, (*shape, 2), self._compute_dtype, self._device
        )
        return noise[..., 0] - noise[..., 1]


# --- Concrete and ExpConcrete ------------------------------------------------------------------


class _RelaxedCategorical(_Parameters):
    """Shared parameters of the Concrete and the ExpConcrete."""

    def __init__(self, logits: Array, tau: float | Array, *, axis: int = -1,
                 validate_args: bool = False) -> None:
        super().__init__(logits, "logits", validate_args)
        xp = self._xp
        self._axis = check_logits(logits, axis, xp, self._backend)
        self._logits = logits
        self._batch_shape = tuple(
            int(d) for i, d in enumerate(logits.shape) if i != self._axis
        )
        self._num_classes = int(logits.shape[self._axis])
        # A temperature that keeps the class axis with size 1 (the torch.distributions
        # habit, (n, 1) for (n, K) logits) means one temperature per row: drop that axis, so it
        # never broadcasts against the rows of the result.
        if (not isinstance(tau, float) and not _is_real_scalar(tau)
                and self._backend.matches(tau) and tau.ndim == logits.ndim
                and tau.shape[self._axis] == 1):
            tau = xp.squeeze(tau, axis=self._axis)
        self._tau = _check_temperature(tau, self._backend, xp, self._batch_shape,
                                       self._validate_args)
        if self._validate_args:
            check_rows_valid(logits, self._axis, xp)

    # The class axis counted from the end: samples put sample_shape in front of it.
    @property
    def _event_axis(self) -> int:
        return self._axis - len(self._logits.shape)

    @property
    def logits(self) -> Array:
        """The logits, classes along :attr:`axis`."""
        return self._logits

    @property
    def tau(self) -> float | Array:
        """The temperature: a float, or an array broadcasting against :attr:`batch_shape`."""
        return self._tau

    @property
    def axis(self) -> int:
        """The class axis of :attr:`logits` (non-negative)."""
        return self._axis

    @property
    def probs(self) -> Array:
        """``softmax(logits)`` along :attr:`axis`: the law of the sample's argmax."""
        return _quietly(self._backend, lambda: self._output(_core.tempered_softmax(
            self._compute(self._logits), 1.0, self._axis, xp=self._xp,
            stop_gradient=self._backend.stop_gradient,
        )))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of :attr:`logits` without the class axis."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``(K,)``, the number of classes; in a sample it lies at :attr:`axis`."""
        return (self._num_classes,)

    def __repr__(self) -> str:
        tau = self._tau if isinstance(self._tau, float) else f"array{tuple(self._tau.shape)}"
        return (f"{type(self).__name__}(batch_shape={self._batch_shape}, "
                f"event_shape={self.event_shape}, axis={self._axis}, tau={tau})")

    def _temperature_with_axis(self) -> float | Array:
        """Return the compute temperature; an array gets its class axis back (size 1)."""
        tau = self._compute_temperature(self._tau)
        if isinstance(tau, float):
            return tau
        # tau aligns with the trailing dimensions of the batch shape.
        trailing = len(self._batch_shape) - self._axis
        if tau.ndim > trailing:
            tau = self._xp.expand_dims(tau, axis=tau.ndim - trailing)
        return tau

    def _value_for_log_prob(self, value: Array) -> Array:
        """Check ``value``'s library, dtype and shape; return it in the compute dtype."""
        _check_value(value, self._backend, self._xp)
        shape = tuple(int(d) for d in value.shape)
        axis = self._event_axis
        if len(shape) < -axis or shape[axis] != self._num_classes:
            raise ValueError(
                f"value must have the {self._num_classes} classes along axis {self._axis} of "
                f"the logits (axis {axis} from the end); got shape {shape}"
            )
        _broadcast_or_raise(shape, tuple(self._logits.shape), "value", "logits")
        return self._compute(value)


class RelaxedOneHotCategorical(_RelaxedCategorical):
    """The Concrete (Gumbel-Softmax) distribution: ``softmax((logits + G) / tau)``.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: the class always gets exactly 0 and is dropped from
        the simplex of the density.
    tau : float or array
        Temperature, positive and finite: a float, or an array that broadcasts against
        ``logits`` with ``axis`` removed (one temperature per row). An array that keeps the
        class axis with size 1 (shape ``(n, 1)`` for ``(n, K)`` logits) is taken as one
        temperature per row too.
    axis : int, optional
        The class axis of ``logits``.
    validate_args : bool, optional
        Read the data (eager only): raise ``ValueError`` for rows of ``logits`` with a NaN,
        a ``+inf`` or no finite value, for a temperature that is not positive and finite, and
        for values outside the support passed to :meth:`log_prob`.

    See Also
    --------
    ExpRelaxedOneHotCategorical : The same law in log space, for small temperatures.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.distributions import RelaxedOneHotCategorical
    >>> d = RelaxedOneHotCategorical(np.log(np.array([0.2, 0.3, 0.5])), tau=0.5)
    >>> y = d.sample((4,), rng=0)
    >>> y.shape, d.log_prob(y).shape
    ((4, 3), (4,))

    """

    def __init__(self, logits: Array, tau: float | Array, *, axis: int = -1,
                 validate_args: bool = False) -> None:
        super().__init__(logits, tau, axis=axis, validate_args=validate_args)

    def rsample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a reparameterised sample: ``gumbel_softmax(logits, tau=tau)``.

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per row; the result has shape ``sample_shape + logits.shape``.
        rng : None, int, or a native generator or key, optional
            The random source, as for :func:`gumbelkit.gumbel_softmax`.

        Returns
        -------
        array
            Points of the simplex along :attr:`axis`, differentiable in ``logits`` and an
            array ``tau``, in the dtype of ``logits``.

        """
        return gumbel_softmax(self._logits, tau=self._tau, axis=self._axis, rng=rng,
                              sample_shape=sample_shape)

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a sample without gradient (:meth:`rsample` under a stop-gradient).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per row.
        rng : None, int, or a native generator or key, optional
            The random source.

        Returns
        -------
        array
            Points of the simplex, of shape ``sample_shape + logits.shape``.

        """
        return self._backend.stop_gradient(self.rsample(sample_shape, rng))

    def log_prob(self, value: Array) -> Array:
        """Return the log-density on the simplex (docs/mathematics.md#concrete-density).

        ``log p(x) = lgamma(K) + (K - 1) log tau + sum_k (theta_k - (tau + 1) log x_k)
        - K LSE_i(theta_i - tau log x_i)``, with respect to Lebesgue measure on
        ``(x_1, ..., x_{K-1})`` (``x_K = 1 - sum``): it integrates to 1 over the simplex.
        Masked classes (``-inf`` logits) are dropped: ``K`` counts the others, and the density
        lives on their simplex. A value that puts mass on a masked class has log-density
        ``-inf``.

        A coordinate that rounded to 0 (a small ``tau``) is evaluated at the dtype's smallest
        normal number, which keeps the result finite but approximate; for exact work at small
        temperatures use :class:`ExpRelaxedOneHotCategorical`, whose samples keep every
        coordinate's logarithm.

        Parameters
        ----------
        value : array
            Points of the simplex, classes along :attr:`axis`; broadcasts against ``logits``.

        Returns
        -------
        array
            The log-density, shape ``broadcast(value, logits)`` without the class axis, in the
            dtype of ``logits``.

        """
        x = self._value_for_log_prob(value)
        return _quietly(self._backend, lambda: self._log_prob(x))

    def _log_prob(self, x: Array) -> Array:
        xp, axis = self._xp, self._event_axis
        theta = self._compute(self._logits)
        masked = theta == -math.inf
        if self._validate_args:
            self._check_simplex(x, masked)
        tiny = xp.asarray(xp.finfo(self._compute_dtype).smallest_normal,
                          dtype=self._compute_dtype, device=self._device)
        log_x = xp.log(xp.where(masked, xp.ones_like(x), xp.maximum(x, tiny)))
        log_q, _ = _exp_concrete_log_density(theta, log_x, self._temperature_with_axis(), axis,
                                             xp, self._backend.stop_gradient, self._device)
        log_p = log_q - xp.sum(xp.where(masked, xp.zeros_like(log_x), log_x), axis=axis,
                               keepdims=True)
        # Mass on a masked class: outside the support (an invalid row stays NaN).
        outside = xp.logical_and(
            xp.any(xp.logical_and(masked, x > 0), axis=axis, keepdims=True),
            xp.logical_not(xp.isnan(log_p)),
        )
        log_p = xp.where(outside, xp.full_like(log_p, -math.inf), log_p)
        return self._output(xp.squeeze(log_p, axis=axis))

    def _check_simplex(self, x: Array, masked: Array) -> None:
        xp, axis = self._xp, self._event_axis
        tolerance = math.sqrt(float(xp.finfo(self._compute_dtype).eps)) * 4
        inside = xp.logical_and(x >= 0, x <= 1)
        total = xp.abs(xp.sum(x, axis=axis) - 1.0) <= tolerance
        on_mask = xp.logical_or(xp.logical_not(masked), x == 0)
        _require(
            xp.logical_and(xp.all(xp.logical_and(inside, on_mask)), xp.all(total)), "value",
            "value must lie on the simplex along the class axis: entries in [0, 1] summing to "
            "1, and exactly 0 on masked classes (-inf logits)",
        )


class ExpRelaxedOneHotCategorical(_RelaxedCategorical):
    """The ExpConcrete distribution: ``log_softmax((logits + G) / tau)``, a Concrete in log space.

    Use it for log-density work at small temperatures, where the Concrete's coordinates
    underflow to 0 but their logarithms stay finite (docs/mathematics.md#expconcrete).

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; a ``-inf`` entry masks its
        class (its coordinate is exactly ``-inf`` and it is dropped from the density).
    tau : float or array
        Temperature, positive and finite: a float, or an array that broadcasts against
        ``logits`` with ``axis`` removed; an array that keeps the class axis with size 1 is
        one temperature per row too.
    axis : int, optional
        The class axis of ``logits``.
    validate_args : bool, optional
        Read the data (eager only) and raise ``ValueError`` for invalid logits rows or
        temperatures, and for values outside the support passed to :meth:`log_prob`.

    Notes
    -----
    :meth:`log_prob` is ``log q(z)``, the torch.distributions / TensorFlow Probability form,
    which is *not* a density with respect to Lebesgue measure on ``(z_1, ..., z_{K-1})``: it
    applies the Jacobian of ``x = exp(z)`` to all ``K`` coordinates, and the integral of ``q``
    over ``z_1..z_{K-1}`` is ``E[Y_K]``, not 1. The base measure is ``exp(-z_K) dz_1..dz_{K-1}``.
    This cancels in KL terms and likelihood ratios between ExpConcretes; do not integrate it or
    mix it with densities on another base measure (docs/mathematics.md#the-base-measure).

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.distributions import ExpRelaxedOneHotCategorical
    >>> d = ExpRelaxedOneHotCategorical(np.log(np.array([0.2, 0.3, 0.5])), tau=1e-3)
    >>> z = d.sample(rng=0)  # finite where exp(z) underflows
    >>> bool(np.isfinite(z).all() and np.isfinite(d.log_prob(z)))
    True

    """

    def __init__(self, logits: Array, tau: float | Array, *, axis: int = -1,
                 validate_args: bool = False) -> None:
        super().__init__(logits, tau, axis=axis, validate_args=validate_args)

    def rsample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a reparameterised sample ``log_softmax((logits + G) / tau)``, computed stably.

        The row maximum is subtracted before dividing by ``tau``, so every entry is finite for
        every ``tau > 0`` (masked classes are exactly ``-inf``).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per row; the result has shape ``sample_shape + logits.shape``.
        rng : None, int, or a native generator or key, optional
            The random source, as for :func:`gumbelkit.gumbel_softmax`; the same seed gives the
            logarithm of its sample.

        Returns
        -------
        array
            Log-points of the simplex (``logsumexp`` along :attr:`axis` is 0), in the dtype of
            ``logits``.

        """
        prepared = Prepared(self._logits, self._axis, rng, None, sample_shape, False)
        return _quietly(self._backend, lambda: self._rsample(prepared))

    def _rsample(self, prepared: Prepared) -> Array:
        tau, _ = prepared.row_temperature(self._tau)
        z, _, _ = prepared.perturbed_logits(prepared.new_source())
        lowest = -float(self._xp.finfo(self._dtype).max)
        out = _tempered_log_softmax(z, tau, prepared.out_axis, self._xp,
                                    self._backend.stop_gradient, lowest)
        return self._output(out)

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a sample without gradient (:meth:`rsample` under a stop-gradient).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per row.
        rng : None, int, or a native generator or key, optional
            The random source.

        Returns
        -------
        array
            Log-points of the simplex, of shape ``sample_shape + logits.shape``.

        """
        return self._backend.stop_gradient(self.rsample(sample_shape, rng))

    def log_prob(self, value: Array) -> Array:
        """Return the Concrete log-density ``log q(z)`` (its base measure: the class docstring).

        The density: docs/mathematics.md#concrete-density.

        ``log q(z) = lgamma(K) + (K - 1) log tau + sum_k log_softmax(theta - tau z)_k``. Masked
        classes are dropped (their ``z`` must be ``-inf``; a finite one gives ``-inf``).

        Parameters
        ----------
        value : array
            Log-points of the simplex, classes along :attr:`axis`; broadcasts against
            ``logits``.

        Returns
        -------
        array
            ``log q``, shape ``broadcast(value, logits)`` without the class axis, in the dtype of
            ``logits``.

        """
        z = self._value_for_log_prob(value)
        return _quietly(self._backend, lambda: self._log_prob(z))

    def _log_prob(self, z: Array) -> Array:
        xp, axis = self._xp, self._event_axis
        theta = self._compute(self._logits)
        if self._validate_args:
            self._check_log_simplex(z, theta == -math.inf)
        log_q, masked = _exp_concrete_log_density(theta, z, self._temperature_with_axis(), axis,
                                                  xp, self._backend.stop_gradient, self._device)
        outside = xp.logical_and(
            xp.any(xp.logical_and(masked, z > -math.inf), axis=axis, keepdims=True),
            xp.logical_not(xp.isnan(log_q)),
        )
        log_q = xp.where(outside, xp.full_like(log_q, -math.inf), log_q)
        return self._output(xp.squeeze(log_q, axis=axis))

    def _check_log_simplex(self, z: Array, masked: Array) -> None:
        xp, axis = self._xp, self._event_axis
        tolerance = math.sqrt(float(xp.finfo(self._compute_dtype).eps)) * 4
        finite = xp.logical_or(xp.isfinite(z), xp.logical_and(masked, z == -math.inf))
        on_mask = xp.logical_or(xp.logical_not(masked), z == -math.inf)
        valid = xp.logical_and(xp.logical_and(finite, on_mask), z <= 0)
        ok = xp.all(valid)
        if concrete_bool(ok, "value"):
            # logsumexp of a valid point is 0 (its exponentials sum to 1).
            total = xp.sum(xp.where(masked, xp.zeros_like(z), xp.exp(z)), axis=axis)
            ok = xp.all(xp.abs(total - 1.0) <= tolerance)
        _require(ok, "value",
                 "value must be the logarithm of a point of the simplex: finite entries <= 0 "
                 "whose exponentials sum to 1, and -inf exactly on masked classes (-inf logits)")


# --- binary Concrete ---------------------------------------------------------------------------


class _RelaxedBinary(_Parameters):
    """Shared parameters of the binary Concrete in sigmoid and in logit space."""

    def __init__(self, logits: Array, tau: float | Array, *, validate_args: bool = False) -> None:
        super().__init__(logits, "logits", validate_args)
        self._logits = logits
        self._batch_shape = tuple(int(d) for d in logits.shape)
        self._tau = _check_temperature(tau, self._backend, self._xp, self._batch_shape,
                                       self._validate_args)
        if self._validate_args:
            _require(self._xp.all(self._xp.isfinite(logits)), "logits",
                     "logits must be finite everywhere; got a NaN or an infinity")

    @property
    def logits(self) -> Array:
        """``log alpha = logit p``, the log-odds of the relaxed value's limit ``round(Y) = 1``."""
        return self._logits

    @property
    def tau(self) -> float | Array:
        """The temperature: a float, or an array broadcasting to :attr:`batch_shape`."""
        return self._tau

    @property
    def probs(self) -> Array:
        """``sigmoid(logits) = P(Y > 1/2)``: the Bernoulli law that ``round(Y)`` follows."""
        return _quietly(self._backend, lambda: self._output(
            _sigmoid(self._compute(self._logits), self._xp)))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of :attr:`logits`."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``()``: each value is a scalar."""
        return ()

    def __repr__(self) -> str:
        tau = self._tau if isinstance(self._tau, float) else f"array{tuple(self._tau.shape)}"
        return f"{type(self).__name__}(batch_shape={self._batch_shape}, tau={tau})"

    def _logit_sample(self, sample_shape: int | tuple[int, ...], rng: object) -> Array:
        """``T = (logits + L) / tau`` in the compute dtype, ``L`` Logistic(0, 1)."""
        shape = check_shape(sample_shape, "sample_shape") + self._batch_shape
        noise = self._logistic_noise(shape, rng)
        return (self._compute(self._logits) + noise) / self._compute_temperature(self._tau)

    def _value(self, value: Array, argument: str = "value") -> Array:
        _check_value(value, self._backend, self._xp, argument)
        _broadcast_or_raise(tuple(value.shape), self._batch_shape, argument, "logits")
        return self._compute(value)

    def _open_unit(self, y: Array) -> Array:
        """``y`` moved into ``[tiny, 1 - eps/2]``, the representable interior of (0, 1)."""
        info = self._xp.finfo(self._compute_dtype)
        return self._xp.clip(y, float(info.smallest_normal), 1.0 - float(info.eps) / 2)


class RelaxedBernoulli(_RelaxedBinary):
    """The binary Concrete: ``Y = sigmoid((logits + L) / tau)``, ``L`` Logistic(0, 1).

    ``Y`` is coordinate 0 of a two-class Concrete with logits ``(logits, 0)``; ``round(Y)`` is
    Bernoulli(``sigmoid(logits)``) at every temperature
    (docs/mathematics.md#argmax-at-every-temperature).

    Parameters
    ----------
    logits : array
        ``log alpha``, the log-odds, any shape (the batch shape); any real floating dtype.
    tau : float or array
        Temperature, positive and finite: a float or an array broadcasting to ``logits``.
    validate_args : bool, optional
        Read the data (eager only): raise ``ValueError`` for non-finite logits or
        temperatures, and for values outside ``[0, 1]`` passed to :meth:`log_prob`,
        :meth:`cdf` and :meth:`icdf`.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.distributions import RelaxedBernoulli
    >>> d = RelaxedBernoulli(np.array([-2.0, 0.0, 1.5]), tau=0.5)
    >>> y = d.sample((4,), rng=0)
    >>> y.shape, d.log_prob(y).shape
    ((4, 3), (4, 3))
    >>> bool(np.allclose(d.cdf(d.icdf(np.array([0.1, 0.5, 0.9]))), [0.1, 0.5, 0.9]))
    True

    Far in the tails the log-density stays finite (``log1p(exp(d))`` is never formed):

    >>> extreme = RelaxedBernoulli(np.array([-100.0, 100.0]), tau=0.5)
    >>> extreme.log_prob(np.array([0.5, 0.5])).round(4)
    array([-99.3069, -99.3069])

    """

    def rsample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a reparameterised sample ``sigmoid((logits + L) / tau)``.

        ``L = G_1 - G_2`` from two of the library's Gumbel draws: with the same ``rng``, the
        sample is coordinate 0 of ``gumbel_softmax`` on the logits ``(logits, 0)`` (on Dask,
        where the two draws are chunked alike).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per entry; the result has shape ``sample_shape + logits.shape``.
        rng : None, int, or a native generator or key, optional
            The random source, as for :func:`gumbelkit.gumbel_softmax`.

        Returns
        -------
        array
            Values in ``[0, 1]`` (the open interval, up to rounding), differentiable in
            ``logits`` and an array ``tau``, in the dtype of ``logits``.

        """
        return _quietly(self._backend, lambda: self._output(
            _sigmoid(self._logit_sample(sample_shape, rng), self._xp)))

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a sample without gradient (:meth:`rsample` under a stop-gradient).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per entry.
        rng : None, int, or a native generator or key, optional
            The random source.

        Returns
        -------
        array
            Values in ``[0, 1]``, of shape ``sample_shape + logits.shape``.

        """
        return self._backend.stop_gradient(self.rsample(sample_shape, rng))

    def log_prob(self, value: Array) -> Array:
        """Return the log-density on (0, 1), stable for any logits.

        The density: docs/mathematics.md#binary-concrete.

        With ``t = logit y`` and ``d = logits - tau t``:
        ``log f(y) = log tau - |d| - 2 log1p(exp(-|d|)) - log y - log(1 - y)``; it never
        evaluates ``log1p(exp(d))``, so it stays finite for logits of +-100 and beyond.
        A value that rounded to 0 or 1 is evaluated at the nearest representable interior
        point (the smallest normal number, or the largest float below 1); for exact densities
        far in the tails use :class:`LogitRelaxedBernoulli`, whose samples carry the logit.

        Parameters
        ----------
        value : array
            Values in ``[0, 1]``, broadcasting against ``logits``.

        Returns
        -------
        array
            The log-density, in the dtype of ``logits``.

        """
        y = self._value(value)
        return _quietly(self._backend, lambda: self._log_prob(y))

    def _log_prob(self, y: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            self._check_unit(y, "value")
        y = self._open_unit(y)
        log_y, log_1my = xp.log(y), xp.log1p(-y)
        t = log_y - log_1my
        logits = self._compute(self._logits)
        log_f = _logistic_log_density(t, logits, self._compute_temperature(self._tau), xp)
        return self._output(log_f - log_y - log_1my)

    def cdf(self, value: Array) -> Array:
        """Return ``P(Y <= y) = sigmoid(tau logit(y) - logits)``: 0 below 0, 1 from 1 on.

        Parameters
        ----------
        value : array
            Points ``y``, broadcasting against ``logits``.

        Returns
        -------
        array
            The CDF, in the dtype of ``logits``.

        """
        y = self._value(value)
        return _quietly(self._backend, lambda: self._cdf(y))

    def _cdf(self, y: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            self._check_unit(y, "value")
        inner = self._open_unit(y)
        t = xp.log(inner) - xp.log1p(-inner)
        logits = self._compute(self._logits)
        f = _sigmoid(self._compute_temperature(self._tau) * t - logits, xp)
        f = xp.where(y <= 0, xp.zeros_like(f), f)
        return self._output(xp.where(y >= 1, xp.ones_like(f), f))

    def icdf(self, value: Array) -> Array:
        """Return the quantile ``sigmoid((logit(u) + logits) / tau)`` of ``u`` in [0, 1].

        Parameters
        ----------
        value : array
            Probabilities ``u`` in ``[0, 1]``, broadcasting against ``logits``; outside it
            the result is NaN.

        Returns
        -------
        array
            The quantile, in the dtype of ``logits``.

        """
        u = self._value(value)
        return _quietly(self._backend, lambda: self._icdf(u))

    def _icdf(self, u: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            self._check_unit(u, "value")
        inner = self._open_unit(u)
        t = xp.log(inner) - xp.log1p(-inner)
        logits = self._compute(self._logits)
        y = _sigmoid((t + logits) / self._compute_temperature(self._tau), xp)
        y = xp.where(u <= 0, xp.zeros_like(y), y)
        y = xp.where(u >= 1, xp.ones_like(y), y)
        outside = xp.logical_not(xp.logical_and(u >= 0, u <= 1))
        return self._output(xp.where(outside, xp.full_like(y, math.nan), y))

    def _check_unit(self, y: Array, argument: str) -> None:
        xp = self._xp
        _require(xp.all(xp.logical_and(y >= 0, y <= 1)), argument,
                 f"{argument} must lie in [0, 1]; got a value outside it or NaN")


class LogitRelaxedBernoulli(_RelaxedBinary):
    """The binary Concrete in logit space: ``T = (logits + L) / tau`` ~ Logistic(logits/tau, 1/tau).

    ``sigmoid(T)`` is a :class:`RelaxedBernoulli` sample. ``T`` keeps the information that
    rounding ``Y`` to 0 or 1 loses, so densities of extreme samples stay exact here.

    Parameters
    ----------
    logits : array
        ``log alpha``, the log-odds, any shape; any real floating dtype.
    tau : float or array
        Temperature, positive and finite: a float or an array broadcasting to ``logits``.
    validate_args : bool, optional
        Read the data (eager only): raise ``ValueError`` for non-finite logits or
        temperatures, and for non-finite values passed to :meth:`log_prob`.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.distributions import LogitRelaxedBernoulli
    >>> d = LogitRelaxedBernoulli(np.array([100.0]), tau=0.5)
    >>> t = d.sample((3,), rng=0)
    >>> bool(np.isfinite(d.log_prob(t)).all())
    True

    """

    def rsample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a reparameterised sample ``(logits + L) / tau``, ``L = G_1 - G_2`` Logistic.

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per entry; the result has shape ``sample_shape + logits.shape``.
        rng : None, int, or a native generator or key, optional
            The random source; the same ``rng`` gives the logit of the
            :class:`RelaxedBernoulli` sample.

        Returns
        -------
        array
            Real values, in the dtype of ``logits``.

        """
        return _quietly(self._backend, lambda: self._output(
            self._logit_sample(sample_shape, rng)))

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw a sample without gradient (:meth:`rsample` under a stop-gradient).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent samples per entry.
        rng : None, int, or a native generator or key, optional
            The random source.

        Returns
        -------
        array
            Real values, of shape ``sample_shape + logits.shape``.

        """
        return self._backend.stop_gradient(self.rsample(sample_shape, rng))

    def log_prob(self, value: Array) -> Array:
        """Return the Logistic(``logits / tau``, ``1 / tau``) log-density at ``t``.

        ``log tau + d - 2 softplus(d)`` with ``d = logits - tau t``, evaluated as
        ``log tau - |d| - 2 log1p(exp(-|d|))`` (finite for any finite ``d``).

        Parameters
        ----------
        value : array
            Real values ``t``, broadcasting against ``logits``.

        Returns
        -------
        array
            The log-density with respect to Lebesgue measure on the real line, in the dtype of
            ``logits``.

        """
        t = self._value(value)
        return _quietly(self._backend, lambda: self._log_prob(t))

    def _log_prob(self, t: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            _require(xp.all(xp.isfinite(t)), "value",
                     "value must be finite (the support is the real line); got NaN or inf")
        logits = self._compute(self._logits)
        return self._output(_logistic_log_density(
            t, logits, self._compute_temperature(self._tau), xp))


# --- Hard Concrete -----------------------------------------------------------------------------


class HardConcrete(_Parameters):
    """The Hard Concrete gate of L0 regularisation (Louizos et al., arXiv 1712.01312).

    ``s = sigmoid((L + log_alpha) / beta)`` with ``L`` Logistic(0, 1), stretched to
    ``(gamma, zeta)`` and clipped to ``[0, 1]``: ``z = min(1, max(0, s (zeta - gamma) + gamma))``.
    The gate has atoms at 0 and 1 and a density between (docs/mathematics.md#hard-concrete).

    Parameters
    ----------
    log_alpha : array
        The gate's location parameter, any shape (the batch shape); any real floating dtype.
    beta : float, optional
        Temperature, positive and finite; 2/3 in the reference implementation.
    gamma : float, optional
        Lower end of the stretch interval, negative (so that ``z = 0`` has positive mass).
    zeta : float, optional
        Upper end of the stretch interval, above 1 (so that ``z = 1`` has positive mass).
    validate_args : bool, optional
        Read the data (eager only): raise ``ValueError`` for a non-finite ``log_alpha`` and
        for values outside ``[0, 1]`` passed to :meth:`cdf`.

    Examples
    --------
    >>> import numpy as np
    >>> from gumbelkit.distributions import HardConcrete
    >>> gate = HardConcrete(np.array([-2.0, 0.0, 2.0]))
    >>> z = gate.sample((1000,), rng=0)
    >>> bool(((z >= 0) & (z <= 1)).all())
    True
    >>> bool(np.allclose(gate.l0_penalty(), 1 - gate.prob_zero()))
    True

    """

    def __init__(self, log_alpha: Array, *, beta: float = 2.0 / 3.0, gamma: float = -0.1,
                 zeta: float = 1.1, validate_args: bool = False) -> None:
        super().__init__(log_alpha, "log_alpha", validate_args)
        self._beta = check_real(beta, "beta", positive=True)
        self._gamma = check_real(gamma, "gamma")
        self._zeta = check_real(zeta, "zeta")
        if not self._gamma < 0:
            raise ValueError(f"gamma must be negative (the stretch interval must reach below "
                             f"0); got {self._gamma}")
        if not self._zeta > 1:
            raise ValueError(f"zeta must be above 1 (the stretch interval must reach above 1); "
                             f"got {self._zeta}")
        self._log_alpha = log_alpha
        self._batch_shape = tuple(int(d) for d in log_alpha.shape)
        if self._validate_args:
            _require(self._xp.all(self._xp.isfinite(log_alpha)), "log_alpha",
                     "log_alpha must be finite everywhere; got a NaN or an infinity")

    @property
    def log_alpha(self) -> Array:
        """The gates' location parameter."""
        return self._log_alpha

    @property
    def beta(self) -> float:
        """The temperature."""
        return self._beta

    @property
    def gamma(self) -> float:
        """The lower end of the stretch interval."""
        return self._gamma

    @property
    def zeta(self) -> float:
        """The upper end of the stretch interval."""
        return self._zeta

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of :attr:`log_alpha`."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``()``: each gate is a scalar."""
        return ()

    def __repr__(self) -> str:
        return (f"HardConcrete(batch_shape={self._batch_shape}, beta={self._beta!r}, "
                f"gamma={self._gamma!r}, zeta={self._zeta!r})")

    def rsample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw reparameterised gates ``min(1, max(0, s (zeta - gamma) + gamma))``.

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent gates per entry; the result has shape
            ``sample_shape + log_alpha.shape``.
        rng : None, int, or a native generator or key, optional
            The random source, as for :func:`gumbelkit.gumbel_softmax`.

        Returns
        -------
        array
            Gates in ``[0, 1]``, exactly 0 or 1 at the atoms; the gradient with respect to
            ``log_alpha`` is that of the stretched sigmoid between the atoms and 0 at them.

        """
        shape = check_shape(sample_shape, "sample_shape") + self._batch_shape
        return _quietly(self._backend, lambda: self._rsample(shape, rng))

    def _rsample(self, shape: tuple[int, ...], rng: object) -> Array:
        noise = self._logistic_noise(shape, rng)
        s = _sigmoid((self._compute(self._log_alpha) + noise) / self._beta, self._xp)
        stretched = s * (self._zeta - self._gamma) + self._gamma
        return self._output(self._xp.clip(stretched, 0.0, 1.0))

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: object = None) -> Array:
        """Draw gates without gradient (:meth:`rsample` under a stop-gradient).

        Parameters
        ----------
        sample_shape : int or tuple of int, optional
            Independent gates per entry.
        rng : None, int, or a native generator or key, optional
            The random source.

        Returns
        -------
        array
            Gates in ``[0, 1]``, of shape ``sample_shape + log_alpha.shape``.

        """
        return self._backend.stop_gradient(self.rsample(sample_shape, rng))

    def _sigmoid_of(self, shift: float, sign: float) -> Array:
        """``sigmoid(sign * log_alpha + shift)`` in the dtype of ``log_alpha``."""
        a = self._compute(self._log_alpha)
        return _quietly(self._backend, lambda: self._output(_sigmoid(sign * a + shift, self._xp)))

    def prob_zero(self) -> Array:
        """Return ``P(z = 0) = sigmoid(beta log(-gamma / zeta) - log_alpha)``.

        Returns
        -------
        array
            The mass of the atom at 0, shape :attr:`batch_shape`.

        """
        return self._sigmoid_of(self._beta * math.log(-self._gamma / self._zeta), -1.0)

    def prob_one(self) -> Array:
        """Return ``P(z = 1) = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))``.

        Returns
        -------
        array
            The mass of the atom at 1, shape :attr:`batch_shape`.

        """
        return self._sigmoid_of(
            -self._beta * math.log((1.0 - self._gamma) / (self._zeta - 1.0)), 1.0)

    def l0_penalty(self) -> Array:
        """Return the expected L0 norm per gate, ``P(z != 0)``.

        ``P(z != 0) = sigmoid(log_alpha - beta log(-gamma / zeta))``. It is an expectation,
        smooth in ``log_alpha``: sum it over the gates for the L0 regulariser.

        Returns
        -------
        array
            ``1 - P(z = 0)``, shape :attr:`batch_shape`, differentiable in ``log_alpha``.

        """
        return self._sigmoid_of(-self._beta * math.log(-self._gamma / self._zeta), 1.0)

    def deterministic_gate(self) -> Array:
        """Return the test-time gate ``min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))``.

        Returns
        -------
        array
            Gates in ``[0, 1]``, shape :attr:`batch_shape`.

        """
        xp = self._xp

        def gate() -> Array:
            s = _sigmoid(self._compute(self._log_alpha), xp)
            return self._output(xp.clip(s * (self._zeta - self._gamma) + self._gamma, 0.0, 1.0))

        return _quietly(self._backend, gate)

    def cdf(self, value: Array) -> Array:
        """Return ``P(z <= x)``, with the atoms: 0 below 0, ``P(z = 0)`` at 0, 1 from 1 on.

        Between, it is ``Q(x) = sigmoid(beta logit((x - gamma) / (zeta - gamma)) - log_alpha)``,
        the CDF of the stretched sample, which jumps to 1 at ``x = 1`` by ``P(z = 1)``.

        Parameters
        ----------
        value : array
            Points ``x``, broadcasting against ``log_alpha``.

        Returns
        -------
        array
            The CDF (right-continuous), in the dtype of ``log_alpha``.

        """
        _check_value(value, self._backend, self._xp)
        _broadcast_or_raise(tuple(value.shape), self._batch_shape, "value", "log_alpha")
        x = self._compute(value)
        return _quietly(self._backend, lambda: self._cdf(x))

    def _cdf(self, x: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            _require(xp.all(xp.logical_and(x >= 0, x <= 1)), "value",
                     "value must lie in [0, 1], the support of the gate; got a value outside it "
                     "or NaN")
        inner = xp.clip(x, 0.0, 1.0)
        # logit((x - gamma) / (zeta - gamma)) = log(x - gamma) - log(zeta - x), both positive.
        t = xp.log(inner - self._gamma) - xp.log(self._zeta - inner)
        q = _sigmoid(self._beta * t - self._compute(self._log_alpha), xp)
        q = xp.where(x < 0, xp.zeros_like(q), q)
        return self._output(xp.where(x >= 1, xp.ones_like(q), q))
