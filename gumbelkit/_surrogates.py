"""The surrogates of the hard-sample gradient estimators (docs/mathematics.md#gradient-estimators).

A hard sample is ``D + (s - stop_gradient(s))``: its value is exactly the one-hot ``D`` for any
finite ``s``, and its vector-Jacobian product is that of the surrogate ``s``. The estimators
differ only in ``s``. Each surrogate is written once against the array API, with the
backend's ``stop_gradient``; the shapes broadcast, so ``theta`` (the logits in the compute
dtype) may lack the sample dimensions of ``D``. A row with a NaN, a ``+inf`` or no finite logit,
or a NaN temperature, gives a NaN surrogate row, so the hard sample's row is NaN as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import check_shape
from gumbelkit._noise import conditional_noise
from gumbelkit._prepared import Prepared
from gumbelkit._typing import Array, Namespace
from gumbelkit.estimators import Estimator, Gapped, GumbelRao

StopGradient = Callable[[Array], Array]

__all__ = [
    "GST_P_SHRINK",
    "gapped_surrogate",
    "plain_surrogate",
    "rao_surrogate",
    "reinmax_surrogate",
    "surrogate",
]

GST_P_SHRINK = 1.0 - 1e-5
"""GST-p shrinks the sampled class's probability by this factor, so that ``1 - p`` > 0."""


def plain_surrogate(
    theta: Array, tau: float | Array, axis: int, *, xp: Namespace, stop_gradient: StopGradient
) -> Array:
    """Plain straight-through: ``softmax(theta / tau)``, the probabilities without noise.

    Backward: ``(1/tau) J(softmax(theta / tau)) g``.
    """
    return _core.tempered_softmax(theta, tau, axis, xp=xp, stop_gradient=stop_gradient)


def reinmax_surrogate(
    theta: Array,
    one_hot: Array,
    tau: float | Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: StopGradient,
) -> Array:
    """ReinMax: ``2 softmax(theta + sg(log pi1 - theta)) - softmax(theta) / 2``.

    ``pi1 = sg((D + softmax(theta / tau)) / 2)``. The first softmax has the value ``pi1`` and
    the Jacobian ``J(pi1)``, so the backward is ``2 J(pi1) g - J(pi0) g / 2`` with
    ``pi0 = softmax(theta)``: no ``1/tau`` factor, and ``tau`` enters only through ``pi1``.
    A masked slot would compute ``-inf - (-inf)``; it gets a shift of 0 instead (its
    probability is 0 either way).
    """
    pi0 = _core.tempered_softmax(theta, 1.0, axis, xp=xp, stop_gradient=stop_gradient)
    pi_tau = _core.tempered_softmax(theta, tau, axis, xp=xp, stop_gradient=stop_gradient)
    pi1 = stop_gradient((one_hot + pi_tau) / 2)
    log_ratio = xp.log(pi1) - theta
    shift = stop_gradient(xp.where(theta == -math.inf, xp.zeros_like(log_ratio), log_ratio))
    pi1_surrogate = _core.tempered_softmax(
        theta + shift, 1.0, axis, xp=xp, stop_gradient=stop_gradient
    )
    return 2 * pi1_surrogate - pi0 / 2


def gapped_surrogate(
    theta: Array,
    one_hot: Array,
    tau: float | Array,
    axis: int,
    gap: float | str,
    *,
    xp: Namespace,
    stop_gradient: StopGradient,
) -> Array:
    """Gapped straight-through: ``softmax((theta + sg(gapped - theta)) / tau)``.

    With ``m`` the largest fixed logit and ``i`` the sampled class, the gapped logits are
    ``gapped_i = theta_m`` and ``gapped_j = min(theta_j, theta_m - delta)``: the sampled class
    leads by at least ``delta``. ``gap`` is ``delta``, or ``"p"`` for GST-p's
    ``delta = -log(1 - p) / p``, ``p = pi_i (1 - 1e-5)``. Backward:
    ``(1/tau) J(softmax(gapped / tau)) g``.
    """
    fixed = stop_gradient(theta)
    top = xp.max(fixed, axis=axis, keepdims=True)
    sampled = one_hot > 0
    zero = xp.zeros_like(one_hot)
    if gap == "p":
        pi = _core.tempered_softmax(fixed, 1.0, axis, xp=xp, stop_gradient=stop_gradient)
        p = xp.sum(xp.where(sampled, pi, zero), axis=axis, keepdims=True) * GST_P_SHRINK
        # A sampled class whose probability underflowed to 0 gets the limit delta = 1.
        p = xp.clip(p, min=float(xp.finfo(p.dtype).smallest_normal))
        delta: float | Array = -xp.log1p(-p) / p
    else:
        delta = float(gap)
    gapped = xp.where(sampled, top, xp.minimum(fixed, top - delta))
    # A masked slot stays -inf and gets a shift of 0, not -inf - (-inf).
    moved = gapped - fixed
    shift = xp.where(fixed == -math.inf, xp.zeros_like(moved), moved)
    return _core.tempered_softmax(
        theta + stop_gradient(shift), tau, axis, xp=xp, stop_gradient=stop_gradient
    )


