"""The Concrete and the ExpConcrete: a relaxed one-hot categorical, on the simplex or in logs.

Both share their parameters (:class:`_RelaxedCategorical`) and the ExpConcrete log-density
``log q(z)``; the Concrete's log-density is ``log q`` at ``z = log x`` less the Jacobian
``sum_k log x_k`` (docs/mathematics.md#concrete-density).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    check_logits,
    check_rows_valid,
    check_supported,
    concrete_bool,
    is_real_scalar,
)
from gumbelkit._prepared import Prepared
from gumbelkit._sampling import gumbel_softmax
from gumbelkit._typing import Array, DType, Namespace
from gumbelkit.distributions._math import _log
from gumbelkit.distributions._parameters import (
    _broadcast_or_raise,
    _catches_habits,
    _Parameters,
    _require,
    _temperature_repr,
    check_temperature,
    validation_tolerance,
)

# --- log-densities -----------------------------------------------------------------------------


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
    with no unmasked class, a ``+inf`` or a NaN logit gives NaN.

    Only the logits' differences enter ``log_softmax``: the scores are those of the logits
    shifted by their row maximum, so logits far from 0 give the log-density of any others
    (shift invariance) instead of rounding ``tau z`` away or overflowing. A row where a shifted
    logit overflows (one more than the dtype's largest value below the maximum) takes the
    scores of the logits as they are. A score still beyond the dtype's range at an unmasked
    class (such a logit, or a coordinate ``z`` so negative that ``tau z`` overflows) lies at the
    simplex's boundary, where the density's limit is 0: ``log q`` is ``-inf`` there.
    """
    masked = theta == -math.inf
    zero = xp.zeros_like(theta)
    top = stop_gradient(xp.max(theta, axis=axis, keepdims=True))
    row_valid = xp.isfinite(top)
    theta_safe = xp.where(masked, zero, theta)
    z_safe = xp.where(masked, xp.zeros_like(z), z)
    given = xp.logical_and(xp.logical_not(masked), xp.logical_not(xp.isnan(z_safe)))

    def beyond(scores: Array) -> Array:
        return xp.logical_and(given, xp.logical_not(xp.isfinite(scores)))

    # The namespace's operations: Dask's compute these, which may overflow, without warnings.
    tempered = xp.multiply(tau, z_safe)
    shifted = xp.subtract(xp.subtract(theta_safe, xp.where(row_valid, top, xp.zeros_like(top))),
                          tempered)
    as_given = xp.subtract(theta_safe, tempered)
    scores = xp.where(xp.any(beyond(shifted), axis=axis, keepdims=True), as_given, shifted)
    boundary = beyond(scores)
    scores = xp.where(boundary, xp.zeros_like(scores), scores)
    scores = xp.where(masked, xp.full_like(scores, -math.inf), scores)
    # log-sum-exp, shifted by the maximum; the shift cancels exactly, so it carries no gradient.
    peak = stop_gradient(xp.max(scores, axis=axis, keepdims=True))
    peak = xp.where(xp.isfinite(peak), peak, xp.zeros_like(peak))
    log_norm = peak + xp.log(xp.sum(xp.exp(scores - peak), axis=axis, keepdims=True))
    log_softmax = scores - log_norm
    log_softmax = xp.where(masked, xp.zeros_like(log_softmax), log_softmax)
    count = xp.sum(xp.astype(xp.logical_not(masked), theta.dtype), axis=axis, keepdims=True)
    log_q = (
        _log_factorial_below(count, int(theta.shape[axis]), axis, xp, device)
        + (count - 1.0) * _log(tau, xp)
        + xp.sum(log_softmax, axis=axis, keepdims=True)
    )
    at_boundary = xp.logical_and(xp.any(boundary, axis=axis, keepdims=True),
                                 xp.logical_not(xp.isnan(log_q)))
    log_q = xp.where(at_boundary, xp.full_like(log_q, -math.inf), log_q)
    return xp.where(row_valid, log_q, xp.full_like(log_q, math.nan)), masked


