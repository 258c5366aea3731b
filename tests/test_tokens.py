"""Token sampling: ``filter_logits`` and ``sample_tokens`` (temperature, top-k, top-p, min-p).

Expected values come from a float64 NumPy transcription of the filters' definitions written
here (sort, cumulative mass, thresholds), from the softmax over the kept set, and from SciPy's
chi-square tail (per-test alpha 1e-6, sample sizes at each test).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import Backend
from helpers import assert_same_namespace_device, make, to_numpy
from scipy import stats

import gumbelkit as gk

ALPHA = 1e-6


def reference_filter(row: np.ndarray, temperature: float | None, top_k: int | None,
                     top_p: float | None, min_p: float | None) -> np.ndarray:
    """The filters' definitions in float64: the kept classes' tempered logits, -inf elsewhere.

    With a temperature, the tempered logits are ``(z - max z) / temperature``.
    """
    z = np.asarray(row, dtype=np.float64).copy()
    if temperature is not None:
        z = z - z.max()
    if temperature is not None and temperature > 0:
        z = z / temperature
    if temperature == 0:
        return np.where(z == z.max(), z, -np.inf)
    if top_k is not None:
        kth = np.sort(z)[::-1][min(top_k, z.size) - 1]
        z = np.where(z >= kth, z, -np.inf)
    if top_p is not None:
        # Exact rational sums of the float64 weights: a float running sum reads 1 behind a
        # class 37 nats down, and would drop it even at top_p = 1.
        order = np.argsort(-z, kind="stable")
        weight = [Fraction(float(w)) for w in np.exp(z[order] - z.max())]
        total, before, kept = sum(weight), Fraction(0), 0
        for w in weight:
            kept += before < Fraction(top_p) * total
            before += w
        z = np.where(z >= z[order][kept - 1], z, -np.inf)
    if min_p is not None:
        with np.errstate(divide="ignore"):
            z = np.where(z >= z.max() + np.log(min_p), z, -np.inf)
    return z


def law(filtered: np.ndarray) -> np.ndarray:
    finite = np.isfinite(filtered)
    p = np.zeros(filtered.shape)
    p[finite] = np.exp(filtered[finite] - filtered[finite].max())
    return p / p.sum()


PARAMETERS = [
    dict(temperature=0.7),
    dict(top_k=3),
    dict(top_p=0.6),
    dict(min_p=0.2),
    dict(temperature=1.3, top_k=5, top_p=0.8),
    dict(temperature=0.5, top_p=0.9, min_p=0.05),
    dict(top_k=50),  # more than the classes: no filter
    dict(top_p=1.0, min_p=0.0),
]


@pytest.mark.parametrize("parameters", PARAMETERS, ids=lambda p: ",".join(p))
def test_filter_matches_the_definition(xp, parameters):
    """The kept set of 200 random rows of 12 classes equals the float64 reference's.

    Rows where top-p lies within 1e-5 of the mass before a class are left out: float32 may
    decide them either way.
    """
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(200, 12)) * 2
    got = to_numpy(gk.filter_logits(make(xp, rows, "float32"), **parameters))
    compared = 0
    for row, out in zip(rows, got, strict=True):
        expected = reference_filter(row, parameters.get("temperature"), parameters.get("top_k"),
                                    parameters.get("top_p"), parameters.get("min_p"))
        if "top_p" in parameters:
            z = row / parameters.get("temperature", 1.0)
            p = np.sort(law(z))[::-1]
            if np.min(np.abs(np.cumsum(p) - p - parameters["top_p"])) < 1e-5:
                continue
        compared += 1
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(expected))
        np.testing.assert_allclose(out[np.isfinite(out)], expected[np.isfinite(expected)],
                                   rtol=1e-5)
    assert compared > 150


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("top_p", [1.0, 1 - 1e-6, 0.999])
def test_top_p_counts_the_mass_of_rare_classes(xp, dtype, top_p):
    # Rows spread over 100 nats: the mass before a class far down reads 1 in a running sum
    # from the largest (1 + 4e-8 is 1 in float32), which dropped classes that top_p = 1 (no
    # filter) must keep. Rows where top_p lies within 1e-5 (relative) of the mass before a
    # class are left out: float32 may decide them either way.
    rows = -np.random.default_rng(4).uniform(0, 100, size=(100, 12))
    rows[:, 0] = 0.0
    rows = rows.astype(dtype)
    got = to_numpy(gk.filter_logits(make(xp, rows, dtype), top_p=top_p))
    compared = 0
    for row, out in zip(rows, got, strict=True):
        p = np.sort(law(row.astype(np.float64)))[::-1]
        before = np.concatenate([[0.0], np.cumsum(p)[:-1]])
        if top_p < 1 and np.min(np.abs(before - top_p)) < 1e-5 * (1 - top_p):
            continue
        compared += 1
        expected = reference_filter(row, None, None, top_p, None)
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(expected))
    assert compared > 50
    if top_p == 1.0:
        assert np.all(np.isfinite(got))


def test_ties_at_the_boundary_are_kept(xp):
    row = make(xp, np.array([[3.0, 1.0, 2.0, 2.0, 0.0]]))
    kept = np.isfinite(to_numpy(gk.filter_logits(row, top_k=2)))
    np.testing.assert_array_equal(kept, [[True, False, True, True, False]])
    # Top-p after top-k counts the tied classes' mass whether k is one int or one per row.
    ties = np.array([[2.0, 1.0, 1.0, 1.0, 0.0, -1.0]] * 2)
    expected = reference_filter(ties[0], None, 2, 0.7, None)
    for top_k in (2, make(xp, np.array([2, 2]), "int64")):
        got = to_numpy(gk.filter_logits(make(xp, ties), top_k=top_k, top_p=0.7))
        np.testing.assert_array_equal(np.isfinite(got[0]), np.isfinite(expected))


def test_per_row_parameters(xp):
    rows = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 3))
    top_k = make(xp, np.array([1, 2, 4]), "int64")
    kept = np.isfinite(to_numpy(gk.filter_logits(make(xp, rows), top_k=top_k)))
    np.testing.assert_array_equal(kept.sum(axis=1), [1, 2, 4])
    top_p = make(xp, np.array([0.4, 0.7, 1.0]))
    kept = np.isfinite(to_numpy(gk.filter_logits(make(xp, rows), top_p=top_p)))
    np.testing.assert_array_equal(kept.sum(axis=1), [1, 2, 4])


# Two combinations reach every filter; test_filter_matches_the_definition checks each alone.
@pytest.mark.parametrize("parameters", PARAMETERS[4:6], ids=lambda p: ",".join(p))
def test_draws_follow_the_filtered_law(xp, parameters):
    """20,000 draws per row of 3 rows of 8 classes against the renormalised softmax.

    Cells expecting fewer than 5 draws are pooled; a kept class drawn 10% off its rate at
    probability 0.1 (200 expected draws... 2,000) fails with probability above 0.99 at alpha
    1e-6; a filtered class drawn once fails outright (probability 0 cell).
    """
    rng = np.random.default_rng(8)
    rows = rng.normal(size=(3, 8)) * 1.5
    n = 20_000
    batch = np.repeat(rows[None], n, axis=0)
    draws = to_numpy(gk.sample_tokens(make(xp, batch, "float32"), rng=21, **parameters))
    for r in range(3):
        expected = law(reference_filter(rows[r], parameters.get("temperature"),
                                        parameters.get("top_k"), parameters.get("top_p"),
                                        parameters.get("min_p")))
        counts = np.bincount(draws[:, r], minlength=8)
        assert np.all(counts[expected == 0] == 0)
        keep = expected > 0
        if keep.sum() > 1:
            assert stats.chisquare(counts[keep], n * expected[keep]).pvalue > ALPHA


def test_temperature_zero_is_greedy(xp):
    rows = np.array([[0.0, 2.0, 2.0, 1.0], [5.0, -1.0, 4.9, 0.0]])
    temperature = make(xp, np.array([0.0, 0.0]))
    for extra in ({}, {"top_p": 0.1}, {"top_k": 1}, {"min_p": 0.9}):
        got = to_numpy(gk.sample_tokens(make(xp, rows), temperature=temperature, rng=0, **extra))
        np.testing.assert_array_equal(got, [1, 0])
    got = gk.sample_tokens(make(xp, rows), temperature=0.0, rng=0)
    assert_same_namespace_device(got, make(xp, rows))


def test_row_seeds_depend_on_the_row_only(xp):
    """Permuting the batch permutes the tokens; changing other rows changes nothing."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(6, 50))
    seeds = [11, 12, 13, 14, 15, 16]
    first = to_numpy(gk.sample_tokens(make(xp, rows), seeds=seeds, top_p=0.95))
    permutation = rng.permutation(6)
    permuted = to_numpy(gk.sample_tokens(make(xp, rows[permutation]),
                                         seeds=[seeds[i] for i in permutation], top_p=0.95))
    np.testing.assert_array_equal(permuted, first[permutation])
    changed = rows.copy()
    changed[1:] = rng.normal(size=(5, 50))
    alone = to_numpy(gk.sample_tokens(make(xp, changed), seeds=seeds, top_p=0.95))
    assert alone[0] == first[0]
    single = to_numpy(gk.sample_tokens(make(xp, rows[2:3]), seeds=[13], top_p=0.95))
    assert single[0] == first[2]


