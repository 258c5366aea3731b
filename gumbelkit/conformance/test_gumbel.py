"""Tier 1: ``gumbel`` draws standard Gumbel noise (docs/mathematics.md#the-noise-law).

It is rounded once in half precision (docs/mathematics.md#half-precision-outputs), and iid
within a row: the maximum of logits + noise follows its law (docs/mathematics.md#the-maximum).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import gumbelkit as gk
from gumbelkit.conformance import designs, stats


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_follows_the_gumbel_cdf(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    n = designs.NOISE.scaled(factor)
    noise = gk.gumbel(n, dtype=subject.dtype(dtype), rng=seed, xp=subject.xp)
    statistic, pvalue = stats.ks_1samp(subject.to_numpy(noise), stats.gumbel_cdf)
    verdict("Gumbel noise vs the Gumbel CDF", dtype=dtype, n=n, statistic=statistic,
            pvalue=pvalue, method="KS")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_noise_is_the_rounded_law(subject, dtype, factor, seed, verdict):
    # docs/mathematics.md#half-precision-outputs: float32 noise rounded once to the half dtype.
    # Cells end at rounding
    # boundaries, so each has the exact probability of the continuous law.
    subject.require(dtype)
    edges, design = designs.ROUNDED_NOISE[dtype]
    n = design.scaled(factor)
    noise = gk.gumbel(n, dtype=subject.dtype(dtype), rng=seed, xp=subject.xp)
    counts = designs.cell_counts(subject.to_numpy(noise), edges)
    statistic, pvalue, df = stats.chisquare_gof(
        counts, designs.cell_probabilities(stats.gumbel_cdf, edges)
    )
    verdict(f"{dtype} Gumbel noise vs the rounded Gumbel law", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_minus_logsumexp_is_gumbel_and_independent_of_argmax(
    subject, dtype, factor, seed, verdict
):
    # The maximum (docs/mathematics.md#the-maximum) on logits + gumbel noise:
    # M - LSE(logits) ~ Gumbel(0, 1), independent of the argmax.
    # It needs iid noise within each row, which the marginal KS of the noise does not see.
    subject.require(dtype)
    logits = designs.MAX_LOGITS
    n_gumbel = designs.MAX_GUMBEL.scaled(factor)
    n_joint = designs.MAX_INDEPENDENT.scaled(factor)
    noise = gk.gumbel((max(n_gumbel, n_joint), len(logits)), dtype=subject.dtype(dtype),
                      rng=seed, xp=subject.xp)
    z = logits + subject.to_numpy(noise).astype(np.float64)
    excess = np.max(z, axis=1) - special.logsumexp(logits)
    winner = np.argmax(z, axis=1)

    statistic, pvalue = stats.ks_1samp(excess[:n_gumbel], stats.gumbel_cdf)
    verdict("max(logits + G) - logsumexp(logits) vs the Gumbel CDF", dtype=dtype, n=n_gumbel,
            statistic=statistic, pvalue=pvalue, method="KS")

    edges = designs.gumbel_edges(designs.MAX_ARGMAX_BINS)
    cells = len(edges) + 1
    joint = winner[:n_joint] * cells + np.searchsorted(edges, excess[:n_joint])
    p = np.outer(designs.softmax64(logits), designs.cell_probabilities(stats.gumbel_cdf, edges))
    statistic, pvalue, df = stats.chisquare_gof(np.bincount(joint, minlength=p.size), p.ravel())
    verdict("joint law of the argmax and M - LSE vs the product of the exact marginals",
            dtype=dtype, n=n_joint, statistic=statistic, pvalue=pvalue,
            method=f"chi-square, df {df}")