def _tempered_log_softmax(
    z: Array,
    masked: Array,
    tau: float | Array,
    axis: int,
    xp: Namespace,
    stop_gradient: Callable[[Array], Array],
    lowest: float,
    differentiable: bool,
) -> Array:
    """Return ``log_softmax(z / tau)`` along ``axis``, finite wherever ``z`` is.

    Like :func:`gumbelkit._core.tempered_softmax`, it shifts by the row maximum before
    dividing, so the entries are ``<= 0`` and the normaliser ``log(sum exp)`` lies in
    ``[0, log K]``. Where ``tau`` is so small that a shifted entry falls below ``lowest`` (the
    most negative finite value of the result's dtype, which may be narrower than ``z``'s), the
    entry is held there, and so is a ``-inf`` of ``z`` at a class that ``masked`` (which
    broadcasts against ``z``: the logits' ``-inf``) does not mark, the limit of a logit more
    than the dtype's largest value below its row's maximum. A masked class stays exactly
    ``-inf``, with no gradient. A row whose maximum is not finite (no unmasked class, ``+inf``
    or NaN) comes out NaN. ``differentiable``: whether the library has autodiff
    (:func:`gumbelkit._core.divide_by_temperature`).
    """
    peak = stop_gradient(xp.max(z, axis=axis, keepdims=True))
    shifted = z - peak
    safe = xp.where(masked, xp.zeros_like(shifted), shifted)
    scaled = _core.divide_by_temperature(safe, tau, xp=xp, stop_gradient=stop_gradient,
                                         differentiable=differentiable)
    exp_scaled = xp.where(masked, xp.zeros_like(scaled), xp.exp(scaled))
    out = scaled - xp.log(xp.sum(exp_scaled, axis=axis, keepdims=True))
    out = xp.maximum(out, xp.full_like(out, lowest))
    out = xp.where(masked, xp.full_like(out, -math.inf), out)
    return xp.where(xp.isfinite(peak), out, xp.full_like(out, math.nan))


# --- the distributions -------------------------------------------------------------------------


@_catches_habits
class _RelaxedCategorical(_Parameters):
    """Shared parameters of the Concrete and the ExpConcrete."""

    _logits_of_probs = "log(probs)"
    _logits_min_ndim = 1

    def __init__(self, logits: Array, tau: float | Array, *, axis: int = -1,
                 validate_args: bool = False) -> None:
        super().__init__(logits, "logits", validate_args)
        xp = self._xp
        self._axis = check_logits(logits, axis, xp, self._backend)
        self._batch_shape = tuple(
            int(d) for i, d in enumerate(logits.shape) if i != self._axis
        )
        self._num_classes = int(logits.shape[self._axis])
        # A temperature that keeps the class axis with size 1 (the torch.distributions
        # habit, (n, 1) for (n, K) logits) means one temperature per row: drop that axis, so it
        # never broadcasts against the rows of the result.
        if (not isinstance(tau, float) and not is_real_scalar(tau)
                and self._backend.matches(tau)):
            check_supported(tau, "tau", self._backend)  # before reading its shape
            if tau.ndim == logits.ndim and tau.shape[self._axis] == 1:
                tau = xp.squeeze(tau, axis=self._axis)
        self._tau = check_temperature(tau, self._backend, xp, self._validate_args, logits)
        if not isinstance(self._tau, float):
            logits = self._broadcast_logits(logits, tuple(self._tau.shape))
        self._logits = logits
        if self._validate_args:
            check_rows_valid(logits, self._axis, xp)

    def _broadcast_logits(self, logits: Array, tau_shape: tuple[int, ...]) -> Array:
        """Return ``logits`` broadcast to the batch shape of ``logits`` and ``tau`` together.

        The batch shape becomes the broadcast of both, as in torch.distributions and TFP; the
        class axis keeps its place counted from the end.
        """
        batch_shape = _broadcast_or_raise(tau_shape, self._batch_shape, "tau",
                                          "the batch shape of logits")
        if batch_shape == self._batch_shape:
            return logits
        at = len(batch_shape) + self._axis - logits.ndim + 1
        self._axis, self._batch_shape = at, batch_shape
        return self._xp.broadcast_to(
            logits, (*batch_shape[:at], self._num_classes, *batch_shape[at:]))

    # The class axis counted from the end: samples put sample_shape in front of it.
    @property
    def _event_axis(self) -> int:
        return self._axis - len(self._logits.shape)

    @property
    def logits(self) -> Array:
        """The logits, classes along :attr:`axis`, broadcast to :attr:`batch_shape`."""
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
        return self._quietly(lambda: self._output(_core.tempered_softmax(
            self._compute(self._logits), 1.0, self._axis, xp=self._xp,
            stop_gradient=self._backend.stop_gradient,
        )))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of :attr:`logits` without the class axis (an array ``tau`` broadcast in)."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``(K,)``, the number of classes; in a sample it lies at :attr:`axis`."""
        return (self._num_classes,)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(batch_shape={self._batch_shape}, "
                f"event_shape={self.event_shape}, axis={self._axis}, "
                f"tau={_temperature_repr(self._tau)})")

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
        self._check_value(value, "value")
        shape = tuple(int(d) for d in value.shape)
        axis = self._event_axis
        if len(shape) < -axis or shape[axis] != self._num_classes:
            raise ValueError(
                f"value must have the {self._num_classes} classes along axis {self._axis} of "
                f"the logits (axis {axis} from the end); got shape {shape}"
            )
        _broadcast_or_raise(shape, tuple(self._logits.shape), "value", "logits")
        return self._compute(value)

    def _simplex_tolerance(self, value_dtype: DType) -> float:
        """How far from 1 the sum of a point of the simplex may be, when it is validated."""
        return validation_tolerance(float(self._xp.finfo(value_dtype).eps),
                                    float(self._xp.finfo(self._compute_dtype).eps))

    def _finish_log_prob(self, log_p: Array, on_masked: Array) -> Array:
        """Return ``log_p`` without the class axis, in the dtype of the logits.

        ``on_masked`` says where a value puts mass on a masked class: such a value lies outside
        the support and gets ``-inf`` (a NaN of an invalid row stays NaN).
        """
        xp, axis = self._xp, self._event_axis
        outside = xp.logical_and(
            xp.any(on_masked, axis=axis, keepdims=True),
            xp.logical_not(xp.isnan(log_p)),
        )
        log_p = xp.where(outside, xp.full_like(log_p, -math.inf), log_p)
        return self._output(xp.squeeze(log_p, axis=axis))


