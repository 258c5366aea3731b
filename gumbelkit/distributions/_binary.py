"""The binary Concrete: :class:`RelaxedBernoulli` on (0, 1) and :class:`LogitRelaxedBernoulli`.

Both draw ``T = (logits + L) / tau`` with ``L`` Logistic(0, 1), the logit of a binary Concrete
sample (docs/mathematics.md#binary-concrete); their log-densities rest on the stable logistic
log-density below.
"""

from __future__ import annotations

import math

from gumbelkit import _core
from gumbelkit._typing import Array, Namespace
from gumbelkit.distributions._math import _log, _pin_ends, _sigmoid
from gumbelkit.distributions._parameters import (
    _broadcast_or_raise,
    _catches_habits,
    _ElementwiseParameters,
    _require,
    _require_unit_interval,
    _temperature_repr,
    check_temperature,
)


def _logistic_log_density(t: Array, logits: Array, tau: float | Array, xp: Namespace) -> Array:
    """Return the log-density of Logistic(``logits / tau``, ``1 / tau``) at ``t``.

    With ``d = logits - tau t`` it is ``log tau + d - 2 softplus(d)``, evaluated as
    ``log tau - |d| - 2 log1p(exp(-|d|))`` (docs/mathematics.md#binary-concrete): ``log1p(exp(d))``
    would overflow for ``d`` above about 88 in float32 and return ``-inf`` where the value is
    about ``log tau - |d|``.
    """
    scaled = xp.multiply(tau, t)  # quietly on Dask too: its product may overflow
    # An infinite logit and its sample, held at the dtype's end, that a large tau scales to the
    # same infinity: the point lies at the boundary, where the density's limit is 0 (-inf, as
    # the sigmoid space gives), not inf - inf. d is made finite there first, so that no NaN
    # enters a gradient either.
    boundary = xp.logical_and(xp.isinf(logits), xp.isinf(scaled))
    boundary = xp.logical_and(boundary, (logits > 0) == (scaled > 0))
    d = xp.where(boundary, xp.zeros_like(scaled), xp.subtract(logits, scaled))
    a = xp.abs(d)
    log_f = _log(tau, xp) - a - 2.0 * xp.log1p(xp.exp(-a))
    return xp.where(boundary, xp.full_like(log_f, -math.inf), log_f)