def test_bad_arguments(xp):
    logits = make(xp, np.zeros((2, 3)))
    for argument, value in (("temperature", -1.0), ("top_p", 0.0), ("top_p", 1.5),
                            ("min_p", 2.0), ("top_k", 0)):
        with pytest.raises(ValueError, match=argument):
            gk.sample_tokens(logits, rng=0, **{argument: value})
    with pytest.raises(ValueError, match="exclusive"):
        gk.sample_tokens(logits, rng=0, seeds=[1, 2])
    with pytest.raises(ValueError, match="one seed per row"):
        gk.sample_tokens(logits, seeds=[1])
    # A top_k that is not an integer is a TypeError whatever its value, below 1 too.
    for not_an_integer in (1.5, 0.5, float("nan"), np.float32(0.5)):
        with pytest.raises(TypeError, match="top_k"):
            gk.sample_tokens(logits, rng=0, top_k=not_an_integer)
    with pytest.raises(ValueError, match="top_p of shape"):
        gk.sample_tokens(logits, rng=0, top_p=make(xp, np.full(5, 0.5)))
    # A boolean array is no number, as True is not (NumPy's np.True_ has a shape and a dtype).
    flags = make(xp, np.array([True, False]), "bool")
    for argument in ("temperature", "top_p", "min_p"):
        with pytest.raises(TypeError, match=f"{argument} must have a real floating dtype"):
            gk.sample_tokens(logits, rng=0, **{argument: flags})


