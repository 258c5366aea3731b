"""Tier 0: deterministic conformance on injected noise (docs/mathematics.md#test-tiers). No
statistics.

Every backend must turn the same Gumbel noise into the same samples. The reference is an
independent float64 NumPy computation from the same noise and the logits as the backend
stores them (rounded to their dtype): ``softmax((logits + G) / tau)``,
``one_hot(argmax(logits + G))`` and ``argmax(logits + G)``, and for gradients
``(1/tau) J(y) w`` with ``J(y) = diag(y) - y y^T``. Soft samples and gradients agree to a
tolerance derived from the dtypes; hard samples and indices agree exactly.

An exact comparison of the argmax needs ``logits + G`` to be exact in the compute dtype, or
a rounding-level near-tie could flip it on one side only. So the data lie on dyadic grids:
logits on multiples of 1/16 (1/4 for bfloat16) in [-4, 4], noise on multiples of 2**-12
in [-8, 24]. Every sum ``logits + G`` (and ``logits - 42 + G``) then has at most 19
significant bits and is exact in float32, the narrowest compute dtype.

Most tests share one logits shape: JAX compiles each operation once per shape, and new shapes
would dominate the run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit import _core
from gumbelkit.conformance.subjects import Subject
from gumbelkit.testing import reference_gumbel, reference_softmax

DTYPES = ["float16", "bfloat16", "float32", "float64"]
ROWS, CLASSES = 16, 6
SHAPE = (ROWS, CLASSES)

# Machine epsilon and smallest normal per dtype (NumPy has no bfloat16).
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}
TINY = {"float16": 2.0**-14, "bfloat16": 2.0**-126, "float32": 2.0**-126, "float64": 2.0**-1022}
# The largest finite values (bfloat16's is 3.39e38).
LARGEST = {"float16": 65504.0, "bfloat16": 3.38e38, "float32": 3.4e38, "float64": 1.7e308}

NOISE_STEP = 2.0**-12
TAUS = (0.1, 1.0, 5.0)
EXTREME_TAUS = (1e-30, 1e-3, 1.0, 1e3, 1e30)

# Values are what is tested here, not floating-point warnings: gumbelkit silences NumPy's
# warnings about its deliberate infinities (overflow to -inf at a tiny tau or between the
# largest logits), but a Dask graph computes later, outside that context (a documented Dask
# limitation), and a third-party adapter need not provide errstate().
pytestmark = [
    pytest.mark.filterwarnings(f"ignore:{message} encountered:RuntimeWarning")
    for message in ("overflow", "invalid value", "divide by zero")
]


def _compute(dtype: str) -> str:
    """The dtype gumbelkit computes in: float64 for float64, float32 otherwise."""
    return "float64" if dtype == "float64" else "float32"


def _case(seed: int, shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Dyadic logits of ``shape`` and standard Gumbel noise of the same shape."""
    rng = np.random.default_rng(seed)
    # bfloat16 has 8 significant bits: logits - 42 is exact only on multiples of 1/4.
    step = 0.25 if dtype == "bfloat16" else 1.0 / 16
    logits = np.clip(np.round(rng.normal(0.0, 1.5, shape) / step) * step, -4.0, 4.0)
    noise = np.clip(np.round(rng.gumbel(size=shape) / NOISE_STEP) * NOISE_STEP, -8.0, 24.0)
    return logits, noise


def _arrays(subject: Subject, logits: np.ndarray, noise: np.ndarray, dtype: str) -> tuple[Any, Any]:
    """The subject's logits in ``dtype`` and its noise in the compute dtype (never half)."""
    return subject.asarray(logits, dtype), subject.asarray(noise, _compute(dtype))


