"""The registry of test designs: each conformance test's sample size and the bias it detects.

A test reads its sample size from here (``designs.NOISE.scaled(factor)``); ``test_stats.py``
checks every entry of :data:`DESIGNS` for power >= 0.99 at ``ALPHA``, by formula and by
simulation from the biased law. Adding a sampler's exact law to the suite is: one design here,
one test that draws ``design.n`` samples and calls ``stats.check``.

Every exact law here is computed in float64 with NumPy/SciPy from the parameters alone, never
from gumbelkit; every ``simulate_biased`` draws from the biased law with NumPy (multinomial
counts or direct draws), so it stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from gumbelkit.conformance.stats import (
    ALPHA,
    Design,
    binomial_pvalue,
    chisquare_gof,
    chisquare_power,
    gumbel_cdf,
    ks_1samp,
    ks_power,
    logistic_cdf,
    smallest_n,
)
from gumbelkit.testing import reference_relaxed_top_k, reference_softmax

DESIGNS: dict[str, Design] = {}


def register(design: Design) -> Design:
    """Add ``design`` to :data:`DESIGNS` and return it."""
    if design.name in DESIGNS:
        raise ValueError(f"design {design.name!r} is registered twice")
    DESIGNS[design.name] = design
    return design


# --- exact laws ---------------------------------------------------------------------------


def softmax64(logits: np.ndarray) -> np.ndarray:
    """Return softmax over the last axis in float64; a ``-inf`` logit gets probability 0."""
    return reference_softmax(logits)


def uniform_cdf(u: np.ndarray) -> np.ndarray:
    """The Uniform(0, 1) CDF (for probability-integral transforms)."""
    return np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)


def gumbel_edges(bins: int) -> np.ndarray:
    """Return the ``bins - 1`` inner edges of ``bins`` equally likely standard Gumbel cells."""
    return np.asarray(-np.log(-np.log(np.arange(1, bins) / bins)))


def cell_probabilities(cdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Return the probabilities of the cells ``(-inf, e_0], (e_0, e_1], ..., (e_last, inf)``."""
    return np.diff(np.concatenate([[0.0], cdf(np.asarray(edges, dtype=np.float64)), [1.0]]))


def cell_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count ``values`` in the cells of :func:`cell_probabilities`."""
    index = np.searchsorted(edges, np.asarray(values, dtype=np.float64).ravel(), side="left")
    return np.bincount(index, minlength=len(edges) + 1)


def category_counts(indices: np.ndarray, num_cells: int) -> np.ndarray:
    """Count integer ``indices`` in ``num_cells`` cells plus a last cell for anything out of
    range (an invalid index, probability 0: see :func:`with_impossible_cell`)."""
    indices = np.asarray(indices).ravel()
    valid = (indices >= 0) & (indices < num_cells)
    counts = np.bincount(indices[valid].astype(np.int64), minlength=num_cells)
    return np.append(counts, np.count_nonzero(~valid))


def with_impossible_cell(p: np.ndarray) -> np.ndarray:
    """Return the flattened ``p`` with a last cell of probability 0 (see category_counts)."""
    return np.append(np.asarray(p, dtype=np.float64).ravel(), 0.0)


def concrete_pit(
    logit_y: np.ndarray, log_alpha: float | np.ndarray, tau: float | np.ndarray
) -> np.ndarray:
    """The binary Concrete CDF at ``y``, from ``logit y``: ``sigma(tau logit y - log_alpha)``.

    Taking the logit as ``log y_1 - log y_2`` from both coordinates of a sample keeps it exact
    where ``y_1`` rounds to 1 in float32.
    """
    return np.asarray(special.expit(tau * np.asarray(logit_y, dtype=np.float64) - log_alpha))


def half_values(dtype: str) -> np.ndarray:
    """Return every finite value of ``float16`` or ``bfloat16``, sorted, in float64."""
    bits = np.arange(2**16, dtype=np.uint32)
    if dtype == "float16":
        values = bits.astype(np.uint16).view(np.float16)
    elif dtype == "bfloat16":
        # bfloat16 is the upper half of a float32.
        values = (bits << 16).view(np.float32)
    else:
        raise ValueError(f"not a half-precision dtype: {dtype!r}")
    return np.unique(values[np.isfinite(values)].astype(np.float64))


def round_to(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 ``x`` as the subjects build half-precision arrays: to float32, then to
    ``dtype`` with round to nearest even; return float64."""
    x32 = np.asarray(x, dtype=np.float32)
    if dtype == "float16":
        return x32.astype(np.float16).astype(np.float64)
    if dtype != "bfloat16":
        raise ValueError(f"not a half-precision dtype: {dtype!r}")
    bits = x32.view(np.uint32)
    bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
        0xFFFF0000
    )
    return np.asarray(bits.view(np.float32), dtype=np.float64)


def rounding_edges(points: np.ndarray, dtype: str) -> np.ndarray:
    """Move each point to the nearest rounding boundary of ``dtype`` at or above it.

    A boundary is the midpoint between two neighbouring representable values: round to
    nearest sends everything below it to the lower one and everything above to the upper one,
    so a cell between two boundaries has the exact probability of the unrounded law, and a
    rounded value (never a midpoint) falls in one cell unambiguously.
    """
    grid = half_values(dtype)
    upper = np.searchsorted(grid, np.asarray(points, dtype=np.float64), side="right")
    return np.unique((grid[upper - 1] + grid[upper]) / 2)


# --- design constructors --------------------------------------------------------------------


def biased_categorical(p: np.ndarray, relative: float, index: int = 0) -> np.ndarray:
    """Return ``p`` with class ``index`` scaled by ``1 + relative``, the excess removed evenly
    from the other classes (docs/mathematics.md#chi-square-tests)."""
    q: np.ndarray = np.array(p, dtype=np.float64)
    excess = q[index] * relative
    q[index] += excess
    others = np.arange(len(q)) != index
    q[others] -= excess * q[others] / q[others].sum()
    return q


def chisquare_design(name: str, p: np.ndarray, q: np.ndarray, detects: str) -> Design:
    """A chi-square goodness-of-fit design of law ``p`` against the biased law ``q``.

    Cells of probability 0 under ``p`` must have probability 0 under ``q`` too; they drop out
    of the power (the test itself fails outright on a count there).
    """
    p, q = np.asarray(p, dtype=np.float64).ravel(), np.asarray(q, dtype=np.float64).ravel()
    if np.any(q[p == 0] > 0):
        raise ValueError("the biased law puts mass on a cell of probability 0")
    p, q = p[p > 0], q[p > 0]

    def power(n: int) -> float:
        return chisquare_power(n, p, q)

    def simulate(rng: np.random.Generator, n: int) -> float:
        return chisquare_gof(rng.multinomial(n, q), p)[1]

    return register(Design(name, smallest_n(power), detects, power, simulate))


def categorical_design(
    name: str, p: np.ndarray, relative: float, detects: str, index: int = 0
) -> Design:
    """A chi-square design against a relative bias on class ``index`` of ``p``."""
    return chisquare_design(name, p, biased_categorical(p, relative, index), detects)


