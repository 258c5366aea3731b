"""Tier 1: ``conditional_gumbel`` draws the noise conditioned on the argmax
(docs/mathematics.md#conditional-noise).

Exact laws: given ``argmax(theta + G) = i``, the losers' probability-integral transforms
``U_j = exp(-exp(-(X_j - theta_j)) + exp(-(X_i - theta_j)))`` are iid Uniform(0, 1), and the
winner's ``X_i - logsumexp(theta)`` is standard Gumbel; the argmax is ``i`` in every draw,
exactly, in the compute dtype. The laws are evaluated in float64 from the returned noise. Each
test's sample size and the bias it detects are in designs.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

import gumbelkit as gk
from gumbelkit.conformance import designs, stats


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conditional_noise_follows_the_exponential_race(subject, dtype, factor, seed, verdict):
    subject.require(dtype)
    rows = len(designs.CONDITIONAL_INDEX)
    losers = rows * (len(designs.CONDITIONAL_LOGITS) - 1)
    n_pit = designs.CONDITIONAL_PIT.scaled(factor)
    n_max = designs.CONDITIONAL_MAX.scaled(factor)
    draws = max(math.ceil(n_pit / losers), math.ceil(n_max / rows))
    logits = subject.asarray(np.stack([designs.CONDITIONAL_LOGITS] * rows), dtype)
    index = subject.asarray(designs.CONDITIONAL_INDEX, "int64")
    noise = subject.to_numpy(
        gk.conditional_gumbel(logits, index, sample_shape=draws, rng=seed)
    ).astype(np.float64)
    # The law is that of the logits as stored in dtype.
    theta = subject.to_numpy(logits).astype(np.float64)
    assert np.all(np.isfinite(noise))

    # The conditioning event holds exactly in the compute dtype (float32 or float64).
    chosen = np.argmax(theta.astype(dtype) + noise.astype(dtype), axis=-1)
    wrong = int(np.count_nonzero(chosen != designs.CONDITIONAL_INDEX))
    assert wrong == 0, f"{wrong} of {chosen.size} draws have their argmax elsewhere"

    winner = designs.CONDITIONAL_INDEX[:, None]
    top = np.take_along_axis(theta + noise, np.broadcast_to(winner, (draws, rows, 1)), -1)
    excess = top[..., 0] - special.logsumexp(theta[0])
    statistic, pvalue = stats.ks_1samp(excess.ravel()[:n_max], stats.gumbel_cdf)
    verdict("conditioned maximum minus logsumexp vs the Gumbel CDF", dtype=dtype, n=n_max,
            statistic=statistic, pvalue=pvalue, method="KS")

    # exp(-G_j) = E_j + exp(theta_j - X_i): the race time left after the winner's arrival.
    race = np.exp(-noise) - np.exp(theta - top)
    loses = np.arange(theta.shape[-1]) != winner
    pit = np.exp(-race[:, loses])
    statistic, pvalue = stats.ks_1samp(pit.ravel()[:n_pit], designs.uniform_cdf)
    verdict("losers' probability-integral transforms vs Uniform(0, 1)", dtype=dtype, n=n_pit,
            statistic=statistic, pvalue=pvalue, method="KS")
