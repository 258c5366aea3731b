"""Dask arrays: lazy samplers, noise chunked like the output, one random stream per block.

What is promised (docs/backends.md): nothing computes until the caller computes; the noise has
the output's chunks (the sample dimensions, then the logits' chunks), so no array is rechunked
for it; block ``b`` of the noise (C order over the blocks) draws from a ``PCG64`` seeded with
child ``b`` of ``numpy.random.SeedSequence(seed).spawn(n_blocks)``. A seed therefore gives the
same values for the same output shape and chunks, whatever the scheduler, the number of
workers, or how the logits came by their chunks; another chunking draws another sample with the
same law. The laws themselves are tested on a ``dask.distributed`` cluster of two worker
processes started on loopback, with the statistics and designs of the conformance suite.

Expected values come from NumPy: the per-block streams drawn with NumPy's own ``PCG64`` and
``SeedSequence``, and float64 softmax / argmax / stable argsort of the perturbed logits.
"""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
from helpers import exact_tail_noise, np_softmax

import gumbelkit as gk
from gumbelkit.conformance import designs, stats
from gumbelkit.distributions import ExpRelaxedOneHotCategorical

_NO_DASK = "Dask is not installed (pip install 'gumbelkit[dask]')"
dask = pytest.importorskip("dask", reason=_NO_DASK)
da = pytest.importorskip("dask.array", reason=_NO_DASK)
dask_adapter = pytest.importorskip("gumbelkit.backends.dask", reason=_NO_DASK)

DISTRIBUTED_MISSING = (
    None if importlib.util.find_spec("distributed") else
    "dask.distributed is not installed (pip install 'gumbelkit[dask]')"
)
needs_distributed = pytest.mark.skipif(
    DISTRIBUTED_MISSING is not None, reason=str(DISTRIBUTED_MISSING)
)

SEED = 20_240_917
ROWS, CLASSES = 1000, 40
# Chunked along rows, along the class axis, and along both.
LAYOUTS = {
    "rows": (250, CLASSES),
    "classes": (ROWS, 10),
    "both": (250, 10),
}


def _logits(chunks=(250, 10), dtype=np.float32, seed=0):
    values = np.random.default_rng(seed).normal(size=(ROWS, CLASSES)).astype(dtype)
    return values, da.from_array(values, chunks=chunks)


def _refuse(*args, **kwargs):
    raise AssertionError("gumbelkit computed a Dask graph")


def _rechunk_layers(x):
    return [name for name in x.dask.layers if name.startswith("rechunk")]


def _numpy_block_noise(seed, chunks, dtype):
    """The promised noise, drawn with NumPy: block b from child b of the seed, each block the
    documented exact-tail construction on its own stream."""
    grid = list(itertools.product(*(range(len(c)) for c in chunks)))
    children = np.random.SeedSequence(seed).spawn(len(grid))
    starts = [np.cumsum((0, *c)) for c in chunks]
    noise = np.empty(tuple(sum(c) for c in chunks), dtype=dtype)
    for child, block in zip(children, grid, strict=True):
        where = tuple(slice(starts[d][i], starts[d][i + 1]) for d, i in enumerate(block))
        size = tuple(chunks[d][i] for d, i in enumerate(block))
        generator = np.random.Generator(np.random.PCG64(child))
        noise[where] = exact_tail_noise(generator, size, dtype)
    return noise


SAMPLERS = {
    "soft": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, **kw),
    "hard": lambda x, **kw: gk.gumbel_softmax(x, hard=True, **kw),
    "max": lambda x, **kw: gk.gumbel_max(x, **kw),
    "top_k": lambda x, **kw: gk.gumbel_top_k(x, 3, **kw),
}


# --- laziness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_compute_nothing(sampler):
    _, logits = _logits()
    tau = da.from_array(np.linspace(0.5, 2.0, ROWS), chunks=250)
    with dask.config.set(scheduler=_refuse):
        outputs = [
            SAMPLERS[sampler](logits, rng=SEED),
            SAMPLERS[sampler](logits, rng=SEED, sample_shape=(2, 3)),
            gk.gumbel_softmax(logits, tau=tau, rng=SEED),
            gk.gumbel_softmax(logits, tau=tau, hard=True, rng=SEED),
            gk.gumbel(5, xp=da, rng=SEED),
        ]
        assert all(isinstance(out, da.Array) for out in outputs)
        # The refusing scheduler is the one in force: computing does reach it.
        with pytest.raises(AssertionError, match="computed"):
            outputs[0].compute()