def test_wider_parameter_arrays_keep_values_the_compute_dtype_cannot_hold(xp):
    # float64 parameters of float32 logits were cast first: a temperature of 1e300 became inf
    # and 1e-300 became 0 (greedy), a top_p of 1e-300 became 0; two were refused as out of
    # range. Each row filters as the same number does.
    rows = np.array([[1.0, 3.0, 0.0], [0.5, 0.0, 2.0]])
    logits = make(xp, rows, "float32")
    for argument, values in (("temperature", [1e300, 1.0]), ("temperature", [1e-300, 1.0]),
                             ("top_p", [1e-300, 0.5])):
        got = to_numpy(gk.filter_logits(logits, **{argument: make(xp, values)}))
        for row, value in enumerate(values):
            alone = gk.filter_logits(make(xp, rows[row:row + 1], "float32"), **{argument: value})
            np.testing.assert_array_equal(got[row], to_numpy(alone)[0], err_msg=argument)


def test_subnormal_parameter_arrays_filter_as_the_same_numbers(xp):
    # A float32 array of float32 logits holding a positive subnormal temperature or top_p: the
    # number is clamped to the smallest normal; the array entry was read as greedy eagerly and,
    # as a constant under jax.jit (XLA flushes it to 0), gave a NaN row.
    rows = np.array([[1.0, 3.0, 0.0], [0.5, 0.0, 2.0]])
    logits = make(xp, rows, "float32")
    for argument, values in (("temperature", [1e-45, 1.0]), ("temperature", [1e-40, 0.5]),
                             ("top_p", [1e-45, 0.5])):
        got = to_numpy(gk.filter_logits(logits, **{argument: make(xp, values, "float32")}))
        for row, value in enumerate(values):
            alone = gk.filter_logits(make(xp, rows[row:row + 1], "float32"), **{argument: value})
            np.testing.assert_array_equal(got[row], to_numpy(alone)[0], err_msg=argument)


