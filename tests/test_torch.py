"""PyTorch-specific behaviour: autograd, parity with F.gumbel_softmax, -inf masks, torch.compile,
torch.func, seeding, float16/bfloat16, and CUDA devices.

Expected values come from float64 NumPy formulas (softmax, the Jacobian J(y)/tau), finite
differences (gradcheck), torch.nn.functional.gumbel_softmax and torch.softmax on the same noise,
never from gumbelkit itself, except where the property under test is an agreement (compiled ==
eager, same seed == same sample). Set GUMBELKIT_TEST_DEVICE=cuda to run the device-neutral tests
on a GPU; the CUDA-only tests run wherever torch.cuda.is_available().
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

from helpers import (  # noqa: E402
    MASKED_ROWS,
    ROW_TEMPERATURES,
    np_softmax,
    tempered_sum_gradients,
    to_numpy,
)

import gumbelkit as gk  # noqa: E402
from gumbelkit.backends import get_backend, register_backend, unregister_backend  # noqa: E402

F = torch.nn.functional
DEVICE = torch.device(os.environ.get("GUMBELKIT_TEST_DEVICE", "cpu"))
NINF = -np.inf
LOW_PRECISION = [torch.float16, torch.bfloat16]

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)


def tensor(values, dtype=torch.float64, requires_grad=False):
    """A tensor on the test device from float64 NumPy data."""
    t = torch.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, device=DEVICE)
    return t.requires_grad_() if requires_grad else t


def gumbel_np(shape, seed):
    """Standard Gumbel noise from NumPy, independent of gumbelkit."""
    return np.random.default_rng(seed).gumbel(size=shape)


def softmax_vjp(y, g, tau, axis=-1):
    """(1/tau) J(y) g = (1/tau) (y*g - y*(y.g)) along ``axis``, in float64."""
    return (y * g - y * np.sum(y * g, axis=axis, keepdims=True)) / tau


def one_hot_np(index, num_classes, axis=-1):
    """One-hot along ``axis`` of an integer index array (float64)."""
    classes_shape = [1] * (index.ndim + 1)
    classes_shape[axis] = num_classes
    classes = np.arange(num_classes).reshape(classes_shape)
    return (np.expand_dims(index, axis) == classes).astype(np.float64)


def global_rng_state():
    """The state of the test device's default generator."""
    if DEVICE.type == "cuda":
        return torch.cuda.get_rng_state(DEVICE)
    return torch.get_rng_state()


# --- 1. Gradients through soft samples and straight-through hard samples ---------------------


@pytest.mark.parametrize(
    ("shape", "axis", "sample_shape", "tau"),
    [
        ((3, 5), -1, (), 0.7),
        ((3, 5), -1, (), [0.3, 1.0, 4.0]),
        ((5, 3), 0, (2,), [0.5, 2.0, 0.9]),
    ],
    ids=["float-tau", "row-tau", "row-tau-axis0-samples"],
)
def test_gradcheck_soft_sample(shape, axis, sample_shape, tau):
    logits = tensor(np.random.default_rng(0).normal(size=shape), requires_grad=True)
    noise = tensor(gumbel_np(sample_shape + shape, seed=1))
    if isinstance(tau, float):
        inputs = (logits,)

        def sample(lg):
            return gk.gumbel_softmax(lg, tau=tau, axis=axis, noise=noise,
                                    sample_shape=sample_shape)
    else:
        # A per-row temperature is differentiable too.
        inputs = (logits, tensor(tau, requires_grad=True))

        def sample(lg, t):
            return gk.gumbel_softmax(lg, tau=t, axis=axis, noise=noise,
                                    sample_shape=sample_shape)

    assert torch.autograd.gradcheck(sample, inputs)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("per_row_tau", [False, True])
def test_hard_sample_is_one_hot_with_soft_gradient(axis, per_row_tau):
    rng = np.random.default_rng(2)
    shape = (4, 6) if axis == -1 else (6, 4)
    logits_np, noise_np, g_np = (rng.normal(size=shape), rng.gumbel(size=shape),
                                 rng.normal(size=shape))
    tau_np = np.array([0.3, 0.8, 1.5, 4.0]) if per_row_tau else np.array(0.6)
    tau_b = np.expand_dims(tau_np, axis) if per_row_tau else tau_np
    logits = tensor(logits_np, requires_grad=True)
    tau = tensor(tau_np) if per_row_tau else float(tau_np)

    out = gk.gumbel_softmax(logits, tau=tau, hard=True, axis=axis, noise=tensor(noise_np))

    z = logits_np + noise_np
    expected = one_hot_np(np.argmax(z, axis=axis), shape[axis], axis=axis)
    np.testing.assert_array_equal(to_numpy(out), expected)  # exactly one-hot, no rounding
    out.backward(tensor(g_np))
    y = np_softmax(z / tau_b, axis=axis)
    np.testing.assert_allclose(to_numpy(logits.grad), softmax_vjp(y, g_np, tau_b, axis=axis),
                               rtol=1e-12, atol=1e-14)


# --- 2. Parity with torch.nn.functional.gumbel_softmax on identical noise ---------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("tau", [1.0, 5.0, 0.5])
@pytest.mark.parametrize("dim", [0, -1])
def test_matches_torch_gumbel_softmax(dtype, hard, tau, dim):
    logits = tensor(np.random.default_rng(3).normal(size=(5, 7)), dtype=dtype)
    upstream = tensor(np.random.default_rng(4).normal(size=(5, 7)), dtype=dtype)
    ref_in = logits.clone().requires_grad_()
    ours_in = logits.clone().requires_grad_()

    torch.manual_seed(1234)
    ref = F.gumbel_softmax(ref_in, tau=tau, hard=hard, dim=dim)
    # The noise F.gumbel_softmax draws (torch/nn/functional.py), replayed from the same seed.
    torch.manual_seed(1234)
    noise = -torch.empty_like(logits).exponential_().log()
    ours = gk.gumbel_softmax(ours_in, tau=tau, hard=hard, axis=dim, noise=noise)

    assert ours.dtype == dtype
    assert ours.device == logits.device
    rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (1e-12, 1e-14)
    if hard:
        # F's hard value is y_hard - y_soft.detach() + y_soft, one-hot up to an ulp; ours is exact.
        assert torch.equal(ours.detach(), ref.detach().round())
        assert torch.equal(ours.detach().sum(dim), torch.ones(7 if dim == 0 else 5,
                                                              dtype=dtype, device=DEVICE))
    np.testing.assert_allclose(to_numpy(ours), to_numpy(ref), rtol=rtol, atol=atol)
    (ref * upstream).sum().backward()
    (ours * upstream).sum().backward()
    np.testing.assert_allclose(to_numpy(ours_in.grad), to_numpy(ref_in.grad), rtol=rtol,
                               atol=atol)