# --- chunks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("sample_shape", [(), (3,)], ids=["no-samples", "samples"])
def test_output_has_the_logits_chunks_and_nothing_is_rechunked(layout, sample_shape):
    _, logits = _logits(LAYOUTS[layout])
    sample_chunks = tuple((n,) for n in sample_shape)
    soft = gk.gumbel_softmax(logits, rng=SEED, sample_shape=sample_shape)
    hard = gk.gumbel_softmax(logits, hard=True, rng=SEED, sample_shape=sample_shape)
    index = gk.gumbel_max(logits, rng=SEED, sample_shape=sample_shape)
    assert soft.chunks == sample_chunks + logits.chunks
    assert index.chunks == sample_chunks + logits.chunks[:1]
    # The one-hot compares the argmax with class indices chunked like the class axis.
    assert hard.chunks == sample_chunks + logits.chunks
    for out in (soft, hard, index):
        assert _rechunk_layers(out) == [], f"rechunked: {_rechunk_layers(out)}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_top_k_keeps_the_row_chunks_and_rechunks_nothing(layout):
    # Each class block keeps its own k candidates; no task merges the class axis of the noise.
    _, logits = _logits(LAYOUTS[layout])
    top = gk.gumbel_top_k(logits, 3, rng=SEED, sample_shape=2)
    assert top.chunks == ((2,), logits.chunks[0], (3,))
    assert _rechunk_layers(top) == []


def test_dask_top_k_breaks_ties_to_the_lower_index_across_class_blocks():
    # Few distinct values: many ties, inside blocks and across block boundaries.
    values = np.random.default_rng(3).integers(0, 4, size=(7, 53)).astype(np.float32)
    values[2, 40:] = -np.inf
    expected = np.argsort(-values, axis=-1, kind="stable")
    for chunks, k in [((3, 10), 4), ((7, 53), 4), ((3, 10), 12), ((2, 1), 3)]:
        top = dask_adapter.top_k(da.from_array(values, chunks=chunks), k, -1)
        assert top.dtype == np.int64
        np.testing.assert_array_equal(top.compute(), expected[:, :k], err_msg=str(chunks))
    # Another axis: classes in the middle.
    cube = np.random.default_rng(4).integers(0, 3, size=(2, 31, 5)).astype(np.float64)
    top = dask_adapter.top_k(da.from_array(cube, chunks=(1, 8, 2)), 5, -2)
    expected = np.moveaxis(np.argsort(-np.moveaxis(cube, 1, -1), axis=-1, kind="stable"), -1, 1)
    np.testing.assert_array_equal(top.compute(), expected[:, :5])


@pytest.mark.parametrize(("rows", "sample_shape"), [(0, ()), (0, (3,)), (ROWS, (0,)),
                                                  (ROWS, (2, 0))])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_empty_batches_keep_the_chunks_and_compute_to_empty_arrays(layout, rows, sample_shape):
    # Dask's own max fails on an empty array at compute time, and its auto-chunking divides by
    # the size of an empty block; NumPy's results of the same call are the reference.
    values = np.zeros((rows, CLASSES), dtype=np.float32)
    logits = da.from_array(values, chunks=LAYOUTS[layout])
    for name, sample in SAMPLERS.items():
        out = sample(logits, rng=SEED, sample_shape=sample_shape)
        expected = sample(values, rng=SEED, sample_shape=sample_shape)
        assert out.shape == expected.shape, name
        assert out.dtype == expected.dtype, name
        if name != "top_k":  # top-k puts its k positions in one chunk
            assert out.chunks[len(sample_shape):] == logits.chunks[:out.ndim - len(sample_shape)]
        assert _rechunk_layers(out) == []
        assert out.compute().shape == expected.shape, name


