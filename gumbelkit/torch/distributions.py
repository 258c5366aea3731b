"""gumbelkit's relaxed distributions as ``torch.distributions.Distribution`` subclasses.

The constructors are those of ``torch.distributions`` (``temperature, probs=None, logits=None,
validate_args=None``), the shapes are ``torch.Size`` and the classes have ``has_rsample``,
``rsample``, ``sample``, ``log_prob``, ``expand``, ``support`` and ``arg_constraints``, so
PyTorch's utilities such as ``torch.distributions.Independent`` take them;
:mod:`gumbelkit.torch.pyro` adds Pyro's mixin for ``pyro.sample``. The mathematics is
:mod:`gumbelkit.distributions`': every sample and log-density is computed by the core object
each instance holds (``log_prob`` of a value wider than the parameters by one on the parameters
cast to PyTorch's promoted dtype).

Where they differ from ``torch.distributions``:

- a temperature of shape ``(n, 1)`` for logits of shape ``(n, K)`` is one temperature per
  row, and ``log_prob`` has shape ``(n,)`` (PyTorch's has ``(n, n)``, pytorch/pytorch#37162);
- a float temperature works everywhere (``log_prob`` included);
- the binary log-densities stay finite for logits of +-100 (PyTorch's overflow to ``-inf``);
- a zero probability is an exact zero: ``probs`` with a 0 gives a ``-inf`` logit, a class
  that is never drawn (PyTorch clamps it to about ``1e-7``);
- ``rsample`` and ``sample`` take a keyword-only ``generator``;
- no KL divergence is registered: the Concrete laws have none in closed form (neither has
  PyTorch), so ``torch.distributions.kl_divergence`` raises ``NotImplementedError``; estimate
  it by Monte Carlo from ``rsample`` and ``log_prob``.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, TypeVar

import numpy as np
import torch
from torch.distributions import Distribution, Transform, biject_to, constraints, transform_to
from torch.distributions.utils import lazy_property

import gumbelkit
from gumbelkit import _core
from gumbelkit import distributions as core
from gumbelkit._checks import (
    check_estimator,
    check_real,
    framework_row_temperature,
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

_Shape = torch.Size | tuple[int, ...] | list[int]
_T = TypeVar("_T", bound="_Tempered")


def _choose_logits(probs: object, logits: object) -> None:
    """Raise PyTorch's ``ValueError`` unless exactly one of ``probs`` and ``logits`` is given."""
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


def _parameter_tensor(x: object, name: str) -> torch.Tensor:
    """Return ``x`` as a tensor of a floating dtype, or raise ``TypeError`` naming ``name``.

    A tensor is kept as it is (its dtype included: the core checks it); a number, list or
    NumPy array becomes a tensor, as the binary classes take them.
    """
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (numbers.Real, list, tuple, np.ndarray)) and not isinstance(x, bool):
        return _floating_tensor(torch.as_tensor(x))
    raise TypeError(f"{name} must be a torch.Tensor (or a number, list or NumPy array); "
                    f"got {type(x).__name__}")


def _sample_shape(sample_shape: _Shape) -> tuple[int, ...]:
    """Return ``sample_shape`` as a tuple of ints, or raise ``TypeError`` naming it.

    ``operator.index``, not ``int``: a float size is an error (as for ``torch.Size``), not
    truncated.
    """
    try:
        return tuple(operator.index(n) for n in sample_shape)
    except TypeError:
        raise TypeError(f"sample_shape must be a torch.Size or a tuple of ints; "
                        f"got {sample_shape!r}") from None


