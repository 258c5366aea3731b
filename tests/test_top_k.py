"""Gumbel-top-k, the Plackett-Luce log-probability and relaxed top-k
(docs/mathematics.md#top-k-and-plackett-luce).

Expected values come from independent sources: NumPy's stable argsort of the same perturbed
logits in float64, the Plackett-Luce product formula in float64, exhaustive enumeration of
orderings, Python's ``decimal`` at 60 digits where float64 formulas cancel, a float64 NumPy
transcription of the relaxed top-k recursion, and finite differences (``gradcheck``); never
gumbelkit itself, except where the property under test is an agreement (compiled == eager,
hard == top-k of the same noise, same seed == same sample). The laws of the samples are tested
in conformance/test_top_k.py.
"""

from __future__ import annotations

import importlib
import itertools
import math
import warnings
from decimal import Decimal, localcontext
from fractions import Fraction

import array_api_compat
import numpy as np
import pytest
from helpers import assert_same_namespace_device, make, to_numpy

import gumbelkit as gk
from gumbelkit.backends import backend_for
from gumbelkit.testing import has_dtype, reference_relaxed_top_k

NINF = -np.inf
LOGITS = np.log(np.array([[0.1, 0.2, 0.3, 0.15, 0.25], [0.4, 0.05, 0.05, 0.3, 0.2]]))
MASKED = np.array([[0.0, NINF, 1.0, -0.5, NINF], [NINF, 2.0, -1.0, NINF, 0.3]])
# Samples share one shape, (SAMPLES, 2, 5): eager JAX compiles every operation per shape.
SAMPLES = 50


def noise_np(shape, seed):
    """Standard Gumbel noise from NumPy's own sampler (float64), independent of gumbelkit."""
    return np.random.default_rng(seed).gumbel(size=shape)


def top_k_np(z, k, axis=-1):
    """Indices of the k largest of z in decreasing order, ties to the lower index (float64)."""
    order = np.argsort(-np.asarray(z, dtype=np.float64), axis=axis, kind="stable")
    return np.take(order, np.arange(k), axis=axis)


def k_hot_np(z, k, axis=-1):
    """The k-hot of top_k_np along ``axis``."""
    rank = np.argsort(np.argsort(-np.asarray(z, dtype=np.float64), axis=axis, kind="stable"),
                      axis=axis, kind="stable")
    return (rank < k).astype(np.float64)