def test_an_empty_batch_checks_its_seeds_too(xp):
    # No row, so no seed to draw with: the seeds were not looked at.
    logits = make(xp, np.zeros((0, 4)))
    assert to_numpy(gk.sample_tokens(logits, seeds=[])).shape == (0,)
    with pytest.raises(ValueError, match=r"seeds must hold one seed per row, 0 .* got 2"):
        gk.sample_tokens(logits, seeds=[1, 2])
    with pytest.raises(TypeError, match="seeds must be a sequence of ints or an integer array"):
        gk.sample_tokens(logits, seeds=object())


def test_seeds_follow_the_rows_in_any_shape_and_are_checked(xp):
    # Logits of row shape (2, 3): the seeds as a (2, 3) array of the logits' library, as a
    # nested list or as a flat list, in C order, draw the same tokens.
    rows = np.random.default_rng(6).normal(size=(2, 3, 40))
    logits = make(xp, rows)
    flat = [21, 22, 23, 24, 25, 26]
    expected = to_numpy(gk.sample_tokens(logits, seeds=flat, temperature=0.9))
    as_array = make(xp, np.array(flat).reshape(2, 3), "int64")
    np.testing.assert_array_equal(
        to_numpy(gk.sample_tokens(logits, seeds=as_array, temperature=0.9)), expected)
    np.testing.assert_array_equal(
        to_numpy(gk.sample_tokens(logits, seeds=[[21, 22, 23], [24, 25, 26]], temperature=0.9)),
        expected)
    # Each row's token is that of its row alone, drawn with its seed as an int rng.
    alone = [int(to_numpy(gk.sample_tokens(make(xp, rows[i, j][None]), rng=flat[3 * i + j],
                                           temperature=0.9))[0])
             for i in range(2) for j in range(3)]
    np.testing.assert_array_equal(expected.reshape(-1), alone)
    with pytest.raises(TypeError, match="seeds must be ints"):
        gk.sample_tokens(logits, seeds=[1.0] * 6)
    with pytest.raises(TypeError, match="seeds must be ints"):
        gk.sample_tokens(logits, seeds=[True] * 6)
    with pytest.raises(TypeError, match="seeds must have an integer dtype"):
        gk.sample_tokens(logits, seeds=make(xp, np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"seeds must lie in \[0, 2\*\*63\)"):
        gk.sample_tokens(logits, seeds=[1, 2, 3, 4, 5, -6])
    # An array of seeds is checked too wherever reading it is free (JAX's wrapped before), and
    # where the seeds are read to draw from them (Dask; its message named rng).
    negative = make(xp, np.array([1, 2, 3, 4, 5, -6]).reshape(2, 3), "int64")
    if (gk.backends.backend_for(negative).is_host_readable(negative)
            or xp.__name__ == "dask.array"):
        with pytest.raises(ValueError, match=r"seeds must lie in \[0, 2\*\*63\); got -6"):
            gk.sample_tokens(logits, seeds=negative)


def test_a_top_k_beyond_the_classes_keeps_them_all(xp):
    # Any int is accepted, also one beyond int64: it is clipped to the number of classes.
    rows = make(xp, np.random.default_rng(8).normal(size=(3, 7)))
    everything = to_numpy(gk.filter_logits(rows, temperature=0.5))
    for top_k in (7, 8, 2**63, 10**30):
        np.testing.assert_array_equal(
            to_numpy(gk.filter_logits(rows, temperature=0.5, top_k=top_k)), everything)
    # A uint64 array beyond int64 too (it wrapped to a negative count).
    huge = make(xp, np.array([2**63 + 5, 2**64 - 1, 7], dtype=np.uint64), "uint64")
    np.testing.assert_array_equal(
        to_numpy(gk.filter_logits(rows, temperature=0.5, top_k=huge)), everything)


def test_jax_without_x64_filters_in_int32_quietly(jax_without_x64):
    # JAX's default configuration has no int64: the filters count in int32, without JAX's
    # truncation warning (an error in the tests), eagerly and under jit, and keep the classes
    # that the float64 definition keeps.
    jax = jax_without_x64
    values = np.random.default_rng(10).normal(size=(4, 30)) * 2
    rows = jax.numpy.asarray(values, dtype=jax.numpy.float32)
    filters = {"temperature": 0.7, "top_k": 6, "top_p": 0.8, "min_p": 0.05}
    kept = np.isfinite(np.asarray(gk.filter_logits(rows, **filters)))
    for row, got in zip(values.astype(np.float32), kept, strict=True):
        np.testing.assert_array_equal(got, np.isfinite(reference_filter(row, **filters)))
    per_row_k = jax.numpy.asarray([1, 2, 6, 30])
    assert np.isfinite(np.asarray(gk.filter_logits(rows, top_k=per_row_k))).sum(axis=1).tolist() \
        == [1, 2, 6, 30]
    key = jax.random.key(3)
    eager = gk.sample_tokens(rows, rng=key, **filters)
    jitted = jax.jit(lambda x, k: gk.sample_tokens(x, rng=k, **filters))(rows, key)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))