def _floating_tensor(x: torch.Tensor | float | None) -> torch.Tensor:
    """Return ``x`` as a tensor of a floating dtype (PyTorch's default for numbers and ints)."""
    tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def _temperature(temperature: float | torch.Tensor, like: torch.Tensor,
                 event_ndim: int) -> float | torch.Tensor:
    """Return the temperature as the core takes it: a float, or a tensor without a class axis.

    A real number stays a float (the core's fast path; no gradient). A tensor is moved to the
    dtype and device of ``like`` (the logits). With a class axis (``event_ndim`` 1) a tensor
    that broadcasts against the logits as PyTorch's ``(logits + G) / temperature`` does, with
    size 1 along the class axis (``(n, 1)`` for ``(n, K)`` or ``(B, n, K)`` logits), loses that
    axis: one temperature per row, lined up as PyTorch lines it up
    (:func:`gumbelkit._checks.framework_row_temperature`).
    """
    # Checked here, so that errors name the constructor's argument (the core's is tau).
    if isinstance(temperature, numbers.Real) and not isinstance(temperature, bool):
        return check_real(temperature, "temperature", positive=True)
    if not isinstance(temperature, (torch.Tensor, list, tuple, np.ndarray, np.generic)):
        raise TypeError(f"temperature must be a positive number or a tensor; got "
                        f"{type_name(temperature)} {temperature!r}")
    # A tensor stays where it is until it meets the logits' device; a list or array goes there
    # at once (torch.as_tensor of a tensor inside a default-device context would move it).
    tau = (temperature if isinstance(temperature, torch.Tensor)
           else torch.as_tensor(temperature, device=like.device))
    if tau.dtype == torch.bool:  # np.True_, a boolean tensor: a flag, not a number
        raise TypeError(f"temperature must be a positive number or a tensor; got a boolean "
                        f"{type_name(temperature)}")
    if not tau.is_floating_point():
        tau = tau.to(dtype=like.dtype)
    tau = tau.to(device=like.device)
    backend = resolved_for(tau, argument="temperature")
    xp = backend.namespace(tau)
    # Checked before any cast, which could round a valid temperature to 0 or inf.
    check_temperature(tau, backend, xp, False, like, "temperature")
    # In the logits' compute dtype, clamped as the samplers clamp it: in their own dtype a
    # float16 logits' 1e-8 would round to 0, a float32 1e-50 or 1e39 to 0 or inf, which
    # PyTorch's check of temperature refuses.
    held: torch.Tensor = clamped_temperature(tau, backend, xp,
                                             _core.compute_dtype(like.dtype, xp))
    if event_ndim and held.ndim > 0:
        rows = framework_row_temperature(tuple(held.shape), tuple(like.shape), -1,
                                         "temperature", grows_batch=True)
        if rows is not None:
            held = held.reshape(rows)
    return held


def _batch_shape(params_batch: torch.Size, tau: float | torch.Tensor) -> torch.Size:
    """Return the batch shape: the parameters' broadcast against the temperature's shape."""
    if isinstance(tau, float):
        return params_batch
    try:
        return torch.Size(np.broadcast_shapes(tuple(params_batch), tuple(tau.shape)))
    except ValueError:
        raise ValueError(
            f"temperature of shape {tuple(tau.shape)} does not broadcast with the batch shape "
            f"{tuple(params_batch)} of the parameters"
        ) from None


def _tau_tensor(tau: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Return the temperature as a tensor: a float becomes a 0-d tensor on ``like``'s device.

    In the compute dtype of the logits ``like``, clamped as the samplers clamp it (as
    :func:`_temperature` holds a tensor).
    """
    if isinstance(tau, float):
        compute = _core.compute_dtype(like.dtype, torch)
        value = _core.representable_temperature(tau, torch, compute)
        return torch.tensor(value, dtype=compute, device=like.device)
    return tau


def _checked_instance(dist: Distribution, cls: type[Distribution], instance: Any) -> Any:
    """Return PyTorch's new instance for ``expand`` (``Distribution._get_checked_instance``)."""
    # The helper is untyped in PyTorch: called through an Any, so the type check passes.
    checked: Any = dist._get_checked_instance
    return checked(cls, instance)


def _expand_tau(tau: float | torch.Tensor, batch_shape: torch.Size) -> float | torch.Tensor:
    return tau if isinstance(tau, float) else tau.expand(batch_shape)


class _Simplex(constraints._Simplex):
    """The simplex to the rounding of the value's dtype: PyTorch's, which float16 misses.

    PyTorch's ``simplex`` asks ``|sum - 1| < 1e-6`` of a sum in the value's dtype, which a
    float16 or bfloat16 sample (each entry rounded to that dtype, the sum too) misses in about
    2% of rows at a temperature of 0.5, so that a batch of them is refused. Here the sum is
    taken in float32 or wider and may miss 1 by the core's ``simplex_tolerance`` of the
    value's dtype; ``biject_to`` and ``transform_to`` map onto it as onto ``simplex``.
    """

    def check(self, value: torch.Tensor) -> torch.Tensor:
        tolerance = simplex_tolerance(0.0)
        if value.is_floating_point():
            tolerance = simplex_tolerance(torch.finfo(value.dtype).eps)
            value = value.to(torch.promote_types(value.dtype, torch.float32))
        return torch.all(value >= 0, dim=-1) & ((value.sum(-1) - 1).abs() < tolerance)


class _RealVector(constraints._IndependentConstraint):
    """PyTorch's ``real_vector``, which also checks an empty batch.

    PyTorch's reshapes the entries' checks to ``(..., -1)``, which fails for zero entries
    (``RelaxedOneHotCategorical(0.5, logits=torch.zeros(0, 5))`` raised ``RuntimeError``).
    """

    def __init__(self) -> None:
        super().__init__(constraints.real, 1)  # type: ignore[no-untyped-call]

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value == value).all(-1)  # real: not NaN (PyTorch's real takes +-inf)


