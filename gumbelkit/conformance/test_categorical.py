"""Tier 1: ``categorical`` draws Categorical(softmax(logits)) by every method.

Exact laws (docs/categorical.md): class frequencies against softmax for several K (masked
classes never drawn), the total rate of 65,536 classes 18 nats below the maximum, and the
joint law of pairs of draws (independence of draws and of rows). Each test's sample size and
the bias it detects are in designs.py. ``"gumbel"`` is ``gumbel_max`` itself (its own tests);
these run the table methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.conformance import designs, stats

# The tables are built in float64 and int64 whatever the logits' dtype, which enters only
# through the weights' rounding (tested exactly in tests/test_categorical.py): the laws run on
# float32 logits.
LAW_DTYPES = ["float32"]
TABLE_METHODS = ["cdf", "alias"]


def draw(subject: Any, logits: Any, method: str, **kwargs: Any) -> np.ndarray:
    """Draw with ``method``, skipping where the namespace lacks the 64-bit sums it needs."""
    try:
        drawn: np.ndarray = subject.to_numpy(gk.categorical(logits, method=method, **kwargs))
    except ValueError as error:
        if "jax_enable_x64" in str(error):
            pytest.skip(f"{method} needs 64-bit integers: {error}")
        raise
    return drawn


@pytest.mark.parametrize("method", TABLE_METHODS)
@pytest.mark.parametrize("dtype", LAW_DTYPES)
@pytest.mark.parametrize("case", list(designs.GUMBEL_MAX_LAWS))
def test_frequencies_follow_softmax(subject, case, dtype, method, factor, seed, verdict):
    subject.require(dtype)
    logits, design = designs.GUMBEL_MAX_LAWS[case]
    n = design.scaled(factor)
    index = draw(subject, subject.asarray(logits, dtype), method, sample_shape=n, rng=seed)
    counts = designs.category_counts(index, len(logits))
    p = designs.with_impossible_cell(designs.softmax64(logits))
    statistic, pvalue, df = stats.chisquare_gof(counts, p)
    verdict(f"categorical ({method}) frequencies vs softmax ({case})", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("method", TABLE_METHODS)
@pytest.mark.parametrize("dtype", LAW_DTYPES)
def test_rare_classes_at_their_rate(subject, dtype, method, factor, seed, verdict):
    subject.require(dtype)
    design = designs.CATEGORICAL_RARE
    n = design.scaled(factor)
    logits = subject.asarray(designs.categorical_rare_logits(), dtype)
    p = designs.softmax64(subject.to_numpy(logits).astype(np.float64))
    index = draw(subject, logits, method, sample_shape=n, rng=seed)
    assert int(np.count_nonzero(index > len(p) - 1)) == 0, "an index that is not a class"
    rare = int(np.count_nonzero(index != 0))
    mass = float(1.0 - p[0])
    pvalue = stats.binomial_pvalue(rare, n, mass)
    verdict(f"categorical ({method}): {designs.CATEGORICAL_RARE_CLASSES:,} classes "
            f"{designs.CATEGORICAL_RARE_GAP:g} nats down", dtype=dtype, n=n,
            statistic=rare / (n * mass), pvalue=pvalue,
            method="exact binomial (statistic: observed / expected)")


@pytest.mark.parametrize("method", TABLE_METHODS)
@pytest.mark.parametrize("dtype", LAW_DTYPES)
def test_draws_and_rows_are_independent(subject, dtype, method, factor, seed, verdict):
    subject.require(dtype)
    design = designs.INDEPENDENCE
    n = design.scaled(factor)
    pi = designs.softmax64(designs.INDEPENDENCE_LOGITS)
    k = len(pi)
    logits = subject.asarray(np.stack([designs.INDEPENDENCE_LOGITS] * 2), dtype)
    index = draw(subject, logits, method, sample_shape=(2 * n, 2), rng=seed).astype(np.int64)
    pairs = {
        "neighbouring draws along the inner sample axis": (index[:n, 0, 0], index[:n, 1, 0]),
        "neighbouring draws along the outer sample axis": (index[0::2, 0, 1], index[1::2, 0, 1]),
        "two rows with identical logits in one draw": (index[n:, 1, 0], index[n:, 1, 1]),
    }
    p = designs.with_impossible_cell(np.outer(pi, pi))
    for what, (first, second) in pairs.items():
        valid = (first >= 0) & (first < k) & (second >= 0) & (second < k)
        joint = np.where(valid, first * k + second, k * k)
        statistic, pvalue, df = stats.chisquare_gof(designs.category_counts(joint, k * k), p)
        verdict(f"categorical ({method}): joint law of {what} vs pi x pi", dtype=dtype, n=n,
                statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")
