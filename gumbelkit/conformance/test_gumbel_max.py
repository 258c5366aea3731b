"""Tier 1: ``gumbel_max`` draws Categorical(softmax(logits)) (docs/mathematics.md#gumbel-max).

Exact laws: class frequencies against softmax for several K, masked classes never drawn, a
rare class at its rate with half-precision logits, and the joint law of pairs of draws
(independence of sample_shape draws and of rows). Each test's sample size and the bias it
detects are in designs.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.conformance import designs, stats

FLOATS = ["float32", "float64"]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(designs.GUMBEL_MAX_LAWS))
def test_frequencies_follow_softmax(subject, case, dtype, factor, seed, verdict):
    subject.require(dtype)
    logits, design = designs.GUMBEL_MAX_LAWS[case]
    n = design.scaled(factor)
    index = gk.gumbel_max(subject.asarray(logits, dtype), sample_shape=n, rng=seed)
    counts = designs.category_counts(subject.to_numpy(index), len(logits))
    # A masked class has probability 0: one draw of it gives p = 0.
    p = designs.with_impossible_cell(designs.softmax64(logits))
    statistic, pvalue, df = stats.chisquare_gof(counts, p)
    verdict(f"gumbel_max frequencies vs softmax ({case})", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_rare_class_rate_with_half_precision_logits(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.RARE_CLASS
    n = design.scaled(factor)
    logits = subject.asarray(designs.RARE_LOGITS, dtype)
    # The law is that of the logits as stored, rounded to the half dtype (noise and argmax run
    # in float32, whose own tail truncation is below 1e-7).
    p = designs.softmax64(subject.to_numpy(logits).astype(np.float64))
    counts = designs.category_counts(
        subject.to_numpy(gk.gumbel_max(logits, sample_shape=n, rng=seed)), len(p)
    )
    assert counts[-1] == 0, f"{counts[-1]} draws are not a valid class"
    rare = int(counts[len(p) - 1])
    pvalue = stats.binomial_pvalue(rare, n, p[-1])
    verdict(f"rare class (p = {p[-1]:.5f}) with {dtype} logits", dtype=dtype, n=n,
            statistic=rare / (n * p[-1]), pvalue=pvalue,
            method="exact binomial (statistic: observed / expected)")


@pytest.mark.parametrize("dtype", FLOATS)
def test_draws_and_rows_are_independent(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.INDEPENDENCE
    n = design.scaled(factor)
    pi = designs.softmax64(designs.INDEPENDENCE_LOGITS)
    k = len(pi)
    logits = np.stack([designs.INDEPENDENCE_LOGITS] * 2)
    # Axes (outer draw, inner draw, row). Within each assertion the pairs are disjoint, so
    # they are independent under the null; reused or shifted noise makes the pair dependent.
    index = subject.to_numpy(
        gk.gumbel_max(subject.asarray(logits, dtype), sample_shape=(2 * n, 2), rng=seed)
    ).astype(np.int64)
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
        verdict(f"joint law of {what} vs pi x pi", dtype=dtype, n=n, statistic=statistic,
                pvalue=pvalue, method=f"chi-square, df {df}")