# --- 3. -inf masks ---------------------------------------------------------------------------

MASKED_LOGITS = np.array(
    [
        [0.0, NINF, 1.0, NINF, -2.0],
        [NINF, 3.0, NINF, NINF, NINF],  # one class left: a constant sample, zero gradient
        [5.0, NINF, NINF, 40.0, 4.0],
    ]
)


def test_masked_classes_are_never_drawn():
    logits = tensor(MASKED_LOGITS, dtype=torch.float32)
    masked = np.isinf(MASKED_LOGITS)
    index = to_numpy(gk.gumbel_max(logits, rng=0, sample_shape=4000))
    hard = to_numpy(gk.gumbel_softmax(logits, hard=True, tau=0.5, rng=1, sample_shape=4000))
    for row in range(MASKED_LOGITS.shape[0]):
        drawn = set(np.unique(index[:, row]).tolist())
        assert drawn.isdisjoint(np.flatnonzero(masked[row]).tolist())
        assert not hard[:, row][:, masked[row]].any()
    # Row 0's rarest class has probability about 0.035: 4000 draws all see it.
    assert set(np.unique(index[:, 0]).tolist()) == {0, 2, 4}


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("tau", [1e-3, 1.0, 10.0])
def test_masked_classes_probability_and_gradient_exactly_zero(hard, tau):
    samples = 3
    noise_np = gumbel_np((samples, *MASKED_LOGITS.shape), seed=5)
    # Large noise on masked entries: -inf + G stays -inf whatever G is.
    masked = np.isinf(MASKED_LOGITS)
    noise_np[:, masked] = 30.0
    g_np = np.random.default_rng(6).normal(size=noise_np.shape)
    logits = tensor(MASKED_LOGITS, requires_grad=True)

    out = gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=tensor(noise_np),
                            sample_shape=samples)
    out.backward(tensor(g_np))

    values, grad = to_numpy(out), to_numpy(logits.grad)
    assert np.all(values[:, masked] == 0.0)
    assert np.all(np.isfinite(values))
    assert np.all(np.isfinite(grad)), "NaN or inf in logits.grad"
    assert np.all(grad[masked] == 0.0)
    assert np.all(grad[1] == 0.0)  # a one-class row's sample does not depend on the logits
    z = MASKED_LOGITS + noise_np
    y = np_softmax(z / tau)
    if hard:
        np.testing.assert_array_equal(values, one_hot_np(np.argmax(z, axis=-1), 5))
    else:
        np.testing.assert_allclose(values, y, rtol=1e-12, atol=1e-300)
    expected_grad = softmax_vjp(y, g_np, tau).sum(axis=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_a_precomputed_noise_gets_the_soft_samples_gradient(hard):
    # Only the noise requires a gradient: the hard sample skipped its surrogate (nothing but
    # the logits and tau was asked) and gave the noise a zero gradient. Reference: the
    # straight-through gradient (1/tau) J(y) w, J(y) = diag(y) - y y^T, in float64.
    rng = np.random.default_rng(13)
    logits_np, noise_np = rng.normal(size=(4, 6)), gumbel_np((4, 6), seed=14)
    weights = np.linspace(-1.0, 1.0, 24).reshape(4, 6)
    noise = tensor(noise_np, dtype=torch.float64).requires_grad_(True)
    sample = gk.gumbel_softmax(tensor(logits_np, dtype=torch.float64), tau=0.5, noise=noise,
                               hard=hard)
    (gradient,) = torch.autograd.grad((sample * tensor(weights, dtype=torch.float64)).sum(),
                                      noise)
    y = np_softmax((logits_np + noise_np) / 0.5, axis=-1)
    expected = y * (weights - (y * weights).sum(-1, keepdims=True)) / 0.5
    np.testing.assert_allclose(to_numpy(gradient), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_masked_classes_give_a_finite_per_row_tau_gradient(hard):
    # d softmax(z/tau)/d tau = -(1/tau^2) J(y) z; masked classes have y = 0 and add nothing.
    noise_np = gumbel_np(MASKED_LOGITS.shape, seed=7)
    g_np = np.random.default_rng(8).normal(size=MASKED_LOGITS.shape)
    tau_np = np.array([0.5, 2.0, 0.8])
    logits = tensor(MASKED_LOGITS, requires_grad=True)
    tau = tensor(tau_np, requires_grad=True)

    out = gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=tensor(noise_np))
    out.backward(tensor(g_np))

    assert np.all(np.isfinite(to_numpy(logits.grad)))
    z = MASKED_LOGITS + noise_np
    y = np_softmax(z / tau_np[:, None])
    z_finite = np.where(np.isinf(z), 0.0, z)
    jz = y * z_finite - y * np.sum(y * z_finite, axis=-1, keepdims=True)
    expected = -np.sum(g_np * jz, axis=-1) / tau_np**2
    np.testing.assert_allclose(to_numpy(tau.grad), expected, rtol=1e-12, atol=1e-14)


# --- 4. torch.compile(fullgraph=True) ---------------------------------------------------------


@pytest.fixture(scope="module")
def inductor():
    """Import Inductor once with torch's own import-time DeprecationWarning silenced.

    torch.utils.mkldnn, imported by Inductor, calls the deprecated torch.jit.script_method at
    import. That warning is PyTorch's, not gumbelkit's; every later warning is checked.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        import torch._inductor.compile_fx  # noqa: F401


@pytest.fixture
def fresh_dynamo():
    """Compile from scratch, and leave no compiled code or guards to later tests."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def compile_warnings(caught):
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def test_compile_fullgraph_matches_eager(inductor, fresh_dynamo):
    logits = tensor(np.random.default_rng(7).normal(size=(4, 6)), dtype=torch.float32)
    noise_np = gumbel_np((4, 6), seed=8)
    noise = tensor(noise_np, dtype=torch.float32)

    def sample(lg, g):
        return (
            gk.gumbel_softmax(lg, tau=0.5, noise=g),
            gk.gumbel_softmax(lg, tau=0.5, hard=True, noise=g),
            gk.gumbel_max(lg, noise=g),
            gk.gumbel_softmax(lg, tau=0.5, sample_shape=3),  # rng=None: the global generator
            gk.gumbel_softmax(lg, tau=0.5, hard=True, sample_shape=3),
            gk.gumbel_max(lg, sample_shape=3),
        )

    gk.gumbel_max(logits, rng=0)  # the adapter lookup is warm; its cold path is tested below
    compiled = torch.compile(sample, fullgraph=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(9)
        first = compiled(logits, noise)
        torch.manual_seed(9)
        second = compiled(logits, noise)
    assert compile_warnings(caught) == []
    eager = sample(logits, noise)

    soft, hard, index, soft_rng, hard_rng, index_rng = first
    z = to_numpy(logits).astype(np.float64) + to_numpy(noise)
    np.testing.assert_allclose(to_numpy(soft), to_numpy(eager[0]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_numpy(soft), np_softmax(z / 0.5), rtol=1e-5, atol=1e-6)
    assert torch.equal(hard, eager[1])
    np.testing.assert_array_equal(to_numpy(hard), one_hot_np(np.argmax(z, axis=-1), 6))
    assert torch.equal(index, eager[2])
    np.testing.assert_array_equal(to_numpy(index), np.argmax(z, axis=-1))
    # Random draws: valid samples, reproduced by torch.manual_seed.
    for a, b in zip(first[3:], second[3:], strict=True):
        assert torch.equal(a, b)
    assert soft_rng.shape == hard_rng.shape == (3, 4, 6)
    np.testing.assert_allclose(to_numpy(soft_rng).sum(-1), 1.0, rtol=1e-5)
    assert torch.equal(hard_rng.sum(-1), torch.ones(3, 4, device=DEVICE))
    assert torch.all((hard_rng == 0) | (hard_rng == 1))
    assert index_rng.shape == (3, 4)
    assert index_rng.dtype == torch.int64
    assert torch.all((index_rng >= 0) & (index_rng < 6))


@pytest.mark.parametrize("options", [{}, {"dynamic": True, "fullgraph": True}],
                         ids=["a-second-shape", "dynamic-fullgraph"])
def test_compile_with_symbolic_shapes(inductor, fresh_dynamo, options):
    # From the second shape a compiled function sees (or with dynamic=True), Dynamo traces the
    # shapes as symbols, and its fake torch.rand(..., generator=None) asked for concrete sizes
    # (TorchRuntimeError at the second batch size, so at a training loop's last short batch);
    # torch.randint (alias tables) the same. Each shape's draws are valid samples: one-hot
    # rows, indices in range, as for the first shape.
    def sample(lg):
        return (gk.gumbel_softmax(lg, tau=0.5, hard=True),
                gk.categorical(lg, sample_shape=30, method="alias"))

    compiled = torch.compile(sample, **options)
    for rows in (4, 7, 9):
        logits = tensor(np.random.default_rng(rows).normal(size=(rows, 5)), dtype=torch.float32)
        hard, drawn = compiled(logits)
        assert hard.shape == (rows, 5)
        assert torch.equal(hard.sum(-1), torch.ones(rows, device=DEVICE))
        assert torch.all((hard == 0) | (hard == 1))
        assert drawn.shape == (30, rows)
        assert torch.all((drawn >= 0) & (drawn < 5))


def test_compile_with_a_seed_or_a_generator_matches_eager(inductor, fresh_dynamo):
    # Dynamo cannot put a torch.Generator in a graph (pytorch/pytorch#88576): with a seed or a
    # generator the default mode compiles around a graph break, and the frame after it writes
    # into the noise buffer's in-place softmax, which Inductor failed to compile
    # (KeyError: 'buf4', with 10 classes; 6 compiled). Reference: the eager call with the same
    # seed or generator state.
    logits = tensor(np.random.default_rng(11).normal(size=(4, 10)), dtype=torch.float32)
    soft = torch.compile(lambda lg: gk.gumbel_softmax(lg, tau=0.5, rng=5))
    np.testing.assert_allclose(to_numpy(soft(logits)),
                               to_numpy(gk.gumbel_softmax(logits, tau=0.5, rng=5)),
                               rtol=1e-6, atol=1e-7)
    hard = torch.compile(lambda lg: gk.gumbel_softmax(lg, tau=0.5, hard=True, rng=5))
    assert torch.equal(hard(logits), gk.gumbel_softmax(logits, tau=0.5, hard=True, rng=5))
    generator = torch.Generator(device=DEVICE)
    compiled = torch.compile(lambda lg: gk.gumbel_softmax(lg, tau=0.5, rng=generator))
    generator.manual_seed(6)
    first = compiled(logits)
    generator.manual_seed(6)
    np.testing.assert_allclose(to_numpy(first),
                               to_numpy(gk.gumbel_softmax(logits, tau=0.5, rng=generator)),
                               rtol=1e-6, atol=1e-7)


def test_compile_default_mode_validates(inductor, fresh_dynamo):
    # validate=True reads the data: the default mode compiles around the read (a graph break)
    # and checks as the eager call does. fullgraph=True allows no break; the docs say so.
    compiled = torch.compile(lambda lg: gk.gumbel_softmax(lg, tau=0.5, validate=True))
    logits = tensor(np.random.default_rng(12).normal(size=(4, 5)), dtype=torch.float32)
    np.testing.assert_allclose(to_numpy(compiled(logits)).sum(-1), 1.0, rtol=1e-5)
    logits[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"logits row \(2,\)"):
        compiled(logits)


def test_compile_fullgraph_first_call_of_the_process(fresh_dynamo):
    # A fresh process compiles before gumbelkit has seen a tensor. Registering and removing an
    # adapter empties the lookup cache the same way, through the public API.
    adapter = get_backend("torch")
    register_backend(adapter)
    unregister_backend(adapter)
    logits = tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.1]], dtype=torch.float32)
    noise_np = gumbel_np((2, 3), seed=10)
    # The eager backend traces with Dynamo like Inductor, without Inductor's compile time.
    compiled = torch.compile(
        lambda lg, g: gk.gumbel_softmax(lg, hard=True, noise=g), fullgraph=True, backend="eager"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compiled(logits, tensor(noise_np, dtype=torch.float32))
    assert compile_warnings(caught) == []
    z = to_numpy(logits).astype(np.float64) + noise_np.astype(np.float32)
    np.testing.assert_array_equal(to_numpy(out), one_hot_np(np.argmax(z, axis=-1), 3))


# --- 5. torch.func ----------------------------------------------------------------------------


def jacobian_np(y, tau):
    """d softmax((logits + G)/tau) / d logits for 2-d y (rows, classes): block-diagonal J(y)/tau."""
    rows, k = y.shape
    jac = np.zeros((rows, k, rows, k))
    for r in range(rows):
        jac[r, :, r, :] = (np.diag(y[r]) - np.outer(y[r], y[r])) / tau
    return jac


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_func_jacrev_and_grad_match_analytic_jacobian(hard):
    rng = np.random.default_rng(11)
    logits_np, noise_np, w_np = (rng.normal(size=(3, 5)), rng.gumbel(size=(3, 5)),
                                 rng.normal(size=(3, 5)))
    tau = 0.7
    logits, noise, w = tensor(logits_np), tensor(noise_np), tensor(w_np)
    y = np_softmax((logits_np + noise_np) / tau)

    jac = torch.func.jacrev(lambda lg: gk.gumbel_softmax(lg, tau=tau, hard=hard, noise=noise))(
        logits
    )
    np.testing.assert_allclose(to_numpy(jac), jacobian_np(y, tau), rtol=1e-12, atol=1e-14)

    grad = torch.func.grad(
        lambda lg: (gk.gumbel_softmax(lg, tau=tau, hard=hard, noise=noise) * w).sum()
    )(logits)
    np.testing.assert_allclose(to_numpy(grad), softmax_vjp(y, w_np, tau), rtol=1e-12,
                               atol=1e-14)


def test_func_grad_with_respect_to_row_temperature():
    # d softmax(z/tau)/d tau = -(1/tau^2) J(y) z, row by row.
    rng = np.random.default_rng(12)
    logits_np, noise_np, w_np = (rng.normal(size=(3, 4)), rng.gumbel(size=(3, 4)),
                                 rng.normal(size=(3, 4)))
    tau_np = np.array([0.4, 1.0, 3.0])
    noise, w = tensor(noise_np), tensor(w_np)
    grad = torch.func.grad(
        lambda t: (gk.gumbel_softmax(tensor(logits_np), tau=t, noise=noise) * w).sum()
    )(tensor(tau_np))
    z = logits_np + noise_np
    y = np_softmax(z / tau_np[:, None])
    jz = y * z - y * np.sum(y * z, axis=-1, keepdims=True)
    expected = -np.sum(w_np * jz, axis=-1) / tau_np**2
    np.testing.assert_allclose(to_numpy(grad), expected, rtol=1e-12, atol=1e-14)


def test_func_grad_of_filtered_logits_with_a_masked_class():
    # The temperature, unread under torch.func, took the traced division, whose derivative in
    # the temperature at the -inf entry (inf times 0) put a NaN in every entry of the row.
    # The expected gradients: tempered_sum_gradients.

    def loss(logits, t):
        out = gk.filter_logits(logits, temperature=t)
        return torch.where(torch.isfinite(out), out, 0.0).sum()

    expected, expected_t = tempered_sum_gradients(MASKED_ROWS, ROW_TEMPERATURES)
    grad = torch.func.grad(loss)(tensor(MASKED_ROWS), tensor(ROW_TEMPERATURES))
    np.testing.assert_allclose(to_numpy(grad), expected, rtol=1e-12)
    grad_t = torch.func.grad(loss, argnums=1)(tensor(MASKED_ROWS), tensor(ROW_TEMPERATURES))
    np.testing.assert_allclose(to_numpy(grad_t), expected_t, rtol=1e-12)


def test_vmap_per_row_temperature_and_shared_noise():
    rng = np.random.default_rng(13)
    logits_np, noise_np = rng.normal(size=(4, 5)), rng.gumbel(size=5)
    tau_np = np.array([0.2, 0.5, 1.0, 7.0])
    out = torch.func.vmap(lambda lg, t: gk.gumbel_softmax(lg, tau=t, noise=tensor(noise_np)))(
        tensor(logits_np), tensor(tau_np)
    )
    expected = np_softmax((logits_np + noise_np) / tau_np[:, None])
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-15)