def _perturbed(subject: Subject, logits: Any, noise: Any, dtype: str) -> np.ndarray:
    """``logits + G`` from the values the subject holds, as float64, classes last.

    The sum is rounded to the compute dtype, as gumbelkit's is (IEEE addition is correctly
    rounded on every backend); on the dyadic grids it is exact anyway. A row whose maximum lies
    more than ``2**6`` from 0 (``2**35`` in float64) is first less its maximum, in the compute
    dtype (the numeric contract's "logits far from zero"; a difference that overflows is
    ``-inf``).
    """
    compute = _compute(dtype)
    x = subject.to_numpy(logits).astype(compute)
    peak = np.max(x, axis=-1, keepdims=True)
    limit = 2.0**35 if compute == "float64" else 2.0**6
    with np.errstate(over="ignore", invalid="ignore"):
        x = x - np.where(np.abs(peak) > limit, peak, 0).astype(compute)
    z = x + subject.to_numpy(noise).astype(compute)
    return np.asarray(z, dtype=np.float64)


def _one_hot(index: np.ndarray, num_classes: int, axis: int = -1) -> np.ndarray:
    axis %= index.ndim + 1
    classes = np.arange(num_classes).reshape([-1] + [1] * (index.ndim - axis))
    return np.asarray(np.expand_dims(index, axis) == classes, dtype=np.float64)


def _soft_tolerance(dtype: str, spread: float) -> tuple[float, float]:
    """``(rtol, atol)`` for a softmax whose scaled inputs span ``spread``.

    Rounding ``z / tau`` and ``exp`` costs a relative error of a few ulps of the compute
    dtype times the size of the exponent; the final cast to ``dtype`` adds half an ulp, and
    entries that underflow there are off by at most its smallest normal.
    """
    rtol = 8 * EPS[_compute(dtype)] * (2.0 + spread) + EPS[dtype]
    return rtol, TINY[dtype]


def _spread(z: np.ndarray, tau: float | np.ndarray, axis: int = -1) -> float:
    finite = np.where(np.isfinite(z), z, np.nan)
    width = (np.nanmax(finite, axis=axis, keepdims=True)
             - np.nanmin(finite, axis=axis, keepdims=True))
    return float(np.max(width / tau))


def _assert_soft_close(actual: np.ndarray, expected: np.ndarray, dtype: str, spread: float,
                       what: str) -> None:
    rtol, atol = _soft_tolerance(dtype, spread)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def _gradients(
    subject: Subject, loss: Callable[..., Any], *arrays: Any
) -> tuple[list[np.ndarray], Any]:
    """Differentiate ``loss(*arrays)``, which returns ``(scalar, aux)``.

    Returns the gradient with respect to each array and the forward value ``aux``, as NumPy.
    The array API has no autodiff, so each library's own API is called here.
    """
    if not subject.adapter.supports_autodiff:
        pytest.skip(f"{subject.name} has no autodiff")
    if array_api_compat.is_torch_array(arrays[0]):
        leaves = [a.detach().clone().requires_grad_(True) for a in arrays]
        value, aux = loss(*leaves)
        value.backward()
        # An input the loss does not use gets no .grad: its gradient is 0.
        grads = [leaf.grad if leaf.grad is not None else leaf.detach() * 0 for leaf in leaves]
    elif array_api_compat.is_jax_array(arrays[0]):
        import jax

        grads, aux = jax.grad(loss, argnums=tuple(range(len(arrays))), has_aux=True)(*arrays)
    else:
        pytest.skip(f"{subject.name} supports autodiff, but the conformance suite knows only "
                    "the gradient APIs of PyTorch and JAX: add a branch to _gradients")
    return [subject.to_numpy(g) for g in grads], None if aux is None else subject.to_numpy(aux)


