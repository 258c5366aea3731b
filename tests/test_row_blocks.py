"""Large NumPy calls by row blocks on threads (gumbelkit/_row_blocks.py, docs/api.md).

The expected values are independent of the blocking: the block layouts are written out by hand,
and each block's reference is the unblocked sampler (or, for float64 noise, NumPy's own
``-log(-log(u))``) on the block's rows with the child that ``numpy.random.SeedSequence.spawn``
makes for it. The agreement tests (1, 2 or 3 threads, blocked or not with the same ``noise``)
compare gumbelkit with itself by design: thread-count invariance is the property under test.

Most tests shrink the thresholds (``BLOCK_VALUES``, ``MIN_BLOCKED_VALUES``) so that small arrays
are blocked; a few use the shipped ones.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit import _row_blocks
from gumbelkit._prepared import Prepared

SEED = 11
TINY64 = np.finfo(np.float64).smallest_normal


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    yield
    gk.set_num_threads(None)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block from 256 values on, in at least 2 blocks of at most about 64 values."""
    monkeypatch.setattr(_row_blocks, "BLOCK_VALUES", 64)
    monkeypatch.setattr(_row_blocks, "MIN_BLOCKS", 2)
    monkeypatch.setattr(_row_blocks, "MIN_BLOCKED_VALUES", 256)


def unblocked(fn: Callable[[], Any]) -> Any:
    """Return ``fn()`` with blocking off (a threshold no call reaches)."""
    saved = _row_blocks.MIN_BLOCKED_VALUES
    _row_blocks.MIN_BLOCKED_VALUES = 2**62
    try:
        return fn()
    finally:
        _row_blocks.MIN_BLOCKED_VALUES = saved


def on_threads(fn: Callable[[], Any], counts: tuple[int, ...] = (1, 2, 3)) -> list[Any]:
    """Return ``fn()`` computed with each thread count."""
    results = []
    for count in counts:
        gk.set_num_threads(count)
        results.append(fn())
    return results


def assert_identical(results: list[Any]) -> None:
    for other in results[1:]:
        assert other.dtype == results[0].dtype
        np.testing.assert_array_equal(other, results[0])


