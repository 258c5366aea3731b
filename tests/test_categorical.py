"""``gumbelkit.categorical``: its tables' exact laws, its draws' laws, shapes, errors, transforms.

Expected values come from independent sources: the softmax in float64 written here, Python's
``fractions`` and ``math.fsum`` for the laws the tables imply, SciPy's chi-square and binomial
tails. The tables are tested exactly (the law each implies, computed from its entries, against
the softmax), the draws statistically at a per-test alpha of 1e-6 with the sample sizes stated
at each test.
"""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import assert_same_namespace_device, make, minimal_adapter, to_numpy
from scipy import stats

import gumbelkit as gk
from gumbelkit import backends
from gumbelkit._categorical import alias_table, level_cdf, table_dtype
from gumbelkit.backends import resolved_for

METHODS = ("gumbel", "cdf", "alias")
ALPHA = 1e-6


def softmax64(row: np.ndarray) -> np.ndarray:
    """The softmax of one row in float64, with relative precision for tiny probabilities."""
    row = np.asarray(row, dtype=np.float64)
    top = np.max(row)
    shifted = row - top
    return np.exp(shifted - math.log(math.fsum(np.exp(shifted[np.isfinite(shifted)]))))


def alias_law(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The law an alias table implies: column ``c`` is taken with ``1/K``, then kept or aliased."""
    k = threshold.shape[-1]
    law = threshold / k
    np.add.at(law, alias, (1.0 - threshold) / k)
    return law


def cdf_law(keys: np.ndarray, totals: np.ndarray, units: np.ndarray, k: int) -> np.ndarray:
    """The law a level CDF implies: each level's mass, split by its integer steps, per class."""
    law = np.zeros(k)
    level_mass = totals / totals.sum()
    for slot in range(totals.size):
        running = keys[slot * k:(slot + 1) * k] - slot * 2**60
        steps = np.diff(np.concatenate([[0], running])).astype(np.float64)
        assert np.all(steps >= 0)
        if running[-1] > 0:
            law += level_mass[slot] * steps / float(running[-1])
    return law


def rows_to_test(rng: np.random.Generator) -> list[np.ndarray]:
    """Rows that stress the tables: ties, masks, 18, 40 and 60 nats of range, huge K."""
    rows = [np.zeros(1), np.zeros(2), np.array([0.0, -np.inf, 1.0]), np.zeros(7)]
    for k in (3, 17, 256, 5000):
        rows.append(rng.normal(size=k) * 3)
        rows.append(np.round(rng.normal(size=k)))  # many exact ties
        spread = rng.normal(size=k)
        spread[rng.integers(0, k, size=max(1, k // 10))] -= rng.choice([18.0, 40.0, 60.0])
        rows.append(spread)
    rare = np.full(4097, -18.0)
    rare[0] = 0.0
    rows.append(rare)
    deep = np.full(65, -40.0)
    deep[3] = 0.0
    rows.append(deep)
    masked = rng.normal(size=100)
    masked[::3] = -np.inf
    rows.append(masked)
    return rows


@pytest.mark.parametrize("build", ["alias", "cdf"])
def test_tables_imply_the_softmax_exactly(xp, build):
    """Every class's probability from the table, against the float64 softmax.

    Alias tables: a relative 1e-9. The level CDF: its bound, a relative ``2**-(30 - log2 K)``
    for the smallest weight of a level, for every class up to 60 nats below the maximum (18
    and 40 nats included), and 1% deeper.
    A -inf class has probability 0.
    """
    backend = resolved_for(make(xp, np.zeros(1)))
    namespace = backend.namespace(make(xp, np.zeros(1)))
    dtype = table_dtype(backend, namespace, None)
    if dtype != namespace.float64:
        pytest.skip("this namespace has no float64 now; test_float32_tables covers it")
    rng = np.random.default_rng(7)
    table = alias_table if build == "alias" else level_cdf
    if backend.name == "jax":
        # One compilation per row's shape, not one per operation (eager JAX).
        import jax

        table = jax.jit(table, static_argnames=("dtype", "backend", "xp", "device"))
    for row in rows_to_test(rng):
        logits = make(xp, row[None, :])
        device = None if backend.name == "jax" else backend.device(logits)
        expected = softmax64(row)
        if build == "alias":
            threshold, alias, valid = table(logits, dtype, backend=backend, xp=namespace,
                                            device=device)
            threshold, alias = to_numpy(threshold)[0], to_numpy(alias)[0]
            assert np.all((threshold >= 0) & (threshold <= 1))
            assert np.all((alias >= 0) & (alias < row.size))
            law = alias_law(threshold, alias)
        else:
            keys, totals, units, valid = table(logits, dtype, backend=backend, xp=namespace,
                                               device=device)
            law = cdf_law(to_numpy(keys)[0], to_numpy(totals)[0], to_numpy(units), row.size)
        assert bool(to_numpy(valid)[0])
        assert np.all(law[expected == 0] == 0)
        # The contract reaches 60 nats below the maximum; the CDF's last level holds what lies
        # deeper with fewer units (a weight 2**-(60 + d) has 2**(60 - log2 K - d) of them).
        positive = expected > 0
        within = expected > expected.max() * math.exp(-60.0)
        relative = np.abs(law[within] - expected[within]) / expected[within]
        bound = 1e-9 if build == "alias" else 2.0 ** -(30 - math.ceil(math.log2(row.size)))
        assert relative.max() < bound, (row.size, relative.max())
        deeper = positive & ~within
        np.testing.assert_allclose(law[deeper], expected[deeper], rtol=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_shapes_dtypes_and_namespace(xp, method):
    logits = make(xp, np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])), "float32")
    index = gk.categorical(logits, sample_shape=(4, 5), rng=0, method=method)
    assert tuple(index.shape) == (4, 5, 2)
    assert_same_namespace_device(index, logits)
    reference = gk.gumbel_max(logits, rng=0, sample_shape=(4, 5))
    assert index.dtype == reference.dtype
    values = to_numpy(index)
    assert values.min() >= 0
    assert values.max() <= 2
    # The class axis anywhere, and no sample_shape.
    moved = gk.categorical(make(xp, np.zeros((3, 2, 4))), axis=1, rng=1, method=method)
    assert tuple(moved.shape) == (3, 4)
    assert to_numpy(moved).max() <= 1


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_draws(xp, method):
    logits = make(xp, np.log(np.array([0.1, 0.2, 0.3, 0.4])))
    first = to_numpy(gk.categorical(logits, sample_shape=50, rng=3, method=method))
    again = to_numpy(gk.categorical(logits, sample_shape=50, rng=3, method=method))
    other = to_numpy(gk.categorical(logits, sample_shape=50, rng=4, method=method))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# Three invalid rows (a NaN, a +inf, all -inf), one with a single finite class, one with a -inf
# class: the draws of each are checked by check_invalid_and_masked_rows.
INVALID_AND_MASKED_ROWS = np.array([
    [0.0, np.nan, 1.0],
    [0.0, np.inf, 1.0],
    [-np.inf, -np.inf, -np.inf],
    [-np.inf, 0.0, -np.inf],
    [0.5, -np.inf, 0.0],
])


def check_invalid_and_masked_rows(draws: np.ndarray) -> None:
    """An invalid row gives K = 3; a -inf class is never drawn."""
    assert np.all(draws[:, :3] == 3)
    assert np.all(draws[:, 3] == 1)
    assert set(np.unique(draws[:, 4])) <= {0, 2}


@pytest.mark.parametrize("method", METHODS)
def test_invalid_and_masked_rows(xp, method):
    """A NaN, a +inf or an all -inf row gives K; a -inf class is never drawn."""
    rows = make(xp, INVALID_AND_MASKED_ROWS)
    check_invalid_and_masked_rows(
        to_numpy(gk.categorical(rows, sample_shape=200, rng=0, method=method)))
    with pytest.raises(ValueError, match="row"):
        gk.categorical(rows, rng=0, method=method, validate=True)


def test_empty_batches(xp):
    for method in METHODS:
        assert tuple(gk.categorical(make(xp, np.zeros((0, 3))), sample_shape=10, rng=0,
                                    method=method).shape) == (10, 0)
        assert tuple(gk.categorical(make(xp, np.zeros((2, 3))), sample_shape=0, rng=0,
                                    method=method).shape) == (0, 2)


@pytest.mark.parametrize("method", METHODS)
def test_chi_square_of_many_rows(xp, method):
    """20,000 draws from each of 3 rows of 6 classes, against the softmax (alpha 1e-6 each).

    The smallest cell expects 20,000 x 0.02 = 400 draws; a class drawn 10% too often or too
    rarely in one row (a 0.1 relative bias on p = 0.2) fails with probability above 0.99.
    """
    p = np.array([
        [0.02, 0.08, 0.2, 0.3, 0.1, 0.3],
        [1 / 6] * 6,
        [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
    ])
    draws = to_numpy(gk.categorical(make(xp, np.log(p)), sample_shape=20_000,
                                    rng=11, method=method))
    for row in range(3):
        counts = np.bincount(draws[:, row], minlength=6)
        assert stats.chisquare(counts, 20_000 * p[row]).pvalue > ALPHA


def test_auto_picks_by_draws_per_row(xp, monkeypatch):
    """auto: Gumbel-max below TABLE_FROM_DRAWS draws per row (the same values as gumbel_max)."""
    logits = make(xp, np.log(np.array([[0.2, 0.3, 0.5]] * 4)))
    few = gk.categorical(logits, sample_shape=2, rng=9)
    np.testing.assert_array_equal(to_numpy(few),
                                  to_numpy(gk.gumbel_max(logits, sample_shape=2, rng=9)))
    many = gk.categorical(logits, sample_shape=64, rng=9)
    forced = gk.categorical(logits, sample_shape=64, rng=9,
                            method=gk._categorical.choose_method(64, 3))
    np.testing.assert_array_equal(to_numpy(many), to_numpy(forced))


def test_bad_arguments(xp):
    logits = make(xp, np.zeros(3))
    with pytest.raises(ValueError, match="method must be one of"):
        gk.categorical(logits, rng=0, method="vose")
    with pytest.raises(TypeError, match="sample_shape"):
        gk.categorical(logits, rng=0, sample_shape=1.5)
    with pytest.raises(TypeError, match="takes logits by position"):
        gk.categorical(logits, 5)
    with pytest.raises(TypeError, match="axis"):
        gk.categorical(logits, dim=-1)
    with pytest.raises(ValueError, match="axis"):
        gk.categorical(logits, axis=2)


def test_jax_jit_and_vmap():
    """Jitted draws equal eager ones (alias tables), and vmap maps over keys (the CDF)."""
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)  # as the xp fixture does for JAX: the CDF needs it
    jnp = jax.numpy
    logits = jnp.log(jnp.asarray([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]))
    jitted = jax.jit(lambda x, key: gk.categorical(x, sample_shape=(30,), rng=key,
                                                   method="alias"))
    eager = gk.categorical(logits, sample_shape=(30,), rng=jax.random.key(2), method="alias")
    np.testing.assert_array_equal(np.asarray(jitted(logits, jax.random.key(2))),
                                  np.asarray(eager))
    keys = jax.random.split(jax.random.key(3), 2)
    mapped = jax.vmap(lambda x, key: gk.categorical(x, sample_shape=(5,), rng=key,
                                                    method="cdf"))(logits, keys)
    assert mapped.shape == (2, 5)
    assert int(mapped.max()) <= 2


def test_without_x64_alias_tables_are_built_in_a_scope(jax_without_x64):
    """Without jax_enable_x64 the alias tables run inside jax.enable_x64, eagerly and under jit.

    Gumbel-max below ALIAS_WITHOUT_CDF_FROM_DRAWS draws per row, alias tables from there (the
    CDF's float64 uniforms JAX draws only with x64); int32 indices, as gumbel_max gives. The
    law: 20,000 draws from each of 3 rows, a chi-square per row at alpha 1e-6, as in
    test_chi_square_of_many_rows. pyproject turns warnings into errors, so a 64-bit type that
    JAX truncates while lowering the jitted call fails here.
    """
    jax = jax_without_x64
    jnp = jax.numpy
    p = np.array([[0.02, 0.08, 0.2, 0.3, 0.1, 0.3], [1 / 6] * 6, [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    logits = jnp.log(jnp.asarray(p, dtype=jnp.float32))
    key = jax.random.key(5)
    below = gk._categorical.ALIAS_WITHOUT_CDF_FROM_DRAWS - 1
    np.testing.assert_array_equal(
        np.asarray(gk.categorical(logits, sample_shape=(below,), rng=key)),
        np.asarray(gk.gumbel_max(logits, sample_shape=(below,), rng=key)),
    )
    np.testing.assert_array_equal(
        np.asarray(gk.categorical(logits, sample_shape=(below + 1,), rng=key)),
        np.asarray(gk.categorical(logits, sample_shape=(below + 1,), rng=key, method="alias")),
    )
    eager = gk.categorical(logits, sample_shape=(20_000,), rng=key)
    assert eager.dtype == jnp.int32
    np.testing.assert_array_equal(
        np.asarray(eager),
        np.asarray(gk.categorical(logits, sample_shape=(20_000,), rng=key, method="alias")))
    jitted = jax.jit(lambda x, k: gk.categorical(x, sample_shape=(20_000,), rng=k))(logits, key)
    assert jitted.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))
    for row in range(3):
        counts = np.bincount(np.asarray(eager)[:, row], minlength=6)
        assert stats.chisquare(counts, 20_000 * p[row]).pvalue > ALPHA
    mapped = jax.vmap(lambda x, k: gk.categorical(x, sample_shape=(50,), rng=k))(
        logits, jax.random.split(key, 3))
    assert mapped.shape == (3, 50)
    assert mapped.dtype == jnp.int32
    with pytest.raises(ValueError, match="jax_enable_x64"):
        gk.categorical(logits, sample_shape=(100,), rng=key, method="cdf")
    # Under jit the device is not known: the message names none (it said "on None").
    with pytest.raises(ValueError, match="which jax arrays cannot hold now"):
        jax.jit(lambda x: gk.categorical(x, sample_shape=(100,), rng=key, method="cdf"))(logits)


def test_without_x64_invalid_masked_and_empty(jax_without_x64):
    """The alias tables in the scope keep test_invalid_and_masked_rows' and the empty rules."""
    jax = jax_without_x64
    jnp = jax.numpy
    rows = jnp.asarray(INVALID_AND_MASKED_ROWS, dtype=jnp.float32)
    key = jax.random.key(0)
    for call in (gk.categorical, jax.jit(gk.categorical, static_argnames="sample_shape")):
        check_invalid_and_masked_rows(np.asarray(call(rows, sample_shape=200, rng=key)))
    masked = gk.categorical(jnp.zeros((2, 4)), sample_shape=100, rng=key,
                            mask=jnp.asarray([True, False, True, False]))
    assert set(np.unique(np.asarray(masked))) <= {0, 2}
    with pytest.raises(ValueError, match="row"):
        gk.categorical(rows, sample_shape=100, rng=key, validate=True)
    empty = gk.categorical(jnp.zeros((0, 3)), sample_shape=100, rng=key)
    assert empty.shape == (100, 0)
    assert empty.dtype == jnp.int32


def test_without_x64_rare_classes_at_their_rate(jax_without_x64):
    """The conformance design categorical-rare-classes, on alias tables without x64.

    2,480,000 draws from one row: class 0 at 0, 65,536 classes at -18, their total 1.0e-3 (an
    expected 2,480 rare draws). The float32 comparison uniform is refined near 0, so each rare
    threshold ``K p = 4.3e-4`` is accepted at its rate; the design detects a 15% relative error
    with power 0.99 at alpha 1e-6 (exact binomial).
    """
    from gumbelkit.conformance import designs

    jax = jax_without_x64
    row = designs.categorical_rare_logits()
    design = designs.CATEGORICAL_RARE
    index = np.asarray(gk.categorical(jax.numpy.asarray(row, dtype=jax.numpy.float32),
                                      sample_shape=design.n, rng=jax.random.key(18),
                                      method="alias"))
    assert index.max() <= len(row) - 1
    mass = float(1.0 - softmax64(row)[0])
    rare = int(np.count_nonzero(index))
    assert stats.binomtest(rare, design.n, mass).pvalue > ALPHA, (rare, design.n * mass)


def _narrow_numpy_adapter(with_scope: bool) -> SimpleNamespace:
    """A third-party adapter over NumPy that says it has no float64, with or without a scope."""
    wide = [False]

    @contextlib.contextmanager
    def float64_scope():
        wide.append(True)
        try:
            yield
        finally:
            wide.pop()

    scope = {"float64_scope": float64_scope} if with_scope else {}
    return minimal_adapter("numpy", name="narrow numpy", float64_available=lambda device: wide[-1],
                           **scope)


@pytest.mark.parametrize("with_scope", [True, False], ids=["scope", "no scope"])
def test_a_namespace_without_64_bit_arrays(with_scope):
    """auto takes alias tables where float64_scope gives 64 bits, else Gumbel-max; never fails."""
    adapter = _narrow_numpy_adapter(with_scope)
    p = np.array([[0.02, 0.08, 0.2, 0.3, 0.1, 0.3], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    logits = np.log(p).astype(np.float32)
    backends.register_backend(adapter)
    try:
        auto = gk.categorical(logits, sample_shape=20_000, rng=3)
        if with_scope:
            np.testing.assert_array_equal(
                auto, gk.categorical(logits, sample_shape=20_000, rng=3, method="alias"))
        else:
            np.testing.assert_array_equal(auto, gk.gumbel_max(logits, sample_shape=20_000, rng=3))
            with pytest.raises(ValueError, match="method='alias'"):
                gk.categorical(logits, sample_shape=20_000, rng=3, method="alias")
        with pytest.raises(ValueError, match="method='cdf'"):
            gk.categorical(logits, sample_shape=20_000, rng=3, method="cdf")
    finally:
        backends.unregister_backend(adapter)
    for row in range(2):  # alpha 1e-6, as test_chi_square_of_many_rows
        counts = np.bincount(auto[:, row], minlength=6)
        assert stats.chisquare(counts, 20_000 * p[row]).pvalue > ALPHA


def test_a_device_without_float64():
    """array-api-strict's ``no_float64`` device stands for PyTorch's ``mps``: auto takes
    Gumbel-max there, the tables are refused naming the device, the other samplers stay on it.
    """
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    narrow = next((d for d in strict.__array_namespace_info__().devices()
                   if "float64" not in strict.__array_namespace_info__().dtypes(device=d)), None)
    if narrow is None:
        pytest.skip("this array-api-strict has no device without float64 (2.6 added one)")
    p = np.array([[0.02, 0.08, 0.2, 0.3, 0.1, 0.3], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    values = np.log(p).astype(np.float32)
    logits = strict.asarray(values, device=narrow)
    auto = gk.categorical(logits, sample_shape=1000, rng=3)
    assert auto.device == narrow
    expected = gk.gumbel_max(strict.asarray(values), sample_shape=1000, rng=3)
    assert bool(strict.all(auto.to_device(expected.device) == expected))
    for method in ("cdf", "alias"):
        with pytest.raises(ValueError, match=rf"method='{method}' .* arrays on .*no_float64"):
            gk.categorical(logits, sample_shape=1000, rng=3, method=method)
    for sample in (gk.gumbel_softmax(logits, hard=True, rng=0), gk.gumbel_top_k(logits, 2, rng=0),
                   gk.sample_tokens(logits, temperature=0.7, top_p=0.9, rng=0)):
        assert sample.device == narrow


def test_torch_has_no_float64_on_mps():
    from gumbelkit.backends import torch as torch_adapter

    pytest.importorskip("torch", reason="PyTorch is not installed")
    import torch

    assert torch_adapter.float64_available(torch.device("cpu"))
    assert torch_adapter.float64_available(torch.device("meta"))
    assert not torch_adapter.float64_available(torch.device("mps"))


def _float32_inverse_cdf(logits: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A planted wrong sampler: the textbook inverse CDF, accumulated in float32."""
    p = np.exp(logits - logits.max()).astype(np.float32)
    cumulative = np.cumsum(p, dtype=np.float32)
    u = rng.random(n, dtype=np.float32) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, u, side="right"), logits.size - 1)


def test_the_rare_class_design_fails_a_float32_inverse_cdf():
    """The conformance design of 65,536 classes 18 nats down, at its own n and alpha, rejects
    a float32 inverse CDF (the rare steps round to 0) and accepts ``categorical``."""
    from gumbelkit.conformance import designs
    from gumbelkit.conformance import stats as conformance_stats

    design = designs.CATEGORICAL_RARE
    logits = designs.categorical_rare_logits()
    p = softmax64(logits)
    mass = float(1.0 - p[0])
    planted = _float32_inverse_cdf(logits, design.n, np.random.default_rng(0))
    rare = int(np.count_nonzero(planted != 0))
    assert conformance_stats.binomial_pvalue(rare, design.n, mass) < ALPHA, rare
    for method in ("cdf", "alias"):
        ours = gk.categorical(logits.astype(np.float32), sample_shape=design.n, rng=1,
                              method=method)
        rare = int(np.count_nonzero(ours != 0))
        assert conformance_stats.binomial_pvalue(rare, design.n, mass) > ALPHA, (method, rare)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.script.*` is deprecated:DeprecationWarning")
def test_torch_compile_fullgraph():
    """The table methods and token sampling trace without graph breaks (global generator)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]))
    for method in ("cdf", "alias"):
        compiled = torch.compile(
            lambda x, m=method: gk.categorical(x, sample_shape=64, method=m), fullgraph=True
        )
        torch.manual_seed(0)
        draws = compiled(logits)
        assert tuple(draws.shape) == (64, 2)
        assert int(draws.max()) <= 2
    tokens = torch.compile(lambda x: gk.sample_tokens(x, temperature=0.7, top_k=2, top_p=0.9),
                           fullgraph=True)(logits)
    assert tuple(tokens.shape) == (2,)


@pytest.mark.parametrize("rare", [False, True], ids=["one level", "two levels"])
def test_the_top_uniform_draws_the_last_class(monkeypatch, rare):
    # The CDF's uniform V = 1 (the top of (0, 1]) draws the last class of the top level. The
    # row's total, 56305434560707356 units, rounds up by 4 in float64: a count of units taken
    # from that rounded total passed the last class (the index 4096, an invalid row's, with
    # one level; class 0 with two). Found by seed 0 of this row: uniform logits in [-20, 0].
    import gumbelkit._categorical as categorical_module

    logits = np.random.default_rng(0).uniform(-20, 0, size=(1, 4096)).astype(np.float32)
    if rare:
        logits[0, 0] = -25.0  # below 2**-30 of the largest weight: a second level
    backend = resolved_for(logits)
    keys, totals, units, _ = level_cdf(logits, np.float64, backend=backend, xp=np, device="cpu")
    assert float(totals[0, -1] / units[-1]) > int(keys[0, -1]) - (totals.shape[1] - 1) * 2**60

    def top(backend, source, shape, dtype, device):
        return np.ones(shape, dtype=dtype), source

    monkeypatch.setattr(categorical_module, "draw_complement", top)
    index = gk.categorical(logits, sample_shape=3, rng=0, method="cdf")
    np.testing.assert_array_equal(index, [[4095]] * 3)
