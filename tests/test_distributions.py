"""gumbelkit.distributions: log-densities, CDFs, atoms, shapes, masks, errors and gradients.

Expected values come from float64 NumPy/SciPy formulas written here from docs/mathematics.md (the
product
form of the Concrete density, the pdf and CDF of the binary Concrete, scipy.stats.logistic, the
Hard Concrete atoms from the logistic CDF of the sampling definition), from torch.distributions,
and from quadrature over the simplex (scipy.integrate), never from gumbelkit itself, except
where the property under test is an agreement (same seed, same noise as gumbel_softmax).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import Backend, backend_params
from helpers import assert_close, assert_same_namespace_device, make, to_numpy
from scipy import integrate, special
from scipy import stats as scipy_stats

import gumbelkit as gk
from gumbelkit.distributions import (
    ExpRelaxedOneHotCategorical,
    HardConcrete,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)

NINF = -np.inf
LOGITS = np.array([[0.3, -1.2, 0.8, 0.1], [1.5, 0.2, -0.7, 0.0], [-0.5, -0.5, 2.0, 0.4]])
TAUS = np.array([0.4, 1.0, 2.5])
RNG = np.random.default_rng(20_250_601)
# Points of the open simplex, away from its faces: the product form below stays in range.
VALUES = RNG.dirichlet(np.full(4, 2.0), size=(5, 3))

# Binary parameters: moderate log-odds and temperatures, and values inside (0, 1).
BINARY_LOGITS = np.array([[-3.0, -0.5, 0.0, 1.2], [4.0, -1.5, 0.7, 2.5], [-2.0, 3.0, 0.1, -0.8]])
BINARY_TAUS = np.array([[0.3, 0.5, 1.0, 2.0], [5.0, 0.25, 0.75, 1.5], [0.5, 0.4, 3.0, 1.0]])
BINARY_VALUES = RNG.uniform(0.02, 0.98, size=(5, 3, 4))
LOG_ALPHAS = np.array([[-10.0, -2.3, -0.5, 0.0], [0.4, 1.7, 10.0, -1.0], [3.0, -4.0, 0.1, 6.0]])

AUTODIFF = backend_params(Backend.TORCH, Backend.JAX)
# Eager JAX compiles every primitive once per shape, and a random draw of a new shape costs
# seconds: the tests share S samples of (3, 4) parameters, i.e. draws of shape (S, 3, 4), and
# (S, 3, 4, 2) for the binary distributions (two Gumbel draws per value).
S = 5


# --- float64 references, independent of gumbelkit ----------------------------------------------


def ref_concrete_log_prob(x: np.ndarray, theta: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """log of p(x) = (K-1)! tau^(K-1) prod_k [alpha_k x_k^(-tau-1) / sum_i alpha_i x_i^(-tau)],
    evaluated as the product itself (moderate values only), last axis the classes."""
    x, theta = np.asarray(x, dtype=np.float64), np.asarray(theta, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)[..., None]
    k = x.shape[-1]
    alpha = np.exp(theta)
    denominator = np.sum(alpha * x**-tau, axis=-1, keepdims=True)
    p = math.factorial(k - 1) * tau[..., 0] ** (k - 1) * np.prod(
        alpha * x ** (-tau - 1) / denominator, axis=-1
    )
    return np.log(p)


def ref_exp_concrete_log_prob(z, theta, tau):
    """log q(z) = log p(exp z) + sum_k z_k (docs/mathematics.md#concrete-density, last line)."""
    return ref_concrete_log_prob(np.exp(z), theta, tau) + np.sum(z, axis=-1)


def ref_binary_log_pdf(y, log_alpha, tau):
    """log f(y) of the binary Concrete from its pdf, with log-sum-exp for the denominator."""
    y = np.asarray(y, dtype=np.float64)
    log_y, log_1my = np.log(y), np.log1p(-y)
    return (np.log(tau) + log_alpha - (tau + 1) * (log_y + log_1my)
            - 2 * np.logaddexp(log_alpha - tau * log_y, -tau * log_1my))


def ref_binary_cdf(y, log_alpha, tau):
    """F(y) = 1 / (1 + alpha ((1 - y) / y)^tau)."""
    return 1.0 / (1.0 + np.exp(log_alpha) * ((1.0 - y) / y) ** tau)


def ref_hard_concrete(log_alpha, beta=2 / 3, gamma=-0.1, zeta=1.1):
    """P(z=0), P(z=1) and the interior CDF from the sampling definition: z = 0 iff
    s <= -gamma / (zeta - gamma), with logit s = (L + log_alpha) / beta, L logistic."""
    logistic = scipy_stats.logistic.cdf
    p0 = logistic(beta * special.logit(-gamma / (zeta - gamma)) - log_alpha)
    p1 = 1 - logistic(beta * special.logit((1 - gamma) / (zeta - gamma)) - log_alpha)

    def cdf(x):
        return logistic(beta * special.logit((x - gamma) / (zeta - gamma)) - log_alpha)

    return p0, p1, cdf


# --- log_prob against float64 formulas ---------------------------------------------------------


@pytest.mark.parametrize("per_row", [False, True], ids=["float-tau", "row-tau"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_concrete_log_prob_matches_the_density_formula(xp, per_row, dtype):
    tau = make(xp, TAUS, dtype) if per_row else 0.7
    d = RelaxedOneHotCategorical(make(xp, LOGITS, dtype), tau)
    out = d.log_prob(make(xp, VALUES, dtype))
    expected = ref_concrete_log_prob(VALUES, LOGITS, TAUS if per_row else 0.7)
    assert out.shape == (5, 3)
    assert_close(out, expected, like=d.logits,
                 rtol=1e-12 if dtype == "float64" else 2e-5, atol=0 if dtype == "float64" else 1e-4)


@pytest.mark.parametrize("per_row", [False, True], ids=["float-tau", "row-tau"])
def test_exp_concrete_log_prob_matches_the_formula(xp, per_row):
    z = np.log(VALUES)
    tau = TAUS if per_row else 1.3
    d = ExpRelaxedOneHotCategorical(make(xp, LOGITS), make(xp, tau) if per_row else tau)
    out = d.log_prob(make(xp, z))
    assert_close(out, ref_exp_concrete_log_prob(z, LOGITS, tau), like=d.logits, rtol=1e-12)


def test_class_axis_first(xp):
    # Classes along axis 0: LOGITS read as 3 classes in 4 columns, values (S, 3, 4) on the
    # simplex along axis -2, one temperature per column (the arrays keep the shapes of the
    # other tests, which eager JAX has compiled already).
    theta, tau = LOGITS.T, np.array([0.4, 1.0, 2.5, 0.7])  # (4, 3): the reference's rows
    x = np.random.default_rng(1).dirichlet(np.full(3, 2.0), size=(S, 4))
    d = RelaxedOneHotCategorical(make(xp, LOGITS), make(xp, tau), axis=0)
    assert d.batch_shape == (4,)
    assert d.event_shape == (3,)
    out = d.log_prob(make(xp, np.swapaxes(x, -1, -2)))
    assert_close(out, ref_concrete_log_prob(x, theta, tau), like=d.logits, rtol=1e-12)
    e = ExpRelaxedOneHotCategorical(make(xp, LOGITS), make(xp, tau), axis=0)
    assert_close(e.log_prob(make(xp, np.swapaxes(np.log(x), -1, -2))),
                 ref_exp_concrete_log_prob(np.log(x), theta, tau), like=e.logits, rtol=1e-12)
    y = e.sample(S, rng=7)
    assert tuple(y.shape) == (S, 3, 4)
    np.testing.assert_allclose(special.logsumexp(to_numpy(y), axis=-2), 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_binary_log_prob_matches_the_pdf(xp, dtype):
    y = BINARY_VALUES
    d = RelaxedBernoulli(make(xp, BINARY_LOGITS, dtype), make(xp, BINARY_TAUS, dtype))
    rtol = 1e-12 if dtype == "float64" else 1e-5
    assert_close(d.log_prob(make(xp, y, dtype)),
                 ref_binary_log_pdf(y, BINARY_LOGITS, BINARY_TAUS),
                 like=d.logits, rtol=rtol, atol=1e-12 if dtype == "float64" else 1e-5)
    t = special.logit(y)
    logit_d = LogitRelaxedBernoulli(make(xp, BINARY_LOGITS, dtype), make(xp, BINARY_TAUS, dtype))
    expected = scipy_stats.logistic.logpdf(t, loc=BINARY_LOGITS / BINARY_TAUS,
                                           scale=1 / BINARY_TAUS)
    assert_close(logit_d.log_prob(make(xp, t, dtype)), expected, like=logit_d.logits,
                 rtol=rtol, atol=1e-12 if dtype == "float64" else 1e-5)


def test_probs(xp):
    d = RelaxedOneHotCategorical(make(xp, LOGITS), 0.5)
    assert_close(d.probs, special.softmax(LOGITS, axis=-1), like=d.logits, rtol=1e-12)
    extreme = LOG_ALPHAS * 80  # up to +-800: exp overflows, the sigmoid must not
    b = RelaxedBernoulli(make(xp, extreme), 0.5)
    assert_close(b.probs, special.expit(extreme), like=b.logits, rtol=1e-12)


# --- log_prob against torch.distributions ------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: no torch.distributions "
                                               "reference")


def test_log_prob_matches_torch_distributions(xp):
    torch = _torch()
    from torch.distributions import RelaxedBernoulli as TorchRelaxedBernoulli
    from torch.distributions import RelaxedOneHotCategorical as TorchConcrete
    from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli as TorchLogit
    from torch.distributions.relaxed_categorical import ExpRelaxedCategorical as TorchExp

    def t(values):
        return torch.tensor(np.asarray(values, dtype=np.float64))

    ours = RelaxedOneHotCategorical(make(xp, LOGITS), make(xp, TAUS)).log_prob(make(xp, VALUES))
    ours_exp = ExpRelaxedOneHotCategorical(make(xp, LOGITS), make(xp, TAUS)).log_prob(
        make(xp, np.log(VALUES)))
    # torch.distributions broadcasts a per-row temperature against the rows of the result, so
    # its reference is taken one row at a time.
    for row, tau in enumerate(TAUS):
        theta, x = t(LOGITS[row]), t(VALUES[:, row])
        reference = TorchConcrete(t(tau), logits=theta).log_prob(x).numpy()
        np.testing.assert_allclose(to_numpy(ours)[:, row], reference, rtol=1e-10, atol=1e-14)
        reference = TorchExp(t(tau), logits=theta).log_prob(torch.log(x)).numpy()
        np.testing.assert_allclose(to_numpy(ours_exp)[:, row], reference, rtol=1e-10,
                                   atol=1e-14)

    logits, taus, y = make(xp, BINARY_LOGITS), make(xp, BINARY_TAUS), BINARY_VALUES
    ours = RelaxedBernoulli(logits, taus).log_prob(make(xp, y))
    reference = TorchRelaxedBernoulli(t(BINARY_TAUS), logits=t(BINARY_LOGITS)).log_prob(t(y))
    np.testing.assert_allclose(to_numpy(ours), reference.numpy(), rtol=1e-10, atol=1e-14)
    logit_y = special.logit(y)
    ours = LogitRelaxedBernoulli(logits, taus).log_prob(make(xp, logit_y))
    reference = TorchLogit(t(BINARY_TAUS), logits=t(BINARY_LOGITS)).log_prob(t(logit_y))
    np.testing.assert_allclose(to_numpy(ours), reference.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("log_alpha", [100.0, -100.0])
def test_binary_log_prob_is_finite_at_extreme_logits_where_torch_is_not(xp, log_alpha):
    torch = _torch()
    tau, y = 0.5, BINARY_VALUES
    logits = np.full((3, 4), log_alpha)
    expected = ref_binary_log_pdf(y, log_alpha, tau)  # about log(tau) - |log_alpha|
    ours = RelaxedBernoulli(make(xp, logits, "float32"), tau).log_prob(make(xp, y, "float32"))
    assert np.all(np.isfinite(to_numpy(ours)))
    np.testing.assert_allclose(to_numpy(ours), expected, rtol=1e-5)
    # torch.distributions evaluates log1p(exp(d)), d = log_alpha - tau logit(y): in float32 it
    # overflows once d exceeds about 88, and the log-density becomes -inf.
    theirs = torch.distributions.RelaxedBernoulli(
        torch.tensor(tau), logits=torch.tensor(logits, dtype=torch.float32)
    ).log_prob(torch.tensor(y, dtype=torch.float32)).numpy()
    if log_alpha > 0:
        assert np.all(np.isneginf(theirs)), theirs
    # In logit space too.
    t = special.logit(y)
    ours = LogitRelaxedBernoulli(make(xp, logits, "float32"), tau).log_prob(
        make(xp, t, "float32"))
    np.testing.assert_allclose(
        to_numpy(ours), scipy_stats.logistic.logpdf(t, loc=log_alpha / tau, scale=1 / tau),
        rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log_alpha", [100.0, -100.0])
def test_log_prob_of_own_samples_is_finite_at_extreme_logits(xp, log_alpha, dtype):
    logits = make(xp, np.full((3, 4), log_alpha), dtype)
    d = RelaxedBernoulli(logits, 0.5)
    y = d.sample(S, rng=3)  # every value has rounded to 0 or 1 (or to a tiny value)
    assert np.all(np.isfinite(to_numpy(d.log_prob(y))))
    logit_d = LogitRelaxedBernoulli(logits, 0.5)
    t = logit_d.sample(S, rng=3)
    expected = scipy_stats.logistic.logpdf(to_numpy(t).astype(np.float64), loc=2 * log_alpha,
                                           scale=2.0)
    assert_close(logit_d.log_prob(t), expected, like=logits,
                 rtol=1e-12 if dtype == "float64" else 1e-5)


# --- normalisation by quadrature ---------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_concrete_density_integrates_to_one_for_two_classes(xp, tau):
    # In logit coordinates x = (sigmoid(t), sigmoid(-t)), dx_1 = x_1 x_2 dt: a smooth
    # integrand with exponential tails, where x itself has singular density at the faces for
    # tau < 1.
    theta = np.array([0.8, -0.4])
    d = RelaxedOneHotCategorical(make(xp, theta), tau)
    half_width = 80.0 / tau

    def integrand(t):
        x = np.stack([special.expit(t), special.expit(-t)], axis=-1)
        log_p = to_numpy(d.log_prob(make(xp, x)))
        return np.exp(log_p + np.log(x[:, 0]) + np.log(x[:, 1]))

    total, _ = integrate.fixed_quad(integrand, -half_width, half_width, n=600)
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("tau", [0.7, 2.0])
def test_concrete_density_integrates_to_one_for_three_classes(xp, tau):
    # x = softmax(t_1, t_2, 0): dx_1 dx_2 = x_1 x_2 x_3 dt_1 dt_2. The outer integral is
    # scipy.integrate.fixed_quad, the inner one Gauss-Legendre of the same order; one
    # log_prob call evaluates the whole grid.
    theta = np.log(np.array([0.2, 0.3, 0.5]))
    d = RelaxedOneHotCategorical(make(xp, theta), tau)
    half_width, n = 60.0 / tau, 300
    inner_nodes, inner_weights = special.roots_legendre(n)
    inner_t = half_width * inner_nodes

    def outer(t1):
        t = np.stack(np.broadcast_arrays(t1[:, None], inner_t[None, :], 0.0), axis=-1)
        log_x = special.log_softmax(t, axis=-1)
        log_p = to_numpy(d.log_prob(make(xp, np.exp(log_x))))
        inner = np.exp(log_p + np.sum(log_x, axis=-1))
        return half_width * np.sum(inner * inner_weights, axis=-1)

    total, _ = integrate.fixed_quad(outer, -half_width, half_width, n=n)
    assert total == pytest.approx(1.0, abs=1e-7)


def test_exp_concrete_log_prob_has_the_stated_base_measure(xp):
    # K = 2, z = (z_1, log(1 - e^{z_1})): the integral of q dz_1 is E[Y_2], not 1, and that of
    # q e^{-z_2} dz_1 is 1 (docs/mathematics.md#the-base-measure). Coordinates: t = z_1 - z_2, dz_1
    # = sigmoid(-t) dt.
    theta, tau = np.array([0.8, -0.4]), 0.6
    d = ExpRelaxedOneHotCategorical(make(xp, theta), tau)
    half_width = 80.0 / tau

    def q_times(weight):
        def integrand(t):
            z = np.stack([-np.logaddexp(0, -t), -np.logaddexp(0, t)], axis=-1)
            log_q = to_numpy(d.log_prob(make(xp, z)))
            return np.exp(log_q + np.log(special.expit(-t))) * weight(z)

        return integrate.fixed_quad(integrand, -half_width, half_width, n=600)[0]

    # E[Y_2] = E[sigmoid(-T)], T = logit Y_1 ~ Logistic((theta_1 - theta_2) / tau, 1 / tau).
    mean_y2 = scipy_stats.logistic.expect(special.expit, args=(), loc=-(theta[0] - theta[1]) / tau,
                                          scale=1 / tau)
    assert q_times(lambda z: 1.0) == pytest.approx(mean_y2, abs=1e-8)
    assert abs(mean_y2 - 1.0) > 0.5
    assert q_times(lambda z: np.exp(-z[:, 1])) == pytest.approx(1.0, abs=1e-8)


# --- CDF and quantile --------------------------------------------------------------------------


def _rows(*values):
    """A (5, 3, 4) array whose i-th (3, 4) slice is filled with values[i]."""
    return np.array(np.broadcast_to(np.array(values)[:, None, None], (5, 3, 4)))


def test_cdf_and_icdf_are_inverse_and_match_the_formula(xp):
    log_alpha, tau = BINARY_LOGITS, BINARY_TAUS
    d = RelaxedBernoulli(make(xp, log_alpha), make(xp, tau))
    u = np.random.default_rng(2).uniform(1e-6, 1 - 1e-6, size=(5, 3, 4))
    y_expected = special.expit((special.logit(u) + log_alpha) / tau)
    y = d.icdf(make(xp, u))
    assert_close(y, y_expected, like=d.logits, rtol=1e-12)
    np.testing.assert_allclose(ref_binary_cdf(y_expected, log_alpha, tau), u, rtol=1e-9)
    assert_close(d.cdf(y), u, like=d.logits, rtol=1e-9)
    cdf = d.cdf(make(xp, BINARY_VALUES))
    assert_close(cdf, ref_binary_cdf(BINARY_VALUES, log_alpha, tau), like=d.logits, rtol=1e-12)
    assert_close(d.icdf(cdf), BINARY_VALUES, like=d.logits, rtol=1e-9)
    # The ends of the support and beyond.
    assert_close(d.cdf(make(xp, _rows(-0.5, 0.0, 1.0, 1.5, -1e-300))),
                 _rows(0.0, 0.0, 1.0, 1.0, 0.0), like=d.logits)
    assert_close(d.icdf(make(xp, _rows(0.0, 1.0, 0.0, 1.0, 0.0))),
                 _rows(0.0, 1.0, 0.0, 1.0, 0.0), like=d.logits)
    assert np.all(np.isnan(to_numpy(d.icdf(make(xp, _rows(-0.1, 1.1, 2.0, -1.0, np.inf))))))


def test_exp_concrete_of_logits_further_apart_than_the_dtype_is_finite(xp):
    # The difference -4e38 overflows to -inf, its limit, which the sampler took for a masked
    # class: an unmasked -inf, refused by the distribution's own validation, log_prob NaN.
    logits = make(xp, [[2e38, -2e38, 1e38]], "float32")
    d = ExpRelaxedOneHotCategorical(logits, 0.5, validate_args=True)
    z = d.sample(3, rng=0)
    values = to_numpy(z)
    assert np.isfinite(values).all()
    np.testing.assert_array_equal(values[..., 1], -np.finfo(np.float32).max)
    assert np.isfinite(to_numpy(d.log_prob(z))).all()


def test_log_prob_of_scores_beyond_the_dtype(xp):
    # At tau = 1e30 the sample of logits 6e38 apart holds the lowest float32 for the far class,
    # whose score theta - tau z overflowed: log_prob was NaN. It lies at the simplex's boundary,
    # where the density's limit is 0 (the Concrete's log_prob of its exponential is -inf too).
    logits = make(xp, [[3e38, -3e38, 0.0]], "float32")
    d = ExpRelaxedOneHotCategorical(logits, 1e30)
    got = to_numpy(d.log_prob(d.sample(rng=0)))
    np.testing.assert_array_equal(got, [-np.inf])
    # Logits near the largest float32 overflowed the scores of a point inside the simplex; the
    # log-density depends on their differences only (shift invariance).
    value = make(xp, [[0.25, 0.25, 0.5]], "float32")
    top = float(np.finfo(np.float32).max)
    for tau in (0.5, 1e30):
        at_the_top = RelaxedOneHotCategorical(make(xp, [[top] * 3], "float32"), tau)
        at_zero = RelaxedOneHotCategorical(make(xp, [[0.0] * 3], "float32"), tau)
        np.testing.assert_allclose(to_numpy(at_the_top.log_prob(value)),
                                   to_numpy(at_zero.log_prob(value)), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exp_concrete_log_prob_at_a_vertex_is_its_limit(xp, dtype):
    # At z = log(1, 0, 0) the density's limit is 0: its log -inf, not NaN (theta - tau z was
    # +inf); a masked class at -inf is dropped as before, and an invalid row stays NaN.
    vertex = make(xp, [[0.0, -np.inf, -np.inf]] * 3, dtype)
    logits = make(xp, [[0.0, 0.0, 0.0], [0.0, 1.0, -np.inf], [np.nan, 0.0, 0.0]], dtype)
    got = to_numpy(ExpRelaxedOneHotCategorical(logits, 0.5).log_prob(vertex))
    np.testing.assert_array_equal(got[:2], [-np.inf, -np.inf])
    assert np.isnan(got[2])
    # Off the vertex, the limit is approached: 1e-30 of the mass is about -1e30 / 2 in log q.
    near = make(xp, [[0.0, -1e30, -1e30]], dtype)
    first = make(xp, [[0.0, 0.0, 0.0]], dtype)
    assert float(to_numpy(ExpRelaxedOneHotCategorical(first, 0.5).log_prob(near))[0]) < -1e29


# --- Hard Concrete -----------------------------------------------------------------------------

def test_hard_concrete_atoms_and_penalty_match_the_closed_forms(xp):
    gate = HardConcrete(make(xp, LOG_ALPHAS))
    p0, p1, cdf = ref_hard_concrete(LOG_ALPHAS)
    beta = 2 / 3
    assert_close(gate.prob_zero(), p0, like=gate.log_alpha, rtol=1e-10)
    assert_close(gate.prob_one(), p1, like=gate.log_alpha, rtol=1e-10)
    # The simplified forms of docs/mathematics.md#hard-concrete, with -gamma/zeta = 1/11 and (1 -
    # gamma)/(zeta - 1) = 11.
    np.testing.assert_allclose(p0, special.expit(beta * np.log(1 / 11) - LOG_ALPHAS), rtol=1e-10)
    np.testing.assert_allclose(p1, special.expit(LOG_ALPHAS - beta * np.log(11)), rtol=1e-10)
    assert_close(gate.l0_penalty(), 1 - p0, like=gate.log_alpha, rtol=1e-10)
    # The symmetry of the default constants: P(z = 0 | a) = P(z = 1 | -a).
    mirrored = HardConcrete(make(xp, -LOG_ALPHAS))
    np.testing.assert_allclose(to_numpy(gate.prob_zero()), to_numpy(mirrored.prob_one()),
                               rtol=1e-12)
    gate_expected = np.clip(special.expit(LOG_ALPHAS) * 1.2 - 0.1, 0, 1)
    assert_close(gate.deterministic_gate(), gate_expected, like=gate.log_alpha, rtol=1e-12)
    # The CDF: the atom at 0, Q between, the jump of P(z = 1) at 1.
    x = _rows(0.0, 0.1, 0.5, 0.9, 1.0 - 1e-12)
    out = gate.cdf(make(xp, x))
    assert_close(out, cdf(x), like=gate.log_alpha, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(to_numpy(out)[0], p0, rtol=1e-10)
    np.testing.assert_allclose(1 - to_numpy(out)[-1], p1, rtol=1e-6, atol=1e-15)
    outside = gate.cdf(make(xp, _rows(-0.5, 1.0, 2.0, -1e-9, 1.0 + 1e-9)))
    assert_close(outside, _rows(0.0, 1.0, 1.0, 0.0, 1.0), like=gate.log_alpha)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_concrete_cdf_at_zero_is_prob_zero_exactly(xp, dtype):
    # One number by two formulas, which rounded up to an ulp apart (753 of these 2,000 gates in
    # float32, 688 in float64).
    log_alpha = np.random.default_rng(0).normal(scale=4.0, size=2000)
    gate = HardConcrete(make(xp, log_alpha, dtype))
    np.testing.assert_array_equal(to_numpy(gate.cdf(make(xp, np.zeros(2000), dtype))),
                                  to_numpy(gate.prob_zero()))


def test_hard_concrete_with_other_constants(xp):
    beta, gamma, zeta = 0.5, -0.2, 1.3
    gate = HardConcrete(make(xp, LOG_ALPHAS), beta=beta, gamma=gamma, zeta=zeta)
    p0, p1, cdf = ref_hard_concrete(LOG_ALPHAS, beta, gamma, zeta)
    assert_close(gate.prob_zero(), p0, like=gate.log_alpha, rtol=1e-10)
    assert_close(gate.prob_one(), p1, like=gate.log_alpha, rtol=1e-10)
    assert_close(gate.l0_penalty(), 1 - p0, like=gate.log_alpha, rtol=1e-10)
    x = _rows(0.0, 0.1, 0.3, 0.8, 0.99)
    assert_close(gate.cdf(make(xp, x)), cdf(x), like=gate.log_alpha, rtol=1e-10)
    assert (gate.beta, gate.gamma, gate.zeta) == (beta, gamma, zeta)


def test_hard_concrete_beta_beyond_float32s_range_takes_its_limit(xp):
    # beta = 1e-50 rounded to 0 in float32 (x / 0 and a NaN gradient), beta = 1e39 to inf
    # (inf * 0 = NaN in the CDF at the middle of the stretch). Clamped to [tiny, 1 / tiny], as
    # the other families' temperatures are, each takes its limit. Reference: as beta -> 0 a
    # gate is 0 or 1, and Q(x) = sigmoid(-log_alpha) inside (0, 1); as beta -> inf the stretched
    # sample is the middle of (gamma, zeta), 0.5, where Q = sigmoid(-log_alpha) too.
    log_alpha = np.array([-1.0, 0.0, 2.0])
    middle = special.expit(-log_alpha)
    cold = HardConcrete(make(xp, log_alpha, "float32"), beta=1e-50)
    gates = to_numpy(cold.rsample(200, rng=3))
    assert set(np.unique(gates)) == {0.0, 1.0}
    x = make(xp, np.full((3,), 0.3), "float32")
    assert_close(cold.cdf(x), middle, like=cold.log_alpha, rtol=1e-6)
    hot = HardConcrete(make(xp, log_alpha, "float32"), beta=1e39)
    for at, expected in ((0.25, np.zeros(3)), (0.5, middle), (0.75, np.ones(3))):
        assert_close(hot.cdf(make(xp, np.full((3,), at), "float32")), expected,
                     like=hot.log_alpha, rtol=1e-6)
    # No mass at the atoms in the limit (on Dask without an overflow warning at compute time).
    assert_close(hot.prob_zero(), np.zeros(3), like=hot.log_alpha)
    assert_close(hot.prob_one(), np.zeros(3), like=hot.log_alpha)
    # A stretch wider than float32's range would be inf - inf; float64 holds it.
    with pytest.raises(ValueError, match=r"gamma and zeta must lie at most 3.403e\+38 apart"):
        HardConcrete(make(xp, log_alpha, "float32"), gamma=-1e300)
    wide = to_numpy(HardConcrete(make(xp, log_alpha), gamma=-1e300).sample(50, rng=4))
    assert np.all((wide >= 0) & (wide <= 1))


def test_hard_concrete_gradient_at_a_beta_below_float32s_range():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    log_alpha = torch.zeros(1000, requires_grad=True)
    HardConcrete(log_alpha, beta=1e-50).rsample(rng=0).sum().backward()
    # Each gate sits at an atom, where the gradient is 0 (it was NaN everywhere).
    assert torch.equal(log_alpha.grad, torch.zeros(1000))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_concrete_samples_lie_in_the_unit_interval_with_exact_atoms(xp, dtype):
    # log_alpha = 0: P(z = 0) = P(z = 1) = 0.168, so 60 gates without an exact 0 or 1 have
    # probability 1.6e-5 (the conformance suite tests the law at alpha 1e-6).
    gate = HardConcrete(make(xp, np.zeros((3, 4)), dtype))
    z = to_numpy(gate.sample(S, rng=5))
    assert z.shape == (S, 3, 4)
    assert str(z.dtype) == dtype
    assert np.all((z >= 0) & (z <= 1))
    assert np.any(z == 0)
    assert np.any(z == 1)
    assert np.any((z > 0) & (z < 1))


# --- shapes, dtypes, namespaces ----------------------------------------------------------------


def test_shapes_and_namespaces(xp):
    logits = make(xp, LOGITS)
    for cls in (RelaxedOneHotCategorical, ExpRelaxedOneHotCategorical):
        d = cls(logits, make(xp, TAUS))
        assert d.batch_shape == (3,)
        assert d.event_shape == (4,)
        assert d.axis == 1
        for y in (d.sample(S, rng=1), d.rsample((S,), rng=1)):
            assert tuple(y.shape) == (S, 3, 4)
            assert_same_namespace_device(y, logits)
            assert tuple(d.log_prob(y).shape) == (S, 3)
        assert cls.__name__ in repr(d)
    # The default sample_shape (): logits of the shape of S samples draw the same shapes.
    many = make(xp, VALUES)
    y = RelaxedOneHotCategorical(many, 0.5).sample(rng=1)
    assert tuple(y.shape) == (S, 3, 4)
    for cls in (RelaxedBernoulli, LogitRelaxedBernoulli):
        b = cls(logits, 0.5)
        assert b.batch_shape == (3, 4)
        assert b.event_shape == ()
        for y in (b.rsample(S, rng=2), b.sample((S,), rng=2)):
            assert tuple(y.shape) == (S, 3, 4)
            assert_same_namespace_device(y, logits)
            assert tuple(b.log_prob(y).shape) == (S, 3, 4)
        assert cls.__name__ in repr(b)
    gate = HardConcrete(logits)
    assert gate.batch_shape == (3, 4)
    assert gate.event_shape == ()
    z = gate.rsample(S, rng=2)
    assert tuple(z.shape) == (S, 3, 4)
    for out in (z, gate.prob_zero(), gate.prob_one(), gate.l0_penalty(),
                gate.deterministic_gate(), gate.cdf(z)):
        assert_same_namespace_device(out, logits)
    assert "HardConcrete" in repr(gate)


def test_scalar_logits(xp):
    b = RelaxedBernoulli(make(xp, 0.3), 0.5)
    assert b.batch_shape == ()
    y = b.sample((S, 3, 4), rng=0)
    assert tuple(y.shape) == (S, 3, 4)
    assert tuple(b.log_prob(y).shape) == (S, 3, 4)
    gate = HardConcrete(make(xp, 0.3))
    assert tuple(gate.sample((S, 3, 4), rng=0).shape) == (S, 3, 4)
    assert tuple(gate.prob_zero().shape) == ()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_low_precision_parameters_keep_their_dtype(xp, dtype):
    from helpers import native_dtype

    native = native_dtype(xp, dtype)
    logits = make(xp, LOGITS, dtype)
    for d in (RelaxedOneHotCategorical(logits, 0.5), ExpRelaxedOneHotCategorical(logits, 0.5)):
        y = d.sample(S, rng=0)
        lp = d.log_prob(y)
        assert y.dtype == native
        assert lp.dtype == native
        assert np.all(np.isfinite(to_numpy(lp)))
    # Far below the dtype's range, log-space samples saturate at its lowest finite value.
    z = to_numpy(ExpRelaxedOneHotCategorical(logits, 1e-30).sample(S, rng=0))
    assert np.all(np.isfinite(z))
    b = RelaxedBernoulli(logits, 0.5)
    y = b.sample(S, rng=0)
    assert y.dtype == native
    assert b.cdf(y).dtype == native
    gate = HardConcrete(logits)
    assert gate.sample(S, rng=0).dtype == native
    assert gate.l0_penalty().dtype == native


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_samples_pass_their_own_validation(xp, dtype):
    # A sample held in float16 or bfloat16 misses a row sum of 1 by up to half its eps (each
    # entry rounds by at most that much, relatively): validation accepts it, at any temperature,
    # and still refuses a row that sums to 1.05.
    values = np.random.default_rng(11).normal(size=(6, 8)) * 2
    logits = make(xp, values, dtype)
    for cls, tau in [(RelaxedOneHotCategorical, 0.5), (RelaxedOneHotCategorical, 5.0),
                     (ExpRelaxedOneHotCategorical, 1e4), (ExpRelaxedOneHotCategorical, 0.5)]:
        d = cls(logits, tau, validate_args=True)
        for seed in range(5):
            assert np.all(np.isfinite(to_numpy(d.log_prob(d.sample((50,), rng=seed)))))
    off = np.full((6, 8), 1.05 / 8)
    with pytest.raises(ValueError, match="simplex"):
        RelaxedOneHotCategorical(logits, 0.5, validate_args=True).log_prob(make(xp, off, dtype))
    with pytest.raises(ValueError, match="simplex"):
        ExpRelaxedOneHotCategorical(logits, 0.5, validate_args=True).log_prob(
            make(xp, np.log(off), dtype))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_logit_relaxed_bernoulli_samples_beyond_the_dtype_are_its_largest_value(xp, dtype):
    # (logits + L) / tau with |logits| = 1e4 and tau = 1e-4 is about 1e8 in size, beyond
    # float16's 65504, and with tau = 1e-38 beyond float32's 3.4e38: the sample is the dtype's
    # largest finite value of its sign, never +-inf, and its log-density is finite.
    from helpers import native_dtype

    largest = float(np.finfo(np.dtype(dtype)).max)
    tau = 1e-4 if dtype == "float16" else 1e-38
    logits = make(xp, np.array([1e4, -1e4, 0.0]), dtype)
    d = LogitRelaxedBernoulli(logits, tau, validate_args=True)
    t = d.rsample((200,), rng=3)
    assert t.dtype == native_dtype(xp, dtype)
    drawn = to_numpy(t).astype(np.float64)
    np.testing.assert_array_equal(drawn[:, 0], largest)
    np.testing.assert_array_equal(drawn[:, 1], -largest)
    assert np.all(np.isfinite(drawn))
    assert np.all(np.isfinite(to_numpy(d.log_prob(t))))


# --- per-row temperatures ----------------------------------------------------------------------


def test_column_temperature_gives_one_log_prob_per_row(xp):
    # A (n, 1) temperature with (n, K) logits: one temperature per row, never an (n, n) result
    # (torch.distributions broadcasts it against the row axis of the result).
    n = len(TAUS)
    logits = make(xp, LOGITS)
    for cls, values, reference in (
        (RelaxedOneHotCategorical, VALUES, ref_concrete_log_prob),
        (ExpRelaxedOneHotCategorical, np.log(VALUES), ref_exp_concrete_log_prob),
    ):
        column = cls(logits, make(xp, TAUS[:, None]))
        rows = cls(logits, make(xp, TAUS))
        out = column.log_prob(make(xp, values))
        assert tuple(out.shape) == (5, n)
        assert tuple(column.tau.shape) == (n,)
        np.testing.assert_array_equal(to_numpy(out), to_numpy(rows.log_prob(make(xp, values))))
        assert_close(out, reference(values, LOGITS, TAUS), like=logits, rtol=1e-12)
        for row in range(n):  # and a float temperature per row agrees
            single = cls(make(xp, LOGITS[row]), float(TAUS[row]))
            np.testing.assert_allclose(to_numpy(single.log_prob(make(xp, values[:, row]))),
                                       to_numpy(out)[:, row], rtol=1e-12)
        assert tuple(column.rsample(S, rng=0).shape) == (S, n, 4)


def test_python_float_temperature(xp):
    d = RelaxedOneHotCategorical(make(xp, LOGITS), 2)  # an int is a real number too
    assert d.tau == 2.0
    assert isinstance(d.tau, float)
    assert_close(d.log_prob(make(xp, VALUES)), ref_concrete_log_prob(VALUES, LOGITS, 2.0),
                 like=d.logits, rtol=1e-12)


@pytest.mark.parametrize("tau", [np.float64(0.5), np.float32(0.5), np.int64(2)],
                         ids=["float64", "float32", "int64"])
def test_numpy_scalar_temperature_is_a_float(xp, tau):
    # A NumPy scalar is a real number, not an array of any library: on every backend it is the
    # float temperature it equals.
    expected = float(tau)
    for cls, values, reference in (
        (RelaxedOneHotCategorical, VALUES, ref_concrete_log_prob),
        (ExpRelaxedOneHotCategorical, np.log(VALUES), ref_exp_concrete_log_prob),
    ):
        d = cls(make(xp, LOGITS), tau)
        assert isinstance(d.tau, float)
        assert d.tau == expected
        assert_close(d.log_prob(make(xp, values)), reference(values, LOGITS, expected),
                     like=d.logits, rtol=1e-12)
        assert tuple(d.sample(S, rng=0).shape) == (S, *LOGITS.shape)
    b = RelaxedBernoulli(make(xp, BINARY_LOGITS), tau)
    assert isinstance(b.tau, float)
    assert_close(b.log_prob(make(xp, BINARY_VALUES)),
                 ref_binary_log_pdf(BINARY_VALUES, BINARY_LOGITS, expected), like=b.logits,
                 rtol=1e-12, atol=1e-12)


def test_temperature_and_logits_broadcast_into_the_batch_shape(xp):
    # As in torch.distributions and TensorFlow Probability: one row of logits and three
    # temperatures are a batch of three distributions.
    theta = LOGITS[0]
    d = RelaxedOneHotCategorical(make(xp, theta), make(xp, TAUS))
    assert d.batch_shape == (3,)
    assert d.event_shape == (4,)
    assert d.axis == 1
    assert tuple(d.logits.shape) == (3, 4)
    x = VALUES[:, 0]  # (5, 4): one point per sample, broadcast against the three rows
    expected = ref_concrete_log_prob(x[:, None, :], np.broadcast_to(theta, (3, 4)), TAUS)
    out = d.log_prob(make(xp, x[:, None, :]))
    assert tuple(out.shape) == (5, 3)
    assert_close(out, expected, like=d.logits, rtol=1e-12)
    assert tuple(d.rsample(S, rng=0).shape) == (S, 3, 4)
    e = ExpRelaxedOneHotCategorical(make(xp, theta), make(xp, TAUS))
    assert_close(e.log_prob(make(xp, np.log(x[:, None, :]))),
                 ref_exp_concrete_log_prob(np.log(x[:, None, :]), np.broadcast_to(theta, (3, 4)),
                                           TAUS), like=e.logits, rtol=1e-12)
    assert tuple(e.rsample(S, rng=0).shape) == (S, 3, 4)
    # Classes first: the class axis keeps its place counted from the end.
    columns = RelaxedOneHotCategorical(make(xp, LOGITS.T), make(xp, np.stack([TAUS, 2 * TAUS])),
                                       axis=0)
    assert columns.batch_shape == (2, 3)
    assert columns.axis == 1
    assert tuple(columns.logits.shape) == (2, 4, 3)
    points = np.moveaxis(VALUES, -1, -2)  # (5, 4, 3): classes along axis -2
    out = columns.log_prob(make(xp, points[:, None]))
    assert tuple(out.shape) == (5, 2, 3)
    expected = np.stack([ref_concrete_log_prob(VALUES, LOGITS, t) for t in (TAUS, 2 * TAUS)], 1)
    assert_close(out, expected, like=columns.logits, rtol=1e-12)


def test_binary_temperature_and_logits_broadcast_into_the_batch_shape(xp):
    log_alpha, taus = BINARY_LOGITS[0], BINARY_TAUS[:, :1]  # (4,) and (3, 1)
    for cls in (RelaxedBernoulli, LogitRelaxedBernoulli):
        d = cls(make(xp, log_alpha), make(xp, taus))
        assert d.batch_shape == (3, 4)
        assert tuple(d.logits.shape) == (3, 4)
        assert tuple(d.rsample(S, rng=0).shape) == (S, 3, 4)
    b = RelaxedBernoulli(make(xp, log_alpha), make(xp, taus))
    assert_close(b.log_prob(make(xp, BINARY_VALUES)),
                 ref_binary_log_pdf(BINARY_VALUES, log_alpha, taus), like=b.logits, rtol=1e-12,
                 atol=1e-12)
    assert_close(b.cdf(make(xp, BINARY_VALUES)), ref_binary_cdf(BINARY_VALUES, log_alpha, taus),
                 like=b.logits, rtol=1e-12)


# --- same noise as gumbel_softmax --------------------------------------------------------------


def test_samples_use_the_noise_of_gumbel_softmax(xp):
    logits = make(xp, LOGITS)
    y = RelaxedOneHotCategorical(logits, make(xp, TAUS)).sample(S, rng=11)
    np.testing.assert_array_equal(
        to_numpy(y), to_numpy(gk.gumbel_softmax(logits, tau=make(xp, TAUS), sample_shape=S,
                                                rng=11)))
    # ExpConcrete is the logarithm of the same sample.
    z = ExpRelaxedOneHotCategorical(logits, make(xp, TAUS)).sample(S, rng=11)
    np.testing.assert_allclose(to_numpy(z), np.log(to_numpy(y)), rtol=1e-12, atol=1e-14)
    # The binary Concrete is coordinate 0 of a two-class Concrete with logits (logits, 0).
    pair = np.stack([LOGITS, np.zeros_like(LOGITS)], axis=-1)
    soft = gk.gumbel_softmax(make(xp, pair), tau=0.7, sample_shape=S, rng=12)
    y_binary = RelaxedBernoulli(logits, 0.7).sample(S, rng=12)
    np.testing.assert_allclose(to_numpy(y_binary), to_numpy(soft)[..., 0], rtol=1e-10)
    t = LogitRelaxedBernoulli(logits, 0.7).sample(S, rng=12)
    np.testing.assert_allclose(special.expit(to_numpy(t)), to_numpy(y_binary), rtol=1e-12)


@pytest.mark.parametrize("tau", [1e-3, 1e-30])
def test_exp_concrete_samples_stay_finite_at_tiny_temperatures(xp, tau):
    # F2 with common noise: tau (Z_i - Z_j) = (theta + G)_i - (theta + G)_j, the log-ratios of
    # the same seed's sample at tau = 1, while exp(Z) underflows to 0.
    logits = make(xp, LOGITS, "float32")
    tiny = to_numpy(ExpRelaxedOneHotCategorical(logits, tau).sample(S, rng=4)).astype(np.float64)
    one = to_numpy(ExpRelaxedOneHotCategorical(logits, 1.0).sample(S, rng=4)).astype(np.float64)
    assert np.all(np.isfinite(tiny))
    assert np.all(tiny <= 0)
    assert np.any(np.exp(tiny.astype(np.float32)) == 0)  # the Concrete sample underflows
    np.testing.assert_allclose(special.logsumexp(tiny, axis=-1), 0.0, atol=1e-6)
    ratios = tau * (tiny - tiny[..., :1])
    np.testing.assert_allclose(ratios, one - one[..., :1], rtol=1e-5, atol=1e-5)
    log_prob = ExpRelaxedOneHotCategorical(logits, tau).log_prob(make(xp, tiny, "float32"))
    assert np.all(np.isfinite(to_numpy(log_prob)))


# --- masks -------------------------------------------------------------------------------------

MASKED = np.array([[0.3, NINF, 0.8, 0.1], [NINF, 0.2, -0.7, NINF], [-0.5, -0.5, 2.0, 0.4]])


def test_masked_classes_are_dropped_from_the_simplex(xp):
    logits = make(xp, MASKED)
    d = RelaxedOneHotCategorical(logits, make(xp, TAUS))
    y = to_numpy(d.sample(S, rng=6))
    assert np.all(y[..., np.isinf(MASKED)] == 0)
    # The density of the unmasked coordinates on their own simplex.
    values = VALUES.copy()
    values[:, np.isinf(MASKED)] = 0.0
    values /= values.sum(axis=-1, keepdims=True)
    out = to_numpy(d.log_prob(make(xp, values)))
    assert np.all(np.isfinite(out))
    for row in range(3):
        keep = ~np.isinf(MASKED[row])
        expected = ref_concrete_log_prob(values[:, row, keep], MASKED[row, keep], TAUS[row])
        np.testing.assert_allclose(out[:, row], expected, rtol=1e-12)
    assert np.all(np.isfinite(to_numpy(d.log_prob(make(xp, y)))))
    # Mass on a masked class is outside the support.
    assert to_numpy(d.log_prob(make(xp, VALUES)))[0, 0] == NINF

    e = ExpRelaxedOneHotCategorical(logits, make(xp, TAUS))
    z = to_numpy(e.sample(S, rng=6))
    assert np.all(z[..., np.isinf(MASKED)] == NINF)
    assert np.all(np.isfinite(z[..., ~np.isinf(MASKED)]))
    with np.errstate(divide="ignore"):
        log_values = np.log(values)
    out = to_numpy(e.log_prob(make(xp, log_values)))
    for row in range(3):
        keep = ~np.isinf(MASKED[row])
        expected = ref_exp_concrete_log_prob(log_values[:, row, keep], MASKED[row, keep],
                                             TAUS[row])
        np.testing.assert_allclose(out[:, row], expected, rtol=1e-12)
    assert np.all(np.isfinite(to_numpy(e.log_prob(make(xp, z)))))
    assert_close(d.probs, special.softmax(MASKED, axis=-1), like=logits, rtol=1e-12)


def test_invalid_rows_give_nan(xp):
    # A row with no unmasked class, or with a NaN or +inf logit, is invalid data: NaN, like
    # gumbel_softmax, in samples and log-densities alike; the other rows are unaffected.
    logits = np.array([[0.3, -1.2, 0.8, 0.1], [NINF, NINF, NINF, NINF], [0.0, np.nan, 1.0, 2.0]])
    for cls, values in ((RelaxedOneHotCategorical, VALUES),
                        (ExpRelaxedOneHotCategorical, np.log(VALUES))):
        d = cls(make(xp, logits), make(xp, TAUS))
        for out in (d.sample(S, rng=8), d.log_prob(make(xp, values))):
            with warnings.catch_warnings():
                # NumPy warns about the NaN rows while a Dask graph computes, outside the
                # errstate gumbelkit sets around its own computation.
                warnings.filterwarnings("ignore", category=RuntimeWarning, module="dask")
                out = to_numpy(out)
            assert np.all(np.isfinite(out[:, 0]))
            assert np.all(np.isnan(out[:, 1:]))


# --- errors ------------------------------------------------------------------------------------

ALL_CLASSES = (RelaxedOneHotCategorical, ExpRelaxedOneHotCategorical, RelaxedBernoulli,
               LogitRelaxedBernoulli)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("tau", [0.0, -1.0, math.nan, math.inf])
def test_tau_must_be_positive_and_finite(xp, cls, tau):
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        cls(make(xp, LOGITS), tau)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("tau", ["1.0", None, True, [0.5]])
def test_tau_must_be_a_number_or_an_array(xp, cls, tau):
    with pytest.raises(TypeError, match="tau"):
        cls(make(xp, LOGITS), tau)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_tau_array_with_a_bad_entry(xp, cls):
    logits = make(xp, LOGITS)
    shape = (3,) if cls in ALL_CLASSES[:2] else (3, 4)
    bad = make(xp, np.where(np.arange(np.prod(shape)).reshape(shape) == 1, -1.0, 0.5))
    with pytest.raises(ValueError, match="tau must be positive and finite"):
        cls(logits, bad, validate_args=True)
    if gk.backends.backend_for(logits).is_host_readable(bad):
        with pytest.raises(ValueError, match="tau must be positive and finite"):
            cls(logits, bad)


def test_tau_array_shape_and_library(xp):
    logits = make(xp, LOGITS)
    with pytest.raises(ValueError, match=r"tau of shape \(4,\) does not broadcast against the "
                                         r"batch shape of logits of shape \(3,\)"):
        RelaxedOneHotCategorical(logits, make(xp, np.ones(4)))
    with pytest.raises(ValueError, match=r"tau of shape \(3,\) does not broadcast against "
                                         r"logits of shape \(3, 4\)"):
        RelaxedBernoulli(logits, make(xp, np.ones(3)))
    if xp.__name__ != "numpy":
        with pytest.raises(TypeError, match="tau must be an array of the same library"):
            RelaxedOneHotCategorical(logits, np.ones(3))


@pytest.mark.parametrize("cls", [*ALL_CLASSES, HardConcrete])
def test_parameters_must_be_floating_arrays(xp, cls):
    argument = "log_alpha" if cls is HardConcrete else "logits"
    extra = () if cls is HardConcrete else (0.5,)
    with pytest.raises(TypeError, match=argument):
        cls([0.1, 0.2], *extra)
    with pytest.raises(TypeError, match=f"{argument} must have a real floating dtype"):
        cls(xp.asarray([1, 2]), *extra)
    with pytest.raises(TypeError, match="validate_args must be True or False"):
        cls(make(xp, LOGITS), *extra, validate_args=1)



# torch.distributions writes RelaxedOneHotCategorical(temperature, probs=None, logits=None,
# validate_args=None): each habit gets a message that says what to write here instead.
TORCH_HABITS = {
    "temperature first, positionally": (
        RelaxedOneHotCategorical, lambda x: ((0.5, x), {}),
        r"RelaxedOneHotCategorical takes logits first and the temperature second "
        r"\(torch.distributions puts the temperature first\): write "
        r"RelaxedOneHotCategorical\(logits, tau=0.5\)"),
    "temperature first, logits by keyword": (
        ExpRelaxedOneHotCategorical, lambda x: ((0.5,), {"logits": x}),
        r"ExpRelaxedOneHotCategorical takes logits first and the temperature second .*: write "
        r"ExpRelaxedOneHotCategorical\(logits, tau=0.5\)"),
    "a 0-d temperature array first": (
        RelaxedOneHotCategorical, lambda x: ((x[0, 0], x), {}),
        r"takes logits first and the temperature second .*: write "
        r"RelaxedOneHotCategorical\(logits, tau=\.\.\.\)"),
    "binary, temperature first": (
        RelaxedBernoulli, lambda x: ((2, x), {}),
        r"RelaxedBernoulli takes logits first .*: write RelaxedBernoulli\(logits, tau=2\)"),
    "the temperature keyword": (
        LogitRelaxedBernoulli, lambda x: ((), {"temperature": 0.5, "logits": x}),
        r"LogitRelaxedBernoulli has no keyword temperature: gumbelkit calls it tau; write "
        r"LogitRelaxedBernoulli\(logits, tau=0.5\)"),
    "probs": (
        RelaxedOneHotCategorical, lambda x: ((0.5,), {"probs": x}),
        r"RelaxedOneHotCategorical takes logits, not probs \(torch.distributions takes "
        r"either\): write RelaxedOneHotCategorical\(log\(probs\), tau=0.5\)"),
    "binary probs": (
        RelaxedBernoulli, lambda x: ((), {"probs": x, "tau": 0.25}),
        r"RelaxedBernoulli takes logits, not probs .*: write "
        r"RelaxedBernoulli\(log\(probs\) - log1p\(-probs\), tau=0.25\)"),
    "dim": (
        RelaxedOneHotCategorical, lambda x: ((x, 0.5), {"dim": 0}),
        r"RelaxedOneHotCategorical has no keyword dim: gumbelkit calls it axis; write axis=0"),
    "validate_args=None": (
        RelaxedOneHotCategorical, lambda x: ((x, 0.5), {"validate_args": None}),
        r"validate_args must be True or False; got None \(torch.distributions' default"),
    "hard concrete temperature by position": (
        HardConcrete, lambda x: ((x, 0.5), {}),
        r"HardConcrete takes log_alpha by position and everything else by keyword \(beta, "
        r"gamma, zeta, validate_args\): write HardConcrete\(log_alpha, beta=0.5\)"),
    "hard concrete temperature keyword": (
        HardConcrete, lambda x: ((x,), {"temperature": 0.5}),
        r"HardConcrete has no keyword temperature: gumbelkit calls it beta; write "
        r"HardConcrete\(log_alpha, beta=0.5\)"),
    "an unknown keyword": (
        RelaxedBernoulli, lambda x: ((x, 0.5), {"validate": True}),
        r"RelaxedBernoulli got an unexpected keyword argument 'validate' \(did you mean "
        r"validate_args\?\)"),
}


@pytest.mark.parametrize("habit", list(TORCH_HABITS))
def test_torch_distributions_habits_say_what_to_write(xp, habit):
    cls, arguments, message = TORCH_HABITS[habit]
    args, kwargs = arguments(make(xp, LOGITS))
    with pytest.raises(TypeError, match=message):
        cls(*args, **kwargs)


def test_a_0d_binary_logits_with_an_invalid_tau_keeps_its_error(xp):
    # A 0-d array is valid binary logits: the temperature's own error stands, not a habit.
    with pytest.raises(ValueError, match="tau must be positive and finite"):
        RelaxedBernoulli(make(xp, np.array(0.5)), make(xp, np.array([0.5, -1.0])),
                         validate_args=True)

def test_value_must_fit(xp):
    d = RelaxedOneHotCategorical(make(xp, LOGITS), 0.5)
    with pytest.raises(ValueError, match="value must have the 4 classes"):
        d.log_prob(make(xp, np.full((3, 3), 1 / 3)))
    with pytest.raises(ValueError, match="value of shape"):
        d.log_prob(make(xp, np.full((2, 4), 0.25)))
    with pytest.raises(TypeError, match="value must have a real floating dtype"):
        d.log_prob(xp.asarray([[1, 0, 0, 0]]))
    if xp.__name__ != "numpy":
        with pytest.raises(TypeError, match="value must be an array of the same library"):
            d.log_prob(np.full(4, 0.25))
    b = RelaxedBernoulli(make(xp, LOGITS), 0.5)
    with pytest.raises(ValueError, match="value of shape"):
        b.cdf(make(xp, np.full((2,), 0.5)))
    with pytest.raises(ValueError, match="value of shape"):
        HardConcrete(make(xp, LOGITS)).cdf(make(xp, np.full((5,), 0.5)))


def test_sample_arguments(xp):
    d = RelaxedBernoulli(make(xp, LOGITS), 0.5)
    with pytest.raises(TypeError, match="sample_shape"):
        d.sample(1.5, rng=0)
    with pytest.raises(ValueError, match="sample_shape"):
        d.sample((-1,), rng=0)
    with pytest.raises(TypeError, match="rng"):
        d.sample(rng="seed")
    with pytest.raises(TypeError, match="rng"):
        RelaxedOneHotCategorical(make(xp, LOGITS), 0.5).sample(rng="seed")
    with pytest.raises(TypeError, match="rng"):
        HardConcrete(make(xp, LOGITS)).sample(rng=1.5)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [("beta", 0.0, "beta must be a positive finite number"),
     ("beta", math.inf, "beta must be a positive finite number"),
     ("gamma", 0.0, "gamma must be negative"),
     ("gamma", math.nan, "gamma must be a finite number"),
     ("zeta", 1.0, "zeta must be above 1"),
     ("zeta", "1.1", "zeta must be a real number")],
)
def test_hard_concrete_constants(xp, argument, value, message):
    error = TypeError if isinstance(value, str) else ValueError
    with pytest.raises(error, match=message):
        HardConcrete(make(xp, LOGITS), **{argument: value})


def test_validate_args_checks_the_support(xp):
    logits = make(xp, MASKED)
    d = RelaxedOneHotCategorical(logits, 0.5, validate_args=True)
    assert d.validate_args
    good = np.where(np.isinf(MASKED), 0.0, 1.0)
    good /= good.sum(axis=-1, keepdims=True)
    d.log_prob(make(xp, good))
    for bad in (VALUES[0], VALUES[0] * 2, -good, np.where(np.isinf(MASKED), 0.5, good)):
        with pytest.raises(ValueError, match="value must lie on the simplex"):
            d.log_prob(make(xp, bad))
    e = ExpRelaxedOneHotCategorical(logits, 0.5, validate_args=True)
    with np.errstate(divide="ignore"):
        e.log_prob(make(xp, np.log(good)))
        for bad in (np.log(good) + 1.0, np.log(VALUES[0]), np.log(good) * np.nan):
            with pytest.raises(ValueError, match="value must be the logarithm"):
                e.log_prob(make(xp, bad))
    b = RelaxedBernoulli(make(xp, LOGITS), 0.5, validate_args=True)
    for method in (b.log_prob, b.cdf, b.icdf):
        method(make(xp, np.full(4, 0.5)))
        with pytest.raises(ValueError, match=r"value must lie in \[0, 1\]"):
            method(make(xp, np.full(4, 1.5)))
    with pytest.raises(ValueError, match="value must be finite"):
        LogitRelaxedBernoulli(make(xp, LOGITS), 0.5, validate_args=True).log_prob(
            make(xp, np.full(4, np.inf)))
    with pytest.raises(ValueError, match=r"value must lie in \[0, 1\]"):
        HardConcrete(make(xp, LOGITS), validate_args=True).cdf(make(xp, np.full(4, -0.1)))


def test_validate_args_checks_the_parameters(xp):
    with pytest.raises(ValueError, match=r"logits row \(1,\)"):
        RelaxedOneHotCategorical(make(xp, [[0.0, 1.0], [NINF, NINF]]), 0.5, validate_args=True)
    with pytest.raises(ValueError, match="logits must be finite"):
        RelaxedBernoulli(make(xp, [0.0, np.nan]), 0.5, validate_args=True)
    with pytest.raises(ValueError, match="log_alpha must be finite"):
        HardConcrete(make(xp, [0.0, np.inf]), validate_args=True)


# --- gradients ---------------------------------------------------------------------------------


def _jacobian(backend):
    """Return ``jacobian(f, *arrays)``: the NumPy Jacobians of the vector ``f`` with respect to
    each array, shaped ``(len(f), *array.shape)``. One jitted XLA computation for JAX."""
    if backend is Backend.JAX:
        import jax

        def jacobian(f, *arrays):
            argnums = tuple(range(len(arrays)))
            return tuple(np.asarray(j) for j in jax.jit(jax.jacrev(f, argnums=argnums))(*arrays))

        return jacobian

    import torch

    def jacobian(f, *arrays):
        return tuple(j.numpy() for j in torch.autograd.functional.jacobian(f, arrays))

    return jacobian


def softmax_jacobian_vjp(y, w, tau):
    return (y * w - y * np.sum(y * w, axis=-1, keepdims=True)) / tau


@pytest.mark.parametrize("backend", AUTODIFF, indirect=True)
def test_rsample_gradients(backend, xp):
    # References from the samples themselves: dy/dtheta = J(y) / tau for the Concrete,
    # (I - 1 y^T) / tau for its logarithm, y (1 - y) / tau for the binary Concrete, 1 / tau in
    # logit space, and the stretched sigmoid's derivative between the Hard Concrete atoms.
    jacobian = _jacobian(backend)
    logits, tau = make(xp, LOGITS), make(xp, TAUS)
    w = np.random.default_rng(3).normal(size=(S, 3, 4))
    w_xp = make(xp, w)

    def losses(lg, t):
        return xp.stack([
            xp.sum(RelaxedOneHotCategorical(lg, t).rsample(S, rng=21) * w_xp),
            xp.sum(ExpRelaxedOneHotCategorical(lg, t).rsample(S, rng=21) * w_xp),
            xp.sum(RelaxedBernoulli(lg, 0.6).rsample(S, rng=22) * w_xp),
            xp.sum(LogitRelaxedBernoulli(lg, 0.6).rsample(S, rng=22) * w_xp),
            xp.sum(HardConcrete(lg).rsample(S, rng=23) * w_xp),
            # sample() carries no gradient: only the explicit factor lg is differentiated.
            xp.sum(RelaxedOneHotCategorical(lg, t).sample(S, rng=21) * lg),
            xp.sum(RelaxedBernoulli(lg, 0.6).sample(S, rng=22) * lg),
            xp.sum(HardConcrete(lg).sample(S, rng=23) * lg),
        ])

    g_logits, g_tau = jacobian(losses, logits, tau)
    y = to_numpy(RelaxedOneHotCategorical(logits, tau).sample(S, rng=21))
    tau_b = TAUS[:, None]
    vjp = softmax_jacobian_vjp(y, w, tau_b)
    np.testing.assert_allclose(g_logits[0], vjp.sum(axis=0), rtol=1e-10, atol=1e-12)
    # y = softmax(s / tau) with s = tau log y up to a row constant, which J(y) annihilates.
    np.testing.assert_allclose(g_tau[0], -np.sum(vjp * np.log(y), axis=(0, -1)), rtol=1e-9,
                               atol=1e-12)
    # Z = log y: the gradient of w . Z is (w - y sum(w)) / tau, and with respect to tau
    # -(w . log y - sum(w) y . log y) / tau.
    w_sum = np.sum(w, axis=-1, keepdims=True)
    np.testing.assert_allclose(g_logits[1], ((w - y * w_sum) / tau_b).sum(axis=0), rtol=1e-10,
                               atol=1e-12)
    expected = -np.sum(w * np.log(y) - w_sum * y * np.log(y), axis=(0, -1)) / TAUS
    np.testing.assert_allclose(g_tau[1], expected, rtol=1e-9, atol=1e-12)
    assert np.all(g_tau[2:] == 0)

    y_concrete = y
    y = to_numpy(RelaxedBernoulli(logits, 0.6).sample(S, rng=22))
    np.testing.assert_allclose(g_logits[2], np.sum(w * y * (1 - y) / 0.6, axis=0), rtol=1e-10)
    np.testing.assert_allclose(g_logits[3], np.sum(w, axis=0) / 0.6, rtol=1e-12)
    z = to_numpy(HardConcrete(logits).sample(S, rng=23))
    s = (z + 0.1) / 1.2
    interior = (z > 0) & (z < 1)
    assert interior.any()
    assert (~interior).any()
    expected = np.where(interior, 1.2 * s * (1 - s) / (2 / 3), 0.0)
    np.testing.assert_allclose(g_logits[4], np.sum(w * expected, axis=0), rtol=1e-9, atol=1e-12)
    for i, sample in zip((5, 6, 7), (y_concrete, y, z), strict=True):
        np.testing.assert_allclose(g_logits[i], sample.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("backend", AUTODIFF, indirect=True)
def test_temperature_gradient_at_a_tiny_temperature(backend, xp):
    # y = sigmoid((logit(u) + logits) / tau) at u = 1/2: dy/dtau = -y (1 - y) logits / tau**2.
    # At tau = 1e-200 that is about 1e200 for logits of order tau, and 0 where y rounds to 0
    # or 1, where the factor 1 / tau**2 overflows float64 (0 * inf gave a NaN).
    jacobian = _jacobian(backend)
    tau0 = 1e-200
    logits_np = np.array([tau0, -2 * tau0, 1.0, -1.0])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    logits, w_xp, u = make(xp, logits_np), make(xp, w), make(xp, np.full(4, 0.5))

    def loss(t):
        return xp.sum(RelaxedBernoulli(logits, t).icdf(u) * w_xp)

    (gradient,) = jacobian(loss, make(xp, np.full(4, tau0)))
    x = logits_np / tau0
    y = special.expit(x)
    expected = np.where(np.abs(x) < 700, -w * y * (1 - y) * x / tau0, 0.0)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)


@pytest.mark.parametrize("backend", AUTODIFF, indirect=True)
def test_log_prob_gradients(backend, xp):
    jacobian = _jacobian(backend)
    x = VALUES[0]
    masked_x = np.where(np.isinf(MASKED), 0.0, x)
    masked_x /= masked_x.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        masked_z = np.log(masked_x)
    values, masked_values, masked_logs = (make(xp, v) for v in (x, masked_x, masked_z))
    extreme = np.array([[-100.0, 0.3, 100.0, -5.0], [2.0, -0.4, 40.0, -40.0], [0.0, 1.0, 7.0,
                                                                                -7.0]])
    y = BINARY_VALUES[0]
    y_xp = make(xp, y)

    def losses(lg, t, masked, a, alphas):
        return xp.stack([
            xp.sum(RelaxedOneHotCategorical(lg, t).log_prob(values)),
            xp.sum(RelaxedOneHotCategorical(masked, t).log_prob(masked_values)),
            xp.sum(ExpRelaxedOneHotCategorical(masked, t).log_prob(masked_logs)),
            xp.sum(RelaxedBernoulli(a, 0.5).log_prob(y_xp)),
            xp.sum(HardConcrete(alphas).l0_penalty()),
        ])

    g_logits, g_tau, g_masked, g_a, g_alphas = jacobian(
        losses, make(xp, LOGITS), make(xp, TAUS), make(xp, MASKED), make(xp, extreme),
        make(xp, LOG_ALPHAS))
    # d/d theta_j = 1 - K softmax(theta - tau log x)_j;
    # d/d tau = (K - 1)/tau - sum log x + K sum_j softmax_j log x_j.
    k, tau_b = 4, TAUS[:, None]
    soft = special.softmax(LOGITS - tau_b * np.log(x), axis=-1)
    np.testing.assert_allclose(g_logits[0], 1 - k * soft, rtol=1e-10, atol=1e-12)
    expected_tau = ((k - 1) / TAUS - np.sum(np.log(x), axis=-1)
                    + k * np.sum(soft * np.log(x), axis=-1))
    np.testing.assert_allclose(g_tau[0], expected_tau, rtol=1e-10)
    # Masked classes: finite gradients, exactly 0 at the mask.
    for i in (1, 2):
        assert np.all(np.isfinite(g_masked[i]))
        assert np.all(np.isfinite(g_tau[i]))
        assert np.all(g_masked[i][np.isinf(MASKED)] == 0)
        assert np.any(g_masked[i] != 0)
    # The binary Concrete: d/d log_alpha = 1 - 2 sigmoid(d), d = log_alpha - tau logit(y).
    np.testing.assert_allclose(g_a[3], 1 - 2 * special.expit(extreme - 0.5 * special.logit(y)),
                               rtol=1e-10)
    # The L0 penalty: d/d a sigmoid(a - beta log(1/11)).
    p = special.expit(LOG_ALPHAS - (2 / 3) * np.log(1 / 11))
    np.testing.assert_allclose(g_alphas[4], p * (1 - p), rtol=1e-10)


def test_validate_args_under_jit_raises_type_error():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    import jax.numpy as jnp

    @jax.jit
    def f(logits):
        return RelaxedBernoulli(logits, 0.5, validate_args=True).log_prob(jnp.full(3, 0.5))

    with pytest.raises(TypeError, match="impossible under a trace"):
        f(jnp.zeros(3))


def test_vmap_over_keys():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # as the xp fixture does for JAX
    d = HardConcrete(jnp.asarray(LOGITS, dtype=jnp.float64))
    keys = jax.random.split(jax.random.key(0), 4)
    batched = jax.jit(jax.vmap(lambda key: d.sample(S, rng=key)))(keys)
    assert batched.shape == (4, S, 3, 4)
    np.testing.assert_allclose(np.asarray(batched[2]), np.asarray(d.sample(S, rng=keys[2])),
                               rtol=1e-12)


def test_torch_compile_log_prob_fullgraph():
    torch = _torch()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        import torch._inductor.compile_fx

    torch._dynamo.reset()
    logits = torch.tensor(LOGITS, dtype=torch.float32, requires_grad=True)
    tau = torch.tensor(TAUS, dtype=torch.float32)
    values = torch.tensor(VALUES, dtype=torch.float32)

    def log_prob(lg, t, v):
        return RelaxedOneHotCategorical(lg, t).log_prob(v)

    RelaxedOneHotCategorical(logits, tau)  # the adapter lookup is warm
    compiled = torch.compile(log_prob, fullgraph=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = compiled(logits, tau, values)
        assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
        np.testing.assert_allclose(out.detach().numpy(),
                                   ref_concrete_log_prob(VALUES, LOGITS, TAUS), rtol=2e-5)
        out.sum().backward()
        eager_logits = logits.detach().clone().requires_grad_()
        log_prob(eager_logits, tau, values).sum().backward()
        np.testing.assert_allclose(logits.grad.numpy(), eager_logits.grad.numpy(), rtol=1e-5,
                                   atol=1e-6)
    finally:
        torch._dynamo.reset()


def test_distributions_pickle_on_every_backend(xp):
    # The namespace (a module) and a JAX device do not pickle: they are looked up again.
    import copy
    import pickle

    params = make(xp, [[0.3, -1.0, 2.0], [0.0, 0.5, -0.5]], "float32")
    for d in (RelaxedOneHotCategorical(params, tau=0.5), ExpRelaxedOneHotCategorical(params, 2.0),
              RelaxedBernoulli(params, tau=0.5), LogitRelaxedBernoulli(params, tau=0.5),
              HardConcrete(params)):
        for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
            assert type(twin) is type(d)
            assert twin.batch_shape == d.batch_shape
            sample = twin.sample((3,), rng=4)
            assert_same_namespace_device(sample, params)
            np.testing.assert_array_equal(to_numpy(sample), to_numpy(d.sample((3,), rng=4)))


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_binary_log_prob_at_infinite_logits_is_minus_inf_in_both_spaces(xp, tau):
    # An infinite logit's sample in logit space is held at the dtype's end; a large tau scaled
    # it back to the same infinity, and log_prob was inf - inf = NaN where the sigmoid space
    # gives the boundary's limit, -inf. The finite entries keep scipy's logistic density.
    logits_np = np.array([3.0, 1.0, -np.inf, np.inf])
    logits = make(xp, logits_np)
    for family in (LogitRelaxedBernoulli, RelaxedBernoulli):
        d = family(logits, tau)
        log_prob = to_numpy(d.log_prob(d.sample(rng=0)))
        assert not np.any(np.isnan(log_prob)), (family, log_prob)
        np.testing.assert_array_equal(log_prob[2:], -np.inf)
        assert np.all(np.isfinite(log_prob[:2]))
    t = to_numpy(LogitRelaxedBernoulli(logits, tau).sample(rng=0))[:2]
    expected = scipy_stats.logistic.logpdf(t, loc=logits_np[:2] / tau, scale=1 / tau)
    finite = LogitRelaxedBernoulli(make(xp, logits_np[:2]), tau)
    np.testing.assert_allclose(to_numpy(finite.log_prob(make(xp, t))), expected, rtol=1e-10)
