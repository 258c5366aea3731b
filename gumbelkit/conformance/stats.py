"""The statistics of the conformance suite.

One-sample tests against exact laws, their power, stable seeds, and the registry of every
statistical assertion a run makes.

Every assertion goes through :func:`check`, which records an :class:`Outcome` (test, backend,
dtype, n, statistic, p-value) and fails when the p-value is at most ``ALPHA``. The helpers
here are themselves tested in ``test_stats.py``: calibrated under the null, and powerful
against the biases each :class:`Design` states.

See docs/mathematics.md#testing-samplers for the choices: alpha 1e-6 per assertion, one-sample
tests against
exact formulas wherever one exists, chi-square with pooled cells, KS with the Kolmogorov
distribution, exact binomial tails for rare classes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

__all__ = [
    "ALPHA",
    "RECORDS",
    "Design",
    "Outcome",
    "binary_concrete_cdf",
    "binomial_pvalue",
    "check",
    "chisquare_gof",
    "chisquare_homogeneity",
    "chisquare_power",
    "gumbel_cdf",
    "kolmogorov_sf",
    "ks_1samp",
    "ks_2samp",
    "ks_power",
    "logistic_cdf",
    "pool_cells",
    "smallest_n",
    "stable_seed",
]

ALPHA = 1e-6
"""Per-assertion significance level: with about 1000 assertions, a family-wise false-alarm
rate near 1e-3 (docs/mathematics.md#significance-and-multiplicity)."""


@dataclass(frozen=True)
class Outcome:
    """One statistical assertion of a run."""

    test: str
    backend: str
    dtype: str
    n: int
    statistic: float
    pvalue: float
    method: str
    seed: int
    alpha: float = ALPHA

    @property
    def passed(self) -> bool:
        """Whether the null (the sampler follows the law) survives at ``alpha``."""
        return self.pvalue > self.alpha

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"


RECORDS: list[Outcome] = []
"""Every outcome of this process, in order (read by ``gumbelkit check``)."""


def check(outcome: Outcome, what: str) -> None:
    """Record ``outcome`` and fail with a replayable message if it rejects the null."""
    RECORDS.append(outcome)
    assert outcome.passed, (
        f"{what}: {outcome.method} rejects the exact law on {outcome.backend}/{outcome.dtype} "
        f"(n={outcome.n}, statistic={outcome.statistic:.6g}, p={outcome.pvalue:.3g} <= "
        f"alpha={outcome.alpha:g}); replay with --seed {outcome.seed}"
    )


def stable_seed(*parts: object) -> int:
    """Return a seed in ``[0, 2**63)`` from a SHA-256 of ``parts`` (never Python's hash())."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# --- one-sample tests -------------------------------------------------------------------------


def pool_cells(
    counts: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    *,
    min_expected: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the observed and expected counts of the cells :func:`chisquare_gof` compares.

    Cells of probability 0 are dropped (the caller has checked that they are empty). Every cell
    with an expected count below ``min_expected`` goes into one remainder cell; if the remainder
    itself is below ``min_expected``, the smallest remaining cells join it until it is not.
    Every returned expected count is then at least ``min_expected`` (unless all of them together
    are not), and both returned vectors sum to the total count.

    Raises
    ------
    ValueError
        For counts and probabilities of different shapes, negative or non-finite counts, and
        probabilities that are negative or do not sum to 1.
    """
    observed = np.asarray(counts, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if observed.shape != p.shape:
        raise ValueError(f"counts {observed.shape} and probabilities {p.shape} differ in shape")
    observed, p = observed.ravel(), p.ravel()  # a table of cells counts as its flat list
    if not np.all(np.isfinite(observed)) or np.any(observed < 0):
        raise ValueError("counts must be finite and non-negative")
    if not np.all(p >= 0) or not math.isclose(p.sum(), 1.0, rel_tol=1e-9):
        raise ValueError("probabilities must be non-negative and sum to 1")
    keep = p > 0
    observed, p = observed[keep], p[keep] / p[keep].sum()  # expected counts sum to the total
    expected = observed.sum() * p
    order = np.argsort(expected, kind="stable")
    observed, expected = observed[order], expected[order]
    pooled = _pooled_prefix(expected, min_expected)
    if pooled > 1:
        observed = np.concatenate([[observed[:pooled].sum()], observed[pooled:]])
        expected = np.concatenate([[expected[:pooled].sum()], expected[pooled:]])
    return observed, expected


def _pooled_prefix(ascending: np.ndarray, min_expected: float) -> int:
    """How many of the smallest cells (``ascending`` expected counts) to pool into one."""
    below = int(np.searchsorted(ascending, min_expected, side="left"))
    if below == 0:
        return 0
    # The pool takes every cell below the threshold, then the next smallest until it reaches it.
    reaching = int(np.searchsorted(np.cumsum(ascending), min_expected, side="left")) + 1
    return min(max(below, reaching), len(ascending))


def chisquare_gof(
    counts: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    *,
    min_expected: float = 5.0,
) -> tuple[float, float, int]:
    """Chi-square goodness of fit of ``counts`` to ``probabilities``.

    Cells with an expected count below ``min_expected`` are pooled into one remainder cell
    (with the smallest remaining cells if the remainder itself is too small; see
    :func:`pool_cells`). A count in a cell of probability 0 is an impossible event: the
    p-value is 0.

    The chi-square tail is an approximation, and at ``ALPHA`` it is poor for small cells: with
    two cells and an expected count of 5 in one, the true false-alarm rate at a nominal 1e-6 is
    about 70 times higher (4 times at 50, 1.25 times at 500; with ten cells and one small cell,
    4.3 / 1.2 / 1.02 times). Size designs so that every cell expects hundreds of counts, or
    test rare classes with :func:`binomial_pvalue`.

    Returns
    -------
    statistic, pvalue, df
    """
    observed = np.asarray(counts, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if observed.shape == p.shape and np.any(observed[p == 0] > 0):
        pool_cells(counts, probabilities, min_expected=min_expected)  # validates, may raise
        return math.inf, 0.0, int(np.count_nonzero(p)) - 1
    observed, expected = pool_cells(counts, probabilities, min_expected=min_expected)
    df = len(expected) - 1
    if df < 1:
        return 0.0, 1.0, 0
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, df)), df


def chisquare_homogeneity(
    counts_a: Sequence[int] | np.ndarray,
    counts_b: Sequence[int] | np.ndarray,
    *,
    min_expected: float = 5.0,
) -> tuple[float, float, int]:
    """Chi-square test that two count vectors over the same cells share one law.

    Cells whose smaller expected count is below ``min_expected`` are pooled as in
    :func:`pool_cells`; empty cells are dropped.

    Raises
    ------
    ValueError
        For vectors of different shapes, negative or non-finite counts, or an empty sample.
    """
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"counts {a.shape} and {b.shape} must be vectors of one shape")
    table = np.stack([a, b])
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError("counts must be finite and non-negative")
    rows = table.sum(axis=1)
    if np.any(rows == 0):
        raise ValueError("each sample needs at least one count")
    columns = table.sum(axis=0)
    table = table[:, np.argsort(columns, kind="stable")]
    smallest_expected = np.sort(columns) * rows.min() / rows.sum()
    pooled = _pooled_prefix(smallest_expected, min_expected)
    if pooled > 1:
        table = np.concatenate([table[:, :pooled].sum(axis=1, keepdims=True),
                                table[:, pooled:]], axis=1)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, 0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


