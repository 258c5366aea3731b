"""The numeric contract (docs/numeric-contract.md): finite noise, float32-or-wider arithmetic,
masks, bad rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import assert_close, make, native_dtype, np_gumbel, np_softmax, to_numpy
from scipy import stats

import gumbelkit as gk
from gumbelkit import _core

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
    if backend_name == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed")
        tau = torch.tensor(tau0, requires_grad=True)
        out = gk.gumbel_softmax(torch.tensor(base), tau=tau, noise=torch.tensor(g))
        (out * torch.tensor(weights)).sum().backward()
        gradient = tau.grad.numpy()
    else:
        jax = pytest.importorskip("jax", reason="JAX is not installed")
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy

        def jax_loss(tau):
            out = gk.gumbel_softmax(jnp.asarray(base), tau=tau, noise=jnp.asarray(g))
            return jnp.sum(out * jnp.asarray(weights))

        gradient = np.asarray(jax.grad(jax_loss)(jnp.asarray(tau0)))
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)


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


def test_float64_noise_keeps_float64_resolution(xp):
    dtype = native_dtype(xp, "float64")
    g = to_numpy(gk.gumbel(200_000, dtype=dtype, rng=8, xp=xp))
    # float32 uniforms would cap the noise at about 16.6; float64 ones at 36.7, and they put
    # no mass on float32's coarse grid: more than half the values are not float32-representable.
    assert np.mean(g.astype(np.float32).astype(np.float64) != g) > 0.5