def softmax_np(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def relaxed_top_k_np(z, k, tau, axis=-1):
    """Xie & Ermon's recursion (docs/mathematics.md#relaxed-top-k) in float64 NumPy."""
    return reference_relaxed_top_k(z, k, tau, axis)


def product_log_prob(logits, ordering):
    """log of prod_j pi_{i_j} / (1 - sum_{l<j} pi_{i_l}), the Plackett-Luce product in float64."""
    pi = softmax_np(logits)
    taken = 0.0
    log_p = 0.0
    for i in ordering:
        log_p += math.log(pi[i]) - math.log(1.0 - taken) if pi[i] > 0 else -math.inf
        taken += pi[i]
    return log_p


def decimal_log_prob(logits, ordering):
    """The Plackett-Luce log-probability at 60 significant digits (Python's decimal)."""
    with localcontext() as context:
        context.prec = 60
        weights = [Decimal(0) if t == NINF else Decimal(float(t)).exp() for t in logits]
        remaining = sum(weights, Decimal(0))
        log_p = Decimal(0)
        for i in ordering:
            log_p += (weights[i] / remaining).ln()
            remaining -= weights[i]
        return float(log_p)


def computed(x):
    """Return ``to_numpy(x)``, ignoring NumPy's floating-point warnings while Dask computes.

    gumbelkit silences the warnings of its deliberate infinities (an invalid row) with NumPy's
    errstate, but a Dask graph runs later, outside that context.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="dask")
        return to_numpy(x)


def index_dtype(x):
    return array_api_compat.array_namespace(x).__array_namespace_info__().default_dtypes()[
        "indexing"
    ]


def host_readable(x):
    return backend_for(x).is_host_readable(x)


# --- gumbel_top_k -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])


def test_top_k_is_the_sorted_perturbed_logits(xp, dtype):
    logits = make(xp, LOGITS, dtype)
    g = noise_np((SAMPLES, *LOGITS.shape), seed=1)
    index = gk.gumbel_top_k(logits, 3, noise=make(xp, g, dtype), sample_shape=SAMPLES)
    assert_same_namespace_device(index, logits)
    assert index.dtype == index_dtype(logits)
    assert tuple(index.shape) == (SAMPLES, 2, 3)
    z = to_numpy(logits) + g.astype(dtype)  # added in the compute dtype, as gumbelkit does
    np.testing.assert_array_equal(to_numpy(index), top_k_np(z, 3))


@pytest.mark.parametrize(("axis", "k", "sample_shape", "expected"), [
    (0, 2, (), (2, 3, 4)),
    (1, 3, (5,), (5, 2, 3, 4)),
    (-1, 4, (2, 1), (2, 1, 2, 3, 4)),
])


def test_top_k_shape_replaces_the_class_axis(xp, axis, k, sample_shape, expected):
    logits_np = np.random.default_rng(2).normal(size=(2, 3, 4))
    g = noise_np(sample_shape + logits_np.shape, seed=3)
    index = gk.gumbel_top_k(make(xp, logits_np), k, axis=axis, noise=make(xp, g),
                            sample_shape=sample_shape)
    assert tuple(index.shape) == expected
    out_axis = axis % logits_np.ndim - logits_np.ndim
    np.testing.assert_array_equal(to_numpy(index), top_k_np(logits_np + g, k, axis=out_axis))


def test_top_k_ties_go_to_the_lower_index(xp):
    logits = make(xp, [[0.0, 1.0, 0.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    index = gk.gumbel_top_k(logits, 4, noise=make(xp, np.zeros((2, 5))))
    np.testing.assert_array_equal(to_numpy(index), [[1, 3, 0, 2], [0, 1, 2, 3]])


def test_top_k_with_k_equal_to_k_is_a_permutation(xp):
    index = to_numpy(gk.gumbel_top_k(make(xp, LOGITS), 5, rng=4, sample_shape=SAMPLES))
    permutations = np.broadcast_to(np.arange(5), (SAMPLES, 2, 5))
    np.testing.assert_array_equal(np.sort(index, axis=-1), permutations)


def test_top_k_never_draws_a_masked_class(xp):
    logits = make(xp, MASKED)
    index = to_numpy(gk.gumbel_top_k(logits, 3, rng=5, sample_shape=SAMPLES))
    assert set(np.unique(index[:, 0])) == {0, 2, 3}
    assert set(np.unique(index[:, 1])) == {1, 2, 4}
    # k equals the number of unmasked classes: every sample is a permutation of them.
    np.testing.assert_array_equal(np.sort(index[:, 0]), np.broadcast_to([0, 2, 3], (SAMPLES, 3)))


def test_rows_without_such_classes_keep_their_keys(xp):
    # Row 0 has a class beyond the range; row 1 does not, and its perturbed logits differ by
    # the smallest float32 subnormal, where halving them would tie. Its order is that of its
    # own sums, as the backend adds them (XLA on the CPU flushes subnormal sums to 0: a tie).
    big = 0.9 * float(np.finfo(np.float32).max)
    tiny = 2.0**-149
    rows = np.array([[big, -big, 1.0], [0.0, 0.0, 0.0]])
    g = np.array([[0.0, 0.0, 0.0], [0.0, 3 * tiny, 4 * tiny]])
    logits, noise = make(xp, rows, "float32"), make(xp, g, "float32")
    index = to_numpy(gk.gumbel_top_k(logits, 3, noise=noise))
    np.testing.assert_array_equal(index[0], [0, 2, 1])
    np.testing.assert_array_equal(index[1], top_k_np(to_numpy(logits + noise)[1], 3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classes_beyond_the_dtypes_range_below_the_maximum_rank_before_masked_ones(xp, dtype):
    # Row 0 spans more than the dtype's range: its last classes lie more than the largest
    # float below its maximum (-big - big overflows), where racing from the maximum makes
    # them -inf like the masked class 1. They still rank, by their logits, before it.
    big = 0.9 * float(np.finfo(dtype).max)
    rows = np.array([[big, NINF, -big, -0.9 * big, 1.0], [0.0, 1.0, NINF, 2.0, 3.0]])
    g = noise_np((3, *rows.shape), seed=31)
    logits = make(xp, rows, dtype)
    index = to_numpy(gk.gumbel_top_k(logits, 4, noise=make(xp, g, dtype), sample_shape=3))
    expected = top_k_np(rows.astype(dtype).astype(np.float64) + g, 4)
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(index[:, 0], np.broadcast_to([0, 4, 3, 2], (3, 4)))
    hard = to_numpy(gk.relaxed_top_k(logits, 4, hard=True, noise=make(xp, g, dtype),
                                     sample_shape=3))
    np.testing.assert_array_equal(hard[:, 0], np.broadcast_to([1, 0, 1, 1, 1], (3, 5)))
    drawn = to_numpy(gk.gumbel_top_k(logits, 4, rng=32, sample_shape=50))
    np.testing.assert_array_equal(drawn[:, 0], np.broadcast_to([0, 4, 3, 2], (50, 4)))
    assert not np.any(drawn[:, 1] == 2)


def test_top_k_same_seed_same_sample(xp):
    logits = make(xp, LOGITS)
    first = to_numpy(gk.gumbel_top_k(logits, 2, rng=6, sample_shape=SAMPLES))
    again = to_numpy(gk.gumbel_top_k(logits, 2, rng=6, sample_shape=SAMPLES))
    other = to_numpy(gk.gumbel_top_k(logits, 2, rng=7, sample_shape=SAMPLES))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_top_k_invalid_rows_give_the_number_of_classes(xp):
    # Rows: valid, NaN, all -inf, +inf.
    logits = make(xp, [[0.0, 1.0, NINF], [0.0, np.nan, 1.0], [NINF] * 3, [0.0, np.inf, 1.0]])
    index = to_numpy(gk.gumbel_top_k(logits, 2, rng=0, sample_shape=4))
    assert np.all(index[:, 0] < 2)
    assert np.all(index[:, 1:] == 3)
    with pytest.raises(ValueError, match=r"logits row \(1,\)"):
        gk.gumbel_top_k(logits, 2, rng=0, validate=True)


def test_k_larger_than_the_unmasked_classes(xp):
    logits = make(xp, MASKED)  # three unmasked classes per row
    message = r"k = 4 exceeds the number of unmasked \(finite\) logits in logits row \(0,\)"
    with pytest.raises(ValueError, match=message):
        gk.gumbel_top_k(logits, 4, rng=0, validate=True)
    with pytest.raises(ValueError, match=message):
        gk.relaxed_top_k(logits, 4, rng=0, validate=True)
    if host_readable(logits):
        with pytest.raises(ValueError, match=message):
            gk.gumbel_top_k(logits, 4, rng=0)
        return
    # Unchecked: the position no unmasked class can fill holds the invalid index K.
    index = to_numpy(gk.gumbel_top_k(logits, 4, rng=0, sample_shape=10))
    assert np.all(index[..., 3] == 5)
    np.testing.assert_array_equal(np.sort(index[:, 1, :3]), np.broadcast_to([1, 2, 4], (10, 3)))
    hard = to_numpy(gk.relaxed_top_k(logits, 4, rng=0, hard=True))
    np.testing.assert_array_equal(hard, np.isfinite(MASKED).astype(np.float64))


@pytest.mark.parametrize("function", ["gumbel_top_k", "relaxed_top_k"])


def test_k_must_be_an_int_in_range(xp, function):
    logits = make(xp, LOGITS)
    for k in (0, -1, 6):
        with pytest.raises(ValueError, match=r"k must be in \[1, 5\] for 5 classes; got"):
            getattr(gk, function)(logits, k, rng=0)
    for k in (2.0, True, "2", None):
        with pytest.raises(TypeError, match="k must be an int"):
            getattr(gk, function)(logits, k, rng=0)


@pytest.mark.parametrize("function", ["gumbel_top_k", "relaxed_top_k"])


def test_shared_arguments_are_checked(xp, function):
    sample = getattr(gk, function)
    logits = make(xp, LOGITS)
    with pytest.raises(ValueError, match="noise and rng are exclusive"):
        sample(logits, 2, noise=make(xp, np.zeros((2, 5))), rng=0)
    with pytest.raises(ValueError, match=r"noise of shape \(2, 4\) does not broadcast"):
        sample(logits, 2, noise=make(xp, np.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\)"):
        sample(logits, 2, axis=2, rng=0)
    with pytest.raises(TypeError, match="logits must have a real floating dtype"):
        sample(make(xp, [[1, 0, 1]], "int64"), 2, rng=0)
    with pytest.raises(TypeError, match="validate must be True or False"):
        sample(logits, 2, rng=0, validate=1)


# --- plackett_luce_log_prob -------------------------------------------------------------------

PL_LOGITS = np.array([0.3, -1.2, 0.8, 0.1, -0.4])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [2, 5])


def test_log_prob_sums_to_one_and_equals_the_product(xp, dtype, k):
    orderings = np.array(list(itertools.permutations(range(5), k)))
    log_p = gk.plackett_luce_log_prob(make(xp, PL_LOGITS, dtype), make(xp, orderings, "int64"))
    assert tuple(log_p.shape) == (len(orderings),)
    assert log_p.dtype == make(xp, PL_LOGITS, dtype).dtype
    values = to_numpy(log_p).astype(np.float64)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    assert math.isclose(np.exp(values).sum(), 1.0, rel_tol=rtol * 5)
    expected = [product_log_prob(PL_LOGITS, o) for o in orderings]
    np.testing.assert_allclose(values, expected, rtol=rtol, atol=rtol)


def test_log_prob_of_a_masked_class_is_minus_inf(xp):
    logits = np.array([0.3, NINF, 0.8, 0.1, NINF])
    orderings = np.array(list(itertools.permutations(range(5), 2)))
    values = to_numpy(gk.plackett_luce_log_prob(make(xp, logits), make(xp, orderings, "int64")))
    names_masked = np.isinf(logits[orderings]).any(axis=1)
    assert np.all(values[names_masked] == NINF)
    assert np.all(np.isfinite(values[~names_masked]))
    assert math.isclose(np.exp(values).sum(), 1.0, rel_tol=1e-12)
    expected = [product_log_prob(logits, o) for o in orderings[~names_masked]]
    np.testing.assert_allclose(values[~names_masked], expected, rtol=1e-12)


@pytest.mark.parametrize(("dtype", "logits", "rtol"), [
    # The first two classes hold all but about 4e-18 (float64) or 3e-9 (float32) of the mass:
    # 1 - pi_0 - pi_1 cancels to nothing in that dtype.
    ("float64", [40.0, 39.0, 0.0, -1.0, -3.0], 1e-12),
    ("float32", [20.0, 18.0, 0.0, -1.0, -3.0], 2e-6),
])


def test_log_prob_is_accurate_when_the_chosen_mass_nears_one(xp, dtype, logits, rtol):
    orderings = np.array([[0, 1, 2, 3], [1, 0, 3, 2], [0, 1, 4, 2]])
    stored = to_numpy(make(xp, logits, dtype)).astype(np.float64)
    expected = np.array([decimal_log_prob(stored, o) for o in orderings])
    # The product formula in the logits' dtype is useless here, so the case discriminates.
    with np.errstate(all="ignore"):
        pi = softmax_np(stored).astype(dtype)
        naive = np.log(pi[orderings[:, 2]] / (1 - pi[orderings[:, 0]] - pi[orderings[:, 1]]))
    assert not np.allclose(naive, np.log(softmax_np(stored[2:])[orderings[:, 2] - 2]), rtol=1e-2)
    values = to_numpy(gk.plackett_luce_log_prob(make(xp, logits, dtype),
                                                make(xp, orderings, "int64")))
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, expected, rtol=rtol)


def shifted_decimal_log_prob(logits, ordering):
    """The Plackett-Luce log-probability at 80 digits, each step on logits less their maximum.

    ``sum_j [(t_{i_j} - m_j) - ln sum_r exp(t_r - m_j)]``, ``m_j`` the largest logit not yet
    chosen: the differences of the stored logits are exact at 80 digits, and decimal does not
    overflow below 10**999999, so logits of any finite magnitude work. The sum is rounded to
    float64 once, at the end.
    """
    with localcontext() as context:
        context.prec = 80
        remaining = {c: Decimal(float(t)) for c, t in enumerate(logits) if t != NINF}
        log_p = Decimal(0)
        for i in ordering:
            if i not in remaining:
                return -math.inf
            top = max(remaining.values())
            total = sum(((t - top).exp() for t in remaining.values()), Decimal(0))
            log_p += (remaining.pop(i) - top) - total.ln()
        return float(log_p)


# Logits whose magnitude dwarfs their differences, up to the float limits. Before, the
# logsumexp of the absolute values rounded log K away (1e8 in float32, 1e17 in float64).
HUGE_LOGITS = {
    "float32": [
        [1e8] * 4,
        [3e38] * 4,
        [-3e38] * 4,
        [1e4, 1e4 + 0.5, 1e4 - 1.0, 1e4 + 2.0],
        [1e8, 1e8 + 8.0, 1e8 - 16.0, 1e8 + 24.0],
        [3e38, -3e38, 0.0, 3e38],
        [-6e4, 6e4, 0.0, 1.0],
    ],
    "float64": [
        [1e17] * 4,
        [1.7e308] * 4,
        [-1.7e308] * 4,
        [1e12, 1e12 + 0.5, 1e12 - 1.0, 1e12 + 2.0],
        [1e17, 1e17 + 16.0, 1e17 - 32.0, 1e17 + 48.0],
        [1.7e308, -1.7e308, 0.0, 1.7e308],
        [-1e300, 1e300, 0.0, 1.0],
    ],
}


@pytest.mark.parametrize("index_dtype", ["uint8", "int8", "int16", "uint16", "uint32"])
def test_log_prob_takes_indices_of_every_integer_dtype(xp, index_dtype):
    # The class numbers were compared in the indices' dtype: with uint8 indices of 300 equal
    # classes, class 256 was read as class 0 (a wrong value, silently); array-api-strict
    # refused to compare with 300, and PyTorch's CPU compares no uint16 or uint32.
    if not has_dtype(xp, index_dtype):
        pytest.skip(f"{xp.__name__} has no {index_dtype}")
    for orderings in ([[0, 1], [1, 0], [120, 7]], [[299, 0], [256, 0]]):
        if index_dtype in ("uint8", "int8") and np.max(orderings) > 127:
            continue  # not held by the dtype
        log_p = computed(gk.plackett_luce_log_prob(make(xp, np.zeros(300)),
                                                   make(xp, orderings, index_dtype)))
        np.testing.assert_allclose(log_p, -math.log(300) - math.log(299), rtol=1e-14)
    # uint8 reaches 255 and int8 127, below 300: each is still a class of 300.
    top = 255 if index_dtype == "uint8" else 127
    log_p = computed(gk.plackett_luce_log_prob(make(xp, np.zeros(300)),
                                               make(xp, [[top, 0]], index_dtype)))
    np.testing.assert_allclose(log_p, -math.log(300) - math.log(299), rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_prob_of_equal_logits_is_exact_at_any_magnitude(xp, dtype):
    # The first of 3 equal classes, then the first of the remaining 2: 1/6, whatever the value.
    for value in (1e8, 3e38, -3e38) if dtype == "float32" else (1e17, 1.7e308, -1.7e308):
        log_p = gk.plackett_luce_log_prob(make(xp, np.full(3, value), dtype),
                                          make(xp, [0, 1], "int64"))
        expected = math.log(Fraction(1, 6))
        assert math.isclose(float(to_numpy(log_p)), expected, rel_tol=4 * np.finfo(dtype).eps)


def test_log_prob_below_the_range_of_half_precision_is_minus_inf_quietly(xp):
    # Computed in float32 (-60000.7), the value lies below float16's range: the cast gives -inf,
    # as documented, and NumPy's overflow warning (an error under -W error) stays inside.
    if not has_dtype(xp, "float16"):
        pytest.skip(f"{xp.__name__} has no float16")
    log_p = gk.plackett_luce_log_prob(make(xp, [0.0, -60000.0, -60000.0], "float16"),
                                      make(xp, [1, 2], "int64"))
    assert computed(log_p) == -np.inf


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [2, 4])
def test_log_prob_is_exact_to_rounding_for_huge_logits(xp, dtype, k):
    orderings = np.array(list(itertools.permutations(range(4), k)))
    eps = float(np.finfo(dtype).eps)
    for logits in HUGE_LOGITS[dtype]:
        stored = to_numpy(make(xp, logits, dtype)).astype(np.float64)
        values = computed(gk.plackett_luce_log_prob(make(xp, logits, dtype),
                                                     make(xp, orderings, "int64")))
        with np.errstate(over="ignore"):  # a log-probability beyond the dtype's range is -inf
            expected = np.array([shifted_decimal_log_prob(stored, o) for o in orderings])
            expected = expected.astype(dtype).astype(np.float64)
        assert not np.any(np.isnan(values)), logits
        np.testing.assert_array_equal(np.isinf(values), np.isinf(expected), err_msg=str(logits))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(values[finite], expected[finite], rtol=8 * k * eps,
                                   atol=8 * k * eps, err_msg=str(logits))
        if len(set(logits)) == 1:  # equal logits: every ordering has 1 / (4 * 3 * ...)
            exact = math.log(Fraction(1, math.perm(4, k)))
            np.testing.assert_allclose(values, exact, rtol=8 * k * eps)
        assert math.isclose(np.exp(values).sum(), 1.0, rel_tol=16 * k * eps)


def test_log_prob_broadcasts_samples_and_takes_the_axis(xp):
    logits_np = np.random.default_rng(8).normal(size=(3, 2))  # classes along axis 0
    indices_np = np.array([[[0, 2], [1, 0]], [[2, 1], [2, 0]]])  # (samples, rows, k)
    indices_np = np.swapaxes(indices_np, -1, -2)  # (samples, k, rows): positions on axis -2
    values = gk.plackett_luce_log_prob(make(xp, logits_np), make(xp, indices_np, "int64"), axis=0)
    assert tuple(values.shape) == (2, 2)
    expected = [[product_log_prob(logits_np[:, r], indices_np[s, :, r]) for r in range(2)]
                for s in range(2)]
    np.testing.assert_allclose(to_numpy(values), expected, rtol=1e-12)


def test_log_prob_of_gumbel_top_k_samples(xp):
    logits = make(xp, LOGITS)
    index = gk.gumbel_top_k(logits, 3, rng=9, sample_shape=SAMPLES)
    values = gk.plackett_luce_log_prob(logits, index)
    assert_same_namespace_device(values, logits)
    assert tuple(values.shape) == (SAMPLES, 2)
    index_np = to_numpy(index)
    expected = [[product_log_prob(LOGITS[r], index_np[s, r]) for r in range(2)]
                for s in range(SAMPLES)]
    np.testing.assert_allclose(to_numpy(values), expected, rtol=1e-12)


def test_log_prob_of_an_invalid_row_is_nan(xp):
    logits = make(xp, [[0.0, 1.0, 2.0], [0.0, np.nan, 1.0], [NINF] * 3, [0.0, np.inf, 1.0]])
    values = computed(gk.plackett_luce_log_prob(logits, make(xp, [[2, 0]] * 4, "int64")))
    assert np.isfinite(values[0])
    assert np.all(np.isnan(values[1:]))


def test_log_prob_arguments(xp):
    logits = make(xp, PL_LOGITS)
    with pytest.raises(TypeError, match="indices must have an integer dtype"):
        gk.plackett_luce_log_prob(logits, make(xp, [0.0, 1.0]))
    with pytest.raises(TypeError, match="indices must be an array of the same library"):
        gk.plackett_luce_log_prob(logits, [0, 1])
    with pytest.raises(ValueError, match=r"indices must hold 1 to 5 positions along axis -1"):
        gk.plackett_luce_log_prob(logits, make(xp, np.zeros(6, dtype=np.int64), "int64"))
    with pytest.raises(ValueError, match=r"indices of shape \(3, 2\) do not broadcast"):
        gk.plackett_luce_log_prob(make(xp, np.zeros((2, 5))), make(xp, [[0, 1]] * 3, "int64"))
    with pytest.raises(ValueError, match=r"axis must be in \[-1, 1\)"):
        gk.plackett_luce_log_prob(logits, make(xp, [0, 1], "int64"), axis=1)


def test_log_prob_of_an_impossible_ordering(xp):
    logits = make(xp, PL_LOGITS)
    bad = {"repeated": [[2, 2, 0]], "negative": [[-1, 2, 0]], "too large": [[5, 2, 0]]}
    for what, ordering in bad.items():
        indices = make(xp, ordering, "int64")
        if host_readable(indices):
            match = "must not repeat a class" if what == "repeated" else r"lie in \[0, 5\)"
            with pytest.raises(ValueError, match=match):
                gk.plackett_luce_log_prob(logits, indices)
        else:  # not checked without a sync: the ordering has probability 0
            assert to_numpy(gk.plackett_luce_log_prob(logits, indices))[0] == NINF


# --- relaxed_top_k ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])


def test_relaxed_matches_the_recursion(xp, dtype, tau):
    logits = make(xp, LOGITS, dtype)
    g = noise_np((SAMPLES, *LOGITS.shape), seed=10)
    y = gk.relaxed_top_k(logits, 3, tau=tau, noise=make(xp, g, dtype), sample_shape=SAMPLES)
    assert_same_namespace_device(y, logits)
    assert y.dtype == logits.dtype
    z = to_numpy(logits).astype(np.float64) + g.astype(dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(to_numpy(y), relaxed_top_k_np(z, 3, tau), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(to_numpy(y).sum(axis=-1), 3.0, rtol=rtol)


def test_relaxed_per_row_temperature_and_axis(xp):
    logits_np = np.random.default_rng(11).normal(size=(4, 3))  # classes along axis 0
    tau_np = np.array([0.2, 1.0, 3.0])
    g = noise_np((2, 4, 3), seed=12)
    y = gk.relaxed_top_k(make(xp, logits_np), 2, tau=make(xp, tau_np), axis=0,
                         noise=make(xp, g), sample_shape=2)
    assert tuple(y.shape) == (2, 4, 3)
    np.testing.assert_allclose(to_numpy(y), relaxed_top_k_np(logits_np + g, 2, tau_np, axis=-2),
                               rtol=1e-12, atol=1e-12)


def test_relaxed_entries_can_exceed_one(xp):
    # Close leading keys at a high temperature: the second round damps the top item only by
    # its first weight, so it regains mass (docs/mathematics.md#relaxed-top-k).
    z = np.array([[1.0, 0.9, -5.0, -6.0]])
    y = to_numpy(gk.relaxed_top_k(make(xp, z), 3, tau=2.0, noise=make(xp, np.zeros((1, 4)))))
    expected = relaxed_top_k_np(z, 3, 2.0)
    assert expected.max() > 1.0
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(), 3.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])


def test_relaxed_tends_to_the_k_hot_as_tau_goes_to_zero(xp, dtype):
    logits = make(xp, LOGITS, dtype)
    g = noise_np((SAMPLES, *LOGITS.shape), seed=13)
    z = to_numpy(logits).astype(np.float64) + g.astype(dtype)
    gaps = np.diff(np.sort(z, axis=-1), axis=-1).min()
    y = to_numpy(gk.relaxed_top_k(logits, 2, tau=1e-4, noise=make(xp, g, dtype),
                                  sample_shape=SAMPLES))
    # Within about exp(-gap / tau) of the k-hot.
    assert gaps > 2e-3
    np.testing.assert_allclose(y, k_hot_np(z, 2), atol=1e-6)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relaxed_tends_to_the_k_hot_for_keys_far_apart(xp, dtype):
    # 1 - a rounds to 0 for a leading key; floored at 2**-126 (Xie & Ermon's code), it lowered
    # the leader by at most 87 nats a round, so a key leading by more won every round: [90, 0,
    # -1] gave [2, 0, 0] at any small tau, [1e30, ...] put all k on one class.
    z = np.array([[90.0, 0.0, -1.0, -3.0], [0.0, 200.0, -1e4, 1.0],
                  [1e30, -1e30, 0.0, 2e29]])
    logits, zeros = make(xp, z, dtype), make(xp, np.zeros_like(z), dtype)
    for tau in (1e-2, 1e-6):
        y = to_numpy(gk.relaxed_top_k(logits, 2, tau=tau, noise=zeros))
        np.testing.assert_allclose(y, k_hot_np(z, 2), atol=1e-6)
    # At tau = 1 against the float64 recursion (in the third row the leader lands on the next
    # key within rounding at the keys' magnitude: a tie either way, not compared).
    y = to_numpy(gk.relaxed_top_k(logits[:2, ...], 3, tau=1.0, noise=zeros[:2, ...]))
    expected = relaxed_top_k_np(z[:2].astype(dtype).astype(np.float64), 3, 1.0)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(y.sum(axis=-1), 3.0, rtol=rtol)


def test_relaxed_hard_is_the_k_hot_of_gumbel_top_k(xp):
    logits = make(xp, MASKED)
    g = make(xp, noise_np((SAMPLES, *MASKED.shape), seed=14))
    hard = to_numpy(gk.relaxed_top_k(logits, 2, tau=0.5, hard=True, noise=g, sample_shape=SAMPLES))
    z = MASKED + to_numpy(g)
    np.testing.assert_array_equal(hard, k_hot_np(z, 2))
    index = to_numpy(gk.gumbel_top_k(logits, 2, noise=g, sample_shape=SAMPLES))
    np.testing.assert_array_equal(hard, np.sum(np.arange(5) == index[..., None], axis=-2))
    # Ties go to the lower index, as in gumbel_top_k.
    tied = to_numpy(gk.relaxed_top_k(make(xp, np.zeros((1, 4))), 2, hard=True,
                                     noise=make(xp, np.zeros((1, 4)))))
    np.testing.assert_array_equal(tied, [[1.0, 1.0, 0.0, 0.0]])


def test_relaxed_masked_classes_get_exactly_zero(xp):
    y = to_numpy(gk.relaxed_top_k(make(xp, MASKED), 3, tau=0.7, rng=15, sample_shape=SAMPLES))
    assert np.all(y[..., np.isinf(MASKED)] == 0.0)
    np.testing.assert_allclose(y.sum(axis=-1), 3.0, rtol=1e-12)
    assert np.all(y >= 0)


@pytest.mark.parametrize("hard", [False, True])


def test_relaxed_invalid_rows_are_nan(xp, hard):
    logits = make(xp, [[0.0, 1.0, NINF], [0.0, np.nan, 1.0], [NINF] * 3, [0.0, np.inf, 1.0]])
    y = computed(gk.relaxed_top_k(logits, 2, rng=0, hard=hard))
    assert np.all(np.isfinite(y[0]))
    assert np.all(np.isnan(y[1:]))


def test_relaxed_same_seed_same_sample(xp):
    logits = make(xp, LOGITS)
    first = to_numpy(gk.relaxed_top_k(logits, 2, rng=16, sample_shape=SAMPLES))
    again = to_numpy(gk.relaxed_top_k(logits, 2, rng=16, sample_shape=SAMPLES))
    np.testing.assert_array_equal(first, again)


def test_relaxed_temperature_is_checked(xp):
    logits = make(xp, LOGITS)
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        gk.relaxed_top_k(logits, 2, tau=0.0, rng=0)
    with pytest.raises(ValueError, match="tau must be positive and finite everywhere"):
        gk.relaxed_top_k(logits, 2, tau=make(xp, [1.0, -1.0]), rng=0, validate=True)
    with pytest.raises(TypeError, match="hard must be True or False"):
        gk.relaxed_top_k(logits, 2, rng=0, hard=1)
    # NumPy's bool scalar is a flag, as configuration read by NumPy gives it.
    np.testing.assert_array_equal(to_numpy(gk.relaxed_top_k(logits, 2, rng=0, hard=np.True_)),
                                  to_numpy(gk.relaxed_top_k(logits, 2, rng=0, hard=True)))


# --- gradients and transforms: PyTorch ---------------------------------------------------------


def pl_gradient_np(logits, ordering):
    """d log P / d logits = sum_j (e_{i_j} - softmax over the classes not yet chosen)."""
    theta = np.asarray(logits, dtype=np.float64).copy()
    gradient = np.zeros_like(theta)
    for i in ordering:
        gradient -= softmax_np(theta)
        gradient[i] += 1.0
        theta[i] = NINF
    return gradient


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


@pytest.fixture
def jax():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)  # float64 references
    return jax


def test_log_prob_gradient(torch):
    logits_np = np.array([[0.3, NINF, 0.8, 0.1, -0.4], [2.0, 1.0, NINF, 0.0, -1.0]])
    logits = torch.tensor(logits_np, requires_grad=True)
    orderings = np.array([[2, 0, 4], [3, 0, 1]])
    gk.plackett_luce_log_prob(logits, torch.tensor(orderings)).sum().backward()
    expected = [pl_gradient_np(logits_np[r], orderings[r]) for r in range(2)]
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert np.all(logits.grad.numpy()[np.isinf(logits_np)] == 0.0)

# Huge logits with a mask: the gradient depends only on their differences.
HUGE_GRADIENT_LOGITS = np.array([[1e17, 1e17 + 16.0, NINF, 1e17 - 32.0, 1e17 + 48.0],
                                 [1.7e308, -1.7e308, 1.7e308, 0.0, NINF]])
HUGE_GRADIENT_ORDERINGS = np.array([[3, 0, 1], [2, 0, 3]])


def test_log_prob_gradient_of_huge_logits(torch):
    logits = torch.tensor(HUGE_GRADIENT_LOGITS, requires_grad=True)
    gk.plackett_luce_log_prob(logits, torch.tensor(HUGE_GRADIENT_ORDERINGS)).sum().backward()
    with np.errstate(over="ignore"):  # -1.7e308 - 1.7e308: a weight of exactly 0
        expected = [pl_gradient_np(HUGE_GRADIENT_LOGITS[r], HUGE_GRADIENT_ORDERINGS[r])
                    for r in range(2)]
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_relaxed_gradcheck_and_straight_through(torch):
    logits = torch.tensor(np.random.default_rng(17).normal(size=(2, 5)), requires_grad=True)
    g = torch.tensor(noise_np((2, 5), seed=18))
    tau = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda lg: gk.relaxed_top_k(lg, 3, tau=tau, noise=g), (logits,)
    )
    # The hard sample's gradient is the relaxed one's.
    weights = torch.tensor(noise_np((2, 5), seed=19))
    soft_grad, = torch.autograd.grad(
        (gk.relaxed_top_k(logits, 3, tau=tau, noise=g) * weights).sum(), logits)
    hard = gk.relaxed_top_k(logits, 3, tau=tau, noise=g, hard=True)
    np.testing.assert_array_equal(hard.detach().numpy(), k_hot_np(logits.detach() + g, 3))
    hard_grad, = torch.autograd.grad((hard * weights).sum(), logits)
    torch.testing.assert_close(hard_grad, soft_grad, rtol=0, atol=0)

def test_relaxed_masked_gradient_is_zero(torch):
    logits = torch.tensor(MASKED, dtype=torch.float32, requires_grad=True)
    y = gk.relaxed_top_k(logits, 3, tau=0.5, rng=20, sample_shape=4)
    (y * torch.arange(5.0)).sum().backward()
    grad = logits.grad.numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(grad[np.isinf(MASKED)] == 0.0)

def test_torch_func_vmap_and_grad(torch):
    from torch.func import grad, vmap

    logits_np = np.array([[0.3, NINF, 0.8, 0.1, -0.4], [2.0, 1.0, NINF, 0.0, -1.0]])
    logits = torch.tensor(logits_np)
    g = noise_np(MASKED.shape, seed=26)
    z = logits_np + g

    def per_row(lg, noise):
        index = gk.gumbel_top_k(lg, 3, noise=noise)
        return (index, gk.plackett_luce_log_prob(lg, index),
                gk.relaxed_top_k(lg, 3, tau=0.5, noise=noise, hard=True))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index, log_p, hard = vmap(per_row)(logits, torch.tensor(g))
    np.testing.assert_array_equal(index.numpy(), top_k_np(z, 3))
    np.testing.assert_allclose(log_p.numpy(), [product_log_prob(logits_np[r], index[r].numpy())
                                               for r in range(2)], rtol=1e-12)
    np.testing.assert_array_equal(hard.numpy(), k_hot_np(z, 3))
    gradient = grad(lambda lg: gk.plackett_luce_log_prob(lg, index).sum())(logits)
    expected = [pl_gradient_np(logits_np[r], index[r].numpy()) for r in range(2)]
    np.testing.assert_allclose(gradient.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_compile_fullgraph(torch):
    with warnings.catch_warnings():
        # Inductor's import calls PyTorch's own deprecated torch.jit.script_method.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        importlib.import_module("torch._inductor.compile_fx")
    torch._dynamo.reset()
    logits = torch.tensor(MASKED, dtype=torch.float32)
    g = torch.tensor(noise_np((3, *MASKED.shape), seed=21), dtype=torch.float32)

    def sample(lg, noise):
        index = gk.gumbel_top_k(lg, 3, noise=noise, sample_shape=3)
        return (index, gk.plackett_luce_log_prob(lg, index),
                gk.relaxed_top_k(lg, 3, tau=0.5, hard=True, noise=noise, sample_shape=3),
                gk.relaxed_top_k(lg, 2, tau=0.5, sample_shape=3))  # the global generator

    gk.gumbel_max(logits, rng=0)  # the adapter lookup is warm
    try:
        compiled = torch.compile(sample, fullgraph=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.manual_seed(22)
            first = compiled(logits, g)
            torch.manual_seed(22)
            second = compiled(logits, g)
    finally:
        torch._dynamo.reset()
    assert [str(w.message) for w in caught] == []
    eager = sample(logits, g)
    assert torch.equal(first[0], eager[0])
    torch.testing.assert_close(first[1], eager[1])
    assert torch.equal(first[2], eager[2])
    assert torch.equal(first[3], second[3])
    z = MASKED.astype(np.float32) + g.numpy()
    np.testing.assert_array_equal(first[0].numpy(), top_k_np(z, 3))
    np.testing.assert_allclose(first[3].numpy().sum(-1), 2.0, rtol=1e-6)


# --- gradients and transforms: JAX -------------------------------------------------------------


def test_jit_matches_the_references(jax):
    jnp = jax.numpy
    g = noise_np((3, *MASKED.shape), seed=23)

    def sample(lg, noise):
        index = gk.gumbel_top_k(lg, 3, noise=noise, sample_shape=3)
        return (index, gk.plackett_luce_log_prob(lg, index),
                gk.relaxed_top_k(lg, 3, tau=0.5, noise=noise, sample_shape=3),
                gk.relaxed_top_k(lg, 3, tau=0.5, hard=True, noise=noise, sample_shape=3))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index, log_p, soft, hard = (
            np.asarray(a) for a in jax.jit(sample)(jnp.asarray(MASKED), jnp.asarray(g))
        )
    z = MASKED + g
    np.testing.assert_array_equal(index, top_k_np(z, 3))
    expected = [[product_log_prob(MASKED[r], index[s, r]) for r in range(2)] for s in range(3)]
    np.testing.assert_allclose(log_p, expected, rtol=1e-12)
    np.testing.assert_allclose(soft, relaxed_top_k_np(z, 3, 0.5), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(hard, k_hot_np(z, 3))


def test_jax_top_k_keeps_the_tie_rule(jax):
    # JAX's adapter ranks with jax.lax.top_k rather than a stable sort: same rule on ties,
    # along any axis, in the default index dtype.
    z = np.random.default_rng(27).integers(0, 3, size=(40, 12)).astype(np.float64)
    z[z == 0] = NINF
    assert np.all(np.isfinite(z).sum(axis=1) >= 4)
    zeros = np.zeros(z.shape)

    @jax.jit
    def rank(logits, noise):
        return (gk.gumbel_top_k(logits.T, 4, axis=0, noise=noise.T),
                gk.relaxed_top_k(logits, 4, hard=True, noise=noise))

    index, hard = rank(jax.numpy.asarray(z), jax.numpy.asarray(zeros))
    assert index.dtype == index_dtype(index)
    np.testing.assert_array_equal(np.asarray(index).T, top_k_np(z, 4))
    np.testing.assert_array_equal(np.asarray(hard), k_hot_np(z, 4) * np.isfinite(z))


def test_jit_ranks_classes_beyond_the_range_before_masked_ones(jax):
    # Traced, the keys cannot look whether a class overflowed: they always take the halves.
    big = 0.9 * float(np.finfo(np.float32).max)
    rows = jax.numpy.asarray([[big, NINF, -big, -0.9 * big, 1.0]], dtype=jax.numpy.float32)

    @jax.jit
    def rank(logits, key):
        return (gk.gumbel_top_k(logits, 4, rng=key),
                gk.relaxed_top_k(logits, 4, hard=True, rng=key))

    index, hard = rank(rows, jax.random.key(33))
    np.testing.assert_array_equal(np.asarray(index), [[0, 4, 3, 2]])
    np.testing.assert_array_equal(np.asarray(hard), [[1, 0, 1, 1, 1]])


def test_jit_leaves_short_rows_to_the_invalid_index(jax):
    # Under a trace the logits cannot be read: a row with too few unmasked classes is not
    # an error there, and its unfillable positions hold K.
    index = jax.jit(lambda lg, key: gk.gumbel_top_k(lg, 4, rng=key))(
        jax.numpy.asarray(MASKED), jax.random.key(0))
    assert np.all(np.asarray(index)[:, 3] == 5)

def test_vmap_over_rows_noise_and_keys(jax):
    jnp = jax.numpy
    g = noise_np(MASKED.shape, seed=26)

    def per_row(lg, noise):
        index = gk.gumbel_top_k(lg, 2, noise=noise)
        return (index, gk.plackett_luce_log_prob(lg, index),
                gk.relaxed_top_k(lg, 2, tau=0.5, noise=noise, hard=True))

    index, log_p, hard = (
        np.asarray(a) for a in jax.jit(jax.vmap(per_row))(jnp.asarray(MASKED), jnp.asarray(g))
    )
    z = MASKED + g
    np.testing.assert_array_equal(index, top_k_np(z, 2))
    np.testing.assert_allclose(log_p, [product_log_prob(MASKED[r], index[r]) for r in range(2)],
                               rtol=1e-12)
    np.testing.assert_array_equal(hard, k_hot_np(z, 2))
    keys = jax.random.split(jax.random.key(1), 50)
    drawn = np.asarray(jax.jit(jax.vmap(lambda key: gk.gumbel_top_k(jnp.asarray(MASKED), 2,
                                                                     rng=key)))(keys))
    assert drawn.shape == (50, 2, 2)
    assert set(np.unique(drawn[:, 0])) == {0, 2, 3}
    assert np.all(drawn[..., 0] != drawn[..., 1])
    assert len({tuple(d.ravel()) for d in drawn}) > 1  # the keys differ, so do the draws


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relaxed_gradient_under_jit_with_a_traced_temperature(jax, dtype):
    # A temperature passed to a jitted function, as docs/schedules.md does it, is traced. Where
    # a weight rounds to 1 (the first row at tau = 0.02), the derivative of log(1 - a) is 1 / 0,
    # and XLA's compiled gradient gave NaN for every logit and for tau. Reference: the float64
    # recursion's derivatives by central differences (0 in the first row, whose weights sit at 0
    # and 1), and the gradient of the same loss with tau a constant.
    jnp = jax.numpy
    logits_np = np.array([[0.0, 1.0, 2.0, 20.0], [0.3, NINF, 0.8, 0.1], [0.5, -0.2, 0.1, 0.4]])
    weights_np = np.array([0.0, 1.0, 2.0, 3.0])
    logits, weights = jnp.asarray(logits_np, dtype=dtype), jnp.asarray(weights_np, dtype=dtype)

    def loss(lg, tau):
        return jnp.sum(gk.relaxed_top_k(lg, 2, tau=tau, noise=jnp.zeros_like(lg)) * weights)

    def loss_np(lg, tau):
        return np.sum(relaxed_top_k_np(lg, 2, tau) * weights_np)

    for tau in (0.02, 0.5):
        traced, traced_tau = jax.jit(jax.grad(loss, argnums=(0, 1)))(logits,
                                                                     jnp.asarray(tau, dtype))
        constant = jax.grad(lambda lg, tau=tau: loss(lg, tau))(logits)
        assert np.isfinite(float(traced_tau))
        np.testing.assert_array_equal(np.asarray(traced)[1, 1], 0.0)  # the masked class
        np.testing.assert_allclose(np.asarray(traced), np.asarray(constant), rtol=1e-4,
                                   atol=1e-6)
        h = 1e-6
        expected = np.zeros_like(logits_np)
        for r, c in np.argwhere(np.isfinite(logits_np)):
            step = np.zeros_like(logits_np)
            step[r, c] = h
            difference = loss_np(logits_np + step, tau) - loss_np(logits_np - step, tau)
            expected[r, c] = difference / (2 * h)
        np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-3, atol=1e-4)


def test_grad(jax):
    jnp = jax.numpy
    logits_np = np.array([[0.3, NINF, 0.8, 0.1, -0.4], [2.0, 1.0, NINF, 0.0, -1.0]])
    orderings = np.array([[2, 0, 4], [3, 0, 1]])
    grad = jax.jit(jax.grad(
        lambda lg: gk.plackett_luce_log_prob(lg, jnp.asarray(orderings)).sum()
    ))(jnp.asarray(logits_np))
    expected = [pl_gradient_np(logits_np[r], orderings[r]) for r in range(2)]
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12, atol=1e-15)
    huge = jax.grad(lambda lg: gk.plackett_luce_log_prob(
        lg, jnp.asarray(HUGE_GRADIENT_ORDERINGS)).sum())(jnp.asarray(HUGE_GRADIENT_LOGITS))
    with np.errstate(over="ignore"):  # -1.7e308 - 1.7e308: a weight of exactly 0
        expected = [pl_gradient_np(HUGE_GRADIENT_LOGITS[r], HUGE_GRADIENT_ORDERINGS[r])
                    for r in range(2)]
    np.testing.assert_allclose(np.asarray(huge), expected, rtol=1e-12, atol=1e-15)
    g = jnp.asarray(noise_np((2, 5), seed=24))
    weights = jnp.asarray(noise_np((2, 5), seed=25))

    def loss(lg, hard):
        return jnp.sum(gk.relaxed_top_k(lg, 3, tau=0.5, noise=g, hard=hard) * weights)

    grad_of_loss = jax.jit(jax.grad(loss), static_argnums=1)
    soft_grad = grad_of_loss(jnp.asarray(logits_np), False)
    hard_grad = grad_of_loss(jnp.asarray(logits_np), True)
    np.testing.assert_allclose(np.asarray(hard_grad), np.asarray(soft_grad), rtol=1e-12)
    assert np.all(np.asarray(soft_grad)[np.isinf(logits_np)] == 0.0)
    assert np.all(np.isfinite(np.asarray(soft_grad)))