def test_empty_max_and_min_keep_the_shape_dtype_and_chunks():
    xp = dask_adapter.namespace(None)
    x = da.zeros((0, 6, 4), chunks=(1, 2, 4), dtype=np.float32)
    for reduce, by_numpy in ((xp.max, np.max), (xp.min, np.min)):
        for axis, keepdims in [(-1, True), (1, False), ((1, 2), True), ((-1, 1), False)]:
            out = reduce(x, axis=axis, keepdims=keepdims)
            expected = by_numpy(np.zeros(x.shape, np.float32), axis=axis, keepdims=keepdims)
            assert out.shape == expected.shape
            assert out.dtype == expected.dtype
            assert out.compute().shape == expected.shape
    # Arrays with values take Dask's own reduction.
    y = da.from_array(np.arange(12.0).reshape(3, 4), chunks=(2, 2))
    np.testing.assert_array_equal(xp.max(y, axis=-1).compute(), [3.0, 7.0, 11.0])


def test_sample_dimensions_split_into_bounded_blocks(monkeypatch):
    # Three logits blocks' worth of noise per block: the sample axis splits into chunks of 3.
    _, logits = _logits((250, 10))
    block_bytes = 250 * 10 * 4
    monkeypatch.setattr(dask_adapter, "SAMPLE_BLOCK_BYTES", 3 * block_bytes)
    out = gk.gumbel_softmax(logits, rng=SEED, sample_shape=7)
    assert out.chunks[1:] == logits.chunks
    assert max(out.chunks[0]) * block_bytes <= 3 * block_bytes
    assert len(out.chunks[0]) >= 3
    assert _rechunk_layers(out) == []


# --- values: the promised streams, and the mathematics on them --------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_are_numpy_block_streams_of_seed_and_block_index(layout, monkeypatch):
    values, logits = _logits(LAYOUTS[layout])
    # Small sample blocks, so that the sample axis has several blocks too.
    monkeypatch.setattr(dask_adapter, "SAMPLE_BLOCK_BYTES", 2 * 250 * 10 * 4)
    soft = gk.gumbel_softmax(logits, tau=0.5, rng=SEED, sample_shape=3)
    z = values + _numpy_block_noise(SEED, soft.chunks, np.float32)  # float32: the compute dtype
    np.testing.assert_allclose(soft.compute(), np_softmax(z.astype(np.float64) / 0.5),
                               rtol=2e-5, atol=1e-7)
    # The indices' noise has the soft sample's chunks: the same streams, the same z.
    index = gk.gumbel_max(logits, rng=SEED, sample_shape=3)
    np.testing.assert_array_equal(index.compute(), np.argmax(z, axis=-1))


# Chunks of size 0, as filtering (x[mask]) leaves them: one along the rows, one among the classes.
EMPTY_CHUNK_LAYOUTS = {
    "rows": ((250, 0, 750), (CLASSES,)),
    "classes": ((ROWS,), (10, 0, 30)),
}


@pytest.mark.parametrize("layout", EMPTY_CHUNK_LAYOUTS)
def test_an_empty_chunk_changes_nothing(layout):
    # Dask's own reductions (max, argmax) fail on an empty block; the samplers must not. The
    # noise is still drawn block by block over the logits' chunks, the empty one included.
    chunks = EMPTY_CHUNK_LAYOUTS[layout]
    values, _ = _logits()
    logits = da.from_array(values, chunks=chunks)
    z = values + _numpy_block_noise(SEED, chunks, np.float32)
    soft = gk.gumbel_softmax(logits, tau=0.5, rng=SEED)
    np.testing.assert_allclose(soft.compute(), np_softmax(z.astype(np.float64) / 0.5),
                               rtol=2e-5, atol=1e-7)
    index = np.argmax(z, axis=-1)
    np.testing.assert_array_equal(gk.gumbel_max(logits, rng=SEED).compute(), index)
    hard = gk.gumbel_softmax(logits, hard=True, rng=SEED)
    assert hard.chunks == logits.chunks  # the argmax drops the empty chunk; it is put back
    np.testing.assert_array_equal(hard.compute(), np.eye(CLASSES, dtype=np.float32)[index])
    np.testing.assert_array_equal(gk.gumbel_top_k(logits, 3, rng=SEED).compute(),
                                  np.argsort(-z, axis=-1, kind="stable")[:, :3])
    relaxed = gk.relaxed_top_k(logits, 3, rng=SEED).compute()
    np.testing.assert_allclose(relaxed.sum(axis=-1), 3.0, rtol=1e-5)
    for method in ("gumbel", "cdf", "alias"):
        draws = gk.categorical(logits, sample_shape=2, rng=SEED, method=method).compute()
        assert draws.shape == (2, ROWS)
        assert ((draws >= 0) & (draws < CLASSES)).all(), method
    tokens = gk.sample_tokens(logits, rng=SEED, temperature=0.7, top_k=5).compute()
    top_five = np.argsort(-values, axis=-1, kind="stable")[:, :5]
    assert (tokens[:, None] == top_five).any(axis=-1).all()


