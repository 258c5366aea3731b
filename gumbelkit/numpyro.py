"""gumbelkit's relaxed distributions as NumPyro distributions, for JAX models.

``import gumbelkit.numpyro`` (it imports NumPyro; ``import gumbelkit`` does not). The classes
are ``numpyro.distributions.Distribution`` subclasses, reparameterised (``has_rsample`` is
true: ``reparametrized_params`` names every parameter), usable in ``numpyro.sample`` and SVI,
and safe under ``jax.jit`` and ``jax.vmap``: they are pytrees of their parameters, and
``sample(key, sample_shape)`` passes the key to the core as its ``rng``. Every sample and
log-density is computed by :mod:`gumbelkit.distributions`.

The constructors are ``(temperature, probs=None, logits=None, *, validate_args=None)``. A
temperature is a float or an array with one temperature per row: it broadcasts against the
batch shape, and a trailing class axis of size 1 (``(n, 1)`` for ``(n, K)`` logits) is dropped.
A zero probability gives a ``-inf`` logit, a class that is never drawn.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.util import lazy_property, validate_sample

from gumbelkit import distributions as core

__all__ = [
    "ExpRelaxedCategorical",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
]


def _floating(x: Any) -> jax.Array:
    """Return ``x`` as a JAX array of a floating dtype (JAX's default for integers)."""
    array = jnp.asarray(x)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array


def _choose(probs: Any, logits: Any) -> None:
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


class _Relaxed(Distribution):
    """The shared parameters: ``temperature`` and ``logits``, the core built per call."""

    reparametrized_params = ["temperature", "logits"]  # noqa: RUF012 (NumPyro's attribute)
    pytree_data_fields = ("temperature", "logits")
    _core_class: Any
    temperature: jax.Array
    logits: jax.Array

    def _core(self) -> Any:
        # Built from the parameters on every call: after jax.jit or jax.vmap flattens and
        # rebuilds the distribution, only its pytree fields are there.
        return self._core_class(self.logits, self.temperature)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Draw a reparameterised sample, differentiable in the parameters.

        Parameters
        ----------
        key : jax.Array
            A JAX PRNG key, the core's ``rng``.
        sample_shape : tuple of int, optional
            Independent samples per batch entry; the result has shape
            ``sample_shape + batch_shape + event_shape``.

        Returns
        -------
        jax.Array
            The sample, computed by the :mod:`gumbelkit.distributions` object.

        """
        sample: jax.Array = self._core().rsample(tuple(sample_shape), rng=key)
        return sample

    @validate_sample
    def log_prob(self, value: jax.Array) -> jax.Array:
        """Return the log-density of ``value``, computed by the core object.

        Parameters
        ----------
        value : jax.Array
            Points of the support, broadcasting against ``batch_shape + event_shape``.

        Returns
        -------
        jax.Array
            The log-density, shape ``broadcast(value, batch_shape + event_shape)`` without the
            event dimensions.

        """
        log_p: jax.Array = self._core().log_prob(value)
        return log_p


class _Categorical(_Relaxed):
    arg_constraints = {  # noqa: RUF012 (NumPyro's attribute)
        "temperature": constraints.positive,
        "logits": constraints.real_vector,
    }
    _core_class: Any = core.RelaxedOneHotCategorical

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None, *,
                 validate_args: bool | None = None) -> None:
        _choose(probs, logits)
        if probs is not None:
            probs = _floating(probs)
            logits = jnp.log(probs / jnp.sum(probs, axis=-1, keepdims=True))
        logits = _floating(logits)
        if logits.ndim < 1:
            raise ValueError("logits must be at least one-dimensional (the class axis)")
        tau = jnp.asarray(temperature, dtype=logits.dtype)
        if tau.ndim == logits.ndim and tau.shape[-1] == 1:
            tau = jnp.squeeze(tau, axis=-1)
        batch_shape = jnp.broadcast_shapes(logits.shape[:-1], tau.shape)
        self.logits = jnp.broadcast_to(logits, batch_shape + logits.shape[-1:])
        self.temperature = jnp.broadcast_to(tau, batch_shape)
        super().__init__(batch_shape, logits.shape[-1:], validate_args=validate_args)

    @lazy_property
    def probs(self) -> jax.Array:
        """Return the class probabilities ``softmax(logits)``, the law of a sample's argmax."""
        probs: jax.Array = self._core().probs
        return probs


class RelaxedOneHotCategorical(_Categorical):
    """The Concrete (Gumbel-Softmax) as a NumPyro distribution, on the simplex.

    Samples are ``softmax((logits + G) / temperature)``, from
    :class:`gumbelkit.distributions.RelaxedOneHotCategorical`; ``log_prob`` is its density on
    the simplex.

    Parameters
    ----------
    temperature : float or jax.Array
        Positive and finite; one temperature per row as an array.
    probs : jax.Array, optional
        Class probabilities along the last axis, normalised here; exclusive with ``logits``.
    logits : jax.Array, optional
        Unnormalised log-probabilities along the last axis; a ``-inf`` masks its class.
    validate_args : bool, optional
        Check the parameters, and mark values outside the simplex with ``-inf``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gumbelkit.numpyro import RelaxedOneHotCategorical
    >>> d = RelaxedOneHotCategorical(0.5, logits=jnp.zeros((2, 3)))
    >>> y = d.sample(jax.random.PRNGKey(0), (4,))
    >>> y.shape, d.log_prob(y).shape
    ((4, 2, 3), (4, 2))

    """

    support = constraints.simplex


class ExpRelaxedCategorical(_Categorical):
    """The ExpConcrete as a NumPyro distribution: the Concrete's logarithm.

    Samples are ``log_softmax((logits + G) / temperature)``, finite at temperatures where the
    Concrete's coordinates underflow, from
    :class:`gumbelkit.distributions.ExpRelaxedOneHotCategorical`. ``log_prob`` is the
    torch.distributions form ``log q(z)``, a density with respect to
    ``exp(-z_K) dz_1..dz_{K-1}`` (docs/mathematics.md#the-base-measure).

    Parameters
    ----------
    temperature : float or jax.Array
        Positive and finite; one temperature per row as an array.
    probs : jax.Array, optional
        Class probabilities along the last axis; exclusive with ``logits``.
    logits : jax.Array, optional
        Unnormalised log-probabilities along the last axis.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gumbelkit.numpyro import ExpRelaxedCategorical
    >>> d = ExpRelaxedCategorical(1e-3, logits=jnp.zeros(3))
    >>> z = d.sample(jax.random.PRNGKey(0))
    >>> bool(jnp.isfinite(d.log_prob(z)))
    True

    """

    support = constraints.real_vector
    _core_class = core.ExpRelaxedOneHotCategorical


class _Binary(_Relaxed):
    arg_constraints = {  # noqa: RUF012 (NumPyro's attribute)
        "temperature": constraints.positive,
        "logits": constraints.real,
    }
    _core_class: Any = core.RelaxedBernoulli

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None, *,
                 validate_args: bool | None = None) -> None:
        _choose(probs, logits)
        if probs is not None:
            probs = _floating(probs)
            # The binary Concrete needs finite logits: probabilities of 0 or 1 are clamped.
            eps = float(np.finfo(probs.dtype).eps)
            probs = jnp.clip(probs, eps, 1.0 - eps)
            logits = jnp.log(probs) - jnp.log1p(-probs)
        logits = _floating(logits)
        tau = jnp.asarray(temperature, dtype=logits.dtype)
        batch_shape = jnp.broadcast_shapes(logits.shape, tau.shape)
        self.logits = jnp.broadcast_to(logits, batch_shape)
        self.temperature = jnp.broadcast_to(tau, batch_shape)
        super().__init__(batch_shape, (), validate_args=validate_args)

    @lazy_property
    def probs(self) -> jax.Array:
        """Return ``sigmoid(logits)``, the Bernoulli law of the rounded sample."""
        probs: jax.Array = self._core().probs
        return probs