def ks_design(
    name: str,
    cdf: Callable[[np.ndarray], np.ndarray],
    biased_cdf: Callable[[np.ndarray], np.ndarray],
    biased_sampler: Callable[[np.random.Generator, int], np.ndarray],
    grid: np.ndarray,
    detects: str,
) -> Design:
    """A one-sample KS design against a biased law at sup-distance measured on ``grid``."""
    sup_distance = float(np.max(np.abs(cdf(grid) - biased_cdf(grid))))

    def power(n: int) -> float:
        return ks_power(n, sup_distance)

    def simulate(rng: np.random.Generator, n: int) -> float:
        return ks_1samp(biased_sampler(rng, n), cdf)[1]

    return register(Design(name, smallest_n(power), detects, power, simulate))


def binomial_power(n: int, p: float, q: float, *, alpha: float = ALPHA) -> float:
    """Exact power of the two-sided binomial test of ``p`` (stats.binomial_pvalue) under ``q``.

    The rejection region is that of SciPy's ``binomtest``: the p-value of ``k`` is the null
    mass of every outcome no more likely than ``k``. It is computed on the null mean +- 15
    standard deviations; everything outside (null mass < 1e-40) is rejected.
    """
    spread = 15.0 * math.sqrt(n * p * (1.0 - p)) + 10.0
    low, high = max(0, math.floor(n * p - spread)), min(n, math.ceil(n * p + spread))
    k = np.arange(low, high + 1)
    pmf = scipy_stats.binom.pmf(k, n, p)
    ascending = np.sort(pmf)
    cumulative = np.cumsum(ascending)
    pvalues = cumulative[np.searchsorted(ascending, pmf * (1 + 1e-7), side="right") - 1]
    rejected = pvalues <= alpha
    outside = scipy_stats.binom.cdf(low - 1, n, q) + scipy_stats.binom.sf(high, n, q)
    return float(np.sum(scipy_stats.binom.pmf(k[rejected], n, q)) + outside)


def binomial_design(name: str, p: float, relative: float, detects: str) -> Design:
    """An exact binomial design for a class of probability ``p`` against a relative error of
    ``relative`` either way (the power is that of the weaker direction)."""
    low, high = p * (1.0 - relative), p * (1.0 + relative)

    def power(n: int) -> float:
        return min(binomial_power(n, p, low), binomial_power(n, p, high))

    n = smallest_n(power, start=10_000)
    weaker = low if binomial_power(n, p, low) <= binomial_power(n, p, high) else high

    def simulate(rng: np.random.Generator, n: int) -> float:
        return binomial_pvalue(int(rng.binomial(n, weaker)), n, p)

    return register(Design(name, n, detects, power, simulate))


def deficit_design(name: str, p: float, deficit: float, detects: str) -> Design:
    """An exact binomial design for an event of probability ``p`` drawn too rarely.

    The test is the two-sided binomial test of ``p``; the power is against the rate
    ``p (1 - deficit)`` alone, the failure this design is for (a tail cut short draws too few).
    """
    low = p * (1.0 - deficit)

    def power(n: int) -> float:
        return binomial_power(n, p, low)

    def simulate(rng: np.random.Generator, n: int) -> float:
        return binomial_pvalue(int(rng.binomial(n, low)), n, p)

    return register(Design(name, smallest_n(power, start=10_000), detects, power, simulate))