def test_jax_seeds_beyond_int32_without_x64(jax_without_x64):
    # Without jax_enable_x64 no int32 array holds the seed 2**40: each row's key is made as an
    # int rng makes it, and the row's token is the one that rng draws.
    jax = jax_without_x64
    rows = jax.numpy.asarray(np.random.default_rng(9).normal(size=(3, 60)),
                             dtype=jax.numpy.float32)
    seeds = [2**40, 5, 2**62]
    got = np.asarray(gk.sample_tokens(rows, seeds=seeds, top_p=0.9))
    alone = [int(gk.sample_tokens(rows[i:i + 1], rng=seed, top_p=0.9)[0])
             for i, seed in enumerate(seeds)]
    np.testing.assert_array_equal(got, alone)


def test_invalid_rows_give_the_class_count(xp):
    rows = np.array([[0.0, np.nan, 1.0], [-np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0]])
    got = to_numpy(gk.sample_tokens(make(xp, rows), rng=0, top_p=0.9))
    np.testing.assert_array_equal(got[:2], [3, 3])
    assert got[2] in (1, 2)


def test_jax_jit_with_a_subnormal_float_temperature():
    # XLA flushes a subnormal constant of a compiled function to 0: divided by it, the row's
    # maximum was NaN, and with a filter every class was -inf (class 0 drawn, not the argmax).
    # Every class but the largest lies at least 1e37 below it, as in the temperature -> 0 limit.
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jnp = jax.numpy
    rows = jnp.asarray([[1.0, 3.0, 0.0], [0.5, 0.0, 2.0]], dtype=jnp.float32)
    key = jax.random.key(0)
    for filters in ({}, {"top_k": 2}):
        tokens = jax.jit(lambda z, f=filters: gk.sample_tokens(
            z, temperature=1e-40, rng=key, **f))(rows)
        np.testing.assert_array_equal(tokens, [1, 2])
    for filters in ({}, {"min_p": 0.5}):
        filtered = np.asarray(jax.jit(lambda z, f=filters: gk.filter_logits(
            z, temperature=1e-40, **f))(rows))
        np.testing.assert_array_equal(filtered[[0, 1], [1, 2]], [0.0, 0.0])
        others = filtered[[0, 0, 1, 1], [0, 2, 0, 1]]
        assert not np.isnan(others).any()
        assert (others <= -1e37).all(), others