_SMIRNOV_SERIES_MAX_N = 100_000
"""Above this n, :func:`kolmogorov_sf` replaces SciPy's exact Smirnov series in the tail."""

_SCIPY_EXACT_2SAMP_N = 10_000
"""SciPy's ks_2samp computes exact p-values while both samples are at most this large."""


def kolmogorov_sf(d: float, n: int) -> float:
    """Return ``P(D_n >= d)`` for the two-sided one-sample KS statistic of ``n`` draws.

    This is SciPy's ``kstwo.sf`` except in one region. Where ``n d**2 >= 2.2`` SciPy sums
    Smirnov's exact one-sided series, in O(n) time: 0.3 s at n = 1e5, 3 s at n = 1e6, so
    every rejection of a large-sample test cost seconds. There, for ``n > 100,000``, this
    uses ``2 exp(-(6 n d + 1)**2 / (18 n))``, the approximation SciPy itself switches to above
    n = 1e6. It errs on the conservative side, at n > 1e5 by less than 3e-4 (relative) for
    p-values above 1e-7 and 1e-3 above 1e-12 (``test_stats.py`` compares it with the series).
    """
    if n > _SMIRNOV_SERIES_MAX_N and n * d * d >= 2.2:
        return min(1.0, 2.0 * math.exp(-((6.0 * n * d + 1.0) ** 2) / (18.0 * n)))
    return float(stats.kstwo.sf(d, n))