def identical_rows_logits():
    row = np.random.default_rng(14).normal(size=6)
    return tensor(np.tile(row, (5, 1)), dtype=torch.float32)


def vmapped_samples(randomness):
    logits = identical_rows_logits()
    return [
        torch.func.vmap(fn, randomness=randomness)(logits)
        for fn in (
            lambda lg: gk.gumbel_softmax(lg, tau=0.5),
            lambda lg: gk.gumbel_softmax(lg, tau=0.5, hard=True, sample_shape=16),
            lambda lg: gk.gumbel_max(lg, sample_shape=16),
        )
    ]


def test_vmap_randomness_same_gives_identical_rows():
    for out in vmapped_samples("same"):
        for row in out[1:]:
            assert torch.equal(row, out[0])


def test_vmap_randomness_different_gives_different_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samples = vmapped_samples("different")
    for out in samples:
        for i in range(len(out)):
            for j in range(i):
                assert not torch.equal(out[i], out[j])


@pytest.mark.parametrize("tau", [0.5, 2.0])
@pytest.mark.parametrize("hard", [False, True])
def test_backward_through_vmap(tau, hard):
    # Inside torch.func.vmap a tensor that autograd records says requires_grad=False, so the
    # row maximum of a temperature below 1 was taken without a detach, and the in-place shift
    # spoilt what its backward saved (RuntimeError: modified by an inplace operation).
    # Reference: the unbatched call's gradient on the same noise.
    logits = tensor(np.random.default_rng(30).normal(size=(6, 4)), dtype=torch.float64)
    noise = tensor(gumbel_np((6, 4), seed=31), dtype=torch.float64)
    weights = torch.arange(4.0, dtype=torch.float64, device=DEVICE)

    def batched(lg):
        return torch.func.vmap(lambda row, g: gk.gumbel_softmax(row, tau=tau, hard=hard, noise=g),
                               randomness="different")(lg, noise)

    leaf = logits.clone().requires_grad_(True)
    (batched(leaf) * weights).pow(2).sum().backward()
    expected = torch.func.grad(lambda lg: (gk.gumbel_softmax(lg, tau=tau, hard=hard, noise=noise)
                                           * weights).pow(2).sum())(logits)
    torch.testing.assert_close(leaf.grad, expected)
    drawn = torch.func.vmap(lambda row: gk.gumbel_softmax(row, tau=tau, hard=hard),
                            randomness="different")(leaf)
    drawn.sum().backward()  # drawn noise too