def test_jax_jit_with_row_seeds():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rows = jnp.asarray(np.random.default_rng(2).normal(size=(4, 30)))
    seeds = jnp.asarray([5, 6, 7, 8])
    jitted = jax.jit(lambda x, s: gk.sample_tokens(x, seeds=s, temperature=0.8, top_k=10,
                                                   top_p=0.9))
    eager = gk.sample_tokens(rows, seeds=[5, 6, 7, 8], temperature=0.8, top_k=10, top_p=0.9)
    np.testing.assert_array_equal(np.asarray(jitted(rows, seeds)), np.asarray(eager))
    assert math.prod(eager.shape) == 4
    # A seed out of range under the trace makes its row invalid (the number of classes), as a
    # parameter out of range does; it drew what 2**32 - 1 draws.
    tokens = np.asarray(jitted(rows, jnp.asarray([5, -1, 7, 8])))
    np.testing.assert_array_equal(tokens, [eager[0], 30, eager[2], eager[3]])


def test_jax_jit_with_a_subnormal_top_p():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    rows = np.random.default_rng(3).normal(size=(2, 6)).astype(np.float32)
    top_p = jax.numpy.asarray(np.array([1e-40, 0.5], dtype=np.float32))
    tokens = jax.jit(lambda x, p: gk.sample_tokens(x, top_p=p, rng=jax.random.key(1)))(
        jax.numpy.asarray(rows), top_p)
    assert int(np.asarray(tokens)[0]) == int(rows[0].argmax())


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_tokens_are_gumbel_max_of_the_filtered_logits(xp, axis):
    # sample_tokens races the filtered logits against gumbel_max's noise (the logits' shape,
    # whatever the class axis): its tokens are gumbel_max of filter_logits from the same seed,
    # with per-row parameters of the row shape, in three dimensions, on every backend.
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 5, 6)) * 2
    row_shape = tuple(n for i, n in enumerate(logits.shape) if i != axis % 3)
    parameters = dict(
        temperature=make(xp, rng.uniform(0.3, 2.0, size=row_shape)),
        top_k=make(xp, rng.integers(1, 7, size=row_shape), "int64"),
        top_p=make(xp, rng.uniform(0.3, 1.0, size=row_shape)),
        min_p=0.05,
    )
    x = make(xp, logits)
    tokens = gk.sample_tokens(x, axis=axis, rng=11, **parameters)
    assert_same_namespace_device(tokens, x)
    filtered = gk.filter_logits(x, axis=axis, **parameters)
    np.testing.assert_array_equal(to_numpy(tokens),
                                  to_numpy(gk.gumbel_max(filtered, axis=axis, rng=11)))


def test_a_parameter_out_of_range_makes_its_row_invalid_where_unread():
    # Dask and jax.jit cannot read a per-row parameter for free: its row is invalid, NaN in
    # filter_logits as in sample_tokens (index K), never a filtered law of the bad value.
    rows = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]))
    cases = []
    try:
        import dask.array as da
    except ImportError:
        da = None
    if da is not None:
        logits = da.from_array(rows)
        cases.append((lambda **kw: gk.filter_logits(logits, **kw).compute(),
                      lambda **kw: gk.sample_tokens(logits, rng=0, **kw).compute(),
                      lambda values: da.from_array(np.asarray(values))))
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    if jax is not None:
        logits32 = jnp.asarray(rows, dtype=jnp.float32)
        cases.append((lambda **kw: np.asarray(jax.jit(
                          lambda x, p: gk.filter_logits(x, **{k: p for k in kw}))(
                          logits32, *kw.values())),
                      lambda **kw: np.asarray(jax.jit(
                          lambda x, p: gk.sample_tokens(x, rng=jax.random.key(0),
                                                        **{k: p for k in kw}))(
                          logits32, *kw.values())),
                      jnp.asarray))
    if not cases:
        pytest.skip("neither Dask nor JAX is installed")
    for filtered, tokens, as_array in cases:
        for argument, values in (("temperature", [-1.0, 1.0]), ("top_p", [0.0, 0.9]),
                                 ("top_k", [0, 2]), ("min_p", [1.5, 0.1])):
            out = filtered(**{argument: as_array(values)})
            assert np.isnan(out[0]).all(), argument
            assert np.isfinite(out[1]).any(), argument
            np.testing.assert_array_equal(np.asarray(tokens(**{argument: as_array(values)}))[0],
                                          4)


