"""``torch.nn`` modules over gumbelkit: a Gumbel-Softmax layer and a Hard Concrete L0 gate.

:class:`GumbelSoftmax` draws with :func:`gumbelkit.torch.gumbel_softmax` at a temperature that
is a float or a :mod:`gumbelkit.schedules` schedule the module steps itself;
:class:`HardConcreteGate` holds the ``log_alpha`` of
:class:`gumbelkit.distributions.HardConcrete` gates as a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gumbelkit import distributions as core
from gumbelkit._checks import (
    check_bool,
    check_estimator,
    check_real,
    check_shape,
    is_real_scalar,
    type_name,
)
from gumbelkit._core import real_as_float
from gumbelkit.estimators import Estimator
from gumbelkit.torch._functional import gumbel_softmax

__all__ = ["GumbelSoftmax", "HardConcreteGate"]

def _temperature(value: object, source: str = "tau") -> float:
    """Return a temperature as a positive finite float, or raise naming ``tau``.

    ``source`` says where ``value`` came from, for the message: ``"tau"``, or the schedule's
    value at a step (which may be a number or a 0-d tensor, not another schedule).
    """
    kinds = "a positive finite number or a 0-d tensor"
    if source == "tau":
        kinds = "a positive finite number, a 0-d tensor or a schedule tau(step) -> float"
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{source} must be {kinds}; got a {value.dtype} tensor of shape "
                             f"{tuple(value.shape)}")
        number = float(value.detach())
    elif is_real_scalar(value):
        number = real_as_float(value)
    else:
        raise TypeError(f"{source} must be {kinds}; got {type_name(value)} {value!r}")
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{source} must be a positive finite number; got {number}")
    return number


class GumbelSoftmax(nn.Module):
    """A Gumbel-Softmax layer: ``forward(logits)`` draws a relaxed or hard one-hot sample.

    The temperature is a float or a schedule, any callable from the step to a float, such as
    :class:`gumbelkit.schedules.ExponentialAnnealing`. The module counts its steps: each call
    of :meth:`forward` in training mode uses ``tau(num_steps)`` and then adds 1 to
    :attr:`num_steps`; in evaluation mode the count stands still. So one forward call per
    optimiser step anneals by the step, as the schedule's papers do; a model that calls the
    layer several times per step sets :attr:`num_steps` itself (``layer.num_steps = step``)
    before the calls. :attr:`num_steps` is saved in the ``state_dict``, so a resumed run
    continues the schedule where it stopped.

    Parameters
    ----------
    tau : float, torch.Tensor or callable, optional
        The temperature, positive and finite: a float, a 0-d tensor (an ``nn.Parameter`` is
        learned: the sample is differentiable in it), or a schedule ``tau(step) -> float``
        (checked at each call).
    hard : bool, optional
        Return exact one-hot samples with the gradient of ``estimator``.
    dim : int, optional
        The class dimension of the logits.
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the hard sample, as for :func:`gumbelkit.gumbel_softmax`.

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.schedules import ExponentialAnnealing
    >>> from gumbelkit.torch.nn import GumbelSoftmax
    >>> layer = GumbelSoftmax(ExponentialAnnealing(tau0=1.0, rate=0.1, tau_min=0.5, interval=1),
    ...                       hard=True)
    >>> y = layer(torch.randn(2, 4))
    >>> layer.num_steps, round(layer.temperature, 4)
    (1, 0.9048)

    """

    def __init__(self, tau: float | Callable[[int], float] = 1.0, hard: bool = False,
                 dim: int = -1, estimator: Estimator = "st") -> None:
        super().__init__()
        # A number is checked now, not at the first forward; a schedule when it is called.
        if not callable(tau):
            _temperature(tau)
        # The estimator too: an unknown name would otherwise fail only at the first forward.
        # No tau here: ReinMax's warning about tau < 1 comes from each forward's call.
        hard = check_bool(hard, "hard")
        check_estimator(estimator, hard=hard)
        self.tau = tau
        self.hard = hard
        self.dim = dim
        self.estimator = estimator
        self.num_steps = 0

    @property
    def temperature(self) -> float:
        """The temperature the next :meth:`forward` call uses.

        Raises
        ------
        TypeError, ValueError
            If the schedule returns no positive finite number at :attr:`num_steps`.

        """
        if callable(self.tau):
            return _temperature(self.tau(self.num_steps),
                                f"tau: the schedule's value at step {self.num_steps}")
        return _temperature(self.tau)

    def forward(self, logits: torch.Tensor, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a sample at the current temperature; in training mode, then count a step.

        Parameters
        ----------
        logits : torch.Tensor
            Unnormalised log-probabilities, classes along :attr:`dim`.
        generator : torch.Generator, optional
            The random source; ``None`` uses PyTorch's global generator.

        Returns
        -------
        torch.Tensor
            The sample, with the shape, dtype and device of ``logits``.

        """
        # A tensor temperature goes as it is: a parameter keeps its gradient, and
        # torch.compile traces it without reading its value (the core checks it where free).
        tau: float | torch.Tensor
        if isinstance(self.tau, torch.Tensor) and self.tau.is_floating_point():
            tau = self.tau
        else:
            tau = self.temperature
        if self.training:
            self.num_steps += 1
        return gumbel_softmax(logits, tau, self.hard, dim=self.dim, generator=generator,
                              estimator=self.estimator)

    def get_extra_state(self) -> dict[str, int]:
        """Return what ``state_dict`` saves beside the tensors: the step count.

        Returns
        -------
        dict
            ``{"num_steps": num_steps}``.

        """
        return {"num_steps": self.num_steps}

    def set_extra_state(self, state: Any) -> None:
        """Restore the step count from a ``state_dict``.

        Parameters
        ----------
        state : dict
            What :meth:`get_extra_state` returned.

        """
        self.num_steps = int(state["num_steps"])

    def extra_repr(self) -> str:
        """Return the arguments ``repr`` shows.

        Returns
        -------
        str
            The temperature or schedule, ``hard``, ``dim`` and ``estimator``.

        """
        return (f"tau={self.tau!r}, hard={self.hard}, dim={self.dim}, "
                f"estimator={self.estimator!r}")