@pytest.mark.parametrize("chunks", [((0,), (3, 4)), ((0, 0), (7,)), ((1, 1), (0,), (5,))],
                         ids=["no-rows-two-class-chunks", "two-empty-row-chunks", "no-classes"])
def test_empty_logits_of_any_chunks_give_numpy_shapes(chunks):
    # Dask reshapes only whole chunks: the token samplers' flattening failed on such arrays
    # ("Dask's reshape only supports operations that merge or split existing dimensions
    # evenly", or "reduce() of empty iterable"), where NumPy gives empty results.
    shape = tuple(sum(axis) for axis in chunks)
    values = np.zeros(shape, dtype=np.float32)
    logits = da.from_array(values, chunks=chunks)
    rows = int(np.prod(shape[:-1]))
    calls = {
        "top_k": lambda x: gk.sample_tokens(x, top_k=2, rng=0),
        "top_p": lambda x: gk.sample_tokens(x, top_p=0.5, temperature=0.7, rng=0),
        "seeds": lambda x: gk.sample_tokens(x, min_p=0.1, seeds=list(range(rows))),
        "filter": lambda x: gk.filter_logits(x, top_k=2, top_p=0.9, min_p=0.1),
        "categorical": lambda x: gk.categorical(x, sample_shape=3, rng=0),
    }
    for name, call in calls.items():
        expected = np.asarray(call(values))
        result = call(logits)
        assert isinstance(result, da.Array), name
        computed = result.compute()
        assert computed.shape == expected.shape, name
        assert computed.dtype == expected.dtype, name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_injected_noise_gives_numpy_values(layout):
    values, _ = _logits(LAYOUTS[layout], dtype=np.float64)
    values[3, 25:] = -np.inf  # masked classes in the last chunks of the class axis
    values[5] = np.nan  # an invalid row
    g = np.random.default_rng(1).gumbel(size=(2, ROWS, CLASSES))
    # Ties across class chunks: classes 7 and 33 share row 7's maximum; the first one wins.
    g[:, 7] = 0.0
    values[7] = 0.0
    values[7, [7, 33]] = 5.0
    logits = da.from_array(values, chunks=LAYOUTS[layout])
    noise = da.from_array(g, chunks=(1, *LAYOUTS[layout]))
    z = values + g
    with np.errstate(invalid="ignore"):
        expected_soft = np_softmax(z / 0.5)
        expected_index = np.where(np.isnan(z).any(-1), CLASSES, np.argmax(z, axis=-1))
    expected_top = np.argsort(-z, axis=-1, kind="stable")[..., :3]
    expected_top[:, 5] = CLASSES

    soft = gk.gumbel_softmax(logits, tau=0.5, noise=noise, sample_shape=2).compute()
    np.testing.assert_allclose(soft, expected_soft, rtol=1e-12, atol=0)
    assert np.all(soft[:, 3, 25:] == 0.0)
    index = gk.gumbel_max(logits, noise=noise, sample_shape=2).compute()
    np.testing.assert_array_equal(index, expected_index)
    assert np.all(index[:, 7] == 7)
    hard = gk.gumbel_softmax(logits, hard=True, noise=noise, sample_shape=2).compute()
    valid = np.arange(ROWS) != 5
    np.testing.assert_array_equal(
        hard[:, valid], np.eye(CLASSES)[expected_index[:, valid]]
    )
    assert np.all(np.isnan(hard[:, 5]))
    top = gk.gumbel_top_k(logits, 3, noise=noise, sample_shape=2).compute()
    np.testing.assert_array_equal(top, expected_top)
    assert top[0, 7, 0] == 7
    assert top[0, 7, 1] == 33



