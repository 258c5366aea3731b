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