class HardConcreteGate(nn.Module):
    """Hard Concrete gates for L0 regularisation (Louizos et al., arXiv 1712.01312).

    The parameter :attr:`log_alpha` holds one gate's location per entry of ``shape``. In
    training mode :meth:`forward` draws reparameterised gates from
    :class:`gumbelkit.distributions.HardConcrete` (exact zeros and ones included); in
    evaluation mode it uses the deterministic test-time gate. Add ``lambda *
    gate.l0_penalty()`` to the loss for the L0 regulariser.

    Parameters
    ----------
    shape : int or tuple of int
        The shape of the gates, e.g. the number of input features of the gated layer.
    beta : float, optional
        Temperature of the gates, positive; 2/3 in the reference implementation.
    gamma : float, optional
        Lower end of the stretch interval, negative.
    zeta : float, optional
        Upper end of the stretch interval, above 1.
    droprate_init : float, optional
        The initial probability, in ``(0, 1)``, that a gate is closed: ``log_alpha`` starts
        at ``log(1 - droprate_init) - log(droprate_init)`` plus normal noise of standard
        deviation 0.01, as in the reference implementation.
    device : torch.device, optional
        Device of :attr:`log_alpha`.
    dtype : torch.dtype, optional
        Floating dtype of :attr:`log_alpha` (default PyTorch's default dtype).

    Examples
    --------
    >>> import torch
    >>> from gumbelkit.torch.nn import HardConcreteGate
    >>> gate = HardConcreteGate(5)
    >>> x = torch.randn(8, 5)
    >>> gate(x).shape, gate.l0_penalty().shape
    (torch.Size([8, 5]), torch.Size([]))
    >>> gate.eval()(x).shape  # the deterministic gate
    torch.Size([8, 5])

    """

    def __init__(self, shape: int | tuple[int, ...], *, beta: float = 2.0 / 3.0,
                 gamma: float = -0.1, zeta: float = 1.1, droprate_init: float = 0.5,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        droprate_init = check_real(droprate_init, "droprate_init")
        if not 0.0 < droprate_init < 1.0:
            raise ValueError(f"droprate_init must lie in (0, 1); got {droprate_init}")
        size = check_shape(shape, "shape")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            # log_alpha is a parameter: PyTorch's own error names no argument.
            raise ValueError(f"dtype must be a floating torch.dtype such as torch.float32; "
                             f"got {dtype!r}")
        self.log_alpha = nn.Parameter(torch.empty(size, device=device, dtype=dtype))
        self.beta = beta
        self.gamma = gamma
        self.zeta = zeta
        self.droprate_init = droprate_init
        self.distribution()  # checks beta, gamma and zeta now, not at the first forward
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw :attr:`log_alpha` anew around ``log(1 - droprate_init) - log(droprate_init)``."""
        mean = math.log(1.0 - self.droprate_init) - math.log(self.droprate_init)
        nn.init.normal_(self.log_alpha, mean, 1e-2)

    def distribution(self) -> Any:
        """Return the gates' law, a :class:`gumbelkit.distributions.HardConcrete`.

        Returns
        -------
        gumbelkit.distributions.HardConcrete
            Over the current :attr:`log_alpha`, differentiable in it.

        """
        return core.HardConcrete(self.log_alpha, beta=self.beta, gamma=self.gamma,
                                 zeta=self.zeta)

    def forward(self, x: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Return ``x`` times the gates, or the gates themselves when ``x`` is None.

        Parameters
        ----------
        x : torch.Tensor, optional
            The input to gate; the gates broadcast against its trailing dimensions (one draw
            per call, shared by the rows of ``x``).
        generator : torch.Generator, optional
            The random source of the training-mode draw; ``None`` uses PyTorch's global
            generator.

        Returns
        -------
        torch.Tensor
            ``x * z``, or ``z``: sampled gates in training mode, the deterministic gates in
            evaluation mode.

        """
        law = self.distribution()
        gate: torch.Tensor = law.rsample(rng=generator) if self.training else (
            law.deterministic_gate())
        return gate if x is None else x * gate

    def l0_penalty(self) -> torch.Tensor:
        """Return the expected L0 norm of the gates, ``sum P(z != 0)``.

        Returns
        -------
        torch.Tensor
            A scalar, differentiable in :attr:`log_alpha`.

        """
        return torch.sum(self.distribution().l0_penalty())

    def extra_repr(self) -> str:
        """Return the arguments ``repr`` shows.

        Returns
        -------
        str
            The shape of the gates and their stretch.

        """
        return (f"shape={tuple(self.log_alpha.shape)}, beta={self.beta}, gamma={self.gamma}, "
                f"zeta={self.zeta}")
