"""Gumbel-top-k samples follow Plackett-Luce; relaxed top-k follows its recursion
(docs/mathematics.md#top-k-and-plackett-luce).

Tier 1: the ordered k-tuples of ``gumbel_top_k`` against the Plackett-Luce law, and the k-hot
sets of the hard ``relaxed_top_k`` against the unordered set law (the sum over each set's
orderings), both enumerated in float64 by NumPy (designs.py), by chi-square. Tier 2: the
relaxed sample, whose law has no closed form, against a float64 NumPy reference drawn from the
recursion itself (designs.relaxed_top_k_from_noise, never gumbelkit), by two-sample KS of its
squared norm. Each test's sample size and the bias it detects are in designs.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.conformance import designs, stats

FLOATS = ["float32", "float64"]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(designs.TOP_K_LAWS))
def test_ordered_samples_follow_plackett_luce(subject, case, dtype, factor, seed, verdict):
    subject.require(dtype)
    logits, k, design = designs.TOP_K_LAWS[case]
    n = design.scaled(factor)
    index = gk.gumbel_top_k(subject.asarray(logits, dtype), k, sample_shape=n, rng=seed)
    counts = designs.ordered_tuple_counts(subject.to_numpy(index), len(logits))
    # A tuple with a masked class, a repeat or the invalid index has probability 0: one draw
    # of it gives p = 0.
    statistic, pvalue, df = stats.chisquare_gof(
        counts, designs.plackett_luce_law(logits, k).ravel()
    )
    verdict(f"gumbel_top_k ordered {k}-tuples vs Plackett-Luce ({case})", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_hard_relaxed_sets_follow_the_set_law(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.TOP_K_SET
    n = design.scaled(factor)
    logits = subject.asarray(designs.TOP_K_SET_LOGITS, dtype)
    y = gk.relaxed_top_k(logits, designs.TOP_K_SET_K, tau=0.5, hard=True, sample_shape=n,
                         rng=seed)
    # Anything but a 0/1 vector with k ones, or a set with the masked class, has probability 0.
    counts = designs.k_hot_counts(subject.to_numpy(y))
    law = designs.subset_law(designs.TOP_K_SET_LOGITS, designs.TOP_K_SET_K)
    statistic, pvalue, df = stats.chisquare_gof(counts, law)
    verdict("hard relaxed_top_k sets vs the Plackett-Luce set law", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("tau", designs.RELAXED_TOP_K_TAUS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_relaxed_sample_matches_the_reference(subject, dtype, tau, factor, seed, verdict):
    """The law of the squared norm equals that of the NumPy reference (no closed form)."""
    subject.require(dtype)
    design = designs.RELAXED_TOP_K[tau]
    n = design.scaled(factor)
    logits = subject.asarray(designs.RELAXED_TOP_K_LOGITS, dtype)
    y = subject.to_numpy(gk.relaxed_top_k(logits, designs.RELAXED_TOP_K_K, tau=tau,
                                          sample_shape=n, rng=seed))
    # Another stream than the subject's: a NumPy subject with the seed itself would draw the
    # very same noise.
    rng = np.random.default_rng(stats.stable_seed(seed, "reference"))
    noise = rng.gumbel(size=(designs.REFERENCE_RATIO * n, len(designs.RELAXED_TOP_K_LOGITS)))
    reference = designs.relaxed_top_k_from_noise(
        noise, designs.RELAXED_TOP_K_LOGITS, designs.RELAXED_TOP_K_K, tau
    )
    d, pvalue = stats.ks_2samp(designs.squared_norm(y), designs.squared_norm(reference))
    verdict(f"squared norm of relaxed top-{designs.RELAXED_TOP_K_K} at tau {tau:g} vs a NumPy "
            "reference", dtype=dtype, n=n, statistic=d, pvalue=pvalue,
            method="KS two-sample")
