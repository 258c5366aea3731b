"""The gradient estimators of hard samples (docs/mathematics.md#gradient-estimators), in float64.

References are independent of gumbelkit: the backward formulas of
docs/mathematics.md#gradient-estimators in NumPy float64
(``J(p) g = p g - p (p . g)``), the exact gradient ``J(pi) f_vec`` of ``E f(D)``, the
forward-Euler and trapezoid forms of the second-order property, and a NumPy Monte Carlo of
straight-through Gumbel-Softmax from NumPy's own Gumbel sampler. Estimators whose backward
depends on the sample only (st-probs, ReinMax, GST) are tested by exhaustive enumeration: each
one-hot ``D = e_i`` is forced with injected noise and the gradients are weighted by ``pi``.
ST-GS and Gumbel-Rao integrate over the noise and are z-tested against the Monte Carlo
reference.

Gradients are taken with torch.autograd and ``jax.jit(jax.grad(...))``; NumPy, Dask and
array-api-strict have no autodiff and skip those tests with that reason.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from helpers import make, np_softmax, to_numpy
from scipy import stats

import gumbelkit as gk
from gumbelkit.backends import backend_for

ALPHA = 1e-6  # per assertion of the statistical tests below

ESTIMATORS = ["st", "st-probs", "reinmax", "gumbel-rao", "gapped", "gapped-p"]
NINF = -np.inf


# --- NumPy references --------------------------------------------------------------------------


def jvp(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``J(p) g = p g - p (p . g)`` along the last axis, in float64."""
    return p * g - p * np.sum(p * g, axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Objective:
    """``f(x) = x^T A x + b^T x + (w^T x)**3`` of one row ``x`` (quadratic for ``w = 0``)."""

    a: np.ndarray
    b: np.ndarray
    w: np.ndarray

    @classmethod
    def random(cls, k: int, seed: int, cubic: bool = False) -> Objective:
        rng = np.random.default_rng(seed)
        w = rng.normal(size=k) if cubic else np.zeros(k)
        return cls(rng.normal(size=(k, k)), rng.normal(size=k), w)

    def values(self) -> np.ndarray:
        """``f(e_i)`` for every class ``i``."""
        return np.diag(self.a) + self.b + self.w**3

    def grad(self, x: np.ndarray) -> np.ndarray:
        """``grad f(x)`` row by row."""
        return x @ (self.a + self.a.T) + self.b + 3 * (x @ self.w)[..., None] ** 2 * self.w

    def total(self, xp, out):
        """``sum over rows of f(out_row)`` in the namespace ``xp`` (differentiable)."""
        a, b, w = (xp.asarray(v) for v in (self.a, self.b, self.w))
        return xp.sum((out @ a) * out) + xp.sum(out * b) + xp.sum((out @ w) ** 3)


def backward(estimator, theta: np.ndarray, i: int, tau: float, g: np.ndarray) -> np.ndarray:
    """The backward of ``estimator`` for ``D = e_i`` and upstream gradient ``g``
    (docs/mathematics.md#gradient-estimators)."""
    d = np.eye(len(theta))[i]
    if estimator == "st-probs":
        return jvp(np_softmax(theta / tau), g) / tau
    if estimator == "reinmax":
        pi1 = (d + np_softmax(theta / tau)) / 2
        return 2 * jvp(pi1, g) - jvp(np_softmax(theta), g) / 2
    gap = {"gapped": 1.0, "gapped-p": "p"}.get(estimator) if isinstance(estimator, str) \
        else estimator.gap
    if gap == "p":
        p = np_softmax(theta)[i] * (1 - 1e-5)
        delta = -math.log(1 - p) / p
    else:
        delta = gap
    top = np.max(theta)
    gapped = np.minimum(theta, top - delta)
    gapped[i] = top
    return jvp(np_softmax(gapped / tau), g) / tau


def exact_gradient(theta: np.ndarray, f: Objective) -> np.ndarray:
    """``grad_theta E f(D) = J(pi) f_vec``, ``f_vec_i = f(e_i)``."""
    return jvp(np_softmax(theta), f.values())


def second_order_form(theta: np.ndarray, f: Objective, rule: str) -> np.ndarray:
    """``sum_ij pi_j c_ij d pi_i / d theta`` with the forward-Euler or trapezoid ``c_ij``."""
    pi = np_softmax(theta)
    k = len(theta)
    eye = np.eye(k)
    grads = f.grad(eye)  # row j: grad f(e_j)
    jacobian = np.diag(pi) - np.outer(pi, pi)  # row i: d pi_i / d theta
    total = np.zeros(k)
    for i in range(k):
        for j in range(k):
            slope = grads[j] if rule == "euler" else (grads[i] + grads[j]) / 2
            total += pi[j] * (slope @ (eye[i] - eye[j])) * jacobian[i]
    return total


# --- gradients on the autodiff backends --------------------------------------------------------


def require_autodiff(xp) -> None:
    adapter = backend_for(make(xp, [0.0]))
    if not adapter.supports_autodiff:
        pytest.skip(f"{adapter.name} has no autodiff: every estimator returns the plain one-hot")


def gradient(xp, loss, theta: np.ndarray) -> np.ndarray:
    """``d loss(logits) / d logits`` at the float64 ``theta``: torch.autograd, or
    ``jax.jit(jax.grad(loss))`` (one compilation per call)."""
    logits = make(xp, theta)
    if xp.__name__ == "torch":
        logits.requires_grad_()
        loss(logits).backward()
        return to_numpy(logits.grad)
    import jax

    return to_numpy(jax.jit(jax.grad(loss))(logits))


def hard_sample(logits, estimator, **kwargs):
    return gk.gumbel_softmax(logits, hard=True, estimator=estimator, **kwargs)


def computed(x) -> np.ndarray:
    """Read ``x`` back, ignoring the NumPy warnings of a lazy Dask graph computing the
    deliberate infinities of invalid rows (gumbelkit's errstate has been left by then)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="dask")
        return to_numpy(x)


# --- forward values --------------------------------------------------------------------------


MASKED_THETA = np.array([0.3, -0.5, NINF, 1.2, 0.1])
UNMASKED = [0, 1, 3, 4]


FORWARD_ESTIMATORS = [*ESTIMATORS, gk.Gapped(0.25)]


def all_hard_samples(logits, tau, noise):
    """For each estimator: the sample with the given noise, and one drawn with a seed.

    Eager JAX compiles each primitive per shape (a new random draw's shape costs seconds), so
    the eager tests share the logits shape (3, 5) and 4 samples.
    """
    outs = []
    for estimator in FORWARD_ESTIMATORS:
        # Gumbel-Rao draws its conditional noise from rng when the sample's noise is given.
        rao = estimator == "gumbel-rao" or isinstance(estimator, gk.GumbelRao)
        kwargs = {"rng": 1} if rao else {}
        outs.append(hard_sample(logits, estimator, tau=tau, noise=noise, sample_shape=4,
                                **kwargs))
        outs.append(hard_sample(logits, estimator, tau=2.0, rng=3, sample_shape=4))
    return outs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_is_exactly_the_one_hot_for_every_estimator(xp, dtype):
    rng = np.random.default_rng(0)
    logits_np = np.stack([MASKED_THETA, rng.normal(size=5), MASKED_THETA])
    noise_np = rng.gumbel(size=(4, 3, 5))
    expected = np.eye(5)[np.argmax(logits_np.astype(dtype) + noise_np.astype(dtype), axis=-1)]
    logits = make(xp, logits_np, dtype)
    outs = all_hard_samples(logits, make(xp, [0.5, 1.0, 3.0], dtype), make(xp, noise_np, dtype))
    for e, estimator in enumerate(FORWARD_ESTIMATORS):
        given, drawn = outs[2 * e], to_numpy(outs[2 * e + 1])
        assert given.dtype == logits.dtype
        np.testing.assert_array_equal(to_numpy(given), expected, err_msg=str(estimator))
        assert np.all((drawn == 0) | (drawn == 1))
        np.testing.assert_array_equal(drawn.sum(axis=-1), 1.0)
        assert np.all(drawn[..., 2][:, [0, 2]] == 0)  # the masked class


@pytest.mark.parametrize("bad", [[0.0, np.nan, 1.0, 0.0, 0.0], [0.0, np.inf, 1.0, 0.0, 0.0],
                                 [NINF] * 5], ids=["nan", "inf", "no-finite"])
def test_invalid_rows_are_nan_and_valid_rows_one_hot(xp, bad):
    logits = make(xp, [MASKED_THETA, bad, MASKED_THETA[::-1]])
    for estimator in ESTIMATORS:
        out = computed(hard_sample(logits, estimator, rng=0, sample_shape=4))
        valid = out[:, [0, 2]]
        assert np.all((valid == 0) | (valid == 1)), estimator
        np.testing.assert_array_equal(valid.sum(axis=-1), 1.0, err_msg=str(estimator))
        assert np.all(np.isnan(out[:, 1])), estimator


def test_nan_temperature_rows_are_nan_under_jit():
    # A per-row tau is read eagerly where that is free (and then rejected); under a trace a
    # row with a bad temperature comes out NaN, for every estimator.
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    @jax.jit
    def samples(logits, tau, key):
        return [gk.gumbel_softmax(logits, tau=tau, hard=True, estimator=e, rng=key)
                for e in ESTIMATORS]

    outs = samples(jnp.zeros((3, 4)), jnp.asarray([1.0, np.nan, 2.0]), jax.random.key(0))
    for estimator, out in zip(ESTIMATORS, outs, strict=True):
        out = np.asarray(out)
        assert np.all(np.isnan(out[1])), estimator
        np.testing.assert_array_equal(out[[0, 2]].sum(axis=-1), 1.0, err_msg=estimator)


# --- exhaustive enumeration: st-probs, ReinMax, GST --------------------------------------------


ROW_TAUS = [0.5, 1.0, 2.5]


@pytest.mark.parametrize(
    ("estimator", "tau"),
    [("st-probs", "rows"), ("reinmax", "rows"), ("gapped", "rows"), ("gapped-p", 0.7),
     (gk.Gapped(0.4), 1.5)],
    ids=["st-probs", "reinmax", "gapped", "gapped-p", "gapped-0.4"],
)
def test_enumerated_gradient_matches_the_formula(xp, estimator, tau):
    require_autodiff(xp)
    # One row per (forced class i, temperature): noise 50 e_i makes D = e_i whatever tau.
    taus = ROW_TAUS if tau == "rows" else [tau]
    cases = [(i, t) for t in taus for i in UNMASKED]
    theta = np.tile(MASKED_THETA, (len(cases), 1))
    noise = np.zeros_like(theta)
    for row, (i, _) in enumerate(cases):
        noise[row, i] = 50.0
    f = Objective.random(5, seed=1)
    tau_arg = make(xp, [t for _, t in cases]) if tau == "rows" else tau

    def loss(logits):
        noise_arg = make(xp, noise)
        return f.total(xp, hard_sample(logits, estimator, tau=tau_arg, noise=noise_arg))

    grads = gradient(xp, loss, theta)
    expected = np.stack([
        backward(estimator, MASKED_THETA, i, t, f.grad(np.eye(5)[i])) for i, t in cases
    ])
    assert np.all(grads[:, 2] == 0.0)  # masked: exactly 0, not NaN
    np.testing.assert_allclose(grads, expected, rtol=1e-12, atol=1e-15)
    # The expectation over D: weight the enumerated gradients by pi.
    pi = np_softmax(MASKED_THETA)
    for t in taus:
        rows = [row for row, (_, t_row) in enumerate(cases) if t_row == t]
        mean = sum(pi[cases[row][0]] * grads[row] for row in rows)
        reference = sum(pi[i] * backward(estimator, MASKED_THETA, i, t, f.grad(np.eye(5)[i]))
                        for i in UNMASKED)
        np.testing.assert_allclose(mean, reference, rtol=1e-12, atol=1e-15)


THETA = np.log(np.array([0.1, 0.2, 0.3, 0.4]))


def enumerated_expectation(xp, estimator: str, f: Objective) -> np.ndarray:
    """``sum_i pi_i grad(D = e_i)`` at ``tau = 1`` (a float), from gumbelkit."""
    k = len(THETA)

    def loss(logits):
        noise = make(xp, 50.0 * np.eye(k))
        return f.total(xp, hard_sample(logits, estimator, tau=1.0, noise=noise))

    grads = gradient(xp, loss, np.tile(THETA, (k, 1)))
    return np_softmax(THETA) @ grads


def test_reinmax_at_tau_one_is_exact_for_quadratics_only(xp):
    require_autodiff(xp)
    quadratic = Objective.random(4, seed=2)
    exact = exact_gradient(THETA, quadratic)
    mean = enumerated_expectation(xp, "reinmax", quadratic)
    np.testing.assert_allclose(mean, exact, rtol=1e-12, atol=1e-14 * np.abs(exact).max())
    np.testing.assert_allclose(second_order_form(THETA, quadratic, "trapezoid"), exact,
                               rtol=1e-12, atol=1e-15)
    # A cubic breaks the identity; the expectation is still the trapezoid form.
    cubic = Objective.random(4, seed=2, cubic=True)
    mean = enumerated_expectation(xp, "reinmax", cubic)
    assert np.max(np.abs(mean - exact_gradient(THETA, cubic))) > 1e-2
    np.testing.assert_allclose(mean, second_order_form(THETA, cubic, "trapezoid"), rtol=1e-12,
                               atol=1e-15)


def test_straight_through_expectation_is_the_forward_euler_form(xp):
    require_autodiff(xp)
    f = Objective.random(4, seed=3, cubic=True)
    mean = enumerated_expectation(xp, "st-probs", f)
    np.testing.assert_allclose(mean, second_order_form(THETA, f, "euler"), rtol=1e-12,
                               atol=1e-15)
    # Forward Euler is not exact even for a quadratic.
    quadratic = Objective.random(4, seed=3)
    mean = enumerated_expectation(xp, "st-probs", quadratic)
    assert np.max(np.abs(mean - exact_gradient(THETA, quadratic))) > 1e-2


# --- Monte Carlo: ST-GS and Gumbel-Rao ---------------------------------------------------------

MC_THETA = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
MC_TAU = 0.5
MC_N = 20_000  # gumbelkit draws per estimator and backend
MC_REFERENCE_N = 2_000_000  # NumPy draws of the reference, once per session
MC_OBJECTIVE = Objective.random(4, seed=4)
RAO_SEED = 5
# Two-sided z-test per coordinate at ALPHA / K (Bonferroni over the K coordinates).
Z_CRITICAL = float(stats.norm.isf(ALPHA / (2 * len(MC_THETA))))
# A bias of (Z_CRITICAL + z_0.99) standard errors is detected with probability >= 0.99.
DETECTABLE = Z_CRITICAL + float(stats.norm.isf(0.01))


@pytest.fixture(scope="module")
def st_gs_reference() -> np.ndarray:
    """Per-draw ST-GS gradients ``J(Y) grad f(D) / tau`` from NumPy's Gumbel sampler."""
    rng = np.random.default_rng(20_250_701)
    z = MC_THETA + rng.gumbel(size=(MC_REFERENCE_N, len(MC_THETA)))
    d = np.eye(len(MC_THETA))[np.argmax(z, axis=-1)]
    return jvp(np_softmax(z / MC_TAU), MC_OBJECTIVE.grad(d)) / MC_TAU


_MONTE_CARLO: dict[tuple[str, object, int], np.ndarray] = {}


def monte_carlo_gradients(xp, estimator, seed: int) -> np.ndarray:
    """Per-draw gradients: ``MC_N`` identical logits rows, one draw each (computed once per
    backend, estimator and seed)."""
    key = (xp.__name__, estimator, seed)
    if key not in _MONTE_CARLO:
        _MONTE_CARLO[key] = _monte_carlo_gradients(xp, estimator, seed)
    return _MONTE_CARLO[key]


def _monte_carlo_gradients(xp, estimator, seed: int) -> np.ndarray:

    def loss(logits):
        rng = seed
        if xp.__name__ == "jax.numpy":
            import jax

            rng = jax.random.key(seed)
        out = hard_sample(logits, estimator, tau=MC_TAU, rng=rng)
        return MC_OBJECTIVE.total(xp, out)

    return gradient(xp, loss, np.tile(MC_THETA, (MC_N, 1)))


def z_scores(sample: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate z of ``mean(sample) - mean(reference)`` and its standard error."""
    error = np.sqrt(sample.var(axis=0, ddof=1) / len(sample)
                    + reference.var(axis=0, ddof=1) / len(reference))
    return (sample.mean(axis=0) - reference.mean(axis=0)) / error, error


@pytest.mark.parametrize("estimator", ["st", "gumbel-rao"])
def test_monte_carlo_mean_equals_straight_through_gumbel_softmax(xp, estimator,
                                                                 st_gs_reference):
    # H0: E[estimator] = E[ST-GS]. K two-sided z-tests at ALPHA / K each (|z| < 5.16). With
    # n = MC_N a bias of DETECTABLE (7.5) standard errors is detected with power 0.99: about
    # 0.03 for ST-GS and 0.014 for Gumbel-Rao in coordinate 0, whose mean is -0.67.
    require_autodiff(xp)
    sample = monte_carlo_gradients(xp, estimator, seed=RAO_SEED)
    z, error = z_scores(sample, st_gs_reference)
    assert np.all(np.abs(z) < Z_CRITICAL), f"z = {z}, critical {Z_CRITICAL:.2f}"
    # The test has power: plain straight-through's mean (exact, by enumeration) is far off.
    pi = np_softmax(MC_THETA)
    plain = sum(pi[i] * backward("st-probs", MC_THETA, i, MC_TAU,
                                 MC_OBJECTIVE.grad(np.eye(4)[i])) for i in range(4))
    assert np.max(np.abs(plain - st_gs_reference.mean(axis=0)) / error) > DETECTABLE


def test_gumbel_rao_with_one_sample_has_the_law_of_st_gs(xp, st_gs_reference):
    # Two-sample KS of a fixed projection of the gradient against the NumPy ST-GS reference,
    # at ALPHA. Ten conditional samples change the law (half the variance): the same test
    # rejects it, so it has power against that difference.
    require_autodiff(xp)
    projection = np.array([1.0, -0.5, 2.0, 0.3])
    one = monte_carlo_gradients(xp, gk.GumbelRao(1), seed=6)
    assert stats.ks_2samp(one @ projection, st_gs_reference @ projection).pvalue > ALPHA
    ten = monte_carlo_gradients(xp, "gumbel-rao", seed=RAO_SEED)  # shared with the mean test
    assert stats.ks_2samp(ten @ projection, st_gs_reference @ projection).pvalue < ALPHA
    # Rao-Blackwellisation: no larger variance in any coordinate (here about half).
    assert np.all(ten.var(axis=0) < 0.8 * st_gs_reference.var(axis=0))


# --- gradients under transforms, masks, sample_shape, per-row tau ------------------------------


def test_gradients_are_finite_and_zero_at_masked_classes(xp):
    # Every estimator in one loss over stacked logits: one jax.jit compilation.
    require_autodiff(xp)
    theta = np.stack([MASKED_THETA, [0.5, NINF, 0.0, 2.0, -1.0], MASKED_THETA])
    stacked = np.stack([theta] * len(ESTIMATORS))
    tau = make(xp, [0.5, 1.0, 2.0])
    weights = make(xp, np.random.default_rng(8).normal(size=5))

    def loss(logits):
        total = 0.0
        for e, estimator in enumerate(ESTIMATORS):
            rng = e
            if xp.__name__ == "jax.numpy":
                import jax

                rng = jax.random.key(e)
            out = hard_sample(logits[e], estimator, tau=tau, rng=rng, sample_shape=(3,))
            total = total + xp.sum(out * weights)
        return total

    grads = gradient(xp, loss, stacked)
    for e, estimator in enumerate(ESTIMATORS):
        assert np.all(np.isfinite(grads[e])), estimator
        assert np.all(grads[e][np.isinf(theta)] == 0.0), estimator
        assert np.any(grads[e] != 0.0), estimator


def test_string_names_equal_their_objects():
    # The names are parsed once for every backend; PyTorch's eager autograd checks them cheaply.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    f = Objective.random(5, seed=9)
    theta = np.stack([MASKED_THETA, MASKED_THETA[::-1]])

    def grad(estimator):
        logits = torch.tensor(theta, requires_grad=True)
        out = hard_sample(logits, estimator, tau=1.3, rng=11, sample_shape=2)
        f.total(torch, out).backward()
        return to_numpy(logits.grad)

    for name, obj in [("gumbel-rao", gk.GumbelRao(10)), ("gapped", gk.Gapped(1.0)),
                      ("gapped-p", gk.Gapped("p"))]:
        np.testing.assert_array_equal(grad(name), grad(obj), err_msg=name)
    assert not np.array_equal(grad("gumbel-rao"), grad(gk.GumbelRao(3)))
    assert not np.array_equal(grad("gapped"), grad(gk.Gapped(0.5)))


# --- random sources ----------------------------------------------------------------------------


def test_without_autodiff_no_conditional_noise_is_drawn(xp):
    if backend_for(make(xp, [0.0])).supports_autodiff:
        pytest.skip("with autodiff Gumbel-Rao draws conditional noise")
    generators = [np.random.default_rng(12) for _ in range(2)]
    logits = make(xp, np.log([[0.2, 0.3, 0.5]]))
    plain = to_numpy(hard_sample(logits, "st", rng=generators[0], sample_shape=3))
    rao = to_numpy(hard_sample(logits, "gumbel-rao", rng=generators[1], sample_shape=3))
    np.testing.assert_array_equal(rao, plain)
    assert generators[0].random() == generators[1].random()


def test_torch_conditional_noise_follows_the_sample_in_one_stream():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.tensor(np.log([[0.2, 0.3, 0.5]]), requires_grad=True)
    generators = [torch.Generator().manual_seed(13) for _ in range(2)]
    plain = hard_sample(logits, "st", rng=generators[0], sample_shape=4)
    rao = hard_sample(logits, gk.GumbelRao(5), rng=generators[1], sample_shape=4)
    # The sample comes first from the same stream; the conditional noise advances it further.
    assert torch.equal(rao, plain)
    assert not torch.equal(torch.rand(3, generator=generators[0]),
                           torch.rand(3, generator=generators[1]))


def test_gumbel_rao_with_given_noise_takes_rng_for_the_conditional_noise():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    logits = jnp.asarray(np.log([[0.2, 0.3, 0.5]]))
    noise = jnp.asarray(np.random.default_rng(14).gumbel(size=(1, 3)))

    @jax.jit
    @jax.grad
    def grad(lg, key):
        out = gk.gumbel_softmax(lg, hard=True, estimator="gumbel-rao", noise=noise, rng=key)
        return jnp.sum(out * jnp.arange(3.0))

    first = np.asarray(grad(logits, jax.random.key(1)))
    np.testing.assert_array_equal(first, np.asarray(grad(logits, jax.random.key(1))))
    assert not np.array_equal(first, np.asarray(grad(logits, jax.random.key(2))))
    with pytest.raises(TypeError, match="Gumbel-Rao draws its conditional noise also where "
                                        "noise is given: pass rng with it"):
        gk.gumbel_softmax(logits, hard=True, estimator="gumbel-rao", noise=noise)
    # A bad rng keeps its own message, without that hint.
    with pytest.raises(TypeError, match=r"JAX has no global generator; got builtins\.float$"):
        gk.gumbel_softmax(logits, hard=True, estimator="gumbel-rao", noise=noise, rng=1.5)


# --- torch.compile(fullgraph=True) -------------------------------------------------------------


@pytest.fixture(scope="module")
def inductor():
    """Import Inductor once with torch's own import-time DeprecationWarning silenced (see
    tests/test_torch.py)."""
    pytest.importorskip("torch", reason="PyTorch is not installed")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        import torch._inductor.compile_fx  # noqa: F401


@pytest.mark.parametrize("estimator", ["reinmax", "gumbel-rao"])
def test_torch_compile_fullgraph_traces_forward_and_backward(inductor, estimator):
    import torch

    torch._dynamo.reset()
    rng = np.random.default_rng(15)
    theta = np.stack([MASKED_THETA, rng.normal(size=5)])
    noise = torch.tensor(rng.gumbel(size=(2, 5)))
    weights = torch.tensor(rng.normal(size=5))

    def loss(logits):
        # tau >= 1: ReinMax's warning is never reached, so nothing breaks the graph.
        out = gk.gumbel_softmax(logits, tau=1.5, hard=True, estimator=estimator, noise=noise)
        return (out * weights).sum(), out

    def run(fn):
        logits = torch.tensor(theta, requires_grad=True)
        torch.manual_seed(16)  # Gumbel-Rao's conditional noise: the global generator
        value, out = fn(logits)
        value.backward()
        return out.detach(), logits.grad

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, grad = run(torch.compile(loss, fullgraph=True))
        assert [str(w.message) for w in caught] == []
        eager_out, eager_grad = run(loss)
    finally:
        torch._dynamo.reset()
    np.testing.assert_array_equal(to_numpy(out), to_numpy(eager_out))
    assert torch.all(torch.isfinite(grad))
    assert torch.all(grad[0, 2] == 0)
    if estimator == "reinmax":  # deterministic given the sample
        np.testing.assert_allclose(to_numpy(grad), to_numpy(eager_grad), rtol=1e-10,
                                   atol=1e-14)


# --- arguments ---------------------------------------------------------------------------------


def test_estimator_objects_are_frozen_and_validated():
    assert gk.GumbelRao() == gk.GumbelRao(10)
    assert gk.Gapped() == gk.Gapped(1)
    assert gk.Gapped(1).gap == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        gk.GumbelRao().samples = 3  # type: ignore[misc]
    for bad, error in [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="samples"):
            gk.GumbelRao(bad)
    for bad, error in [(0.0, ValueError), (-1.0, ValueError), (math.inf, ValueError),
                       (math.nan, ValueError), ("q", TypeError), (None, TypeError)]:
        with pytest.raises(error, match="gap"):
            gk.Gapped(bad)


def test_bad_estimator_arguments_name_estimator(xp):
    logits = make(xp, np.log([[0.2, 0.3, 0.5]]))
    with pytest.raises(ValueError, match="estimator must be one of 'st', 'st-probs'"):
        gk.gumbel_softmax(logits, hard=True, estimator="reinforce", rng=0)
    with pytest.raises(TypeError, match="estimator must be a name"):
        gk.gumbel_softmax(logits, hard=True, estimator=3, rng=0)
    for estimator in ESTIMATORS[1:]:
        with pytest.raises(ValueError, match=r"estimator .* hard samples: pass hard=True"):
            gk.gumbel_softmax(logits, estimator=estimator, rng=0)


def test_reinmax_warns_below_tau_one(xp):
    logits = make(xp, np.stack([MASKED_THETA] * 3))
    with pytest.warns(gk.ReinMaxTemperatureWarning, match="tau=0.5"):
        hard_sample(logits, "reinmax", tau=0.5, rng=0, sample_shape=4)
    assert issubclass(gk.ReinMaxTemperatureWarning, UserWarning)
    # No warning at tau >= 1, for a per-row tau array, or for other estimators.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hard_sample(logits, "reinmax", tau=1.0, rng=0, sample_shape=4)
        hard_sample(logits, "reinmax", tau=make(xp, [0.5, 1.0, 3.0]), rng=0, sample_shape=4)
        hard_sample(logits, "st-probs", tau=0.5, rng=0, sample_shape=4)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(("dtype", "offset"), [("float64", 2.0**52), ("float32", 2.0**20)])
def test_gradients_do_not_move_with_the_logits(estimator, dtype, offset):
    # Every estimator's surrogate is invariant to a constant added to the logits; far from 0
    # it was computed from softmax(logits) rounded at their magnitude (10% off at 2**52 in
    # float64). Reference: the same call at offset 0, the same noise (rng=0). The offsets
    # hold [0, -1, -2, -3] exactly.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    theta = np.array([0.0, -1.0, -2.0, -3.0])
    weights = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=getattr(torch, dtype))
    gradients = []
    for shift in (0.0, offset):
        x = torch.tensor(theta + shift, dtype=getattr(torch, dtype), requires_grad=True)
        y = gk.gumbel_softmax(x, tau=1.0, hard=True, estimator=estimator, rng=0,
                              sample_shape=(64,))
        (y * weights).sum().backward()
        gradients.append(x.grad.double().numpy())
    np.testing.assert_allclose(gradients[1], gradients[0], rtol=1e-5, atol=1e-5)
