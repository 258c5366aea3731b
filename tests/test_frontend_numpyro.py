"""The NumPyro front end, gumbelkit.numpyro: NumPyro distributions over the one core.

References: the core (gumbelkit.distributions on the same JAX arrays and key) for samples and
log-densities, since the front end must add no second implementation; torch.distributions'
log-densities (where PyTorch is right) as an independent reference; eager execution for
jax.jit and a Python loop for jax.vmap; NumPyro's SVI for a real model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed")
numpyro = pytest.importorskip("numpyro", reason="NumPyro is not installed (the test extra has it)")

import jax.numpy as jnp  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402

import gumbelkit as gk  # noqa: E402
from gumbelkit import distributions as core  # noqa: E402
from gumbelkit import numpyro as gkn  # noqa: E402

CLASSES = {
    "RelaxedOneHotCategorical": (gkn.RelaxedOneHotCategorical, core.RelaxedOneHotCategorical),
    "ExpRelaxedCategorical": (gkn.ExpRelaxedCategorical, core.ExpRelaxedOneHotCategorical),
    "RelaxedBernoulli": (gkn.RelaxedBernoulli, core.RelaxedBernoulli),
    "LogitRelaxedBernoulli": (gkn.LogitRelaxedBernoulli, core.LogitRelaxedBernoulli),
}
CATEGORICAL = {"RelaxedOneHotCategorical", "ExpRelaxedCategorical"}


def key(seed: int = 0) -> jax.Array:
    return jax.random.PRNGKey(seed)


def logits_for(name: str) -> jax.Array:
    shape = (4, 3) if name in CATEGORICAL else (4,)
    return jax.random.normal(key(100), shape)


@pytest.mark.parametrize("name", list(CLASSES))
def test_log_prob_promotes_a_wider_value(name):
    # With x64, jax.numpy and NumPyro's own RelaxedBernoulliLogits score a float64 value on
    # float32 parameters in float64, and so do these classes. Reference: the core on the
    # parameters cast to float64; NumPyro's RelaxedBernoulliLogits for the binary Concrete.
    ours_class, core_class = CLASSES[name]
    with jax.enable_x64(True):
        logits = logits_for(name).astype(jnp.float32)
        d = ours_class(jnp.float32(0.5), logits=logits)
        value = d.sample(key(2), (5,)).astype(jnp.float64)
        if name == "RelaxedOneHotCategorical":  # back onto the simplex in float64
            value = value / value.sum(-1, keepdims=True)
        elif name == "ExpRelaxedCategorical":
            value = value - jax.scipy.special.logsumexp(value, axis=-1, keepdims=True)
        scored = d.log_prob(value)
        assert scored.dtype == jnp.float64
        reference = core_class(d.logits.astype(jnp.float64), d.temperature.astype(jnp.float64))
        np.testing.assert_allclose(scored, reference.log_prob(value), rtol=1e-12)
        assert d.log_prob(value.astype(jnp.float32)).dtype == jnp.float32
        if name == "RelaxedBernoulli":
            theirs = numpyro.distributions.RelaxedBernoulliLogits(jnp.float32(0.5), logits)
            assert theirs.log_prob(value).dtype == jnp.float64
            np.testing.assert_allclose(scored, theirs.log_prob(value), rtol=1e-6)


def test_numpy_data_and_python_numbers_are_scored_as_numpyros_own_laws_score_them():
    # An observed site's data is often NumPy. Reference: NumPyro's RelaxedBernoulliLogits, in
    # a model's log-density (what NUTS and SVI evaluate) and directly.
    from numpyro.infer.util import log_density

    def model(law, data):
        logit = numpyro.sample("logit", numpyro.distributions.Normal(0.0, 1.0))
        with numpyro.plate("n", 3):
            numpyro.sample("x", law(0.5, logit), obs=data)

    data = np.array([0.2, 0.7, 0.9])
    ours, _ = log_density(model, (lambda t, lg: gkn.RelaxedBernoulli(t, logits=lg), data), {},
                          {"logit": 0.3})
    theirs, _ = log_density(model, (numpyro.distributions.RelaxedBernoulliLogits, data), {},
                            {"logit": 0.3})
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-6)
    np.testing.assert_allclose(
        float(gkn.RelaxedBernoulli(0.5, logits=0.0).log_prob(0.3)),
        float(numpyro.distributions.RelaxedBernoulliLogits(0.5, 0.0).log_prob(0.3)), rtol=1e-6)
    # The categoricals take NumPy points too (reference: the same point as a JAX array).
    for law, point in ((gkn.RelaxedOneHotCategorical, np.array([0.2, 0.3, 0.5])),
                       (gkn.ExpRelaxedCategorical, np.log([0.2, 0.3, 0.5]))):
        d = law(0.5, logits=jnp.array([0.1, -0.4, 0.2]))
        np.testing.assert_array_equal(d.log_prob(point), d.log_prob(jnp.asarray(point)))


@pytest.mark.parametrize("name", list(CLASSES))
def test_samples_and_log_prob_are_the_cores(name):
    ours_class, core_class = CLASSES[name]
    logits = logits_for(name)
    d = ours_class(0.5, logits=logits)
    assert d.has_rsample
    assert set(d.reparametrized_params) == set(d.arg_constraints)
    assert d.batch_shape == (4,)
    assert d.event_shape == logits.shape[1:]
    reference = core_class(logits, jnp.asarray(0.5))
    value = d.sample(key(1), (5,))
    assert value.shape == (5, *d.batch_shape, *d.event_shape)
    np.testing.assert_array_equal(value, reference.rsample((5,), rng=key(1)))
    np.testing.assert_array_equal(d.log_prob(value), reference.log_prob(value))
    assert d.log_prob(value).shape == (5, 4)


@pytest.mark.parametrize("name", list(CLASSES))
def test_log_prob_matches_torch_distributions(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
    from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

    torch_class = {
        "RelaxedOneHotCategorical": torch.distributions.RelaxedOneHotCategorical,
        "ExpRelaxedCategorical": ExpRelaxedCategorical,
        "RelaxedBernoulli": torch.distributions.RelaxedBernoulli,
        "LogitRelaxedBernoulli": LogitRelaxedBernoulli,
    }[name]
    ours_class, _ = CLASSES[name]
    logits = logits_for(name)
    d = ours_class(0.7, logits=logits)
    value = d.sample(key(2), (5,))
    theirs = torch_class(torch.tensor(0.7), logits=torch.tensor(np.array(logits)))
    expected = theirs.log_prob(torch.tensor(np.array(value))).numpy()
    np.testing.assert_allclose(d.log_prob(value), expected, rtol=1e-4, atol=1e-4)


def test_probs_give_the_same_law_as_logits():
    logits = logits_for("RelaxedOneHotCategorical")
    probs = jax.nn.softmax(logits)
    by_probs = gkn.RelaxedOneHotCategorical(0.5, probs=probs)
    by_logits = gkn.RelaxedOneHotCategorical(0.5, logits=logits)
    np.testing.assert_allclose(by_probs.probs, by_logits.probs, rtol=1e-6)
    value = by_logits.sample(key(3))
    np.testing.assert_allclose(by_probs.log_prob(value), by_logits.log_prob(value), rtol=1e-5)
    binary = gkn.RelaxedBernoulli(0.5, probs=jnp.array([0.2, 0.9]))
    np.testing.assert_allclose(binary.probs, [0.2, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="not both"):
        gkn.RelaxedBernoulli(0.5, probs=jnp.array([0.2]), logits=jnp.array([0.0]))


def test_a_temperature_per_row_of_shape_n_1_gives_log_prob_of_shape_n():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = logits_for("RelaxedOneHotCategorical")
    temperature = jnp.array([[0.3], [1.0], [3.0], [0.5]])
    d = gkn.RelaxedOneHotCategorical(temperature, logits=logits)
    assert d.batch_shape == (4,)
    value = d.sample(key(4), (5,))
    log_p = d.log_prob(value)
    assert log_p.shape == (5, 4)
    for row in range(4):  # against PyTorch with that row's scalar temperature
        theirs = torch.distributions.RelaxedOneHotCategorical(
            torch.tensor(float(temperature[row, 0])), logits=torch.tensor(np.array(logits[row])))
        expected = theirs.log_prob(torch.tensor(np.array(value[:, row]))).numpy()
        np.testing.assert_allclose(log_p[:, row], expected, rtol=1e-4, atol=1e-4)


def test_relaxed_bernoulli_log_prob_stays_finite_at_logits_of_100():
    d = gkn.RelaxedBernoulli(0.5, logits=jnp.array([-100.0, 100.0]))
    expected = math.log(0.5) - 100 - 2 * math.log(0.5)
    np.testing.assert_allclose(d.log_prob(jnp.array([0.5, 0.5])), [expected] * 2, rtol=1e-6)


# One categorical and one binary class: each jax.jit compiles, and compiling is the slow part.
@pytest.mark.parametrize("name", ["RelaxedOneHotCategorical", "RelaxedBernoulli"])
def test_jit_gives_the_eager_values(name):
    ours_class, _ = CLASSES[name]
    logits = logits_for(name)
    d = ours_class(0.5, logits=logits)
    eager = d.sample(key(5), (5,))

    def draw(dist, k):  # the distribution crosses jit as a pytree
        y = dist.sample(k, (5,))
        return y, dist.log_prob(y)

    sample, log_p = jax.jit(draw)(d, key(5))
    np.testing.assert_array_equal(sample, eager)
    np.testing.assert_allclose(log_p, d.log_prob(eager), rtol=1e-6)
    built_inside = jax.jit(lambda lg, k: ours_class(0.5, logits=lg).sample(k, (5,)))(logits,
                                                                                      key(5))
    np.testing.assert_array_equal(built_inside, eager)


def test_vmap_over_keys_and_logits_gives_the_loop_values():
    logits = logits_for("RelaxedOneHotCategorical")
    keys = jax.random.split(key(7), 4)

    def draw(lg, k):
        d = gkn.RelaxedOneHotCategorical(0.5, logits=lg)
        y = d.sample(k)
        return y, d.log_prob(y)

    samples, log_ps = jax.vmap(draw)(logits, keys)
    one_row = jax.jit(draw)  # compiled once for the rows' shape: faster than eager here
    for row in range(4):
        y, log_p = one_row(logits[row], keys[row])
        np.testing.assert_allclose(samples[row], y, rtol=1e-6)
        np.testing.assert_allclose(log_ps[row], log_p, rtol=1e-5)


def _relaxed_objective(lg, tau):
    d = gkn.RelaxedOneHotCategorical(tau, logits=lg)
    y = d.sample(key(8), (5,))
    return jnp.sum(y[..., 0]) + jnp.sum(d.log_prob(y))


def test_samples_are_differentiable_in_the_logits():
    grad = jax.grad(_relaxed_objective)(logits_for("RelaxedOneHotCategorical"), 0.5)
    assert jnp.isfinite(grad).all()
    assert jnp.abs(grad).sum() > 0


def test_samples_are_differentiable_in_the_temperature():
    grad = jax.grad(_relaxed_objective, argnums=1)(logits_for("RelaxedOneHotCategorical"), 0.5)
    assert jnp.isfinite(grad)
    assert grad != 0


def test_validation_rejects_a_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        gkn.RelaxedOneHotCategorical(-1.0, logits=jnp.zeros(3), validate_args=True)


@pytest.mark.parametrize("cls", [gkn.RelaxedOneHotCategorical, gkn.RelaxedBernoulli])
def test_a_bad_temperature_is_named_as_the_constructor_names_it(cls):
    logits = jnp.zeros((2, 3)) if cls is gkn.RelaxedOneHotCategorical else jnp.zeros(2)
    for temperature in ("0.5", True, None, 1 + 2j, np.True_, jnp.array([[True], [False]])):
        with pytest.raises(TypeError, match="temperature must be a positive number or an array"):
            cls(temperature, logits=logits)
    for temperature in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="temperature must be a positive finite number"):
            cls(temperature, logits=logits, validate_args=False)
    with pytest.raises(ValueError, match="temperature must be positive and finite everywhere"):
        cls(jnp.array([[0.5], [-1.0]]) if cls is gkn.RelaxedOneHotCategorical
            else jnp.array([0.5, 0.0]), logits=logits)


@pytest.mark.parametrize("cls", [gkn.RelaxedOneHotCategorical, gkn.ExpRelaxedCategorical,
                                 gkn.RelaxedOneHotCategoricalStraightThrough])
def test_a_masked_class_passes_validation_and_fails_only_what_it_should(cls):
    # NumPyro's real_vector refuses -inf; a -inf logit masks its class here, so the
    # categorical classes take it with validation on (NumPyro's default, and validate_args=True).
    # A NaN, a +inf, or a row with no finite logit is still refused.
    masked = jnp.array([[0.0, -jnp.inf, 0.5], [1.0, 0.0, -jnp.inf]])
    for validate in (None, True):
        sample = cls(0.5, logits=masked, validate_args=validate).sample(key(4), (100,))
        at_mask = np.asarray(sample)[:, [0, 1], [1, 2]]
        expected = -np.inf if cls is gkn.ExpRelaxedCategorical else 0.0
        np.testing.assert_array_equal(at_mask, expected)
    for bad in ([0.0, jnp.nan, 1.0], [0.0, jnp.inf, 1.0], [-jnp.inf, -jnp.inf, -jnp.inf]):
        with pytest.raises(ValueError, match="logits"):
            cls(0.5, logits=jnp.array(bad), validate_args=True)


def test_a_zero_probability_has_a_finite_gradient():
    # log(probs) alone has the derivative 1/0 at a zero probability, which the normalisation
    # spread as NaN to the whole row. With class 1 at probability 0 the law is the two-class one
    # of classes 0 and 2: the gradients of log_prob in their probabilities are
    # torch.distributions' for the two-class law; class 1's is finite (0: the law does not
    # change as long as it stays masked).
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    probs = jnp.array([0.3, 0.0, 0.7], dtype=jnp.float32)
    value = jnp.array([0.4, 0.0, 0.6], dtype=jnp.float32)

    def log_prob(p):
        return gkn.RelaxedOneHotCategorical(0.5, probs=p).log_prob(value)

    grad = np.asarray(jax.grad(log_prob)(probs))
    pair = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    law = torch.distributions.RelaxedOneHotCategorical(torch.tensor(0.5, dtype=torch.float64),
                                                       probs=pair)
    (expected,) = torch.autograd.grad(law.log_prob(torch.tensor([0.4, 0.6], dtype=torch.float64)),
                                      pair)
    np.testing.assert_allclose(grad[[0, 2]], expected.numpy(), rtol=1e-4)
    assert abs(grad[1]) < 1e-5
    sample_grad = jax.grad(lambda p: gkn.RelaxedOneHotCategorical(0.5, probs=p).sample(key(2))[0])
    assert np.all(np.isfinite(np.asarray(sample_grad(probs))))


def test_a_temperature_that_does_not_broadcast_is_named():
    with pytest.raises(ValueError, match="temperature of shape"):
        gkn.RelaxedOneHotCategorical(jnp.ones(5), logits=jnp.zeros((3, 4)))


def test_numpyro_model_with_svi():
    means = jnp.array([-2.0, 0.0, 2.0])
    data = jnp.full((20,), 2.0)

    def model():
        with numpyro.plate("data", data.shape[0]):
            z = numpyro.sample("z", gkn.RelaxedOneHotCategorical(0.5, logits=jnp.zeros(3)))
            gate = numpyro.sample("gate", gkn.RelaxedBernoulli(0.5, logits=jnp.zeros(())))
            numpyro.sample("x", numpyro.distributions.Normal(z @ means * (0.5 + gate), 0.5),
                           obs=data)

    def guide():
        q = numpyro.param("q", jnp.zeros(3))
        g = numpyro.param("g", jnp.zeros(()))
        with numpyro.plate("data", data.shape[0]):
            numpyro.sample("z", gkn.RelaxedOneHotCategorical(0.5, logits=q))
            numpyro.sample("gate", gkn.RelaxedBernoulli(0.5, logits=g))

    svi = SVI(model, guide, numpyro.optim.Adam(0.1), Trace_ELBO())
    result = svi.run(key(9), 60, progress_bar=False)
    assert jnp.isfinite(result.losses).all()
    assert int(jnp.argmax(result.params["q"])) == 2  # the class that explains the data
    assert result.losses[-10:].mean() < result.losses[:10].mean()


# --- the straight-through relaxed categorical --------------------------------------------------


def test_straight_through_sample_is_the_one_hot_of_the_relaxed_sample():
    logits = logits_for("RelaxedOneHotCategorical")
    d = gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits)
    assert d.has_rsample
    assert (d.batch_shape, d.event_shape) == ((4,), (3,))
    value, [relaxed] = d.sample_with_intermediates(key(11), (5,))
    assert value.shape == relaxed.shape == (5, 4, 3)
    np.testing.assert_array_equal(value, np.eye(3)[np.argmax(relaxed, axis=-1)])
    np.testing.assert_array_equal(d.sample(key(11), (5,)), value)
    # The relaxed sample is the Concrete's for the same key: one draw of noise behind both.
    concrete = gkn.RelaxedOneHotCategorical(0.5, logits=logits)
    np.testing.assert_array_equal(relaxed, concrete.sample(key(11), (5,)))


def test_straight_through_gradient_is_that_of_the_relaxed_sample():
    logits = logits_for("RelaxedOneHotCategorical")
    weights = jax.random.normal(key(12), (5, 4, 3))
    noise = gk.gumbel((5, 4, 3), dtype=logits.dtype, rng=key(13), xp=jnp)

    def hard(lg):
        d = gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=lg)
        return jnp.sum(d.sample(key(13), (5,)) * weights)

    def soft(lg):  # softmax((logits + G) / tau) written with jax.nn, on the same noise
        return jnp.sum(jax.nn.softmax((lg + noise) / 0.5, axis=-1) * weights)

    np.testing.assert_allclose(jax.grad(hard)(logits), jax.grad(soft)(logits), rtol=1e-5,
                               atol=1e-6)


def test_straight_through_log_prob_scores_the_relaxed_sample():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = logits_for("RelaxedOneHotCategorical")
    d = gkn.RelaxedOneHotCategoricalStraightThrough(0.7, logits=logits)
    value, intermediates = d.sample_with_intermediates(key(14), (5,))
    theirs = torch.distributions.RelaxedOneHotCategorical(
        torch.tensor(0.7), logits=torch.tensor(np.array(logits)))
    expected = theirs.log_prob(torch.tensor(np.array(intermediates[0]))).numpy()
    np.testing.assert_allclose(d.log_prob(value, intermediates), expected, rtol=1e-4, atol=1e-4)
    # Without intermediates the value itself is a point of the simplex, as for the Concrete.
    concrete = gkn.RelaxedOneHotCategorical(0.7, logits=logits)
    np.testing.assert_array_equal(d.log_prob(value), concrete.log_prob(value))


def test_straight_through_argmax_follows_softmax_of_the_logits():
    scipy_stats = pytest.importorskip("scipy.stats", reason="SciPy is not installed")
    logits = jnp.array([1.0, 0.0, -1.0, 0.5])
    d = gkn.RelaxedOneHotCategoricalStraightThrough(0.3, logits=logits)
    n = 20_000
    counts = np.asarray(jax.jit(lambda k: d.sample(k, (n,)).sum(0))(key(15)))
    assert counts.sum() == n  # exactly one 1 per sample
    probs = np.exp(np.asarray(logits, np.float64))
    probs /= probs.sum()
    assert scipy_stats.chisquare(counts, n * probs).pvalue > 1e-6


def test_straight_through_under_jit_and_vmap_and_with_an_estimator():
    logits = logits_for("RelaxedOneHotCategorical")
    d = gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits)
    eager = d.sample(key(16), (2,))
    np.testing.assert_array_equal(jax.jit(lambda dist, k: dist.sample(k, (2,)))(d, key(16)),
                                  eager)

    def draw(lg, k):
        return gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=lg).sample(k)

    keys = jax.random.split(key(17), 4)
    rows = jax.vmap(draw)(logits, keys)
    one_row = jax.jit(draw)  # compiled once for the rows' shape: faster than eager here
    for row in range(4):
        np.testing.assert_array_equal(rows[row], one_row(logits[row], keys[row]))

    # Another estimator changes the gradient only; Gumbel-Rao draws with a key of its own.
    def rao(lg):
        d = gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=lg, estimator="gumbel-rao")
        y = d.sample(key(18))
        return jnp.sum(y * jnp.arange(3.0)), y

    (_, sample), grad = jax.jit(jax.value_and_grad(rao, has_aux=True))(logits)
    np.testing.assert_array_equal(sample, np.eye(3)[np.argmax(sample, -1)])
    assert jnp.isfinite(grad).all()
    assert jnp.abs(grad).sum() > 0
    with pytest.raises(ValueError, match="estimator must be one of"):
        gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=logits, estimator="nope")


def test_straight_through_in_a_numpyro_model_with_svi():
    from numpyro import handlers
    from numpyro.infer.util import log_density

    means = jnp.array([-2.0, 0.0, 2.0])
    data = jnp.full((20,), 2.0)

    def model():
        with numpyro.plate("data", data.shape[0]):
            z = numpyro.sample("z", gkn.RelaxedOneHotCategorical(0.5, logits=jnp.zeros(3)))
            numpyro.sample("x", numpyro.distributions.Normal(z @ means, 0.5), obs=data)

    def guide():
        q = numpyro.param("q", jnp.zeros(3))
        with numpyro.plate("data", data.shape[0]):
            numpyro.sample("z", gkn.RelaxedOneHotCategoricalStraightThrough(0.5, logits=q))

    # NumPyro records the relaxed sample at the guide's site and scores the site by it.
    trace = handlers.trace(handlers.seed(guide, key(19))).get_trace()
    site = trace["z"]
    value, (relaxed,) = site["value"], site["intermediates"]
    np.testing.assert_array_equal(value, np.eye(3)[np.argmax(relaxed, axis=-1)])
    guide_log_density, _ = log_density(handlers.seed(guide, key(19)), (), {}, {})
    expected = gkn.RelaxedOneHotCategorical(0.5, logits=jnp.zeros(3)).log_prob(relaxed).sum()
    np.testing.assert_allclose(guide_log_density, expected, rtol=1e-6)

    svi = SVI(model, guide, numpyro.optim.Adam(0.1), Trace_ELBO())
    result = svi.run(key(9), 60, progress_bar=False)
    assert jnp.isfinite(result.losses).all()
    assert int(jnp.argmax(result.params["q"])) == 2  # the class that explains the data


# --- the Hard Concrete -------------------------------------------------------------------------

LOG_ALPHA = jnp.array([-3.0, -0.7, 0.0, 0.4, 2.5])
BETA, GAMMA, ZETA = 0.5, -0.2, 1.3


def _logistic_cdf(t):
    return 1.0 / (1.0 + np.exp(-t))


def _stretched_cdf(x, log_alpha):
    """P(min(1, max(0, s (zeta - gamma) + gamma)) <= x) for 0 <= x < 1, from the definition.

    s <= u iff L <= beta logit(u) - log_alpha, with L Logistic(0, 1) and u the point of (0, 1)
    that the stretch maps to x.
    """
    u = (x - GAMMA) / (ZETA - GAMMA)
    return _logistic_cdf(BETA * np.log(u / (1 - u)) - np.asarray(log_alpha, np.float64))


def test_hard_concrete_atoms_penalty_and_cdf_match_the_closed_form():
    d = gkn.HardConcrete(LOG_ALPHA, BETA, GAMMA, ZETA)
    assert d.has_rsample
    assert (d.batch_shape, d.event_shape) == ((5,), ())
    assert (d.beta, d.gamma, d.zeta) == (BETA, GAMMA, ZETA)
    p_zero = _stretched_cdf(0.0, LOG_ALPHA)
    p_one = 1.0 - _stretched_cdf(np.nextafter(1.0, 0.0), LOG_ALPHA)
    np.testing.assert_allclose(d.prob_zero(), p_zero, rtol=1e-5)
    np.testing.assert_allclose(d.prob_one(), p_one, rtol=1e-5)
    np.testing.assert_allclose(d.l0_penalty(), 1.0 - p_zero, rtol=1e-5)
    x = jnp.array([-0.5, 0.0, 0.3, 0.8, 1.0])
    expected = np.where(x < 0, 0.0, np.where(x >= 1, 1.0, _stretched_cdf(np.clip(x, 0, 0.99),
                                                                          LOG_ALPHA)))
    np.testing.assert_allclose(d.cdf(x), expected, rtol=1e-5, atol=1e-7)
    gate = np.clip(_logistic_cdf(np.asarray(LOG_ALPHA, np.float64)) * (ZETA - GAMMA) + GAMMA,
                   0, 1)
    np.testing.assert_allclose(d.deterministic_gate(), gate, rtol=1e-5, atol=1e-7)
    # The penalty's gradient: d/da sigmoid(a - c) = P(z != 0) P(z = 0).
    grad = jax.grad(lambda a: gkn.HardConcrete(a, BETA, GAMMA, ZETA).l0_penalty().sum())(
        LOG_ALPHA)
    np.testing.assert_allclose(grad, p_zero * (1.0 - p_zero), rtol=1e-4)
    with pytest.raises(NotImplementedError, match="no density"):
        d.log_prob(jnp.full(5, 0.5))


def test_hard_concrete_samples_follow_the_closed_form():
    d = gkn.HardConcrete(LOG_ALPHA, BETA, GAMMA, ZETA)
    n = 40_000
    z = np.asarray(jax.jit(lambda dist, k: dist.sample(k, (n,)))(d, key(20)), np.float64)
    assert z.shape == (n, 5)
    assert ((z >= 0) & (z <= 1)).all()
    for observed, p in [((z == 0).mean(0), _stretched_cdf(0.0, LOG_ALPHA)),
                        ((z == 1).mean(0), 1.0 - _stretched_cdf(np.nextafter(1.0, 0.0),
                                                                LOG_ALPHA)),
                        ((z <= 0.3).mean(0), _stretched_cdf(0.3, LOG_ALPHA)),
                        ((z <= 0.8).mean(0), _stretched_cdf(0.8, LOG_ALPHA))]:
        # Five standard errors of a binomial proportion (and a floor for p near 0 or 1).
        bound = 5 * np.sqrt(p * (1 - p) / n) + 1e-4
        np.testing.assert_array_less(np.abs(observed - p), bound)


def test_hard_concrete_sample_gradient_is_the_stretched_sigmoids():
    d = gkn.HardConcrete(LOG_ALPHA, BETA, GAMMA, ZETA)
    z = d.sample(key(21), (64,))
    grad = jax.grad(lambda a: gkn.HardConcrete(a, BETA, GAMMA, ZETA).sample(key(21), (64,))
                    .sum())(LOG_ALPHA)
    # dz/da = (zeta - gamma) s (1 - s) / beta between the atoms, s = (z - gamma) / (zeta - gamma);
    # 0 at the atoms.
    s = (np.asarray(z, np.float64) - GAMMA) / (ZETA - GAMMA)
    inside = (np.asarray(z) > 0) & (np.asarray(z) < 1)
    expected = np.where(inside, (ZETA - GAMMA) * s * (1 - s) / BETA, 0.0).sum(0)
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-5)


def test_hard_concrete_under_jit_and_vmap():
    d = gkn.HardConcrete(LOG_ALPHA)
    # XLA may fuse the stretch differently from eager execution: equal to rounding.
    np.testing.assert_allclose(jax.jit(lambda dist, k: dist.sample(k, (3,)))(d, key(22)),
                               d.sample(key(22), (3,)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.jit(lambda dist: dist.l0_penalty())(d), d.l0_penalty(),
                               rtol=1e-6)

    def draw(a, k):
        return gkn.HardConcrete(a).sample(k, (2,))

    keys = jax.random.split(key(23), 5)
    rows = jax.vmap(draw)(LOG_ALPHA, keys)
    one_gate = jax.jit(draw)  # compiled once for one gate: faster than eager here
    for i in range(5):
        np.testing.assert_allclose(rows[i], one_gate(LOG_ALPHA[i], keys[i]), rtol=1e-6)


def test_hard_concrete_checks_its_stretch():
    with pytest.raises(ValueError, match="gamma must be negative"):
        gkn.HardConcrete(LOG_ALPHA, 0.5, 0.1)
    with pytest.raises(ValueError, match="zeta must be above 1"):
        gkn.HardConcrete(LOG_ALPHA, zeta=0.9)
    with pytest.raises(ValueError, match="beta"):
        gkn.HardConcrete(LOG_ALPHA, beta=-1.0)
    with pytest.raises(ValueError, match="log_alpha"):
        gkn.HardConcrete(jnp.array([0.0, jnp.nan]), validate_args=True)


def test_hard_concrete_l0_regression_with_svi():
    # Louizos et al.'s objective: the likelihood of gated weights plus lambda times the expected
    # number of open gates. Only features 0 and 1 explain y.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(100, 5)), dtype=jnp.float32)
    y = 2.0 * x[:, 0] - 1.5 * x[:, 1]

    def model(x, y):
        log_alpha = numpyro.param("log_alpha", jnp.full(5, 2.0))
        w = numpyro.param("w", jnp.zeros(5))
        gates = gkn.HardConcrete(log_alpha)
        z = gates.sample(numpyro.prng_key())
        numpyro.factor("l0", -20.0 * gates.l0_penalty().sum())
        numpyro.sample("y", numpyro.distributions.Normal(x @ (w * z), 0.1), obs=y)

    def guide(x, y):
        pass

    svi = SVI(model, guide, numpyro.optim.Adam(0.1), Trace_ELBO())
    result = svi.run(key(1), 300, x, y, progress_bar=False)
    assert jnp.isfinite(result.losses).all()
    assert result.losses[-10:].mean() < result.losses[:10].mean()
    np.testing.assert_allclose(result.params["w"][:2], [2.0, -1.5], atol=0.1)
    gates = gkn.HardConcrete(result.params["log_alpha"])
    np.testing.assert_array_equal(gates.deterministic_gate()[:2], [1.0, 1.0])
    assert float(gates.l0_penalty()[:2].min()) > 0.99
    start = float(gkn.HardConcrete(jnp.full(3, 2.0)).l0_penalty().sum())
    assert float(gates.l0_penalty()[2:].sum()) < start - 1.0  # the unused gates closed


def test_a_temperature_lines_up_as_jax_broadcasts_it():
    # Reference: torch.distributions per n, each with a scalar temperature.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    temperature = np.array([[0.5], [1.0], [2.0]], dtype=np.float32)
    d = gkn.RelaxedOneHotCategorical(jnp.asarray(temperature), logits=jnp.asarray(logits))
    assert d.batch_shape == (2, 3)
    value = np.array(d.sample(key(1)))
    expected = np.stack([
        torch.distributions.RelaxedOneHotCategorical(
            torch.tensor(temperature[n, 0]), logits=torch.from_numpy(logits[:, n])
        ).log_prob(torch.from_numpy(value[:, n])).numpy()
        for n in range(3)], axis=1)
    np.testing.assert_allclose(np.asarray(d.log_prob(jnp.asarray(value))), expected, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="a temperature per class"):
        gkn.RelaxedOneHotCategorical(jnp.ones(3), logits=jnp.zeros((3, 3)))


@pytest.mark.parametrize(("logits_shape", "tau_shape", "batch"), [
    ((3, 4), (2, 3, 1), (2, 3)),  # more dimensions than the logits
    ((4,), (3, 1), (3,)),
    ((1, 4), (3, 1), (3,)),       # a larger size where the logits' is 1
])
def test_a_temperature_may_grow_the_batch_as_jax_broadcasts_it(logits_shape, tau_shape, batch):
    # Reference: torch.distributions per batch entry, with its scalar temperature and its row.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    rng = np.random.default_rng(6)
    logits = rng.normal(size=logits_shape).astype(np.float32)
    temperature = (0.2 + rng.random(tau_shape)).astype(np.float32)
    d = gkn.RelaxedOneHotCategorical(jnp.asarray(temperature), logits=jnp.asarray(logits))
    assert d.batch_shape == batch
    assert gkn.RelaxedOneHotCategorical.infer_shapes(
        temperature=tau_shape, logits=logits_shape) == (batch, (4,))
    value = np.array(d.sample(key(2)))
    assert value.shape == (*batch, 4)
    rows = np.broadcast_to(logits, (*batch, 4))
    temperatures = np.broadcast_to(temperature, (*batch, 1))[..., 0]
    expected = np.empty(batch)
    for entry in np.ndindex(*batch):
        expected[entry] = torch.distributions.RelaxedOneHotCategorical(
            torch.tensor(temperatures[entry]), logits=torch.from_numpy(rows[entry].copy())
        ).log_prob(torch.from_numpy(value[entry])).item()
    np.testing.assert_allclose(np.asarray(d.log_prob(jnp.asarray(value))), expected, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="a temperature per class"):
        gkn.RelaxedOneHotCategorical(jnp.ones((1, 4)), logits=jnp.zeros(4))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_samples_pass_validation(dtype):
    # NumPyro's simplex check (|sum - 1| < 1e-6 in the value's dtype) refused every float16
    # draw but those summing to 1 exactly; the support here allows the dtype's rounding, and
    # still refuses a point 5% off. biject_to maps onto it as onto NumPyro's simplex.
    from numpyro.distributions.transforms import StickBreakingTransform, biject_to

    logits = jax.random.normal(key(14), (1000, 6)).astype(dtype)
    d = gkn.RelaxedOneHotCategorical(0.5, logits=logits, validate_args=True)
    value = d.sample(key(15), (5,))
    assert bool(jnp.all(d.support(value)))
    assert bool(jnp.all(jnp.isfinite(d.log_prob(value))))
    assert not bool(jnp.any(d.support(jnp.full((6,), 1.05 / 6, dtype=dtype))))
    assert isinstance(biject_to(d.support), StickBreakingTransform)


def test_a_masked_coordinate_lies_in_the_exp_concretes_support():
    from numpyro.distributions.transforms import biject_to

    d = gkn.ExpRelaxedCategorical(0.5, probs=jnp.array([0.0, 0.5, 0.5]), validate_args=True)
    z = d.sample(key(0), (2,))
    assert bool(jnp.all(z[:, 0] == -jnp.inf))
    assert bool(jnp.all(d.support(z)))
    # Reference: the core's log-density of the finite coordinates.
    expected = core.ExpRelaxedOneHotCategorical(jnp.log(jnp.array([0.0, 0.5, 0.5])),
                                                0.5).log_prob(z)
    np.testing.assert_allclose(np.asarray(d.log_prob(z)), np.asarray(expected))
    assert bool(jnp.all(jnp.isfinite(d.log_prob(z))))
    # biject_to maps R^(K-1) onto the log-simplex; a masked coordinate has no preimage.
    z = biject_to(d.support)(jnp.array([0.3, -1.0]))
    assert bool(d.support(z))
    assert bool(jnp.all(jnp.isfinite(z)))


@pytest.mark.parametrize(("tau", "logits"), [(0.7, [0.3, -1.2]), (2.0, [1.0, 0.0, -0.5])])
def test_the_exp_concretes_bijection_carries_its_log_prob_to_a_density(tau, logits):
    # The support was real-valued vectors, whose points are not the law's values, so a guide or
    # HMC drew off the law. biject_to(support) maps R^(K-1) onto the log-simplex with a
    # log-determinant on log_prob's own measure: log_prob + logdet is the density of the
    # unconstrained point. Reference: its integral is 1, by the trapezoidal rule on a grid of
    # step 0.05 over [-40, 40]^(K-1) (exact to far below 1e-6 for a smooth density that falls
    # as exp(-|y| / tau) and faster), evaluated in float32 and summed in float64.
    from numpyro.distributions.transforms import biject_to

    d = gkn.ExpRelaxedCategorical(tau, logits=jnp.asarray(logits))
    bijection = biject_to(d.support)
    axis = np.linspace(-40.0, 40.0, 1601)
    grid = np.stack(np.meshgrid(*[axis] * (len(logits) - 1), indexing="ij"), axis=-1)
    y = jnp.asarray(grid, dtype=jnp.float32)
    density = np.exp(np.asarray(d.log_prob(bijection(y))
                                + bijection.log_abs_det_jacobian(y, bijection(y)), np.float64))
    for _ in range(len(logits) - 1):
        density = np.trapezoid(density, axis, axis=0)
    assert abs(density - 1) < 1e-5
    y = jax.random.normal(key(3), (4, len(logits) - 1))
    np.testing.assert_allclose(np.asarray(bijection.inv(bijection(y))), np.asarray(y),
                               atol=1e-5)
    assert bool(jnp.all(d.support(d.sample(key(4), (100,)))))
    off = jnp.log(jnp.full((len(logits),), 1.05 / len(logits)))
    assert not bool(d.support(off))
    assert not bool(d.support(jnp.full_like(off, jnp.nan)))


def test_a_guide_over_an_exp_concrete_latent():
    # AutoNormal over an ExpRelaxedCategorical latent (NUTS takes the same bijection): its
    # points were unconstrained vectors, which validation refused (the law's values are
    # logarithms of simplex points).
    from numpyro.infer.autoguide import AutoNormal

    logits = jnp.array([0.0, 1.0, -1.0])

    def model():
        z = numpyro.sample("z", gkn.ExpRelaxedCategorical(0.5, logits=logits,
                                                          validate_args=True))
        numpyro.sample("x", numpyro.distributions.Normal(jnp.exp(z[0]), 0.1), obs=0.9)

    guide = AutoNormal(model)
    result = SVI(model, guide, numpyro.optim.Adam(0.05), Trace_ELBO()).run(
        key(6), 100, progress_bar=False)
    assert bool(jnp.all(jnp.isfinite(result.losses)))
    z = guide.sample_posterior(key(7), result.params)["z"]
    assert z.shape == (3,)
    assert abs(float(jax.nn.logsumexp(z))) < 1e-5
    # The posterior puts the first class near 0.9 (its prior mean is about 0.2).
    assert float(jnp.exp(guide.median(result.params)["z"][0])) > 0.5


@pytest.mark.parametrize(("cls", "probs"), [
    (gkn.RelaxedOneHotCategorical, [-0.5, 1.5]),
    (gkn.ExpRelaxedCategorical, [0.5, -0.1, 0.6]),
    (gkn.RelaxedBernoulli, [0.3, 1.5]),
    (gkn.LogitRelaxedBernoulli, [-0.1]),
    # Not summing to 1: checked as given, not after normalising (which accepted them).
    (gkn.RelaxedOneHotCategorical, [0.5, 0.6]),
    (gkn.ExpRelaxedCategorical, [0.2, 0.2, 0.2]),
    (gkn.RelaxedOneHotCategoricalStraightThrough, [0.5, 0.6]),
])
def test_probs_are_checked_as_numpyros_own(cls, probs):
    if cls in (gkn.RelaxedBernoulli, gkn.LogitRelaxedBernoulli):
        own = numpyro.distributions.BernoulliProbs
    else:
        own = numpyro.distributions.CategoricalProbs
    with pytest.raises(ValueError, match="got invalid probs parameter"):
        own(jnp.array(probs), validate_args=True)
    with pytest.raises(ValueError, match="got invalid probs parameter"):
        cls(0.5, probs=jnp.array(probs), validate_args=True)


def test_valid_probs_keep_their_law():
    d = gkn.RelaxedOneHotCategorical(0.5, probs=jnp.array([0.2, 0.0, 0.8]), validate_args=True)
    np.testing.assert_allclose(np.asarray(d.probs), [0.2, 0.0, 0.8], rtol=1e-6)
    assert d.has_rsample
    b = gkn.RelaxedBernoulli(0.5, probs=jnp.array([0.0, 1.0, 0.3]), validate_args=True)
    assert bool(jnp.all(jnp.isfinite(b.logits)))
    with pytest.raises(ValueError, match=r"temperature of shape \(2,\) does not broadcast with "
                                         r"the logits of shape \(3,\)"):
        gkn.RelaxedBernoulli(jnp.array([0.5, 1.0]), logits=jnp.zeros(3))


@pytest.mark.parametrize(("temperature", "logits"), [
    ((), (4, 3)), ((4,), (4, 3)), ((3, 1), (2, 3, 5)), ((2, 1, 1), (2, 3, 5)), ((1,), (7,)),
])
@pytest.mark.parametrize("name", sorted(CATEGORICAL))
def test_infer_shapes_agrees_with_the_instances(name, temperature, logits):
    cls, _ = CLASSES[name]
    built = cls(jnp.ones(temperature), logits=jnp.zeros(logits))
    assert cls.infer_shapes(temperature, logits=logits) == (built.batch_shape,
                                                            built.event_shape)
    assert cls.infer_shapes(temperature, probs=logits) == (built.batch_shape, built.event_shape)


def test_probs_is_the_laws_after_the_check():
    # The given probs are checked, then probs is the law's, before and after jax.jit alike.
    d = gkn.RelaxedBernoulli(0.5, probs=jnp.array([0.0, 1.0, 0.3]), validate_args=True)
    expected = np.asarray(jax.nn.sigmoid(d.logits))  # of the clamped probabilities
    eager = np.asarray(d.probs)
    assert eager[0] > 0
    assert eager[1] < 1
    np.testing.assert_allclose(eager, expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda law: law.probs)(d)), eager)


@pytest.mark.parametrize(("temperature", "dtype"), [
    (1e-8, jnp.float16), (1e-40, jnp.float32), (1e39, jnp.float32),
    (np.float64(1e-50), jnp.float32), (jnp.asarray(1e-45, dtype=jnp.float32), jnp.float32),
])
def test_a_temperature_beyond_the_logits_dtype_scores_as_the_core_scores_it(temperature, dtype):
    # It was cast to the logits' dtype first: 0 (refused, or NaN under jit) or inf (refused
    # later as "tau"). The core clamps a temperature to [tiny, 1 / tiny] of the compute dtype,
    # and so does the front end.
    logits = jnp.asarray([0.3, -1.2, 0.8], dtype=dtype)
    value = jnp.asarray([0.2, 0.3, 0.5], dtype=dtype)
    tau = temperature if isinstance(temperature, jax.Array) else float(temperature)
    d = gkn.RelaxedOneHotCategorical(temperature, logits=logits, validate_args=True)
    assert bool(jnp.isfinite(d.temperature))
    assert bool(d.temperature > 0)
    expected = core.RelaxedOneHotCategorical(logits, tau).log_prob(value)
    np.testing.assert_array_equal(d.log_prob(value), expected)
    np.testing.assert_array_equal(jax.jit(lambda d, v: d.log_prob(v))(d, value), expected)
    assert bool(jnp.isfinite(d.sample(jax.random.key(0), (2,))).all())
    bernoulli = gkn.RelaxedBernoulli(temperature, logits=logits, validate_args=True)
    np.testing.assert_array_equal(bernoulli.log_prob(value),
                                  core.RelaxedBernoulli(logits, tau).log_prob(value))
