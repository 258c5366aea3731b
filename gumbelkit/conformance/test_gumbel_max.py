"""Tier 1: ``gumbel_max`` draws Categorical(softmax(logits)) (docs/mathematics.md#gumbel-max).

Exact laws: class frequencies against softmax for several K, masked classes never drawn, a
rare class at its rate with half-precision logits, and the joint law of pairs of draws
(independence of sample_shape draws and of rows). Each test's sample size and the bias it
detects are in designs.py.
"""

from __future__ import annotations

from typing import Any

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
    logits = np.stack([designs.INDEPENDENCE_LOGITS] * 2)
    index = subject.to_numpy(
        gk.gumbel_max(subject.asarray(logits, dtype), sample_shape=(2 * n, 2), rng=seed)
    ).astype(np.int64)
    for what, statistic, pvalue, df in designs.independence_tests(index):
        verdict(f"joint law of {what} vs pi x pi", dtype=dtype, n=n, statistic=statistic,
                pvalue=pvalue, method=f"chi-square, df {df}")


# Draws per call of the rare-mass test: 512 x 65,537 float32 noise values (134 MB) at a time.
RARE_CHUNK = 512


def test_rare_classes_18_nats_down_at_their_rate(subject, factor, seed, verdict):
    # One class at 0 and 65,536 at -18, which hold 1e-3 of the mass together. Textbook float32
    # noise draws them at 8% of that rate; the exact tail at their rate (computed exactly, for
    # every backend, in test_tails.py). Each draw takes noise for all 65,537 classes, so the
    # design's 47,187 draws take 3.1e9 noise values (NumPy: 6 s; eager JAX: 3 minutes): it runs
    # with --thorough, at its design's size. Each call takes its own seed.
    if factor < 10:
        pytest.skip(_thorough_only(designs.GUMBEL_MAX_RARE))
    _rare_mass(subject, designs.GUMBEL_MAX_RARE, designs.CATEGORICAL_RARE_GAP, seed, verdict)


def test_rare_classes_19_nats_down_at_their_rate(subject, factor, seed, verdict):
    # The same row 19 nats down (3.7e-4 of the mass), where textbook float32 noise draws the
    # rare classes at 2.6e-4 of their rate: 71,875 draws, 4.7e9 noise values (NumPy: 9 s).
    if factor < 10:
        pytest.skip(_thorough_only(designs.GUMBEL_MAX_RARER))
    _rare_mass(subject, designs.GUMBEL_MAX_RARER, designs.GUMBEL_MAX_RARER_GAP, seed, verdict)


def _thorough_only(design: stats.Design) -> str:
    """The skip reason of a rare-mass design outside --thorough: what it would draw."""
    classes = designs.CATEGORICAL_RARE_CLASSES + 1
    return (f"draws {design.n * classes:.1e} noise values ({design.n:,} draws of {classes:,} "
            "classes): runs with --thorough")


def _rare_mass(subject: Any, design: stats.Design, gap: float, seed: int,
               verdict: Any) -> None:
    """Draw ``design.n`` times from the rare-classes row ``gap`` nats down; test the rare mass."""
    subject.require("float32")
    n = design.n
    logits = subject.asarray(designs.categorical_rare_logits(gap), "float32")
    p = designs.softmax64(subject.to_numpy(logits).astype(np.float64))
    rare = 0
    for call, start in enumerate(range(0, n, RARE_CHUNK)):
        size = min(RARE_CHUNK, n - start)
        call_seed = (seed + call * 0x9E3779B97F4A7C15) % 2**63  # distinct per call
        index = subject.to_numpy(gk.gumbel_max(logits, sample_shape=size, rng=call_seed))
        assert int(np.count_nonzero(index > len(p) - 1)) == 0, "an index that is not a class"
        rare += int(np.count_nonzero(index != 0))
    mass = float(1.0 - p[0])
    pvalue = stats.binomial_pvalue(rare, n, mass)
    verdict(f"gumbel_max: {designs.CATEGORICAL_RARE_CLASSES:,} classes {gap:g} nats down",
            dtype="float32", n=n, statistic=rare / (n * mass), pvalue=pvalue,
            method="exact binomial (statistic: observed / expected)")
