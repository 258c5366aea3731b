"""The Hard Concrete gate of L0 regularisation: a stretched and clipped binary Concrete.

Its law has atoms at 0 and 1 and a density between (docs/mathematics.md#hard-concrete): the
class has a CDF, the atoms' probabilities and the expected L0 penalty, no ``log_prob``.
"""

from __future__ import annotations

import math

from gumbelkit import _core
from gumbelkit._checks import check_real
from gumbelkit._typing import Array
from gumbelkit.distributions._math import _pin_ends, _sigmoid
from gumbelkit.distributions._parameters import (
    _catches_habits,
    _ElementwiseParameters,
    _require_unit_interval,
)


@_catches_habits
class HardConcrete(_ElementwiseParameters):
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

    _temperature_argument = "beta"
    _temperature_first = False

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
        largest = float(self._xp.finfo(self._compute_dtype).max)
        if not self._zeta - self._gamma <= largest:  # the stretch would be inf - inf
            raise ValueError(
                f"gamma and zeta must lie at most {largest:.4g} apart, the largest number of "
                f"the compute dtype; got gamma={self._gamma}, zeta={self._zeta}")
        # beta in [tiny, 1 / tiny] of the compute dtype, as the samplers clamp temperatures: a
        # smaller beta would round to 0 (a division by 0 in rsample), a larger one to inf
        # (inf * 0 at the centre of cdf).
        self._compute_beta = _core.representable_temperature(self._beta, self._xp,
                                                             self._compute_dtype)
        self._log_alpha = log_alpha
        if self._validate_args:
            self._require_finite(log_alpha)

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
        return self._quietly(lambda: self._rsample(sample_shape, rng))

    def _rsample(self, sample_shape: int | tuple[int, ...], rng: object) -> Array:
        noise = self._logistic_noise(sample_shape, rng)
        # The namespace's divide, which overflows to +-inf on purpose, quietly under Dask too
        # (as in _core.tempered_softmax).
        s = _sigmoid(self._xp.divide(self._compute(self._log_alpha) + noise, self._compute_beta),
                     self._xp)
        return self._output(self._stretch_and_clip(s))

    def _stretch_and_clip(self, s: Array) -> Array:
        """Return ``min(1, max(0, s (zeta - gamma) + gamma))``: ``s`` stretched, then clipped."""
        return self._xp.clip(s * (self._zeta - self._gamma) + self._gamma, 0.0, 1.0)

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
        return self._quietly(lambda: self._output(self._computed_sigmoid_of(shift, sign)))

    def _computed_sigmoid_of(self, shift: float, sign: float) -> Array:
        """``sigmoid(sign * log_alpha + shift)`` in the compute dtype."""
        return _sigmoid(sign * self._compute(self._log_alpha) + shift, self._xp)

    def _zero_shift(self) -> float:
        """``beta log(-gamma / zeta)``: ``P(z = 0) = sigmoid(shift - log_alpha)``.

        With the clamped ``beta``, so that the shift fits the compute dtype: beyond it, a Dask
        graph would warn of the overflow when it computes, outside any ``errstate`` of ours.
        """
        return self._compute_beta * math.log(-self._gamma / self._zeta)

    def prob_zero(self) -> Array:
        """Return ``P(z = 0) = sigmoid(beta log(-gamma / zeta) - log_alpha)``.

        Returns
        -------
        array
            The mass of the atom at 0, shape :attr:`batch_shape`.

        """
        return self._sigmoid_of(self._zero_shift(), -1.0)

    def prob_one(self) -> Array:
        """Return ``P(z = 1) = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))``.

        Returns
        -------
        array
            The mass of the atom at 1, shape :attr:`batch_shape`.

        """
        return self._sigmoid_of(
            -self._compute_beta * math.log((1.0 - self._gamma) / (self._zeta - 1.0)), 1.0)

    def l0_penalty(self) -> Array:
        """Return the expected L0 norm per gate, ``P(z != 0)``.

        ``P(z != 0) = sigmoid(log_alpha - beta log(-gamma / zeta))``. It is an expectation,
        smooth in ``log_alpha``: sum it over the gates for the L0 regulariser.

        Returns
        -------
        array
            ``1 - P(z = 0)``, shape :attr:`batch_shape`, differentiable in ``log_alpha``.

        """
        return self._sigmoid_of(-self._zero_shift(), 1.0)

    def deterministic_gate(self) -> Array:
        """Return the test-time gate ``min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))``.

        Returns
        -------
        array
            Gates in ``[0, 1]``, shape :attr:`batch_shape`.

        """
        return self._quietly(lambda: self._output(
            self._stretch_and_clip(_sigmoid(self._compute(self._log_alpha), self._xp))))

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
        x = self._value(value)
        return self._quietly(lambda: self._cdf(x))

    def _cdf(self, x: Array) -> Array:
        xp = self._xp
        if self._validate_args:
            _require_unit_interval(x, "value", xp, ", the support of the gate")
        inner = xp.clip(x, 0.0, 1.0)
        # logit((x - gamma) / (zeta - gamma)) = log(x - gamma) - log(zeta - x), both positive.
        t = xp.log(inner - self._gamma) - xp.log(self._zeta - inner)
        q = _sigmoid(xp.multiply(t, self._compute_beta) - self._compute(self._log_alpha), xp)
        # At 0 the atom's mass as prob_zero computes it: Q(0) by the formula above can round
        # an ulp away from it.
        q = xp.where(x == 0, self._computed_sigmoid_of(self._zero_shift(), -1.0), q)
        return self._output(_pin_ends(q, x < 0, x >= 1, xp))