@pytest.mark.parametrize("sampler", ["gumbel_softmax", "relaxed_top_k"])
def test_a_tiny_temperature_computes_without_warnings(sampler):
    # (z - max z) / tau overflows to -inf on purpose; NumPy's warning for it must not escape
    # when the graph computes (warnings are errors in the tests), on any scheduler.
    values = np.array([[0.0, -1e30, 2.0, 1.0], [1.0, 0.5, -np.inf, -3e38]], np.float32)
    logits = da.from_array(values, chunks=(1, 2))
    if sampler == "gumbel_softmax":
        soft = gk.gumbel_softmax(logits, tau=1e-9, rng=SEED, sample_shape=3)
    else:
        soft = gk.relaxed_top_k(logits, 1, tau=1e-9, rng=SEED, sample_shape=3)
    index = gk.gumbel_max(logits, rng=SEED, sample_shape=3).compute()
    for scheduler in ("synchronous", "threads"):
        # At tau = 1e-9 the relaxed sample is the one-hot of argmax(logits + G).
        np.testing.assert_array_equal(soft.compute(scheduler=scheduler), np.eye(4)[index])
    assert soft.chunks == ((3,), (1, 1), (2, 2))


@pytest.mark.parametrize("family", ["ExpRelaxedOneHotCategorical", "RelaxedOneHotCategorical",
                                    "RelaxedBernoulli", "LogitRelaxedBernoulli"])
def test_distributions_at_a_tiny_temperature_compute_without_warnings(family):
    # Valid parameters: the deliberate overflow of (logits + noise) / tau must stay quiet
    # when the graph computes (warnings are errors in the tests).
    values = np.array([[0.0, -1e30, 2.0, 1.0], [1.0, 0.5, -3.0, -3e38]], np.float32)
    logits = da.from_array(values, chunks=(1, 2))
    sample = getattr(gk.distributions, family)(logits, tau=1e-30).sample(3, rng=SEED)
    for scheduler in ("synchronous", "threads"):
        computed = sample.compute(scheduler=scheduler)
        assert not np.isnan(computed).any()


# --- reproducibility and independence ---------------------------------------------------------


def _all_samples(logits, rng):
    return [SAMPLERS[name](logits, rng=rng, sample_shape=2) for name in SAMPLERS]


def test_same_seed_same_values_under_synchronous_and_threaded_schedulers():
    _, logits = _logits()
    synchronous = dask.compute(*_all_samples(logits, SEED), scheduler="synchronous")
    threaded = dask.compute(*_all_samples(logits, SEED), scheduler="threads", num_workers=2)
    for a, b in zip(synchronous, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    other = dask.compute(*_all_samples(logits, SEED + 1), scheduler="synchronous")
    assert not np.array_equal(synchronous[0], other[0])


def test_same_chunks_same_values_however_the_logits_got_them():
    values, logits = _logits((250, 10))
    rechunked = da.from_array(values, chunks=(100, CLASSES)).rechunk((250, 10))
    assert rechunked.chunks == logits.chunks
    for name, sample in SAMPLERS.items():
        a, b = dask.compute(sample(logits, rng=SEED), sample(rechunked, rng=SEED))
        np.testing.assert_array_equal(a, b, err_msg=name)
    # Another chunking is another sample (of the same law): values are not promised equal.
    other = da.from_array(values, chunks=(500, 20))
    a, b = dask.compute(gk.gumbel_max(logits, rng=SEED), gk.gumbel_max(other, rng=SEED))
    assert not np.array_equal(a, b)


def test_a_generator_advances_between_draws():
    _, logits = _logits()
    for rng in (da.random.default_rng(SEED), np.random.default_rng(SEED)):
        first, second = dask.compute(gk.gumbel_max(logits, rng=rng), gk.gumbel_max(logits, rng=rng))
        assert not np.array_equal(first, second)


def test_blocks_are_not_copies_of_each_other():
    # Equal logits in every row: equal blocks of output would mean a shared stream. In float64
    # a value recurs in another block by chance with probability about 1e-13.
    logits = da.zeros((ROWS, CLASSES), chunks=(250, 10), dtype=np.float64)
    soft = gk.gumbel_softmax(logits, rng=SEED).compute()
    blocks = [soft[r:r + 250, c:c + 10].ravel() for r in range(0, ROWS, 250)
              for c in range(0, CLASSES, 10)]
    for a, b in itertools.combinations(blocks, 2):
        assert np.mean(a == b) < 0.01
        # Not shifted copies either: no block's first values recur in another block.
        assert not np.isin(a[:20], b).any()


# --- a dask.distributed cluster: same values, and the laws of the conformance suite -----------


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    # Worker processes: the graph, its seeds included, travels to them pickled. The dashboards
    # take free ports (":0"): with pytest-xdist another worker's cluster may hold the default
    # 8787, which distributed reports by a warning that the suite turns into an error.
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=":0",
    ) as cluster, Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture
