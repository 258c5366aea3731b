"""Behaviour of gumbel, gumbel_softmax and gumbel_max on every backend.

Expected values come from float64 NumPy formulas (tests/helpers.py) applied to the same noise,
and from scipy.stats for the few distribution checks kept here; the full statistical suite is
conformance/.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import (
    assert_close,
    assert_same_namespace_device,
    make,
    native_dtype,
    np_gumbel,
    np_softmax,
    to_numpy,
)
from scipy import stats

import gumbelkit as gk
from gumbelkit.testing import reference_relaxed_top_k

ALPHA = 1e-6  # per-test significance level of the statistical checks below

LOGITS = np.log(np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]]))


def reference_noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Gumbel noise from an independent NumPy stream, in float64."""
    u = np.random.default_rng(seed).uniform(np.finfo(np.float64).tiny, 1.0, size=shape)
    return np_gumbel(u)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 5.0])
def test_soft_sample_matches_float64_formula(xp, dtype, tau):
    logits = make(xp, LOGITS, dtype)
    g = reference_noise(LOGITS.shape, 1)
    out = gk.gumbel_softmax(logits, tau=tau, noise=make(xp, g, dtype))
    expected = np_softmax((LOGITS.astype(dtype) + g.astype(dtype)) / tau)
    assert_close(out, expected, like=logits, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1, -3])
def test_axis_selects_the_class_axis(xp, axis):
    base = np.random.default_rng(2).normal(size=(3, 4, 5))
    g = reference_noise(base.shape, 3)
    logits = make(xp, base)
    soft = gk.gumbel_softmax(logits, axis=axis, tau=0.7, noise=make(xp, g))
    assert_close(soft, np_softmax((base + g) / 0.7, axis=axis), like=logits, rtol=1e-12)
    hard = gk.gumbel_softmax(logits, axis=axis, hard=True, noise=make(xp, g))
    index = np.argmax(base + g, axis=axis)
    expected = np.moveaxis(np.eye(base.shape[axis])[index], -1, axis)
    assert_close(hard, expected, like=logits)
    assert_close(gk.gumbel_max(logits, axis=axis, noise=make(xp, g)), index)
    kept = gk.gumbel_max(logits, axis=axis, noise=make(xp, g), keepdims=True)
    assert_close(kept, np.expand_dims(index, axis))