# --- 6. Reproducibility -------------------------------------------------------------------------

SAMPLERS = {
    "soft": lambda lg, rng: gk.gumbel_softmax(lg, tau=0.5, rng=rng),
    "hard": lambda lg, rng: gk.gumbel_softmax(lg, hard=True, rng=rng, sample_shape=32),
    "max": lambda lg, rng: gk.gumbel_max(lg, rng=rng, sample_shape=32),
    "gumbel": lambda lg, rng: gk.gumbel((4, 8), dtype=lg.dtype, device=lg.device, xp=torch,
                                        rng=rng),
}


def sampler_logits():
    return tensor(np.random.default_rng(15).normal(size=(4, 8)), dtype=torch.float32)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_manual_seed_reproduces_rng_none(name):
    sample, logits = SAMPLERS[name], sampler_logits()
    torch.manual_seed(21)
    first = sample(logits, None)
    following = sample(logits, None)
    torch.manual_seed(21)
    again = sample(logits, None)
    torch.manual_seed(22)
    other = sample(logits, None)
    assert torch.equal(first, again)
    assert not torch.equal(first, following)  # the global generator advanced
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_rng_none_draws_from_the_global_generator_and_seeds_do_not(name):
    sample, logits = SAMPLERS[name], sampler_logits()
    before = global_rng_state()
    sample(logits, 3)
    sample(logits, torch.Generator(device=DEVICE).manual_seed(3))
    assert torch.equal(global_rng_state(), before)
    sample(logits, None)
    assert not torch.equal(global_rng_state(), before)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_int_seed_and_generator_reproduce(name):
    sample, logits = SAMPLERS[name], sampler_logits()
    by_seed = sample(logits, 11)
    assert torch.equal(sample(logits, 11), by_seed)
    assert not torch.equal(sample(logits, 12), by_seed)
    # An int seed is a torch.Generator on the logits' device seeded with it.
    gen_a = torch.Generator(device=DEVICE).manual_seed(11)
    gen_b = torch.Generator(device=DEVICE).manual_seed(11)
    first_a = sample(logits, gen_a)
    assert torch.equal(first_a, by_seed)
    assert torch.equal(sample(logits, gen_b), first_a)
    assert not torch.equal(sample(logits, gen_a), first_a)  # a generator advances