class RelaxedOneHotCategorical(_RelaxedCategorical):
    """The Concrete (Gumbel-Softmax) distribution: ``softmax((logits + G) / tau)``.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: the class always gets exactly 0 and is dropped from
        the simplex of the density.
    tau : float or array
        Temperature, positive and finite: a real number (a NumPy scalar too), or an array that
        broadcasts against the shape of ``logits`` without ``axis``; the batch shape is the
        broadcast of both (as in torch.distributions and TensorFlow Probability), and
        :attr:`logits` is broadcast to it, the class axis keeping its place counted from the
        end. An array with the dimensions of ``logits`` and size 1 along ``axis`` (shape
        ``(n, 1)`` for ``(n, K)`` logits) is one temperature per row.
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
        return self._quietly(lambda: self._log_prob(x, value.dtype))

    def _log_prob(self, x: Array, value_dtype: DType) -> Array:
        xp, axis = self._xp, self._event_axis
        theta = self._compute(self._logits)
        masked = theta == -math.inf
        if self._validate_args:
            self._check_simplex(x, masked, self._simplex_tolerance(value_dtype))
        tiny = xp.asarray(xp.finfo(self._compute_dtype).smallest_normal,
                          dtype=self._compute_dtype, device=self._device)
        log_x = xp.log(xp.where(masked, xp.ones_like(x), xp.maximum(x, tiny)))
        log_q, _ = _exp_concrete_log_density(theta, log_x, self._temperature_with_axis(), axis,
                                             xp, self._backend.stop_gradient, self._device)
        log_p = log_q - xp.sum(xp.where(masked, xp.zeros_like(log_x), log_x), axis=axis,
                               keepdims=True)
        return self._finish_log_prob(log_p, xp.logical_and(masked, x > 0))

    def _check_simplex(self, x: Array, masked: Array, tolerance: float) -> None:
        xp, axis = self._xp, self._event_axis
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
        Temperature, positive and finite, as for :class:`RelaxedOneHotCategorical`: a real
        number, or an array whose shape broadcasts with that of ``logits`` without ``axis``
        into the batch shape; with size 1 along ``axis``, one temperature per row.
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
        return self._quietly(lambda: self._rsample(prepared))

    def _rsample(self, prepared: Prepared) -> Array:
        tau, _ = prepared.row_temperature(self._tau)
        z, _, _ = prepared.perturbed_logits()
        lowest = -float(self._xp.finfo(self._dtype).max)
        # The classes the logits mask: a -inf of z elsewhere is a difference that overflowed.
        masked = self._logits == -math.inf
        out = _tempered_log_softmax(z, masked, tau, prepared.out_axis, self._xp,
                                    self._backend.stop_gradient, lowest,
                                    self._backend.supports_autodiff)
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
        return self._quietly(lambda: self._log_prob(z, value.dtype))

    def _log_prob(self, z: Array, value_dtype: DType) -> Array:
        xp, axis = self._xp, self._event_axis
        theta = self._compute(self._logits)
        if self._validate_args:
            self._check_log_simplex(z, theta == -math.inf, self._simplex_tolerance(value_dtype))
        # An unmasked class at -inf: a vertex of the simplex, where the density's limit is 0
        # (its score theta - tau z would be +inf, and log q NaN).
        vertex = xp.logical_and(z == -math.inf, theta > -math.inf)
        z = xp.where(vertex, xp.zeros_like(z), z)
        log_q, masked = _exp_concrete_log_density(theta, z, self._temperature_with_axis(), axis,
                                                  xp, self._backend.stop_gradient, self._device)
        return self._finish_log_prob(
            log_q, xp.logical_or(xp.logical_and(masked, z > -math.inf), vertex))

    def _check_log_simplex(self, z: Array, masked: Array, tolerance: float) -> None:
        xp, axis = self._xp, self._event_axis
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
