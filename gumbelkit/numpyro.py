"""gumbelkit's relaxed distributions as NumPyro distributions, for JAX models.

``import gumbelkit.numpyro`` (it imports NumPyro; ``import gumbelkit`` does not). The classes
are ``numpyro.distributions.Distribution`` subclasses, reparameterised (``has_rsample`` is
true: ``reparametrized_params`` names every parameter), usable in ``numpyro.sample`` and SVI,
and safe under ``jax.jit`` and ``jax.vmap``: they are pytrees of their parameters, and
``sample(key, sample_shape)`` passes the key to the core as its ``rng``. Every sample and
log-density is computed by :mod:`gumbelkit.distributions`, except the straight-through sample,
which :func:`gumbelkit.gumbel_softmax` computes (soft and hard, from one draw of noise).

The constructors of the relaxed laws are ``(temperature, probs=None, logits=None, *,
validate_args=None)``. A temperature is a float or an array with one temperature per row: one
that broadcasts against the logits as in ``(logits + G) / temperature``, with size 1 along the
class axis (``(n, 1)`` for ``(n, K)`` or ``(B, n, K)`` logits), or one in the batch shape's form
(``(n,)`` for ``(n, K)``); a temperature per class raises ``ValueError``. A zero probability
gives a ``-inf`` logit, a class that is never drawn.
:class:`RelaxedOneHotCategoricalStraightThrough` adds a keyword-only ``estimator``;
:class:`HardConcrete` is ``(log_alpha, beta=2/3, gamma=-0.1, zeta=1.1, *,
validate_args=None)``, as in :mod:`gumbelkit.torch.distributions`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.transforms import ParameterFreeTransform, biject_to
from numpyro.distributions.util import lazy_property, validate_sample

import gumbelkit
from gumbelkit import _core
from gumbelkit import distributions as core
from gumbelkit._checks import (
    broadcast_shapes,
    check_estimator,
    check_real,
    framework_row_temperature,
    is_real_scalar,
    type_name,
)
from gumbelkit._core import log_or_minus_inf
from gumbelkit.backends import resolved_for
from gumbelkit.distributions._parameters import (
    check_temperature,
    clamped_temperature,
    simplex_tolerance,
    validation_tolerance,
)
from gumbelkit.estimators import Estimator, GumbelRao

__all__ = [
    "ExpRelaxedCategorical",
    "HardConcrete",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "RelaxedOneHotCategoricalStraightThrough",
]


def _floating(x: Any) -> jax.Array:
    """Return ``x`` as a JAX array of a floating dtype (JAX's default for integers)."""
    array = jnp.asarray(x)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array


def _temperature(temperature: Any, logits: jax.Array) -> jax.Array:
    """Return the temperature as a JAX array in the compute dtype of ``logits``, or raise.

    A real number must be positive and finite; an array (JAX, NumPy, a list) is read for that
    where reading is free (not under a trace), as the core reads it, before any cast (which
    could round a valid temperature to 0 or inf); errors name ``temperature``. The result is
    in the logits' compute dtype (float32 for half precision), clamped to ``[tiny, 1 / tiny]``
    of it as the samplers clamp a temperature; an invalid entry under a trace becomes NaN.
    """
    compute = _core.compute_dtype(logits.dtype, jnp)
    if is_real_scalar(temperature):  # not a bool
        value = check_real(temperature, "temperature", positive=True)
        return jnp.asarray(_core.representable_temperature(value, jnp, compute), dtype=compute)
    if not isinstance(temperature, (jax.Array, np.ndarray, np.generic, list, tuple)):
        raise TypeError(f"temperature must be a positive number or an array; got "
                        f"{type_name(temperature)} {temperature!r}")
    tau = jnp.asarray(temperature)
    if tau.dtype == jnp.bool_:  # np.True_, a boolean array: flags, not numbers
        raise TypeError(f"temperature must be a positive number or an array; got a boolean "
                        f"{type_name(temperature)}")
    if not jnp.issubdtype(tau.dtype, jnp.floating):
        tau = tau.astype(compute)
    backend = resolved_for(tau, argument="temperature")
    xp = backend.namespace(tau)
    check_temperature(tau, backend, xp, False, logits, "temperature")
    clamped: jax.Array = clamped_temperature(tau, backend, xp, compute)
    return clamped


class _MaskableLogits(constraints.ParameterFreeConstraint):
    """Logit vectors: entries real or ``-inf`` (a masked class), at least one of them finite.

    NumPyro's ``real_vector`` refuses ``-inf``, which masks a class here; this is the logits'
    constraint. ``biject_to`` maps onto it as onto ``real_vector`` (registered below). A
    parameter-free constraint: NumPyro's base flattens it as a pytree with no leaves and
    compares it by type.
    """

    event_dim = 1

    def __call__(self, x: Any) -> Any:
        entries = jnp.logical_and(x == x, x != jnp.inf)  # no NaN, no +inf
        return jnp.logical_and(jnp.all(entries, axis=-1), jnp.any(x > -jnp.inf, axis=-1))

    def feasible_like(self, prototype: Any) -> Any:
        return jnp.zeros_like(prototype)

    def __repr__(self) -> str:
        return "MaskableLogits()"


_maskable_logits = _MaskableLogits()
biject_to.register(_MaskableLogits, lambda constraint: biject_to(constraints.real_vector))


class _Simplex(constraints.ParameterFreeConstraint):
    """The simplex to the rounding of the value's dtype: NumPyro's, which float16 misses.

    NumPyro's ``simplex`` asks ``|sum - 1| < 1e-6`` of a sum in the value's dtype, which a
    float16 or bfloat16 sample (each entry rounded to that dtype, the sum too) can never meet
    unless the sum is exactly 1. Here the sum is taken in float32 or wider and may miss 1 by
    the core's ``simplex_tolerance`` of the value's dtype;
    ``biject_to`` maps onto it as onto ``simplex`` (registered below).
    """

    event_dim = 1

    def __call__(self, x: Any) -> Any:
        x = jnp.asarray(x)
        tolerance = simplex_tolerance(0.0)
        if jnp.issubdtype(x.dtype, jnp.floating):
            info = jnp.finfo(x.dtype)  # type: ignore[no-untyped-call]
            tolerance = simplex_tolerance(float(info.eps))
            x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return jnp.logical_and(jnp.all(x >= 0, axis=-1),
                               jnp.abs(jnp.sum(x, axis=-1) - 1) < tolerance)

    def feasible_like(self, prototype: Any) -> Any:
        return jnp.full_like(prototype, 1 / prototype.shape[-1])

    def __repr__(self) -> str:
        return "Simplex()"


_simplex = _Simplex()
biject_to.register(_Simplex, lambda constraint: biject_to(constraints.simplex))


class _LogSimplex(constraints.ParameterFreeConstraint):
    """Logarithms of points of the simplex, the ExpConcrete's support.

    Entries at most 0, ``-inf`` allowed (a masked class), whose exponentials sum to 1 to the
    tolerance of the core's validation, summed in float32 or wider. ``biject_to`` maps
    ``real_vector`` onto it by :class:`_LogSoftmaxOfPadded` (registered below), so that guides
    and HMC can take the ExpConcrete as a latent variable.
    """

    event_dim = 1

    def __call__(self, x: Any) -> Any:
        x = jnp.asarray(x)
        eps = 0.0
        if jnp.issubdtype(x.dtype, jnp.floating):
            eps = float(jnp.finfo(x.dtype).eps)  # type: ignore[no-untyped-call]
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        compute = jnp.finfo(x.dtype)  # type: ignore[no-untyped-call]
        tolerance = validation_tolerance(eps, float(compute.eps))
        entries = jnp.all(x <= 0, axis=-1)  # NaN compares False
        return jnp.logical_and(entries, jnp.abs(jnp.sum(jnp.exp(x), axis=-1) - 1) <= tolerance)

    def feasible_like(self, prototype: Any) -> Any:
        return jnp.full_like(prototype, -np.log(prototype.shape[-1]))

    def __repr__(self) -> str:
        return "LogSimplex()"


_log_simplex = _LogSimplex()


class _LogSoftmaxOfPadded(ParameterFreeTransform):
    """``y -> log_softmax((y_1, .., y_{K-1}, 0))``: ``real_vector`` onto the log-simplex.

    The PyTorch front end's transform of the same name, in NumPyro's terms; its docstring (and
    docs/frontends.md) says why the log-determinant on ``log_prob``'s measure is 0.
    """

    domain = constraints.real_vector
    codomain = _log_simplex

    def __call__(self, x: Any) -> Any:
        padding = [(0, 0)] * (jnp.ndim(x) - 1) + [(0, 1)]
        return jax.nn.log_softmax(jnp.pad(x, padding), axis=-1)

    def _inverse(self, y: Any) -> Any:
        return y[..., :-1] - y[..., -1:]

    def log_abs_det_jacobian(self, x: Any, y: Any, intermediates: Any = None) -> Any:
        return jnp.zeros_like(y[..., 0])

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape[:-1], shape[-1] + 1)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape[:-1], shape[-1] - 1)