class _LogSimplex(constraints.Constraint):
    """Logarithms of points of the simplex, the ExpConcrete's support.

    Entries at most 0, ``-inf`` allowed (a masked class), whose exponentials sum to 1 to the
    tolerance of the core's validation, summed in float32 or wider. ``biject_to`` and
    ``transform_to`` map ``real_vector`` onto it by :class:`_LogSoftmaxOfPadded`, so that
    guides and HMC can take the ExpConcrete as a latent variable; PyTorch declares its
    ExpRelaxedCategorical's support ``real_vector``, whose unconstrained points are not
    values of the law.
    """

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(value.dtype).eps if value.is_floating_point() else 0.0
        value = value.to(torch.promote_types(value.dtype, torch.float32))
        tolerance = validation_tolerance(eps, torch.finfo(value.dtype).eps)
        entries = torch.all(value <= 0, dim=-1)  # NaN compares False
        return entries & ((value.exp().sum(-1) - 1).abs() <= tolerance)


_log_simplex = _LogSimplex()


class _LogSoftmaxOfPadded(Transform):
    """``y -> log_softmax((y_1, .., y_{K-1}, 0))``: ``real_vector`` onto the log-simplex.

    The inverse is ``z -> z_k - z_K`` for ``k < K``. The log-determinant is that of the
    measure :meth:`ExpRelaxedCategorical.log_prob` is a density for, ``exp(-z_K) dz_1..dz_{K-1}``
    (docs/mathematics.md#the-base-measure): the Jacobian of ``y -> (z_1..z_{K-1})`` is
    ``exp(z_K)`` with respect to Lebesgue measure, so it is 1 there and its log is 0. A guide's
    density and the law's ``log_prob`` are then taken on the same measure. A masked class
    (``z_k = -inf``) has no preimage.
    """

    domain = constraints.real_vector
    codomain = _log_simplex
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LogSoftmaxOfPadded)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(torch.nn.functional.pad(x, (0, 1)), dim=-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y[..., :-1] - y[..., -1:]

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(y[..., 0])

    def forward_shape(self, shape: _Shape) -> torch.Size:
        return torch.Size((*shape[:-1], shape[-1] + 1))

    def inverse_shape(self, shape: _Shape) -> torch.Size:
        return torch.Size((*shape[:-1], shape[-1] - 1))


_real_vector = _RealVector()
_simplex = _Simplex()
# PyTorch's registries are untyped.
biject_to.register(  # type: ignore[no-untyped-call]
    _Simplex, lambda constraint: biject_to(constraints.simplex))
transform_to.register(  # type: ignore[no-untyped-call]
    _Simplex, lambda constraint: transform_to(constraints.simplex))
biject_to.register(  # type: ignore[no-untyped-call]
    _RealVector, lambda constraint: biject_to(constraints.real_vector))
transform_to.register(  # type: ignore[no-untyped-call]
    _RealVector, lambda constraint: transform_to(constraints.real_vector))
biject_to.register(  # type: ignore[no-untyped-call]
    _LogSimplex, lambda constraint: _LogSoftmaxOfPadded())
transform_to.register(  # type: ignore[no-untyped-call]
    _LogSimplex, lambda constraint: _LogSoftmaxOfPadded())


class _Relaxed(Distribution):
    """What the relaxed families share: the core object, sampling and ``log_prob``."""

    has_rsample = True
    _core: Any  # the gumbelkit.distributions object that computes everything

    def rsample(self, sample_shape: _Shape = (), *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a reparameterised sample, differentiable in the parameters.

        Parameters
        ----------
        sample_shape : torch.Size or tuple of int, optional
            Independent samples per batch entry; the result has shape
            ``sample_shape + batch_shape + event_shape``.
        generator : torch.Generator, optional
            The random source; ``None`` uses PyTorch's global generator.

        Returns
        -------
        torch.Tensor
            The sample, computed by the :mod:`gumbelkit.distributions` object.

        """
        sample: torch.Tensor = self._core.rsample(_sample_shape(sample_shape),
                                                  rng=generator)
        return sample

    def sample(self, sample_shape: _Shape = (), *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a sample without gradient.

        Parameters
        ----------
        sample_shape : torch.Size or tuple of int, optional
            Independent samples per batch entry.
        generator : torch.Generator, optional
            The random source; ``None`` uses PyTorch's global generator.

        Returns
        -------
        torch.Tensor
            The sample, of shape ``sample_shape + batch_shape + event_shape``.

        """
        with torch.no_grad():
            return self.rsample(sample_shape, generator=generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Return the log-density of ``value``, computed by the core object.

        Parameters
        ----------
        value : torch.Tensor
            Points of the support, broadcasting against ``batch_shape + event_shape``.

        Returns
        -------
        torch.Tensor
            The log-density, shape ``broadcast(value, batch_shape + event_shape)`` without the
            event dimensions.

        """
        if self._validate_args:
            self._validate_sample(value)
        log_p: torch.Tensor = self._core_for(value).log_prob(value)
        return log_p

    def _core_for(self, value: torch.Tensor) -> Any:
        """Return the core object that scores ``value`` (a family with a dtype casts it)."""
        return self._core


class _Tempered(_Relaxed):
    """A relaxed family with a temperature and logits."""

    logits: torch.Tensor
    _tau: float | torch.Tensor  # the temperature as the core holds it
    _core_class: Any  # the gumbelkit.distributions class of the core object

    @property
    def temperature(self) -> torch.Tensor:
        """The temperature as a tensor (a float temperature gives a 0-d tensor)."""
        return _tau_tensor(self._tau, self.logits)

    def _core_for(self, value: torch.Tensor) -> Any:
        """Return the core object in the dtype PyTorch gives ``log_prob(value)``.

        PyTorch promotes the parameters and ``value`` to one dtype (a float64 value on float32
        logits scores in float64); the core computes in the logits' dtype, so a wider value
        gets a core object on the parameters cast to it.
        """
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return self._core
        dtype = torch.promote_types(value.dtype, self.logits.dtype)
        if dtype == self.logits.dtype:
            return self._core
        tau = self._tau if isinstance(self._tau, float) else self._tau.to(dtype)
        return self._core_class(self.logits.to(dtype), tau, validate_args=self._validate_args)

    def expand(self: _T, batch_shape: _Shape, _instance: Any = None) -> _T:
        """Return the distribution with its parameters expanded to ``batch_shape``.

        Parameters
        ----------
        batch_shape : torch.Size or tuple of int
            The new batch shape; the current one must broadcast to it.
        _instance : Distribution, optional
            PyTorch's argument for subclasses.

        Returns
        -------
        Distribution
            A distribution of the same class, sharing the parameters' memory.

        """
        new: _T = self._expanded(type(self), batch_shape, _instance)
        return new

    def _expanded(self, cls: type[Any], batch_shape: _Shape, instance: Any) -> Any:
        raise NotImplementedError  # each family expands its own parameters


class _Categorical(_Tempered):
    """The Concrete's parameters: ``temperature`` and ``probs`` or ``logits``, classes last."""

    arg_constraints = {  # noqa: RUF012 (PyTorch's class attribute)
        "temperature": constraints.positive,
        "probs": _simplex,  # a float16 softmax sums to 1 only to its rounding
        "logits": _real_vector,
    }
    _core_class: Any = core.RelaxedOneHotCategorical

    def __init__(
        self,
        temperature: float | torch.Tensor,
        probs: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        _choose_logits(probs, logits)
        if probs is not None:
            probs = _parameter_tensor(probs, "probs")
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            # log, not PyTorch's clamp: a zero probability masks its class exactly, with a
            # zero gradient (not NaN).
            given = log_or_minus_inf(self.probs, torch)
        else:
            logits = _parameter_tensor(logits, "logits")
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            given = logits - logits.logsumexp(dim=-1, keepdim=True)
        tau = _temperature(temperature, given, 1)
        batch_shape = _batch_shape(given.shape[:-1], tau)
        event_shape = given.shape[-1:]
        self._setup(given, tau, batch_shape)
        # PyTorch's checks of arg_constraints first, so its messages come first.
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        self._core = self._core_class(self.logits, tau, validate_args=self._validate_args)

    def _setup(self, logits: torch.Tensor, tau: float | torch.Tensor,
               batch_shape: torch.Size) -> None:
        full = batch_shape + logits.shape[-1:]
        if logits.shape != full:
            logits = logits.expand(full)
            if "probs" in self.__dict__:
                self.probs = self.probs.expand(full)
        self.logits = logits
        self._tau = tau

    @lazy_property
    def probs(self) -> torch.Tensor:
        """Return the class probabilities ``softmax(logits)``, the law of a sample's argmax."""
        probs: torch.Tensor = self._core.probs
        return probs

    @property
    def param_shape(self) -> torch.Size:
        """The shape of :attr:`logits`: ``batch_shape + event_shape``."""
        return self.logits.shape

    def _expanded(self, cls: type[_Categorical], batch_shape: _Shape,
                  instance: Any) -> Any:
        new = _checked_instance(self, cls, instance)
        shape = torch.Size(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(shape + self.event_shape)
        new._setup(self.logits.expand(shape + self.event_shape), _expand_tau(self._tau, shape),
                   shape)
        Distribution.__init__(new, shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        new._core = new._core_class(new.logits, new._tau, validate_args=new._validate_args)
        return new


class ExpRelaxedCategorical(_Categorical):
    """The ExpConcrete: ``log_softmax((logits + G) / temperature)``, a Concrete in log space.

    ``torch.distributions.ExpRelaxedCategorical``'s interface over
    :class:`gumbelkit.distributions.ExpRelaxedOneHotCategorical`: finite samples and
    log-densities at temperatures where the Concrete's coordinates underflow to 0.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite: a float, or a tensor with one temperature per row, broadcasting
        against the batch shape; a class axis of size 1 (``(n, 1)`` for ``(n, K)`` logits) is
        dropped.
    probs : torch.Tensor, optional
        Class probabilities along the last axis, normalised here; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis; a ``-inf`` masks its class.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`log_prob` (PyTorch's default).

    Notes
    -----
    :meth:`log_prob` is PyTorch's ``log q(z)``, a density with respect to
    ``exp(-z_K) dz_1..dz_{K-1}`` (docs/mathematics.md#the-base-measure): fine for KL terms
    and likelihood ratios between ExpConcretes. The support is the log-simplex, onto which
    ``biject_to`` maps ``R^(K-1)`` with a log-determinant on that measure, so that guides and
    HMC take the law as a latent variable.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import ExpRelaxedCategorical
    >>> d = ExpRelaxedCategorical(1e-3, logits=torch.zeros(2, 3))
    >>> z = d.rsample((4,), generator=torch.Generator().manual_seed(0))
    >>> z.shape, d.log_prob(z).shape, bool(torch.isfinite(d.log_prob(z)).all())
    (torch.Size([4, 2, 3]), torch.Size([4, 2]), True)

    """

    support = _log_simplex
    _core_class = core.ExpRelaxedOneHotCategorical



class RelaxedOneHotCategorical(_Categorical):
    """The Concrete (Gumbel-Softmax): ``softmax((logits + G) / temperature)``.

    ``torch.distributions.RelaxedOneHotCategorical``'s interface over
    :class:`gumbelkit.distributions.RelaxedOneHotCategorical`.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite: a float, or a tensor with one temperature per row, broadcasting
        against the batch shape; a class axis of size 1 (``(n, 1)`` for ``(n, K)`` logits) is
        dropped, so ``log_prob`` has the batch shape ``(n,)``.
    probs : torch.Tensor, optional
        Class probabilities along the last axis, normalised here; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis; a ``-inf`` masks its class.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`log_prob` (PyTorch's default).

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import RelaxedOneHotCategorical
    >>> d = RelaxedOneHotCategorical(torch.tensor([[0.5], [2.0]]), logits=torch.zeros(2, 3))
    >>> y = d.rsample((4,))
    >>> d.batch_shape, y.shape, d.log_prob(y).shape
    (torch.Size([2]), torch.Size([4, 2, 3]), torch.Size([4, 2]))

    """

    support = _simplex



class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    """A Concrete whose samples are one-hot, with the gradient of the relaxed sample.

    The straight-through Gumbel-Softmax as a distribution, on the model of Pyro's class of
    the same name: :meth:`rsample` returns the exact one-hot of ``argmax(logits + G)`` whose
    gradient is given by ``estimator`` ("st": that of the relaxed sample with the same noise),
    and :meth:`log_prob` of such a sample is the Concrete log-density of the relaxed sample
    behind it (kept on the sample as ``_unquantize``, Pyro's attribute). Any other value is
    scored as a point of the simplex.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite, as for :class:`RelaxedOneHotCategorical`.
    probs : torch.Tensor, optional
        Class probabilities along the last axis; exclusive with ``logits``.
    logits : torch.Tensor, optional
        Unnormalised log-probabilities along the last axis.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`log_prob`.
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the one-hot sample, as for :func:`gumbelkit.gumbel_softmax`.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import RelaxedOneHotCategoricalStraightThrough
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> d = RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits)
    >>> y = d.rsample()
    >>> sorted(y.tolist()), bool(torch.isfinite(d.log_prob(y)))
    ([0.0, 0.0, 1.0], True)

    """

    def __init__(
        self,
        temperature: float | torch.Tensor,
        probs: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        validate_args: bool | None = None,
        *,
        estimator: Estimator = "st",
    ) -> None:
        self.estimator = check_estimator(estimator)
        super().__init__(temperature, probs, logits, validate_args)

    def expand(self, batch_shape: _Shape,
               _instance: Any = None) -> RelaxedOneHotCategoricalStraightThrough:
        """Return the distribution with its parameters expanded to ``batch_shape``.

        Parameters
        ----------
        batch_shape : torch.Size or tuple of int
            The new batch shape; the current one must broadcast to it.
        _instance : RelaxedOneHotCategoricalStraightThrough, optional
            PyTorch's argument for subclasses.

        Returns
        -------
        RelaxedOneHotCategoricalStraightThrough
            A distribution of the same class and estimator.

        """
        new = super().expand(batch_shape, _instance)
        new.estimator = self.estimator
        return new

    def rsample(self, sample_shape: _Shape = (), *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a one-hot sample whose gradient is that of the relaxed sample.

        Parameters
        ----------
        sample_shape : torch.Size or tuple of int, optional
            Independent samples per batch entry.
        generator : torch.Generator, optional
            The random source; ``None`` uses PyTorch's global generator.

        Returns
        -------
        torch.Tensor
            Exact one-hot vectors of shape ``sample_shape + batch_shape + event_shape``,
            carrying the relaxed sample as ``_unquantize`` for :meth:`log_prob`.

        """
        shape = _sample_shape(sample_shape)
        logits = self.logits
        # One noise draw for both samples: the one-hot is the argmax of the relaxed one.
        wide = torch.float64 if logits.dtype == torch.float64 else torch.float32
        noise = gumbelkit.gumbel((*shape, *logits.shape), dtype=wide, device=logits.device,
                                 rng=generator, xp=torch)
        soft: torch.Tensor = gumbelkit.gumbel_softmax(logits, tau=self._tau, noise=noise,
                                                      sample_shape=shape)
        # Gumbel-Rao draws its conditional noise from the same generator (None: the global one).
        draws = isinstance(check_estimator(self.estimator), GumbelRao)
        hard: torch.Tensor = gumbelkit.gumbel_softmax(logits, tau=self._tau, hard=True,
                                                      noise=noise, sample_shape=shape,
                                                      estimator=self.estimator,
                                                      rng=generator if draws else None)
        hard._unquantize = soft  # type: ignore[attr-defined]  # Pyro's attribute
        return hard

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Return the Concrete log-density of the relaxed sample behind ``value``.

        Parameters
        ----------
        value : torch.Tensor
            A sample of :meth:`rsample` (scored by its relaxed sample), or a point of the
            simplex.

        Returns
        -------
        torch.Tensor
            The log-density, with the batch shape and the sample's leading dimensions.

        """
        return super().log_prob(getattr(value, "_unquantize", value))


class _Binary(_Tempered):
    """The binary Concrete's parameters: ``temperature`` and ``probs`` or ``logits``."""

    arg_constraints = {  # noqa: RUF012 (PyTorch's class attribute)
        "temperature": constraints.positive,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    _core_class: Any = core.RelaxedBernoulli

    def __init__(
        self,
        temperature: float | torch.Tensor,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        _choose_logits(probs, logits)
        if probs is not None:
            self.probs = _floating_tensor(_parameter_tensor(probs, "probs"))
            # As PyTorch: probabilities of exactly 0 or 1 are clamped; the binary Concrete
            # needs finite logits.
            clamped = self.probs.clamp(torch.finfo(self.probs.dtype).eps,
                                       1 - torch.finfo(self.probs.dtype).eps)
            given = torch.log(clamped) - torch.log1p(-clamped)
        else:
            given = _floating_tensor(_parameter_tensor(logits, "logits"))
        tau = _temperature(temperature, given, 0)
        batch_shape = _batch_shape(given.shape, tau)
        self._setup(given, tau, batch_shape)
        super().__init__(batch_shape, torch.Size(), validate_args=validate_args)
        self._core = self._core_class(self.logits, tau, validate_args=self._validate_args)

    def _setup(self, logits: torch.Tensor, tau: float | torch.Tensor,
               batch_shape: torch.Size) -> None:
        if logits.shape != batch_shape:
            logits = logits.expand(batch_shape)
            if "probs" in self.__dict__:
                self.probs = self.probs.expand(batch_shape)
        self.logits = logits
        self._tau = tau

    @lazy_property
    def probs(self) -> torch.Tensor:
        """Return ``sigmoid(logits)``, the Bernoulli law of the rounded sample."""
        probs: torch.Tensor = self._core.probs
        return probs

    @property
    def param_shape(self) -> torch.Size:
        """The shape of :attr:`logits`: the batch shape."""
        return self.logits.shape

    def _expanded(self, cls: type[_Binary], batch_shape: _Shape, instance: Any) -> Any:
        new = _checked_instance(self, cls, instance)
        shape = torch.Size(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(shape)
        new._setup(self.logits.expand(shape), _expand_tau(self._tau, shape), shape)
        Distribution.__init__(new, shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        new._core = new._core_class(new.logits, new._tau, validate_args=new._validate_args)
        return new


class LogitRelaxedBernoulli(_Binary):
    """The binary Concrete in logit space: ``(logits + L) / temperature``, ``L`` logistic.

    ``torch.distributions.LogitRelaxedBernoulli``'s interface over
    :class:`gumbelkit.distributions.LogitRelaxedBernoulli`; its log-density stays finite for
    any finite logits.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite: a float or a tensor broadcasting against the logits.
    probs : torch.Tensor or float, optional
        ``P(round(Y) = 1)``, clamped to ``[eps, 1 - eps]`` as in PyTorch; exclusive with
        ``logits``.
    logits : torch.Tensor or float, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`log_prob`.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import LogitRelaxedBernoulli
    >>> d = LogitRelaxedBernoulli(0.5, logits=torch.tensor([-100.0, 100.0]))
    >>> bool(torch.isfinite(d.log_prob(d.rsample((3,)))).all())
    True

    """

    support = constraints.real
    _core_class = core.LogitRelaxedBernoulli



class RelaxedBernoulli(_Binary):
    """The binary Concrete: ``sigmoid((logits + L) / temperature)`` on ``(0, 1)``.

    ``torch.distributions.RelaxedBernoulli``'s interface over
    :class:`gumbelkit.distributions.RelaxedBernoulli`; its log-density stays finite for logits
    of +-100, where PyTorch's is ``-inf``.

    Parameters
    ----------
    temperature : float or torch.Tensor
        Positive and finite: a float or a tensor broadcasting against the logits.
    probs : torch.Tensor or float, optional
        ``P(Y > 1/2)``, clamped to ``[eps, 1 - eps]`` as in PyTorch; exclusive with ``logits``.
    logits : torch.Tensor or float, optional
        The log-odds.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`log_prob`.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import RelaxedBernoulli
    >>> d = RelaxedBernoulli(0.5, logits=torch.tensor([-100.0, 100.0]))
    >>> d.log_prob(torch.tensor([0.5, 0.5]))
    tensor([-99.3069, -99.3069])

    """

    support = constraints.unit_interval



class HardConcrete(_Relaxed):
    """The Hard Concrete gate of L0 regularisation, a stretched and clipped binary Concrete.

    :class:`gumbelkit.distributions.HardConcrete` as a ``torch.distributions.Distribution``.
    Its law has atoms at 0 and 1, so it has no density: :meth:`log_prob` raises
    ``NotImplementedError``, and :meth:`cdf`, :meth:`prob_zero`, :meth:`prob_one` and
    :meth:`l0_penalty` describe it instead.

    Parameters
    ----------
    log_alpha : torch.Tensor
        The gates' location parameter, any shape (the batch shape).
    beta : float, optional
        Temperature, positive; 2/3 in the reference implementation.
    gamma : float, optional
        Lower end of the stretch interval, negative.
    zeta : float, optional
        Upper end of the stretch interval, above 1.
    validate_args : bool, optional
        Check the parameters and the values given to :meth:`cdf`.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.distributions import HardConcrete
    >>> gate = HardConcrete(torch.zeros(3))
    >>> z = gate.rsample((100,))
    >>> bool(((z >= 0) & (z <= 1)).all()), gate.l0_penalty().shape
    (True, torch.Size([3]))

    """

    arg_constraints = {"log_alpha": constraints.real}  # noqa: RUF012 (PyTorch's)
    support = constraints.unit_interval

    def __init__(self, log_alpha: torch.Tensor, beta: float = 2.0 / 3.0, gamma: float = -0.1,
                 zeta: float = 1.1, validate_args: bool | None = None) -> None:
        self.log_alpha = log_alpha = _parameter_tensor(log_alpha, "log_alpha")
        super().__init__(log_alpha.shape, torch.Size(), validate_args=validate_args)
        self._core = core.HardConcrete(log_alpha, beta=beta, gamma=gamma, zeta=zeta,
                                       validate_args=self._validate_args)

    @property
    def beta(self) -> float:
        """The temperature."""
        beta: float = self._core.beta
        return beta

    @property
    def gamma(self) -> float:
        """The lower end of the stretch interval."""
        gamma: float = self._core.gamma
        return gamma

    @property
    def zeta(self) -> float:
        """The upper end of the stretch interval."""
        zeta: float = self._core.zeta
        return zeta

    def expand(self, batch_shape: _Shape, _instance: Any = None) -> HardConcrete:
        """Return the distribution with ``log_alpha`` expanded to ``batch_shape``.

        Parameters
        ----------
        batch_shape : torch.Size or tuple of int
            The new batch shape; the current one must broadcast to it.
        _instance : HardConcrete, optional
            PyTorch's argument for subclasses.

        Returns
        -------
        HardConcrete
            A distribution of the same class and stretch.

        """
        new: HardConcrete = _checked_instance(self, HardConcrete, _instance)
        shape = torch.Size(batch_shape)
        new.log_alpha = self.log_alpha.expand(shape)
        new._core = core.HardConcrete(new.log_alpha, beta=self.beta, gamma=self.gamma,
                                      zeta=self.zeta, validate_args=self._validate_args)
        Distribution.__init__(new, shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Raise ``NotImplementedError``: the gate's law has atoms, so it has no density.

        Parameters
        ----------
        value : torch.Tensor
            Gates in ``[0, 1]``.

        Returns
        -------
        torch.Tensor
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

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """Return ``P(z <= value)``, with the atoms (right-continuous).

        Parameters
        ----------
        value : torch.Tensor
            Points, broadcasting against ``log_alpha``.

        Returns
        -------
        torch.Tensor
            The CDF, in the dtype of ``log_alpha``.

        """
        cdf: torch.Tensor = self._core.cdf(value)
        return cdf

    def prob_zero(self) -> torch.Tensor:
        """Return ``P(z = 0)``, the mass of the atom at 0.

        Returns
        -------
        torch.Tensor
            Shape :attr:`batch_shape`.

        """
        p: torch.Tensor = self._core.prob_zero()
        return p

    def prob_one(self) -> torch.Tensor:
        """Return ``P(z = 1)``, the mass of the atom at 1.

        Returns
        -------
        torch.Tensor
            Shape :attr:`batch_shape`.

        """
        p: torch.Tensor = self._core.prob_one()
        return p

    def l0_penalty(self) -> torch.Tensor:
        """Return the expected L0 norm per gate, ``P(z != 0)``, differentiable in ``log_alpha``.

        Returns
        -------
        torch.Tensor
            Shape :attr:`batch_shape`; sum it for the L0 regulariser.

        """
        p: torch.Tensor = self._core.l0_penalty()
        return p

    def deterministic_gate(self) -> torch.Tensor:
        """Return the test-time gate ``min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))``.

        Returns
        -------
        torch.Tensor
            Gates in ``[0, 1]``, shape :attr:`batch_shape`.

        """
        gate: torch.Tensor = self._core.deterministic_gate()
        return gate