@_catches_habits
class _RelaxedBinary(_ElementwiseParameters):
    """Shared parameters of the binary Concrete in sigmoid and in logit space."""

    _logits_of_probs = "log(probs) - log1p(-probs)"

    def __init__(self, logits: Array, tau: float | Array, *, validate_args: bool = False) -> None:
        super().__init__(logits, "logits", validate_args)
        self._tau = check_temperature(tau, self._backend, self._xp, self._validate_args, logits)
        if not isinstance(self._tau, float):
            # The batch shape is the broadcast of both, as in torch.distributions and TFP.
            batch_shape = _broadcast_or_raise(tuple(self._tau.shape), self._batch_shape, "tau",
                                              "logits")
            if batch_shape != self._batch_shape:
                logits = self._xp.broadcast_to(logits, batch_shape)
                self._batch_shape = batch_shape
        self._logits = logits
        if self._validate_args:
            self._require_finite(logits)

    @property
    def logits(self) -> Array:
        """``log alpha = logit p``, the log-odds of ``round(Y) = 1``, as :attr:`batch_shape`."""
        return self._logits

    @property
    def tau(self) -> float | Array:
        """The temperature: a float, or an array broadcasting to :attr:`batch_shape`."""
        return self._tau

    @property
    def probs(self) -> Array:
        """``sigmoid(logits) = P(Y > 1/2)``: the Bernoulli law that ``round(Y)`` follows."""
        return self._quietly(lambda: self._output(
            _sigmoid(self._compute(self._logits), self._xp)))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of :attr:`logits`: the broadcast of the logits' and an array ``tau``'s."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``()``: each value is a scalar."""
        return ()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(batch_shape={self._batch_shape}, "
                f"tau={_temperature_repr(self._tau)})")

    def _logit_sample(self, sample_shape: int | tuple[int, ...], rng: object) -> Array:
        """``T = (logits + L) / tau`` in the compute dtype, ``L`` Logistic(0, 1)."""
        noise = self._logistic_noise(sample_shape, rng)
        return _core.divide_by_temperature(
            self._compute(self._logits) + noise, self._compute_temperature(self._tau),
            xp=self._xp, stop_gradient=self._backend.stop_gradient,
            differentiable=self._backend.supports_autodiff)

    def _interior_logit(self, y: Array) -> tuple[Array, Array, Array]:
        """Return ``logit y``, ``log y`` and ``log(1 - y)`` at ``y`` moved inside (0, 1).

        ``y`` is checked to lie in [0, 1] where :attr:`validate_args` asks for it, then moved
        into ``[tiny, 1 - eps/2]``, the representable interior of (0, 1).
        """
        xp = self._xp
        if self._validate_args:
            _require_unit_interval(y, "value", xp)
        info = xp.finfo(self._compute_dtype)
        inner = xp.clip(y, float(info.smallest_normal), 1.0 - float(info.eps) / 2)
        log_y, log_1my = xp.log(inner), xp.log1p(-inner)
        return log_y - log_1my, log_y, log_1my


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
        Temperature, positive and finite: a real number (a NumPy scalar too), or an array that
        broadcasts against ``logits``; the batch shape is the broadcast of both (as in
        TensorFlow Probability), and :attr:`logits` is broadcast to it.
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
        return self._quietly(lambda: self._output(
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
        return self._quietly(lambda: self._log_prob(y))

    def _log_prob(self, y: Array) -> Array:
        t, log_y, log_1my = self._interior_logit(y)
        logits = self._compute(self._logits)
        log_f = _logistic_log_density(t, logits, self._compute_temperature(self._tau), self._xp)
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
        return self._quietly(lambda: self._cdf(y))

    def _cdf(self, y: Array) -> Array:
        xp = self._xp
        t, _, _ = self._interior_logit(y)
        logits = self._compute(self._logits)
        f = _sigmoid(self._compute_temperature(self._tau) * t - logits, xp)
        return self._output(_pin_ends(f, y <= 0, y >= 1, xp))

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
        return self._quietly(lambda: self._icdf(u))

    def _icdf(self, u: Array) -> Array:
        xp = self._xp
        t, _, _ = self._interior_logit(u)
        logits = self._compute(self._logits)
        y = _sigmoid(_core.divide_by_temperature(
            t + logits, self._compute_temperature(self._tau), xp=xp,
            stop_gradient=self._backend.stop_gradient,
            differentiable=self._backend.supports_autodiff), xp)
        y = _pin_ends(y, u <= 0, u >= 1, xp)
        outside = xp.logical_not(xp.logical_and(u >= 0, u <= 1))
        return self._output(xp.where(outside, xp.full_like(y, math.nan), y))


class LogitRelaxedBernoulli(_RelaxedBinary):
    """The binary Concrete in logit space: ``T = (logits + L) / tau`` ~ Logistic(logits/tau, 1/tau).

    ``sigmoid(T)`` is a :class:`RelaxedBernoulli` sample. ``T`` keeps the information that
    rounding ``Y`` to 0 or 1 loses, so densities of extreme samples stay exact here.

    Parameters
    ----------
    logits : array
        ``log alpha``, the log-odds, any shape; any real floating dtype.
    tau : float or array
        Temperature, positive and finite: a real number (a NumPy scalar too), or an array that
        broadcasts against ``logits``; the batch shape is the broadcast of both (as in
        TensorFlow Probability), and :attr:`logits` is broadcast to it.
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
            Real values, in the dtype of ``logits``. A sample beyond that dtype's finite range
            (a tiny ``tau``, or huge logits) is its largest finite value of the same sign.

        """
        return self._quietly(lambda: self._output(
            self._within_range(self._logit_sample(sample_shape, rng))))

    def _within_range(self, t: Array) -> Array:
        """Return ``t`` clamped to the finite range of the logits' dtype (NaN stays NaN).

        As :class:`ExpRelaxedOneHotCategorical` keeps its coordinates above the lowest finite
        value: the nearest value the dtype holds, so that a valid input never gives an
        infinite sample (whose log-density would be NaN).
        """
        largest = float(self._xp.finfo(self._dtype).max)
        return self._xp.clip(t, -largest, largest)

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
        return self._quietly(lambda: self._log_prob(t))

    def _log_prob(self, t: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            _require(xp.all(xp.isfinite(t)), "value",
                     "value must be finite (the support is the real line); got NaN or inf")
        logits = self._compute(self._logits)
        return self._output(_logistic_log_density(
            t, logits, self._compute_temperature(self._tau), xp))
