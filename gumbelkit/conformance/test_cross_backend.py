"""Tier 2: two-sample tests where the law has no closed form (docs/mathematics.md#exact-references,
docs/mathematics.md#two-sample-tests).

The marginal of one coordinate of a K = 3 Concrete sample, and its entropy, have no closed
form. The subject's sample is compared with a reference that NumPy draws in float64 straight
from the formula ``softmax((logits + G) / tau)`` (designs.concrete_reference, never
gumbelkit), with REFERENCE_RATIO times as many draws, by two-sample KS at alpha 1e-6.
Everything with an exact law is tested one-sample instead (Tier 1), which is more powerful and
catches a bug that the reference shares.

Half precision is left out: its samples lie on a coarse grid, and KS against a continuous
reference would reject for the rounding alone (docs/mathematics.md#half-precision-outputs).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.conformance import designs, stats
from gumbelkit.conformance.subjects import Subject

STATISTICS = {"coordinate": designs.first_coordinate, "entropy": designs.entropy}


def _two_sample(subject: Subject, statistic: str, dtype: str, tau: float, factor: int,
                seed: int, verdict: Callable[..., None]) -> None:
    subject.require(dtype)
    design = designs.CONCRETE_K3[statistic, tau]
    n = design.scaled(factor)
    logits = subject.asarray(designs.CONCRETE_K3_LOGITS, dtype)
    y = subject.to_numpy(gk.gumbel_softmax(logits, tau=tau, sample_shape=(n,), rng=seed))
    # Another stream than the subject's: a NumPy subject with the seed itself would draw the
    # very same noise.
    rng = np.random.default_rng(stats.stable_seed(seed, "reference"))
    reference = designs.concrete_reference(
        rng, designs.REFERENCE_RATIO * n, designs.CONCRETE_K3_LOGITS, tau
    )
    compute = STATISTICS[statistic]
    d, pvalue = stats.ks_2samp(compute(y), compute(reference))
    verdict(f"{statistic} of a K = 3 Concrete sample at tau {tau:g} vs a NumPy reference",
            dtype=dtype, n=n, statistic=d, pvalue=pvalue, method="KS two-sample")


@pytest.mark.parametrize("tau", designs.CONCRETE_K3_TAUS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concrete_coordinate_matches_the_reference(subject, dtype, tau, factor, seed, verdict):
    """The marginal law of ``y_0`` equals that of the reference (no closed form for K > 2)."""
    _two_sample(subject, "coordinate", dtype, tau, factor, seed, verdict)


@pytest.mark.parametrize("tau", designs.CONCRETE_K3_TAUS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concrete_entropy_matches_the_reference(subject, dtype, tau, factor, seed, verdict):
    """The law of the entropy ``-sum y log y`` equals that of the reference."""
    _two_sample(subject, "entropy", dtype, tau, factor, seed, verdict)
