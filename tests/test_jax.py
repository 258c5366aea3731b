"""JAX-specific behaviour: jit, vmap, grad/jacfwd/jacrev, keys, -inf masks, low precision.

Expected values come from float64 NumPy formulas (softmax, the Jacobian J(y)/tau), central finite
differences, and JAX's own key semantics, never from gumbelkit's results in another mode, except
where the property under test is the agreement itself (jit == eager, vmap == per-row call).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed")

import jax.numpy as jnp  # noqa: E402
from helpers import (  # noqa: E402
    MASKED_ROWS,
    ROW_TEMPERATURES,
    np_softmax,
    tempered_sum_gradients,
    to_numpy,
)

import gumbelkit as gk  # noqa: E402
from gumbelkit.distributions import RelaxedOneHotCategorical  # noqa: E402

# float64 gradients need x64; set here so the result does not depend on test order.
jax.config.update("jax_enable_x64", True)

NINF = -np.inf
LOGITS = np.array(
    [
        [0.3, -1.2, 0.8, 0.1, -0.4],
        [1.5, 0.2, -0.7, 0.0, 0.9],
        [-0.5, -0.5, 2.0, 0.4, -1.1],
    ]
)
TAUS = np.array([0.4, 1.0, 2.5])
# Eager JAX compiles each primitive once per shape, and jax.random's compile time grows with
# the rank of the draw, so the tests share a few 2-d shapes: (3, 5) and (SAMPLES, 5).
SAMPLES = 600


def np_noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Standard Gumbel noise from NumPy's own sampler (float64)."""
    return np.random.default_rng(seed).gumbel(size=shape)


def jacobian_rows(y: np.ndarray, tau: np.ndarray | float) -> np.ndarray:
    """Return d softmax(z/tau)/dz as a block-diagonal (B, K, B, K) array: J(y_b)/tau_b per row."""
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), y.shape[:1])
    rows, k = y.shape
    jac = np.zeros((rows, k, rows, k))
    for b in range(rows):
        jac[b, :, b, :] = (np.diag(y[b]) - np.outer(y[b], y[b])) / tau[b]
    return jac


