"""Empty batches give empty results: every sampler, every backend (docs/numeric-contract.md).

A batch is empty where the logits have no rows (a zero-length axis other than the class axis)
or the sample shape has a zero. The expected shape follows from the documented output shapes
alone (``sample_shape + logits.shape``, the class axis replaced by ``k`` for the top-k indices
and removed for the argmax); the expected dtype is the logits' for values and the namespace's
default index dtype for indices.
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest
from helpers import assert_same_namespace_device, make, to_numpy

import gumbelkit as gk
from gumbelkit import distributions as gkd

K = 2  # the top-k size
VALUES, INDICES = "values", "indices"

# Each sampler: (how it draws from logits, sample_shape and a seed; what it returns; the class
# axis' fate in the output: "kept", "k" or "dropped").
SAMPLERS = {
    "gumbel_softmax": (lambda lg, s, r: gk.gumbel_softmax(lg, sample_shape=s, rng=r),
                       VALUES, "kept"),
    "gumbel_softmax_hard": (lambda lg, s, r: gk.gumbel_softmax(lg, hard=True, sample_shape=s,
                                                               rng=r), VALUES, "kept"),
    "gumbel_max": (lambda lg, s, r: gk.gumbel_max(lg, sample_shape=s, rng=r), INDICES,
                   "dropped"),
    "gumbel_top_k": (lambda lg, s, r: gk.gumbel_top_k(lg, K, sample_shape=s, rng=r), INDICES,
                     "k"),
    "relaxed_top_k": (lambda lg, s, r: gk.relaxed_top_k(lg, K, sample_shape=s, rng=r), VALUES,
                      "kept"),
    "relaxed_top_k_hard": (lambda lg, s, r: gk.relaxed_top_k(lg, K, hard=True, sample_shape=s,
                                                              rng=r), VALUES, "kept"),
    "conditional_gumbel": (lambda lg, s, r: gk.conditional_gumbel(lg, 1, sample_shape=s, rng=r),
                           VALUES, "kept"),
    "RelaxedOneHotCategorical.rsample": (
        lambda lg, s, r: gkd.RelaxedOneHotCategorical(lg, 0.5).rsample(s, rng=r), VALUES, "kept"),
    "RelaxedOneHotCategorical.sample": (
        lambda lg, s, r: gkd.RelaxedOneHotCategorical(lg, 0.5).sample(s, rng=r), VALUES, "kept"),
    "ExpRelaxedOneHotCategorical.rsample": (
        lambda lg, s, r: gkd.ExpRelaxedOneHotCategorical(lg, 0.5).rsample(s, rng=r), VALUES,
        "kept"),
    "ExpRelaxedOneHotCategorical.sample": (
        lambda lg, s, r: gkd.ExpRelaxedOneHotCategorical(lg, 0.5).sample(s, rng=r), VALUES,
        "kept"),
    "RelaxedBernoulli.rsample": (
        lambda lg, s, r: gkd.RelaxedBernoulli(lg, 0.5).rsample(s, rng=r), VALUES, "kept"),
    "RelaxedBernoulli.sample": (
        lambda lg, s, r: gkd.RelaxedBernoulli(lg, 0.5).sample(s, rng=r), VALUES, "kept"),
    "LogitRelaxedBernoulli.rsample": (
        lambda lg, s, r: gkd.LogitRelaxedBernoulli(lg, 0.5).rsample(s, rng=r), VALUES, "kept"),
    "LogitRelaxedBernoulli.sample": (
        lambda lg, s, r: gkd.LogitRelaxedBernoulli(lg, 0.5).sample(s, rng=r), VALUES, "kept"),
    "HardConcrete.rsample": (
        lambda lg, s, r: gkd.HardConcrete(lg).rsample(s, rng=r), VALUES, "kept"),
    "HardConcrete.sample": (
        lambda lg, s, r: gkd.HardConcrete(lg).sample(s, rng=r), VALUES, "kept"),
}

# (logits shape, sample_shape): no rows, no samples, and both.
EMPTY = [((0, 3), ()), ((2, 0, 3), (2,)), ((2, 3), (0,)), ((3,), (4, 0)), ((0, 3), (0,))]


def _seed(xp):
    """A seed the backend accepts (JAX wants a key; every other backend takes an int)."""
    if "jax" in xp.__name__:
        import jax

        return jax.random.key(0)
    return 0


def _expected_shape(logits_shape, sample_shape, fate):
    shape = (*sample_shape, *logits_shape)
    if fate == "dropped":
        return shape[:-1]
    if fate == "k":
        return (*shape[:-1], K)
    return shape


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("logits_shape", "sample_shape"), EMPTY)
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_an_empty_batch_gives_an_empty_result(xp, sampler, logits_shape, sample_shape, dtype):
    draw, kind, fate = SAMPLERS[sampler]
    logits = make(xp, np.zeros(logits_shape), dtype)
    out = draw(logits, sample_shape, _seed(xp))
    assert_same_namespace_device(out, logits)
    expected = _expected_shape(logits_shape, sample_shape, fate)
    assert tuple(out.shape) == expected
    namespace = array_api_compat.array_namespace(logits)
    if kind == VALUES:
        assert out.dtype == logits.dtype
    else:
        info = namespace.__array_namespace_info__()
        assert out.dtype == info.default_dtypes(device=array_api_compat.device(logits))[
            "indexing"
        ]
    computed = to_numpy(out)  # Dask computes here
    assert computed.shape == expected
    assert computed.size == 0


# (0, 2, 257): Dask's "auto" chunking of an empty draw divided by the size of a block, 0.
@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (0, 2, 257)])
def test_gumbel_of_an_empty_shape_is_empty(xp, shape):
    noise = gk.gumbel(shape, xp=xp, rng=_seed(xp))
    like = make(xp, 0.0)
    assert_same_namespace_device(noise, like)
    info = array_api_compat.array_namespace(like).__array_namespace_info__()
    assert tuple(noise.shape) == shape
    assert noise.dtype == info.default_dtypes()["real floating"]
    assert to_numpy(noise).shape == shape


@pytest.mark.parametrize("family", [gkd.RelaxedBernoulli, gkd.LogitRelaxedBernoulli])
def test_no_samples_of_a_long_binary_batch(xp, family):
    # Its draw (0, 300, 2) was chunked "auto" on Dask, which divided by an empty block's size.
    sample = family(make(xp, np.zeros(300)), 0.5).rsample((0,), rng=_seed(xp))
    assert to_numpy(sample).shape == (0, 300)