def seed(request):
    """The per-test seed of the conformance suite (SHA-256 of the test id; --seed if given)."""
    fixed = request.config.getoption("--seed", default=None)
    return int(fixed) if fixed is not None else stats.stable_seed(request.node.nodeid)


@pytest.fixture
def verdict(request, seed):
    """Record and assert one statistical outcome, as the conformance suite's ``verdict``."""

    def record(what, *, dtype, n, statistic, pvalue, method):
        stats.check(stats.Outcome(
            test=request.node.name, backend="dask.distributed", dtype=dtype, n=int(n),
            statistic=float(statistic), pvalue=float(pvalue), method=method, seed=seed,
        ), what)

    return record


@needs_distributed
def test_cluster_gives_the_values_of_the_local_schedulers(client):
    _, logits = _logits((250, 10))
    outputs = _all_samples(logits, SEED)
    on_cluster = dask.compute(*outputs, scheduler=client)
    local = dask.compute(*outputs, scheduler="synchronous")
    for a, b in zip(on_cluster, local, strict=True):
        np.testing.assert_array_equal(a, b)


def _rows(row, n, chunks, dtype):
    """``n`` copies of one logits row as a lazy Dask array with ``chunks`` (no n x K copy)."""
    row = da.from_array(np.asarray(row, dtype=dtype), chunks=(chunks[1],))
    return da.broadcast_to(row, (n, row.shape[0]), chunks=chunks)