biject_to.register(_LogSimplex, lambda constraint: _LogSoftmaxOfPadded())


def _choose(probs: Any, logits: Any) -> None:
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


class _Relaxed(Distribution):
    """The shared parameters: ``temperature`` and ``logits``, the core built per call."""

    # Every parameter, probs included where given: NumPyro's has_rsample compares these names
    # with arg_constraints'.
    reparametrized_params = ["temperature", "logits", "probs"]  # noqa: RUF012 (NumPyro's)
    pytree_data_fields = ("temperature", "logits")
    _core_class: Any
    temperature: jax.Array
    logits: jax.Array

    def _core(self, value: Any = None) -> Any:
        """Return the core object, on the parameters cast to the dtype ``value`` scores in.

        Built from the parameters on every call: after jax.jit or jax.vmap flattens and rebuilds
        the distribution, only its pytree fields are there. A floating ``value`` wider than the
        parameters (float64 on float32, with x64) is scored in the promoted dtype, as
        jax.numpy and NumPyro's own distributions promote; the core computes in the logits'.
        """
        logits, temperature = self.logits, self.temperature
        dtype = getattr(value, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
            # result_type: a weakly typed value (a Python number) takes the logits' dtype.
            wide = jnp.result_type(value, logits)
            if wide != logits.dtype:
                logits, temperature = logits.astype(wide), jnp.asarray(temperature, wide)
        return self._core_class(logits, temperature)

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
        # NumPy data and Python numbers too, as NumPyro's own laws take them (an observed site's
        # data is often NumPy).
        value = jnp.asarray(value)
        log_p: jax.Array = self._core(value).log_prob(value)
        return log_p


class _Categorical(_Relaxed):
    arg_constraints = {  # noqa: RUF012 (NumPyro's attribute)
        "temperature": constraints.positive,
        "logits": _maskable_logits,
        "probs": _simplex,  # checked where probs were given, as NumPyro's own
    }
    _core_class: Any = core.RelaxedOneHotCategorical

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None, *,
                 validate_args: bool | None = None) -> None:
        _choose(probs, logits)
        given_probs = None
        if probs is not None:
            # Checked as given (NumPyro's categoricals refuse probs that do not sum to 1),
            # normalised for the law.
            given_probs = _floating(probs)
            normalised = given_probs / jnp.sum(given_probs, axis=-1, keepdims=True)
            # A zero probability masks its class: -inf, with a zero gradient (not NaN).
            logits = log_or_minus_inf(normalised, jnp)
        logits = _floating(logits)
        if logits.ndim < 1:
            raise ValueError("logits must be at least one-dimensional (the class axis)")
        tau = _temperature(temperature, logits)
        # One temperature per row as (logits + G) / temperature broadcasts it, size 1 along
        # the class axis ((n, 1) for (n, K) or (B, n, K) logits), or the batch shape's form.
        rows = framework_row_temperature(tau.shape, logits.shape, -1, "temperature",
                                         grows_batch=True)
        if rows is not None and tau.ndim > 0:
            tau = jnp.reshape(tau, rows)
        try:
            batch_shape = jnp.broadcast_shapes(logits.shape[:-1], tau.shape)
        except ValueError:
            raise ValueError(
                f"temperature of shape {tau.shape} does not broadcast with the batch shape "
                f"{logits.shape[:-1]} of the logits"
            ) from None
        self.logits = jnp.broadcast_to(logits, batch_shape + logits.shape[-1:])
        self.temperature = jnp.broadcast_to(tau, batch_shape)
        if given_probs is not None:  # for the check of arg_constraints (not a pytree field)
            self.probs = jnp.broadcast_to(given_probs, self.logits.shape)
        super().__init__(batch_shape, logits.shape[-1:], validate_args=validate_args)
        # Checked: from now on probs is the law's (lazy), as after jit rebuilds the object.
        self.__dict__.pop("probs", None)

    @classmethod
    def infer_shapes(cls, temperature: tuple[int, ...] = (), probs: tuple[int, ...] | None = None,
                     logits: tuple[int, ...] | None = None,
                     **kwargs: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Return ``(batch_shape, event_shape)`` for parameters of the given shapes.

        NumPyro's default gives up on laws with event dimensions; the shapes follow the
        constructor's rule for the temperature.
        """
        params = tuple(probs if probs is not None else logits or ())
        if not params:
            raise ValueError("logits (or probs) must be at least one-dimensional")
        tau = tuple(temperature)
        rows = (framework_row_temperature(tau, params, -1, "temperature", grows_batch=True)
                if tau else None)
        batch = broadcast_shapes(params[:-1], rows if rows is not None else tau)
        if batch is None:
            raise ValueError(f"temperature of shape {tau} does not broadcast with the batch "
                             f"shape {params[:-1]} of the logits")
        return batch, params[-1:]

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

    support = _simplex


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    """A Concrete whose samples are one-hot, with the gradient of the relaxed sample.

    The straight-through Gumbel-Softmax as a NumPyro distribution, on the model of Pyro's
    class of the same name: a sample is the exact one-hot of ``argmax(logits + G)``, whose
    gradient is given by ``estimator`` ("st": that of the relaxed sample
    ``softmax((logits + G) / temperature)`` with the same noise ``G``). Both come from
    :func:`gumbelkit.gumbel_softmax` on one draw of noise.

    JAX arrays carry no attributes, so where Pyro keeps the relaxed sample on the one-hot,
    this class returns it as the intermediate of :meth:`sample_with_intermediates`, which
    NumPyro records at the sample site and passes back to :meth:`log_prob`: the site is scored
    by the Concrete log-density of its relaxed sample. A value without intermediates (a model
    site replayed against a guide) is scored as a point of the simplex, a one-hot value with
    its zero coordinates at the dtype's smallest normal number: a finite but approximate
    density.

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
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the one-hot sample, as for :func:`gumbelkit.gumbel_softmax`;
        Gumbel-Rao draws its conditional noise from a key split from the sample's.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gumbelkit.numpyro import (
    ...     RelaxedOneHotCategorical, RelaxedOneHotCategoricalStraightThrough)
    >>> d = RelaxedOneHotCategoricalStraightThrough(0.5, logits=jnp.zeros(3))
    >>> y, [relaxed] = d.sample_with_intermediates(jax.random.PRNGKey(0))
    >>> sorted(y.tolist()), int(jnp.argmax(y)) == int(jnp.argmax(relaxed))
    ([0.0, 0.0, 1.0], True)
    >>> concrete = RelaxedOneHotCategorical(0.5, logits=jnp.zeros(3))
    >>> bool(d.log_prob(y, [relaxed]) == concrete.log_prob(relaxed))
    True

    """

    pytree_aux_fields = ("estimator",)
    estimator: Estimator

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None, *,
                 validate_args: bool | None = None, estimator: Estimator = "st") -> None:
        self.estimator = check_estimator(estimator)
        super().__init__(temperature, probs, logits, validate_args=validate_args)

    def sample_with_intermediates(
        self, key: jax.Array, sample_shape: tuple[int, ...] = ()
    ) -> tuple[jax.Array, list[jax.Array]]:
        """Draw a one-hot sample and the relaxed sample behind it, from one draw of noise.

        Parameters
        ----------
        key : jax.Array
            A JAX PRNG key: the noise's, and, split from it, Gumbel-Rao's.
        sample_shape : tuple of int, optional
            Independent samples per batch entry.

        Returns
        -------
        tuple of jax.Array and list of jax.Array
            The one-hot sample of shape ``sample_shape + batch_shape + event_shape``, whose
            gradient is the estimator's, and ``[relaxed]``, the relaxed sample of the same
            shape, which :meth:`log_prob` scores.

        """
        shape = tuple(sample_shape)
        logits = self.logits
        rao_key = None
        if isinstance(self.estimator, GumbelRao):
            key, rao_key = jax.random.split(key)
        # The noise in the compute dtype of the core (float64 for float64 logits).
        wide = jnp.float64 if logits.dtype == jnp.float64 else jnp.float32
        noise = gumbelkit.gumbel((*shape, *logits.shape), dtype=wide, rng=key, xp=jnp)
        relaxed: jax.Array = gumbelkit.gumbel_softmax(
            logits, tau=self.temperature, noise=noise, sample_shape=shape)
        one_hot: jax.Array = gumbelkit.gumbel_softmax(
            logits, tau=self.temperature, hard=True, noise=noise, rng=rao_key,
            sample_shape=shape, estimator=self.estimator)
        return one_hot, [relaxed]

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Draw a one-hot sample whose gradient is that of the relaxed sample.

        Parameters
        ----------
        key : jax.Array
            A JAX PRNG key.
        sample_shape : tuple of int, optional
            Independent samples per batch entry.

        Returns
        -------
        jax.Array
            Exact one-hot vectors of shape ``sample_shape + batch_shape + event_shape``.

        """
        return self.sample_with_intermediates(key, sample_shape)[0]

    def log_prob(self, value: jax.Array, intermediates: list[jax.Array] | None = None
                 ) -> jax.Array:
        """Return the Concrete log-density of the relaxed sample behind ``value``.

        Parameters
        ----------
        value : jax.Array
            A sample of this distribution, or a point of the simplex.
        intermediates : list of jax.Array, optional
            ``[relaxed]`` from :meth:`sample_with_intermediates`, as NumPyro passes it at the
            site that drew ``value``; without it ``value`` itself is scored.

        Returns
        -------
        jax.Array
            The log-density, shape ``broadcast(value, batch_shape + event_shape)`` without the
            event dimensions.

        """
        relaxed = intermediates[0] if intermediates else value
        log_p: jax.Array = super().log_prob(relaxed)
        return log_p