# (logits shape, axis, sample_shape): rows; one logits row with several samples, whose noise
# has the output's shape; and the classes along the first axis.
CASES = {
    "rows": (SHAPE, -1, ()),
    "samples": ((CLASSES,), -1, (ROWS,)),
    "axis0": (SHAPE, 0, ()),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_samples_equal_the_float64_reference(subject, dtype, case, seed):
    """Soft, hard and index outputs on injected noise equal the NumPy reference."""
    subject.require(dtype)
    shape, axis, sample_shape = CASES[case]
    out_shape = sample_shape + shape
    out_axis = axis % len(shape) + len(sample_shape)
    logits_np, noise_np = _case(seed, out_shape, dtype)
    logits_np = logits_np[(0,) * len(sample_shape)]  # one set of logits, several samples
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    z = _perturbed(subject, logits, noise, dtype)
    index = np.argmax(z, axis=out_axis)
    one_hot = _one_hot(index, shape[axis], out_axis)
    options = {"axis": axis, "noise": noise, "sample_shape": sample_shape}

    got_index = gk.gumbel_max(logits, **options)
    np.testing.assert_array_equal(subject.to_numpy(got_index), index, err_msg="gumbel_max")
    for tau in TAUS:
        soft = gk.gumbel_softmax(logits, tau=tau, **options)
        hard = gk.gumbel_softmax(logits, tau=tau, hard=True, **options)
        assert soft.dtype == hard.dtype == logits.dtype
        assert tuple(soft.shape) == tuple(hard.shape) == out_shape
        _assert_soft_close(subject.to_numpy(soft), reference_softmax(z, out_axis, tau=tau), dtype,
                           _spread(z, tau, out_axis), f"soft sample at tau={tau}")
        np.testing.assert_array_equal(subject.to_numpy(hard), one_hot,
                                      err_msg=f"hard sample at tau={tau}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_per_row_temperatures_equal_the_reference(subject, dtype, seed):
    """An array ``tau`` divides each row by its own temperature; where the library
    differentiates, the gradients with respect to the logits and to ``tau`` are
    ``(1/tau) J(y) w`` and ``-(1/tau**2) (z - max z) . J(y) w`` per row."""
    subject.require(dtype)
    logits_np, noise_np = _case(seed, SHAPE, dtype)
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    tau = subject.asarray(np.geomspace(0.05, 100.0, ROWS), _compute(dtype))
    taus = subject.to_numpy(tau).astype(np.float64)[:, None]
    z = _perturbed(subject, logits, noise, dtype)
    y = reference_softmax(z, tau=taus)
    spread = _spread(z, taus)
    soft = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, noise=noise))
    _assert_soft_close(soft, y, dtype, spread, "soft sample with one tau per row")
    hard = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, hard=True, noise=noise))
    np.testing.assert_array_equal(hard, _one_hot(np.argmax(z, axis=-1), CLASSES))
    if not subject.adapter.supports_autodiff:
        return

    w_np = np.round(np.random.default_rng(seed + 1).uniform(-2, 2, SHAPE) * 4) / 4
    w = subject.asarray(w_np, dtype)

    def loss(x: Any, t: Any) -> Any:
        return subject.xp.sum(w * gk.gumbel_softmax(x, tau=t, noise=noise)), None

    (grad_logits, grad_tau), _ = _gradients(subject, loss, logits, tau)
    jw = y * w_np - y * np.sum(y * w_np, axis=-1, keepdims=True)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    rtol, atol = _soft_tolerance(dtype, spread)
    # As in test_gradients_equal_the_analytic_jacobian: errors bounded through those of y.
    scale = 4 * (rtol * y + atol) * np.max(np.abs(w_np)) / taus
    assert np.all(np.abs(grad_logits - jw / taus) <= scale), "logits gradient"
    expected_tau = -np.sum(shifted * jw, axis=-1) / taus[:, 0] ** 2
    bound = np.sum(np.abs(shifted) * scale, axis=-1) / taus[:, 0]
    assert np.all(np.abs(grad_tau - expected_tau) <= bound), (
        f"tau gradient {grad_tau}, expected {expected_tau}"
    )


