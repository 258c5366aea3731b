"""Tier 1: ``gumbel_softmax`` draws the Concrete law (docs/mathematics.md#gumbel-softmax,
docs/mathematics.md#binary-concrete and docs/mathematics.md#exact-properties).

Exact laws: the argmax of a soft (or hard) sample is Categorical(softmax(logits)) at every
temperature (docs/mathematics.md#argmax-at-every-temperature); the binary Concrete CDF
(K = 2), also with one temperature per row; the logistic law of the pairwise log-ratios for
K > 2 (docs/mathematics.md#pairwise-log-ratios). Each test's sample size and the bias it
detects are in designs.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.conformance import designs, stats

FLOATS = ["float32", "float64"]


def _log(y: np.ndarray) -> np.ndarray:
    # A coordinate that underflowed to 0 gives -inf, a logit of +-inf and a CDF of 0 or 1:
    # the side it belongs to.
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(y, dtype=np.float64))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    ("tau", "hard"),
    [(0.1, False), (1.0, False), (10.0, False), (0.5, True)],
    ids=["tau0.1", "tau1", "tau10", "hard-tau0.5"],
)
def test_argmax_follows_softmax_at_every_temperature(
    subject, tau, hard, dtype, factor, seed, verdict
):
    subject.require(dtype)
    design = designs.SOFT_ARGMAX
    n = design.scaled(factor)
    logits = designs.SOFT_ARGMAX_LOGITS
    y = gk.gumbel_softmax(subject.asarray(logits, dtype), tau=tau, hard=hard,
                          sample_shape=n, rng=seed)
    counts = designs.category_counts(np.argmax(subject.to_numpy(y), axis=-1), len(logits))
    p = designs.with_impossible_cell(designs.softmax64(logits))
    statistic, pvalue, df = stats.chisquare_gof(counts, p)
    verdict(f"argmax of {'hard' if hard else 'soft'} samples at tau {tau} vs softmax",
            dtype=dtype, n=n, statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_concrete_follows_its_cdf(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.BINARY_CONCRETE
    n = design.scaled(factor)
    log_alpha, tau = designs.CONCRETE_LOG_ALPHA, designs.CONCRETE_TAU
    y = subject.to_numpy(gk.gumbel_softmax(subject.asarray([log_alpha, 0.0], dtype), tau=tau,
                                           sample_shape=n, rng=seed))
    logy = _log(y)
    # KS is invariant under y -> logit y; the logit from both coordinates stays exact.
    pit = designs.concrete_pit(logy[:, 0] - logy[:, 1], log_alpha, tau)
    statistic, pvalue = stats.ks_1samp(pit, designs.uniform_cdf)
    verdict(f"binary Concrete (log alpha {log_alpha}, tau {tau}) vs its CDF", dtype=dtype,
            n=n, statistic=statistic, pvalue=pvalue, method="KS")


@pytest.mark.parametrize("dtype", FLOATS)
def test_per_row_temperatures(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.ROW_TEMPERATURES
    log_alpha, tau = designs.ROW_LOG_ALPHA, designs.ROW_TAU
    draws = math.ceil(design.scaled(factor) / len(tau))
    logits = np.stack([log_alpha, np.zeros_like(log_alpha)], axis=-1)
    y = subject.to_numpy(gk.gumbel_softmax(
        subject.asarray(logits, dtype), tau=subject.asarray(tau, dtype),
        sample_shape=draws, rng=seed,
    ))
    logy = _log(y)
    # Each row through its own CDF: uniform under the null, pooled over rows.
    pit = designs.concrete_pit(logy[..., 0] - logy[..., 1], log_alpha, tau)
    statistic, pvalue = stats.ks_1samp(pit, designs.uniform_cdf)
    verdict(f"binary Concrete rows with tau {list(tau)} in one call", dtype=dtype,
            n=pit.size, statistic=statistic, pvalue=pvalue, method="KS of the pooled PIT")


@pytest.mark.parametrize("dtype", FLOATS)
def test_pairwise_log_ratios_are_logistic(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    design = designs.PAIRWISE_LOGISTIC
    logits, tau, pairs = designs.PAIR_LOGITS, designs.PAIR_TAU, designs.PAIRS
    draws = math.ceil(design.scaled(factor) / len(pairs))
    z = _log(subject.to_numpy(gk.gumbel_softmax(subject.asarray(logits, dtype), tau=tau,
                                                sample_shape=draws, rng=seed)))
    # Pairwise log-ratios: tau (Z_i - Z_j) - (theta_i - theta_j) = G_i - G_j ~ Logistic(0, 1);
    # disjoint pairs of one draw are independent.
    values = np.concatenate(
        [tau * (z[:, i] - z[:, j]) - (logits[i] - logits[j]) for i, j in pairs]
    )
    statistic, pvalue = stats.ks_1samp(values, stats.logistic_cdf)
    verdict(f"pairwise log-ratios {list(pairs)} (K = {len(logits)}, tau {tau}) vs logistic",
            dtype=dtype, n=values.size, statistic=statistic, pvalue=pvalue, method="KS")