def temperature_error_cdf(log_alpha: float, error: float) -> Callable[[np.ndarray], np.ndarray]:
    """The CDF, at a probability-integral transform ``u``, of a binary Concrete drawn with
    temperature ``tau * (1 + error)`` and transformed with the CDF of temperature ``tau``
    (the same for every ``tau``): ``sigma((1 + error) * (logit u + log_alpha) - log_alpha)``."""

    def cdf(u: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            x = special.logit(np.asarray(u, dtype=np.float64))
        return np.asarray(special.expit((1.0 + error) * (x + log_alpha) - log_alpha))

    return cdf


# --- Gumbel noise (test_gumbel.py) ----------------------------------------------------------

GUMBEL_GRID = np.linspace(-5.0, 20.0, 20_001)
UNIT_GRID = np.linspace(0.0, 1.0, 100_001)

# The adapter's uniforms in the top sliver V = 1 - U <= 2**-8, counted in the dyadic cells
# (2**-(k+1), 2**-k] for k = 8 .. 19 and V <= 2**-20: on any grid of 2**-20 or finer each cell
# has exactly its continuous probability, which the upper tail of the noise relies on. The
# bias: uniforms carrying 16 random bits, whose V stops at 2**-16
# (docs/mathematics.md#the-upper-tail-and-rare-classes).
SLIVER_BITS, SLIVER_DEPTH = 8, 20


def sliver_cells(v: np.ndarray) -> np.ndarray:
    """Return the counts of ``v = 1 - u`` (at most ``2**-SLIVER_BITS``) in the dyadic cells."""
    k = np.floor(-np.log2(np.asarray(v, dtype=np.float64))).astype(np.int64)
    return np.bincount(np.clip(k, SLIVER_BITS, SLIVER_DEPTH) - SLIVER_BITS,
                       minlength=SLIVER_DEPTH - SLIVER_BITS + 1)


def _sliver_law(grid_bits: int) -> np.ndarray:
    """The cells' probabilities, given the sliver, for uniforms on a grid of ``2**-grid_bits``."""
    points = np.arange(1, 2 ** (grid_bits - SLIVER_BITS) + 1) * 2.0**-grid_bits
    return sliver_cells(points) / points.size


SLIVER_PROBABILITIES = _sliver_law(SLIVER_DEPTH + 1)
"""The cells' probabilities given the sliver: the continuous law's (2**-(k-7), the last 2**-12)."""

SLIVER_CELLS = chisquare_design(
    "uniform-top-sliver-cells",
    SLIVER_PROBABILITIES,
    _sliver_law(16),
    "uniforms carrying 16 random bits (V = 1 - U stops at 2**-16)",
)

# The noise's upper tail in cells at the Gumbel law's upper quantiles: P(G > t) = 1e-1 down to
# 1e-5, each cell's probability exact (the cell above t_1e-5 holds 1e-5). The bias: an upper
# tail thinned by 20% beyond the 1e-3 quantile (t = 6.9), the mass moved below the 1e-1 one;
# noise computed in float16 stops at 7.6 (the noise of its largest uniform, 1 - 2**-11) and
# empties the cells beyond the 1e-4 quantile (t = 9.2) altogether.
UPPER_QUANTILES = np.array([1e-1, 1e-2, 1e-3, 1e-4, 1e-5])
UPPER_QUANTILE_EDGES = -np.log(-np.log1p(-UPPER_QUANTILES))
"""``t`` with ``P(G > t)`` equal to each of :data:`UPPER_QUANTILES`, increasing."""


def _upper_quantile_law(thinning: float) -> np.ndarray:
    """The cells' probabilities, the mass beyond the 1e-3 quantile scaled by ``1 - thinning``."""
    cells = -np.diff(np.concatenate([[1.0], UPPER_QUANTILES, [0.0]]))
    thinned = cells.copy()
    thinned[3:] *= 1.0 - thinning
    thinned[0] += cells[3:].sum() - thinned[3:].sum()
    law: np.ndarray = thinned
    return law


UPPER_QUANTILE_PROBABILITIES = _upper_quantile_law(0.0)

UPPER_QUANTILE_CELLS = chisquare_design(
    "noise-upper-quantile-cells",
    UPPER_QUANTILE_PROBABILITIES,
    _upper_quantile_law(0.2),
    "an upper tail thinned by 20% beyond the 1e-3 quantile (t = 6.9)",
)

NOISE = ks_design(
    "noise-gumbel-cdf",
    gumbel_cdf,
    lambda x: gumbel_cdf(x, loc=0.01),
    lambda rng, n: rng.gumbel(0.01, 1.0, size=n),
    GUMBEL_GRID,
    "a location shift of 0.01 (sup |dF| = 0.0037)",
)

# Half-precision noise is the float32 law rounded once. Cells are 30 equally likely Gumbel
# cells plus cells that isolate the tails noise computed in half precision reaches with only
# its few top grid values or not at all (it stops at -2.27 and 7.6 in float16, between 4.85
# and 5.5 in bfloat16 as the uniforms' grid ends), moved to rounding boundaries.
HALF_NOISE_POINTS = np.sort(np.concatenate([gumbel_edges(30), [-2.3, 4.9, 7.0]]))
HALF_NOISE_SHIFT = 0.02


def _rounded_noise_design(dtype: str) -> tuple[np.ndarray, Design]:
    edges = rounding_edges(HALF_NOISE_POINTS, dtype)
    p = cell_probabilities(gumbel_cdf, edges)
    q = cell_probabilities(lambda x: gumbel_cdf(x, loc=HALF_NOISE_SHIFT), edges)
    design = chisquare_design(
        f"noise-{dtype}-rounded",
        p,
        q,
        f"a location shift of {HALF_NOISE_SHIFT} of {dtype} noise (chi-square over "
        f"{len(p)} cells of the rounded law); noise computed in {dtype} itself leaves the "
        "tail cells beyond its caps empty and fails far more surely",
    )
    return edges, design


ROUNDED_NOISE: dict[str, tuple[np.ndarray, Design]] = {
    dtype: _rounded_noise_design(dtype) for dtype in ("float16", "bfloat16")
}
"""dtype -> (cell edges at rounding boundaries, design)."""

# The maximum (docs/mathematics.md#the-maximum): with logits theta and noise G,
# M = max(theta + G) satisfies M - LSE(theta) ~ Gumbel, independent of the argmax.
MAX_LOGITS = np.log(np.array([0.5, 0.3, 0.2]))
MAX_SHIFT = 0.02

MAX_GUMBEL = ks_design(
    "max-minus-logsumexp-gumbel",
    gumbel_cdf,
    lambda x: gumbel_cdf(x, loc=MAX_SHIFT),
    lambda rng, n: rng.gumbel(MAX_SHIFT, 1.0, size=n),
    GUMBEL_GRID,
    f"a location shift of {MAX_SHIFT} of max(logits + G) - logsumexp(logits) "
    f"(sup |dF| = {MAX_SHIFT / math.e:.4f})",
)

MAX_ARGMAX_BINS = 10
MAX_ARGMAX_SHIFT = 0.05


def _max_argmax_law(shift: float) -> np.ndarray:
    """The joint law of (argmax, Gumbel cell of M - LSE), the last class's M shifted."""
    pi = softmax64(MAX_LOGITS)
    edges = gumbel_edges(MAX_ARGMAX_BINS)
    joint = np.outer(pi, cell_probabilities(gumbel_cdf, edges))
    joint[-1] = pi[-1] * cell_probabilities(lambda x: gumbel_cdf(x, loc=shift), edges)
    return joint


MAX_INDEPENDENT = chisquare_design(
    "max-independent-of-argmax",
    _max_argmax_law(0.0),
    _max_argmax_law(MAX_ARGMAX_SHIFT),
    f"a location shift of {MAX_ARGMAX_SHIFT} of M - LSE given that the class of probability "
    f"0.2 wins (chi-square of the joint law of the argmax and {MAX_ARGMAX_BINS} Gumbel "
    "cells of M - LSE against the product of the exact marginals)",
)

# --- gumbel_max (test_gumbel_max.py) --------------------------------------------------------


def logits_design(
    name: str, logits: np.ndarray, relative: float, detects: str, index: int = 0
) -> tuple[np.ndarray, Design]:
    """Return ``(logits, design)`` for a chi-square test of ``softmax(logits)`` frequencies."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits, categorical_design(name, softmax64(logits), relative, detects, index)


_MASKED_K10 = np.zeros(10)
_MASKED_K10[[3, 9]] = -np.inf

GUMBEL_MAX_LAWS: dict[str, tuple[np.ndarray, Design]] = {
    "k2": logits_design(
        "gumbel-max-k2",
        np.log([0.3, 0.7]),
        0.02,
        "a 2% relative bias on the class of probability 0.3 of two",
    ),
    "k10": logits_design(
        "gumbel-max-k10",
        np.log(np.full(10, 0.1)),
        0.02,
        "a 2% relative bias on one of ten equally likely classes",
    ),
    "k10-masked": logits_design(
        "gumbel-max-k10-masked",
        _MASKED_K10,
        0.05,
        "a 5% relative bias on one of eight equally likely classes (two more are masked "
        "with -inf: a single draw of one fails outright)",
    ),
    "k100": logits_design(
        "gumbel-max-k100",
        np.linspace(1.0, -1.0, 100),
        0.2,
        "a 20% relative bias on the most likely of 100 classes (probability 0.027)",
    ),
}
"""case -> (float64 logits, design): the several-K frequency tests of gumbel_max."""

GUMBEL_MAX_K10 = GUMBEL_MAX_LAWS["k10"][1]

# A rare class in half-precision logits: the law is that of the rounded logits. Noise computed
# in float16 draws this class about 18% too rarely, in bfloat16 about 28%
# (docs/mathematics.md#the-upper-tail-and-rare-classes).
RARE_LOGITS = np.array([0.1, -5.9])
RARE_RELATIVE = 0.15
# The rarest of the rounded versions: the fewest expected draws, the least power.
_RARE_P = min(float(softmax64(round_to(RARE_LOGITS, d))[-1]) for d in ("float16", "bfloat16"))

RARE_CLASS = binomial_design(
    "gumbel-max-rare-class",
    _RARE_P,
    RARE_RELATIVE,
    f"a {RARE_RELATIVE:.0%} relative error, either way, in the rate of a class of probability "
    f"{_RARE_P:.4f} (noise computed in float16 gives -18%, in bfloat16 -28%)",
)

# Independence of draws: the joint law of the argmaxes of two draws is pi x pi. Biased law:
# the second draw repeats the first with probability INDEPENDENCE_REPEAT (reused noise would
# repeat it always).
INDEPENDENCE_LOGITS = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
INDEPENDENCE_REPEAT = 0.02


def _repeat_law(pi: np.ndarray, repeat: float) -> np.ndarray:
    return (1.0 - repeat) * np.outer(pi, pi) + repeat * np.diag(pi)


INDEPENDENCE = chisquare_design(
    "gumbel-max-pairs-independent",
    _repeat_law(softmax64(INDEPENDENCE_LOGITS), 0.0),
    _repeat_law(softmax64(INDEPENDENCE_LOGITS), INDEPENDENCE_REPEAT),
    f"a probability of {INDEPENDENCE_REPEAT} that a draw copies its partner's class (the "
    "16-cell joint law of two draws against pi x pi; reused noise copies it always, and any "
    "other dependence shows in the joint law too)",
)


def independence_tests(index: np.ndarray) -> list[tuple[str, float, float, int]]:
    """Return ``(what, statistic, p-value, df)`` per pair law of the :data:`INDEPENDENCE` draws.

    ``index`` holds the draws of the two rows of ``INDEPENDENCE_LOGITS`` with sample shape
    ``(2 n, 2)``, axes (outer draw, inner draw, row). Within each assertion the pairs are
    disjoint, so they are independent under the null; reused or shifted noise makes the pair
    dependent. Each pair law is tested against pi x pi by chi-square; an index that is not a
    class falls in a cell of probability 0.
    """
    n = index.shape[0] // 2
    pi = softmax64(INDEPENDENCE_LOGITS)
    k = len(pi)
    pairs = {
        "neighbouring draws along the inner sample axis": (index[:n, 0, 0], index[:n, 1, 0]),
        "neighbouring draws along the outer sample axis": (index[0::2, 0, 1], index[1::2, 0, 1]),
        "two rows with identical logits in one draw": (index[n:, 1, 0], index[n:, 1, 1]),
    }
    p = with_impossible_cell(np.outer(pi, pi))
    tests = []
    for what, (first, second) in pairs.items():
        valid = (first >= 0) & (first < k) & (second >= 0) & (second < k)
        joint = np.where(valid, first * k + second, k * k)
        statistic, pvalue, df = chisquare_gof(category_counts(joint, k * k), p)
        tests.append((what, statistic, pvalue, df))
    return tests

# --- gumbel_softmax (test_gumbel_softmax.py) ------------------------------------------------

# The argmax of a soft sample is Categorical(softmax(logits)) at every temperature
# (docs/mathematics.md#argmax-at-every-temperature).
SOFT_ARGMAX_LOGITS, SOFT_ARGMAX = logits_design(
    "gumbel-softmax-argmax",
    np.log([0.4, 0.25, 0.15, 0.12, 0.08]),
    0.03,
    "a 3% relative bias on the class of probability 0.4 of five",
)

# Binary Concrete, KS of logit(Y) against Logistic(log_alpha / tau, 1 / tau). A larger
# |log_alpha| makes the law more sensitive to the temperature: sup |dF| is 0.6 x the error here.
CONCRETE_LOG_ALPHA = 2.0
CONCRETE_TAU = 0.5
TEMPERATURE_ERROR = 0.01


def _concrete_sampler(
    log_alpha: np.ndarray, tau: np.ndarray, error: float
) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Draw ``n`` PIT values of binary Concrete rows (cycling through the rows) drawn with
    temperatures ``tau * (1 + error)``."""
    log_alpha, tau = np.atleast_1d(log_alpha), np.atleast_1d(tau)

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        row = np.arange(n) % len(tau)
        t = (rng.logistic(size=n) + log_alpha[row]) / (tau[row] * (1.0 + error))
        return concrete_pit(t, log_alpha[row], tau[row])

    return sample


BINARY_CONCRETE = ks_design(
    "binary-concrete-cdf",
    uniform_cdf,
    temperature_error_cdf(CONCRETE_LOG_ALPHA, TEMPERATURE_ERROR),
    _concrete_sampler(np.array([CONCRETE_LOG_ALPHA]), np.array([CONCRETE_TAU]),
                      TEMPERATURE_ERROR),
    UNIT_GRID,
    f"a temperature off by {TEMPERATURE_ERROR:.0%} (log alpha {CONCRETE_LOG_ALPHA}, "
    f"tau {CONCRETE_TAU}); n counts samples",
)

# Per-row temperatures: binary Concrete rows with their own tau in one call; one KS of the
# probability-integral transforms of all rows.
ROW_LOG_ALPHA = np.array([2.0, 1.0, 2.5, 1.5])
ROW_TAU = np.array([0.25, 0.5, 1.0, 2.0])


def _rows_error_cdf(u: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean(
        [temperature_error_cdf(a, TEMPERATURE_ERROR)(u) for a in ROW_LOG_ALPHA], axis=0
    ))


ROW_TEMPERATURES = ks_design(
    "gumbel-softmax-row-temperatures",
    uniform_cdf,
    _rows_error_cdf,
    _concrete_sampler(ROW_LOG_ALPHA, ROW_TAU, TEMPERATURE_ERROR),
    UNIT_GRID,
    f"every row's temperature off by {TEMPERATURE_ERROR:.0%} (KS of the pooled PIT of "
    f"{len(ROW_TAU)} rows with tau {', '.join(f'{t:g}' for t in ROW_TAU)}; temperatures "
    "given to the wrong rows are off by 2x or more); n counts PIT values",
)

# Pairwise log-ratios (docs/mathematics.md#pairwise-log-ratios):
# tau (Z_i - Z_j) - (theta_i - theta_j) ~ Logistic(0, 1), Z = log Y, from the disjoint
# pairs (0, 1) and (2, 3) of each draw (pairs sharing an index are dependent). Both pairs have
# a logit gap of 2, so a temperature error shifts them alike.
PAIR_LOGITS = np.array([2.0, 0.0, 1.5, -0.5, 0.3])
PAIR_TAU = 2.0
PAIRS = ((0, 1), (2, 3))
_PAIR_GAP = 2.0


def _pair_error_cdf(x: np.ndarray) -> np.ndarray:
    # tau (Z_i - Z_j) - gap = (L + gap) / (1 + error) - gap for a true temperature tau (1 + error).
    return logistic_cdf((1.0 + TEMPERATURE_ERROR) * (np.asarray(x) + _PAIR_GAP) - _PAIR_GAP)


PAIRWISE_LOGISTIC = ks_design(
    "gumbel-softmax-pairwise-logistic",
    logistic_cdf,
    _pair_error_cdf,
    lambda rng, n: (rng.logistic(size=n) + _PAIR_GAP) / (1.0 + TEMPERATURE_ERROR) - _PAIR_GAP,
    np.linspace(-30.0, 30.0, 60_001),
    f"a temperature off by {TEMPERATURE_ERROR:.0%} (K = {len(PAIR_LOGITS)}, tau {PAIR_TAU}, "
    "logit gap 2 in both pairs); n counts log-ratios, two per draw",
)


# --- tier 2 (two-sample) ---
# Relaxed samples whose law has no closed form (docs/mathematics.md#exact-references,
# docs/mathematics.md#two-sample-tests): the subject's sample is
# compared with a reference drawn by NumPy straight from the formula, never by gumbelkit, by a
# two-sample KS test on one scalar statistic (test_cross_backend.py). The reference has
# REFERENCE_RATIO times the subject's draws.

REFERENCE_RATIO = 2
CONCRETE_K3_LOGITS = np.log(np.array([0.2, 0.3, 0.5]))
CONCRETE_K3_TAUS = (0.5, 2.0)
CONCRETE_K3_TEMPERATURE_ERROR = 0.04


def concrete_from_noise(noise: np.ndarray, logits: np.ndarray, tau: float) -> np.ndarray:
    """Return ``softmax((logits + noise) / tau)`` for noise of shape ``(n, K)``, in float64."""
    # Classes first, in place on one new array: reductions over a short last axis are slow,
    # and the simulations draw millions of rows.
    z = np.asarray(logits, dtype=np.float64)[:, None] + np.asarray(noise).T
    z -= z.max(axis=0)
    z /= tau
    np.exp(z, out=z)
    z /= z.sum(axis=0)
    return np.asarray(z.T)


def concrete_reference(
    rng: np.random.Generator, n: int, logits: np.ndarray, tau: float
) -> np.ndarray:
    """Draw ``n`` Concrete samples in float64 with NumPy's Gumbel sampler."""
    return concrete_from_noise(rng.gumbel(size=(n, len(logits))), logits, tau)


def first_coordinate(y: np.ndarray) -> np.ndarray:
    """``y_0``, a marginal without closed form for K > 2 (the least likely class of
    CONCRETE_K3_LOGITS: its marginal moves most with the temperature)."""
    return np.asarray(y, dtype=np.float64)[..., 0]


def entropy(y: np.ndarray) -> np.ndarray:
    """``-sum_k y_k log y_k`` in float64, with ``0 log 0 = 0`` for entries that underflowed."""
    return np.asarray(special.entr(np.asarray(y, dtype=np.float64)).sum(axis=-1))


def ks_2samp_power(n: int, m: int, sup_distance: float, *, alpha: float = ALPHA) -> float:
    """A lower bound on the power of two-sample KS with ``n`` and ``m`` draws against two laws
    at sup-distance ``delta``.

    The critical distance is at most the DKW one, ``sqrt(log(2 / alpha) / (2 e))`` at the
    effective size ``e = n m / (n + m)`` of stats.ks_2samp. By DKW on each sample, the
    empirical CDFs stay within ``eps_1`` and ``eps_2`` of theirs except with probability
    ``2 exp(-2 n eps_1**2) + 2 exp(-2 m eps_2**2)``; the margin ``delta - critical`` is split
    so that both exponents equal ``n m margin**2 / (sqrt n + sqrt m)**2``.
    """
    effective = round(n * m / (n + m))
    margin = sup_distance - math.sqrt(math.log(2.0 / alpha) / (2.0 * effective))
    if margin <= 0:
        return 0.0
    exponent = n * m * margin**2 / (math.sqrt(n) + math.sqrt(m)) ** 2
    return max(0.0, 1.0 - 4.0 * math.exp(-2.0 * exponent))


def concrete_sup_distances(
    statistics: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    logits: np.ndarray,
    taus: tuple[float, ...],
    error: float,
) -> dict[tuple[str, float], float]:
    """Lower confidence bounds on sup |F - F'|, the laws of each statistic of ``Y`` at
    temperatures ``tau`` and ``tau (1 + error)``, none of which has a closed form.

    Common random numbers (the same noise at both temperatures) make the difference of the two
    empirical CDFs at a point far less noisy than either. A first sample picks the point of
    largest difference among 199 quantiles; an independent second one estimates the
    difference there, less 4 standard errors. The seed is fixed, so the bounds are
    reproducible.
    """
    rng = np.random.default_rng(20_250_601)
    select, estimate = (rng.gumbel(size=(n, len(logits))) for n in (2**15, 2**18))
    distances = {}
    for tau in taus:
        pairs = [
            (concrete_from_noise(noise, logits, tau),
             concrete_from_noise(noise, logits, tau * (1.0 + error)))
            for noise in (select, estimate)
        ]
        for label, statistic in statistics.items():
            a, b = (statistic(y) for y in pairs[0])
            grid = np.quantile(np.concatenate([a, b]), np.linspace(0.005, 0.995, 199))
            difference = (np.searchsorted(np.sort(a), grid, side="right")
                          - np.searchsorted(np.sort(b), grid, side="right")) / a.size
            point = grid[np.argmax(np.abs(difference))]
            a, b = (statistic(y) for y in pairs[1])
            indicator = (a <= point).astype(np.float64) - (b <= point)
            distances[label, tau] = (abs(float(indicator.mean()))
                                     - 4.0 * float(indicator.std()) / math.sqrt(a.size))
    return distances


def _concrete_k3_simulation(
    statistic: Callable[[np.ndarray], np.ndarray], tau: float
) -> Callable[[np.random.Generator, int], float]:
    def simulate(rng: np.random.Generator, n: int) -> float:
        from gumbelkit.conformance.stats import ks_2samp

        biased = concrete_reference(
            rng, n, CONCRETE_K3_LOGITS, tau * (1.0 + CONCRETE_K3_TEMPERATURE_ERROR)
        )
        reference = concrete_reference(rng, REFERENCE_RATIO * n, CONCRETE_K3_LOGITS, tau)
        return ks_2samp(statistic(biased), statistic(reference))[1]

    return simulate


def _concrete_k3_designs() -> dict[tuple[str, float], Design]:
    """One design per (statistic, tau). All four share the size the least sensitive one needs,
    so their tests draw arrays of one shape, which JAX compiles once."""
    statistics = {"coordinate": first_coordinate, "entropy": entropy}
    described = {"coordinate": "y_0 (probability 0.2)", "entropy": "the entropy"}
    # A temperature too high is the weaker direction: tau (1 - error) moves these laws further.
    distances = concrete_sup_distances(
        statistics, CONCRETE_K3_LOGITS, CONCRETE_K3_TAUS, CONCRETE_K3_TEMPERATURE_ERROR
    )
    powers = {
        key: (lambda n, d=distance: ks_2samp_power(n, REFERENCE_RATIO * n, d))
        for key, distance in distances.items()
    }
    n = max(smallest_n(power) for power in powers.values())
    return {
        (label, tau): register(Design(
            f"concrete-k3-{label}-tau{tau:g}",
            n,
            f"a temperature off by {CONCRETE_K3_TEMPERATURE_ERROR:.0%} either way, in the law of "
            f"{described[label]} of a K = 3 Concrete sample (probabilities 0.2, 0.3, 0.5, "
            f"tau {tau:g}; sup |dF| >= {distances[label, tau]:.4f}); n subject draws against "
            f"{REFERENCE_RATIO}n NumPy reference draws",
            powers[label, tau],
            _concrete_k3_simulation(statistics[label], tau),
        ))
        for label, tau in distances
    }


CONCRETE_K3 = _concrete_k3_designs()


# --- conditional_gumbel ---
# docs/mathematics.md#conditional-noise (test_conditional_gumbel.py). One row per conditioning
# index, the rarest
# unmasked class included; class 2 is masked and loses in every row.
CONDITIONAL_LOGITS = np.array([math.log(0.45), math.log(0.3), -math.inf, math.log(0.2),
                               math.log(0.05)])
CONDITIONAL_INDEX = np.array([0, 1, 3, 4])
CONDITIONAL_RATE_ERROR = 0.02
CONDITIONAL_SHIFT = 0.02

# The losers' probability-integral transforms U_j = exp(-exp(-G_j) + exp(theta_j - X_i)) are
# exp(-E_j), iid Uniform(0, 1) (a masked class gives its unconditioned exp(-exp(-G_j))).
# Biased law: race times off by a factor 1 + error, U**(1 + error).
CONDITIONAL_PIT = ks_design(
    "conditional-gumbel-pit",
    uniform_cdf,
    lambda u: uniform_cdf(u) ** (1.0 / (1.0 + CONDITIONAL_RATE_ERROR)),
    lambda rng, n: rng.uniform(size=n) ** (1.0 + CONDITIONAL_RATE_ERROR),
    UNIT_GRID,
    f"the losers' exponential race times off by {CONDITIONAL_RATE_ERROR:.0%} (KS of their "
    "PIT, pooled over losers and rows); n counts PIT values",
)

# The winner: X_i - logsumexp(theta) ~ Gumbel(0, 1) whichever class is conditioned on.
CONDITIONAL_MAX = ks_design(
    "conditional-gumbel-max",
    gumbel_cdf,
    lambda x: gumbel_cdf(x, loc=CONDITIONAL_SHIFT),
    lambda rng, n: rng.gumbel(CONDITIONAL_SHIFT, 1.0, size=n),
    GUMBEL_GRID,
    f"a location shift of {CONDITIONAL_SHIFT} of the conditioned maximum X_i - LSE(theta) "
    f"(sup |dF| = {CONDITIONAL_SHIFT / math.e:.4f}); n counts maxima, one per row and draw",
)


# --- top-k ---
# gumbel_top_k and relaxed_top_k (test_top_k.py, docs/mathematics.md#top-k-and-plackett-luce). The
# laws come from enumerating
# the orderings in float64 NumPy, never from gumbelkit.


def plackett_luce_law(logits: np.ndarray, k: int) -> np.ndarray:
    """Return the probability of every ordered k-tuple of ``[0, K]``, shape ``(K + 1,) * k``.

    The Plackett-Luce product ``prod_j pi_{i_j} / (1 - sum_{l<j} pi_{i_l})`` in float64 over
    the tuples of distinct classes; a tuple with a repeat, a masked class or the invalid index
    ``K`` has probability 0.
    """
    from itertools import permutations

    pi = softmax64(logits)
    num_classes = len(pi)
    law = np.zeros((num_classes + 1,) * k)
    for ordering in permutations(range(num_classes), k):
        probability, taken = 1.0, 0.0
        for i in ordering:
            probability *= pi[i] / (1.0 - taken) if pi[i] > 0 else 0.0
            taken += pi[i]
        law[ordering] = probability
    return law


def ordered_tuple_counts(indices: np.ndarray, num_classes: int) -> np.ndarray:
    """Count the rows of ``indices`` (..., k) in the flattened cells of
    :func:`plackett_luce_law`; an index outside ``[0, K)`` counts as ``K``."""
    indices = np.asarray(indices).astype(np.int64)
    indices = np.where((indices >= 0) & (indices < num_classes), indices, num_classes)
    k = indices.shape[-1]
    cells = np.ravel_multi_index(tuple(indices.reshape(-1, k).T), (num_classes + 1,) * k)
    return np.bincount(cells, minlength=(num_classes + 1) ** k)


def subset_law(logits: np.ndarray, k: int) -> np.ndarray:
    """Return the probability of every subset of the K classes, as a bit mask (``2**K``
    cells), plus a last cell for anything that is not a vector of zeros and ones.

    A subset's probability is the sum of :func:`plackett_luce_law` over its ``k!``
    orderings (docs/mathematics.md#the-plackett-luce-law: no closed form).
    """
    from itertools import permutations

    law = plackett_luce_law(logits, k)
    num_classes = len(logits)
    sets = np.zeros(2**num_classes + 1)
    for ordering in permutations(range(num_classes), k):
        sets[sum(1 << i for i in ordering)] += law[ordering]
    return sets


def k_hot_counts(y: np.ndarray) -> np.ndarray:
    """Count the rows of ``y`` (..., K) in the cells of :func:`subset_law`."""
    num_classes = y.shape[-1]
    y = np.asarray(y, dtype=np.float64).reshape(-1, num_classes)
    binary = np.all((y == 0) | (y == 1), axis=-1)
    masks = (y == 1).astype(np.int64) @ (1 << np.arange(num_classes))
    return np.bincount(np.where(binary, masks, 2**num_classes), minlength=2**num_classes + 1)


def masked_log(probabilities: list[float]) -> np.ndarray:
    """Return ``log p`` with ``-inf`` for a probability of 0 (a masked class), silently."""
    p = np.asarray(probabilities, dtype=np.float64)
    return np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)