@pytest.mark.parametrize("tau", [0.5, 2.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_equal_the_analytic_jacobian(subject, dtype, tau, seed):
    """d/dlogits of ``w_s . soft + w_h . hard`` is ``(1/tau) J(y) (w_s + w_h)``.

    The straight-through hard sample carries the soft sample's gradient, so both weights
    pass through the same Jacobian at the soft sample ``y``.
    """
    subject.require(dtype)
    logits_np, noise_np = _case(seed, SHAPE, dtype)
    rng = np.random.default_rng(seed + 1)
    # Weights on a grid of quarters in [-2, 2] are exact in every dtype.
    w_soft_np, w_hard_np = np.round(rng.uniform(-2, 2, (2, *SHAPE)) * 4) / 4
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    w_soft, w_hard = subject.asarray(w_soft_np, dtype), subject.asarray(w_hard_np, dtype)

    def loss(x: Any) -> Any:
        soft = gk.gumbel_softmax(x, tau=tau, noise=noise)
        hard = gk.gumbel_softmax(x, tau=tau, hard=True, noise=noise)
        return subject.xp.sum(w_soft * soft) + subject.xp.sum(w_hard * hard), None

    (grad,), _ = _gradients(subject, loss, logits)
    z = _perturbed(subject, logits, noise, dtype)
    y = reference_softmax(z, tau=tau)
    w = w_soft_np + w_hard_np
    expected = (y * w - y * np.sum(y * w, axis=-1, keepdims=True)) / tau
    rtol, atol = _soft_tolerance(dtype, _spread(z, tau))
    # Entry k is y_k (w_k - y.w) / tau: its error is bounded through the error of y (atol
    # covers a y_k that underflowed or was flushed to 0 as a subnormal, as XLA does).
    bound = 4 * (rtol * y + atol) * np.max(np.abs(w)) / tau
    assert np.all(np.abs(grad - expected) <= bound), (
        f"gradient differs from (1/tau) J(y) w by up to {np.max(np.abs(grad - expected)):.3g} "
        f"at tau={tau}:\n{grad}\nexpected\n{expected}"
    )


@pytest.mark.parametrize("noise_dtype", ["float32", "float64"])
def test_extreme_uniforms_give_the_finite_tail_caps(subject, noise_dtype):
    """The smallest normal and the largest float below 1 give finite noise
    (docs/mathematics.md#tail-caps)."""
    subject.require(noise_dtype)
    info = np.finfo(noise_dtype)
    u_np = np.array([info.smallest_normal, 1.0 - info.eps / 2])
    u = subject.asarray(u_np, noise_dtype)
    noise = subject.to_numpy(_core.gumbel_from_uniform(u, subject.xp))
    caps = reference_gumbel(u_np)  # float64 on the same uniforms
    assert np.all(np.isfinite(noise)), f"noise {noise} from uniforms {u_np}"
    np.testing.assert_allclose(noise, caps, rtol=4 * info.eps)


def _extreme_noise(dtype: str) -> np.ndarray:
    """ROWS rows of noise at the tail caps of the compute dtype, in every pattern."""
    info = np.finfo(_compute(dtype))
    low, high = reference_gumbel([info.smallest_normal, 1.0 - info.eps / 2])
    first = np.arange(CLASSES) == 0
    patterns = [np.zeros(CLASSES, bool), np.ones(CLASSES, bool), np.arange(CLASSES) % 2 == 0,
                np.arange(CLASSES) % 2 == 1]
    patterns += [np.roll(first, k) for k in range(CLASSES)]
    patterns += [~np.roll(first, k) for k in range(CLASSES)]
    return np.asarray(np.where(np.stack(patterns[:ROWS]), high, low))


def _extreme_logits(dtype: str) -> np.ndarray:
    """Rows of finite logits, up to the largest of ``dtype``.

    The difference of two opposite largest logits overflows to -inf in the compute dtype and
    must then act as a mask, not produce NaN.
    """
    big = LARGEST[dtype]
    return np.array([np.zeros(CLASSES), np.arange(CLASSES, dtype=np.float64),
                     [big, -big, 0.0, 1.0, -1.0, 0.5], [-big] * 5 + [big],
                     [big / 2, big / 2, -big / 2, 1.0, 0.0, -1.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_noise_gives_finite_samples(subject, dtype):
    """Noise at both tail caps, the largest logits and extreme temperatures stay finite.

    Finite logits never give NaN or inf (the numeric contract); the outputs are still a point
    of the simplex, a one-hot and a valid index, equal to the reference.
    """
    subject.require(dtype)
    noise_np = _extreme_noise(dtype)
    for row in _extreme_logits(dtype):
        logits_np = np.tile(row, (ROWS, 1))
        logits, noise = _arrays(subject, logits_np, noise_np, dtype)
        z = _perturbed(subject, logits, noise, dtype)
        index = subject.to_numpy(gk.gumbel_max(logits, noise=noise))
        where = f"logits {logits_np[0]}"
        np.testing.assert_array_equal(index, np.argmax(z, axis=-1), err_msg=where)
        for tau in EXTREME_TAUS:
            soft = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, noise=noise))
            hard = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, hard=True, noise=noise))
            where = f"logits {logits_np[0]}, tau={tau}"
            assert np.all(np.isfinite(soft)), f"soft sample not finite for {where}:\n{soft}"
            assert np.all((soft >= 0) & (soft <= 1)), where
            np.testing.assert_allclose(soft.sum(axis=-1), 1.0, atol=4 * EPS[dtype],
                                       err_msg=where)
            np.testing.assert_array_equal(hard, _one_hot(index, CLASSES), err_msg=where)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_noise_gives_finite_gradients(subject, dtype):
    """The backward pass at the tail caps, the largest logits and extreme temperatures has no
    NaN or inf.

    The smallest tau is 1e-3: near 0, tied entries have a true gradient of order 1/tau, which
    overflows float16 legitimately. Each row pairs one noise pattern with one logits row (one
    call per tau: eager JAX differentiates slowly).
    """
    subject.require(dtype)
    noise_np = _extreme_noise(dtype)
    rows = _extreme_logits(dtype)
    logits_np = rows[np.arange(ROWS) % len(rows)]
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    weights = subject.asarray(np.tile(np.arange(float(CLASSES)), (ROWS, 1)), dtype)
    for tau in (1e-3, 1.0, 1e30):
        def loss(x: Any, tau: float = tau) -> Any:
            soft = gk.gumbel_softmax(x, tau=tau, noise=noise)
            hard = gk.gumbel_softmax(x, tau=tau, hard=True, noise=noise)
            return subject.xp.sum(soft * weights) + subject.xp.sum(hard * weights), None

        (grad,), _ = _gradients(subject, loss, logits)
        assert np.all(np.isfinite(grad)), f"gradient not finite at tau={tau}:\n{grad}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_shift_invariance(subject, dtype, seed):
    """``logits - 42`` leaves soft and hard samples and indices unchanged
    (docs/mathematics.md#shift-invariance).

    On the dyadic grid ``logits - 42 + G`` is exact, so hard samples compare exactly.
    """
    subject.require(dtype)
    logits_np, noise_np = _case(seed, SHAPE, dtype)
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    shifted = subject.asarray(logits_np - 42.0, dtype)
    np.testing.assert_array_equal(subject.to_numpy(shifted), logits_np - 42.0)
    z = logits_np + noise_np
    np.testing.assert_array_equal(subject.to_numpy(gk.gumbel_max(shifted, noise=noise)),
                                  subject.to_numpy(gk.gumbel_max(logits, noise=noise)))
    for tau in TAUS:
        for hard in (False, True):
            a = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=noise))
            b = subject.to_numpy(gk.gumbel_softmax(shifted, tau=tau, hard=hard, noise=noise))
            what = f"{'hard' if hard else 'soft'} sample at tau={tau}"
            if hard:
                np.testing.assert_array_equal(b, a, err_msg=what)
            else:
                _assert_soft_close(b, a, dtype, _spread(z, tau), what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_forward_is_exactly_one_hot(subject, dtype, seed):
    """The straight-through forward value is exactly ``one_hot(argmax(logits + G))``.

    Exact zeros and ones, one 1 per row, ties to the first index, equal to the one-hot of
    ``gumbel_max`` on the same noise; also while the logits are being differentiated.
    """
    subject.require(dtype)
    logits_np, noise_np = _case(seed, SHAPE, dtype)
    # Ties: the first of the tied largest entries wins.
    logits_np[:2] = [0.0, 1.0, 0.5, 1.0, 1.0, -1.0]
    noise_np[:2] = 0.0
    noise_np[1, 4] = 0.5
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    index = np.argmax(logits_np + noise_np, axis=-1)
    assert list(index[:2]) == [1, 4]
    expected = _one_hot(index, CLASSES)
    np.testing.assert_array_equal(subject.to_numpy(gk.gumbel_max(logits, noise=noise)), index)
    for tau in (1e-3, *TAUS):
        hard = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, hard=True, noise=noise))
        np.testing.assert_array_equal(hard, expected, err_msg=f"tau={tau}")
        assert np.all(hard.sum(axis=-1) == 1.0)

    if subject.adapter.supports_autodiff:
        # The forward value while differentiating: hard + (soft - stop_gradient(soft)).
        def loss(x: Any) -> Any:
            hard = gk.gumbel_softmax(x, tau=0.5, hard=True, noise=noise)
            return subject.xp.sum(hard), hard

        (grad,), hard = _gradients(subject, loss, logits)
        np.testing.assert_array_equal(hard, expected, err_msg="forward value under autodiff")
        # A one-hot sums to 1 whatever the logits, and so does the soft sample behind it.
        np.testing.assert_allclose(grad, 0.0, atol=64 * EPS[dtype])