def rao_surrogate(
    theta: Array,
    noises: Array,
    tau: float | Array,
    axis: int,
    *,
    xp: Namespace,
    stop_gradient: StopGradient,
) -> Array:
    """Gumbel-Rao: ``mean_m softmax((theta + G_m) / tau)`` over the leading axis of ``noises``.

    The ``G_m`` are draws of the noise conditioned on the sample, detached: the backward is
    ``(1/tau) mean_m J(Y_m) g``, a Monte Carlo estimate of straight-through Gumbel-Softmax's
    backward averaged over the noise given ``D``.
    """
    soft = _core.tempered_softmax(
        theta + stop_gradient(noises), tau, axis, xp=xp, stop_gradient=stop_gradient
    )
    return xp.mean(soft, axis=0)


def surrogate(
    prepared: Prepared,
    estimator: Estimator,
    z: Array,
    one_hot: Array,
    tau: float | Array,
    source: Any,
    *,
    z_owned: bool = False,
) -> Array:
    """Return the surrogate ``s`` of ``estimator`` for the hard sample ``one_hot``.

    ``z`` is the perturbed logits ``logits + G`` in the compute dtype, ``one_hot`` its
    one-hot argmax and ``tau`` the temperature as ``Prepared.row_temperature`` returns it.
    ``z_owned`` says that ``z`` is gumbelkit's own buffer, which the backend's
    ``tempered_softmax_`` may then use (and overwrite): see ``Prepared.tempered_softmax``.
    Gumbel-Rao draws its conditional noise from ``source``, the source the sample's noise
    came from advanced past that draw; where the noise was given (``source`` is None), from
    a source made of ``rng``.
    """
    xp, backend, axis = prepared.xp, prepared.backend, prepared.out_axis
    stop_gradient = backend.stop_gradient
    if estimator == "st":
        return prepared.tempered_softmax(z, tau, z_owned)
    # Rows far from 0 start from their maximum, as the sample's race did: the surrogates do
    # not change, but softmax(theta) at 2**52 in float64 (2**20 in float32) was rounded at
    # that magnitude and moved the gradients by up to 10%.
    theta = prepared.near_zero_logits()
    if estimator == "st-probs":
        return plain_surrogate(theta, tau, axis, xp=xp, stop_gradient=stop_gradient)
    if estimator == "reinmax":
        return reinmax_surrogate(theta, one_hot, tau, axis, xp=xp, stop_gradient=stop_gradient)
    if isinstance(estimator, Gapped):
        return gapped_surrogate(
            theta, one_hot, tau, axis, estimator.gap, xp=xp, stop_gradient=stop_gradient
        )
    if isinstance(estimator, GumbelRao):
        if source is None:
            try:
                source = prepared.new_source()
            except TypeError as error:
                if prepared.rng is not None:  # a bad rng: its own message says it all
                    raise
                # JAX: no global generator for its conditional noise.
                raise TypeError(f"{error}. Gumbel-Rao draws its conditional noise also where "
                                "noise is given: pass rng with it") from None
        noises, _ = conditional_noise(
            theta,
            xp.argmax(z, axis=axis),
            axis,
            # Refused here, before any draw, where samples * the output reach 2**63 values.
            check_shape((estimator.samples,), "GumbelRao.samples", beside=prepared.out_shape,
                        beside_name="the output")
            + prepared.out_shape,
            backend=backend,
            xp=xp,
            source=source,
            device=prepared.device,
        )
        return rao_surrogate(theta, noises, tau, axis, xp=xp, stop_gradient=stop_gradient)
    raise ValueError(f"estimator {estimator!r} is not supported")  # check_estimator stops it