# --- 7. float16 / bfloat16 logits ---------------------------------------------------------------


def low_precision_case(dtype):
    """Random rows plus one row where rounding logits + G to ``dtype`` visibly moves softmax."""
    rng = np.random.default_rng(16)
    logits = np.vstack([rng.normal(size=(3, 4)), [0.0, 0.0, -1.0, -2.0]])
    noise = np.vstack([rng.gumbel(size=(3, 4)), [3.0, 3.0111, 0.0, 0.0]])
    return tensor(logits, dtype=dtype), tensor(noise, dtype=torch.float32)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("tau", [0.01, 0.5])
def test_low_precision_soft_sample_computed_in_float32(dtype, tau):
    logits, noise = low_precision_case(dtype)
    out = gk.gumbel_softmax(logits, tau=tau, noise=noise)
    assert out.dtype == dtype
    assert out.device == logits.device
    expected = torch.softmax((logits.float() + noise) / tau, dim=-1).to(dtype)
    # At most about an ulp of the output dtype apart. Rounding logits + G to the dtype before
    # the softmax moves the last row at tau=0.01 by 0.025 (float16) or 0.13 (bfloat16).
    np.testing.assert_allclose(to_numpy(out), to_numpy(expected), rtol=0,
                               atol=torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=["float16", "bfloat16"])
def test_low_precision_hard_argmax_on_float32_logits_plus_noise(dtype):
    eps = torch.finfo(dtype).eps
    ulp3 = 2 * eps  # the spacing of dtype in [2, 4)
    # Row 0: a tie in dtype (1 + eps/4 rounds to 1), resolved in float32 towards class 1.
    # Row 1: rounding the noise (3 +- 0.45 ulp -> 3) then the sum (3 + 0.75 ulp -> 3 + ulp)
    # would pick class 1; in float32, 3 + 0.45 ulp > 3 + 0.30 ulp picks class 0.
    logits_np = np.array([[1.0, 1.0], [0.0, 0.75 * ulp3]])
    noise_np = np.array([[0.0, eps / 4], [3.0 + 0.45 * ulp3, 3.0 - 0.45 * ulp3]])
    logits = tensor(logits_np, dtype=dtype)
    noise = tensor(noise_np, dtype=torch.float32)
    np.testing.assert_array_equal(to_numpy(logits), logits_np)  # dtype holds the logits exactly
    expected = np.argmax(logits_np + to_numpy(noise).astype(np.float64), axis=-1)
    np.testing.assert_array_equal(expected, [1, 0])

    hard = gk.gumbel_softmax(logits, tau=0.5, hard=True, noise=noise)
    assert hard.dtype == dtype
    np.testing.assert_array_equal(to_numpy(hard), one_hot_np(expected, 2))
    np.testing.assert_array_equal(to_numpy(gk.gumbel_max(logits, noise=noise)), expected)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=["float16", "bfloat16"])
def test_low_precision_random_samples_use_float32_noise(dtype):
    # Low-precision logits are exact in float32, so with float32 noise and float32 arithmetic
    # the sample must be the float32 sample rounded once at the end.
    logits32 = tensor(np.random.default_rng(17).normal(size=(16, 10)), dtype=dtype).float()
    logits = logits32.to(dtype)
    soft = gk.gumbel_softmax(logits, tau=0.2, rng=5, sample_shape=8)
    hard = gk.gumbel_softmax(logits, tau=0.2, hard=True, rng=5, sample_shape=8)
    index = gk.gumbel_max(logits, rng=5, sample_shape=8)
    assert soft.dtype == hard.dtype == dtype
    assert torch.equal(soft, gk.gumbel_softmax(logits32, tau=0.2, rng=5, sample_shape=8).to(dtype))
    assert torch.equal(index, gk.gumbel_max(logits32, rng=5, sample_shape=8))
    assert torch.all((hard == 0) | (hard == 1))
    assert torch.equal(hard.sum(-1), torch.ones(8, 16, dtype=dtype, device=DEVICE))
    assert torch.equal(hard.argmax(-1), index)


# --- 8. Backward with float16 / bfloat16 logits -------------------------------------------------


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("tau", [0.05, 1.0])
def test_low_precision_backward(dtype, hard, tau):
    rng = np.random.default_rng(18)
    logits_np = np.array(
        [
            [0.5, -1.25, 2.0, 0.0, 1.0],
            [1000.0, 1001.0, -1000.0, NINF, 1000.5],  # exp(z / tau) overflows outside float32
            [NINF, 0.25, NINF, -0.5, NINF],
        ]
    )
    noise_np = rng.gumbel(size=logits_np.shape).astype(np.float32)
    g_np = rng.normal(size=logits_np.shape)
    logits = tensor(logits_np, dtype=dtype, requires_grad=True)
    upstream = tensor(g_np, dtype=dtype)

    out = gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=tensor(noise_np,
                                                                     dtype=torch.float32))
    out.backward(upstream)

    assert out.dtype == logits.grad.dtype == dtype
    grad = to_numpy(logits.grad)
    assert np.all(np.isfinite(grad)), "NaN or inf in logits.grad"
    assert np.all(grad[np.isinf(logits_np)] == 0.0)
    # bfloat16 rounds 1001 and 1000.5 to 1000: the reference uses the logits as stored.
    z = to_numpy(logits).astype(np.float64) + noise_np.astype(np.float64)
    expected = softmax_vjp(np_softmax(z / tau), to_numpy(upstream).astype(np.float64), tau)
    # Rounding to dtype, plus float32 cancellation in y*(g - y.g) where y is near 1.
    eps, eps32 = torch.finfo(dtype).eps, torch.finfo(torch.float32).eps
    atol = 4 * eps * np.abs(expected).max() + 8 * eps32 * np.abs(g_np).max() / tau
    np.testing.assert_allclose(grad, expected, rtol=4 * eps, atol=atol)


