"""conditional_gumbel: shapes, dtypes, the exact argmax, masks, errors, seeds, jit and vmap.

The law itself (the PIT of the losers and the Gumbel law of the maximum,
docs/mathematics.md#conditional-noise) is
tested in conformance/test_conditional_gumbel.py. Here the reference is the conditioning event
itself, ``argmax(logits + G) == index``, evaluated in NumPy in the compute dtype.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import assert_same_namespace_device, make, to_numpy

import gumbelkit as gk

LOGITS = np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]]))
MASKED = np.array([[0.0, -np.inf, 1.0, -2.0], [-np.inf, 0.5, 0.5, -np.inf]])
# Eager JAX compiles every primitive once per shape and dtype, so the tests share one shape.
SAMPLES = 2000


def indices(xp, values):
    """An integer index array of the backend ``xp`` (int64, or JAX's default int)."""
    values = np.asarray(values, dtype=np.int64)
    if xp.__name__ == "dask.array":
        return xp.from_array(values, chunks=-1)
    return xp.asarray(values)


def computed(x):
    """Read ``x`` back, ignoring the NumPy warnings a lazy Dask graph raises when it computes
    the deliberate infinities of masked classes and invalid rows (gumbelkit's errstate has
    been left by then)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="dask")
        return to_numpy(x)


def argmax_in(dtype: str, logits: np.ndarray, noise: np.ndarray, axis: int = -1) -> np.ndarray:
    """The argmax of ``logits + noise`` with both in ``dtype`` (the compute dtype), in NumPy."""
    with np.errstate(invalid="ignore"):
        return np.argmax(logits.astype(dtype) + noise.astype(dtype), axis=axis)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shape_dtype_namespace_and_exact_argmax(xp, dtype):
    logits = make(xp, LOGITS, dtype)
    index = indices(xp, [3, 0])  # the least likely class of each row
    g = gk.conditional_gumbel(logits, index, rng=0, sample_shape=(SAMPLES,))
    assert tuple(g.shape) == (SAMPLES, 2, 4)
    assert g.dtype == logits.dtype
    assert_same_namespace_device(g, logits)
    noise = computed(g)
    assert np.all(np.isfinite(noise))
    chosen = argmax_in(dtype, to_numpy(logits), noise)
    np.testing.assert_array_equal(chosen, np.broadcast_to([3, 0], (SAMPLES, 2)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_get_noise_of_their_dtype(xp, dtype):
    logits = make(xp, LOGITS, dtype)
    g = gk.conditional_gumbel(logits, indices(xp, [1, 2]), rng=1, sample_shape=(SAMPLES,))
    assert g.dtype == logits.dtype
    assert np.all(np.isfinite(computed(g)))


def test_axis_int_index_and_per_sample_index(xp):
    # Classes along axis 0; one int for every row, then one index per sample and row.
    logits = make(xp, LOGITS.T)
    g = computed(gk.conditional_gumbel(logits, 1, axis=0, rng=2, sample_shape=(SAMPLES,)))
    assert g.shape == (SAMPLES, 4, 2)
    np.testing.assert_array_equal(argmax_in("float64", LOGITS.T, g, axis=1), 1)
    per_sample = np.random.default_rng(3).integers(0, 4, size=(SAMPLES, 2))
    g = computed(gk.conditional_gumbel(make(xp, LOGITS), indices(xp, per_sample), rng=4,
                                       sample_shape=SAMPLES))
    np.testing.assert_array_equal(argmax_in("float64", LOGITS, g), per_sample)


def test_masked_classes_get_finite_noise_and_stay_minus_infinity(xp):
    index = [2, 1]
    g = computed(gk.conditional_gumbel(make(xp, MASKED), indices(xp, index), rng=5,
                                       sample_shape=(SAMPLES,)))
    assert np.all(np.isfinite(g))
    with np.errstate(invalid="ignore"):
        perturbed = MASKED + g
    assert np.all(perturbed[:, np.isinf(MASKED)] == -np.inf)
    np.testing.assert_array_equal(np.argmax(perturbed, axis=-1),
                                  np.broadcast_to(index, (SAMPLES, 2)))


def test_argmax_is_exact_where_rounding_would_break_it(xp):
    # Near 1e5, float32 rounds theta + G to multiples of 2**-7, so about one loser in a hundred
    # lies within rounding of the winner. Without the move below the winner some of these rows
    # would tie (index 3 is last: a tie goes to a lower index) or reverse.
    base = 1e5 + np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.5, 0.25]])
    logits = make(xp, base, "float32")
    g = computed(gk.conditional_gumbel(logits, indices(xp, [3, 0]), rng=6,
                                       sample_shape=SAMPLES))
    perturbed = to_numpy(logits) + g  # float32, as the compute dtype rounds it
    np.testing.assert_array_equal(np.argmax(perturbed, axis=-1),
                                  np.broadcast_to([3, 0], (SAMPLES, 2)))
    # The case is adversarial: many losers end one float32 step below their winner.
    winner = np.take_along_axis(perturbed, np.array([[3], [0]])[None], axis=-1)
    step = np.spacing(np.float32(1e5))
    assert np.sum(winner - perturbed == step) >= 10


# Logits whose differences overflow the dtype, or nearly: the race runs on differences from the
# row maximum, and the winner's noise saturates at the largest finite value where its exact
# value (its gap to the maximum, plus a Gumbel draw) has none.
EXTREMES = {
    "float32": [
        [2e38, -2e38, 0.0],
        [3e38, 3e38, 3e38],
        [-3e38, -3e38, -1.5e38],
        [1e38, -3e38, 3e38],
        [3.4e38, 1.0, -1.0],
        [1e8, 1e8 + 8.0, -1e8],
    ],
    "float64": [
        [1e308, -1e308, 0.0],
        [1.7e308, 1.7e308, 1.7e308],
        [1.7e308, -1.7e308, 1.0],
        [-1.7e308, -1.7e308, -1e308],
        [1e17, 1e17 + 16.0, -1e17],
    ],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_logits_give_finite_noise_and_the_exact_argmax(xp, dtype):
    rows = np.array(EXTREMES[dtype])
    for index in range(3):
        g = computed(gk.conditional_gumbel(make(xp, rows, dtype), index, rng=13,
                                           sample_shape=(SAMPLES // 10,)))
        assert g.dtype == dtype
        assert np.all(np.isfinite(g)), (index, g)
        np.testing.assert_array_equal(argmax_in(dtype, rows, g), index)


@pytest.mark.parametrize(("dtype", "logits", "index"), [
    ("float32", [2e38, -2e38, 0.0], 1),
    ("float64", [1e308, -1e308, 0.0], 1),
])
def test_a_winner_beyond_the_range_gets_the_largest_finite_noise(xp, dtype, logits, index):
    # Its exact noise, 4e38 (2e308) plus a Gumbel draw, has no finite value in the dtype.
    g = computed(gk.conditional_gumbel(make(xp, logits, dtype), index, rng=14,
                                       sample_shape=SAMPLES))
    assert np.all(g[:, index] == np.finfo(dtype).max)
    assert np.all(np.isfinite(g))
    np.testing.assert_array_equal(argmax_in(dtype, np.array(logits), g), index)


# The largest finite float16 and bfloat16 ((2 - 2**-7) * 2**127, which NumPy lacks).
HALF_MAX = {"float16": 65504.0, "bfloat16": (2 - 2.0**-7) * 2.0**127}


@pytest.mark.parametrize(("dtype", "gap"), [("float16", 6e4), ("bfloat16", 3e38)])
def test_extreme_half_precision_logits_get_finite_noise(xp, dtype, gap):
    # Computed in float32, the winner's noise 2 * gap would overflow the half dtype: it
    # saturates at that dtype's largest value, and the loser lies below the winner before the
    # final cast and after it.
    largest = HALF_MAX[dtype]
    logits = make(xp, [[-gap, gap], [gap, -gap], [-largest, 0.0]], dtype)
    g = gk.conditional_gumbel(logits, indices(xp, [0, 1, 0]), rng=15, sample_shape=SAMPLES)
    assert g.dtype == logits.dtype
    noise = computed(g).astype(np.float32)
    assert np.all(np.isfinite(noise))
    assert np.all(noise[:, 0, 0] == largest)
    assert np.all(noise[:, 1, 1] == largest)
    # The loser's noise is moved below the winner in float32, and again in the half dtype.
    np.testing.assert_array_equal(computed(xp.argmax(logits + g, axis=-1)),
                                  np.broadcast_to([0, 1, 0], (SAMPLES, 3)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("gap", [5.0, 50.0, 1000.0])
def test_half_precision_sums_keep_the_conditioning(xp, dtype, gap):
    # Sums in the half dtype round coarsely: the winner's sum (0 here, 1000 - 1000) ties a
    # loser's that float32 put below it, unless the losers are moved again after the cast
    # (and below 0, where XLA flushes the subnormal neighbour back to 0).
    logits = make(xp, [[0.0, -gap, -gap / 2]], dtype)
    g = gk.conditional_gumbel(logits, 1, rng=16, sample_shape=4000)
    assert g.dtype == logits.dtype
    assert np.all(np.isfinite(computed(g).astype(np.float32)))
    # The sum as the user takes it, in the half dtype, and its argmax there.
    np.testing.assert_array_equal(computed(xp.argmax(logits + g, axis=-1)), 1)


@pytest.mark.parametrize("bad_row", [[0.0, np.nan, 1.0, 2.0], [-np.inf] * 4,
                                     [0.0, np.inf, 1.0, 2.0]], ids=["nan", "no-finite", "inf"])
def test_invalid_rows_are_nan_and_valid_rows_finite(xp, bad_row):
    logits = np.array([[0.0, 1.0, -np.inf, 0.5], bad_row])
    g = computed(gk.conditional_gumbel(make(xp, logits), indices(xp, [1, 0]), rng=7,
                                       sample_shape=SAMPLES))
    assert np.all(np.isfinite(g[:, 0]))
    assert np.all(np.isnan(g[:, 1]))


@pytest.mark.parametrize("index", [4, -1, 1], ids=["above", "negative", "masked"])
def test_bad_index_raises_where_readable_and_gives_nan_rows_elsewhere(xp, index):
    logits = make(xp, MASKED)  # class 1 of row 0 is masked
    bad = indices(xp, [index, 1])
    if xp.__name__ == "dask.array":
        # Reading a Dask array computes its graph: the row is NaN instead.
        g = computed(gk.conditional_gumbel(logits, bad, rng=0, sample_shape=SAMPLES))
        assert np.all(np.isnan(g[:, 0]))
        assert np.all(np.isfinite(g[:, 1]))
    else:
        with pytest.raises(ValueError, match="index must name an unmasked class"):
            gk.conditional_gumbel(logits, bad, rng=0)


@pytest.mark.parametrize("index", [-1, 3, 2**63, 2**70])
def test_an_int_index_out_of_range_raises_on_every_backend(xp, index):
    # A Python int is read for free, Dask's too; beyond int64 it overflowed inside the
    # library (PyTorch, JAX, array-api-strict, Dask) before the range check saw it.
    logits = make(xp, [[0.0, 1.0, 2.0], [1.0, 0.5, -1.0]])
    with pytest.raises(ValueError, match=r"index must name an unmasked class of each row, "
                                         rf"in \[0, 3\); got {index}"):
        gk.conditional_gumbel(logits, index, rng=0)


def test_an_integer_scalar_of_numpy_is_an_int_index(xp):
    # numpy.int64 is an int to Python's number tower; PyTorch's and JAX's logits refused it.
    logits = make(xp, LOGITS)
    expected = computed(gk.conditional_gumbel(logits, 2, rng=4, sample_shape=SAMPLES))
    for scalar in (np.int64(2), np.uint8(2)):
        g = computed(gk.conditional_gumbel(logits, scalar, rng=4, sample_shape=SAMPLES))
        np.testing.assert_array_equal(g, expected)
    with pytest.raises(ValueError, match=r"index must name an unmasked class of each row, "
                                         r"in \[0, 4\)"):
        gk.conditional_gumbel(logits, np.int64(4), rng=0)
    with pytest.raises(TypeError, match="index must"):  # a bool is no index, np.True_ neither
        gk.conditional_gumbel(logits, np.bool_(True), rng=0)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda xp: make(xp, [0.0, 1.0]), TypeError, "index must have an integer dtype"),
        (lambda xp: make(xp, [True, False], "bool"), TypeError,
         "index must have an integer dtype"),
        (lambda xp: indices(xp, [0, 1, 2]), ValueError,
         r"index of shape \(3,\) does not broadcast"),
        (lambda xp: [0, 1], TypeError, "index must be an int or an integer array"),
        (lambda xp: True, TypeError, "index must be an int or an integer array"),
    ],
    ids=["float", "bool", "shape", "list", "python-bool"],
)
def test_bad_index_type_or_shape_names_index(xp, build, error, match):
    with pytest.raises(error, match=match):
        gk.conditional_gumbel(make(xp, LOGITS), build(xp), rng=0)


def test_bad_arguments_name_themselves(xp):
    logits = make(xp, LOGITS)
    with pytest.raises(TypeError, match="logits"):
        gk.conditional_gumbel([[0.0, 1.0]], 0, rng=0)
    with pytest.raises(ValueError, match="axis"):
        gk.conditional_gumbel(logits, 0, axis=2, rng=0)
    with pytest.raises(ValueError, match="sample_shape"):
        gk.conditional_gumbel(logits, 0, sample_shape=(-1,), rng=0)
    with pytest.raises(TypeError, match="rng"):
        gk.conditional_gumbel(logits, 0, rng="seed")


def test_same_seed_same_noise(xp):
    logits = make(xp, LOGITS)
    index = indices(xp, [0, 2])
    first = computed(gk.conditional_gumbel(logits, index, rng=11, sample_shape=SAMPLES))
    again = computed(gk.conditional_gumbel(logits, index, rng=11, sample_shape=SAMPLES))
    other = computed(gk.conditional_gumbel(logits, index, rng=12, sample_shape=SAMPLES))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_noise_carries_no_gradient():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.tensor(LOGITS, requires_grad=True)
    g = gk.conditional_gumbel(logits, torch.tensor([0, 1]), rng=0)
    assert not g.requires_grad


class TestJax:
    @pytest.fixture(autouse=True)
    def _jax(self):
        jax = pytest.importorskip("jax", reason="JAX is not installed")
        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        self.jnp = jax.numpy

    def test_jit_equals_eager_and_bad_index_gives_nan_under_jit(self):
        jax, jnp = self.jax, self.jnp
        logits = jnp.asarray(MASKED)
        key = jax.random.key(0)

        def draw(lg, index, k):
            return gk.conditional_gumbel(lg, index, rng=k, sample_shape=(SAMPLES,))

        index = jnp.asarray([2, 1])
        eager = np.asarray(draw(logits, index, key))
        jitted = np.asarray(jax.jit(draw)(logits, index, key))
        np.testing.assert_array_equal(jitted, eager)
        np.testing.assert_array_equal(argmax_in("float64", MASKED, jitted),
                                      np.broadcast_to([2, 1], (SAMPLES, 2)))
        # Under a trace the index cannot be read: a masked index gives a NaN row.
        bad = np.asarray(jax.jit(draw)(logits, jnp.asarray([1, 1]), key))
        assert np.all(np.isnan(bad[:, 0]))
        assert np.all(np.isfinite(bad[:, 1]))

    def test_vmap_over_keys_and_indices(self):
        jax, jnp = self.jax, self.jnp
        logits = jnp.asarray(LOGITS[0])
        keys = jax.random.split(jax.random.key(1), 6)
        index = jnp.asarray([0, 1, 2, 3, 1, 3])

        @jax.jit
        def draws(keys, index):
            mapped = jax.vmap(lambda k, i: gk.conditional_gumbel(logits, i, rng=k))(keys, index)
            return mapped, gk.conditional_gumbel(logits, index[0], rng=keys[0])

        g, first = draws(keys, index)
        assert g.shape == (6, 4)
        np.testing.assert_array_equal(argmax_in("float64", LOGITS[0], np.asarray(g)),
                                      np.asarray(index))
        # Each key gives its own draw: row 0 is the call with keys[0] alone.
        np.testing.assert_array_equal(np.asarray(g[0]), np.asarray(first))