@pytest.mark.parametrize(("argument", "value", "same_as"), [
    ("temperature", 1e39, "largest"),   # beyond float32: its largest value
    ("top_p", 1e-300, "smallest"),      # below float32's normals: its smallest normal
])
def test_numbers_beyond_the_compute_dtype_are_clamped(xp, argument, value, same_as):
    rows = np.random.default_rng(2).normal(size=(3, 6))
    logits = make(xp, rows, "float32")
    finfo = np.finfo(np.float32)
    clamped = float(finfo.max) if same_as == "largest" else float(finfo.smallest_normal)
    np.testing.assert_array_equal(
        to_numpy(gk.sample_tokens(logits, rng=1, **{argument: value})),
        to_numpy(gk.sample_tokens(logits, rng=1, **{argument: clamped})))
    out = to_numpy(gk.filter_logits(logits, **{argument: value}))
    assert not np.isnan(out).any()
    if argument == "top_p":  # the top class alone
        np.testing.assert_array_equal(np.isfinite(out).sum(axis=-1), 1)


def test_a_subnormal_top_p_array_keeps_the_top_class(xp):
    # 1e-40 is positive: in range. XLA on the CPU reads a subnormal as 0 in comparisons, which
    # refused it (eagerly) or made its row invalid (under jax.jit).
    rows = np.random.default_rng(3).normal(size=(3, 6))
    logits = make(xp, rows, "float32")
    top_p = make(xp, np.array([1e-40, 1e-45, 0.5]), "float32")
    out = to_numpy(gk.filter_logits(logits, top_p=top_p))
    np.testing.assert_array_equal(np.isfinite(out[:2]), np.eye(6, dtype=bool)[rows[:2].argmax(1)])
    tokens = to_numpy(gk.sample_tokens(logits, top_p=top_p, rng=4))
    np.testing.assert_array_equal(tokens[:2], rows[:2].argmax(1))


@pytest.mark.parametrize(("dtype", "min_p", "row", "kept"), [
    ("float32", 1e-45, [0.0, -95.0, -110.0], 2),     # log(1e-45) = -103.6: subnormal in float32
    ("float32", 1e-50, [0.0, -110.0, -120.0], 2),    # -115.1: below float32's subnormals
    ("float64", 1e-310, [0.0, -710.0, -720.0], 2),   # -713.8: subnormal in float64
])
def test_a_tiny_min_p_keeps_the_classes_within_its_logarithm(xp, backend, dtype, min_p, row,
                                                             kept):
    # p >= min_p max(p): a class d nats down is kept where d <= -log(min_p) (math.log, float64);
    # min_p was raised to the smallest normal, which dropped classes about 90 nats down.
    logits = make(xp, np.array([row]), dtype)
    expected = np.arange(len(row)) < kept
    out = to_numpy(gk.filter_logits(logits, min_p=min_p))
    np.testing.assert_array_equal(np.isfinite(out[0]), expected)
    if np.finfo(dtype).tiny * np.finfo(dtype).eps > min_p:
        return  # as an array it rounds to 0 in the dtype, which keeps every class
    out = to_numpy(gk.filter_logits(logits, min_p=make(xp, np.array([min_p]), dtype)))
    if backend is Backend.JAX:
        # XLA on the CPU reads a subnormal array as 0 (keep every class): docs/categorical.md.
        expected = np.ones(len(row), dtype=bool)
    np.testing.assert_array_equal(np.isfinite(out[0]), expected)


