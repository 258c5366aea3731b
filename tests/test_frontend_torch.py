"""The PyTorch front end, gumbelkit.torch: PyTorch's signatures and classes over the one core.

References: the core itself where the property is "the same values as the core for the same
generator state" (the front end must add no second implementation); torch.nn.functional's
gumbel_softmax for its signature, its eps warning and its law (not its values: its noise comes
from ``exponential_()``); torch.distributions' values where PyTorch is right (same shapes,
log-densities to rounding), and per-row evaluations with a scalar temperature where PyTorch is
wrong (pytorch/pytorch#37162); Pyro's SVI for a real model.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

import gumbelkit as gk  # noqa: E402
import gumbelkit.torch as gkt  # noqa: E402
from gumbelkit import distributions as core  # noqa: E402
from gumbelkit.schedules import ExponentialAnnealing  # noqa: E402
from gumbelkit.torch import distributions as gtd  # noqa: E402
from gumbelkit.torch.nn import GumbelSoftmax, HardConcreteGate  # noqa: E402

F = torch.nn.functional
td = torch.distributions
# Not re-exported by torch.distributions.
from torch.distributions.relaxed_bernoulli import (  # noqa: E402
    LogitRelaxedBernoulli as LogitRelaxedBernoulliTorch,
)
from torch.distributions.relaxed_categorical import (  # noqa: E402
    ExpRelaxedCategorical as ExpRelaxedCategoricalTorch,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def logits_of(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed + 100), dtype=dtype)


# --- functional -------------------------------------------------------------------------------


def test_gumbel_softmax_has_pytorchs_positional_signature():
    ours = list(inspect.signature(gkt.gumbel_softmax).parameters.values())
    theirs = list(inspect.signature(F.gumbel_softmax).parameters.values())
    assert [(p.name, p.default) for p in ours[:len(theirs)]] == [
        (p.name, p.default) for p in theirs
    ]
    # What gumbelkit adds is keyword-only, so no positional call changes meaning.
    assert all(p.kind is p.KEYWORD_ONLY for p in ours[len(theirs):])
    assert {p.name for p in ours[len(theirs):]} == {"generator", "estimator"}


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_gumbel_softmax_is_the_cores_for_the_same_generator(hard, dim):
    logits = logits_of(3, 4, 5)
    ours = gkt.gumbel_softmax(logits, 0.5, hard, 1e-10, dim, generator=generator(7))
    expected = gk.gumbel_softmax(logits, tau=0.5, hard=hard, axis=dim, rng=generator(7))
    assert torch.equal(ours, expected)


def test_gumbel_softmax_uses_the_global_generator_like_pytorch():
    logits = logits_of(4, 6)
    torch.manual_seed(3)
    ours = gkt.gumbel_softmax(logits, 0.7, dim=-1)
    torch.manual_seed(3)
    expected = gk.gumbel_softmax(logits, tau=0.7)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("estimator", ["st", "reinmax", "gapped"])
def test_gumbel_softmax_gradient_is_the_cores(estimator):
    weights = logits_of(4, 5, seed=1)
    grads = []
    for draw in (
        lambda x: gkt.gumbel_softmax(x, 1.0, True, generator=generator(2), estimator=estimator),
        lambda x: gk.gumbel_softmax(x, tau=1.0, hard=True, rng=generator(2),
                                    estimator=estimator),
    ):
        x = logits_of(4, 5).requires_grad_()
        (draw(x) * weights).sum().backward()
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1])


def test_eps_warns_as_pytorch_does():
    logits = logits_of(2, 3)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated") as ours:
        gkt.gumbel_softmax(logits, 1.0, False, 1e-5)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated") as theirs:
        F.gumbel_softmax(logits, 1.0, False, 1e-5)
    assert str(ours[0].message) == str(theirs[0].message)
    assert ours[0].category is theirs[0].category
    assert ours[0].filename == __file__  # stacklevel: the caller's line, as PyTorch's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gkt.gumbel_softmax(logits, 1.0, False, 1e-10)  # the default value: no warning


def test_eps_compiles_with_fullgraph():
    # Dynamo cannot trace warnings.warn outside PyTorch: a drop-in call that passes eps failed
    # under fullgraph=True, where F.gumbel_softmax compiles. The warning is eager-only.
    torch._dynamo.reset()
    try:
        compiled = torch.compile(lambda lg: gkt.gumbel_softmax(lg, 0.5, True, 1e-5),
                                 fullgraph=True)
        logits = logits_of(4, 5, dtype=torch.float32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
            hard = compiled(logits)
        assert torch.equal(hard.sum(-1), torch.ones(4))
        assert torch.all((hard == 0) | (hard == 1))
    finally:
        torch._dynamo.reset()


def test_a_tau_with_the_class_dim_kept_is_one_temperature_per_row():
    logits = logits_of(3, 4)
    tau = torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64)
    ours = gkt.gumbel_softmax(logits, tau[:, None], generator=generator(1))
    expected = gk.gumbel_softmax(logits, tau=tau, rng=generator(1))
    assert torch.equal(ours, expected)


def test_gumbel_max_is_the_cores():
    logits = logits_of(3, 5)
    ours = gkt.gumbel_max(logits, 0, generator=generator(4), sample_shape=(6,))
    expected = gk.gumbel_max(logits, axis=0, rng=generator(4), sample_shape=(6,))
    assert torch.equal(ours, expected)
    assert ours.shape == (6, 5)


def test_gumbel_softmax_has_the_law_of_pytorchs():
    # Same law, different noise recipe: compare distributions, not values.
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    n = 20_000
    ours = gkt.gumbel_softmax(logits.expand(n, 4), 0.5, generator=generator(11))
    torch.manual_seed(12)
    theirs = F.gumbel_softmax(logits.expand(n, 4), 0.5)
    for k in range(4):
        assert stats.ks_2samp(ours[:, k].numpy(), theirs[:, k].numpy()).pvalue > 1e-4
    hard = gkt.gumbel_softmax(logits.expand(n, 4), 0.5, True, generator=generator(13))
    counts = hard.sum(dim=0).numpy()
    assert stats.chisquare(counts, n * np.array([0.1, 0.2, 0.3, 0.4])).pvalue > 1e-4


# --- distributions: against torch.distributions --------------------------------------------

PAIRS = {
    "RelaxedOneHotCategorical": (gtd.RelaxedOneHotCategorical, td.RelaxedOneHotCategorical),
    "ExpRelaxedCategorical": (gtd.ExpRelaxedCategorical, ExpRelaxedCategoricalTorch),
    "RelaxedBernoulli": (gtd.RelaxedBernoulli, td.RelaxedBernoulli),
    "LogitRelaxedBernoulli": (gtd.LogitRelaxedBernoulli, LogitRelaxedBernoulliTorch),
}
CATEGORICAL = {"RelaxedOneHotCategorical", "ExpRelaxedCategorical"}


def params(name, dtype=torch.float64):
    """Logits and probs for a (4,) batch: (4, 3) for the categoricals, (4,) for the binaries."""
    if name in CATEGORICAL:
        logits = logits_of(4, 3, dtype=dtype)
        return logits, torch.softmax(logits, dim=-1)
    logits = logits_of(4, dtype=dtype)
    return logits, torch.sigmoid(logits)


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("by", ["logits", "probs"])
def test_distribution_matches_torch_distributions(name, by):
    ours_class, torch_class = PAIRS[name]
    logits, probs = params(name)
    temperature = torch.tensor(0.7, dtype=torch.float64)
    kwargs = {"logits": logits} if by == "logits" else {"probs": probs}
    ours, theirs = ours_class(temperature, **kwargs), torch_class(temperature, **kwargs)
    assert isinstance(ours, td.Distribution)
    assert ours.has_rsample
    assert ours.batch_shape == theirs.batch_shape
    assert isinstance(ours.batch_shape, torch.Size)
    assert ours.event_shape == theirs.event_shape
    assert isinstance(ours.event_shape, torch.Size)
    # The same kind of support (the simplex's allows a half-precision value's rounding), but
    # for the ExpConcrete's: PyTorch's real_vector holds points that are not its values, ours
    # is the log-simplex, which holds PyTorch's samples.
    assert ours.support.event_dim == theirs.support.event_dim
    if name == "ExpRelaxedCategorical":
        torch.manual_seed(1)
        assert bool(ours.support.check(theirs.sample((50,))).all())
        assert not bool(ours.support.check(torch.zeros(3, dtype=torch.float64)))
    else:
        assert isinstance(ours.support, type(theirs.support))
    assert set(theirs.arg_constraints) <= set(ours.arg_constraints)
    torch.testing.assert_close(ours.probs, theirs.probs)
    torch.testing.assert_close(ours.logits, theirs.logits)
    torch.manual_seed(0)
    value = theirs.sample((50,))
    assert ours.sample((50,)).shape == value.shape == ours.rsample((50,)).shape
    torch.testing.assert_close(ours.log_prob(value), theirs.log_prob(value),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize(("parameters", "values"), [(torch.float32, torch.float64),
                                                     (torch.float16, torch.float32)])
def test_log_prob_promotes_as_pytorch_does(name, parameters, values):
    # PyTorch scores a float64 value on float32 parameters in float64 (type promotion), and
    # so do these classes. Reference: torch.distributions on the same parameters cast to the
    # value's dtype (PyTorch's own promoted result computes lgamma(K) and log(tau) in the
    # parameters' dtype, 3e-5 off in float32).
    ours_class, torch_class = PAIRS[name]
    logits, _ = params(name, dtype=torch.float32)
    temperature = torch.tensor(0.7, dtype=parameters)
    ours = ours_class(temperature, logits=logits.to(parameters))
    theirs = torch_class(temperature, logits=logits.to(parameters))
    torch.manual_seed(0)
    sample = torch_class(0.7, logits=logits).sample((50,))

    def cast(dtype):  # back onto the support in the new dtype's precision
        value = sample.to(dtype)
        if name == "RelaxedOneHotCategorical":
            return value / value.sum(-1, keepdim=True)
        if name == "ExpRelaxedCategorical":
            return value - value.logsumexp(-1, keepdim=True)
        return value

    value = cast(values)
    scored = ours.log_prob(value)
    assert scored.dtype == theirs.log_prob(value).dtype == values
    wide = torch_class(temperature.to(values), logits=theirs.logits.to(values))
    torch.testing.assert_close(scored, wide.log_prob(value), rtol=1e-5, atol=1e-5)
    # A value no wider than the parameters keeps their dtype.
    assert ours.log_prob(cast(parameters)).dtype == parameters


@pytest.mark.parametrize("name", ["RelaxedOneHotCategorical", "ExpRelaxedCategorical"])
def test_a_float32_sample_cast_to_float64_passes_validation_as_in_pytorch(name):
    # Cast without renormalising, a float32 point's sum misses 1 by its float32 rounding (a
    # few 1e-7): torch.distributions' simplex check (1e-6) accepts it, and so must these
    # classes under the default validate_args. Reference: torch.distributions in float64.
    ours_class, torch_class = PAIRS[name]
    logits = torch.randn(3, 5, generator=generator(8))
    ours = ours_class(torch.tensor(0.5), logits=logits, validate_args=True)
    value = ours.rsample((200,), generator=generator(9)).double()
    theirs = torch_class(torch.tensor(0.5, dtype=torch.float64), logits=logits.double(),
                         validate_args=True)
    # Formulas that agree on the simplex differ off it by about the point's distance from it.
    torch.testing.assert_close(ours.log_prob(value), theirs.log_prob(value), rtol=1e-5,
                               atol=1e-5)
    # A point 1e-5 off the simplex is still refused.
    off = value[:1] * (1 + 1e-5) if name == "RelaxedOneHotCategorical" else value[:1] + 1e-5
    with pytest.raises(ValueError, match=r"(?i)simplex"):  # PyTorch's check or the core's
        ours.log_prob(off)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_samples_pass_validation(dtype):
    # PyTorch's simplex check (|sum - 1| < 1e-6 in the value's dtype) refused about 2% of the
    # float16 rows, so nearly every batch of 1000; the support here allows the dtype's rounding,
    # and still refuses a point 5% off. biject_to maps onto it as onto PyTorch's simplex.
    logits = torch.randn(1000, 6, generator=generator(12)).to(dtype)
    d = gtd.RelaxedOneHotCategorical(0.5, logits=logits, validate_args=True)
    value = d.rsample((5,), generator=generator(13))
    assert torch.isfinite(d.log_prob(value)).all()
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.full((1000, 6), 1.05 / 6, dtype=dtype))
    assert isinstance(torch.distributions.biject_to(d.support),
                      torch.distributions.transforms.StickBreakingTransform)
    assert isinstance(torch.distributions.transform_to(d.support),
                      torch.distributions.transforms.SoftmaxTransform)


@pytest.mark.parametrize("name", ["RelaxedOneHotCategorical", "ExpRelaxedCategorical"])
def test_an_empty_batch_passes_validation(name):
    # PyTorch's real_vector check reshapes zero entries to (..., -1) and fails (its own classes
    # raise RuntimeError here); these validate, sample and score an empty batch.
    ours_class, _ = PAIRS[name]
    d = ours_class(0.5, logits=torch.zeros(0, 5), validate_args=True)
    value = d.rsample((2,))
    assert value.shape == (2, 0, 5)
    assert d.log_prob(value).shape == (2, 0)
    # NaN logits are still refused, and the support maps as PyTorch's real_vector does.
    with pytest.raises(ValueError, match="logits"):
        ours_class(0.5, logits=torch.tensor([[0.0, math.nan]]), validate_args=True)
    if name == "ExpRelaxedCategorical":  # the log-simplex: y -> log_softmax((y, 0))
        assert torch.distributions.biject_to(d.support)(torch.zeros(0, 4)).shape == (0, 5)


@pytest.mark.parametrize(("tau", "logits"), [(0.7, [0.3, -1.2]), (2.0, [1.0, 0.0, -0.5])])
def test_the_exp_concretes_bijection_carries_its_log_prob_to_a_density(tau, logits):
    # PyTorch's ExpRelaxedCategorical declares real_vector, whose points are not its values, so
    # a guide or HMC drew off the law. Here biject_to(support) maps R^(K-1) onto the
    # log-simplex with a log-determinant on log_prob's own measure: log_prob + logdet is the
    # density of the unconstrained point. Reference: its integral is 1, by scipy's quad (K = 2)
    # and by the trapezoidal rule on a grid of step 0.05 over [-40, 40]^2 (K = 3; exact to far
    # below 1e-6 for a smooth density that falls as exp(-|y| / tau) and faster).
    from scipy import integrate

    d = gtd.ExpRelaxedCategorical(tau, logits=torch.tensor(logits, dtype=torch.float64))
    bijection = torch.distributions.biject_to(d.support)
    assert bijection == torch.distributions.transform_to(d.support)

    def density(y: torch.Tensor) -> torch.Tensor:
        z = bijection(y)
        return torch.exp(d.log_prob(z) + bijection.log_abs_det_jacobian(y, z))

    if len(logits) == 2:
        total, error = integrate.quad(
            lambda y: float(density(torch.tensor([y], dtype=torch.float64))), -np.inf, np.inf)
        assert abs(total - 1) < 1e-6 + error
    else:
        axis = torch.linspace(-40.0, 40.0, 1601, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
        total = torch.trapezoid(torch.trapezoid(density(grid), axis, dim=0), axis)
        assert abs(float(total) - 1) < 1e-6
    # The inverse, and the support: the law's samples lie in it, a point 5% off and NaN not.
    y = torch.randn(4, len(logits) - 1, generator=generator(3), dtype=torch.float64)
    torch.testing.assert_close(bijection.inv(bijection(y)), y)
    assert bool(d.support.check(d.rsample((100,), generator=generator(4))).all())
    off = torch.log(torch.full((len(logits),), 1.05 / len(logits)))
    assert not d.support.check(off)
    assert not d.support.check(torch.full_like(off, math.nan))


def test_pyro_guide_over_an_exp_concrete_latent():
    # AutoNormal over an ExpRelaxedCategorical latent: the guide's points were unconstrained
    # vectors, which validation refused (the law's values are logarithms of simplex points).
    pyro = pytest.importorskip("pyro", reason="Pyro is not installed (the test extra has it)")
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoNormal
    from pyro.optim import Adam

    from gumbelkit.torch import pyro as gkp

    pyro.clear_param_store()
    pyro.set_rng_seed(1)

    def model():
        z = pyro.sample("z", gkp.ExpRelaxedCategorical(0.5, logits=torch.tensor([0.0, 1.0, -1.0]),
                                                       validate_args=True))
        pyro.sample("x", pyro.distributions.Normal(z.exp()[0], 0.1), obs=torch.tensor(0.9))

    guide = AutoNormal(model)
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    losses = [svi.step() for _ in range(60)]
    assert all(math.isfinite(loss) for loss in losses)
    z = guide()["z"].detach()
    assert z.shape == (3,)
    assert abs(float(z.logsumexp(-1))) < 1e-6
    assert float(z.exp()[0]) > 0.5  # the posterior puts the first class near 0.9


@pytest.mark.parametrize("name", list(PAIRS))
def test_samples_and_log_prob_are_the_cores(name):
    ours_class, _ = PAIRS[name]
    logits, _ = params(name)
    core_class = {
        "RelaxedOneHotCategorical": core.RelaxedOneHotCategorical,
        "ExpRelaxedCategorical": core.ExpRelaxedOneHotCategorical,
        "RelaxedBernoulli": core.RelaxedBernoulli,
        "LogitRelaxedBernoulli": core.LogitRelaxedBernoulli,
    }[name]
    ours = ours_class(0.5, logits=logits)
    reference = core_class(ours.logits, 0.5)
    value = ours.rsample((7,), generator=generator(5))
    assert torch.equal(value, reference.rsample((7,), rng=generator(5)))
    assert torch.equal(ours.sample((7,), generator=generator(5)), value)
    assert torch.equal(ours.log_prob(value), reference.log_prob(value))


def test_a_temperature_per_row_of_shape_n_1_gives_log_prob_of_shape_n():
    # pytorch/pytorch#37162: torch.distributions gives log_prob the shape (n, n) here.
    logits = logits_of(3, 4)
    temperature = torch.tensor([[0.3], [1.0], [3.0]], dtype=torch.float64)
    d = gtd.RelaxedOneHotCategorical(temperature, logits=logits)
    assert d.batch_shape == (3,)
    value = d.sample((5,), generator=generator(1))
    log_p = d.log_prob(value)
    assert log_p.shape == (5, 3)
    for row in range(3):  # each row against PyTorch with that row's scalar temperature
        theirs = td.RelaxedOneHotCategorical(temperature[row, 0], logits=logits[row])
        torch.testing.assert_close(log_p[:, row], theirs.log_prob(value[:, row]))


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_float_temperature_works(name):
    ours_class, torch_class = PAIRS[name]
    logits, _ = params(name)
    ours = ours_class(0.5, logits=logits)
    theirs = torch_class(torch.tensor(0.5, dtype=torch.float64), logits=logits)
    value = theirs.sample((4,))
    torch.testing.assert_close(ours.log_prob(value), theirs.log_prob(value))
    assert ours.temperature.shape == ()
    assert float(ours.temperature) == 0.5


def test_relaxed_bernoulli_log_prob_stays_finite_at_logits_of_100():
    logits = torch.tensor([-100.0, 100.0])
    d = gtd.RelaxedBernoulli(torch.tensor(0.5), logits=logits)
    value = torch.tensor([0.5, 0.5])
    log_p = d.log_prob(value)
    assert torch.isfinite(log_p).all()
    # log tau - |d| - 2 log1p(exp(-|d|)) - log y - log(1 - y), d = logits - tau logit(y)
    expected = math.log(0.5) - 100 - 2 * math.log1p(math.exp(-100)) - 2 * math.log(0.5)
    torch.testing.assert_close(log_p, torch.full((2,), expected))
    t = gtd.LogitRelaxedBernoulli(0.5, logits=logits)
    assert torch.isfinite(t.log_prob(t.sample((100,), generator=generator(2)))).all()


@pytest.mark.parametrize("name", list(PAIRS))
def test_expand(name):
    ours_class, _ = PAIRS[name]
    logits, _ = params(name)
    d = ours_class(torch.tensor(0.5, dtype=torch.float64), logits=logits)
    big = d.expand((2, *d.batch_shape))
    assert type(big) is ours_class
    assert big.batch_shape == (2, *d.batch_shape)
    assert big.event_shape == d.event_shape
    value = d.sample((3, 1))
    assert torch.equal(big.log_prob(value), d.log_prob(value).expand(3, 2, *d.batch_shape))
    assert big.rsample((5,)).shape == (5, *big.batch_shape, *big.event_shape)


def test_gradients_reach_logits_and_temperature():
    logits = logits_of(2, 3).requires_grad_()
    temperature = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    d = gtd.RelaxedOneHotCategorical(temperature, logits=logits)
    y = d.rsample((4,), generator=generator(0))
    (y[..., 0].sum() + d.log_prob(y).sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    assert torch.isfinite(temperature.grad).all()
    assert temperature.grad.abs().sum() > 0
    assert not d.sample().requires_grad


def test_validation_checks_parameters_and_support():
    with pytest.raises(ValueError, match="temperature"):
        gtd.RelaxedOneHotCategorical(torch.tensor(-1.0), logits=torch.zeros(3),
                                     validate_args=True)
    with pytest.raises(ValueError, match="not both"):
        gtd.RelaxedBernoulli(0.5, probs=torch.ones(2) / 2, logits=torch.zeros(2))
    d = gtd.RelaxedOneHotCategorical(0.5, logits=torch.zeros(3), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0.5, 0.6, 0.7]))


def test_kl_divergence_has_no_registration_and_monte_carlo_works():
    # Neither PyTorch nor gumbelkit registers a KL for the Concrete laws (none in closed form).
    p = gtd.ExpRelaxedCategorical(0.5, logits=logits_of(2, 3))
    q = gtd.ExpRelaxedCategorical(0.5, logits=torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(NotImplementedError):
        td.kl_divergence(p, q)
    with pytest.raises(NotImplementedError):
        td.kl_divergence(ExpRelaxedCategoricalTorch(torch.tensor(0.5), logits=torch.zeros(3)),
                         ExpRelaxedCategoricalTorch(torch.tensor(0.5), logits=torch.zeros(3)))
    z = p.rsample((20_000,), generator=generator(3))
    kl = (p.log_prob(z) - q.log_prob(z)).mean(0)
    assert kl.shape == (2,)
    assert (kl > 0).all()


def test_torch_distributions_utilities_take_them():
    d = gtd.RelaxedBernoulli(0.5, logits=torch.zeros(2, 3))
    independent = td.Independent(d, 1)
    assert independent.batch_shape == (2,)
    assert independent.event_shape == (3,)
    assert independent.log_prob(d.sample()).shape == (2,)
    assert independent.has_rsample


def test_straight_through_is_one_hot_with_the_relaxed_gradient():
    logits = logits_of(4, 5).requires_grad_()
    weights = logits_of(4, 5, seed=9)
    d = gtd.RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits)
    y = d.rsample((3,), generator=generator(1))
    soft = y._unquantize
    assert torch.equal(y, F.one_hot(soft.argmax(-1), 5).to(y.dtype))
    (grad_hard,) = torch.autograd.grad((y * weights).sum(), logits, retain_graph=True)
    (grad_soft,) = torch.autograd.grad((soft * weights).sum(), logits)
    torch.testing.assert_close(grad_hard, grad_soft)
    relaxed = gtd.RelaxedOneHotCategorical(0.5, logits=logits)
    torch.testing.assert_close(d.log_prob(y), relaxed.log_prob(soft))
    assert type(d.expand((2, 4))) is gtd.RelaxedOneHotCategoricalStraightThrough


def test_hard_concrete_is_the_cores():
    log_alpha = logits_of(6).requires_grad_()
    d = gtd.HardConcrete(log_alpha)
    reference = core.HardConcrete(log_alpha)
    assert torch.equal(d.rsample((4,), generator=generator(2)),
                       reference.rsample((4,), rng=generator(2)))
    assert torch.equal(d.l0_penalty(), reference.l0_penalty())
    assert torch.equal(d.deterministic_gate(), reference.deterministic_gate())
    assert torch.equal(d.cdf(torch.full((6,), 0.5, dtype=torch.float64)),
                       reference.cdf(torch.full((6,), 0.5, dtype=torch.float64)))
    with pytest.raises(NotImplementedError, match="no density"):
        d.log_prob(torch.zeros(6, dtype=torch.float64))
    assert d.expand((2, 6)).rsample().shape == (2, 6)


# --- nn ------------------------------------------------------------------------------------


def test_gumbel_softmax_module_is_the_function():
    layer = GumbelSoftmax(0.5, hard=True, dim=0)
    logits = logits_of(4, 3)
    assert torch.equal(layer(logits, generator=generator(1)),
                       gkt.gumbel_softmax(logits, 0.5, True, dim=0, generator=generator(1)))


def test_gumbel_softmax_module_steps_its_schedule_in_training_only():
    schedule = ExponentialAnnealing(tau0=1.0, rate=0.1, tau_min=0.5, interval=1)
    layer = GumbelSoftmax(schedule)
    logits = logits_of(2, 3)
    for step in range(3):
        assert layer.temperature == schedule(step)
        y = layer(logits, generator=generator(step))
        assert torch.equal(y, gkt.gumbel_softmax(logits, schedule(step),
                                                 generator=generator(step)))
    layer.eval()
    layer(logits)
    assert layer.num_steps == 3
    restored = GumbelSoftmax(schedule)
    restored.load_state_dict(layer.state_dict())
    assert restored.num_steps == 3
    assert restored.temperature == schedule(3)


def test_hard_concrete_gate_samples_in_training_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    gate = HardConcreteGate(5, droprate_init=0.2, dtype=torch.float64)
    assert gate.log_alpha.shape == (5,)
    initial = torch.full((5,), math.log(4.0), dtype=torch.float64)  # log(0.8 / 0.2)
    assert torch.allclose(gate.log_alpha, initial, atol=0.1)
    x = logits_of(8, 5)
    law = core.HardConcrete(gate.log_alpha)
    assert torch.equal(gate(x, generator=generator(3)), x * law.rsample(rng=generator(3)))
    gate.eval()
    assert torch.equal(gate(x), x * law.deterministic_gate())
    assert torch.equal(gate(), law.deterministic_gate())
    penalty = gate.l0_penalty()
    assert penalty.shape == ()
    assert torch.equal(penalty, law.l0_penalty().sum())
    penalty.backward()
    assert (gate.log_alpha.grad > 0).all()  # the penalty closes gates


def test_modules_check_their_arguments_when_built():
    # A bad temperature or gate shape is named when the module is built, not at its first
    # forward (or in PyTorch's own words).
    for tau in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="tau must be a positive finite number"):
            GumbelSoftmax(tau)
    for shape in (-1, (3, -2)):
        with pytest.raises(ValueError, match="shape must have non-negative sizes"):
            HardConcreteGate(shape)
    for shape in ((2.0,), True):
        with pytest.raises(TypeError, match="shape must be an int or a tuple of ints"):
            HardConcreteGate(shape)
    for droprate in ("0.5", None):  # Python's own TypeError named no argument
        with pytest.raises(TypeError, match="droprate_init must be a real number"):
            HardConcreteGate(4, droprate_init=droprate)
    with pytest.raises(ValueError, match=r"droprate_init must lie in \(0, 1\); got 1.0"):
        HardConcreteGate(4, droprate_init=1)
    assert HardConcreteGate(0).log_alpha.shape == (0,)
    assert GumbelSoftmax(lambda step: 1.0 / (1 + step)).temperature == 1.0
    for hard in (1, "yes", None):
        with pytest.raises(TypeError, match="hard must be True or False"):
            GumbelSoftmax(1.0, hard=hard)


# --- Pyro ----------------------------------------------------------------------------------


def test_pyro_model_with_svi():
    pyro = pytest.importorskip("pyro", reason="Pyro is not installed (the test extra has it)")
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam

    from gumbelkit.torch import pyro as gkp

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    means = torch.tensor([-2.0, 0.0, 2.0])
    data = torch.full((20,), 2.0)

    def model():
        with pyro.plate("data", len(data)):
            z = pyro.sample("z", gkp.RelaxedOneHotCategorical(0.5, logits=torch.zeros(3)))
            gate = pyro.sample("gate", gkp.RelaxedBernoulli(0.5, logits=torch.zeros(())))
            pyro.sample("x", pyro.distributions.Normal(z @ means * (0.5 + gate), 0.5),
                        obs=data)

    def guide():
        q = pyro.param("q", torch.zeros(3))
        g = pyro.param("g", torch.zeros(()))
        with pyro.plate("data", len(data)):
            pyro.sample("z", gkp.RelaxedOneHotCategoricalStraightThrough(0.5, logits=q))
            pyro.sample("gate", gkp.RelaxedBernoulli(0.5, logits=g))

    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    losses = [svi.step() for _ in range(30)]
    assert all(math.isfinite(loss) for loss in losses)
    q = pyro.param("q").detach()
    assert q.argmax() == 2  # the posterior moves to the class that explains the data
    assert isinstance(gkp.RelaxedOneHotCategorical(0.5, logits=q), gtd.RelaxedOneHotCategorical)


@pytest.mark.parametrize(("tau", "error", "message"), [
    (None, TypeError, "tau must be a positive finite number, a 0-d tensor or a schedule "
                      "tau.step. -> float; got NoneType None"),
    ("0.5", TypeError, "tau must be .*; got str '0.5'"),
    (True, TypeError, "tau must be .*; got bool True"),
    (np.array(0.5), TypeError, "tau must be .*; got numpy.ndarray"),
    (torch.tensor([0.5, 0.5]), ValueError, r"tau must be .*; got a torch.float32 tensor of "
                                           r"shape \(2,\)"),
    (torch.tensor(True), ValueError, "tau must be .*; got a torch.bool tensor"),
    (torch.tensor(-1.0), ValueError, "tau must be a positive finite number; got -1.0"),
    (10**400, ValueError, "tau must be a positive finite number; got inf"),
])
def test_gumbel_softmax_module_names_a_bad_tau_when_built(tau, error, message):
    with pytest.raises(error, match=message):
        GumbelSoftmax(tau)


def test_gumbel_softmax_module_takes_a_0d_tensor_and_numpy_numbers():
    logits = logits_of(3, 4)
    for tau, value in ((torch.tensor(0.5), 0.5), (torch.tensor(0.5, requires_grad=True), 0.5),
                       (np.float32(0.5), 0.5), (np.int64(2), 2.0)):
        layer = GumbelSoftmax(tau, hard=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning about a tensor that requires grad
            y = layer(logits, generator=generator(0))
        assert layer.temperature == value
        assert torch.equal(y, gkt.gumbel_softmax(logits, value, True, generator=generator(0)))


@pytest.mark.parametrize(("value", "error", "message"), [
    ("0.5", TypeError, "got str '0.5'"),
    (None, TypeError, "got NoneType None"),
    (True, TypeError, "got bool True"),
    (torch.tensor([0.5, 0.5]), ValueError, r"got a torch.float32 tensor of shape \(2,\)"),
    (0.0, ValueError, "must be a positive finite number; got 0.0"),
    (math.nan, ValueError, "must be a positive finite number; got nan"),
])
def test_gumbel_softmax_module_names_a_bad_schedule_value_at_its_forward(value, error, message):
    layer = GumbelSoftmax(lambda step: 1.0 if step == 0 else value)
    logits = logits_of(2, 3)
    layer(logits)  # step 0: 1.0
    with pytest.raises(error, match=r"tau: the schedule's value at step 1 .*" + message):
        layer(logits)
    assert layer.num_steps == 1  # the failed call counted no step


def test_gumbel_softmax_module_checks_its_estimator_when_built():
    with pytest.raises(ValueError, match=r"estimator must be one of 'st', .*; got 'bogus'"):
        GumbelSoftmax(0.5, hard=True, estimator="bogus")
    with pytest.raises(TypeError, match="estimator must be a name"):
        GumbelSoftmax(0.5, hard=True, estimator=3)
    with pytest.raises(ValueError, match="estimator 'reinmax' is a gradient estimator of hard"):
        GumbelSoftmax(0.5, estimator="reinmax")
    layer = GumbelSoftmax(1.0, hard=True, estimator="gumbel-rao")
    assert "estimator='gumbel-rao'" in repr(layer)


def test_hard_concrete_gate_shape_and_dtype():
    assert HardConcreteGate(np.int64(3)).log_alpha.shape == (3,)
    assert HardConcreteGate((2, np.int32(3))).log_alpha.shape == (2, 3)
    assert HardConcreteGate(torch.Size([4])).log_alpha.shape == (4,)
    for shape in (2.0, np.float64(3.0), "3", None, np.array([3])):
        with pytest.raises(TypeError, match="shape must be an int or a tuple of ints"):
            HardConcreteGate(shape)
    with pytest.raises(ValueError, match="shape must have non-negative sizes"):
        HardConcreteGate((2, np.int64(-1)))
    for dtype in (torch.int64, torch.bool, torch.complex64, "float32"):
        with pytest.raises(ValueError, match=r"dtype must be a floating torch\.dtype"):
            HardConcreteGate(3, dtype=dtype)
    assert HardConcreteGate(3, dtype=torch.float16).log_alpha.dtype == torch.float16


@pytest.mark.parametrize("cls", [gtd.RelaxedOneHotCategorical, gtd.ExpRelaxedCategorical,
                                 gtd.RelaxedOneHotCategoricalStraightThrough])
def test_a_zero_probability_has_a_finite_gradient(cls):
    # log(probs) alone has the derivative 1/0 at a zero probability, which the normalisation
    # spread as NaN to every entry. With class 1 at probability 0 the law is the two-class law
    # of classes 0 and 2: log_prob's gradients in their probabilities are torch.distributions'
    # for that law, class 1's is 0; a sample's gradient is finite.
    probs = torch.tensor([0.3, 0.0, 0.7], dtype=torch.float64, requires_grad=True)
    pair = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(0.5, dtype=torch.float64)
    if cls is gtd.ExpRelaxedCategorical:
        value = torch.log(torch.tensor([0.4, 0.0, 0.6], dtype=torch.float64))
        reference = ExpRelaxedCategoricalTorch(tau, probs=pair)
    else:
        value = torch.tensor([0.4, 0.0, 0.6], dtype=torch.float64)
        reference = td.RelaxedOneHotCategorical(tau, probs=pair)
    if cls is gtd.RelaxedOneHotCategoricalStraightThrough:
        value._unquantize = value.clone()
    (grad,) = torch.autograd.grad(cls(0.5, probs=probs).log_prob(value), probs)
    (expected,) = torch.autograd.grad(reference.log_prob(value[[0, 2]]), pair)
    torch.testing.assert_close(grad[[0, 2]], expected)
    assert abs(float(grad[1])) < 1e-12
    (sample_grad,) = torch.autograd.grad(
        cls(0.5, probs=probs).rsample(generator=generator(2))[0], probs)
    assert torch.isfinite(sample_grad).all()


def test_parameters_of_the_wrong_type_are_named():
    # A list or NumPy array of logits or probs is taken (as the binary classes take it); another
    # type is refused with an error naming the argument, not an AttributeError from inside.
    by_list = gtd.RelaxedOneHotCategorical(0.5, logits=[0.0, 1.0])
    by_array = gtd.RelaxedOneHotCategorical(0.5, probs=np.array([0.25, 0.75]))
    torch.testing.assert_close(by_list.probs, torch.softmax(torch.tensor([0.0, 1.0]), -1))
    torch.testing.assert_close(by_array.probs, torch.tensor([0.25, 0.75], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"logits must be a torch\.Tensor"):
        gtd.RelaxedOneHotCategorical(0.5, logits="0, 1")
    with pytest.raises(TypeError, match=r"probs must be a torch\.Tensor"):
        gtd.ExpRelaxedCategorical(0.5, probs={0: 1.0})
    with pytest.raises(ValueError, match="temperature of shape"):
        gtd.RelaxedOneHotCategorical(torch.ones(5), logits=torch.zeros(3, 4))


def test_a_float_sample_shape_is_refused_as_torch_size_refuses_it():
    for d in (gtd.RelaxedBernoulli(0.5, logits=torch.zeros(3)),
              gtd.RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(3))):
        with pytest.raises(TypeError, match="sample_shape"):
            d.rsample((2.5,))
        with pytest.raises(TypeError):
            torch.Size((2.5,))  # PyTorch's own rule
        assert d.rsample(torch.Size([2])).shape[0] == 2


def test_a_straight_through_estimator_is_checked_when_built():
    with pytest.raises(ValueError, match="estimator must be one of"):
        gtd.RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(3), estimator="bogus")


# --- temperatures broadcast as PyTorch broadcasts them ------------------------------------------


@pytest.mark.parametrize(("logits_shape", "tau_shape", "dim"), [
    ((3, 3, 4), (3, 1), -1),     # one per n of (B, n, K), whatever B is
    ((2, 3, 4), (3, 1), -1),
    ((2, 3, 4), (2, 1, 1), -1),
    ((3, 4, 5), (3, 1, 5), 1),   # classes along dim 1
    ((4, 6), (1,), -1),
])
def test_a_tensor_temperature_lines_up_as_in_pytorch(logits_shape, tau_shape, dim):
    # Reference: softmax((logits + G) / tau) by PyTorch's own broadcasting, on the noise that
    # gumbelkit.gumbel draws from the same generator state.
    logits = torch.randn(logits_shape, generator=torch.Generator().manual_seed(1))
    tau = 0.2 + torch.rand(tau_shape, generator=torch.Generator().manual_seed(2)) * 3
    y = gkt.gumbel_softmax(logits, tau, dim=dim, generator=torch.Generator().manual_seed(0))
    noise = gk.gumbel(logits.shape, dtype=torch.float32, xp=torch,
                      rng=torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, torch.softmax((logits + noise) / tau, dim=dim))


def test_a_temperature_per_class_is_refused_not_guessed():
    # (K,) for (K, K) logits is per class in PyTorch and per row in gumbelkit's own form.
    with pytest.raises(ValueError, match=r"tau of shape \(4,\) .* a temperature per class.*"
                                         r"shape \(4, 1\)"):
        gkt.gumbel_softmax(torch.zeros(4, 4), torch.ones(4))
    with pytest.raises(ValueError, match=r"temperature of shape .* a temperature per class"):
        gtd.RelaxedOneHotCategorical(torch.ones(1, 3), logits=torch.zeros(2, 3))
    # Where PyTorch could not broadcast it, the batch shape's form is one per row.
    tau = torch.tensor([1e-4, 1e4, 1e-4])
    y = gkt.gumbel_softmax(torch.zeros(3, 5), tau, generator=torch.Generator().manual_seed(0))
    assert y[0].max() > 0.999
    assert y[1].max() < 0.21
    assert y[2].max() > 0.999


def test_the_front_end_names_dim():
    with pytest.raises(ValueError, match=r"dim must be in \[-2, 2\)"):
        gkt.gumbel_softmax(torch.zeros(2, 3), dim=5)
    with pytest.raises(TypeError, match="dim must be an int"):
        gkt.gumbel_max(torch.zeros(2, 3), dim=1.0)
    with pytest.raises(TypeError, match="dim must be an int"):
        GumbelSoftmax(dim="a")(torch.zeros(2, 3))
    # PyTorch's signature takes tensors: a NumPy array came back as a NumPy array.
    for function in (gkt.gumbel_softmax, gkt.gumbel_max, GumbelSoftmax(1.0)):
        with pytest.raises(TypeError, match=r"logits must be a torch\.Tensor; got numpy\.ndarray"):
            function(np.zeros((2, 3)))


def test_distributions_line_the_temperature_up_as_pytorch():
    # Reference: torch.distributions per n, each with a scalar temperature (PyTorch's own
    # class gives (n, n)-shaped log-densities for such temperatures, pytorch/pytorch#37162).
    logits = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(3))
    temperature = torch.tensor([[0.5], [1.0], [2.0]])
    d = gtd.RelaxedOneHotCategorical(temperature, logits=logits)
    assert d.batch_shape == (2, 3)
    value = d.sample(generator=torch.Generator().manual_seed(0))
    expected = torch.stack([
        td.RelaxedOneHotCategorical(temperature[n, 0], logits=logits[:, n]).log_prob(value[:, n])
        for n in range(3)], dim=1)
    torch.testing.assert_close(d.log_prob(value), expected)


@pytest.mark.parametrize(("logits_shape", "tau_shape", "batch"), [
    ((3, 4), (2, 3, 1), (2, 3)),  # more dimensions than the logits
    ((4,), (3, 1), (3,)),
    ((1, 4), (3, 1), (3,)),       # a larger size where the logits' is 1
])
def test_a_temperature_may_grow_the_batch_as_pytorch_broadcasts_it(logits_shape, tau_shape,
                                                                   batch):
    # (logits + G) / temperature has the broadcast shape; its rows are the batch. Reference:
    # torch.distributions per batch entry, with that entry's scalar temperature.
    logits = torch.randn(logits_shape, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(4))
    temperature = 0.2 + torch.rand(tau_shape, dtype=torch.float64,
                                   generator=torch.Generator().manual_seed(5))
    d = gtd.RelaxedOneHotCategorical(temperature, logits=logits)
    assert d.batch_shape == batch
    value = d.sample(generator=torch.Generator().manual_seed(0))
    assert value.shape == (*batch, 4)
    rows = logits.expand(*batch, 4)
    temperatures = temperature.expand(*batch, 1)[..., 0]
    expected = torch.empty(batch, dtype=torch.float64)
    for entry in np.ndindex(*batch):
        expected[entry] = td.RelaxedOneHotCategorical(
            temperatures[entry], logits=rows[entry]).log_prob(value[entry])
    torch.testing.assert_close(d.log_prob(value), expected)
    # A temperature per class is refused there too: (1, 4) for (4,) logits.
    with pytest.raises(ValueError, match=r"temperature of shape \(1, 4\) .* per class"):
        gtd.RelaxedOneHotCategorical(torch.ones(1, 4), logits=torch.zeros(4))

# --- pickling, expand, generators and learned temperatures -------------------------------------


@pytest.mark.parametrize("make", [
    lambda: gtd.RelaxedOneHotCategorical(0.5, logits=torch.randn(2, 3)),
    lambda: gtd.ExpRelaxedCategorical(torch.tensor([[0.5], [2.0]]), logits=torch.randn(2, 3)),
    lambda: gtd.RelaxedOneHotCategoricalStraightThrough(0.5, probs=torch.tensor([0.2, 0.8])),
    lambda: gtd.RelaxedBernoulli(0.5, logits=torch.randn(3)),
    lambda: gtd.LogitRelaxedBernoulli(torch.tensor(0.7), probs=torch.tensor([0.3, 0.6])),
    lambda: gtd.HardConcrete(torch.randn(3)),
])
def test_distributions_pickle_and_copy(make):
    import copy
    import pickle

    d = make()
    for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        assert type(twin) is type(d)
        assert twin.batch_shape == d.batch_shape
        a = d.rsample((4,), generator=torch.Generator().manual_seed(5))
        b = twin.rsample((4,), generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b)


def test_expand_keeps_the_value_checks():
    gate = gtd.HardConcrete(torch.zeros(2), validate_args=True)
    with pytest.raises(ValueError, match="value must lie in"):
        gate.expand((3, 2)).cdf(torch.tensor([2.0, 0.5]))
    d = gtd.RelaxedOneHotCategorical(0.5, logits=torch.tensor([-math.inf, 0.0, 0.0]),
                                     validate_args=True)
    point = torch.tensor([0.2, 0.4, 0.4])  # mass on the masked class
    for law in (d, d.expand((2,))):
        with pytest.raises(ValueError, match="masked"):
            law.log_prob(point)


def test_gumbel_rao_draws_from_the_given_generator():
    logits = torch.randn(4, 5, requires_grad=True)
    grads = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        d = gtd.RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits,
                                                        estimator="gumbel-rao")
        y = d.rsample(generator=torch.Generator().manual_seed(7))
        (y * torch.arange(5.0)).sum().backward()
        assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
        grads.append(logits.grad.clone())
        logits.grad = None
    assert torch.equal(grads[0], grads[1])


def test_a_parameter_temperature_is_learned():
    tau = torch.nn.Parameter(torch.tensor(0.7))
    layer = GumbelSoftmax(tau)
    assert [name for name, _ in layer.named_parameters()] == ["tau"]
    logits = torch.randn(3, 5)
    (layer(logits, generator=torch.Generator().manual_seed(0)) * torch.arange(5.0)).sum().backward()
    # Reference: the functional call with the same tensor and generator state.
    twin = tau.detach().clone().requires_grad_(True)
    (gkt.gumbel_softmax(logits, twin, generator=torch.Generator().manual_seed(0))
     * torch.arange(5.0)).sum().backward()
    assert tau.grad is not None
    assert torch.equal(tau.grad, twin.grad)


def test_bad_parameters_are_named_in_the_classes():
    with pytest.raises(TypeError, match="temperature must be a positive number or a tensor"):
        gtd.RelaxedOneHotCategorical("0.5", logits=torch.zeros(3))
    # As the constructors name it (the core's argument is tau), with validation on or off.
    for validate in (True, False):
        for temperature in (True, 1 + 2j, np.True_, torch.tensor([[True], [False]])):
            with pytest.raises(TypeError, match="temperature must be a positive number"):
                gtd.RelaxedOneHotCategorical(temperature, logits=torch.zeros(3),
                                             validate_args=validate)
        for temperature in (0.0, math.inf):
            with pytest.raises(ValueError, match="temperature must be a positive finite number"):
                gtd.RelaxedBernoulli(temperature, logits=torch.zeros(3), validate_args=validate)
        with pytest.raises(ValueError, match="temperature must be positive and finite"):
            gtd.RelaxedOneHotCategorical(torch.tensor([[0.5], [-1.0]]), logits=torch.zeros(2, 3),
                                         validate_args=validate)
    for argument in ("logits", "probs"):
        with pytest.raises(TypeError, match=f"{argument} must be a torch.Tensor"):
            gtd.RelaxedBernoulli(0.5, **{argument: "a"})
    with pytest.raises(TypeError, match=r"log_alpha must be a torch\.Tensor"):
        gtd.HardConcrete("x")
    assert gtd.HardConcrete([0.0, 1.0]).batch_shape == (2,)


def test_an_integer_tensor_temperature_is_a_number():
    # Checked as a number when the layer is built, used as one (no gradient for an integer).
    layer = GumbelSoftmax(torch.tensor(2))
    y = layer(torch.zeros(2, 3), generator=torch.Generator().manual_seed(0))
    expected = gkt.gumbel_softmax(torch.zeros(2, 3), 2.0,
                                  generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, expected)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.script.*` is deprecated:DeprecationWarning")
def test_a_tensor_temperature_compiles_without_reading_it():
    # Reading it would be a data-dependent guard: torch.compile(fullgraph=True) refuses that.
    # (Inductor draws other random numbers than eager, so the sample is checked as a sample.)
    layer = GumbelSoftmax(torch.tensor(0.5))
    logits = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    torch._dynamo.reset()
    try:
        got = torch.compile(layer, fullgraph=True)(logits)
    finally:
        torch._dynamo.reset()
    assert got.shape == logits.shape
    assert bool(torch.isfinite(got).all())
    torch.testing.assert_close(got.double().sum(dim=-1), torch.ones(2, dtype=torch.float64))


# (temperature, logits dtype): valid temperatures that the logits' dtype cannot hold.
EXTREME_TEMPERATURES = [
    (1e-8, torch.float16), (1e-50, torch.float32), (1e39, torch.float32),
    (torch.tensor(1e-50, dtype=torch.float64), torch.float32),
    (torch.tensor(1e39, dtype=torch.float64), torch.float32),
]


@pytest.mark.parametrize(("temperature", "dtype"), EXTREME_TEMPERATURES)
def test_a_temperature_beyond_the_logits_dtype_scores_as_the_core_scores_it(temperature, dtype):
    # It was cast to the logits' dtype first: 0 or inf, which PyTorch's check refused. The core
    # clamps a temperature to [tiny, 1 / tiny] of the compute dtype, and so does the front end.
    logits = torch.tensor([0.3, -1.2, 0.8], dtype=dtype)
    value = torch.tensor([0.2, 0.3, 0.5], dtype=dtype)
    tau = float(temperature) if isinstance(temperature, torch.Tensor) else temperature
    for front, family in ((gtd.RelaxedOneHotCategorical, core.RelaxedOneHotCategorical),
                          (gtd.ExpRelaxedCategorical, core.ExpRelaxedOneHotCategorical)):
        d = front(temperature, logits=logits, validate_args=True)
        assert torch.isfinite(d.temperature)
        assert d.temperature > 0
        point = value if front is gtd.RelaxedOneHotCategorical else value.log()
        normalised = logits - logits.logsumexp(-1, keepdim=True)
        torch.testing.assert_close(d.log_prob(point), family(normalised, tau).log_prob(point),
                                   rtol=0, atol=0)
        assert torch.isfinite(d.rsample(torch.Size([2]))).all()
    bernoulli = gtd.RelaxedBernoulli(temperature, logits=logits, validate_args=True)
    torch.testing.assert_close(bernoulli.log_prob(value),
                               core.RelaxedBernoulli(logits, tau).log_prob(value), rtol=0, atol=0)