class RelaxedBernoulli(_Binary):
    """The binary Concrete as a NumPyro distribution: ``sigmoid((logits + L) / temperature)``.

    From :class:`gumbelkit.distributions.RelaxedBernoulli`: the log-density on ``(0, 1)``
    stays finite for logits of +-100.

    Parameters
    ----------
    temperature : float or jax.Array
        Positive and finite, broadcasting against the logits.
    probs : jax.Array, optional
        ``P(Y > 1/2)``, clamped to ``[eps, 1 - eps]``; exclusive with ``logits``.
    logits : jax.Array, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from gumbelkit.numpyro import RelaxedBernoulli
    >>> d = RelaxedBernoulli(0.5, logits=jnp.array([-100.0, 100.0]))
    >>> [round(float(v), 4) for v in d.log_prob(jnp.array([0.5, 0.5]))]
    [-99.3069, -99.3069]

    """

    support = constraints.unit_interval


class LogitRelaxedBernoulli(_Binary):
    """The binary Concrete in logit space as a NumPyro distribution.

    Samples are ``(logits + L) / temperature``, ``L`` logistic, from
    :class:`gumbelkit.distributions.LogitRelaxedBernoulli`; the log-density on the real line
    is finite for any finite logits.

    Parameters
    ----------
    temperature : float or jax.Array
        Positive and finite, broadcasting against the logits.
    probs : jax.Array, optional
        ``P(round(Y) = 1)``, clamped to ``[eps, 1 - eps]``; exclusive with ``logits``.
    logits : jax.Array, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to ``log_prob``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gumbelkit.numpyro import LogitRelaxedBernoulli
    >>> d = LogitRelaxedBernoulli(0.5, logits=jnp.zeros(3))
    >>> d.sample(jax.random.PRNGKey(0), (2,)).shape
    (2, 3)

    """

    support = constraints.real
    _core_class = core.LogitRelaxedBernoulli