def most_likely_design(name: str, law: np.ndarray, relative: float, detects: str) -> Design:
    """A chi-square design of ``law`` (flattened) against a relative bias on its most likely
    cell, the excess taken from the other possible cells in proportion."""
    p = np.asarray(law, dtype=np.float64).ravel()
    q = np.where(p > 0, biased_categorical(p, relative, int(np.argmax(p))), 0.0)
    return chisquare_design(name, p, q / q.sum(), detects)


TOP_K_RELATIVE = 0.05

TOP_K_LAWS: dict[str, tuple[np.ndarray, int, Design]] = {
    case: (logits, k, most_likely_design(
        f"gumbel-top-k-{case}", plackett_luce_law(logits, k), TOP_K_RELATIVE,
        f"a {TOP_K_RELATIVE:.0%} relative bias on the most likely ordered {k}-tuple of "
        f"{len(logits)} classes{detail} (chi-square over the ordered tuples, the "
        "Plackett-Luce law by enumeration)",
    ))
    for case, logits, k, detail in (
        ("k5-k2", masked_log([0.35, 0.25, 0.2, 0.12, 0.08]), 2, ""),
        ("k4-k3-masked", masked_log([0.45, 0.3, 0.0, 0.25]), 3, ", one of them masked"),
    )
}
"""case -> (float64 logits, k, design): ordered samples of gumbel_top_k."""