def central_differences(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Return d fn / d x by central differences, shape ``fn(x).shape + x.shape`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    out_shape = np.shape(fn(x))
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        jac[(..., *index)] = (np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * h)
    return jac


def one_hot_np(index: np.ndarray, k: int) -> np.ndarray:
    return (index[..., None] == np.arange(k)).astype(np.float64)


# --- 1. jax.jit -------------------------------------------------------------------------------


def test_jit_matches_eager_for_every_sampler():
    # float64, whose eager primitives the other tests share; float32 under jit is tested below.
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    tau_rows = jnp.asarray(TAUS, dtype=jnp.float64)
    key = jax.random.key(11)

    def sample(logits, key, tau_rows):
        return (
            gk.gumbel_softmax(logits, tau=0.5, rng=key),
            gk.gumbel_softmax(logits, tau=0.5, hard=True, rng=key),
            gk.gumbel_softmax(logits, tau=tau_rows, rng=key),
            gk.gumbel_max(logits, rng=key),
            gk.gumbel((3, 5), dtype=jnp.float64, rng=key),
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with jax.checking_leaks():
            jitted = jax.jit(sample)(logits, key, tau_rows)
        eager = sample(logits, key, tau_rows)
    soft, hard, soft_rows, index, noise = jitted
    for got, want in zip(jitted, eager, strict=True):
        assert isinstance(got, jax.Array)
        assert got.dtype == want.dtype
        assert got.shape == want.shape
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12, atol=1e-15)
    # Same key, same noise: the hard sample and the index are argmax(logits + G) (MATH F1), so
    # they agree with the soft sample's argmax and are exactly one-hot.
    np.testing.assert_array_equal(to_numpy(index), np.argmax(to_numpy(soft), axis=-1))
    np.testing.assert_array_equal(to_numpy(hard), one_hot_np(to_numpy(index), 5))
    np.testing.assert_allclose(to_numpy(soft).sum(-1), 1.0, rtol=1e-12)
    # Same noise at another temperature: softmax(z / t) = softmax(0.5 * log(y_0.5) / t).
    rescaled = np_softmax(0.5 * np.log(to_numpy(soft)) / TAUS[:, None])
    np.testing.assert_allclose(to_numpy(soft_rows), rescaled, rtol=1e-10)
    assert np.isfinite(to_numpy(noise)).all()


def test_jit_with_static_int_seed_equals_key_of_that_seed():
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)

    def sample(logits, seed):
        return gk.gumbel_softmax(logits, tau=0.7, rng=seed), gk.gumbel_max(logits, rng=seed)

    jitted = jax.jit(sample, static_argnums=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft, index = jitted(logits, 5)
    soft_other, _ = sample(logits, 6)
    key = jax.random.key(5)
    np.testing.assert_allclose(
        to_numpy(soft), to_numpy(gk.gumbel_softmax(logits, tau=0.7, rng=key)), rtol=1e-12
    )
    np.testing.assert_array_equal(to_numpy(index), to_numpy(gk.gumbel_max(logits, rng=key)))
    assert not np.allclose(to_numpy(soft), to_numpy(soft_other))


# --- 2. jax.vmap ------------------------------------------------------------------------------


def test_jit_grad_of_filtered_logits_with_a_masked_class():
    # Under jit the temperature is a constant of the trace: the traced division's derivative
    # at the -inf entry (inf times 0) gave NaN at the row's maximum and in the temperature's
    # gradient. The expected gradients: tempered_sum_gradients.

    def loss(logits, t):
        out = gk.filter_logits(logits, temperature=t)
        return jnp.where(jnp.isfinite(out), out, 0.0).sum()

    expected, expected_t = tempered_sum_gradients(MASKED_ROWS, ROW_TEMPERATURES)
    logits, t = jnp.asarray(MASKED_ROWS), jnp.asarray(ROW_TEMPERATURES)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(logits, t), expected, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.grad(loss, argnums=1))(logits, t), expected_t,
                               rtol=1e-12)
    one = jax.jit(jax.grad(lambda logits: loss(logits, 0.5)))(logits)
    np.testing.assert_allclose(one, tempered_sum_gradients(MASKED_ROWS, 0.5)[0], rtol=1e-12)


@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey], ids=["typed", "raw"])
def test_vmap_over_logits_and_keys_equals_per_row_calls(make_key):
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    keys = jax.random.split(make_key(3), logits.shape[0])

    def sample(row, key):
        return (
            gk.gumbel_softmax(row, tau=0.5, rng=key),
            gk.gumbel_softmax(row, tau=0.5, hard=True, rng=key),
            gk.gumbel_max(row, rng=key),
            gk.gumbel((5,), dtype=jnp.float64, rng=key),
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batched = jax.vmap(sample)(logits, keys)
    for i in range(logits.shape[0]):
        for got, want in zip(batched, sample(logits[i], keys[i]), strict=True):
            np.testing.assert_allclose(to_numpy(got[i]), to_numpy(want), rtol=1e-12)
    # Different keys per row give different noise.
    noise = to_numpy(batched[3])
    assert not np.allclose(noise[0], noise[1])


def test_typed_and_raw_keys_of_one_seed_give_the_same_sample():
    # jax.random.key(s) and jax.random.PRNGKey(s) hold the same threefry key data.
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    typed = gk.gumbel_softmax(logits, rng=jax.random.key(9))
    raw = gk.gumbel_softmax(logits, rng=jax.random.PRNGKey(9))
    np.testing.assert_array_equal(to_numpy(typed), to_numpy(raw))


def test_vmap_over_per_row_tau_equals_float_tau_calls():
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(4), logits.shape[0])
    taus = jnp.asarray(TAUS, dtype=jnp.float64)
    batched = jax.vmap(lambda row, tau, key: gk.gumbel_softmax(row, tau=tau, rng=key))(
        logits, taus, keys
    )
    for i in range(logits.shape[0]):
        want = gk.gumbel_softmax(logits[i], tau=float(TAUS[i]), rng=keys[i])
        np.testing.assert_allclose(to_numpy(batched[i]), to_numpy(want), rtol=1e-12)


# --- 3. gradients with injected noise, float64 -------------------------------------------------


TAU = 0.7
NOISE = np_noise(LOGITS.shape, 1)
WEIGHTS = np.random.default_rng(2).normal(size=LOGITS.shape)
Y_REF = np_softmax((LOGITS + NOISE) / TAU)


def soft_np(logits: np.ndarray, tau: float | np.ndarray = TAU, hard: bool = False) -> np.ndarray:
    """Evaluate gumbelkit eagerly on float64 NumPy input with the fixed noise."""
    out = gk.gumbel_softmax(
        jnp.asarray(logits, dtype=jnp.float64),
        tau=tau if np.isscalar(tau) else jnp.asarray(tau, dtype=jnp.float64),
        noise=jnp.asarray(NOISE, dtype=jnp.float64),
        hard=hard,
    )
    return to_numpy(out)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_jacobian_matches_analytic_and_finite_differences(hard):
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    noise = jnp.asarray(NOISE, dtype=jnp.float64)

    def sample(logits):
        return gk.gumbel_softmax(logits, tau=TAU, noise=noise, hard=hard)

    analytic = jacobian_rows(Y_REF, TAU)
    # Straight-through: the hard sample's Jacobian is the soft sample's (finite differences
    # of the soft sample; those of the hard sample are 0 almost everywhere).
    numeric = central_differences(soft_np, LOGITS)
    np.testing.assert_allclose(numeric, analytic, atol=1e-8)
    # Forward mode jitted (one compilation), reverse mode eager.
    for transform in (lambda f: jax.jit(jax.jacfwd(f)), jax.jacrev):
        jac = to_numpy(transform(sample)(logits))
        np.testing.assert_allclose(jac, analytic, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(jac, numeric, atol=1e-8)


def test_hard_forward_is_one_hot_and_grad_is_the_soft_vjp():
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    noise = jnp.asarray(NOISE, dtype=jnp.float64)
    weights = jnp.asarray(WEIGHTS, dtype=jnp.float64)

    def loss(logits, hard):
        return jnp.sum(weights * gk.gumbel_softmax(logits, tau=TAU, noise=noise, hard=hard))

    hard = gk.gumbel_softmax(logits, tau=TAU, noise=noise, hard=True)
    np.testing.assert_array_equal(
        to_numpy(hard), one_hot_np(np.argmax(LOGITS + NOISE, axis=-1), LOGITS.shape[1])
    )
    # VJP of softmax(z/tau) with cotangent w: (y * w - y * (y . w)) / tau.
    y = Y_REF
    vjp = (y * WEIGHTS - y * np.sum(y * WEIGHTS, axis=-1, keepdims=True)) / TAU
    grad = jax.grad(loss)
    np.testing.assert_allclose(to_numpy(grad(logits, False)), vjp, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_numpy(grad(logits, True)), vjp, rtol=1e-10, atol=1e-14)
    jitted = jax.jit(grad, static_argnums=1)(logits, True)
    np.testing.assert_allclose(to_numpy(jitted), vjp, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_grad_wrt_per_row_tau_matches_finite_differences(hard):
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    noise = jnp.asarray(NOISE, dtype=jnp.float64)
    weights = jnp.asarray(WEIGHTS, dtype=jnp.float64)

    def loss(tau):
        return jnp.sum(weights * gk.gumbel_softmax(logits, tau=tau, noise=noise, hard=hard))

    # d softmax(z/tau)/d tau = -J(y) z / tau**2, row by row.
    z = LOGITS + NOISE
    y = np_softmax(z / TAUS[:, None])
    jz = y * z - y * np.sum(y * z, axis=-1, keepdims=True)
    analytic = -np.sum(WEIGHTS * jz, axis=-1) / TAUS**2
    numeric = central_differences(lambda t: np.sum(WEIGHTS * soft_np(LOGITS, t)), TAUS)
    np.testing.assert_allclose(numeric, analytic, rtol=1e-7, atol=1e-9)
    taus = jnp.asarray(TAUS, dtype=jnp.float64)
    got = to_numpy(jax.grad(loss)(taus))
    np.testing.assert_allclose(got, analytic, rtol=1e-10, atol=1e-14)


# --- 4. -inf masks ----------------------------------------------------------------------------


MASKED = np.array(
    [
        [0.3, NINF, 0.8, 0.1, NINF],
        [NINF, 0.2, -0.7, 0.0, 0.9],
        [-0.5, -0.5, 2.0, 0.4, -1.1],
    ]
)


def test_masked_class_is_never_drawn_and_has_probability_zero():
    # SAMPLES / 3 independent copies of each row of MASKED.
    tiled = np.tile(MASKED, (SAMPLES // 3, 1))
    logits = jnp.asarray(tiled, dtype=jnp.float64)
    key = jax.random.key(21)
    mask = np.isinf(tiled)

    def sample(logits, key):
        return (
            gk.gumbel_max(logits, rng=key),
            gk.gumbel_softmax(logits, tau=0.3, rng=key),
            gk.gumbel_softmax(logits, tau=0.3, hard=True, rng=key),
        )

    def sample_jit(logits, key):
        # One noise draw shared by the three samplers keeps the compiled program small.
        noise = gk.gumbel(tiled.shape, dtype=jnp.float64, rng=key)
        return (
            gk.gumbel_max(logits, noise=noise),
            gk.gumbel_softmax(logits, tau=0.3, noise=noise),
            gk.gumbel_softmax(logits, tau=0.3, hard=True, noise=noise),
        )

    for index, soft, hard in (sample(logits, key), jax.jit(sample_jit)(logits, key)):
        index = to_numpy(index)
        assert not np.take_along_axis(mask, index[:, None], axis=-1).any()
        # Every unmasked class of the 3 rows does get drawn.
        for row in range(3):
            drawn = set(np.unique(index[row::3]))
            assert drawn == set(np.flatnonzero(~np.isinf(MASKED[row])))
        for out in (to_numpy(soft), to_numpy(hard)):
            assert np.isfinite(out).all()
            assert (out[mask] == 0.0).all()


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_masked_gradient_is_exactly_zero_and_finite(hard):
    logits = jnp.asarray(MASKED, dtype=jnp.float64)
    noise = jnp.asarray(NOISE, dtype=jnp.float64)
    weights = jnp.asarray(WEIGHTS, dtype=jnp.float64)

    def sample(logits):
        return gk.gumbel_softmax(logits, tau=TAU, noise=noise, hard=hard)

    def loss(logits):
        return jnp.sum(weights * sample(logits))

    # NumPy's softmax gives the masked classes y = 0, so J(y) has zero rows and columns there.
    analytic = jacobian_rows(np_softmax((MASKED + NOISE) / TAU), TAU)
    vjp = np.einsum("bk,bkcj->cj", WEIGHTS, analytic)
    mask = np.isinf(MASKED)
    for transform in (jax.jacfwd, jax.jacrev):
        jac = to_numpy(transform(sample)(logits))
        assert np.isfinite(jac).all()
        assert (jac[..., mask] == 0.0).all()
        assert (jac[mask] == 0.0).all()
        np.testing.assert_allclose(jac, analytic, rtol=1e-10, atol=1e-13)
    for grad in (jax.grad(loss), jax.jit(jax.grad(loss))):
        got = to_numpy(grad(logits))
        assert np.isfinite(got).all()
        assert (got[mask] == 0.0).all()
        np.testing.assert_allclose(got, vjp, rtol=1e-10, atol=1e-14)


def test_masked_gradient_wrt_per_row_tau_is_finite():
    # A masked entry must stay out of the division by tau: there the tau cotangent would be
    # 0 * -inf = NaN (reverse mode), and the tau tangent would poison jacfwd (forward mode).
    logits = jnp.asarray(MASKED, dtype=jnp.float64)
    noise = jnp.asarray(NOISE, dtype=jnp.float64)
    weights = jnp.asarray(WEIGHTS, dtype=jnp.float64)
    taus = jnp.asarray(TAUS, dtype=jnp.float64)

    def loss(logits, tau):
        return jnp.sum(weights * gk.gumbel_softmax(logits, tau=tau, noise=noise))

    # -J(y) z / tau**2 with y = 0 on masked classes, so their z (-inf) does not contribute.
    z = MASKED + NOISE
    y = np_softmax(z / TAUS[:, None])
    z0 = np.where(np.isinf(z), 0.0, z)
    jz = y * z0 - y * np.sum(y * z0, axis=-1, keepdims=True)
    analytic = -np.sum(WEIGHTS * jz, axis=-1) / TAUS**2
    for transform in (jax.grad, jax.jacfwd):
        grad_logits, grad_tau = transform(loss, argnums=(0, 1))(logits, taus)
        assert np.isfinite(to_numpy(grad_logits)).all()
        np.testing.assert_allclose(to_numpy(grad_tau), analytic, rtol=1e-10, atol=1e-14)


# --- 5. keys ----------------------------------------------------------------------------------


def test_rng_none_raises_type_error_asking_for_a_key():
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    calls = (
        lambda: gk.gumbel_softmax(logits),
        lambda: gk.gumbel_max(logits),
        lambda: gk.gumbel((3, 5), dtype=jnp.float64, xp=jnp),
    )
    for call in calls:
        with pytest.raises(TypeError, match=r"\brng\b") as info:
            call()
        message = str(info.value)
        assert "key" in message
        assert "JAX" in message


@pytest.mark.parametrize(
    "rng",
    [
        np.random.default_rng(0),
        jnp.asarray([0.5, 0.5], dtype=jnp.float32),
        np.asarray([0.5, 0.5]),
        1.5,
        True,
        np.asarray([0, 1], dtype=np.uint32),  # raw key data, but a NumPy array
        jnp.asarray([0, 1, 2], dtype=jnp.uint32),  # uint32, not a key shape
    ],
    ids=["numpy-generator", "jax-float", "numpy-float", "float", "bool", "numpy-uint32",
         "uint32-len3"],
)
def test_wrong_rng_kind_raises_type_error_naming_rng(rng):
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    with pytest.raises(TypeError, match=r"\brng\b"):
        gk.gumbel_softmax(logits, rng=rng)
    with pytest.raises(TypeError, match=r"\brng\b"):
        gk.gumbel_max(logits, rng=rng)


def test_negative_seed_raises_value_error_naming_rng():
    with pytest.raises(ValueError, match=r"\brng\b"):
        gk.gumbel_max(jnp.asarray(LOGITS, dtype=jnp.float64), rng=-1)


def test_same_key_same_output_and_different_keys_differ():
    logits = jnp.asarray(LOGITS[0], dtype=jnp.float64)
    a = gk.gumbel_softmax(logits, rng=jax.random.key(1), sample_shape=SAMPLES)
    b = gk.gumbel_softmax(logits, rng=jax.random.key(1), sample_shape=SAMPLES)
    c = gk.gumbel_softmax(logits, rng=jax.random.key(2), sample_shape=SAMPLES)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert not np.any(to_numpy(a) == to_numpy(c))
    # Independent samples inside one call differ too.
    assert not np.any(to_numpy(a)[0] == to_numpy(a)[1])
    index_a = gk.gumbel_max(logits, rng=jax.random.key(1), sample_shape=SAMPLES)
    index_c = gk.gumbel_max(logits, rng=jax.random.key(2), sample_shape=SAMPLES)
    assert not np.array_equal(to_numpy(index_a), to_numpy(index_c))


@pytest.mark.parametrize("seed", [0, 7, np.int64(7), 2**31 + 3, 2**40 + 1, 2**63 - 1])
def test_int_seed_behaves_as_jax_random_key(seed):
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    key = jax.random.key(int(seed))
    pairs = (
        (gk.gumbel_softmax(logits, tau=0.5, rng=seed), gk.gumbel_softmax(logits, tau=0.5, rng=key)),
        (gk.gumbel_max(logits, rng=seed), gk.gumbel_max(logits, rng=key)),
        (gk.gumbel((3, 5), dtype=jnp.float64, rng=seed, xp=jnp),
         gk.gumbel((3, 5), dtype=jnp.float64, rng=key)),
    )
    for by_seed, by_key in pairs:
        np.testing.assert_array_equal(to_numpy(by_seed), to_numpy(by_key))


@pytest.mark.parametrize("seed", [2**63, 2**64 - 1])
def test_int_seed_in_the_upper_half_of_uint64_works_or_is_rejected_by_name(seed):
    # jax.random.key takes a signed 64-bit seed and raises OverflowError above it. Either
    # resolution keeps the contract: a reproducible sample, or a ValueError naming rng.
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    try:
        first = gk.gumbel_softmax(logits, rng=seed)
    except ValueError as exc:
        message = str(exc)
    else:
        message = None
    if message is not None:
        assert "rng" in message
        return
    again = gk.gumbel_softmax(logits, rng=seed)
    other = gk.gumbel_softmax(logits, rng=seed - 1)
    assert np.isfinite(to_numpy(first)).all()
    np.testing.assert_array_equal(to_numpy(first), to_numpy(again))
    assert not np.array_equal(to_numpy(first), to_numpy(other))


# --- 6. validate ------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", [gk.gumbel_softmax, gk.gumbel_max], ids=["softmax", "max"])
def test_validate_under_a_trace_raises_type_error(sampler):
    # Finite logits: the check must fail because it cannot read traced data, not pass silently.
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    key = jax.random.key(0)
    with pytest.raises(TypeError, match=r"trace.*validate=False"):
        jax.jit(lambda x, k: sampler(x, rng=k, validate=True))(logits, key)
    keys = jax.random.split(key, logits.shape[0])
    with pytest.raises(TypeError, match=r"trace.*validate=False"):
        jax.vmap(lambda x, k: sampler(x, rng=k, validate=True))(logits, keys)
    # Eager, the same call reads the data and passes.
    assert sampler(logits, rng=key, validate=True).shape[0] == logits.shape[0]


@pytest.mark.parametrize("bad", [np.nan, NINF], ids=["nan", "all-minus-inf"])
@pytest.mark.parametrize("sampler", [gk.gumbel_softmax, gk.gumbel_max], ids=["softmax", "max"])
def test_validate_eager_names_the_invalid_row(sampler, bad):
    # Rows 0 and 1 of MASKED have masked classes but are valid; row 2 is made invalid.
    values = MASKED.copy()
    if np.isnan(bad):
        values[2, 3] = bad
    else:
        values[2, :] = bad
    with pytest.raises(ValueError, match=r"logits row \(2,\)"):
        sampler(jnp.asarray(values, dtype=jnp.float64), rng=0, validate=True)
    cube = np.zeros((2, 3, 4))
    cube[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"logits row \(1, 2\)"):
        sampler(jnp.asarray(cube, dtype=jnp.float64), rng=0, validate=True)


def test_eager_per_row_tau_is_checked_on_the_host():
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    bad = jnp.asarray([0.5, -1.0, 1.0], dtype=jnp.float64)
    with pytest.raises(ValueError, match=r"\btau\b"):
        gk.gumbel_softmax(logits, tau=bad, rng=0)


# --- 7. float16 / bfloat16 --------------------------------------------------------------------


LOW = [jnp.bfloat16, jnp.float16]
LOW_IDS = ["bfloat16", "float16"]


@pytest.mark.parametrize("dtype", LOW, ids=LOW_IDS)
def test_low_precision_is_computed_in_float32_and_cast(dtype):
    # Row 0: 1024 + 0.3 rounds to 1024 in both low dtypes, so a low-precision computation
    # would tie the first two classes; in float32 class 1 leads by 0.3 / tau = 3.
    values = np.vstack([[1024.0, 1024.0, 0.0, -3.0, 1.0], LOGITS[1:]])
    logits = jnp.asarray(values, dtype=dtype)
    noise32 = np.vstack([[0.0, 0.3, 0.0, 0.0, 0.0], NOISE[1:]]).astype(np.float32)
    noise = jnp.asarray(noise32, dtype=jnp.float32)
    tau = 0.1
    z32 = to_numpy(logits).astype(np.float32) + noise32
    z32 = (z32 - z32.max(axis=-1, keepdims=True)) / np.float32(tau)
    e = np.exp(z32)
    ref32 = e / e.sum(axis=-1, keepdims=True)
    want = to_numpy(jnp.asarray(ref32, dtype=dtype))
    eps = float(jnp.finfo(dtype).eps)

    def sample(logits, noise):
        return (
            gk.gumbel_softmax(logits, tau=tau, noise=noise),
            gk.gumbel_softmax(logits, tau=tau, noise=noise, hard=True),
        )

    for soft, hard in (sample(logits, noise), jax.jit(sample)(logits, noise)):
        assert soft.dtype == dtype
        assert hard.dtype == dtype
        # One float32 ulp of difference may round to the neighbouring low-precision value.
        np.testing.assert_allclose(to_numpy(soft), want, rtol=eps, atol=1e-6)
        assert to_numpy(soft)[0, 1] > 0.9
        np.testing.assert_array_equal(to_numpy(hard), one_hot_np(np.argmax(z32, axis=-1), 5))
        assert to_numpy(hard)[0, 1] == 1.0


@pytest.mark.parametrize("dtype", LOW, ids=LOW_IDS)
def test_low_precision_hard_sample_with_a_key_is_exactly_one_hot(dtype):
    logits = jnp.asarray(LOGITS, dtype=dtype)
    out = to_numpy(gk.gumbel_softmax(logits, tau=0.05, hard=True, rng=3))
    assert set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out.sum(axis=-1), 1.0)


@pytest.mark.parametrize("dtype", LOW, ids=LOW_IDS)
def test_low_precision_gumbel_uses_float32_uniforms(dtype):
    key = jax.random.key(2024)
    n = 200_000
    noise = gk.gumbel((n,), dtype=dtype, rng=key)
    assert noise.dtype == dtype
    values = to_numpy(noise)
    assert np.isfinite(values).all()
    # Same key: the low-precision noise is the float32 noise rounded once.
    want = to_numpy(gk.gumbel((n,), dtype=jnp.float32, rng=key).astype(dtype))
    np.testing.assert_array_equal(values, want)
    # Uniforms drawn in the low dtype stop below 1 - eps/2, capping the noise at
    # -log(-log(1 - eps/2)) (5.5 in bfloat16, 7.6 in float16). Float32 noise exceeds the cap
    # plus 0.5 with probability >= 2.9e-4 per draw: about 60 of 200000, never 0 in practice.
    eps = float(jnp.finfo(dtype).eps)
    cap = -np.log(-np.log1p(-eps / 2))
    assert values.max() > cap + 0.5


# --- 8. output types and invalid rows under jit -----------------------------------------------


def test_jit_outputs_stay_jax_arrays_and_invalid_rows_are_marked():
    values = np.array(
        [
            [0.2, -0.3, 0.1],
            [0.2, np.nan, 0.1],
            [NINF, NINF, NINF],
            [NINF, 0.5, NINF],
            [0.0, np.inf, 0.0],
        ]
    )
    logits = jnp.asarray(values, dtype=jnp.float32)
    invalid = np.array([False, True, True, False, True])
    k = values.shape[1]

    def sample(logits, key, tau_rows):
        # One noise draw for the noise= calls keeps the compiled program small.
        # A 1-d draw reshaped: jax.random compiles slowly for 3-d shapes.
        noise = jnp.reshape(gk.gumbel((6 * values.size,), dtype=jnp.float32, rng=key),
                            (6, *values.shape))
        outs = (
            gk.gumbel_softmax(logits, tau=0.5, noise=noise[0]),
            gk.gumbel_softmax(logits, tau=0.5, hard=True, noise=noise[0]),
            gk.gumbel_max(logits, rng=key),
            gk.gumbel_max(logits, noise=noise, sample_shape=6, keepdims=True),
            gk.gumbel_softmax(logits, tau=tau_rows, noise=noise[0]),
            noise,
        )
        for out in outs:
            assert isinstance(out, jax.Array)
        return outs

    # A non-positive temperature is not readable under jit: its row comes out NaN instead.
    tau_rows = jnp.asarray([0.5, 0.5, 0.5, -1.0, 0.5], dtype=jnp.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft, hard, index, indices, soft_tau, noise = jax.jit(sample)(
            logits, jax.random.key(8), tau_rows
        )
    for out in (soft, hard, index, indices, soft_tau, noise):
        assert isinstance(out, jax.Array)
    for idx in (index, indices):
        assert jnp.issubdtype(idx.dtype, jnp.integer)
    assert indices.shape == (6, 5, 1)
    index, indices = to_numpy(index), to_numpy(indices)[..., 0]
    np.testing.assert_array_equal(index[invalid], k)
    assert ((index[~invalid] >= 0) & (index[~invalid] < k)).all()
    assert index[3] == 1
    assert (indices[:, invalid] == k).all()
    assert (indices[:, ~invalid] < k).all()
    for out in (to_numpy(soft), to_numpy(hard)):
        assert np.isnan(out[invalid]).all()
        assert np.isfinite(out[~invalid]).all()
    soft_tau = to_numpy(soft_tau)
    assert np.isnan(soft_tau[3]).all()
    assert np.isfinite(soft_tau[0]).all()


def test_jit_with_a_captured_per_row_tau_array():
    # The concrete tau is host-readable, but under jit the check on it yields a traced flag:
    # the eager tau check must be skipped there, not raise the validate=True TypeError.
    logits = jnp.asarray(LOGITS, dtype=jnp.float64)
    taus = jnp.asarray(TAUS, dtype=jnp.float64)
    key = jax.random.key(12)
    jitted = jax.jit(lambda logits, key: gk.gumbel_softmax(logits, tau=taus, rng=key))(
        logits, key
    )
    eager = gk.gumbel_softmax(logits, tau=taus, rng=key)
    np.testing.assert_allclose(to_numpy(jitted), to_numpy(eager), rtol=1e-12)


LOGITS_CAPTURED = jnp.asarray([[0.0, 1.0, 2.0, -np.inf], [0.5, 0.1, 0.2, 0.3]], jnp.float32)
INDICES_CAPTURED = jnp.asarray([[2, 1], [0, 3]])
TEMPERATURES_CAPTURED = jnp.asarray([1e-45, 1.0], jnp.float32)
SEEDS_CAPTURED = jnp.asarray([1, 2])


@pytest.mark.parametrize("call", [
    lambda x, key: gk.gumbel_top_k(LOGITS_CAPTURED, 2, rng=key),
    lambda x, key: gk.relaxed_top_k(LOGITS_CAPTURED, 2, rng=key),
    lambda x, key: gk.plackett_luce_log_prob(x, INDICES_CAPTURED),
    lambda x, key: gk.sample_tokens(x, temperature=0.5, seeds=SEEDS_CAPTURED),
    lambda x, key: gk.filter_logits(x, temperature=TEMPERATURES_CAPTURED),
    lambda x, key: gk.gumbel_softmax(x, tau=TEMPERATURES_CAPTURED, rng=key),
    lambda x, key: gk.relaxed_top_k(x, 2, tau=TEMPERATURES_CAPTURED, rng=key),
    lambda x, key: RelaxedOneHotCategorical(x, TEMPERATURES_CAPTURED).rsample(rng=key),
], ids=["top-k-logits", "relaxed-top-k-logits", "plackett-luce-indices", "token-seeds",
        "subnormal-temperature", "subnormal-tau", "subnormal-tau-relaxed-top-k",
        "subnormal-tau-distribution"])
def test_jit_with_captured_constants_equals_eager(call):
    # A concrete array captured by a jitted function is host-readable, but what gumbelkit
    # computes from it there is traced: reading it was JAX's TracerBoolConversionError. XLA
    # flushes a subnormal constant to 0 before any operation sees it: a temperature of 1e-45
    # gave a NaN row where eagerly it is held at the smallest normal number.
    x = LOGITS_CAPTURED
    key = jax.random.key(3)
    eager = to_numpy(call(x, key))
    jitted = to_numpy(jax.jit(call)(x, key))
    assert not np.isnan(jitted).any()
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)



def test_large_seeds_differ_without_x64():
    # Without x64, jax.random.key keeps the low 32 bits of a seed; gumbelkit folds in the rest.
    jax.config.update("jax_enable_x64", False)
    try:
        low = to_numpy(gk.gumbel(4, rng=7, xp=jnp))
        high = to_numpy(gk.gumbel(4, rng=7 + 2**32, xp=jnp))
    finally:
        jax.config.update("jax_enable_x64", True)
    assert not np.array_equal(low, high)


def test_a_batch_of_keys_needs_vmap():
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(TypeError, match=r"rng must be a single JAX key; got keys of shape \(3,\)"):
        gk.gumbel_softmax(jnp.zeros((3, 4)), rng=keys)


def test_traced_merge_places_the_jth_value_at_the_jth_true_entry():
    # The adapter's static-shape merge (a running count per block of 64) against the definition
    # written out in NumPy: the j-th true entry in C order takes values[j]; entries beyond the
    # length of values keep x. Masks from empty to full, counts below and above the capacity,
    # sizes that are not multiples of the block.
    from gumbelkit.backends import jax as jax_adapter

    merge = jax.jit(jax_adapter.scatter_masked_)
    rng = np.random.default_rng(20)
    for shape, density, size in [((3, 5), 0.3, 4), ((7, 129), 0.02, 40), ((1000,), 0.5, 100),
                                 ((64, 64), 1.0, 5000), ((65,), 0.0, 3), ((2, 3, 4), 1.0, 1)]:
        mask = rng.random(shape) < density
        x = rng.normal(size=shape)
        values = rng.normal(size=size)
        expected = x.copy().reshape(-1)
        positions = np.flatnonzero(mask)[:size]
        expected[positions] = values[: positions.size]
        got = merge(jnp.asarray(x), jnp.asarray(mask), jnp.asarray(values))
        np.testing.assert_array_equal(np.asarray(got), expected.reshape(shape))


ROOT = Path(__file__).resolve().parent.parent
# The options `make test` sets in XLA_FLAGS to compile faster (see the Makefile).
FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0")


def test_the_deterministic_checks_pass_under_xlas_default_code_generation():
    # `make test` has XLA compile faster than by default: with its classic CPU emitters instead
    # of its fusion emitters, and with LLVM's optimisation off. The programs are the same, but
    # their rounding may differ (float64 softmaxes differed in the last place at 110 of 64,000
    # entries). The suite's exact equalities (the noise each sampler draws, every index path
    # against the argmax on thousands of rows, the float64 references) run here once more in
    # a fresh process under XLA's default, the code generation users get, in float32 and
    # float64.
    given = os.environ.get("XLA_FLAGS", "").split()
    if not any(flag in given for flag in FAST_COMPILE):
        pytest.skip(f"XLA_FLAGS has none of {', '.join(FAST_COMPILE)}: every JAX test of this "
                    "run compiles with XLA's default code generation")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["XLA_FLAGS"] = " ".join(flag for flag in given if flag not in FAST_COMPILE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         str(ROOT / "gumbelkit" / "conformance" / "test_deterministic.py"),
         "--backend", "jax", "-k", "float32 or float64"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b\d{2,} passed\b", done.stdout), done.stdout[-2000:]


def test_every_sampler_runs_where_the_user_refuses_rank_promotion():
    # jax_numpy_rank_promotion="raise" guards the user's code; gumbelkit broadcasts ranks as the
    # array API does (logits against sample dimensions, a per-row parameter against its rows),
    # so its calls run under "allow" (the JAX adapter's errstate), eagerly and under jit.
    from gumbelkit.distributions import HardConcrete, RelaxedBernoulli

    logits = jnp.asarray(LOGITS)
    key = jax.random.key(0)
    index = jnp.argmax(logits, axis=-1)
    calls = {
        "soft, sample_shape": lambda: gk.gumbel_softmax(logits, tau=0.5, rng=key,
                                                        sample_shape=3),
        "soft under jit": lambda: jax.jit(lambda x: gk.gumbel_softmax(x, rng=key))(logits),
        "gumbel-rao": lambda: gk.gumbel_softmax(logits, hard=True, estimator="gumbel-rao",
                                                rng=key),
        "gumbel_max": lambda: gk.gumbel_max(logits, rng=key, sample_shape=3),
        "categorical": lambda: gk.categorical(logits, rng=key, sample_shape=3, method="gumbel"),
        "gumbel_top_k": lambda: gk.gumbel_top_k(logits, 2, rng=key, sample_shape=3),
        "plackett_luce_log_prob": lambda: gk.plackett_luce_log_prob(
            logits, jnp.asarray([[0, 1], [2, 0], [1, 3]])),
        "conditional_gumbel": lambda: gk.conditional_gumbel(logits, index, rng=key),
        # The two largest of each row kept, the others -inf: finite where kept.
        "filter_logits": lambda: jnp.sort(gk.filter_logits(logits, top_k=2), axis=-1)[:, -2:],
        "sample_tokens, seeds": lambda: gk.sample_tokens(logits, temperature=0.7,
                                                         seeds=[1, 2, 3]),
        "RelaxedBernoulli": lambda: RelaxedBernoulli(logits[0], 0.5).sample((3,), rng=key),
        "HardConcrete": lambda: HardConcrete(logits[0]).sample((3,), rng=key),
    }
    with jax.numpy_rank_promotion("raise"):
        for name, call in calls.items():
            assert np.all(np.isfinite(to_numpy(call()))), name
