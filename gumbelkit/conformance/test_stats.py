"""Meta-tests of the conformance statistics (docs/mathematics.md#testing-samplers).

The helpers of ``stats.py`` are checked against independent computations, calibrated under the
null, and their power formulas compared with simulation; every registered design must reach
power 0.99 at ``ALPHA`` by formula and detect its bias in simulation from the biased law.

NumPy and SciPy only, so these run once rather than per backend. Replications draw from
generators spawned (numpy SeedSequence) from the test's ``seed`` fixture: ``--seed`` replays a
failure and ``--fresh-seeds`` draws new ones. With fresh seeds, each stochastic assertion
here fails a correct helper with probability about ``CALIBRATION_ALPHA`` = 1e-3 or less; with
the default stable seeds its verdict never changes.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from scipy import integrate, special
from scipy import stats as scipy_stats

from gumbelkit.conformance import designs, stats
from gumbelkit.conformance.plugin import REPORT_VARIABLE, stable_test_id

pytest_plugins = ["pytester"]

CALIBRATION_ALPHA = 1e-3
"""Level of each calibration and simulation assertion in this file."""

REPLICATIONS = 300
"""Null replications per calibration: KS on 300 p-values sees a sup-deviation of about 0.11."""


def _generators(seed: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators from ``seed``; replication i replays on its own."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(count)]


def _rejection_bounds(replications: int, level: float) -> tuple[int, int]:
    """Return the counts of p-values <= ``level`` that an exact test lies within, both sides
    at ``CALIBRATION_ALPHA / 2``."""
    low = int(scipy_stats.binom.ppf(CALIBRATION_ALPHA / 2, replications, level))
    high = int(scipy_stats.binom.isf(CALIBRATION_ALPHA / 2, replications, level))
    return low, high


def _assert_uniform(values: Sequence[float], seed: int) -> None:
    """Assert that null p-values look Uniform(0, 1): KS, and the rejection count at 0.05."""
    pvalues = np.asarray(values)
    ks = scipy_stats.kstest(pvalues, "uniform")
    assert ks.pvalue > CALIBRATION_ALPHA, (
        f"null p-values are not uniform: KS D={ks.statistic:.3f}, p={ks.pvalue:.2g} "
        f"(replay with --seed {seed})"
    )
    low, high = _rejection_bounds(len(pvalues), 0.05)
    rejected = int(np.sum(pvalues <= 0.05))
    assert low <= rejected <= high, (
        f"{rejected} of {len(pvalues)} null p-values <= 0.05, outside [{low}, {high}] "
        f"(replay with --seed {seed})"
    )


def _reference_pool(sizes: np.ndarray, min_expected: float) -> tuple[list[int], list[int]]:
    """Return (pooled, kept) cell indices by the rule stats.pool_cells documents, one cell at a
    time: ascending, a cell joins the pool while it is below the threshold or the pool is."""
    pooled: list[int] = []
    kept: list[int] = []
    total = 0.0
    for index in np.argsort(sizes, kind="stable"):
        if not kept and (sizes[index] < min_expected or (pooled and total < min_expected)):
            pooled.append(int(index))
            total += sizes[index]
        else:
            kept.append(int(index))
    return pooled, kept


# --- chisquare_gof and pool_cells -----------------------------------------------------------


def test_chisquare_gof_equals_scipy_without_pooling(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        k = int(rng.integers(2, 30))
        p = rng.dirichlet(np.full(k, 2.0))
        n = math.ceil(5.0 / p.min()) + int(rng.integers(0, 5000))
        counts = rng.multinomial(n, p)
        statistic, pvalue, df = stats.chisquare_gof(counts, p)
        reference = scipy_stats.chisquare(counts, n * p)
        assert df == k - 1
        assert statistic == pytest.approx(reference.statistic, rel=1e-9)
        assert pvalue == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-300)


def test_pooling_keeps_expected_counts_and_totals(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        k = int(rng.integers(1, 40))
        p = rng.dirichlet(np.full(k, 0.3))
        p[rng.random(k) < 0.1] = 0.0  # cells of probability 0 drop out
        if p.sum() == 0:
            p[0] = 1.0
        p /= p.sum()
        n = int(rng.integers(0, 3000))
        counts = rng.multinomial(n, p)
        observed, expected = stats.pool_cells(counts, p)
        assert observed.sum() == n
        assert expected.sum() == pytest.approx(n, rel=1e-12, abs=1e-9)
        if n >= 5:
            assert expected.min() >= 5.0 * (1 - 1e-12)
        # The same cells as the rule applied one cell at a time.
        sizes = n * p[p > 0]
        pooled, kept = _reference_pool(sizes, 5.0)
        cells: list[tuple[np.ndarray, np.ndarray]] = [(counts[p > 0][kept], sizes[kept])]
        if pooled:
            cells.insert(0, (np.array([counts[p > 0][pooled].sum()]),
                             np.array([sizes[pooled].sum()])))
        reference_observed = np.concatenate([c[0] for c in cells])
        reference_expected = np.concatenate([c[1] for c in cells])
        np.testing.assert_array_equal(observed, reference_observed)
        np.testing.assert_allclose(expected, reference_expected, rtol=1e-12)
        statistic, pvalue, df = stats.chisquare_gof(counts, p)
        assert df == max(len(expected) - 1, 0)
        if df >= 1:
            reference = scipy_stats.chisquare(observed, expected)
            assert statistic == pytest.approx(reference.statistic, rel=1e-9)
            assert pvalue == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-300)


def test_pooling_absorbs_a_small_cell_left_over():
    # Expected 1, 4.5, 4.6, 99.9: pooling 1 and 4.5 (5.5) leaves 4.6 < 5, which must join too.
    p = np.array([1.0, 4.5, 4.6, 99.9]) / 110.0
    observed, expected = stats.pool_cells([1, 4, 5, 100], p)
    np.testing.assert_array_equal(observed, [10, 100])
    np.testing.assert_allclose(expected, [10.1, 99.9])
    assert stats.chisquare_gof([1, 4, 5, 100], p)[2] == 1


def test_chisquare_gof_impossible_event_rejects_outright():
    assert stats.chisquare_gof([1, 40, 59], [0.0, 0.5, 0.5]) == (math.inf, 0.0, 1)
    # An empty cell of probability 0 drops out.
    statistic, pvalue, df = stats.chisquare_gof([0, 40, 60], [0.0, 0.5, 0.5])
    reference = scipy_stats.chisquare([40, 60])
    assert (statistic, pvalue, df) == pytest.approx((reference.statistic, reference.pvalue, 1))


def test_chisquare_gof_of_a_table_is_that_of_its_cells():
    counts = np.array([[30, 20], [25, 25]])
    p = np.full((2, 2), 0.25)
    assert stats.chisquare_gof(counts, p) == stats.chisquare_gof(counts.ravel(), p.ravel())


@pytest.mark.parametrize(
    ("counts", "probabilities"),
    [
        pytest.param([1, 2], [0.5, 0.3, 0.2], id="shapes"),
        pytest.param([1, 2, 3], [0.5, 0.6, -0.1], id="negative-probability"),
        pytest.param([1, 2, 3], [0.2, 0.2, 0.2], id="sum-not-1"),
        pytest.param([1, 2, 3], [math.nan, 0.5, 0.5], id="nan-probability"),
        pytest.param([-1, 2, 3], [0.3, 0.3, 0.4], id="negative-count"),
        pytest.param([math.nan, 2, 3], [0.3, 0.3, 0.4], id="nan-count"),
        pytest.param([math.inf, 2, 3], [0.3, 0.3, 0.4], id="infinite-count"),
        pytest.param([1, 2, 3], [0.0, 0.5, 0.4], id="zero-cell-bad-sum"),
    ],
)
def test_chisquare_gof_rejects_bad_input(counts, probabilities):
    with pytest.raises(ValueError, match=r"counts|probabilities"):
        stats.chisquare_gof(counts, probabilities)


@pytest.mark.parametrize(
    ("expected_count", "low", "high"),
    [(5, 50.0, 90.0), (50, 3.0, 5.5), (500, 1.0, 1.5), (1000, 0.8, 1.4)],
)
def test_chisquare_size_at_alpha_needs_large_cells(expected_count, low, high):
    """The exact false-alarm rate of chisquare_gof at ALPHA, two cells, one small: the figures
    its docstring quotes (69x at 5 expected, 4x at 50, 1.25x at 500)."""
    n = 10**6
    p = expected_count / n
    spread = 40 * math.sqrt(expected_count) + 60
    k = np.arange(max(0, int(expected_count - spread)), int(expected_count + spread))
    pvalues = np.array([stats.chisquare_gof([int(j), n - int(j)], [p, 1 - p])[1] for j in k])
    size = float(scipy_stats.binom.pmf(k[pvalues <= stats.ALPHA], n, p).sum())
    assert low <= size / stats.ALPHA <= high


# --- chisquare_homogeneity ------------------------------------------------------------------


def test_chisquare_homogeneity_equals_scipy_without_pooling(seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        k = int(rng.integers(2, 12))
        p = rng.dirichlet(np.full(k, 3.0))
        size = math.ceil(20.0 / p.min())
        a = rng.multinomial(size, p)
        b = rng.multinomial(size + int(rng.integers(0, 3000)), p)
        reference = scipy_stats.chi2_contingency(np.stack([a, b]), correction=False)
        assert stats.chisquare_homogeneity(a, b) == pytest.approx(
            (reference.statistic, reference.pvalue, reference.dof), rel=1e-9
        )


def test_chisquare_homogeneity_pools_small_cells(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        k = int(rng.integers(2, 30))
        p = rng.dirichlet(np.full(k, 0.3))
        a = rng.multinomial(int(rng.integers(1, 400)), p)
        b = rng.multinomial(int(rng.integers(1, 800)), p)
        rows = np.array([a.sum(), b.sum()])
        columns = a + b
        pooled, kept = _reference_pool(columns * rows.min() / rows.sum(), 5.0)
        table = np.stack([a, b])[:, kept]
        if pooled:
            table = np.concatenate([np.stack([a, b])[:, pooled].sum(1, keepdims=True), table], 1)
        table = table[:, table.sum(axis=0) > 0]
        result = stats.chisquare_homogeneity(a, b)
        if table.shape[1] < 2:
            assert result == (0.0, 1.0, 0)
            continue
        reference = scipy_stats.chi2_contingency(table, correction=False)
        assert result == pytest.approx(
            (reference.statistic, reference.pvalue, reference.dof), rel=1e-9
        )
        if rows.min() * columns.sum() / rows.sum() >= 10:  # enough counts to fill two cells
            assert reference.expected_freq.min() >= 5.0 * (1 - 1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param([1, 2], [1, 2, 3], id="shapes"),
        pytest.param([1, -2, 3], [1, 2, 3], id="negative"),
        pytest.param([1, 2, math.nan], [1, 2, 3], id="nan"),
        pytest.param([0, 0, 0], [1, 2, 3], id="empty-sample"),
        pytest.param([[1, 2]], [[1, 2]], id="tables"),
    ],
)
def test_chisquare_homogeneity_rejects_bad_input(a, b):
    with pytest.raises(ValueError, match=r"counts|sample"):
        stats.chisquare_homogeneity(a, b)


# --- Kolmogorov-Smirnov ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "shift"),
    # Not the tail beyond n = 1e5, which is kolmogorov_sf's own (see below).
    [(1, 0.0), (10, 0.0), (10, 1.0), (1000, 0.0), (1000, 0.2), (50_000, 0.0), (50_000, 0.05),
     (200_000, 0.0)],
)
def test_ks_1samp_equals_scipy_kstest(seed, n, shift):
    rng = np.random.default_rng(seed)
    samples = rng.gumbel(shift, 1.0, size=n)
    statistic, pvalue = stats.ks_1samp(samples, stats.gumbel_cdf)
    reference = scipy_stats.kstest(samples, scipy_stats.gumbel_r.cdf)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert pvalue == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


def test_ks_1samp_flattens_and_takes_any_cdf(seed):
    samples = np.random.default_rng(seed).logistic(size=(30, 40))
    reference = scipy_stats.kstest(samples.ravel(), "logistic")
    assert stats.ks_1samp(samples, stats.logistic_cdf) == pytest.approx(
        (reference.statistic, reference.pvalue), rel=1e-9
    )


@pytest.mark.parametrize(("n_d_squared", "tolerance"), [(2.2, 3e-5), (8.0, 3e-4), (14.0, 1e-3)])
def test_kolmogorov_sf_tail_is_close_and_conservative(n_d_squared, tolerance):
    """Beyond n = 1e5 the tail replaces SciPy's exact (and slow) Smirnov series; here is the
    worst n, just past the switch, against that series."""
    n = 100_001
    d = math.sqrt(n_d_squared / n)
    exact = 2 * special.smirnov(n, d)
    approximation = stats.kolmogorov_sf(d, n)
    assert exact <= approximation <= exact * (1 + tolerance)


def test_ks_1samp_tail_is_usable_at_alpha():
    # A sample whose D is exactly c = 2.69 / sqrt(n) (its largest point sits at 1 - c), whose
    # p-value the Kolmogorov series with Stephens' correction gives to better than 1%.
    n = 10**6
    c = 2.69 / math.sqrt(n)
    samples = (1.0 - c) * np.arange(1, n + 1) / n
    statistic, pvalue = stats.ks_1samp(samples, lambda u: np.clip(u, 0.0, 1.0))
    assert statistic == pytest.approx(c, rel=1e-9)
    t = statistic * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    j = np.arange(1, 50)
    kolmogorov = 2 * np.sum((-1.0) ** (j - 1) * np.exp(-2 * j**2 * t**2))
    assert 1e-7 < pvalue < 1e-5
    assert pvalue == pytest.approx(kolmogorov, rel=0.01)


@pytest.mark.parametrize(("n", "m"), [(50, 80), (3000, 10_000), (20_000, 30_000)])
@pytest.mark.parametrize("shift", [0.0, 0.1])
def test_ks_2samp_equals_scipy(seed, n, m, shift):
    rng = np.random.default_rng(seed)
    a, b = rng.gumbel(size=n), rng.gumbel(shift, 1.0, size=m)
    reference = scipy_stats.ks_2samp(a, b)
    assert stats.ks_2samp(a, b) == pytest.approx(
        (reference.statistic, reference.pvalue), rel=1e-9, abs=1e-300
    )


def test_ks_2samp_large_tail_is_close_to_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.gumbel(size=250_000), rng.gumbel(0.01, 1.0, size=250_000)
    statistic, pvalue = stats.ks_2samp(a, b)
    reference = scipy_stats.ks_2samp(a, b)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert pvalue == pytest.approx(reference.pvalue, rel=1e-3)


def _exact_equal_sizes_sf(n: int, k: int) -> float:
    """P(D >= k/n) for two samples of n draws each: 2 sum_j (-1)^(j+1) C(2n, n-jk) / C(2n, n)."""
    j = np.arange(1, n // k + 1)
    log_ratio = (2 * special.gammaln(n + 1) - special.gammaln(n - j * k + 1)
                 - special.gammaln(n + j * k + 1))
    return float(2 * np.sum((-1.0) ** (j + 1) * np.exp(log_ratio)))


@pytest.mark.parametrize(
    ("n", "k", "tolerance"),
    [
        pytest.param(1000, 121, 1e-6, id="exact-path"),
        pytest.param(20_000, 539, 0.05, id="asymptotic-path"),
    ],
)
def test_ks_2samp_tail_is_usable_at_alpha(n, k, tolerance):
    """At D = k/n with an exact tail near ALPHA, against the closed form for equal sizes (the
    asymptotic p-value is 2% low at n = 20,000, 0.6% at 200,000)."""
    a = np.arange(n, dtype=np.float64)
    b = a + k - 0.5  # every b lies k - 1/2 to the right: D = k/n
    statistic, pvalue = stats.ks_2samp(a, b)
    exact = _exact_equal_sizes_sf(n, k)
    assert statistic == pytest.approx(k / n, rel=1e-12)
    assert 1e-7 < exact < 1e-5
    assert pvalue == pytest.approx(exact, rel=tolerance)


def test_ks_rejects_empty_samples_and_fails_on_nan():
    with pytest.raises(ValueError, match="sample"):
        stats.ks_1samp(np.array([]), stats.gumbel_cdf)
    with pytest.raises(ValueError, match="sample"):
        stats.ks_2samp(np.array([]), np.ones(3))
    nan_sample = np.append(np.linspace(-1, 1, 20_000), math.nan)
    for _, pvalue in (stats.ks_1samp(nan_sample, stats.gumbel_cdf),
                      stats.ks_2samp(nan_sample, np.linspace(-1, 1, 20_000))):
        assert not stats.Outcome("t", "b", "d", 1, 0.0, pvalue, "KS", 0).passed


# --- binomial -------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.5), (3, 10, 0.5), (10, 10, 0.5),
                                         (7, 1000, 0.003), (120, 10_000, 0.01),
                                         (5, 10**6, 1e-5), (0, 10**6, 1e-5)])
def test_binomial_pvalue_equals_scipy_binomtest(k, n, p):
    assert stats.binomial_pvalue(k, n, p) == scipy_stats.binomtest(k, n, p).pvalue


@pytest.mark.parametrize(("k", "n", "p"), [(11, 10, 0.5), (-1, 10, 0.5), (1, 10, 1.5)])
def test_binomial_pvalue_rejects_bad_input(k, n, p):
    with pytest.raises(ValueError, match=r"k|n|p"):
        stats.binomial_pvalue(k, n, p)


@pytest.mark.parametrize(("n", "p"), [(30, 0.5), (200, 0.03), (2000, 0.25), (10**6, 1e-5)])
def test_binomial_pvalue_is_valid_exactly(n, p):
    """P(p-value <= a) <= a under the null, summed over every outcome with mass above 1e-30."""
    k = np.arange(n + 1)
    pmf = scipy_stats.binom.pmf(k, n, p)
    k, pmf = k[pmf > 1e-30], pmf[pmf > 1e-30]
    pvalues = np.array([stats.binomial_pvalue(j, n, p) for j in k])
    for level in (stats.ALPHA, 1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5):
        size = float(pmf[pvalues <= level].sum())
        assert size <= level * (1 + 1e-6) + 1e-29, (level, size)
    if n * p * (1 - p) >= 100:  # a fine lattice: the test uses nearly all of its level
        assert float(pmf[pvalues <= 0.05].sum()) >= 0.045


# --- cdfs -----------------------------------------------------------------------------------


def test_gumbel_and_logistic_cdfs_equal_scipy():
    x = np.linspace(-30.0, 60.0, 1001)
    for loc, scale in ((0.0, 1.0), (0.7, 2.5), (-3.0, 0.3)):
        np.testing.assert_allclose(stats.gumbel_cdf(x, loc, scale),
                                   scipy_stats.gumbel_r.cdf(x, loc, scale), rtol=1e-12, atol=0)
        np.testing.assert_allclose(stats.logistic_cdf(x, loc, scale),
                                   scipy_stats.logistic.cdf(x, loc, scale), rtol=1e-12, atol=0)
    # Far outside the bulk: 0 and 1, without an overflow warning.
    np.testing.assert_array_equal(stats.gumbel_cdf(np.array([-1e4, -np.inf, np.inf])), [0, 0, 1])


@pytest.mark.parametrize(("log_alpha", "tau"), [(0.7, 0.5), (-1.2, 2.0), (2.0, 1.0)])
def test_binary_concrete_cdf_integrates_its_density(log_alpha, tau):
    alpha = math.exp(log_alpha)

    def density(y: float) -> float:  # docs/mathematics.md#binary-concrete
        return float(tau * alpha * y ** (-tau - 1) * (1 - y) ** (-tau - 1)
                     / (alpha * y ** (-tau) + (1 - y) ** (-tau)) ** 2)

    edges = [0.05, 0.3, 0.5, 0.8, 0.95]
    for low, high in itertools.pairwise(edges):
        mass = integrate.quad(density, low, high, epsabs=1e-13, epsrel=1e-11)[0]
        cdf = stats.binary_concrete_cdf(np.array([low, high]), log_alpha, tau)
        assert cdf[1] - cdf[0] == pytest.approx(mass, rel=1e-8)
    np.testing.assert_array_equal(stats.binary_concrete_cdf(np.array([0.0, 1.0]), log_alpha, tau),
                                  [0.0, 1.0])


def test_binary_concrete_cdf_fits_samples(seed):
    rng = np.random.default_rng(seed)
    log_alpha, tau = 0.8, 0.6
    samples = special.expit((rng.logistic(size=20_000) + log_alpha) / tau)
    pvalue = scipy_stats.kstest(samples, lambda y: stats.binary_concrete_cdf(y, log_alpha, tau))
    assert pvalue.pvalue > CALIBRATION_ALPHA, f"replay with --seed {seed}"


# --- seeds and the registry -----------------------------------------------------------------


def test_stable_seed_is_the_documented_sha256():
    # FIPS 180-2: SHA-256("abc") = ba7816bf 8f01cfea 414140de ...; the seed is its first 8
    # bytes read little-endian, shifted right once.
    assert stats.stable_seed("abc") == int.from_bytes(bytes.fromhex("ba7816bf8f01cfea"),
                                                      "little") >> 1
    assert stats.stable_seed("abc") == 8459872020976057437
    assert stats.stable_seed("a", "bc") == stats.stable_seed("a|bc")


def test_stable_seeds_are_deterministic_distinct_and_in_range():
    ids = [f"test_gumbel.py::test_{i}[{b}-float32]"
           for i in range(2000) for b in ("numpy", "torch")]
    seeds = [stats.stable_seed(i) for i in ids]
    assert seeds == [stats.stable_seed(i) for i in ids]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)
    assert max(seeds) >= 2**62  # the whole range is used, not a low part of it


def test_stable_test_id_ignores_where_the_suite_lies():
    # A checkout, an installed wheel and a pytester run name the same test alike.
    for nodeid in ("gumbelkit/conformance/test_gumbel.py::test_x[numpy-float32]",
                   "../site-packages/gumbelkit/conformance/test_gumbel.py::test_x[numpy-float32]",
                   "test_gumbel.py::test_x[numpy-float32]"):
        assert stable_test_id(nodeid) == "test_gumbel.py::test_x[numpy-float32]"


def test_seed_fixture_follows_the_options(request, seed):
    fixed = request.config.getoption("--seed")
    if fixed is not None:
        assert seed == fixed
    elif request.config.getoption("--fresh-seeds"):
        assert ("seed", seed) in request.node.user_properties
    else:
        assert seed == stats.stable_seed(stable_test_id(request.node.nodeid))


def _outcome(pvalue: float, seed: int = 123) -> stats.Outcome:
    return stats.Outcome(test="test_noise", backend="numpy", dtype="float32", n=1000,
                         statistic=0.5, pvalue=pvalue, method="KS", seed=seed)


def test_check_records_and_names_the_seed(monkeypatch):
    records: list[stats.Outcome] = []
    monkeypatch.setattr(stats, "RECORDS", records)
    passing, failing = _outcome(0.3), _outcome(1e-9, seed=987654321)
    stats.check(passing, "Gumbel noise")
    with pytest.raises(AssertionError) as failure:
        stats.check(failing, "Gumbel noise")
    assert records == [passing, failing]
    message = str(failure.value)
    assert "Gumbel noise: KS rejects the exact law on numpy/float32" in message
    assert "n=1000" in message
    assert "replay with --seed 987654321" in message


@pytest.mark.parametrize(
    ("pvalue", "passed"),
    [(1.0, True), (2e-6, True), (1e-6, False), (0.0, False), (math.nan, False)],
)
def test_outcome_rejects_at_or_below_alpha(pvalue, passed):
    outcome = _outcome(pvalue)
    assert outcome.passed is passed
    assert outcome.verdict == ("pass" if passed else "FAIL")


# --- power formulas -------------------------------------------------------------------------


def test_chisquare_power_is_the_noncentral_formula():
    p, q, n = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.42, 0.29, 0.19, 0.10]), 5000
    critical = scipy_stats.chi2.isf(stats.ALPHA, 3)
    noncentrality = n * np.sum((q - p) ** 2 / p)
    assert stats.chisquare_power(n, p, q) == pytest.approx(
        scipy_stats.ncx2.sf(critical, 3, noncentrality), rel=1e-12
    )
    assert stats.chisquare_power(n, p, p) == pytest.approx(stats.ALPHA, rel=1e-6)
    powers = [stats.chisquare_power(m, p, q) for m in (1000, 5000, 20_000, 80_000)]
    assert powers == sorted(powers)


def test_chisquare_power_uses_the_cells_the_test_compares():
    p = 0.5 ** np.arange(1, 21)
    p[-1] *= 2
    q = designs.biased_categorical(p, 0.1)
    n = 500
    pooled, kept = _reference_pool(n * p, 5.0)
    cells_p = np.concatenate([[p[pooled].sum()], p[kept]])
    cells_q = np.concatenate([[q[pooled].sum()], q[kept]])
    df = len(cells_p) - 1
    reference = scipy_stats.ncx2.sf(scipy_stats.chi2.isf(stats.ALPHA, df), df,
                                    n * np.sum((cells_q - cells_p) ** 2 / cells_p))
    assert df < len(p) - 1
    assert stats.chisquare_power(n, p, q) == pytest.approx(reference, rel=1e-12)


def test_ks_power_is_the_dkw_bound():
    n = 10_000
    critical = scipy_stats.kstwo.isf(stats.ALPHA, n)
    assert stats.ks_power(n, 0.99 * critical) == 0.0
    assert stats.ks_power(n, critical + 0.01) == pytest.approx(1 - 2 * math.exp(-2 * n * 1e-4))
    powers = [stats.ks_power(m, 0.03) for m in (10_000, 20_000, 40_000, 80_000)]
    assert powers == sorted(powers)
    assert powers[-1] > 0.99


def test_smallest_n_is_within_one_percent():
    def power(n: int) -> float:
        return 1 - math.exp(-n / 1000)

    for target in (0.5, 0.99):
        exact = -1000 * math.log(1 - target)
        n = stats.smallest_n(power, target)
        assert power(n) >= target
        assert exact <= n <= exact * 1.01 + 1
    with pytest.raises(ValueError, match="target power"):
        stats.smallest_n(lambda n: 0.0)


def test_design_scaled_multiplies_its_size():
    design = designs.DESIGNS[next(iter(designs.DESIGNS))]
    assert design.scaled(1) == design.n
    assert design.scaled(10) == 10 * design.n


# --- calibration under the null -------------------------------------------------------------


def test_chisquare_gof_calibrated(seed):
    p = np.arange(1, 11) / 55.0  # n p >= 54 in every cell: the chi-square law is close
    _assert_uniform([stats.chisquare_gof(rng.multinomial(3000, p), p)[1]
                     for rng in _generators(seed, REPLICATIONS)], seed)


def test_chisquare_gof_calibrated_with_pooling(seed):
    p = 0.5 ** np.arange(1, 31)  # 30 cells, 24 of them pooled at n = 400
    p[-1] *= 2
    results = [stats.chisquare_gof(rng.multinomial(400, p), p)
               for rng in _generators(seed, REPLICATIONS)]
    assert max(df for _, _, df in results) < len(p) - 1
    _assert_uniform([pvalue for _, pvalue, _ in results], seed)


@pytest.mark.parametrize("n", [20, 3000])
def test_ks_1samp_calibrated(seed, n):
    _assert_uniform([stats.ks_1samp(rng.gumbel(size=n), stats.gumbel_cdf)[1]
                     for rng in _generators(seed, REPLICATIONS)], seed)


@pytest.mark.parametrize(
    ("n", "m"),
    # Coprime sizes for the exact path: its p-values then take thousands of values; at 300 and
    # 700 only about 200, steps that a KS of the p-values can see.
    [pytest.param(300, 701, id="exact-path"), pytest.param(4000, 12_000, id="asymptotic-path")],
)
def test_ks_2samp_calibrated(seed, n, m):
    _assert_uniform([stats.ks_2samp(rng.gumbel(size=n), rng.gumbel(size=m))[1]
                     for rng in _generators(seed, REPLICATIONS)], seed)


@pytest.mark.parametrize(
    ("p", "n", "m"),
    [
        pytest.param(np.arange(1, 9) / 36.0, 2000, 3000, id="large-cells"),
        pytest.param(np.append(0.5 ** np.arange(1, 20), 0.5**19), 300, 500, id="pooled"),
    ],
)
def test_chisquare_homogeneity_calibrated(seed, p, n, m):
    _assert_uniform([stats.chisquare_homogeneity(rng.multinomial(n, p), rng.multinomial(m, p))[1]
                     for rng in _generators(seed, REPLICATIONS)], seed)


@pytest.mark.parametrize(("n", "p"), [(40, 0.5), (10_000, 0.002)])
def test_binomial_pvalue_calibrated(seed, n, p):
    # Discrete: valid (P(p <= a) <= a), not uniform; exact sizes are tested above.
    pvalues = np.array([stats.binomial_pvalue(int(rng.binomial(n, p)), n, p)
                        for rng in _generators(seed, REPLICATIONS)])
    high = int(scipy_stats.binom.isf(CALIBRATION_ALPHA, REPLICATIONS, 0.05))
    assert int(np.sum(pvalues <= 0.05)) <= high, f"replay with --seed {seed}"


# --- power of the power formulas ------------------------------------------------------------

POWER_ALPHA = 1e-3
"""Level of the simulated tests below: rejections are common enough to count cheaply."""


def _biased_k10() -> tuple[np.ndarray, np.ndarray]:
    p = np.full(10, 0.1)
    return p, designs.biased_categorical(p, 0.05)


def _pooled_law() -> tuple[np.ndarray, np.ndarray]:
    p = 0.5 ** np.arange(1, 26)
    p[-1] *= 2
    return p, designs.biased_categorical(p, 0.1)


@pytest.mark.parametrize(
    ("law", "target"),
    [
        pytest.param(_biased_k10, 0.5, id="k10-5%-power0.5"),
        pytest.param(_biased_k10, 0.9, id="k10-5%-power0.9"),
        pytest.param(lambda: (np.array([0.4, 0.3, 0.2, 0.1]),
                              np.array([0.42, 0.29, 0.19, 0.10])), 0.7, id="k4-power0.7"),
        pytest.param(_pooled_law, 0.8, id="pooled-power0.8"),
    ],
)
def test_chisquare_power_agrees_with_simulation(seed, law, target):
    """The noncentral chi-square is an approximation: it overstates the power by up to about
    0.03 here (near 0.99 at ALPHA, by about 0.005 or less)."""
    p, q = law()
    n = stats.smallest_n(lambda m: stats.chisquare_power(m, p, q, alpha=POWER_ALPHA), target)
    formula = stats.chisquare_power(n, p, q, alpha=POWER_ALPHA)
    replications = 2000
    counts = np.random.default_rng(np.random.SeedSequence(seed)).multinomial(n, q, replications)
    simulated = np.mean([stats.chisquare_gof(c, p)[1] <= POWER_ALPHA for c in counts])
    error = 3.3 * math.sqrt(formula * (1 - formula) / replications)
    assert formula - 0.04 - error <= simulated <= formula + error, (
        f"simulated power {simulated:.3f}, formula {formula:.3f} (replay with --seed {seed})"
    )


@pytest.mark.parametrize("shift", [0.17, 0.25])
def test_ks_power_is_a_lower_bound_in_simulation(seed, shift):
    n = 2000
    grid = np.linspace(-5.0, 20.0, 20_001)
    distance = float(np.max(np.abs(stats.gumbel_cdf(grid) - stats.gumbel_cdf(grid, shift))))
    bound = stats.ks_power(n, distance, alpha=POWER_ALPHA)
    assert bound > 0.3  # not vacuous
    replications = 300
    simulated = np.mean([stats.ks_1samp(rng.gumbel(shift, 1.0, size=n), stats.gumbel_cdf)[1]
                         <= POWER_ALPHA for rng in _generators(seed, replications)])
    allowance = 3.1 * math.sqrt(bound * (1 - bound) / replications)
    assert simulated >= bound - allowance, (
        f"simulated power {simulated:.3f} < DKW bound {bound:.3f} (replay with --seed {seed})"
    )


# --- every registered design ----------------------------------------------------------------

DESIGN_NAMES = sorted(designs.DESIGNS)

DESIGN_BUDGET_S = 30.0
"""Seconds of biased simulation for all designs together. Cheap designs (MAX_RUNS within
CHEAP_S) take MAX_RUNS; the slow ones share the rest equally in runs, and still get MIN_RUNS
however many designs there are (a KS of 1e6 draws costs about 0.3 s)."""

CHEAP_S = 1.0

MIN_RUNS, MAX_RUNS = 5, 25

DESIGN_POWER, DESIGN_BETA = 0.99, 1e-3


def required_rejections(runs: int, power: float = DESIGN_POWER, beta: float = DESIGN_BETA) -> int:
    """The most rejections in ``runs`` that a test of power ``power`` reaches with probability
    at least ``1 - beta``: 22 of 25, 8 of 10, 4 of 5 at 0.99 and 1e-3."""
    required = runs
    while required > 0 and scipy_stats.binom.cdf(required - 1, runs, power) > beta:
        required -= 1
    return required


def test_required_rejections():
    assert [required_rejections(r) for r in (5, 10, 25)] == [4, 8, 22]
    for runs in range(MIN_RUNS, MAX_RUNS + 1):
        required = required_rejections(runs)
        assert scipy_stats.binom.cdf(required - 1, runs, DESIGN_POWER) <= DESIGN_BETA
        assert scipy_stats.binom.cdf(required, runs, DESIGN_POWER) > DESIGN_BETA


@pytest.fixture(scope="module")
def design_runs() -> dict[str, int]:
    """Runs per design within DESIGN_BUDGET_S, from one timed run of each."""
    seconds = {}
    for name in DESIGN_NAMES:
        start = time.perf_counter()
        designs.DESIGNS[name].simulate_biased(np.random.default_rng(0), designs.DESIGNS[name].n)
        seconds[name] = time.perf_counter() - start
    cheap = {name for name, t in seconds.items() if MAX_RUNS * t <= CHEAP_S}
    left = DESIGN_BUDGET_S - MAX_RUNS * sum(seconds[name] for name in cheap)
    per_run = sum(t for name, t in seconds.items() if name not in cheap)
    shared = int(np.clip(left // per_run, MIN_RUNS, MAX_RUNS)) if per_run > 0 else MAX_RUNS
    return {name: MAX_RUNS if name in cheap else shared for name in DESIGN_NAMES}


def test_designs_are_registered_under_their_names():
    assert DESIGN_NAMES, "no design is registered"
    for name, design in designs.DESIGNS.items():
        assert design.name == name
        assert design.n > 0
        assert design.detects


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_design_power_formula(name):
    design = designs.DESIGNS[name]
    assert design.power(design.n) >= DESIGN_POWER, (
        f"{name}: power {design.power(design.n):.4f} at n = {design.n} against {design.detects}"
    )


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_design_detects_its_bias_in_simulation(name, seed, design_runs):
    design = designs.DESIGNS[name]
    runs = design_runs[name]
    pvalues = [design.simulate_biased(rng, design.n) for rng in _generators(seed, runs)]
    rejected = sum(p <= stats.ALPHA for p in pvalues)
    required = required_rejections(runs)
    why = "" if runs == MAX_RUNS else " (fewer runs: this design's simulation is slow)"
    assert rejected >= required, (
        f"{name} rejects its biased law ({design.detects}) in {rejected} of {runs} runs{why} at "
        f"alpha {stats.ALPHA:g}; power {DESIGN_POWER} gives >= {required} with probability "
        f"1 - {DESIGN_BETA:g}; p-values {', '.join(f'{p:.2g}' for p in pvalues)} "
        f"(replay with --seed {seed})"
    )


# --- --seed and --fresh-seeds, end to end ---------------------------------------------------

INNER_TEST = """
import numpy as np