# The hard relaxed top-k is the k-hot of the Gumbel-top-k set: its law is the unordered set
# law, the sum of Plackett-Luce over each set's orderings.
TOP_K_SET_LOGITS = masked_log([0.3, 0.25, 0.0, 0.25, 0.2])
TOP_K_SET_K = 2
TOP_K_SET = most_likely_design(
    "relaxed-top-k-hard-sets",
    subset_law(TOP_K_SET_LOGITS, TOP_K_SET_K),
    TOP_K_RELATIVE,
    f"a {TOP_K_RELATIVE:.0%} relative bias on the most likely {TOP_K_SET_K}-subset of 5 "
    "classes, one of them masked (chi-square over the subsets as bit masks)",
)


# Tier 2: the relaxed sample has no closed-form law. Two-sample KS of its squared norm against a
# float64 NumPy reference drawn straight from the recursion (test_top_k.py). The largest entry
# would not do: at tau 0.3 about 1% of its mass lies within 1e-7 of 1, where a float32 sample
# differs from the float64 law by its rounding alone (docs/mathematics.md#half-precision-outputs);
# the squared norm has no
# such atom-like spot (float32 and float64 recursions on the same noise: KS distance 1e-5 at
# n = 1e6).

RELAXED_TOP_K_LOGITS = np.log(np.array([0.35, 0.25, 0.2, 0.12, 0.08]))
RELAXED_TOP_K_K = 2
RELAXED_TOP_K_TAUS = (0.3, 1.0)
RELAXED_TOP_K_TEMPERATURE_ERROR = 0.05