@pytest.mark.parametrize("num_classes", [CLASSES, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_relaxed_samples_sum_to_one(subject, dtype, num_classes, seed):
    """Soft samples lie on the simplex: entries in [0, 1], rows summing to 1."""
    subject.require(dtype)
    rng = np.random.default_rng(seed)
    logits_np = rng.normal(0.0, 3.0, (ROWS, num_classes))
    logits, noise = _arrays(subject, logits_np, rng.gumbel(size=(ROWS, num_classes)), dtype)
    # The compute-dtype sum of K terms is off by at most K ulps; the cast adds half an ulp
    # of the output dtype per entry.
    tolerance = num_classes * EPS[_compute(dtype)] + EPS[dtype]
    for tau in (0.01, *TAUS, 100.0):
        soft = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, noise=noise))
        assert np.all((soft >= 0) & (soft <= 1))
        np.testing.assert_allclose(soft.astype(np.float64).sum(axis=-1), 1.0, rtol=0,
                                   atol=tolerance, err_msg=f"tau={tau}")


@pytest.mark.parametrize("per_row_tau", [False, True], ids=["float-tau", "array-tau"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_classes_get_exact_zeros(subject, dtype, per_row_tau, seed):
    """A ``-inf`` logit has probability exactly 0, is never drawn, and gets gradient 0."""
    subject.require(dtype)
    logits_np, noise_np = _case(seed, SHAPE, dtype)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, 0] = True  # a masked first class
    mask[1, 1:5] = True  # one class left
    mask[2, ::2] = True
    mask[3, -1] = True
    logits_np[mask] = -np.inf
    # The largest noise on a masked class must not make it win.
    noise_np[mask] = reference_gumbel(1.0 - np.finfo(_compute(dtype)).eps / 2)
    logits, noise = _arrays(subject, logits_np, noise_np, dtype)
    index = subject.to_numpy(gk.gumbel_max(logits, noise=noise))
    np.testing.assert_array_equal(index, np.argmax(logits_np + noise_np, axis=-1))
    assert not np.any(mask[np.arange(ROWS), index])
    weights = subject.asarray(np.tile(np.arange(float(CLASSES)), (ROWS, 1)), dtype)
    for tau_value in (1e-3, 1.0, 1e3):
        tau = (subject.asarray(np.full(ROWS, tau_value), _compute(dtype)) if per_row_tau
               else tau_value)
        for hard in (False, True):
            out = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, hard=hard, noise=noise))
            where = f"hard={hard}, tau={tau_value}"
            assert np.all(np.isfinite(out)), f"{where}:\n{out}"
            assert np.all(out[mask] == 0.0), f"{where}:\n{out}"
        if not subject.adapter.supports_autodiff:
            continue

        def loss(x: Any, *t: Any, tau: Any = tau) -> Any:
            tau = t[0] if t else tau
            soft = gk.gumbel_softmax(x, tau=tau, noise=noise)
            hard = gk.gumbel_softmax(x, tau=tau, hard=True, noise=noise)
            return subject.xp.sum(soft * weights) + subject.xp.sum(hard * weights), None

        # Differentiate an array tau too: masked entries must stay out of its gradient.
        grads, _ = _gradients(subject, loss, logits, *([tau] if per_row_tau else []))
        where = f"tau={tau_value}"
        assert np.all(np.isfinite(grads[0])), f"{where}:\n{grads[0]}"
        assert np.all(grads[0][mask] == 0.0), f"{where}:\n{grads[0]}"
        if per_row_tau:
            assert np.all(np.isfinite(grads[1])), f"{where}: tau gradient {grads[1]}"


