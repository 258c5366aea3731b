"""The numeric contract (docs/numeric-contract.md): finite noise, float32-or-wider arithmetic,
masks, bad rows."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import (
    assert_close,
    exact_tail_noise,
    make,
    native_dtype,
    np_gumbel,
    np_softmax,
    to_numpy,
)
from scipy import stats

import gumbelkit as gk
from gumbelkit import _core, _noise

ALPHA = 1e-6


def computed(x: object) -> np.ndarray:
    """Return ``to_numpy(x)``, ignoring NumPy's floating-point warnings while Dask computes.

    gumbelkit silences the warnings of its deliberate infinities (a tiny tau, an invalid row)
    with NumPy's errstate, but a Dask graph runs later, outside that context, so the warnings
    surface at compute time. This is a documented Dask limitation, not a NaN.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="dask")
        return to_numpy(x)


def extreme_uniforms(dtype: str) -> np.ndarray:
    """The smallest normal and the largest float below 1: the ends of the open interval."""
    finfo = np.finfo(dtype)
    return np.array([finfo.smallest_normal, 1.0 - finfo.eps / 2], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_at_the_extreme_uniforms_is_finite_with_the_documented_caps(xp, dtype):
    u = make(xp, extreme_uniforms(dtype), dtype)
    namespace = gk.backends.backend_for(u).namespace(u)
    g = to_numpy(_core.gumbel_from_uniform(u, namespace))
    # Independent float64 values of -log(-log(u)) at the same uniforms
    # (docs/mathematics.md#gumbel-noise).
    expected = np_gumbel(extreme_uniforms(dtype).astype(np.float64))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    # The caps of docs/mathematics.md#tail-caps for these uniform grids (2**-24 and 2**-53 below 1).
    caps = {"float32": (-4.470, 16.636), "float64": (-6.563, 36.737)}[dtype]
    np.testing.assert_allclose(g, caps, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adapter_uniforms_lie_in_the_open_interval(xp, dtype):
    logits = make(xp, [0.0], dtype)
    adapter = gk.backends.backend_for(logits)
    namespace = adapter.namespace(logits)
    source = adapter.make_rng(3, None)
    u, _ = adapter.uniform(source, (200_000,), getattr(namespace, dtype), None)
    values = to_numpy(u)
    assert values.dtype == np.dtype(dtype)
    assert values.min() >= np.finfo(dtype).smallest_normal
    assert values.max() < 1.0


class _ZeroGenerator:
    """A stand-in NumPy generator that returns exact zeros, the value U = 0 that must not pass."""

    def random(self, shape: tuple[int, ...], dtype: object) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_uniform_lifts_zero_to_the_smallest_normal(dtype):
    adapter = gk.backends.get_backend("numpy")
    u, _ = adapter.uniform(_ZeroGenerator(), (4,), dtype, None)
    np.testing.assert_array_equal(u, np.finfo(dtype).smallest_normal)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torch_uniform_clamps_both_ends(monkeypatch, device):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    adapter = gk.backends.get_backend("torch")
    finfo = np.finfo(np.float32)
    # On the CPU torch.rand returns multiples of 2**-24 below 1 and only 0 needs lifting;
    # elsewhere cuRAND's (0, 1] convention makes the top end possible too.
    top = 1.0 if device == "cuda" else 1 - finfo.eps / 2

    def rand(shape, **kwargs):
        return torch.tensor([0.0, top, 0.5], dtype=kwargs["dtype"], device=device)

    monkeypatch.setattr(torch, "rand", rand)
    u, _ = adapter.uniform(None, (3,), torch.float32, device)
    np.testing.assert_array_equal(u.cpu().numpy(), [finfo.smallest_normal, 1 - finfo.eps / 2, 0.5])


def test_torch_cpu_uniforms_stay_below_one():
    # What the CPU path relies on: k * 2**-24 for k < 2**24, never 1, at the top of the range.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    generator = torch.Generator().manual_seed(0)
    u = torch.rand(2**24, generator=generator, dtype=torch.float32)
    assert float(u.max()) < 1.0
    np.testing.assert_array_equal(torch.remainder(u * 2**24, 1).numpy(), 0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_extreme_logits_never_give_nan(xp, dtype):
    big = float(np.finfo(np.float16).max) if dtype == "float16" else 1e30
    if dtype == "float64":
        big = 1e300
    logits = make(xp, [[big, -big, 0.0], [-big, -big, -big], [big, big, big]], dtype)
    noise = make(xp, np_gumbel(np.tile(extreme_uniforms("float32"), 2)[:3]), dtype)
    for tau in (1e-30, 0.5, 1.0, 1e30):
        for hard in (False, True):
            out = computed(gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=noise))
            assert np.all(np.isfinite(out)), (tau, hard, out)
            np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-2)
        out = computed(gk.gumbel_softmax(logits, tau=tau, rng=1, sample_shape=(100,)))
        assert np.all(np.isfinite(out))


# Rows whose differences overflow the dtype: each row's largest logit wins at every draw (the
# others lie more than the dtype's largest value below it, probability exp(-3.4e38) = 0).
OVERFLOWING = {
    "float32": ([[3e38, -3e38, 1.0], [-3e38, 3e38, 0.0], [1e38, -3e38, 3e38]], [0, 1, 2]),
    "float64": ([[1.7e308, -1.7e308, 1.0], [-1.7e308, 1.7e308, 0.0], [1e308, -1.7e308, 1.7e308]],
                [0, 1, 2]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logits_whose_differences_overflow_give_the_largest_quietly(xp, dtype):
    # A difference from the row maximum that overflows is -inf, its limit, on purpose. No NumPy
    # warning may escape, also when a Dask graph computes later (to_numpy does not silence
    # them, and warnings are errors in the tests), and every value stays finite.
    rows, largest = OVERFLOWING[dtype]
    logits = make(xp, rows, dtype)
    one_hot = np.eye(3)[largest]
    for hard in (False, True):
        np.testing.assert_array_equal(
            to_numpy(gk.gumbel_softmax(logits, tau=0.5, hard=hard, rng=1)), one_hot)
    np.testing.assert_array_equal(to_numpy(gk.relaxed_top_k(logits, 1, tau=0.5, rng=1)), one_hot)
    np.testing.assert_array_equal(to_numpy(gk.gumbel_max(logits, rng=1)), largest)
    np.testing.assert_array_equal(to_numpy(gk.gumbel_top_k(logits, 1, rng=1))[:, 0], largest)
    for method in ("gumbel", "cdf", "alias"):
        draws = to_numpy(gk.categorical(logits, sample_shape=5, rng=1, method=method))
        np.testing.assert_array_equal(draws, np.broadcast_to(largest, (5, 3)))
    for filters in ({"temperature": 0.7, "top_p": 0.9}, {"top_p": 0.5, "top_k": 2},
                    {"temperature": 2.0, "min_p": 0.1}):
        np.testing.assert_array_equal(to_numpy(gk.sample_tokens(logits, rng=1, **filters)),
                                      largest)
    # The tempered logits are shifted by the row maximum: 0 for the largest, -inf (its limit)
    # for a difference that overflows, never +inf or NaN.
    tempered = to_numpy(gk.filter_logits(logits, temperature=0.5))
    np.testing.assert_array_equal(tempered[[0, 1, 2], largest], 0.0)
    assert not np.isnan(tempered).any()
    assert (tempered <= 0).all()
    # Conditioned on class 0, which lies 6e38 below the maximum in the second row.
    assert np.isfinite(to_numpy(gk.conditional_gumbel(logits, 0, rng=1))).all()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("tau", [1e-300, 1e-45, 1e-38, 1e-6])
def test_tiny_temperature_gives_the_hard_sample(xp, tau, dtype):
    # docs/mathematics.md#temperature-limits: tau -> 0 gives one_hot(argmax(logits + G)); shifting
    # before dividing
    # keeps this finite where logits / tau would overflow.
    base = np.array([[0.1, 0.5, 0.4], [2.0, -1.0, 3.0]])
    g = np.array([[0.3, -0.2, 0.1], [1.0, 0.5, -0.5]])
    logits, noise = make(xp, base, dtype), make(xp, g, dtype)
    expected = np.eye(3)[np.argmax(base + g, axis=-1)]
    assert_close(gk.gumbel_softmax(logits, tau=tau, noise=noise), expected, like=logits)
    assert_close(gk.gumbel_softmax(logits, tau=tau, noise=noise, hard=True), expected,
                 like=logits)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_huge_temperature_gives_the_uniform_vector(xp, dtype):
    # 1e300 overflows float32; it must act as the largest float32, not as inf (-inf / inf).
    logits = make(xp, [[0.1, 0.5, 0.4, -3.0, -np.inf]], dtype)
    for tau in (1e300, make(xp, [1e300], "float64")):
        out = gk.gumbel_softmax(logits, tau=tau, rng=0)
        rtol = 1e-12 if dtype == "float64" else 1e-3
        np.testing.assert_allclose(computed(out), [[0.25, 0.25, 0.25, 0.25, 0.0]], rtol=rtol)


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
def test_tau_array_gradient_has_no_nan_with_masks(backend_name):
    # d/dtau of (z - max z) / tau is -(z - max z) / tau**2, infinite at a masked entry; its
    # weight there is 0, and 0 * inf must not leak a NaN into the gradient of tau.
    base = np.array([[0.2, -np.inf, 1.0], [0.5, 0.1, -0.3]])
    g = np.array([[0.3, 0.1, -0.2], [0.0, 0.4, 0.2]])
    tau0 = np.array([0.7, 1.3])
    weights = np.array([1.0, 2.0, 3.0])

    def loss(tau: np.ndarray) -> float:
        y = np_softmax((base + g) / tau[:, None])
        return float(np.sum(y * weights))

    step = 1e-6
    expected = [(loss(tau0 + step * e) - loss(tau0 - step * e)) / (2 * step) for e in np.eye(2)]
    gradient = _tau_gradient(backend_name, base, g, tau0, weights, hard=False)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)


def _tau_gradient(backend_name, base, noise, tau0, weights, *, hard):
    """d/dtau of ``sum(weights * gumbel_softmax(base, tau=tau, noise=noise))`` at ``tau0``.

    By PyTorch's backward or ``jax.grad``, in the dtype of ``base``.
    """
    if backend_name == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed")
        tau = torch.tensor(tau0, requires_grad=True)
        out = gk.gumbel_softmax(torch.tensor(base), tau=tau, hard=hard, noise=torch.tensor(noise))
        (out * torch.tensor(weights, dtype=out.dtype)).sum().backward()
        return tau.grad.numpy()
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def jax_loss(tau):
        out = gk.gumbel_softmax(jnp.asarray(base), tau=tau, hard=hard, noise=jnp.asarray(noise))
        return jnp.sum(out * jnp.asarray(weights, dtype=base.dtype))

    return np.asarray(jax.grad(jax_loss)(jnp.asarray(tau0)))


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize(("dtype", "tau_value"), [("float32", 1e-20), ("float64", 1e-200)])
@pytest.mark.parametrize("hard", [False, True])
def test_tau_array_gradient_at_a_tiny_temperature(backend_name, dtype, tau_value, hard):
    # Row 0 lies within a few tau of its maximum (a gradient of about 1 / tau); row 1 is
    # one-hot in the dtype (a class 1 below the maximum has weight exp(-1 / tau), 0), and
    # -shifted / tau**2 overflows there: 0 * inf gave a NaN.
    base = np.array([[0.0, -tau_value, -3.0 * tau_value], [0.0, -1.0, -np.inf]], dtype=dtype)
    weights = np.array([1.0, 2.0, 3.0])
    x = base.astype(np.float64) / tau_value  # float64: the quotient of the rounded logits
    y = np_softmax(x)
    mean = np.sum(y * np.where(np.isfinite(x), x, 0.0), axis=-1, keepdims=True)
    terms = y * weights * np.where(np.isfinite(x), x - mean, 0.0)
    expected = -np.sum(terms, axis=-1) / tau_value  # d/dtau of sum(w * softmax(x / tau))
    tau0 = np.full(2, tau_value, dtype=dtype)
    gradient = _tau_gradient(backend_name, base, np.zeros_like(base), tau0, weights, hard=hard)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-6 * abs(expected[0]))


def test_shift_invariance(xp):
    # docs/mathematics.md#shift-invariance: logits - 42 give the same sample for the same noise.
    base = np.random.default_rng(0).normal(size=(5, 6))
    noise = make(xp, np_gumbel(np.random.default_rng(1).uniform(size=(5, 6))))
    for hard in (False, True):
        a = gk.gumbel_softmax(make(xp, base), noise=noise, tau=0.3, hard=hard)
        b = gk.gumbel_softmax(make(xp, base - 42.0), noise=noise, tau=0.3, hard=hard)
        assert_close(a, to_numpy(b), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_use_float32_noise_and_softmax(xp, dtype):
    base = np.array([[0.1, 0.5, 0.4], [3.0, -2.0, 0.25]])
    g = np_gumbel(np.random.default_rng(4).uniform(size=(2, 3)))
    logits = make(xp, base, dtype)
    noise = make(xp, g, "float32")
    out = gk.gumbel_softmax(logits, tau=0.2, noise=noise)
    # Reference: the half-precision logits, upcast, plus float32 noise, softmax in float32.
    upcast = to_numpy(logits).astype(np.float32)
    expected = np_softmax((upcast + g.astype(np.float32)) / 0.2)
    tolerance = {"float16": 1e-3, "bfloat16": 8e-3}[dtype]
    assert_close(out, expected, like=logits, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_rare_class_rate_in_half_precision(xp, dtype):
    # A class of probability 0.0025 is drawn about 28% too rarely with bfloat16 noise.
    # n = 400,000 expects 1,000 draws; a 15% deficit is 4.7 standard deviations, so a
    # two-sided binomial test at alpha = 1e-6 (|z| > 4.9) has power about 0.99 against 20%.
    p_rare = 0.0025
    probabilities = np.array([p_rare, 0.5 - p_rare, 0.5])
    n = 400_000
    index = gk.gumbel_max(make(xp, np.log(probabilities), dtype), sample_shape=(n,), rng=99)
    rare = int(np.sum(to_numpy(index) == 0))
    # The logits themselves are rounded to the half dtype: test against the rounded law.
    rounded = to_numpy(make(xp, np.log(probabilities), dtype)).astype(np.float64)
    expected_p = np_softmax(rounded)[0]
    assert stats.binomtest(rare, n, expected_p).pvalue > ALPHA


class TestMasks:
    LOGITS = np.array([[0.0, -np.inf, 1.0, -np.inf], [-np.inf, 2.0, -np.inf, -np.inf]])

    def test_masked_class_has_probability_exactly_zero(self, xp):
        out = to_numpy(gk.gumbel_softmax(make(xp, self.LOGITS), rng=0, sample_shape=(1000,)))
        assert np.all(out[..., np.isinf(self.LOGITS)] == 0.0)
        np.testing.assert_allclose(out[:, 1, 1], 1.0)

    def test_masked_class_is_never_drawn(self, xp):
        logits = make(xp, self.LOGITS)
        index = to_numpy(gk.gumbel_max(logits, rng=0, sample_shape=(20_000,)))
        assert set(np.unique(index[:, 0])) == {0, 2}
        assert set(np.unique(index[:, 1])) == {1}
        hard = to_numpy(gk.gumbel_softmax(logits, rng=0, sample_shape=(2000,), hard=True))
        assert np.all(hard[..., np.isinf(self.LOGITS)] == 0.0)
        assert np.all(hard.sum(axis=-1) == 1.0)


class TestInvalidRows:
    # Rows: valid, NaN, all -inf, +inf.
    LOGITS = np.array([
        [0.0, 1.0, -np.inf],
        [0.0, np.nan, 1.0],
        [-np.inf, -np.inf, -np.inf],
        [0.0, np.inf, 1.0],
    ])

    @pytest.mark.parametrize("hard", [False, True])
    def test_floating_output_is_nan_for_invalid_rows_only(self, xp, hard):
        out = computed(gk.gumbel_softmax(make(xp, self.LOGITS), rng=0, hard=hard))
        assert np.all(np.isfinite(out[0]))
        assert np.all(np.isnan(out[1:]))

    def test_index_is_the_number_of_classes(self, xp):
        index = to_numpy(gk.gumbel_max(make(xp, self.LOGITS), rng=0, sample_shape=(3,)))
        assert np.all(index[:, 0] < 2)
        assert np.all(index[:, 1:] == 3)

    @pytest.mark.parametrize("sampler", ["gumbel_softmax", "gumbel_max"])
    def test_validate_names_the_row(self, xp, sampler):
        with pytest.raises(ValueError, match=r"logits row \(1,\)"):
            getattr(gk, sampler)(make(xp, self.LOGITS), rng=0, validate=True)
        three_d = np.zeros((2, 3, 4))
        three_d[1, 2, 0] = np.nan
        with pytest.raises(ValueError, match=r"logits row \(1, 0\) \(index without axis 1\)"):
            getattr(gk, sampler)(make(xp, three_d), axis=1, rng=0, validate=True)

    def test_validate_passes_valid_rows(self, xp):
        out = gk.gumbel_softmax(make(xp, self.LOGITS[:1]), rng=0, validate=True)
        assert np.all(np.isfinite(to_numpy(out)))

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_a_given_noise_with_a_nan_or_inf_marks_its_row(self, xp, bad):
        # gumbel_max and gumbel_top_k took such a row's argmax (a valid-looking class, where
        # the hard sample's return_index said K); now every sampler marks it invalid, in the
        # sample where it stands only. Reference: the rows' argmax of logits + noise in NumPy.
        logits = np.log([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
        noise = np.array([[[0.0, bad, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.3, 0.0, 0.0]]])
        x, g = make(xp, logits), make(xp, noise)
        expected = np.argmax(logits + np.where(np.isfinite(noise), noise, 0), axis=-1)
        expected[0, 0] = 3
        np.testing.assert_array_equal(to_numpy(gk.gumbel_max(x, noise=g, sample_shape=2)),
                                      expected)
        hard, index = gk.gumbel_softmax(x, hard=True, noise=g, sample_shape=2, return_index=True)
        np.testing.assert_array_equal(to_numpy(index), expected)
        assert np.all(np.isnan(computed(hard)[0, 0]))
        top = to_numpy(gk.gumbel_top_k(x, 2, noise=g, sample_shape=2))
        np.testing.assert_array_equal(top[0, 0], [3, 3])
        valid = (np.array([0, 1, 1]), np.array([1, 0, 1]))
        np.testing.assert_array_equal(top[..., 0][valid], expected[valid])


def test_float64_noise_keeps_float64_resolution(xp):
    dtype = native_dtype(xp, "float64")
    g = to_numpy(gk.gumbel(200_000, dtype=dtype, rng=8, xp=xp))
    # float32 uniforms would cap the noise at about 16.6; float64 ones at 36.7, and they put
    # no mass on float32's coarse grid: more than half the values are not float32-representable.
    assert np.mean(g.astype(np.float32).astype(np.float64) != g) > 0.5


class _ScriptedGenerator:
    """A NumPy-like generator that serves scripted uniforms first, then a real stream's.

    Scripted values near 1 send draws deep into the refinement of the noise's upper tail
    (docs/mathematics.md#the-upper-tail-and-rare-classes), which a real stream reaches with a
    probability of ``2**-12`` per level.
    """

    def __init__(self, script: list[np.ndarray], seed: int) -> None:
        self.script = list(script)
        self.stream = np.random.default_rng(seed)

    def random(self, size, dtype):
        if self.script:
            values = self.script.pop(0)
            assert values.shape == tuple(np.atleast_1d(size)), (values.shape, size)
            return values.astype(dtype)
        return self.stream.random(size, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_noise_is_the_documented_exact_tail_construction(dtype):
    # The NumPy noise against the construction written from the documentation
    # (helpers.exact_tail_noise) on the same stream: a real one, whose float32 sliver holds
    # about 490 of 2,000,000 draws, and a scripted one that goes every level deep.
    expected = exact_tail_noise(np.random.default_rng(5), (2_000_000,), dtype)
    drawn = gk.gumbel((2_000_000,), dtype=dtype, rng=np.random.default_rng(5))
    assert drawn.dtype == dtype
    np.testing.assert_allclose(drawn, expected, rtol=2e-7 if dtype == np.float32 else 1e-15)

    bits, depth = (12, 8) if dtype == np.float32 else (40, 3)
    top = 1.0 - 2.0**-bits  # the sliver's first grid point
    grid = 2.0 ** -(24 if dtype == np.float32 else 53)
    first = np.array([0.5, top, 1.0 - grid, top - grid, 1.0 - grid])  # three in the sliver
    # One row of `depth` uniforms per value in the sliver: the first falls in the sliver again
    # at every level (complements 2**-m), the second too (complements 2**-bits, the sliver's
    # edge), the third leaves at the first level (complement 0.75).
    rows = np.array([[1.0 - grid] * depth, [top] * depth, [0.25] * depth])
    script = [first, rows]
    expected = exact_tail_noise(_ScriptedGenerator(script, 1), (5,), dtype)
    # The scripted stream is not a numpy.random.Generator: draw through the noise layer.
    numpy_backend = gk.backends.resolve(gk.backends.get_backend("numpy"))
    drawn, _ = _noise.draw_gumbel(numpy_backend, _ScriptedGenerator(script, 1), (5,),
                                  np.dtype(dtype), "cpu")
    np.testing.assert_allclose(drawn, expected, rtol=2e-7 if dtype == np.float32 else 1e-15)
    # The sliver's draws take the refinements in C order: the first went every level deep to
    # V = 2**-(bits depth) * grid, whose noise is -log(-log1p(-V)) = -log(V) to rounding.
    assert drawn[1] == pytest.approx(bits * depth * np.log(2.0) - np.log(grid), rel=1e-6)
    assert np.all(drawn[[1, 2, 4]] > -np.log(2.0**-bits))
    assert drawn[3] == pytest.approx(np_gumbel(np.array(top - grid)), rel=1e-6)


def test_tail_computation_reproduces_the_documented_textbook_cliff():
    # gumbelkit.conformance.tails on the textbook float32 noise -log(-log U), U on NumPy's
    # 2**-24 grid: a class d nats below the maximum is drawn at this fraction of its true rate
    # (docs/mathematics.md#the-upper-tail-and-rare-classes), and gumbelkit's noise at 1.
    from gumbelkit.conformance import tails

    backend = gk.backends.resolve(gk.backends.get_backend("numpy"))
    table = {10.0: 0.9993, 12.0: 0.995, 13.0: 0.987, 14.0: 0.965, 15.0: 0.906, 16.0: 0.758,
             17.0: 0.447, 18.0: 0.080, 21.0: 0.0}
    for d, expected in table.items():
        low, high = tails.fraction_of_true_rate(backend, np.float32, d, m=24, s=12, depth=0)
        assert low == pytest.approx(expected, abs=6e-4)
        assert high == pytest.approx(expected, abs=6e-4)
    low, high = tails.fraction_of_true_rate(backend, np.float32, 18.0, m=24, s=12, depth=8)
    assert 1.0 - 1e-3 <= low <= high <= 1.0 + 1e-3


# --- float64 of either byte order --------------------------------------------------------------


@pytest.mark.parametrize("order", [">", "<"], ids=["big-endian", "little-endian"])
def test_float64_of_either_byte_order_computes_in_float64(xp, backend, order):
    # NumPy and Dask arrays may be big-endian: ">f8" is a float64 that does not compare equal
    # to numpy.float64. It is computed in float64, with the stream of a native float64 array.
    if backend.adapter_name not in ("numpy", "dask"):
        pytest.skip(f"{backend.adapter_name} arrays have no byte order")
    base = np.array([[0.1, 0.5, 0.4], [2.0, -1.0, 3.0]])
    data = base.astype(f"{order}f8")

    def array(values: np.ndarray) -> object:
        return values if backend.adapter_name == "numpy" else xp.from_array(values)

    logits, native = array(data), array(base)
    g = np_gumbel(np.random.default_rng(30).uniform(size=base.shape))
    out = gk.gumbel_softmax(logits, tau=0.3, noise=make(xp, g))
    assert out.dtype == data.dtype  # the byte order of the logits is kept
    # float32 arithmetic would miss the float64 formula by about 1e-7.
    np.testing.assert_allclose(to_numpy(out), np_softmax((base + g) / 0.3), rtol=1e-13)
    for sample in (lambda x: gk.gumbel_softmax(x, rng=0, sample_shape=4),
                   lambda x: gk.gumbel_softmax(x, hard=True, rng=0, sample_shape=4),
                   lambda x: gk.gumbel_max(x, rng=0, sample_shape=4),
                   lambda x: gk.relaxed_top_k(x, 2, rng=0, sample_shape=4)):
        np.testing.assert_array_equal(to_numpy(sample(logits)), to_numpy(sample(native)))
    for dtype in (f"{order}f8", np.dtype(f"{order}f8")):
        noise = gk.gumbel(5, dtype=dtype, rng=0, xp=xp)
        assert noise.dtype == np.dtype(f"{order}f8")
        np.testing.assert_array_equal(to_numpy(noise),
                                      to_numpy(gk.gumbel(5, dtype=np.float64, rng=0, xp=xp)))



@pytest.mark.parametrize("order", [">", "<"], ids=["big-endian", "little-endian"])
def test_scaled_scalar_noise_is_a_0d_array_of_the_dtype(xp, backend, order):
    # NumPy arithmetic on a 0-d array returns a scalar in native byte order; the noise must stay
    # a 0-d array of the requested dtype. Expected: loc + scale * the standard noise of the seed.
    if backend.adapter_name not in ("numpy", "dask"):
        pytest.skip(f"{backend.adapter_name} arrays have no byte order")
    dtype = np.dtype(f"{order}f8")
    noise = gk.gumbel((), loc=1.5, scale=0.25, dtype=dtype, rng=3, xp=xp)
    standard = float(to_numpy(gk.gumbel((), dtype=np.float64, rng=3, xp=xp)))
    assert noise.dtype == dtype
    assert noise.shape == ()
    computed = noise.compute() if backend.adapter_name == "dask" else noise
    assert type(computed) is np.ndarray, type(computed)
    assert computed.dtype == dtype
    assert float(computed) == 1.5 + 0.25 * standard

def test_longdouble_logits_compute_in_float64():
    base = np.array([[0.1, 0.5, 0.4], [2.0, -1.0, 3.0]])
    g = np_gumbel(np.random.default_rng(31).uniform(size=base.shape))
    out = gk.gumbel_softmax(base.astype(np.longdouble), tau=0.3, noise=g)
    assert out.dtype == np.longdouble
    np.testing.assert_allclose(out.astype(np.float64), np_softmax((base + g) / 0.3), rtol=1e-13)


def test_big_endian_float32_stays_float32():
    base = np.array([[0.1, 0.5, 0.4]])
    out = gk.gumbel_softmax(base.astype(">f4"), rng=0)
    assert out.dtype == np.dtype(">f4")
    np.testing.assert_array_equal(out, gk.gumbel_softmax(base.astype(np.float32), rng=0))


# --- subnormal temperatures ---------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "subnormal"), [("float64", 1e-310), ("float32", 1e-40)])
def test_subnormal_tau_array_is_clamped_like_a_float(xp, backend, dtype, subnormal):
    # A temperature below the smallest normal number is clamped to it (section 6 of the numeric
    # contract): its row is the one-hot of argmax(logits + G), as for a float tau of that
    # value, eagerly and under jax.jit alike (XLA on the CPU reads subnormal inputs as 0).
    assert 0 < subnormal < np.finfo(dtype).smallest_normal
    base = np.array([[0.1, 0.5, 0.4], [2.0, -1.0, 3.0]])
    g = np.array([[0.3, -0.2, 0.1], [1.0, 0.5, -0.5]])
    logits, noise = make(xp, base, dtype), make(xp, g, dtype)
    tau = make(xp, [subnormal, 1.0], dtype)
    expected = np.stack([np.eye(3)[np.argmax(base[0] + g[0])], np_softmax(base[1] + g[1])])
    rtol = 1e-12 if dtype == "float64" else 1e-6
    out = gk.gumbel_softmax(logits, tau=tau, noise=noise)
    assert_close(out, expected, like=logits, rtol=rtol)
    as_float = to_numpy(gk.gumbel_softmax(logits, tau=subnormal, noise=noise))
    np.testing.assert_array_equal(as_float[0], expected[0])
    hard = gk.gumbel_softmax(logits, tau=tau, noise=noise, hard=True)
    assert_close(hard, np.eye(3)[np.argmax(base + g, axis=-1)], like=logits)
    if backend.adapter_name == "jax":
        import jax

        traced = jax.jit(lambda lg, t, n: gk.gumbel_softmax(lg, tau=t, noise=n))
        assert_close(traced(logits, tau, noise), expected, like=logits, rtol=rtol)


@pytest.mark.parametrize("zero", [0.0, -0.0, -1e-310])
def test_a_zero_or_negative_tau_array_is_still_refused(xp, zero):
    logits = make(xp, [[0.1, 0.5, 0.4], [2.0, -1.0, 3.0]])
    with pytest.raises(ValueError, match="tau must be positive and finite everywhere"):
        gk.gumbel_softmax(logits, tau=make(xp, [zero, 1.0]), rng=0, validate=True)


# --- validate=True names what it found ----------------------------------------------------------


@pytest.mark.parametrize("sampler", ["gumbel_softmax", "gumbel_max"])
def test_validate_names_one_dimensional_logits_plainly(xp, sampler):
    message = r"^logits have a NaN, a \+inf, or no finite value"
    with pytest.raises(ValueError, match=message) as caught:
        getattr(gk, sampler)(make(xp, [np.nan, 0.0, 1.0]), rng=0, validate=True)
    assert "row" not in str(caught.value)


def test_top_k_names_one_dimensional_logits_plainly(xp):
    logits = make(xp, [0.0, -np.inf, -np.inf])
    message = (r"^k = 2 exceeds the number of unmasked \(finite\) logits, 1; a sample without "
               "replacement cannot be longer than that")
    with pytest.raises(ValueError, match=message):
        gk.gumbel_top_k(logits, 2, rng=0, validate=True)
    with pytest.raises(ValueError, match=message):
        gk.relaxed_top_k(logits, 2, rng=0, validate=True)


# --- scaled noise stays finite ------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "bound"), [("float32", 103.3), ("float64", 744.5)])
def test_the_largest_accepted_scale_gives_finite_noise(xp, dtype, bound):
    # docs/numeric-contract.md#scaled-noise: scale * G stays finite for every noise value G when
    # scale * bound fits the dtype; a scale 1% larger is refused.
    largest = float(np.finfo(dtype).max)
    scale = largest / bound * (1 - 1e-6)
    native = native_dtype(xp, dtype)
    g = to_numpy(gk.gumbel(100_000, scale=scale, dtype=native, rng=3, xp=xp))
    assert np.isfinite(g).all()
    standard = to_numpy(gk.gumbel(100_000, dtype=native, rng=3, xp=xp)).astype(np.float64)
    np.testing.assert_allclose(g.astype(np.float64) / scale, standard, rtol=1e-5)
    with pytest.raises(ValueError, match="scale must keep loc"):
        gk.gumbel(3, scale=scale * 1.01, dtype=native, rng=3, xp=xp)
    # At the largest finite loc, the noise rounds away and the result stays finite.
    shifted = to_numpy(gk.gumbel(1000, loc=-largest, dtype=native, rng=3, xp=xp))
    assert np.isfinite(shifted).all()
    with pytest.raises(ValueError, match="scale must keep loc"):
        gk.gumbel(3, loc=-largest, scale=largest / bound / 2, dtype=native, rng=3, xp=xp)
    if dtype == "float32":  # a loc beyond float32 but within the float range of Python
        with pytest.raises(ValueError, match="loc must keep loc"):
            gk.gumbel(3, loc=-2 * largest, dtype=native, rng=3, xp=xp)


def test_longdouble_beyond_float64_samples_its_law():
    # Finite longdouble logits beyond float64's range: rows start from their maximum in their
    # own dtype, so no value becomes infinite in the float64 compute dtype. Reference: the law
    # of [1e400, 0, -1e400] is class 0 with probability 1 (exp(-1e400) is 0 in any float), and
    # that of [1e400, 1e400, 0] is 1/2 on each of the first two classes.
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform: no value lies beyond its range")
    big = np.longdouble("1e400")
    logits = np.array([[big, 0, -big], [big, big, 0]])
    soft = gk.gumbel_softmax(logits, rng=0, validate=True)
    assert soft.dtype == np.longdouble
    assert np.isfinite(soft).all()
    np.testing.assert_array_equal(soft[0], [1, 0, 0])
    draws_per_row = 4000
    for draws in (gk.gumbel_max(logits, sample_shape=(draws_per_row,), rng=1),
                  gk.categorical(logits, sample_shape=(draws_per_row,), method="cdf", rng=1),
                  gk.sample_tokens(np.broadcast_to(logits, (draws_per_row, 2, 3)), rng=1)):
        assert (draws[:, 0] == 0).all()
        assert (draws[:, 1] < 2).all()
        # Binomial(4000, 1/2): within 0.05 of 1/2 but with probability 3e-10.
        assert abs((draws[:, 1] == 1).mean() - 0.5) < 0.05


def test_longdouble_below_float64_still_counts_as_a_finite_class():
    # -1e400 beside 1e400 lies beyond float64's range below its row's maximum even after the
    # shift: it weighs 0, but it is a finite class, ranked after the others and before the
    # masked one (it was -inf, and k = 3 was refused for a row of three finite logits).
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform: no value lies beyond its range")
    big = np.longdouble("1e400")
    logits = np.array([big, 1, -np.inf, -big])
    np.testing.assert_array_equal(gk.gumbel_top_k(logits, 3, rng=0, sample_shape=20),
                                  np.broadcast_to([0, 1, 3], (20, 3)))
    np.testing.assert_array_equal(gk.relaxed_top_k(logits, 3, hard=True, rng=0),
                                  [1, 1, 0, 1])
    np.testing.assert_array_equal(gk.gumbel_softmax(logits, rng=0), [1, 0, 0, 0])


@pytest.mark.parametrize(("dtype", "offset"), [("float32", -1e6), ("float32", 1e6),
                                                ("float64", -1e15)])
def test_logits_far_from_zero_keep_their_law(xp, dtype, offset):
    # logits + G rounds to the grid at the logits' magnitude (0.0625 at 1e6 in float32, 0.125
    # at 1e15 in float64); rows far from 0 race from their maximum instead. Reference: two
    # classes 0.5 nats apart, P(second) = e^0.5 / (1 + e^0.5) = 0.6225. With 200,000 draws the
    # frequency lies within 5 standard errors (0.0054) of it but with probability 6e-7; the
    # sums on the coarse grid drew it at 0.6149.
    expected = math.exp(0.5) / (1 + math.exp(0.5))
    tolerance = 5 * math.sqrt(expected * (1 - expected) / 200_000)
    logits = make(xp, np.array([offset, offset + 0.5]), dtype)
    draws = {
        "gumbel_max": gk.gumbel_max(logits, sample_shape=(200_000,), rng=3),
        "hard": gk.gumbel_softmax(logits, hard=True, sample_shape=(200_000,), rng=3)[..., 1],
        "top_k": gk.gumbel_top_k(logits, 1, sample_shape=(200_000,), rng=3)[..., 0],
        "tokens": gk.sample_tokens(xp.broadcast_to(logits, (200_000, 2)), rng=3),
    }
    for name, drawn in draws.items():
        frequency = float(np.mean(to_numpy(drawn) == 1))
        assert abs(frequency - expected) < tolerance, (name, frequency)


def test_longdouble_within_float64_keeps_its_values():
    # Only rows beyond float64's range are shifted in their own dtype: the others give what
    # float64 logits of the same values give. A row with a NaN stays invalid, quietly.
    rows = np.array([[100.0, 99.0, 50.0], [0.5, -3.0, 2.0]])
    wide = rows.astype(np.longdouble)
    np.testing.assert_array_equal(gk.filter_logits(wide, top_k=2).astype(np.float64),
                                  gk.filter_logits(rows, top_k=2))
    np.testing.assert_array_equal(gk.gumbel_max(wide, sample_shape=(50,), rng=4),
                                  gk.gumbel_max(rows, sample_shape=(50,), rng=4))
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:
        broken = np.array([[np.nan, np.longdouble("1e400"), 0.0]], dtype=np.longdouble)
        np.testing.assert_array_equal(gk.gumbel_max(broken, rng=0), [3])
        np.testing.assert_array_equal(gk.gumbel_top_k(broken, 1, rng=0), [[3]])


@pytest.mark.parametrize("bits", [12, 40])
def test_the_static_capacity_is_exceeded_with_probability_below_3e_27(bits):
    # Traced draws reserve capacity(n, bits) refinements for a Binomial(n, 2**-bits) count.
    # Its exact tail (scipy) over sizes from 1 to 1e12: the bound the docs state holds, and it
    # is nearly reached (about 2.8e-27 near n = 13,400 with 12 bits), so the docs are not loose.
    sizes = np.unique(np.logspace(0, 12, 3000).astype(np.int64))
    tails = [stats.binom.sf(_noise.capacity(int(n), bits), int(n), 2.0**-bits) for n in sizes]
    assert max(tails) < 3e-27
    if bits == 12:
        assert max(tails) > 1e-27


def test_valid_numpy_calls_raise_nothing_where_the_user_raises_on_floating_point_errors():
    # np.seterr(all="raise") (here its context) guards the user's code; gumbelkit's own
    # deliberate underflows and infinities (float16 noise near 0, a tiny tau, a masked class)
    # stay silent inside its calls.
    logits = np.random.default_rng(1).normal(size=(64, 50)) * 3
    logits[:, 0] = -np.inf
    half = logits.astype(np.float16)
    with np.errstate(all="raise"):
        noise = gk.gumbel((100_000,), dtype=np.float16, rng=0)
        assert noise.dtype == np.float16
        assert np.all(np.isfinite(noise))
        for x in (half, logits):
            for tau in (1e-30, 0.5, 1e30):
                assert np.all(np.isfinite(gk.gumbel_softmax(x, tau=tau, rng=1)))
                assert np.all(np.isfinite(gk.gumbel_softmax(x, tau=tau, hard=True, rng=1)))
            assert np.all(gk.gumbel_max(x, rng=2) > 0)
            assert np.all(gk.gumbel_top_k(x, 3, rng=3) > 0)
            assert np.all(gk.categorical(x, rng=4, sample_shape=5) > 0)