class ExpRelaxedCategorical(_Categorical):
    """The ExpConcrete as a NumPyro distribution: the Concrete's logarithm.

    Samples are ``log_softmax((logits + G) / temperature)``, finite at temperatures where the
    Concrete's coordinates underflow, from
    :class:`gumbelkit.distributions.ExpRelaxedOneHotCategorical`. ``log_prob`` is the
    torch.distributions form ``log q(z)``, a density with respect to
    ``exp(-z_K) dz_1..dz_{K-1}`` (docs/mathematics.md#the-base-measure). The support is the
    log-simplex, onto which ``biject_to`` maps ``R^(K-1)`` with a log-determinant on that
    measure, so that NUTS and guides take the law as a latent variable.

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

    support = _log_simplex
    _core_class = core.ExpRelaxedOneHotCategorical


class _Binary(_Relaxed):
    arg_constraints = {  # noqa: RUF012 (NumPyro's attribute)
        "temperature": constraints.positive,
        "logits": constraints.real,
        "probs": constraints.unit_interval,  # checked where probs were given
    }
    _core_class: Any = core.RelaxedBernoulli

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None, *,
                 validate_args: bool | None = None) -> None:
        _choose(probs, logits)
        given_probs = None
        if probs is not None:
            given_probs = _floating(probs)
            # The binary Concrete needs finite logits: probabilities of 0 or 1 are clamped.
            eps = float(np.finfo(given_probs.dtype).eps)
            clamped = jnp.clip(given_probs, eps, 1.0 - eps)
            logits = jnp.log(clamped) - jnp.log1p(-clamped)
        logits = _floating(logits)
        tau = _temperature(temperature, logits)
        try:
            batch_shape = jnp.broadcast_shapes(logits.shape, tau.shape)
        except ValueError:
            raise ValueError(
                f"temperature of shape {tau.shape} does not broadcast with the "
                f"{'probs' if probs is not None else 'logits'} of shape {logits.shape}"
            ) from None
        self.logits = jnp.broadcast_to(logits, batch_shape)
        self.temperature = jnp.broadcast_to(tau, batch_shape)
        if given_probs is not None:  # for the check of arg_constraints (not a pytree field)
            self.probs = jnp.broadcast_to(given_probs, batch_shape)
        super().__init__(batch_shape, (), validate_args=validate_args)
        # Checked: from now on probs is the law's, sigmoid(logits) of the clamped probs.
        self.__dict__.pop("probs", None)

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


class HardConcrete(Distribution):
    """The Hard Concrete gate of L0 regularisation as a NumPyro distribution.

    :class:`gumbelkit.distributions.HardConcrete` (Louizos et al., arXiv 1712.01312): a binary
    Concrete ``s = sigmoid((L + log_alpha) / beta)``, ``L`` Logistic(0, 1), stretched to
    ``(gamma, zeta)`` and clipped to ``[0, 1]``. Its law has atoms at 0 and 1, so it has no
    density: :meth:`log_prob` raises ``NotImplementedError``, and :meth:`cdf`,
    :meth:`prob_zero`, :meth:`prob_one` and :meth:`l0_penalty` describe it instead. In a model,
    draw the gates with a key (``numpyro.prng_key()``) and add the penalty as a factor.

    Parameters
    ----------
    log_alpha : jax.Array
        The gates' location parameter, any shape (the batch shape).
    beta : float, optional
        Temperature, positive and finite; 2/3 in the reference implementation.
    gamma : float, optional
        Lower end of the stretch interval, negative.
    zeta : float, optional
        Upper end of the stretch interval, above 1.
    validate_args : bool, optional
        Check that ``log_alpha`` is finite (NumPyro's check of :attr:`arg_constraints`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gumbelkit.numpyro import HardConcrete
    >>> gate = HardConcrete(jnp.array([-2.0, 0.0, 2.0]))
    >>> z = gate.sample(jax.random.PRNGKey(0), (100,))
    >>> bool(((z >= 0) & (z <= 1)).all()), gate.l0_penalty().shape
    (True, (3,))

    """

    arg_constraints = {"log_alpha": constraints.real}  # noqa: RUF012 (NumPyro's attribute)
    support = constraints.unit_interval
    reparametrized_params = ["log_alpha"]  # noqa: RUF012 (NumPyro's attribute)
    pytree_data_fields = ("log_alpha",)
    pytree_aux_fields = ("beta", "gamma", "zeta")
    log_alpha: jax.Array
    beta: float
    gamma: float
    zeta: float

    def __init__(self, log_alpha: Any, beta: float = 2.0 / 3.0, gamma: float = -0.1,
                 zeta: float = 1.1, *, validate_args: bool | None = None) -> None:
        self.log_alpha = _floating(log_alpha)
        # The core checks the stretch and the temperature; keep the floats it checked.
        checked = core.HardConcrete(self.log_alpha, beta=beta, gamma=gamma, zeta=zeta)
        self.beta, self.gamma, self.zeta = checked.beta, checked.gamma, checked.zeta
        super().__init__(jnp.shape(self.log_alpha), (), validate_args=validate_args)

    def _core(self) -> core.HardConcrete:
        # Built from the fields on every call, as for the relaxed laws (jit and vmap rebuild
        # the distribution from its pytree).
        return core.HardConcrete(self.log_alpha, beta=self.beta, gamma=self.gamma,
                                 zeta=self.zeta)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Draw reparameterised gates ``min(1, max(0, s (zeta - gamma) + gamma))``.

        Parameters
        ----------
        key : jax.Array
            A JAX PRNG key, the core's ``rng``.
        sample_shape : tuple of int, optional
            Independent gates per entry; the result has shape ``sample_shape + batch_shape``.

        Returns
        -------
        jax.Array
            Gates in ``[0, 1]``, exactly 0 or 1 at the atoms; the gradient with respect to
            ``log_alpha`` is that of the stretched sigmoid between the atoms and 0 at them.

        """
        gates: jax.Array = self._core().rsample(tuple(sample_shape), rng=key)
        return gates

    def log_prob(self, value: jax.Array) -> jax.Array:
        """Raise ``NotImplementedError``: the gate's law has atoms, so it has no density.

        Parameters
        ----------
        value : jax.Array
            Gates in ``[0, 1]``.

        Returns
        -------
        jax.Array
            Never returns.

        Raises
        ------
        NotImplementedError
            Always: use :meth:`cdf`, :meth:`prob_zero` and :meth:`prob_one`.

        """
        raise NotImplementedError(
            "HardConcrete has atoms at 0 and 1 and no density: use cdf, prob_zero, prob_one "
            "and l0_penalty"
        )

    def cdf(self, value: jax.Array) -> jax.Array:
        """Return ``P(z <= value)``, with the atoms (right-continuous).

        Parameters
        ----------
        value : jax.Array
            Points, broadcasting against ``log_alpha``: 0 below 0 and 1 from 1 on.

        Returns
        -------
        jax.Array
            The CDF, in the dtype of ``log_alpha``.

        """
        cdf: jax.Array = self._core().cdf(jnp.asarray(value, dtype=self.log_alpha.dtype))
        return cdf

    def prob_zero(self) -> jax.Array:
        """Return ``P(z = 0) = sigmoid(beta log(-gamma / zeta) - log_alpha)``.

        Returns
        -------
        jax.Array
            The mass of the atom at 0, shape :attr:`batch_shape`.

        """
        p: jax.Array = self._core().prob_zero()
        return p

    def prob_one(self) -> jax.Array:
        """Return ``P(z = 1) = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))``.

        Returns
        -------
        jax.Array
            The mass of the atom at 1, shape :attr:`batch_shape`.

        """
        p: jax.Array = self._core().prob_one()
        return p

    def l0_penalty(self) -> jax.Array:
        """Return the expected L0 norm per gate, ``P(z != 0)``, differentiable in ``log_alpha``.

        Returns
        -------
        jax.Array
            ``sigmoid(log_alpha - beta log(-gamma / zeta))``, shape :attr:`batch_shape`; sum
            it for the L0 regulariser.

        """
        p: jax.Array = self._core().l0_penalty()
        return p

    def deterministic_gate(self) -> jax.Array:
        """Return the test-time gate ``min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))``.

        Returns
        -------
        jax.Array
            Gates in ``[0, 1]``, shape :attr:`batch_shape`.

        """
        gate: jax.Array = self._core().deterministic_gate()
        return gate