def relaxed_top_k_from_noise(
    noise: np.ndarray, logits: np.ndarray, k: int, tau: float
) -> np.ndarray:
    """Return Xie & Ermon's relaxed top-k (docs/mathematics.md#relaxed-top-k) for noise of shape
    ``(n, K)`` in float64: :func:`gumbelkit.testing.reference_relaxed_top_k` of
    ``logits + noise``.
    """
    alpha = np.asarray(logits, dtype=np.float64) + np.asarray(noise, dtype=np.float64)
    return reference_relaxed_top_k(alpha, k, tau)


def squared_norm(y: np.ndarray) -> np.ndarray:
    """``sum_i y_i**2`` over the last axis, in float64: ``k`` for a k-hot sample, lower the
    more the relaxed sample spreads its mass (a higher temperature)."""
    y = np.asarray(y, dtype=np.float64)
    return np.asarray(np.einsum("...i,...i->...", y, y))


def _relaxed_top_k_draw(
    rng: np.random.Generator, n: int, tau: float
) -> np.ndarray:
    noise = rng.gumbel(size=(n, len(RELAXED_TOP_K_LOGITS)))
    return relaxed_top_k_from_noise(noise, RELAXED_TOP_K_LOGITS, RELAXED_TOP_K_K, tau)


def _relaxed_top_k_sup_distance(tau: float) -> float:
    """A lower confidence bound on sup |F - F'| between the laws of the squared norm at
    ``tau`` and ``tau (1 + error)``, as :func:`concrete_sup_distances` computes it: common
    random numbers, a point chosen on one sample, the difference there estimated on an
    independent one less 4 standard errors, a fixed seed."""
    rng = np.random.default_rng(20_250_602)
    samples = []
    for n in (2**14, 2**17):
        noise = rng.gumbel(size=(n, len(RELAXED_TOP_K_LOGITS)))
        samples.append([
            squared_norm(relaxed_top_k_from_noise(noise, RELAXED_TOP_K_LOGITS,
                                                   RELAXED_TOP_K_K, tau * (1.0 + error)))
            for error in (0.0, RELAXED_TOP_K_TEMPERATURE_ERROR)
        ])
    a, b = samples[0]
    grid = np.quantile(np.concatenate([a, b]), np.linspace(0.005, 0.995, 199))
    difference = (np.searchsorted(np.sort(a), grid, side="right")
                  - np.searchsorted(np.sort(b), grid, side="right")) / a.size
    point = grid[np.argmax(np.abs(difference))]
    a, b = samples[1]
    indicator = (a <= point).astype(np.float64) - (b <= point)
    return abs(float(indicator.mean())) - 4.0 * float(indicator.std()) / math.sqrt(a.size)


