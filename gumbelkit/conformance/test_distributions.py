"""Tier 1: the samplers of gumbelkit.distributions draw their exact laws
(docs/mathematics.md#binary-concrete, docs/mathematics.md#exact-properties and
docs/mathematics.md#hard-concrete).

Exact laws: the logit of a RelaxedBernoulli sample (and a LogitRelaxedBernoulli sample itself)
is Logistic(log_alpha / tau, 1 / tau); the Hard Concrete gate has atoms P(z = 0) = Q(0) and
P(z = 1) = 1 - Q(1), tested by exact binomial tests, and between them the conditional CDF
(Q(x) - P0) / (1 - P0 - P1), tested by KS; the ExpConcrete's pairwise log-ratios satisfy
tau (Z_i - Z_j) - (theta_i - theta_j) ~ Logistic(0, 1)
(docs/mathematics.md#pairwise-log-ratios). Each test's sample size and the bias it detects are
in designs.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gumbelkit.conformance import designs, stats
from gumbelkit.distributions import (
    ExpRelaxedOneHotCategorical,
    HardConcrete,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
)

FLOATS = ["float32", "float64"]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("space", ["sigmoid", "logit"])
def test_binary_concrete_logit_is_logistic(subject, space, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.RELAXED_BERNOULLI_LOGIT
    n = design.scaled(factor)
    cls = RelaxedBernoulli if space == "sigmoid" else LogitRelaxedBernoulli
    d = cls(subject.asarray(designs.RELAXED_BERNOULLI_LOG_ALPHA, dtype),
            designs.RELAXED_BERNOULLI_TAU)
    values = subject.to_numpy(d.sample(n, rng=seed)).astype(np.float64)
    if space == "sigmoid":
        # logit Y in float64; a Y that rounded to 0 or 1 gives -inf or +inf, its side.
        with np.errstate(divide="ignore"):
            values = np.log(values) - np.log1p(-values)
    statistic, pvalue = stats.ks_1samp(values, designs.relaxed_bernoulli_logit_cdf())
    verdict(f"logit of {cls.__name__}.sample (log alpha {designs.RELAXED_BERNOULLI_LOG_ALPHA}, "
            f"tau {designs.RELAXED_BERNOULLI_TAU}) vs Logistic", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method="KS")


@pytest.mark.parametrize("dtype", FLOATS)
def test_hard_concrete_atoms_and_interior(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    zero, one, interior = (designs.HARD_CONCRETE_ZERO, designs.HARD_CONCRETE_ONE,
                           designs.HARD_CONCRETE_INTERIOR)
    n_zero, n_one, n_interior = (d.scaled(factor) for d in (zero, one, interior))
    p_interior = designs.HARD_CONCRETE_INTERIOR_PROBABILITY
    # Enough draws for every assertion; fewer than n_interior gates strictly inside (0, 1)
    # has probability below 1e-15.
    draws = max(n_zero, n_one, math.ceil((n_interior + 8 * math.sqrt(n_interior)) / p_interior))
    gate = HardConcrete(subject.asarray(designs.HARD_CONCRETE_LOG_ALPHA, dtype))
    z = subject.to_numpy(gate.sample(draws, rng=seed)).astype(np.float64)
    assert np.all((z >= 0) & (z <= 1)), "gates outside [0, 1]"
    p0, p1 = designs.hard_concrete_atoms(designs.HARD_CONCRETE_LOG_ALPHA)
    for atom, p, n, design in ((0.0, p0, n_zero, zero), (1.0, p1, n_one, one)):
        hits = int(np.count_nonzero(z[:n] == atom))
        verdict(f"Hard Concrete P(z = {atom:g}) = {p:.4f} (log alpha "
                f"{designs.HARD_CONCRETE_LOG_ALPHA}, design {design.name})", dtype=dtype, n=n,
                statistic=hits, pvalue=stats.binomial_pvalue(hits, n, p),
                method="exact binomial")
    inside = z[(z > 0) & (z < 1)]
    assert inside.size >= n_interior, f"only {inside.size} interior gates in {draws} draws"
    statistic, pvalue = stats.ks_1samp(
        inside[:n_interior], designs.hard_concrete_interior_cdf(designs.HARD_CONCRETE_LOG_ALPHA)
    )
    verdict("Hard Concrete gates in (0, 1) vs (Q(x) - P0) / (1 - P0 - P1)", dtype=dtype,
            n=n_interior, statistic=statistic, pvalue=pvalue, method="KS")


@pytest.mark.parametrize("dtype", FLOATS)
def test_exp_concrete_pairwise_log_ratios_are_logistic(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.PAIRWISE_LOGISTIC
    logits, tau, pairs = designs.PAIR_LOGITS, designs.PAIR_TAU, designs.PAIRS
    draws = math.ceil(design.scaled(factor) / len(pairs))
    d = ExpRelaxedOneHotCategorical(subject.asarray(logits, dtype), tau)
    z = subject.to_numpy(d.sample(draws, rng=seed)).astype(np.float64)
    # The pairwise log-ratios' law on the log-space sample itself; disjoint pairs of one draw
    # are independent.
    values = np.concatenate(
        [tau * (z[:, i] - z[:, j]) - (logits[i] - logits[j]) for i, j in pairs]
    )
    statistic, pvalue = stats.ks_1samp(values, stats.logistic_cdf)
    verdict(f"ExpConcrete pairwise log-ratios {list(pairs)} (K = {len(logits)}, tau {tau}) vs "
            "logistic", dtype=dtype, n=values.size, statistic=statistic, pvalue=pvalue,
            method="KS")