@needs_distributed
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sampler", ["max", "top_k first"])
def test_frequencies_follow_softmax_on_the_cluster(client, sampler, dtype, seed, verdict):
    # Ten classes, two masked, split into two class chunks; rows in four blocks.
    logits, design = designs.GUMBEL_MAX_LAWS["k10-masked"]
    n = design.n
    x = _rows(logits, n, (-(-n // 4), 5), dtype)
    draw = (gk.gumbel_max(x, rng=seed) if sampler == "max"
            else gk.gumbel_top_k(x, 2, rng=seed)[:, 0])
    counts = designs.category_counts(draw.compute(scheduler=client), len(logits))
    p = designs.with_impossible_cell(designs.softmax64(logits))
    statistic, pvalue, df = stats.chisquare_gof(counts, p)
    verdict(f"{sampler} frequencies vs softmax on a cluster, class axis chunked", dtype=dtype,
            n=n, statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


@needs_distributed
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_concrete_follows_its_cdf_on_the_cluster(client, dtype, seed, verdict):
    # Two classes in two class chunks: the softmax reduces across chunks.
    design = designs.BINARY_CONCRETE
    n = design.n
    log_alpha, tau = designs.CONCRETE_LOG_ALPHA, designs.CONCRETE_TAU
    x = _rows([log_alpha, 0.0], n, (-(-n // 4), 1), dtype)
    y = gk.gumbel_softmax(x, tau=tau, rng=seed).compute(scheduler=client)
    with np.errstate(divide="ignore"):
        logy = np.log(y.astype(np.float64))
    pit = designs.concrete_pit(logy[:, 0] - logy[:, 1], log_alpha, tau)
    statistic, pvalue = stats.ks_1samp(pit, designs.uniform_cdf)
    verdict(f"binary Concrete (log alpha {log_alpha}, tau {tau}) on a cluster", dtype=dtype,
            n=n, statistic=statistic, pvalue=pvalue, method="KS")


@needs_distributed
def test_neighbouring_blocks_are_independent_on_the_cluster(client, seed, verdict):
    # Pairs (row j of block 2c, row j of block 2c + 1): a shared or overlapping stream makes
    # the second draw repeat the first; the joint law must be pi x pi.
    design = designs.INDEPENDENCE
    block, pairs_per_block_pair = 16_900, 16_900
    block_pairs = -(-design.n // pairs_per_block_pair)
    n = block_pairs * pairs_per_block_pair
    pi = designs.softmax64(designs.INDEPENDENCE_LOGITS)
    k = len(pi)
    x = _rows(designs.INDEPENDENCE_LOGITS, 2 * n, (block, 2), "float32")
    index = gk.gumbel_max(x, rng=seed).compute(scheduler=client).reshape(block_pairs, 2, block)
    first, second = index[:, 0].ravel(), index[:, 1].ravel()
    joint = np.where((first < k) & (second < k), first * k + second, k * k)
    counts = designs.category_counts(joint, k * k)
    statistic, pvalue, df = stats.chisquare_gof(counts, designs.with_impossible_cell(
        np.outer(pi, pi)))
    verdict("joint law of the same row of neighbouring blocks vs pi x pi", dtype="float32",
            n=n, statistic=statistic, pvalue=pvalue, method=f"chi-square, df {df}")


def test_extreme_finite_logits_compute_without_warnings():
    # A difference or a neighbour beyond the dtype's range is its limit, on purpose: Dask
    # computes the blocks outside gumbelkit's errstate, and NumPy warned there ("overflow
    # encountered in subtract" / "in nextafter"; warnings are errors in this suite).
    top = float(np.finfo(np.float32).max)
    column = np.array([[top], [-top], [0.0]], dtype=np.float32)
    noise = gk.conditional_gumbel(da.from_array(column), da.from_array(np.zeros(3, np.int64)),
                                  rng=0).compute()
    assert np.isfinite(noise).all()
    spread = np.array([[3e38, -3e38, 0.0]], dtype=np.float32)
    # Class 0 outweighs the others by e**(3e38), then class 2 outweighs class 1: log 1 + log 1.
    log_prob = gk.plackett_luce_log_prob(da.from_array(spread),
                                         da.from_array(np.array([[0, 2]]))).compute()
    np.testing.assert_array_equal(log_prob, [0.0])
    sample = ExpRelaxedOneHotCategorical(da.from_array(spread), 1e30).sample(rng=0)
    np.testing.assert_array_equal(
        ExpRelaxedOneHotCategorical(da.from_array(spread), 1e30).log_prob(sample).compute(),
        [-np.inf])


def test_clip_with_number_bounds_is_one_elementwise_layer():
    # array-api-compat's clip built a full-shape array of each number bound, whose blocks Dask
    # computed early and kept (conditional_gumbel of 256 MiB of logits peaked at 1.2 GiB):
    # gumbelkit's namespace clips as Dask does, with the graph of one elementwise operation.
    values = np.random.default_rng(3).normal(size=(64, 30)) * 3
    x = da.from_array(values, chunks=(16, 10))
    namespace = dask_adapter.namespace(x)
    clipped = namespace.clip(x, -2.0, 1.5)
    assert len(clipped.__dask_graph__()) == len((x + 1.0).__dask_graph__())
    assert clipped.chunks == x.chunks
    assert clipped.dtype == x.dtype
    np.testing.assert_array_equal(clipped.compute(), np.clip(values, -2.0, 1.5))
    np.testing.assert_array_equal(namespace.clip(x, max=0.0).compute(), np.minimum(values, 0.0))


@pytest.mark.parametrize(("x_chunks", "index_chunks"), [((8, 48), (8, 5)), ((16, 32), (4, 3))])
def test_row_gathers_read_only_their_own_rows(x_chunks, index_chunks):
    # A gather per row (top_k and top_p filters, the cdf and alias methods) took from the
    # flattened array, so every block of the result depended on every block of x: 256 MiB of
    # logits drew by inverse cdf in 19 s and 3.3 GiB. Each block now reads its own rows only.
    from dask.core import get_dependencies

    from gumbelkit import _core

    rng = np.random.default_rng(2)
    values = rng.standard_normal((64, 96))
    index = rng.integers(0, 96, size=(64, 15))
    x = da.from_array(values, chunks=x_chunks)
    picks = da.from_array(index, chunks=index_chunks)
    namespace = dask_adapter.namespace(x)
    taken = _core.take_rows(x, picks, namespace, dask_adapter.device(x))
    graph = dict(taken.__dask_graph__())
    gathers = [key for key in graph if key[0] == taken.name]
    # One gather per block of the result, each reading one row block of x (merged along the
    # class axis) and one block of the index.
    assert len(gathers) == taken.numblocks[0] * taken.numblocks[1]
    assert all(len(get_dependencies(graph, key)) == 2 for key in gathers)
    np.testing.assert_array_equal(taken.compute(), np.take_along_axis(values, index, axis=-1))


@pytest.mark.parametrize("operation", ["sort", "argsort", "take_along_axis"])
def test_sorts_and_row_gathers_keep_the_row_chunks(operation, monkeypatch):
    # array-api-compat's sort and argsort merge the other axes' chunks up to Dask's chunk size
    # (128 MiB): the top-p filter of 256 MiB of logits in (512, 2048) chunks peaked at 1.5 GiB.
    # The sorted axis becomes one chunk and the rows keep theirs, which line up with the
    # logits' again; only a block above ROW_BLOCK_BYTES is split along the rows.
    values = np.random.default_rng(4).standard_normal((64, 96))
    x = da.from_array(values, chunks=(8, 48))
    namespace = dask_adapter.namespace(x)

    def run(x):
        if operation == "take_along_axis":
            index = np.random.default_rng(5).integers(0, 96, size=(64, 10))
            return (namespace.take_along_axis(x, da.from_array(index, chunks=(32, 5)), axis=-1),
                    np.take_along_axis(values, index, axis=-1))
        return (getattr(namespace, operation)(x, axis=-1),
                getattr(np, operation)(values, axis=-1, kind="stable"))

    result, expected = run(x)
    assert result.chunks[0] == x.chunks[0]
    np.testing.assert_array_equal(result.compute(), expected)
    # Above the bound (here 4 rows' worth), the rows are split: no block holds more.
    monkeypatch.setattr(dask_adapter, "ROW_BLOCK_BYTES", 4 * 96 * values.itemsize)
    result, expected = run(x)
    assert max(result.chunks[0]) <= 4
    np.testing.assert_array_equal(result.compute(), expected)
    # A row larger than the bound still makes one block of its own.
    monkeypatch.setattr(dask_adapter, "ROW_BLOCK_BYTES", 8)
    assert namespace.sort(x, axis=-1).chunks == ((1,) * 64, (96,))


def test_a_hard_sample_of_many_row_and_class_blocks_builds_without_warnings():
    # Broadcasting one block per row against one per class gave Dask's PerformanceWarning
    # ("Increasing number of chunks by factor of 16") at build time; warnings are errors here.
    x = da.from_array(np.random.default_rng(3).normal(size=(48, 200)), chunks=(4, 7))
    y = gk.gumbel_softmax(x, hard=True, rng=0)
    assert y.chunks == x.chunks
    values = y.compute()
    np.testing.assert_array_equal(values.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(np.argmax(values, axis=-1), gk.gumbel_max(x, rng=0).compute())


@pytest.mark.parametrize("filters", [{"top_p": 0.9}, {"top_k": 5}, {"top_k": 5, "top_p": 0.9}])
def test_token_filters_of_a_chunked_class_axis_keep_the_row_blocks(filters):
    # Rows in one block, classes in many: a sort that split the rows into blocks of one row met
    # the logits' blocks again in the cross product (Dask's "Increasing number of chunks by
    # factor of 16", an error here, and a graph 16 times as large).
    values = np.random.default_rng(6).normal(size=(16, 2048))
    x = da.from_array(values, chunks=(16, 128))
    filtered = gk.filter_logits(x, **filters)
    assert filtered.numblocks[0] == 1
    np.testing.assert_array_equal(filtered.compute(), gk.filter_logits(values, **filters))