def _relaxed_top_k_simulation(tau: float) -> Callable[[np.random.Generator, int], float]:
    def simulate(rng: np.random.Generator, n: int) -> float:
        from gumbelkit.conformance.stats import ks_2samp

        biased = _relaxed_top_k_draw(rng, n, tau * (1.0 + RELAXED_TOP_K_TEMPERATURE_ERROR))
        reference = _relaxed_top_k_draw(rng, REFERENCE_RATIO * n, tau)
        return ks_2samp(squared_norm(biased), squared_norm(reference))[1]

    return simulate


def _relaxed_top_k_designs() -> dict[float, Design]:
    """One design per temperature, both of the size the less sensitive one needs (one array
    shape, which JAX compiles once)."""
    distances = {tau: _relaxed_top_k_sup_distance(tau) for tau in RELAXED_TOP_K_TAUS}
    powers = {tau: (lambda n, d=distance: ks_2samp_power(n, REFERENCE_RATIO * n, d))
              for tau, distance in distances.items()}
    n = max(smallest_n(power) for power in powers.values())
    return {
        tau: register(Design(
            f"relaxed-top-k-norm-tau{tau:g}",
            n,
            f"a temperature {RELAXED_TOP_K_TEMPERATURE_ERROR:.0%} too high in the law of the "
            f"squared norm of a relaxed top-{RELAXED_TOP_K_K} sample of "
            f"{len(RELAXED_TOP_K_LOGITS)} classes (tau {tau:g}; sup |dF| >= "
            f"{distances[tau]:.4f}); n subject draws against {REFERENCE_RATIO}n NumPy "
            "reference draws",
            powers[tau],
            _relaxed_top_k_simulation(tau),
        ))
        for tau in RELAXED_TOP_K_TAUS
    }


RELAXED_TOP_K = _relaxed_top_k_designs()


# --- distributions ---
# gumbelkit.distributions (test_distributions.py): the logit of a binary Concrete sample against
# its Logistic law (docs/mathematics.md#binary-concrete), the Hard Concrete gate's atoms by exact
# binomial tests and its interior by KS against the conditional CDF
# (docs/mathematics.md#hard-concrete). The ExpConcrete's pairwise log-ratios reuse
# PAIRWISE_LOGISTIC.

# log alpha < 0 puts the mass of Y near 0, where float32 keeps log Y, and so logit Y, exact.
RELAXED_BERNOULLI_LOG_ALPHA = -2.0
RELAXED_BERNOULLI_TAU = 0.5