# Thousands of rows, a count that is no multiple of the block sizes libraries cut work into
# (vector lanes, threads, chunks), so that a fast path wrong in one block of rows shows.
MANY_ROWS, MANY_CLASSES = 4099, 37


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_index_path_equals_argmax_on_thousands_of_rows(
    subject: Subject, dtype: str, seed: int
) -> None:
    # gumbel_max, hard samples (with and without a gradient where the library has one) and
    # gumbel_top_k with k = 1 all name argmax(logits + G) of the same noise, in every row.
    subject.require(dtype)
    logits, noise = _case(seed, (MANY_ROWS, MANY_CLASSES), dtype)
    x, g = _arrays(subject, logits, noise, dtype)
    expected = np.argmax(_perturbed(subject, x, g, dtype), axis=-1)
    paths = {
        "gumbel_max": subject.to_numpy(gk.gumbel_max(x, noise=g)),
        "hard": np.argmax(subject.to_numpy(gk.gumbel_softmax(x, hard=True, noise=g)), axis=-1),
        "gumbel_top_k": subject.to_numpy(gk.gumbel_top_k(x, 1, noise=g))[:, 0],
        "hard, classes first": np.argmax(
            subject.to_numpy(gk.gumbel_softmax(subject.asarray(logits.T, dtype), hard=True,
                                               noise=subject.asarray(noise.T, _compute(dtype)),
                                               axis=0)), axis=0),
    }
    for name, index in paths.items():
        wrong = np.flatnonzero(index != expected)
        assert wrong.size == 0, (
            f"{name} differs from argmax(logits + G) in {wrong.size} of {MANY_ROWS} rows, "
            f"first row {wrong[:1].tolist()}"
        )