# --- CUDA ---------------------------------------------------------------------------------------


@requires_cuda
def test_cuda_generator_on_another_device_is_rejected():
    logits = torch.randn(3, 4, device="cuda")
    for call in (
        lambda: gk.gumbel_softmax(logits, rng=torch.Generator(device="cpu")),
        lambda: gk.gumbel_max(logits, rng=torch.Generator(device="cpu")),
        lambda: gk.gumbel_softmax(logits.cpu(), rng=torch.Generator(device="cuda")),
        lambda: gk.gumbel((2,), xp=torch, device="cuda", rng=torch.Generator(device="cpu")),
    ):
        with pytest.raises(ValueError, match="rng"):
            call()


@requires_cuda
@pytest.mark.parametrize("rng", ["none", "int", "generator"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
def test_cuda_output_stays_on_device(rng, dtype):
    device = torch.device("cuda", torch.cuda.current_device())
    logits = torch.randn(3, 5, device=device).to(dtype)

    def source():
        # Generator(device="cuda") names the current device without an index.
        return {"none": None, "int": 7,
                "generator": torch.Generator(device="cuda").manual_seed(7)}[rng]

    for out in (
        gk.gumbel_softmax(logits, tau=0.5, rng=source()),
        gk.gumbel_softmax(logits, tau=0.5, hard=True, rng=source(), sample_shape=2),
        gk.gumbel((3, 5), dtype=dtype, device=device, xp=torch, rng=source()),
    ):
        assert out.device == device
        assert out.dtype == dtype
    index = gk.gumbel_max(logits, rng=source(), sample_shape=4)
    assert index.device == device
    assert index.dtype == torch.int64
    if rng != "none":
        assert torch.equal(gk.gumbel_max(logits, rng=source(), sample_shape=4), index)


@requires_cuda
def test_cuda_matches_torch_gumbel_softmax_and_gradient():
    logits = torch.randn(6, 9, device="cuda", dtype=torch.float64)
    ref_in, ours_in = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    torch.manual_seed(5)
    ref = F.gumbel_softmax(ref_in, tau=0.5, hard=True)
    torch.manual_seed(5)
    noise = -torch.empty_like(logits).exponential_().log()
    ours = gk.gumbel_softmax(ours_in, tau=0.5, hard=True, noise=noise)
    assert ours.device == logits.device
    assert torch.equal(ours.detach(), ref.detach().round())
    upstream = torch.randn_like(logits)
    (ref * upstream).sum().backward()
    (ours * upstream).sum().backward()
    torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("estimator", ["st", "reinmax", "gapped"])
def test_hard_sample_without_gradient_equals_the_straight_through_value(estimator):
    # Without a gradient to take, the hard sample skips its surrogate: the same values (the
    # one-hot, NaN rows), from the same noise, as with one.
    values = np.random.default_rng(15).normal(size=(6, 5))
    values[1, 2] = np.nan
    values[2] = -np.inf
    values[3, [0, 4]] = -np.inf
    logits = tensor(values, dtype=torch.float32)
    with torch.no_grad():
        plain = gk.gumbel_softmax(logits, tau=1.5, hard=True, rng=3, estimator=estimator)
    tracked = gk.gumbel_softmax(logits.clone().requires_grad_(), tau=1.5, hard=True, rng=3,
                                estimator=estimator)
    np.testing.assert_array_equal(to_numpy(plain), to_numpy(tracked.detach()))
    assert np.all(np.isnan(to_numpy(plain)[[1, 2]]))
    assert np.all(np.nansum(to_numpy(plain)[[0, 3, 4, 5]], axis=-1) == 1)


def test_hard_sample_differentiates_a_temperature_array_alone():
    # Logits without a gradient and a temperature array with one: the surrogate is still
    # computed, and the gradient is that of the soft sample with respect to tau.
    rng = np.random.default_rng(16)
    logits_np, noise_np, w_np = (rng.normal(size=(3, 4)), rng.gumbel(size=(3, 4)),
                                 rng.normal(size=(3, 4)))
    tau = tensor(np.array([0.4, 1.0, 3.0]), requires_grad=True)
    (gk.gumbel_softmax(tensor(logits_np), tau=tau, hard=True, noise=tensor(noise_np))
     * tensor(w_np)).sum().backward()
    z = logits_np + noise_np
    y = np_softmax(z / tau.detach().numpy()[:, None])
    jz = y * z - y * np.sum(y * z, axis=-1, keepdims=True)
    expected = -np.sum(w_np * jz, axis=-1) / tau.detach().numpy() ** 2
    np.testing.assert_allclose(to_numpy(tau.grad), expected, rtol=1e-12, atol=1e-14)


# make_dual loads PyTorch's forward-mode decompositions, which call the deprecated
# torch.jit.script inside PyTorch itself.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_hard_sample_carries_the_soft_tangent_in_forward_mode():
    # Forward-mode AD: the dual tensor requires no gradient, yet the hard sample's tangent must
    # be the soft sample's (the straight-through estimator), not zero.
    import torch.autograd.forward_ad as fwad

    rng = np.random.default_rng(17)
    logits, tangent = tensor(rng.normal(size=(3, 5))), tensor(rng.normal(size=(3, 5)))
    with fwad.dual_level():
        dual = fwad.make_dual(logits, tangent)
        hard = fwad.unpack_dual(gk.gumbel_softmax(dual, tau=0.7, hard=True, rng=4)).tangent
        soft = fwad.unpack_dual(gk.gumbel_softmax(dual, tau=0.7, rng=4)).tangent
    assert hard is not None
    assert float(torch.abs(soft).max()) > 0
    np.testing.assert_allclose(to_numpy(hard), to_numpy(soft), rtol=1e-12, atol=1e-15)


# --- Meta tensors ---------------------------------------------------------------------------------
# Shapes and dtypes only: every sampler returns a meta tensor of the documented shape and dtype,
# with an int seed, None or a generator (PyTorch has no meta generator, so one on any device
# stands in for the device the meta tensors stand in for), and draws nothing.

META_SAMPLERS = {
    "gumbel_softmax": (lambda lg, r: gk.gumbel_softmax(lg, tau=0.5, rng=r, sample_shape=4),
                       (4, 2, 3), None),
    "gumbel_softmax_hard": (lambda lg, r: gk.gumbel_softmax(lg, hard=True, rng=r),
                            (2, 3), None),
    "gumbel_rao": (lambda lg, r: gk.gumbel_softmax(lg, hard=True, estimator=gk.GumbelRao(3),
                                                   rng=r), (2, 3), None),
    "gumbel_max": (lambda lg, r: gk.gumbel_max(lg, rng=r, sample_shape=4), (4, 2), torch.int64),
    "gumbel_top_k": (lambda lg, r: gk.gumbel_top_k(lg, 2, rng=r), (2, 2), torch.int64),
    "relaxed_top_k": (lambda lg, r: gk.relaxed_top_k(lg, 2, rng=r), (2, 3), None),
    "relaxed_top_k_hard": (lambda lg, r: gk.relaxed_top_k(lg, 2, hard=True, rng=r), (2, 3),
                           None),
    "conditional_gumbel": (lambda lg, r: gk.conditional_gumbel(lg, 1, rng=r), (2, 3), None),
    "RelaxedOneHotCategorical": (
        lambda lg, r: gk.distributions.RelaxedOneHotCategorical(lg, 0.5).rsample(4, rng=r),
        (4, 2, 3), None),
    "ExpRelaxedOneHotCategorical": (
        lambda lg, r: gk.distributions.ExpRelaxedOneHotCategorical(lg, 0.5).sample(4, rng=r),
        (4, 2, 3), None),
    "RelaxedBernoulli": (
        lambda lg, r: gk.distributions.RelaxedBernoulli(lg, 0.5).rsample(4, rng=r),
        (4, 2, 3), None),
    "LogitRelaxedBernoulli": (
        lambda lg, r: gk.distributions.LogitRelaxedBernoulli(lg, 0.5).sample(4, rng=r),
        (4, 2, 3), None),
    "HardConcrete": (lambda lg, r: gk.distributions.HardConcrete(lg).rsample(4, rng=r),
                     (4, 2, 3), None),
    "gumbel": (lambda lg, r: gk.gumbel((5, 2), dtype=lg.dtype, device="meta", xp=torch, rng=r),
               (5, 2), None),
}
META_RNGS = {
    "int": lambda: 7,
    "none": lambda: None,
    "cpu-generator": lambda: torch.Generator(device="cpu").manual_seed(7),
}


@pytest.mark.parametrize("rng", list(META_RNGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16],
                         ids=["float32", "float64", "float16"])
@pytest.mark.parametrize("name", list(META_SAMPLERS))
def test_meta_tensors_give_meta_results_of_the_right_shape_and_dtype(name, dtype, rng):
    sample, shape, out_dtype = META_SAMPLERS[name]
    logits = torch.zeros(2, 3, dtype=dtype, device="meta")
    source = META_RNGS[rng]()
    before = source.get_state() if isinstance(source, torch.Generator) else None
    global_before = torch.get_rng_state()
    out = sample(logits, source)
    assert out.device.type == "meta"
    assert tuple(out.shape) == shape
    assert out.dtype == (out_dtype or dtype)
    # Nothing was drawn: no generator advanced, the global one included.
    assert torch.equal(torch.get_rng_state(), global_before)
    if before is not None:
        assert torch.equal(source.get_state(), before)


def test_meta_tensors_carry_gradients_of_the_right_shape():
    logits = torch.zeros(2, 3, device="meta", requires_grad=True)
    gk.gumbel_softmax(logits, hard=True, rng=0).sum().backward()
    assert logits.grad is not None
    assert logits.grad.device.type == "meta"
    assert tuple(logits.grad.shape) == (2, 3)


def test_meta_tensors_check_the_seed():
    logits = torch.zeros(2, 3, device="meta")
    with pytest.raises(ValueError, match="rng"):
        gk.gumbel_softmax(logits, rng=-1)
    with pytest.raises(TypeError, match="rng"):
        gk.gumbel_softmax(logits, rng="seed")


# --- The sliver searched beside torch.rand ----------------------------------------------------


@pytest.fixture
def two_torch_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("seeded", [True, False], ids=["generator", "global"])
@pytest.mark.parametrize("shape", [(2**19,), (5, 2**17 + 5)])
def test_sliver_searched_beside_the_draw_equals_the_composed_path(
    two_torch_threads, dtype, seeded, shape
):
    # gumbel_and_sliver draws by pieces and searches them on a helper thread: the noise must be
    # the transform of uniform's draw, the positions its sliver, and the generator left where
    # uniform leaves it. (The conformance suite checks the same at its own shape.)
    from gumbelkit.backends import torch as torch_adapter

    cpu = torch.device("cpu")

    def source():
        if seeded:
            return torch.Generator().manual_seed(3)
        torch.manual_seed(3)
        return None

    fused = torch_adapter.gumbel_and_sliver(source(), shape, dtype, cpu, 0.999)
    assert fused is not None
    noise, positions, after = fused
    after_fused = torch.rand(7, generator=after, dtype=dtype)
    generator = source()
    u, generator = torch_adapter.uniform(generator, shape, dtype, cpu)
    after_composed = torch.rand(7, generator=generator, dtype=dtype)
    assert positions.dtype == torch.int64
    np.testing.assert_array_equal(positions.numpy(), np.flatnonzero(u.numpy() >= 0.999))
    assert torch.equal(noise, torch_adapter.gumbel_(u))
    assert torch.equal(after_fused, after_composed)


def test_sliver_is_searched_beside_the_draw_only_where_a_core_is_free(two_torch_threads):
    from gumbelkit.backends import torch as torch_adapter

    cpu = torch.device("cpu")
    assert torch_adapter.gumbel_and_sliver(None, (2**19 - 1,), torch.float32, cpu, 0.999) is None
    torch.set_num_threads(1)
    assert torch_adapter.gumbel_and_sliver(None, (2**19,), torch.float32, cpu, 0.999) is None
    torch.set_num_threads(2)
    assert torch_adapter.gumbel_and_sliver(None, (2**19,), torch.float32, cpu, 0.999) is not None

    # Inside torch.func.vmap the composed path draws (its noise is batched there).
    def inside(x):
        assert torch_adapter.gumbel_and_sliver(None, (2**19,), x.dtype, cpu, 0.999) is None
        return x

    torch.func.vmap(inside)(torch.zeros(2, 3))


def test_large_vmapped_samples_draw_per_row(two_torch_threads):
    # A vmapped call large enough for the pieces draws the composed way, per vmapped row.
    logits = torch.zeros(2, 11, 50257)
    out = torch.func.vmap(lambda x: gk.gumbel_max(x), randomness="different")(logits)
    assert out.shape == (2, 11)
    assert not torch.equal(out[0], out[1])


# --- Row-table samplers under torch.func.vmap -----------------------------------------------

ROW_TABLE_SAMPLERS = {
    "categorical cdf": lambda x: gk.categorical(x, sample_shape=10, method="cdf"),
    "categorical alias": lambda x: gk.categorical(x, sample_shape=100, method="alias"),
    "categorical alias, axis 0": lambda x: gk.categorical(x, sample_shape=100, method="alias",
                                                          axis=0),
    "tokens": lambda x: gk.sample_tokens(x, temperature=0.8, top_k=10, top_p=0.9, min_p=0.01),
}


@pytest.mark.parametrize("name", list(ROW_TABLE_SAMPLERS))
def test_row_table_samplers_under_vmap_draw_as_unbatched(name):
    # These samplers lay the logits out as (rows, K) tables; torch.func.vmap has no batching
    # rule for moveaxis, so the layout must permute. With randomness="same" every vmapped
    # example draws the unbatched call's values from the same global seed.
    sampler = ROW_TABLE_SAMPLERS[name]
    logits = torch.from_numpy(np.random.default_rng(16).normal(size=(4, 30)).astype(np.float32))
    torch.manual_seed(5)
    batched = torch.func.vmap(sampler, randomness="same")(torch.stack([logits] * 3))
    torch.manual_seed(5)
    unbatched = sampler(logits)
    for example in batched:
        assert torch.equal(example, unbatched)
    different = torch.func.vmap(sampler, randomness="different")(torch.stack([logits] * 3))
    assert different.shape == batched.shape


def test_filter_logits_under_vmap_equals_each_example():
    logits = torch.from_numpy(np.random.default_rng(17).normal(size=(3, 4, 30)))
    filters = {"temperature": 0.7, "top_k": 8, "top_p": 0.8}
    for axis in (-1, 0):
        batched = torch.func.vmap(lambda x, axis=axis: gk.filter_logits(x, axis=axis, **filters))(
            logits)
        for example, row in zip(batched, logits, strict=True):
            assert torch.equal(example, gk.filter_logits(row, axis=axis, **filters))


def _sparse_and_nested():
    dense = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    with warnings.catch_warnings():  # PyTorch calls both layouts beta or prototype
        warnings.simplefilter("ignore", UserWarning)
        return {
            "sparse_coo": (dense.to_sparse(), "layout torch.sparse_coo: pass its .to_dense()"),
            "sparse_csr": (dense.to_sparse_csr(), "layout torch.sparse_csr: pass its .to_dense()"),
            "nested": (torch.nested.nested_tensor([dense[0], dense[1]]),
                       "a nested tensor: pad it into a dense one with "
                       "torch.nested.to_padded_tensor"),
        }


def test_seeds_on_the_meta_device_are_refused_naming_them():
    # PyTorch's adapter reads seed tensors to the host; a meta tensor has no values to read,
    # and PyTorch's NotImplementedError ("Cannot copy out of meta tensor") came out of the call.
    logits = torch.zeros(2, 3)
    with pytest.raises(TypeError, match=r"seeds must be an array whose values can be read: "
                                        r"torch reads the seeds to the host, and an array on "
                                        r"meta could not be read"):
        gk.sample_tokens(logits, seeds=torch.tensor([1, 2], device="meta"))
    # Read seed tensors draw what the same seeds as a list draw.
    rows = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(
        gk.sample_tokens(rows, seeds=torch.tensor([7, 8, 9]), top_p=0.9).numpy(),
        gk.sample_tokens(rows, seeds=[7, 8, 9], top_p=0.9).numpy())


@pytest.mark.parametrize("layout", ["sparse_coo", "sparse_csr", "nested"])
def test_sparse_and_nested_tensors_are_refused_naming_the_argument(layout):
    # PyTorch's own error named an operator (aten::amax on SparseCPU) or asked for a bug report
    # (NestedTensorImpl doesn't support sizes); each argument is checked before any operation.
    from gumbelkit import distributions as gkd
    from gumbelkit import torch as gkt

    odd, problem = _sparse_and_nested()[layout]
    dense = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    calls = {
        "logits": [
            lambda: gk.gumbel_softmax(odd, rng=0),
            lambda: gk.gumbel_softmax(odd, hard=True, rng=0),
            lambda: gk.gumbel_max(odd, rng=0),
            lambda: gk.gumbel_top_k(odd, 2, rng=0),
            lambda: gk.relaxed_top_k(odd, 2, rng=0),
            lambda: gk.categorical(odd, sample_shape=4, rng=0),
            lambda: gk.sample_tokens(odd, rng=0, top_p=0.9),
            lambda: gk.filter_logits(odd, top_k=2),
            lambda: gk.conditional_gumbel(odd, 0, rng=0),
            lambda: gkd.RelaxedOneHotCategorical(odd, 0.5),
            lambda: gkd.RelaxedBernoulli(odd, 0.5),
            lambda: gkt.gumbel_softmax(odd),
        ],
        "log_alpha": [lambda: gkd.HardConcrete(odd)],
        "noise": [lambda: gk.gumbel_softmax(dense, noise=odd)],
        "mask": [lambda: gk.gumbel_max(dense, mask=odd, rng=0)],
    }
    if layout != "sparse_csr":  # a 2-d layout: no 1-d temperature per row
        row_tau = odd if layout == "nested" else dense[:, 0].abs().to_sparse()
        calls["tau"] = [lambda: gk.gumbel_softmax(dense, tau=row_tau, rng=0),
                        lambda: gkd.RelaxedOneHotCategorical(dense, row_tau)]
    for argument, made in calls.items():
        for call in made:
            with pytest.raises(TypeError) as raised:
                call()
            assert str(raised.value).startswith(f"{argument} must be a dense array; got "), (
                argument, str(raised.value))
            assert problem in str(raised.value), (argument, str(raised.value))


@pytest.mark.parametrize("tau", [0.5, 2.0, 1e-45])
def test_another_default_device_changes_no_cpu_sample(tau):
    # torch.set_default_device (here the meta device, as a context) must not move what
    # gumbelkit makes for CPU logits: the divisor of a float tau was made on the default
    # device, where a meta one left z undivided (tau < 1) or failed to combine (tau > 1).
    import gumbelkit.torch as gkt
    from gumbelkit.torch import distributions as tdist

    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    expected = gk.gumbel_softmax(logits, tau=tau, rng=5)
    frontend = gkt.gumbel_softmax(logits, tau, generator=torch.Generator().manual_seed(5))
    temperature = torch.tensor(0.5)
    family = tdist.RelaxedOneHotCategorical(temperature, logits=logits)
    drawn = family.rsample(generator=torch.Generator().manual_seed(6))
    with torch.device("meta"):
        sample = gk.gumbel_softmax(logits, tau=tau, rng=5)
        sample_frontend = gkt.gumbel_softmax(logits, tau,
                                             generator=torch.Generator().manual_seed(5))
        family_here = tdist.RelaxedOneHotCategorical(temperature, logits=logits)
        drawn_here = family_here.rsample(generator=torch.Generator().manual_seed(6))
    assert sample.device.type == "cpu"
    torch.testing.assert_close(sample, expected, rtol=0, atol=0)
    torch.testing.assert_close(sample_frontend, frontend, rtol=0, atol=0)
    assert drawn_here.device.type == "cpu"
    torch.testing.assert_close(drawn_here, drawn, rtol=0, atol=0)