def relaxed_bernoulli_logit_cdf(error: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """The CDF of ``logit Y`` for Y drawn with temperature ``tau (1 + error)``: the Logistic
    (``log_alpha / tau``, ``1 / tau``) CDF at ``(1 + error) x``."""
    loc, scale = RELAXED_BERNOULLI_LOG_ALPHA / RELAXED_BERNOULLI_TAU, 1.0 / RELAXED_BERNOULLI_TAU

    def cdf(x: np.ndarray) -> np.ndarray:
        return logistic_cdf((1.0 + error) * np.asarray(x, dtype=np.float64), loc, scale)

    return cdf


RELAXED_BERNOULLI_LOGIT = ks_design(
    "relaxed-bernoulli-logit-logistic",
    relaxed_bernoulli_logit_cdf(),
    relaxed_bernoulli_logit_cdf(TEMPERATURE_ERROR),
    lambda rng, n: (rng.logistic(size=n) + RELAXED_BERNOULLI_LOG_ALPHA)
    / (RELAXED_BERNOULLI_TAU * (1.0 + TEMPERATURE_ERROR)),
    np.linspace(-80.0, 80.0, 160_001),
    f"a temperature off by {TEMPERATURE_ERROR:.0%} (log alpha {RELAXED_BERNOULLI_LOG_ALPHA}, "
    f"tau {RELAXED_BERNOULLI_TAU}): KS of logit Y against Logistic(log alpha / tau, 1 / tau)",
)

# Hard Concrete with the reference constants and log alpha 0.5: P(z = 0) = 0.109,
# P(z = 1) = 0.250, the interior 0.641.
HARD_CONCRETE_LOG_ALPHA = 0.5
HARD_CONCRETE_ATOM_ERROR = 0.03
HARD_CONCRETE_SHIFT = 0.05


def hard_concrete_stretched_cdf(
    x: float | np.ndarray, log_alpha: float, beta: float = 2.0 / 3.0, gamma: float = -0.1,
    zeta: float = 1.1,
) -> np.ndarray:
    """``Q(x) = sigmoid(beta logit((x - gamma) / (zeta - gamma)) - log_alpha)``, the CDF of the
    stretched sample before clipping, for ``gamma < x < zeta``."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(special.expit(beta * (np.log(x - gamma) - np.log(zeta - x)) - log_alpha))


def hard_concrete_atoms(log_alpha: float) -> tuple[float, float]:
    """``(P(z = 0), P(z = 1)) = (Q(0), 1 - Q(1))``."""
    return (float(hard_concrete_stretched_cdf(0.0, log_alpha)),
            1.0 - float(hard_concrete_stretched_cdf(1.0, log_alpha)))


def hard_concrete_interior_cdf(log_alpha: float) -> Callable[[np.ndarray], np.ndarray]:
    """The law of z given 0 < z < 1: ``(Q(x) - P0) / (1 - P0 - P1)`` on [0, 1]."""
    p0, p1 = hard_concrete_atoms(log_alpha)

    def cdf(x: np.ndarray) -> np.ndarray:
        inside = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        return np.clip((hard_concrete_stretched_cdf(inside, log_alpha) - p0) / (1.0 - p0 - p1),
                       0.0, 1.0)

    return cdf


def hard_concrete_interior_sampler(log_alpha: float) -> Callable[[np.random.Generator, int],
                                                                  np.ndarray]:
    """Draw ``n`` interior gates exactly, by inverting Q on ``(Q(0), Q(1))``."""

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        low, high = (float(hard_concrete_stretched_cdf(x, log_alpha)) for x in (0.0, 1.0))
        u = rng.uniform(low, high, size=n)
        return np.asarray(-0.1 + 1.2 * special.expit((special.logit(u) + log_alpha) / (2.0 / 3.0)))

    return sample


_HC_P0, _HC_P1 = hard_concrete_atoms(HARD_CONCRETE_LOG_ALPHA)
HARD_CONCRETE_INTERIOR_PROBABILITY = 1.0 - _HC_P0 - _HC_P1

HARD_CONCRETE_ZERO = binomial_design(
    "hard-concrete-zero-atom",
    _HC_P0,
    HARD_CONCRETE_ATOM_ERROR,
    f"a {HARD_CONCRETE_ATOM_ERROR:.0%} relative error, either way, in P(z = 0) = {_HC_P0:.4f} "
    f"(log alpha {HARD_CONCRETE_LOG_ALPHA}; beta 2% off moves it by about 2.8%)",
)
HARD_CONCRETE_ONE = binomial_design(
    "hard-concrete-one-atom",
    _HC_P1,
    HARD_CONCRETE_ATOM_ERROR,
    f"a {HARD_CONCRETE_ATOM_ERROR:.0%} relative error, either way, in P(z = 1) = {_HC_P1:.4f} "
    f"(log alpha {HARD_CONCRETE_LOG_ALPHA})",
)


def _hard_concrete_interior_design() -> Design:
    grid = np.linspace(0.0, 1.0, 100_001)
    cdf = hard_concrete_interior_cdf(HARD_CONCRETE_LOG_ALPHA)

    def distance(shift: float) -> float:
        biased = hard_concrete_interior_cdf(HARD_CONCRETE_LOG_ALPHA + shift)
        return float(np.max(np.abs(cdf(grid) - biased(grid))))

    # The weaker direction of the shift.
    shift = min((HARD_CONCRETE_SHIFT, -HARD_CONCRETE_SHIFT), key=distance)
    return ks_design(
        "hard-concrete-interior",
        cdf,
        hard_concrete_interior_cdf(HARD_CONCRETE_LOG_ALPHA + shift),
        hard_concrete_interior_sampler(HARD_CONCRETE_LOG_ALPHA + shift),
        grid,
        f"log alpha off by {HARD_CONCRETE_SHIFT} either way in the law of the gates strictly "
        f"between 0 and 1 (log alpha {HARD_CONCRETE_LOG_ALPHA}; sup |dF| = "
        f"{distance(shift):.4f}); n counts interior gates",
    )


HARD_CONCRETE_INTERIOR = _hard_concrete_interior_design()

# --- categorical (test_categorical.py) ------------------------------------------------------

# The tails issue's design: one class at logit 0 and 65,536 classes 18 nats below it, which
# together hold 1.0e-3 of the mass. Float32 noise on its grid drew them at 3 to 8% of their
# rate; a float32 inverse CDF would never draw them (1 + 1.5e-8 rounds to 1).
CATEGORICAL_RARE_CLASSES = 65_536
CATEGORICAL_RARE_GAP = 18.0
CATEGORICAL_RARE_RELATIVE = 0.15


def rare_mass(gap: float) -> float:
    """The total probability of :data:`CATEGORICAL_RARE_CLASSES` classes ``gap`` nats down."""
    weight = CATEGORICAL_RARE_CLASSES * math.exp(-gap)
    return weight / (1.0 + weight)


CATEGORICAL_RARE = binomial_design(
    "categorical-rare-classes",
    rare_mass(CATEGORICAL_RARE_GAP),
    CATEGORICAL_RARE_RELATIVE,
    f"a {CATEGORICAL_RARE_RELATIVE:.0%} relative error, either way, in the total rate of "
    f"{CATEGORICAL_RARE_CLASSES:,} classes {CATEGORICAL_RARE_GAP:g} nats below the maximum "
    "(one row, many draws: the tables' method)",
)


def categorical_rare_logits(gap: float = CATEGORICAL_RARE_GAP) -> np.ndarray:
    """The row of :data:`CATEGORICAL_RARE`: class 0 at 0, the others ``gap`` (18) nats below."""
    row = np.full(CATEGORICAL_RARE_CLASSES + 1, -gap)
    row[0] = 0.0
    return row


def _gumbel_max_rare_design(name: str, gap: float, deficit: float, textbook: str) -> Design:
    """The rare-classes row ``gap`` nats down under gumbel_max, against a ``deficit``."""
    return deficit_design(
        name, rare_mass(gap), deficit,
        f"a deficit of {deficit:.0%} in the total rate of {CATEGORICAL_RARE_CLASSES:,} classes "
        f"{gap:g} nats below the maximum (the textbook float32 noise: {textbook})",
    )


# The same row for gumbel_max, whose every draw takes noise for all 65,537 classes: a rare
# draw costs about e**18 = 6.6e7 noise values, so the design is against a deficit of 80% (the
# textbook float32 noise draws these classes at 8% of their rate, a deficit of 92%).
GUMBEL_MAX_RARE_DEFICIT = 0.8
GUMBEL_MAX_RARE = _gumbel_max_rare_design(
    "gumbel-max-rare-classes", CATEGORICAL_RARE_GAP, GUMBEL_MAX_RARE_DEFICIT, "92%")

# Further down, where a sample that fits the budget still has power: 65,536 classes 19 nats
# below the maximum hold 3.7e-4 of the mass, and a rare draw costs about e**19 = 1.8e8 noise
# values. The textbook float32 noise draws them at 2.6e-4 of their rate (exact, from
# gumbelkit.conformance.tails), a deficit of 99.97%; the design is against one of 95%.
# (Against 80%, as at 18 nats, it would take 8.4e9 noise values, and at 20 nats 2.3e10.)
GUMBEL_MAX_RARER_GAP = 19.0
GUMBEL_MAX_RARER_DEFICIT = 0.95
GUMBEL_MAX_RARER = _gumbel_max_rare_design(
    "gumbel-max-rarer-classes", GUMBEL_MAX_RARER_GAP, GUMBEL_MAX_RARER_DEFICIT, "99.97%")