def children(seed: int, count: int) -> list[np.random.Generator]:
    """The generators of ``count`` blocks, spawned by hand from ``SeedSequence(seed)``."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def logits_of(shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# --- the layout -------------------------------------------------------------------------------


def test_layout_is_a_function_of_the_shape_with_the_shipped_sizes():
    assert _row_blocks.BLOCK_VALUES == 2**20
    assert _row_blocks.MIN_BLOCKS == 8
    assert _row_blocks.MIN_BLOCKED_VALUES == 2**20
    assert _row_blocks.MAX_BLOCKS == 2**16
    # 8192 rows of 1024: 8 blocks of 1024 rows (2**20 values).
    assert _row_blocks.block_layout((8192, 1024), 1) == (0, 1024, 8)
    # 2**24 values: one block per 2**20.
    assert _row_blocks.block_layout((16384, 1024), 1) == (0, 1024, 16)
    # 8 rows: a row per block; 6 rows: 6 blocks.
    assert _row_blocks.block_layout((8, 152064), 1) == (0, 1, 8)
    assert _row_blocks.block_layout((6, 200000), 1) == (0, 1, 6)
    # As even as whole rows allow: 9 rows of 2**17 values in 5 blocks of 2 and one.
    assert _row_blocks.block_layout((9, 2**17), 1) == (0, 2, 5)
    # The largest dimension but the class axis: the samples here, then the rows.
    assert _row_blocks.block_layout((3000, 4, 100), 2) == (0, 375, 8)
    assert _row_blocks.block_layout((2, 4096, 1024), 2) == (1, 512, 8)
    # Classes first: the rows, on the last axis, are split.
    assert _row_blocks.block_layout((1024, 8192), 0) == (1, 1024, 8)
    # 2**36 values: 2**16 blocks of 2**20; beyond, at most 2**16 blocks, which grow.
    assert _row_blocks.block_layout((2**34, 4), 1) == (0, 2**18, 2**16)
    assert _row_blocks.block_layout((2**40, 4), 1) == (0, 2**24, 2**16)
    # Without a class axis, a 1-d shape is split too.
    assert _row_blocks.block_layout((2**21,), None) == (0, 2**18, 8)
    # Too small, no row to split, or one block in all.
    assert _row_blocks.block_layout((1023, 1024), 1) is None
    assert _row_blocks.block_layout((2**21,), 0) is None
    assert _row_blocks.block_layout((1, 2**21), 1) is None


def test_small_calls_keep_the_generators_own_stream():
    # Below the threshold the call is today's: float64 noise is -log(-log(u)) of the caller's
    # generator's uniforms (no draw near 1 - 2**-40 in 1000 values to refine).
    u = np.maximum(np.random.default_rng(SEED).random((20, 50)), TINY64)
    expected = -np.log(-np.log(u))
    np.testing.assert_array_equal(gk.gumbel((20, 50), dtype=np.float64, rng=SEED), expected)


# --- blocked values against per-block references -----------------------------------------------


@pytest.mark.usefixtures("small_blocks")
def test_noise_blocks_are_the_spawned_streams_uniforms():
    # (40, 7): 280 values, ceil(280 / 64) = 5 blocks of 8 rows.
    spans = [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]
    streams = children(SEED, len(spans))
    expected = np.concatenate([
        -np.log(-np.log(np.maximum(g.random((stop - start, 7)), TINY64)))
        for g, (start, stop) in zip(streams, spans, strict=True)
    ])
    results = on_threads(lambda: gk.gumbel((40, 7), dtype=np.float64, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    # loc and scale apply per block.
    shifted = gk.gumbel((40, 7), loc=1.5, scale=2.0, dtype=np.float64, rng=SEED)
    np.testing.assert_allclose(shifted, 1.5 + 2.0 * expected, rtol=1e-15)


@pytest.mark.usefixtures("small_blocks")
def test_noise_is_blocked_as_the_samples_of_logits_of_its_shape():
    # The last axis plays the class axis: a 1-d draw is one block, and the noise of a shape is
    # the noise the samplers draw for logits of that shape, block for block.
    u = np.maximum(np.random.default_rng(SEED).random(300), TINY64)
    np.testing.assert_array_equal(gk.gumbel(300, dtype=np.float64, rng=SEED), -np.log(-np.log(u)))
    logits = logits_of((40, 9))
    noise = gk.gumbel((40, 9), dtype=np.float32, rng=SEED)
    np.testing.assert_array_equal(
        gk.gumbel_max(logits, rng=SEED), np.argmax(logits + noise, axis=-1)
    )
    noise = gk.gumbel((5, 40, 9), dtype=np.float32, rng=SEED)
    np.testing.assert_array_equal(
        gk.gumbel_max(logits, sample_shape=5, rng=SEED), np.argmax(logits + noise, axis=-1)
    )


SAMPLERS: dict[str, Callable[..., Any]] = {
    "soft": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, **kw),
    "hard": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, hard=True, **kw),
    "max": lambda x, **kw: gk.gumbel_max(x, **kw),
    "max keepdims": lambda x, **kw: gk.gumbel_max(x, keepdims=True, **kw),
    "top-k": lambda x, **kw: gk.gumbel_top_k(x, 3, **kw),
    "relaxed top-k": lambda x, **kw: gk.relaxed_top_k(x, 3, tau=0.7, **kw),
    "relaxed top-k hard": lambda x, **kw: gk.relaxed_top_k(x, 3, tau=0.7, hard=True, **kw),
    "conditional": lambda x, **kw: gk.conditional_gumbel(x, 2, **kw),
}


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_row_blocks_are_the_unblocked_sampler_on_each_blocks_rows(name):
    sampler = SAMPLERS[name]
    logits = logits_of((40, 9))
    # 360 values: ceil(360 / 64) = 6 blocks, of 7 rows (the last of 5).
    spans = [(start, min(start + 7, 40)) for start in range(0, 40, 7)]
    streams = children(SEED, len(spans))
    expected = np.concatenate([
        unblocked(lambda g=g, s=s: sampler(logits[s[0]:s[1]], rng=g))
        for g, s in zip(streams, spans, strict=True)
    ])
    results = on_threads(lambda: sampler(logits, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_class_axis_first_splits_the_rows_behind_it(name):
    sampler = SAMPLERS[name]
    logits = logits_of((9, 40))  # classes along axis 0, rows along axis 1
    spans = [(start, min(start + 7, 40)) for start in range(0, 40, 7)]
    streams = children(SEED, len(spans))
    pieces = [
        unblocked(lambda g=g, s=s: sampler(logits[:, s[0]:s[1]], axis=0, rng=g))
        for g, s in zip(streams, spans, strict=True)
    ]
    # The rows are the last axis of every result, the argmax's included.
    expected = np.concatenate(pieces, axis=-1)
    results = on_threads(lambda: sampler(logits, axis=0, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sample_shape_is_split_where_it_is_the_largest_dimension(name):
    sampler = SAMPLERS[name]
    logits = logits_of((3, 9))
    # Output (20, 3, 9): the samples are split; 540 values ask for 9 blocks, which makes them
    # of 3 samples: 7 blocks, the last of 2.
    sizes = [3, 3, 3, 3, 3, 3, 2]
    expected = np.concatenate([
        unblocked(lambda g=g, n=n: sampler(logits, sample_shape=n, rng=g))
        for g, n in zip(children(SEED, 7), sizes, strict=True)
    ])
    results = on_threads(lambda: sampler(logits, sample_shape=20, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("kept", [False, True], ids=["row shape", "class axis kept"])
@pytest.mark.parametrize("hard", [False, True])
def test_per_row_temperatures_go_with_their_rows(kept, hard):
    logits = logits_of((40, 9))
    tau = np.linspace(0.2, 3.0, 40).reshape((40, 1) if kept else (40,))
    spans = [(start, min(start + 7, 40)) for start in range(0, 40, 7)]
    streams = children(SEED, len(spans))
    expected = np.concatenate([
        unblocked(lambda g=g, s=s: gk.gumbel_softmax(
            logits[s[0]:s[1]], tau=tau[s[0]:s[1]], hard=hard, rng=g))
        for g, s in zip(streams, spans, strict=True)
    ])
    results = on_threads(lambda: gk.gumbel_softmax(logits, tau=tau, hard=hard, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    relaxed = np.concatenate([
        unblocked(lambda g=g, s=s: gk.relaxed_top_k(
            logits[s[0]:s[1]], 2, tau=tau[s[0]:s[1]], hard=hard, rng=g))
        for g, s in zip(children(SEED, len(spans)), spans, strict=True)
    ])
    np.testing.assert_array_equal(
        gk.relaxed_top_k(logits, 2, tau=tau, hard=hard, rng=SEED), relaxed
    )


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("axis", [-1, 0])
def test_a_per_row_conditional_index_goes_with_its_rows(axis):
    logits = logits_of((40, 9))
    index = np.random.default_rng(3).integers(0, 9, size=40)
    spans = [(start, min(start + 7, 40)) for start in range(0, 40, 7)]
    rows = logits if axis == -1 else logits.T.copy()
    pieces = [
        unblocked(lambda g=g, s=s: gk.conditional_gumbel(
            rows[s[0]:s[1]] if axis == -1 else rows[:, s[0]:s[1]], index[s[0]:s[1]],
            axis=axis, rng=g))
        for g, s in zip(children(SEED, len(spans)), spans, strict=True)
    ]
    expected = np.concatenate(pieces, axis=0 if axis == -1 else 1)
    results = on_threads(lambda: gk.conditional_gumbel(rows, index, axis=axis, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    # The conditioning holds in every row: the argmax of logits + noise is the index.
    np.testing.assert_array_equal(np.argmax(rows + results[0], axis=axis), index)


@pytest.mark.usefixtures("small_blocks")
def test_per_row_temperatures_of_the_rows_under_a_sample_shape():
    # Output (20, 3, 9), split along the samples: each block takes every row's temperature.
    logits = logits_of((3, 9))
    tau = np.array([0.3, 1.0, 4.0])
    sizes = [3, 3, 3, 3, 3, 3, 2]
    expected = np.concatenate([
        unblocked(lambda g=g, n=n: gk.gumbel_softmax(logits, tau=tau, sample_shape=n, rng=g))
        for g, n in zip(children(SEED, 7), sizes, strict=True)
    ])
    np.testing.assert_array_equal(
        gk.gumbel_softmax(logits, tau=tau, sample_shape=20, rng=SEED), expected
    )


@pytest.mark.usefixtures("small_blocks")
# conditional_gumbel draws its noise given the argmax: it takes none precomputed.
@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - {"conditional"}))
def test_precomputed_noise_gives_the_unblocked_values(name):
    sampler = SAMPLERS[name]
    logits = logits_of((3, 40, 9))
    noise = np.random.default_rng(5).gumbel(size=(2, 3, 40, 9))
    # Output (2, 3, 40, 9): the rows (axis 2) are split, and the noise with them.
    expected = unblocked(lambda: sampler(logits, noise=noise, sample_shape=2))
    results = on_threads(lambda: sampler(logits, noise=noise, sample_shape=2))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    # Noise that broadcasts: one draw per class, shared by every row.
    shared = noise[0, 0, :1]
    np.testing.assert_array_equal(
        sampler(logits, noise=shared, sample_shape=2),
        unblocked(lambda: sampler(logits, noise=shared, sample_shape=2)),
    )


@pytest.mark.usefixtures("small_blocks")
def test_gumbel_rao_with_noise_and_rng_is_blocked_alike():
    logits = logits_of((40, 9))
    noise = np.random.default_rng(5).gumbel(size=(40, 9))
    call = lambda: gk.gumbel_softmax(  # noqa: E731
        logits, hard=True, estimator="gumbel-rao", noise=noise, rng=SEED
    )
    assert_identical(on_threads(call))
    np.testing.assert_array_equal(call(), unblocked(call))


# --- the random sources ------------------------------------------------------------------------


@pytest.mark.usefixtures("small_blocks")
def test_a_seed_sequence_and_a_generator_spawn_the_same_children_as_a_seed():
    logits = logits_of((40, 9))
    by_seed = gk.gumbel_max(logits, rng=SEED)
    np.testing.assert_array_equal(
        gk.gumbel_max(logits, rng=np.random.SeedSequence(SEED)), by_seed
    )
    generator = np.random.default_rng(SEED)
    np.testing.assert_array_equal(gk.gumbel_max(logits, rng=generator), by_seed)
    # The generator's spawn counter advanced: the next call takes the next 6 children.
    later = children(SEED, 12)[6:]
    spans = [(start, min(start + 7, 40)) for start in range(0, 40, 7)]
    expected = np.concatenate([
        unblocked(lambda g=g, s=s: gk.gumbel_max(logits[s[0]:s[1]], rng=g))
        for g, s in zip(later, spans, strict=True)
    ])
    np.testing.assert_array_equal(gk.gumbel_max(logits, rng=generator), expected)
    # A bit generator lends its seed sequence the same way.
    np.testing.assert_array_equal(
        gk.gumbel_max(logits, rng=np.random.PCG64(SEED)), by_seed
    )


@pytest.mark.usefixtures("small_blocks")
def test_a_seed_sequence_advances_with_each_blocked_call():
    logits = logits_of((40, 9))
    sequence = np.random.SeedSequence(SEED)
    first = gk.gumbel_softmax(logits, rng=sequence)
    assert sequence.n_children_spawned == 6
    assert not np.array_equal(gk.gumbel_softmax(logits, rng=sequence), first)


@pytest.mark.usefixtures("small_blocks")
def test_fresh_entropy_is_blocked_too():
    logits = logits_of((40, 9))
    gk.set_num_threads(2)
    a, b = gk.gumbel_softmax(logits), gk.gumbel_softmax(logits)
    assert a.shape == (40, 9)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-5)
    assert not np.array_equal(a, b)


@pytest.mark.usefixtures("small_blocks")
def test_a_legacy_seeded_bit_generator_runs_as_one_block():
    logits = logits_of((40, 9))
    expected = unblocked(lambda: gk.gumbel_max(logits, rng=np.random.Generator(_legacy(SEED))))
    np.testing.assert_array_equal(
        gk.gumbel_max(logits, rng=np.random.Generator(_legacy(SEED))), expected
    )


def _legacy(seed: int) -> np.random.MT19937:
    bit_generator = np.random.MT19937()
    bit_generator._legacy_seeding(seed)
    return bit_generator


# --- checks, invalid rows, dtypes ------------------------------------------------------------


@pytest.mark.usefixtures("small_blocks")
def test_validate_checks_the_whole_call_once_and_changes_no_value():
    logits = logits_of((40, 9))
    for name in ("soft", "max", "top-k"):
        assert_identical([SAMPLERS[name](logits, rng=SEED, validate=v) for v in (False, True)])
    bad = logits.copy()
    bad[33, 4] = np.nan
    with pytest.raises(ValueError, match=r"row \(33,\)"):
        gk.gumbel_max(bad, rng=SEED, validate=True)
    with pytest.raises(ValueError, match="tau"):
        gk.gumbel_softmax(logits, tau=np.where(np.arange(40) == 38, -1.0, 1.0), rng=SEED)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_invalid_rows_and_tiny_temperatures_warn_in_no_thread(name):
    # NumPy's errstate is a context variable: each block runs in a copy of the caller's.
    logits = logits_of((40, 9), dtype=np.float64)
    logits[3] = np.nan
    logits[17] = -np.inf
    logits[30, 2] = np.inf
    gk.set_num_threads(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = SAMPLERS[name](logits, rng=SEED)
        tiny = gk.gumbel_softmax(logits, tau=1e-300, rng=SEED)
    assert out.shape[0] == 40
    assert np.isnan(tiny[3]).all()
    assert not np.isnan(tiny[5]).any()


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.dtype(">f4")])
def test_blocked_samples_keep_the_logits_dtype(dtype):
    logits = logits_of((40, 9), dtype=dtype)
    soft = gk.gumbel_softmax(logits, rng=SEED)
    assert soft.dtype == np.dtype(dtype)
    expected = np.concatenate([
        unblocked(lambda g=g, s=s: gk.gumbel_softmax(logits[s:s + 7], rng=g))
        for g, s in zip(children(SEED, 6), range(0, 40, 7), strict=True)
    ])
    np.testing.assert_array_equal(soft, expected)


# --- the machinery -----------------------------------------------------------------------------


@pytest.mark.usefixtures("small_blocks")
def test_blocks_run_on_the_pool_and_keep_their_streams():
    logits = logits_of((40, 9))
    prepared = Prepared(logits, -1, SEED, None, (), False)
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def compute(block: Prepared) -> np.ndarray:
        first = block.new_source().random()
        with lock:
            seen.append((block.logits.shape[0], threading.current_thread().name))
        return np.full(block.logits.shape[:1], first)

    gk.set_num_threads(3)
    out = _row_blocks.by_row_blocks(prepared, compute)
    expected = np.repeat([g.random() for g in children(SEED, 6)], [7, 7, 7, 7, 7, 5])
    np.testing.assert_array_equal(out, expected)
    assert sorted(size for size, _ in seen) == [5, 7, 7, 7, 7, 7]
    caller = threading.current_thread().name
    assert all(name.startswith("gumbelkit") or name == caller for _, name in seen)
    assert len({name for _, name in seen}) <= 3
    gk.set_num_threads(1)
    seen.clear()
    np.testing.assert_array_equal(_row_blocks.by_row_blocks(prepared, compute), expected)
    assert {name for _, name in seen} == {threading.current_thread().name}


@pytest.mark.usefixtures("small_blocks")
def test_the_calling_thread_takes_blocks_too():
    # Two threads: the caller and one worker take the six blocks in turn (each block sleeps,
    # so neither can take them all before the other starts).
    prepared = Prepared(logits_of((40, 9)), -1, SEED, None, (), False)
    seen: list[str] = []
    lock = threading.Lock()

    def compute(block: Prepared) -> np.ndarray:
        time.sleep(0.02)
        with lock:
            seen.append(threading.current_thread().name)
        return np.zeros(block.logits.shape[:1])

    gk.set_num_threads(2)
    _row_blocks.by_row_blocks(prepared, compute)
    assert len(seen) == 6
    assert threading.current_thread().name in seen
    assert len(set(seen)) == 2


@pytest.mark.usefixtures("small_blocks")
def test_a_call_completes_while_every_worker_is_busy():
    # Another call holds the pool's only worker: the caller runs every block itself and does
    # not wait for the worker (a nested or concurrent call cannot deadlock on the pool).
    prepared = Prepared(logits_of((40, 9)), -1, SEED, None, (), False)
    gk.set_num_threads(2)
    release = threading.Event()
    busy = _row_blocks._thread_pool(1).submit(release.wait, 30)
    result: list[np.ndarray] = []
    caller = threading.Thread(target=lambda: result.append(
        _row_blocks.by_row_blocks(prepared, lambda block: np.zeros(block.logits.shape[:1]))))
    caller.start()
    caller.join(timeout=10)
    release.set()
    busy.result()
    assert not caller.is_alive(), "the call waited for a busy worker"
    assert result[0].shape == (40,)


@pytest.mark.usefixtures("small_blocks")
def test_an_error_in_a_block_is_raised_in_the_caller():
    # After every block has run: a failed block does not leave others running.
    prepared = Prepared(logits_of((40, 9)), -1, SEED, None, (), False)
    finished: list[int] = []

    def compute(block: Prepared) -> np.ndarray:
        time.sleep(0.01)
        finished.append(block.logits.shape[0])
        if block.logits.shape[0] == 5:  # the last block, of 5 rows (the others have 7)
            raise ArithmeticError("in a block")
        return np.zeros(block.logits.shape[:1])

    gk.set_num_threads(2)
    with pytest.raises(ArithmeticError, match="in a block"):
        _row_blocks.by_row_blocks(prepared, compute)
    assert len(finished) == 6


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("threads", [1, 2])
def test_no_block_starts_after_an_error(threads):
    # A call too large for memory fails at its first block's output: the blocks not yet taken
    # never start (each would hold its own error's traceback and arrays). The first of the six
    # blocks fails at once; on two threads the other thread can have taken one block at most.
    prepared = Prepared(logits_of((40, 9)), -1, SEED, None, (), False)
    started: list[int] = []

    def compute(block: Prepared) -> np.ndarray:
        started.append(block.logits.shape[0])
        if len(started) == 1:
            raise MemoryError("the first block")
        time.sleep(0.05)
        return np.zeros(block.logits.shape[:1])

    gk.set_num_threads(threads)
    with pytest.raises(MemoryError, match="the first block"):
        _row_blocks.by_row_blocks(prepared, compute)
    assert len(started) <= threads


@pytest.mark.usefixtures("small_blocks")
def test_other_backends_are_not_blocked():
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    logits = strict.asarray(logits_of((40, 9)))
    # array-api-strict draws from NumPy's generator: unblocked, the caller's stream.
    np.testing.assert_array_equal(
        np.asarray(gk.gumbel_max(logits, rng=SEED)),
        unblocked(lambda: gk.gumbel_max(logits_of((40, 9)), rng=SEED)),
    )


# --- the thread count -------------------------------------------------------------------------


def test_the_thread_count_is_set_then_the_environment_then_the_cpus(monkeypatch):
    monkeypatch.delenv(_row_blocks.ENVIRONMENT_VARIABLE, raising=False)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert gk.get_num_threads() == cpus
    monkeypatch.setenv(_row_blocks.ENVIRONMENT_VARIABLE, "3")
    assert gk.get_num_threads() == 3
    gk.set_num_threads(5)
    assert gk.get_num_threads() == 5
    gk.set_num_threads(None)
    assert gk.get_num_threads() == 3
    # Digits that str.isdigit takes and int() refuses (a superscript) or reads (Arabic-Indic)
    # are not a count either.
    for text in ("many", "0", "-1", "2.5", "\u00b2", "\u0663"):
        monkeypatch.setenv(_row_blocks.ENVIRONMENT_VARIABLE, text)
        with pytest.raises(ValueError, match="GUMBELKIT_NUM_THREADS must be a positive integer"):
            gk.get_num_threads()


@pytest.mark.parametrize(("value", "error"), [
    (0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), ("2", TypeError),
])
def test_set_num_threads_names_its_argument(value, error):
    with pytest.raises(error, match="threads must be a positive int or None"):
        gk.set_num_threads(value)


def test_the_shipped_sizes_give_the_same_values_on_any_thread_count():
    # 2**20 values: 8 blocks of 256 rows, each the unblocked sampler with its child.
    logits = logits_of((2048, 512))
    results = on_threads(lambda: gk.gumbel_max(logits, rng=SEED), (1, 2))
    assert_identical(results)
    expected = np.concatenate([
        unblocked(lambda g=g, s=s: gk.gumbel_max(logits[s:s + 256], rng=g))
        for g, s in zip(children(SEED, 8), range(0, 2048, 256), strict=True)
    ])
    np.testing.assert_array_equal(results[0], expected)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("method", ["cdf", "alias"])
def test_categorical_tables_draw_by_blocks_of_draws(method):
    # Draws of (3, 5) logits, 200 per row: 600 indices ask for 10 blocks of 20 draws (the rows,
    # which the table is built for, are never split). Block b is the unblocked call of 20 draws
    # with the b-th child; the values do not depend on the thread count.
    logits = logits_of((3, 5))
    logits[1, 2] = -np.inf
    expected = np.concatenate([
        unblocked(lambda g=g: gk.categorical(logits, sample_shape=20, rng=g, method=method))
        for g in children(SEED, 10)
    ])
    results = on_threads(lambda: gk.categorical(logits, sample_shape=200, rng=SEED,
                                                method=method))
    assert_identical(results)
    assert results[0].shape == (200, 3)
    np.testing.assert_array_equal(results[0], expected)
    # A sample shape of several dimensions is split as its flat draws are.
    shaped = gk.categorical(logits, sample_shape=(20, 10), rng=SEED, method=method)
    np.testing.assert_array_equal(shaped.reshape(200, 3), expected)


@pytest.mark.parametrize("method", ["cdf", "alias"])
def test_a_blocked_categorical_call_keeps_the_law(method):
    # The shipped sizes: 2**20 + 3 draws of one row are 8 blocks. Their pooled counts against
    # softmax by a chi-square at alpha 1e-6 (5 degrees of freedom): a block left unwritten, or
    # read from another row's table, would be seen at this n.
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.2, 0.3])
    draws = 2**20 + 3
    index = gk.categorical(np.log(p), sample_shape=draws, rng=SEED, method=method)
    assert _row_blocks.block_layout((draws, 1), 1) == (0, 131_073, 8)
    counts = np.bincount(index, minlength=6)
    from scipy import stats

    assert stats.chisquare(counts, draws * p).pvalue > 1e-6


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize(("shape", "axis", "spans"), [
    # 360 values ask for 6 blocks: of 7 rows, the last of 5.
    ((40, 9), -1, [(0, 7), (7, 14), (14, 21), (21, 28), (28, 35), (35, 40)]),
    # The largest dimension but the class axis is split, whatever the axis: 4 x 40 x 3 (the
    # class axis first) asks for 8 blocks of 5 along the 40; 2 x 30 x 9 (the class axis last)
    # for 9, which whole rows make 8 of 4 along the 30, the last of 2.
    ((4, 40, 3), 0, [(0, 5), (5, 10), (10, 15), (15, 20), (20, 25), (25, 30), (30, 35),
                     (35, 40)]),
    ((2, 30, 9), -1, [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24), (24, 28),
                      (28, 30)]),
])
def test_unfiltered_tokens_are_blocked_as_gumbel_max_is(shape, axis, spans):
    # sample_tokens is blocked as gumbel_max is and draws its noise with the logits' shape:
    # with no filter its tokens are gumbel_max's indices from the same seed, blocked or not,
    # on any thread count, for any shape and class axis.
    logits = logits_of(shape)
    split = 0 if len(shape) == 2 else 1
    expected = np.concatenate([
        unblocked(lambda g=g, a=a, b=b: gk.gumbel_max(
            logits[(slice(None),) * split + (slice(a, b),)], axis=axis, rng=g))
        for g, (a, b) in zip(children(SEED, len(spans)), spans, strict=True)
    ], axis=split - (1 if axis % len(shape) < split else 0))
    results = on_threads(lambda: gk.sample_tokens(logits, axis=axis, rng=SEED))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    np.testing.assert_array_equal(results[0], gk.gumbel_max(logits, axis=axis, rng=SEED))
    np.testing.assert_array_equal(unblocked(lambda: gk.sample_tokens(logits, axis=axis, rng=3)),
                                  unblocked(lambda: gk.gumbel_max(logits, axis=axis, rng=3)))


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize(("shape", "spans"), [
    ((40, 9), [(0, 7), (7, 14), (14, 21), (21, 28), (28, 35), (35, 40)]),
    ((2, 30, 9), [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24), (24, 28), (28, 30)]),
])
def test_filtered_tokens_run_their_filters_by_row_blocks(shape, spans):
    # Each block of rows filters its own rows with its own rows' parameters and races them
    # against its own stream's noise: block by block, the unblocked call on those rows with the
    # hand-spawned child, on any thread count. Per-row temperature (0 in one row: greedy),
    # top-k, top-p and min-p, and a row with a NaN (invalid, gives the number of classes).
    logits = logits_of(shape)
    rows = shape[:-1]
    logits.reshape(-1, 9)[11, 3] = np.nan
    rng = np.random.default_rng(1)
    parameters = {
        "temperature": rng.uniform(0.3, 2.0, size=rows).astype(np.float32),
        "top_k": rng.integers(1, 10, size=rows),
        "top_p": rng.uniform(0.2, 1.0, size=rows).astype(np.float32),
        "min_p": rng.uniform(0.0, 0.3, size=rows).astype(np.float32),
    }
    parameters["temperature"].reshape(-1)[20] = 0.0
    split = len(shape) - 2  # the largest dimension but the class axis

    def part(a: np.ndarray, first: int, stop: int) -> np.ndarray:
        return a[(slice(None),) * split + (slice(first, stop),)]

    expected = np.concatenate([
        unblocked(lambda g=g, a=a, b=b: gk.sample_tokens(
            part(logits, a, b), rng=g, **{k: part(v, a, b) for k, v in parameters.items()}))
        for g, (a, b) in zip(children(SEED, len(spans)), spans, strict=True)
    ], axis=split)
    results = on_threads(lambda: gk.sample_tokens(logits, rng=SEED, **parameters))
    assert_identical(results)
    np.testing.assert_array_equal(results[0], expected)
    assert results[0].reshape(-1)[11] == 9
    assert results[0].reshape(-1)[20] == np.argmax(logits.reshape(-1, 9)[20])
