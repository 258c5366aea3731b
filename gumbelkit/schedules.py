"""Temperature schedules for Gumbel-Softmax training (docs/mathematics.md#temperature-annealing).

A schedule is host-side scalar logic: call it with the training step and pass the float it
returns as ``tau``. No array library is involved, so it works in any training loop, and a
changing Python float never retraces a ``jax.jit`` function that takes ``tau`` as an argument.

This module imports only the standard library and ``gumbelkit._core`` (for reading a number),
no array library.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

from gumbelkit._core import real_as_float

__all__ = ["CosineAnnealing", "ExponentialAnnealing", "LinearAnnealing"]


def _positive_finite(value: object, argument: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{argument} must be a real number; got {type(value).__name__}")
    number = real_as_float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{argument} must be a positive finite number; got {number}")
    return number


def _times(rate: float, count: int) -> float:
    """``rate * count`` for a non-negative ``count`` of any size (a huge int overflows float)."""
    try:
        return rate * count
    except OverflowError:
        return real_as_float(Fraction(rate) * count)


def _integer(value: object, argument: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{argument} must be an int; got {type(value).__name__}")
    return int(value)


@dataclass(frozen=True)
class ExponentialAnnealing:
    """Exponential temperature annealing, refreshed every ``interval`` steps (Jang et al. 2016).

    ``tau(t) = max(tau_min, tau0 * exp(-rate * u(t)))``, where ``u(t)`` is the last refresh step
    at or before ``t``. Refreshes happen at the steps ``t = offset (mod interval)``, so with the
    default ``offset = 0``, ``u(t) = interval * floor(t / interval)``
    (docs/mathematics.md#temperature-annealing); before the first refresh (``t < offset``)
    the temperature is ``tau0``. The floor ``tau_min`` is
    reached at the first refresh at or after :attr:`floor_step`,
    ``t* = log(tau0 / tau_min) / rate``.

    Parameters
    ----------
    tau0 : float, optional
        The initial temperature, positive and finite.
    rate : float, optional
        The annealing rate ``r`` per step, non-negative and finite (0 keeps ``tau0``). The paper
        uses 1e-5 or 1e-4; its public notebook 3e-5.
    tau_min : float, optional
        The floor, positive, finite and at most ``tau0``; 0.5 in the paper.
    interval : int, optional
        Steps between refreshes ``N``, at least 1 (1 anneals at every step); 500 or 1000 in
        the paper.
    offset : int, optional
        The step of the first refresh, in ``[0, interval)``. The public notebook
        (ericjang/gumbel-softmax, Categorical VAE) refreshes after steps ``1, N + 1, 2N + 1``
        with ``exp(-rate * t)``: ``offset=1`` reproduces its temperature after each step
        ``t`` exactly, the one it uses in step ``t + 1``.

    Examples
    --------
    >>> from gumbelkit.schedules import ExponentialAnnealing
    >>> schedule = ExponentialAnnealing(tau0=1.0, rate=3e-5, tau_min=0.5, interval=1000)
    >>> schedule(0), schedule(999)
    (1.0, 1.0)
    >>> round(schedule(1000), 6)
    0.970446
    >>> schedule(10**6)
    0.5

    """

    tau0: float = 1.0
    rate: float = 3e-5
    tau_min: float = 0.5
    interval: int = 1000
    offset: int = 0

    def __post_init__(self) -> None:
        tau0 = _positive_finite(self.tau0, "tau0")
        tau_min = _positive_finite(self.tau_min, "tau_min")
        if tau_min > tau0:
            raise ValueError(f"tau_min must be at most tau0; got tau_min={tau_min} > tau0={tau0}")
        if not isinstance(self.rate, numbers.Real) or isinstance(self.rate, bool):
            raise TypeError(f"rate must be a real number; got {type(self.rate).__name__}")
        rate = real_as_float(self.rate)
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"rate must be a non-negative finite number; got {rate}")
        interval = _integer(self.interval, "interval")
        if interval < 1:
            raise ValueError(f"interval must be at least 1; got {interval}")
        offset = _integer(self.offset, "offset")
        if not 0 <= offset < interval:
            raise ValueError(f"offset must lie in [0, interval) = [0, {interval}); got {offset}")
        for name, value in (("tau0", tau0), ("tau_min", tau_min), ("rate", rate),
                            ("interval", interval), ("offset", offset)):
            object.__setattr__(self, name, value)

    @property
    def floor_step(self) -> float:
        """``log(tau0 / tau_min) / rate``: where ``tau0 exp(-rate t)`` meets ``tau_min``.

        ``inf`` for ``rate = 0`` with ``tau_min < tau0`` (the floor is never reached), 0 when
        ``tau_min = tau0``.
        """
        ratio = self.tau0 / self.tau_min
        # Past the float range (tau0 = 1e308, tau_min = 1e-308) the logarithms still are finite.
        if math.isfinite(ratio):
            gap = math.log(ratio)
        else:
            gap = math.log(self.tau0) - math.log(self.tau_min)
        if gap == 0:
            return 0.0
        return math.inf if self.rate == 0 else gap / self.rate

    def refresh_step(self, step: int) -> int:
        """Return the last refresh step at or before ``step``, or 0 before the first refresh.

        Parameters
        ----------
        step : int
            The training step, at least 0.

        Returns
        -------
        int
            ``interval * floor((step - offset) / interval) + offset`` for ``step >= offset``.

        """
        step = _integer(step, "step")
        if step < 0:
            raise ValueError(f"step must be non-negative; got {step}")
        if step < self.offset:
            return 0
        return self.interval * ((step - self.offset) // self.interval) + self.offset

    def __call__(self, step: int) -> float:
        """Return the temperature at ``step``.

        Parameters
        ----------
        step : int
            The training step, at least 0 (a Python or NumPy integer).

        Returns
        -------
        float
            ``max(tau_min, tau0 * exp(-rate * refresh_step(step)))``: exactly ``tau_min`` from
            the first refresh at or after :attr:`floor_step` on.

        """
        refresh = self.refresh_step(step)
        if refresh >= self.floor_step:  # also keeps a huge step out of float arithmetic
            return self.tau_min
        if self.rate == 0:
            return self.tau0
        exponent = _times(self.rate, refresh)
        # exp(-exponent) alone underflows past ~708 while tau0 * exp(-exponent) may not.
        if exponent < 700:
            value = self.tau0 * math.exp(-exponent)
        else:
            value = math.exp(math.log(self.tau0) - exponent)
        return min(self.tau0, max(self.tau_min, value))


@dataclass(frozen=True)
class _Falling:
    """The parameters of a schedule that falls from ``tau0`` to ``tau_min`` in ``steps`` steps."""

    tau0: float = 1.0
    tau_min: float = 0.5
    steps: int = 10_000

    def __post_init__(self) -> None:
        tau0 = _positive_finite(self.tau0, "tau0")
        tau_min = _positive_finite(self.tau_min, "tau_min")
        if tau_min > tau0:
            raise ValueError(f"tau_min must be at most tau0; got tau_min={tau_min} > tau0={tau0}")
        steps = _integer(self.steps, "steps")
        if steps < 1:
            raise ValueError(f"steps must be at least 1; got {steps}")
        for name, value in (("tau0", tau0), ("tau_min", tau_min), ("steps", steps)):
            object.__setattr__(self, name, value)

    def _progress(self, step: int) -> float:
        """Return ``min(step, steps) / steps`` for a non-negative ``step``."""
        step = _integer(step, "step")
        if step < 0:
            raise ValueError(f"step must be non-negative; got {step}")
        return min(step, self.steps) / self.steps

    def _clamp(self, progress: float, value: float) -> float:
        """Return the exact endpoints at ``progress`` 0 and 1, else ``value`` within them.

        Rounding can put the closed form a little outside ``[tau_min, tau0]`` (down to 0 when
        ``tau_min`` is below the rounding error of ``tau0``); clamping is monotone, so the
        schedule still never rises.
        """
        if progress >= 1.0:
            return self.tau_min
        if progress <= 0.0:
            return self.tau0
        return min(self.tau0, max(self.tau_min, value))


@dataclass(frozen=True)
class LinearAnnealing(_Falling):
    """Linear temperature annealing from ``tau0`` to ``tau_min`` over ``steps`` steps.

    ``tau(t) = tau0 + (tau_min - tau0) min(t, steps) / steps``: the temperature of PyTorch's
    ``LinearLR`` with ``start_factor=1`` and ``end_factor=tau_min / tau0`` over
    ``total_iters=steps``, as a function of the step.

    Parameters
    ----------
    tau0 : float, optional
        The initial temperature, positive and finite.
    tau_min : float, optional
        The final temperature, positive, finite and at most ``tau0``; held after ``steps``.
    steps : int, optional
        The number of steps of the fall, at least 1.

    Examples
    --------
    >>> from gumbelkit.schedules import LinearAnnealing
    >>> schedule = LinearAnnealing(tau0=1.0, tau_min=0.5, steps=1000)
    >>> schedule(0), schedule(500), schedule(1000), schedule(5000)
    (1.0, 0.75, 0.5, 0.5)

    """

    def __call__(self, step: int) -> float:
        """Return the temperature at ``step``.

        Parameters
        ----------
        step : int
            The training step, at least 0 (a Python or NumPy integer).

        Returns
        -------
        float
            ``tau0 + (tau_min - tau0) min(step, steps) / steps``.

        """
        progress = self._progress(step)
        return self._clamp(progress, self.tau0 + (self.tau_min - self.tau0) * progress)


@dataclass(frozen=True)
class CosineAnnealing(_Falling):
    """Cosine temperature annealing from ``tau0`` to ``tau_min`` over ``steps`` steps.

    ``tau(t) = tau_min + (tau0 - tau_min) (1 + cos(pi min(t, steps) / steps)) / 2``: the
    temperature of PyTorch's ``CosineAnnealingLR`` with ``eta_min=tau_min`` over
    ``T_max=steps``, held at ``tau_min`` afterwards instead of rising again.

    Parameters
    ----------
    tau0 : float, optional
        The initial temperature, positive and finite.
    tau_min : float, optional
        The final temperature, positive, finite and at most ``tau0``; held after ``steps``.
    steps : int, optional
        The number of steps of the fall, at least 1.

    Examples
    --------
    >>> from gumbelkit.schedules import CosineAnnealing
    >>> schedule = CosineAnnealing(tau0=1.0, tau_min=0.5, steps=1000)
    >>> schedule(0), schedule(500), schedule(1000), schedule(5000)
    (1.0, 0.75, 0.5, 0.5)

    """

    def __call__(self, step: int) -> float:
        """Return the temperature at ``step``.

        Parameters
        ----------
        step : int
            The training step, at least 0 (a Python or NumPy integer).

        Returns
        -------
        float
            ``tau_min + (tau0 - tau_min) (1 + cos(pi min(step, steps) / steps)) / 2``.

        """
        progress = self._progress(step)
        # Halving before scaling keeps (tau0 - tau_min) * 2 from overflowing for a huge tau0.
        weight = (1.0 + math.cos(math.pi * progress)) / 2.0
        return self._clamp(progress, self.tau_min + (self.tau0 - self.tau_min) * weight)