def ks_1samp(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """One-sample Kolmogorov-Smirnov test of ``samples`` against a continuous ``cdf``.

    The p-value comes from the finite-n distribution of the statistic (SciPy's ``kstwo``;
    see :func:`kolmogorov_sf`), usable down to alpha = 1e-6 and below.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("ks_1samp needs at least one sample")
    # The statistic only: SciPy's asymptotic p-value is cheap, and replaced below.
    statistic = float(stats.kstest(x, cdf, method="asymp").statistic)
    return statistic, kolmogorov_sf(statistic, x.size)


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test; its p-values stay usable at tiny alpha.

    Up to 10,000 draws per sample, SciPy's exact p-value. Beyond, SciPy's asymptotic one,
    the one-sample law at the effective size ``n m / (n + m)`` (:func:`kolmogorov_sf`).
    """
    x = np.sort(np.asarray(a, dtype=np.float64).ravel())
    y = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if x.size == 0 or y.size == 0:
        raise ValueError("ks_2samp needs at least one draw in each sample")
    if max(x.size, y.size) <= _SCIPY_EXACT_2SAMP_N:
        result = stats.ks_2samp(x, y)
        return float(result.statistic), float(result.pvalue)
    if np.isnan(x[-1]) or np.isnan(y[-1]):  # sorting puts NaN last
        return math.nan, math.nan
    pooled = np.concatenate([x, y])
    difference = (np.searchsorted(x, pooled, side="right") / x.size
                  - np.searchsorted(y, pooled, side="right") / y.size)
    statistic = float(np.max(np.abs(difference)))
    effective = round(x.size * y.size / (x.size + y.size))
    return statistic, kolmogorov_sf(statistic, effective)


def binomial_pvalue(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial test of ``k`` successes in ``n`` draws of probability ``p``."""
    return float(stats.binomtest(int(k), int(n), float(p)).pvalue)


# --- power ---------------------------------------------------------------------------------


def chisquare_power(
    n: int, p: np.ndarray, q: np.ndarray, *, alpha: float = ALPHA, min_expected: float = 5.0
) -> float:
    """Power of the chi-square test of ``p`` with ``n`` draws when the true law is ``q``.

    Under ``q`` the statistic is approximately noncentral chi-square with
    ``df = C - 1`` and ``lambda = n * sum((q - p)**2 / p)`` (docs/mathematics.md#chi-square-tests),
    over the ``C``
    cells that :func:`chisquare_gof` compares after pooling (cells of probability 0 left out,
    which can only understate the power).
    """
    p, q = np.asarray(p, dtype=np.float64).ravel(), np.asarray(q, dtype=np.float64).ravel()
    # The cells the test compares: pooled by the expected counts under p, as chisquare_gof does.
    keep = p > 0
    p, q = p[keep], q[keep]
    order = np.argsort(n * p, kind="stable")
    p, q = p[order], q[order]
    pooled = _pooled_prefix(n * p, min_expected)
    if pooled > 1:
        p = np.concatenate([[p[:pooled].sum()], p[pooled:]])
        q = np.concatenate([[q[:pooled].sum()], q[pooled:]])
    df = len(p) - 1
    if df < 1:
        return 0.0  # one cell: chisquare_gof never rejects
    critical = stats.chi2.isf(alpha, df)
    return float(stats.ncx2.sf(critical, df, n * np.sum((q - p) ** 2 / p)))


def ks_power(n: int, sup_distance: float, *, alpha: float = ALPHA) -> float:
    """A lower bound on the power of one-sample KS against a law at sup-distance ``delta``.

    With the Dvoretzky-Kiefer-Wolfowitz inequality, the empirical CDF stays within
    ``eps`` of the true CDF with probability at least ``1 - 2 exp(-2 n eps**2)``; the test
    rejects whenever the empirical CDF is within ``delta - c/sqrt(n)`` of the true one, where
    ``c/sqrt(n)`` is the critical distance.
    """
    critical = float(stats.kstwo.isf(alpha, n))
    margin = sup_distance - critical
    if margin <= 0:
        return 0.0
    return max(0.0, 1.0 - 2.0 * math.exp(-2.0 * n * margin**2))


@dataclass(frozen=True)
class Design:
    """The sample size of one conformance test and the smallest bias it detects.

    ``power(n)`` is the power at that bias by formula, and ``simulate_biased(rng, n)`` draws a
    sample of size ``n`` from the *biased* law (with NumPy alone, not with gumbelkit) and
    returns the p-value of the test the conformance suite applies. ``test_stats.py`` checks
    for every registered design that the formula gives at least 0.99 and that simulation
    agrees.
    """

    name: str
    n: int
    detects: str
    power: Callable[[int], float] = field(compare=False)
    simulate_biased: Callable[[np.random.Generator, int], float] = field(compare=False)

    def scaled(self, factor: int) -> int:
        """Return the sample size of a run with ``factor`` times the samples (--thorough)."""
        return self.n * factor


def smallest_n(power: Callable[[int], float], target: float = 0.99, start: int = 100) -> int:
    """Return the smallest n (to 1%) with ``power(n) >= target``, by doubling and bisection."""
    high = start
    while power(high) < target:
        high *= 2
        if high > 10**10:
            raise ValueError("no n up to 1e10 reaches the target power")
    low = high // 2
    while high - low > max(1, high // 100):
        middle = (low + high) // 2
        low, high = (low, middle) if power(middle) >= target else (middle, high)
    return high


def gumbel_cdf(x: np.ndarray, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """The Gumbel CDF ``exp(-exp(-(x - loc) / scale))``, in float64."""
    with np.errstate(over="ignore"):  # far left of the support exp overflows to inf: F = 0
        return np.asarray(np.exp(-np.exp(-(np.asarray(x, dtype=np.float64) - loc) / scale)))


def logistic_cdf(x: np.ndarray, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """The logistic CDF, in float64."""
    return np.asarray(special.expit((np.asarray(x, dtype=np.float64) - loc) / scale))


def binary_concrete_cdf(y: np.ndarray, log_alpha: float, tau: float) -> np.ndarray:
    """CDF of the binary Concrete: ``sigma(tau * logit(y) - log_alpha)``
    (docs/mathematics.md#binary-concrete)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(special.expit(tau * special.logit(y) - log_alpha))