from gumbelkit.conformance import stats


def test_draw(seed):
    draw = np.random.default_rng(seed).random()
    print(f"drew {draw!r} with seed {seed}")
    stats.check(stats.Outcome("test_draw", "numpy", "float64", 1, draw, 0.0, "meta", seed),
                "a failing draw")
"""


@pytest.fixture
def inner_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """Run a one-test suite with the conformance options; return the seed its failure names,
    its draw, and its output."""
    # Keep its outcomes out of this run's registry and report.
    monkeypatch.delenv(REPORT_VARIABLE, raising=False)
    monkeypatch.setattr(stats, "RECORDS", [])
    pytester.makeconftest('pytest_plugins = ["gumbelkit.conformance.plugin"]\n')
    pytester.makepyfile(test_inner=INNER_TEST)

    def run(*options: str) -> tuple[int, str, str]:
        # Hypothesis's plugin would re-import hypothesis in every inner run (2 s each).
        result = pytester.runpytest("--backend", "numpy", "-p", "no:cacheprovider",
                                    "-p", "no:hypothesispytest", *options)
        result.assert_outcomes(failed=1)
        output = result.stdout.str()
        replay = re.search(r"replay with --seed (\d+)", output)
        draw = re.search(r"drew (\S+) with seed (\d+)", output)
        assert replay, output
        assert draw, output
        assert draw.group(2) == replay.group(1), output
        return int(replay.group(1)), draw.group(1), output

    return run


def test_stable_seed_of_the_test_id_by_default(inner_suite):
    seed, draw, output = inner_suite()
    assert seed == stats.stable_seed("test_inner.py::test_draw")
    assert "stable per-test seeds" in output
    assert inner_suite()[:2] == (seed, draw)
    assert [outcome.passed for outcome in stats.RECORDS] == [False, False]


def test_fresh_seeds_are_printed_and_replayed_by_seed(inner_suite):
    first, draw, output = inner_suite("--fresh-seeds")
    assert f"seed {first}" in output  # printed by the fixture as well as in the failure
    assert inner_suite("--fresh-seeds")[0] != first
    assert inner_suite("--seed", str(first))[:2] == (first, draw)