def test_unsigned_seed_arrays_are_read_within_their_bounds(xp, backend):
    # Unsigned seeds below 2**63 are all valid: no comparison PyTorch's CPU lacks for them.
    logits = make(xp, np.zeros((3, 5)))
    expected = to_numpy(gk.sample_tokens(logits, seeds=[1, 2, 3]))
    for dtype in ("uint8", "uint32", "uint64"):
        try:
            seeds = make(xp, np.array([1, 2, 3]), dtype)
        except (TypeError, AttributeError, ValueError) as error:
            pytest.skip(f"{backend.adapter_name} makes no {dtype} array here: {error}")
        np.testing.assert_array_equal(to_numpy(gk.sample_tokens(logits, seeds=seeds)), expected)
    top = make(xp, np.array([1, 2**63, 3], dtype=np.uint64), "uint64")
    if gk.backends.backend_for(top).is_host_readable(top):
        with pytest.raises(ValueError, match=r"seeds must lie in \[0, 2\*\*63\); got "
                                             r"9223372036854775808"):
            gk.sample_tokens(logits, seeds=top)


@pytest.mark.parametrize("as_array", [False, True], ids=["number", "array"])
def test_a_huge_temperature_keeps_masks_and_the_law(xp, as_array):
    # Above 1 / float32's smallest normal (2**126), XLA on the CPU multiplies by a reciprocal
    # that it flushes to 0: a masked class became NaN and was drawn, and -3e38 / 1e38 came out
    # 0. Reference: (logits - max) / temperature in float64, which float32 holds here.
    rows = np.array([[-np.inf, -3e38, 0.0, 1.0], [0.0, -np.inf, 2.0, -1e38]], dtype=np.float32)
    logits = make(xp, rows, "float32")
    temperature = make(xp, [1e38, 1e38], "float32") if as_array else 1e38
    out = to_numpy(gk.filter_logits(logits, temperature=temperature))
    wide = rows.astype(np.float64)
    expected = (wide - wide.max(axis=-1, keepdims=True)) / 1e38
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    # JAX flushes subnormal results (-1 / 1e38) to 0: an absolute tolerance of the smallest
    # normal number.
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-6,
                               atol=float(np.finfo(np.float32).smallest_normal))
    tokens = np.concatenate([to_numpy(gk.sample_tokens(logits, temperature=temperature,
                                                       rng=seed)) for seed in range(40)])
    assert not np.isin(tokens[0::2], [0]).any()  # the masked classes are never drawn
    assert not np.isin(tokens[1::2], [1]).any()


def test_a_huge_constant_temperature_under_jax_jit_keeps_masks_and_values():
    # A temperature that is a constant of the compiled function: XLA folds a constant divisor
    # into its reciprocal, which it flushes to 0 above 2**126, so the finite classes tied (all
    # 0) and a masked one became NaN. Reference: (x - max) / T in float64.
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    rows = np.array([[-np.inf, 3e38, 0.0]], dtype=np.float32)
    logits = jax.numpy.asarray(rows)
    draw = jax.jit(lambda x, key: gk.sample_tokens(x, temperature=1e38, rng=key))
    tokens = np.concatenate([np.asarray(draw(logits, jax.random.key(s))) for s in range(40)])
    assert not (tokens == 0).any()
    filtered = np.asarray(jax.jit(lambda x: gk.filter_logits(x, temperature=1e38))(logits))
    wide = rows.astype(np.float64)
    expected = (wide - wide.max()) / 1e38
    assert np.isneginf(filtered[0, 0])
    np.testing.assert_allclose(filtered[0, 1:], expected[0, 1:], rtol=1e-6)