def test_hard_is_one_hot_of_argmax_with_first_index_on_ties(xp):
    logits = make(xp, [[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    zero = make(xp, np.zeros((2, 3)))
    out = gk.gumbel_softmax(logits, hard=True, noise=zero)
    assert_close(out, [[1, 0, 0], [0, 1, 0]], like=logits)
    assert_close(gk.gumbel_max(logits, noise=zero), [0, 1])


@pytest.mark.parametrize("sample_shape", [(), (7,), (2, 3), 4])
def test_sample_shape_prepends_independent_draws(xp, sample_shape):
    logits = make(xp, LOGITS)
    dims = (sample_shape,) if isinstance(sample_shape, int) else sample_shape
    soft = gk.gumbel_softmax(logits, sample_shape=sample_shape, rng=0)
    assert tuple(soft.shape) == dims + LOGITS.shape
    assert_same_namespace_device(soft, logits)
    values = to_numpy(soft)
    np.testing.assert_allclose(values.sum(axis=-1), 1.0, rtol=1e-12)
    flat = values.reshape(-1, *LOGITS.shape)
    # Reused noise would make two draws of a row identical.
    assert len({v.tobytes() for v in flat}) == len(flat)
    index = gk.gumbel_max(logits, sample_shape=sample_shape, rng=0)
    assert tuple(index.shape) == dims + LOGITS.shape[:1]


def test_noise_broadcasts_to_the_output(xp):
    logits = make(xp, LOGITS)
    row_noise = reference_noise((3,), 4)
    out = gk.gumbel_softmax(logits, noise=make(xp, row_noise), sample_shape=(2,))
    assert tuple(out.shape) == (2, *LOGITS.shape)
    expected = np.broadcast_to(np_softmax(LOGITS + row_noise), (2, *LOGITS.shape))
    assert_close(out, expected, like=logits, rtol=1e-12)


@pytest.mark.parametrize(("shape", "axis", "tau_shape"), [
    ((4, 3), -1, (4,)),
    ((4, 3), -1, (1,)),
    ((4, 3), -1, ()),
    ((3, 4), 0, (4,)),
    ((2, 3, 5), 1, (2, 5)),
    ((2, 3, 5), 1, (5,)),
    ((2, 3, 5), 1, (2, 1)),
])
def test_per_row_temperature(xp, shape, axis, tau_shape):
    base = np.random.default_rng(5).normal(size=shape)
    g = reference_noise(shape, 6)
    tau = np.random.default_rng(7).uniform(0.2, 3.0, size=tau_shape)
    logits = make(xp, base)
    out = gk.gumbel_softmax(logits, tau=make(xp, tau), axis=axis, noise=make(xp, g))
    # NumPy reference: put the class axis back into tau explicitly.
    row_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    full_tau = np.expand_dims(np.broadcast_to(tau, row_shape), axis)
    assert_close(out, np_softmax((base + g) / full_tau, axis=axis), like=logits, rtol=1e-12)


@pytest.mark.parametrize(("shape", "axis", "tau_shape"), [
    ((4, 3), -1, (4, 1)),
    ((4, 3), -1, (1, 1)),
    ((3, 4), 0, (1, 4)),
    ((2, 3, 5), 1, (2, 1, 5)),
    ((2, 3, 5), 1, (1, 1, 5)),
    ((2, 3, 5), -1, (2, 3, 1)),
])
def test_per_row_temperature_keeping_the_class_axis(xp, shape, axis, tau_shape):
    # The PyTorch habit: a (B, 1) temperature for (B, K) logits, size 1 along the class axis.
    base = np.random.default_rng(15).normal(size=shape)
    g = reference_noise((2, *shape), 16)
    tau = np.random.default_rng(17).uniform(0.2, 3.0, size=tau_shape)
    logits = make(xp, base)
    out = gk.gumbel_softmax(logits, tau=make(xp, tau), axis=axis, noise=make(xp, g),
                            sample_shape=2)
    last = axis % len(shape) - len(shape)  # the class axis of the samples, from the end
    assert_close(out, np_softmax((base + g) / tau, axis=last), like=logits, rtol=1e-12)
    hard = gk.gumbel_softmax(logits, tau=make(xp, tau), axis=axis, noise=make(xp, g),
                             sample_shape=2, hard=True)
    index = np.argmax(base + g, axis=last)
    assert_close(hard, np.moveaxis(np.eye(shape[axis])[index], -1, last), like=logits)
    relaxed = gk.relaxed_top_k(logits, 2, tau=make(xp, tau), axis=axis, noise=make(xp, g),
                               sample_shape=2)
    assert_close(relaxed, np_relaxed_top_k(base + g, 2, tau, last), like=logits, rtol=1e-10)


def np_relaxed_top_k(z: np.ndarray, k: int, tau: object, axis: int = -1) -> np.ndarray:
    """The relaxed top-k of Xie & Ermon in float64 (docs/mathematics.md#relaxed-top-k)."""
    return reference_relaxed_top_k(z, k, tau, axis)


@pytest.mark.parametrize("tau", [np.float64(0.5), np.float32(0.5), np.int64(2)],
                         ids=["float64", "float32", "int64"])
def test_numpy_scalar_temperature_is_a_float(xp, tau):
    # A NumPy scalar (numpy.float64 subclasses float and has a shape) is a real number, not an
    # array of any library: on every backend it is the float temperature it equals.
    logits = make(xp, LOGITS)
    g = reference_noise(LOGITS.shape, 18)
    expected = float(tau)
    out = gk.gumbel_softmax(logits, tau=tau, noise=make(xp, g))
    assert_close(out, np_softmax((LOGITS + g) / expected), like=logits, rtol=1e-12)
    relaxed = gk.relaxed_top_k(logits, 2, tau=tau, noise=make(xp, g))
    assert_close(relaxed, np_relaxed_top_k(LOGITS + g, 2, expected), like=logits, rtol=1e-10)
    # A 0-d array of the logits' library stays an array: a temperature shared by every row.
    shared = gk.gumbel_softmax(logits, tau=make(xp, expected), noise=make(xp, g))
    assert_close(shared, np_softmax((LOGITS + g) / expected), like=logits, rtol=1e-12)


def test_public_signatures_are_the_implementations(xp):
    # Each sampler is published with a clean signature (no *args, **kwargs) whose parameters,
    # kinds and defaults are those the implementation binds: the habits' catch-alls aside.
    for name in ("gumbel", "gumbel_softmax", "gumbel_max", "gumbel_top_k", "relaxed_top_k",
                 "conditional_gumbel"):
        function = getattr(gk, name)
        shown = inspect.signature(function)
        assert function.__name__ == name
        assert function.__doc__.startswith("Draw")
        kinds = {p.kind for p in shown.parameters.values()}
        assert not kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
        code = function.__code__
        bound = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        assert tuple(shown.parameters) == bound, name
        keyword_defaults = {p.name: p.default for p in shown.parameters.values()
                            if p.kind is p.KEYWORD_ONLY}
        assert keyword_defaults == function.__kwdefaults__, name
        assert function.__defaults__ is None  # the positional parameters have no default


def test_per_row_temperature_with_sample_shape(xp):
    tau = np.array([0.5, 2.0])
    g = reference_noise((3, *LOGITS.shape), 8)
    out = gk.gumbel_softmax(make(xp, LOGITS), tau=make(xp, tau), noise=make(xp, g),
                            sample_shape=(3,))
    assert_close(out, np_softmax((LOGITS + g) / tau[:, None]), rtol=1e-12)


@pytest.mark.parametrize("function", ["gumbel_softmax", "gumbel_max"])
def test_same_seed_same_draw(xp, function):
    sampler = getattr(gk, function)
    logits = make(xp, LOGITS)
    first = to_numpy(sampler(logits, rng=123, sample_shape=(5,)))
    again = to_numpy(sampler(logits, rng=123, sample_shape=(5,)))
    other = to_numpy(sampler(logits, rng=124, sample_shape=(5,)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_output_keeps_dtype_namespace_and_device(xp, dtype):
    logits = make(xp, LOGITS, dtype)
    for hard in (False, True):
        out = gk.gumbel_softmax(logits, hard=hard, rng=1)
        assert_same_namespace_device(out, logits)
        assert out.dtype == logits.dtype
        assert np.all(np.isfinite(to_numpy(out)))
    index = gk.gumbel_max(logits, rng=1)
    assert_same_namespace_device(index, logits)
    assert "int" in str(index.dtype)


def test_gumbel_max_frequencies_match_softmax(xp):
    # Chi-square at alpha = 1e-6 with n = 200,000 over K = 4 classes (min expected count
    # 10,000): power 0.99 against a 3% relative bias on one class
    # (docs/mathematics.md#chi-square-tests).
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    n = 200_000
    index = gk.gumbel_max(make(xp, np.log(probabilities)), sample_shape=(n,), rng=2024)
    counts = np.bincount(to_numpy(index), minlength=4)
    assert counts.sum() == n
    assert stats.chisquare(counts, n * probabilities).pvalue > ALPHA


def test_soft_argmax_is_categorical(xp):
    # docs/mathematics.md#argmax-at-every-temperature: the argmax of a soft sample is
    # Categorical(softmax) at every tau.
    probabilities = np.array([0.05, 0.25, 0.7])
    n = 100_000
    logits = make(xp, np.log(probabilities))
    for tau in (0.1, 1.0, 10.0):
        y = to_numpy(gk.gumbel_softmax(logits, tau=tau, sample_shape=(n,), rng=7))
        counts = np.bincount(np.argmax(y, axis=-1), minlength=3)
        assert stats.chisquare(counts, n * probabilities).pvalue > ALPHA


class TestGumbel:
    def test_shape_dtype_and_namespace(self, xp):
        probe = make(xp, [0.0])
        for dtype in ("float32", "float64"):
            g = gk.gumbel((2, 3), dtype=native_dtype(xp, dtype), rng=0, xp=xp)
            assert tuple(g.shape) == (2, 3)
            assert g.dtype == native_dtype(xp, dtype)
            assert_same_namespace_device(g, probe)

    def test_default_dtype_is_the_namespace_default(self, xp):
        g = gk.gumbel(4, rng=0, xp=xp)
        namespace = type(make(xp, [0.0]))
        assert isinstance(g, namespace)
        info = gk.backends.backend_for(g).namespace(g).__array_namespace_info__()
        assert g.dtype == info.default_dtypes()["real floating"]

    def test_ks_against_the_gumbel_cdf(self, xp):
        # KS at alpha = 1e-6, n = 100,000: detects a location shift of 0.03 or a scale error
        # of 10% (sup |dF| >= 0.011 > 2.7e-2 / sqrt(10) = 8.5e-3),
        # docs/mathematics.md#kolmogorov-smirnov-tests.
        g = to_numpy(gk.gumbel(100_000, dtype=native_dtype(xp, "float64"), rng=11, xp=xp))
        assert stats.kstest(g, stats.gumbel_r.cdf).pvalue > ALPHA

    def test_loc_and_scale(self, xp):
        g = to_numpy(gk.gumbel(100_000, loc=2.0, scale=0.5, dtype=native_dtype(xp, "float64"),
                               rng=12, xp=xp))
        assert stats.kstest(g, stats.gumbel_r(loc=2.0, scale=0.5).cdf).pvalue > ALPHA

    def test_same_seed_same_noise(self, xp):
        first = to_numpy(gk.gumbel(10, rng=5, xp=xp))
        np.testing.assert_array_equal(first, to_numpy(gk.gumbel(10, rng=5, xp=xp)))

    def test_namespace_follows_a_native_rng(self):
        assert isinstance(gk.gumbel(3, rng=np.random.default_rng(0)), np.ndarray)
        assert isinstance(gk.gumbel(3), np.ndarray)
