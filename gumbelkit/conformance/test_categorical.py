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
from gumbelkit.backends import resolve
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
    logits = subject.asarray(np.stack([designs.INDEPENDENCE_LOGITS] * 2), dtype)
    index = draw(subject, logits, method, sample_shape=(2 * n, 2), rng=seed).astype(np.int64)
    for what, statistic, pvalue, df in designs.independence_tests(index):
        verdict(f"categorical ({method}): joint law of {what} vs pi x pi", dtype=dtype, n=n,
                statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


# Deterministic: not a multiple of common block sizes, so a defect in one row of a thousand,
# or in a partial last block, is seen.
MEMBER_ROWS = 4_099


def test_table_members_keep_the_contract(subject):
    # The members the table methods are built on, against NumPy's definitions on thousands of
    # rows: uniform_index stays in range (drawn in the namespace's own dtypes, as the tables
    # draw it); inside float64_scope, where the tables are built, the running sum is exact in
    # 64-bit integers, search_rows counts each row's entries below each value (a value equal
    # to an entry comes before it, as np.searchsorted), and merge_rows places two sorted runs
    # in their merge (the first run first among equal entries).
    backend = resolve(subject.adapter)
    index, _ = backend.uniform_index(backend.make_rng(0, None), (MEMBER_ROWS, 5), 37, None)
    drawn = subject.to_numpy(index)
    assert drawn.shape == (MEMBER_ROWS, 5)
    assert np.issubdtype(drawn.dtype, np.integer)
    assert drawn.min() >= 0
    assert drawn.max() <= 36
    assert len(np.unique(drawn)) == 37

    rng = np.random.default_rng(4099)
    steps = rng.integers(0, 2**56, size=(MEMBER_ROWS, 33))  # sums up to 2**61: no float holds them
    steps[:, ::5] = 0  # zero steps: equal neighbouring entries
    table = np.cumsum(steps, axis=1)
    # Values at the entries themselves (ties), between them, and beyond both ends.
    picks = np.take_along_axis(table, rng.integers(0, 33, size=(MEMBER_ROWS, 4)), axis=1)
    values = np.concatenate([picks, picks + 1, rng.integers(-5, table[:, -1:] + 5,
                                                            size=(MEMBER_ROWS, 3))], axis=1)
    expected = np.stack([np.searchsorted(row, row_values)
                         for row, row_values in zip(table, values, strict=True)])
    with backend.float64_scope():
        if not backend.float64_available(None):  # the default device, as above
            pytest.skip(f"{subject.name} has no 64-bit arrays here: the tables need them")
        running = backend.running_sum(subject.asarray(steps, "int64"))
        np.testing.assert_array_equal(subject.to_numpy(running), table)
        found = backend.search_rows(subject.asarray(table, "int64"),
                                    subject.asarray(values, "int64"))
        mismatched = np.flatnonzero((subject.to_numpy(found) != expected).any(axis=1))
        assert mismatched.size == 0, f"search_rows is wrong in rows {mismatched[:10].tolist()}"
        runs = np.sort(values, axis=1)
        before_first, before_second = backend.merge_rows(subject.asarray(runs, "int64"),
                                                         subject.asarray(table, "int64"))
        expected_first = np.stack([np.searchsorted(row, run)
                                   for row, run in zip(table, runs, strict=True)])
        expected_second = np.stack([np.searchsorted(run, row, side="right")
                                    for row, run in zip(table, runs, strict=True)])
        mismatched = np.flatnonzero(
            (subject.to_numpy(before_first) != expected_first).any(axis=1)
            | (subject.to_numpy(before_second) != expected_second).any(axis=1))
    assert mismatched.size == 0, f"merge_rows is wrong in rows {mismatched[:10].tolist()}"