# Every sampler's own draw, against the sampler on the noise gumbel draws from the same seed.
OWN_NOISE_SAMPLERS: dict[str, Callable[..., Any]] = {
    "gumbel_max": lambda x, **kw: gk.gumbel_max(x, **kw),
    "hard": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, hard=True, **kw),
    "soft": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, **kw),
    "gumbel_top_k, k = 5": lambda x, **kw: gk.gumbel_top_k(x, 5, **kw),
    "relaxed_top_k, hard": lambda x, **kw: gk.relaxed_top_k(x, 5, tau=0.5, hard=True, **kw),
}


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_samplers_draw_the_noise_that_gumbel_draws(subject: Subject, dtype: str, seed: int) -> None:
    # The noise's tail is checked on gumbel (test_tails.py); each sampler inherits it only if
    # the noise it draws for itself is that noise. So a sampler's own draw must equal the same
    # sampler given gumbel's noise of the output's shape, in the compute dtype, from the same
    # seed: 4,099 rows, enough that about 50 noise values fall in the redrawn sliver.
    subject.require(dtype)
    logits, _ = _case(seed, (MANY_ROWS, MANY_CLASSES), dtype)
    x = subject.asarray(logits, dtype)
    for name, sampler in OWN_NOISE_SAMPLERS.items():
        own = sampler(x, sample_shape=2, rng=seed)
        noise = gk.gumbel((2, MANY_ROWS, MANY_CLASSES), dtype=subject.dtype(_compute(dtype)),
                          rng=seed, xp=subject.xp)
        given = sampler(x, sample_shape=2, noise=noise)
        np.testing.assert_array_equal(subject.to_numpy(own), subject.to_numpy(given),
                                      err_msg=f"{name} draws other noise than gumbel")
