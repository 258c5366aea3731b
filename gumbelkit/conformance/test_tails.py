"""Tier 0, exact: the noise's upper tail, from its construction with the backend's arithmetic.

docs/mathematics.md#the-upper-tail-and-rare-classes: ``P(G > t)`` of the noise a backend
draws equals the Gumbel law to a relative 1e-3 for every ``t`` up to 60, and a class ``d`` nats
below the row maximum is drawn at its true rate. No sampling: :mod:`gumbelkit.conformance.tails`
sums the atoms of the construction on the backend's own uniform grid. The same computation for
the textbook noise ``-log(-log U)`` fails both checks, which is what the test is for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit import _core, _noise
from gumbelkit.backends import Backend, resolve
from gumbelkit.conformance import designs, stats, tails
from gumbelkit.conformance.subjects import Subject

# The guarantee: relative error of P(G > t) and of a rare class's rate.
TOLERANCE = 1e-3
THRESHOLDS = np.linspace(-3.0, 60.0, 631)
# The grid's bits the construction's bound needs: 23 or more in float32, 52 or more in float64.
MIN_GRID_BITS = {"float32": 23, "float64": 52}
# The classes' distances below the maximum checked per dtype: inside the textbook noise's
# cliff, at its end, and far beyond it. The bins of G_0 bound the rate to about their width.
DISTANCES = {"float32": (14.0, 18.0, 40.0), "float64": (40.0,)}
BIN_WIDTH = {"float32": 5e-4, "float64": 5e-4}

def _construction(subject: Subject, dtype: str) -> tuple[Backend, Any, int, int, int]:
    subject.require(dtype)
    backend = resolve(subject.adapter)
    native = subject.dtype(dtype)
    m = tails.grid_bits(backend, native)
    assert m >= MIN_GRID_BITS[dtype], (
        f"{subject.name}'s {dtype} uniforms lie on a grid of 2**-{m}; the exact tail needs "
        f"2**-{MIN_GRID_BITS[dtype]} or finer"
    )
    s, depth = _noise.tail_constants(native, subject.xp)
    return backend, native, m, s, depth


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_upper_tail_is_exact_up_to_60(subject: Subject, dtype: str) -> None:
    backend, native, m, s, depth = _construction(subject, dtype)
    law = tails.tail_probability(backend, native, THRESHOLDS, m=m, s=s, depth=depth)
    error = np.abs(law / tails.true_tail(THRESHOLDS) - 1.0)
    worst = int(np.argmax(error))
    assert error[worst] <= TOLERANCE, (
        f"P(G > {THRESHOLDS[worst]:.2f}) is off by a relative {error[worst]:.3g}"
    )
    # The check sees the textbook noise: on the same grid it misses the tail beyond m log 2.
    textbook = tails.tail_probability(backend, native, THRESHOLDS, m=m, s=s, depth=0)
    assert np.max(np.abs(textbook / tails.true_tail(THRESHOLDS) - 1.0)) > 0.5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rare_classes_are_drawn_at_their_true_rate(subject: Subject, dtype: str) -> None:
    # Two classes d nats apart: the rarer one wins with probability 1 / (1 + e**d).
    backend, native, m, s, depth = _construction(subject, dtype)
    for d in DISTANCES[dtype]:
        low, high = tails.fraction_of_true_rate(backend, native, d, m=m, s=s, depth=depth,
                                                bin_width=BIN_WIDTH[dtype])
        assert 1.0 - TOLERANCE <= low <= high <= 1.0 + TOLERANCE, (d, low, high)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_members_keep_the_contract(subject: Subject, dtype: str) -> None:
    # The backend's members the noise is built with must give the core's values: the body's
    # transform, the sliver's positions, the merge of the redrawn tail, logits + noise, and the
    # fused body and sliver.
    subject.require(dtype)
    backend = resolve(subject.adapter)
    native = subject.dtype(dtype)
    xp = subject.xp
    u, _ = backend.uniform(backend.make_rng(0, None), (64, 64), native, None)
    reference = subject.to_numpy(_core.gumbel_from_uniform(u, xp))
    noise = backend.gumbel_(xp.asarray(u, copy=True))
    np.testing.assert_array_equal(subject.to_numpy(noise), reference)
    mask = u >= 0.99
    count = int(xp.count_nonzero(mask))
    # About 41 of 4,096 uniforms; none has probability 0.99**4096 = 1.3e-18.
    assert count > 0, ("uniform drew no value at or above 0.99 in 4,096 draws (about 41 "
                       "expected): its values do not cover (0, 1)")
    values = subject.asarray(np.linspace(100.0, 200.0, count), dtype)
    merged = backend.scatter_masked_(xp.asarray(noise, copy=True), mask, values)
    np.testing.assert_array_equal(subject.to_numpy(merged),
                                  subject.to_numpy(_core.replace_where(noise, mask, values, xp)))
    # Eagerly the sliver is found as positions and written by them: the same entries, the same
    # values as the mask and its merge.
    positions = backend.positions_at_least(u, 0.99)
    if positions is not None:
        np.testing.assert_array_equal(subject.to_numpy(positions),
                                      np.flatnonzero(subject.to_numpy(u) >= 0.99))
        put = backend.put_(xp.asarray(noise, copy=True), positions, values)
        np.testing.assert_array_equal(subject.to_numpy(put), subject.to_numpy(merged))
    logits = subject.asarray(np.linspace(-3.0, 3.0, 64), dtype)
    np.testing.assert_array_equal(subject.to_numpy(backend.add_(xp.asarray(noise, copy=True),
                                                                logits)),
                                  subject.to_numpy(noise + logits))
    # The fused body and sliver, where the backend has them: the uniforms' transform and their
    # positions at or above the threshold, and the source advanced as uniform advances it. The
    # shape (an odd count above 2**20) is large enough for a fused path to run in pieces.
    shape = (5, 2**18 + 5)
    fused = backend.gumbel_and_sliver(backend.make_rng(1, None), shape, native, None, 0.999)
    if fused is not None:
        body, positions, after = fused
        u, composed_after = backend.uniform(backend.make_rng(1, None), shape, native, None)
        np.testing.assert_array_equal(subject.to_numpy(positions),
                                      np.flatnonzero(subject.to_numpy(u) >= 0.999))
        np.testing.assert_array_equal(subject.to_numpy(body),
                                      subject.to_numpy(_core.gumbel_from_uniform(u, xp)))
        next_draw = backend.uniform(after, (5,), native, None)[0]
        np.testing.assert_array_equal(
            subject.to_numpy(next_draw),
            subject.to_numpy(backend.uniform(composed_after, (5,), native, None)[0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniforms_fill_the_top_sliver(
    subject: Subject, dtype: str, factor: int, seed: int, verdict: Any
) -> None:
    # The exact tail's bound assumes uniforms whose top sliver is uniform down to its grid:
    # the backend's own uniforms with V = 1 - U <= 2**-8, in dyadic cells of V.
    subject.require(dtype)
    backend = resolve(subject.adapter)
    n = designs.SLIVER_CELLS.scaled(factor)
    draws = n * 2**designs.SLIVER_BITS * 5 // 4  # about 1.25 n in the sliver
    u, _ = backend.uniform(backend.make_rng(seed, None), (draws,), subject.dtype(dtype), None)
    v = 1.0 - subject.to_numpy(u).astype(np.float64)  # exact
    v = v[v <= 2.0**-designs.SLIVER_BITS]
    statistic, pvalue, df = stats.chisquare_gof(designs.sliver_cells(v),
                                                designs.SLIVER_PROBABILITIES)
    verdict("uniforms' top sliver in dyadic cells", dtype=dtype, n=v.size, statistic=statistic,
            pvalue=pvalue, method=f"chi-square, df {df}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_upper_quantiles(
    subject: Subject, dtype: str, factor: int, seed: int, verdict: Any
) -> None:
    # Sampled, so that it sees the noise the samplers draw whatever its construction: counts in
    # cells at the Gumbel law's upper quantiles P(G > t) = 1e-1 .. 1e-5.
    subject.require(dtype)
    n = designs.UPPER_QUANTILE_CELLS.scaled(factor)
    noise = gk.gumbel(n, dtype=subject.dtype(dtype), rng=seed, xp=subject.xp)
    counts = designs.cell_counts(subject.to_numpy(noise), designs.UPPER_QUANTILE_EDGES)
    statistic, pvalue, df = stats.chisquare_gof(counts, designs.UPPER_QUANTILE_PROBABILITIES)
    verdict("noise in cells at the upper quantiles 1e-1 .. 1e-5", dtype=dtype, n=n,
            statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


# Resolution: n noise values drawn from uniforms on a grid of N = 2**m equally likely points
# take D distinct values, E[D] = N (1 - (1 - 1/N)**n), with a standard deviation of a few
# hundred at n = 2**20. The bound is E[D] for the coarsest grid the exact tail allows
# (MIN_GRID_BITS) less ten standard deviations and an allowance for the transform: about 200 of
# 2**20 float32 noise values coincide in the last place although their uniforms differ.
RESOLUTION_DRAWS = 2**20
TRANSFORM_COLLISIONS = {"float32": 1_000, "float64": 10}


def _distinct_bound(dtype: str) -> float:
    points, n = 2.0 ** MIN_GRID_BITS[dtype], RESOLUTION_DRAWS
    missed = (1.0 - 1.0 / points) ** n
    expected = points * (1.0 - missed)
    variance = points * missed * (1.0 - missed) + points * (points - 1.0) * (
        (1.0 - 2.0 / points) ** n - missed**2)
    return expected - 10.0 * math.sqrt(variance) - TRANSFORM_COLLISIONS[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_takes_as_many_distinct_values_as_its_grid_gives(
    subject: Subject, dtype: str, seed: int
) -> None:
    # Uniforms on the right grid can still carry few random bits (a generator whose low bits
    # are constant, noise rounded through a narrower dtype): count the distinct noise values.
    subject.require(dtype)
    noise = gk.gumbel(RESOLUTION_DRAWS, dtype=subject.dtype(dtype), rng=seed, xp=subject.xp)
    distinct = np.unique(subject.to_numpy(noise)).size
    bound = _distinct_bound(dtype)
    assert distinct >= bound, (
        f"{RESOLUTION_DRAWS:,} {dtype} noise values take {distinct:,} distinct values; uniforms "
        f"on a grid of 2**-{MIN_GRID_BITS[dtype]} give at least {bound:,.0f}"
    )
