"""Bad parameters raise errors that name the argument and say what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make, native_dtype, to_numpy

import gumbelkit as gk

LOGITS = [[0.1, 0.5, 0.4], [1.0, 0.0, -1.0]]
SAMPLERS = ["gumbel_softmax", "gumbel_max"]


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_tau_must_be_positive_and_finite(xp, tau):
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        gk.gumbel_softmax(make(xp, LOGITS), tau=tau, rng=0)


@pytest.mark.parametrize("tau", ["1.0", None, True, 1j])
def test_tau_must_be_a_number(xp, tau):
    with pytest.raises(TypeError, match="tau"):
        gk.gumbel_softmax(make(xp, LOGITS), tau=tau, rng=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_tau_array_with_a_bad_row(xp, backend, bad):
    logits = make(xp, LOGITS)
    tau = make(xp, [0.5, bad])
    # Reading tau is free on host arrays, so they are always checked; lazy and device arrays
    # are checked when validate=True asks for the sync, and otherwise give a NaN row.
    with pytest.raises(ValueError, match="tau must be positive and finite in every row"):
        gk.gumbel_softmax(logits, tau=tau, rng=0, validate=True)
    adapter = gk.backends.backend_for(logits)
    if adapter.is_host_readable(tau):
        with pytest.raises(ValueError, match="tau must be positive and finite"):
            gk.gumbel_softmax(logits, tau=tau, rng=0)
    else:
        for hard in (False, True):
            out = to_numpy(gk.gumbel_softmax(logits, tau=tau, rng=0, hard=hard))
            assert np.all(np.isfinite(out[0]))
            assert np.all(np.isnan(out[1]))


def test_tau_array_shape_must_broadcast_to_the_rows(xp):
    with pytest.raises(ValueError, match=r"tau of shape \(3,\) does not broadcast to \(2,\)"):
        gk.gumbel_softmax(make(xp, LOGITS), tau=make(xp, [1.0, 2.0, 3.0]), rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("axis", [2, -3, 10])
def test_axis_out_of_range(xp, sampler, axis):
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\)"):
        getattr(gk, sampler)(make(xp, LOGITS), axis=axis, rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("axis", [1.0, None, "0", True])
def test_axis_must_be_an_int(xp, sampler, axis):
    with pytest.raises(TypeError, match="axis must be an int"):
        getattr(gk, sampler)(make(xp, LOGITS), axis=axis, rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_logits_must_be_floating(xp, sampler, dtype):
    with pytest.raises(TypeError, match="logits must have a real floating dtype"):
        getattr(gk, sampler)(make(xp, [[1, 0, 1]], dtype), rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_logits_need_a_class(xp, sampler):
    with pytest.raises(ValueError, match="logits must have at least one class along axis -1"):
        getattr(gk, sampler)(make(xp, np.zeros((3, 0))), rng=0)
    with pytest.raises(ValueError, match="logits must have at least one dimension"):
        getattr(gk, sampler)(make(xp, 1.0), rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_logits_must_be_an_array(sampler):
    with pytest.raises(TypeError, match="logits must be an array of a supported library"):
        getattr(gk, sampler)([[0.0, 1.0]], rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_noise_of_the_wrong_shape(xp, sampler):
    with pytest.raises(ValueError, match=r"noise of shape \(2, 4\) does not broadcast to"):
        getattr(gk, sampler)(make(xp, LOGITS), noise=make(xp, np.zeros((2, 4))))
    # Noise may broadcast to the output but must not enlarge it.
    with pytest.raises(ValueError, match=r"noise of shape \(5, 2, 3\) does not broadcast"):
        getattr(gk, sampler)(make(xp, LOGITS), noise=make(xp, np.zeros((5, 2, 3))))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_noise_of_another_library(xp, backend, sampler):
    other = [1.0, 2.0, 3.0] if backend.adapter_name == "numpy" else np.zeros((2, 3))
    with pytest.raises(TypeError, match="noise must be an array of the same library as logits"):
        getattr(gk, sampler)(make(xp, LOGITS), noise=other)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_noise_and_rng_are_exclusive(xp, sampler):
    with pytest.raises(ValueError, match="noise and rng are exclusive"):
        getattr(gk, sampler)(make(xp, LOGITS), noise=make(xp, np.zeros((2, 3))), rng=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("rng", ["seed", 1.5, object(), True, [1, 2]])
def test_rng_of_the_wrong_kind(xp, sampler, rng):
    with pytest.raises(TypeError, match=r"rng for \w+ arrays must be"):
        getattr(gk, sampler)(make(xp, LOGITS), rng=rng)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_rng_seed_out_of_range(xp, sampler):
    for seed in (-1, 2**63):
        with pytest.raises(ValueError, match=r"rng as an int seed must lie in \[0, 2\*\*63\)"):
            getattr(gk, sampler)(make(xp, LOGITS), rng=seed)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize(("sample_shape", "error"), [
    ((-1,), ValueError), ((2.0,), TypeError), ("3", TypeError), (None, TypeError),
])
def test_sample_shape(xp, sampler, sample_shape, error):
    with pytest.raises(error, match="sample_shape"):
        getattr(gk, sampler)(make(xp, LOGITS), sample_shape=sample_shape, rng=0)


@pytest.mark.parametrize(("argument", "value"), [("hard", 1), ("hard", "yes"), ("validate", 0)])
def test_flags_must_be_bool(xp, argument, value):
    with pytest.raises(TypeError, match=f"{argument} must be True or False"):
        gk.gumbel_softmax(make(xp, LOGITS), rng=0, **{argument: value})


def test_keepdims_must_be_bool(xp):
    with pytest.raises(TypeError, match="keepdims must be True or False"):
        gk.gumbel_max(make(xp, LOGITS), rng=0, keepdims=1)


def test_unknown_estimator(xp):
    with pytest.raises(ValueError, match="estimator must be one of 'st'"):
        gk.gumbel_softmax(make(xp, LOGITS), rng=0, hard=True, estimator="reinforce")


class TestGumbelArguments:
    @pytest.mark.parametrize(("shape", "error"), [((-2,), ValueError), ((1.5,), TypeError),
                                                  ("3", TypeError)])
    def test_shape(self, shape, error):
        with pytest.raises(error, match="shape must"):
            gk.gumbel(shape, rng=0)

    @pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
    def test_scale(self, scale):
        with pytest.raises(ValueError, match="scale must be a positive finite number"):
            gk.gumbel(3, scale=scale, rng=0)

    @pytest.mark.parametrize("loc", [float("nan"), float("inf")])
    def test_loc(self, loc):
        with pytest.raises(ValueError, match="loc must be a finite number"):
            gk.gumbel(3, loc=loc, rng=0)

    def test_dtype_must_be_floating(self, xp):
        with pytest.raises(TypeError, match="dtype must be a real floating dtype"):
            gk.gumbel(3, dtype=native_dtype(xp, "int32"), rng=0, xp=xp)

    def test_xp_must_be_a_namespace(self):
        with pytest.raises(TypeError, match="xp must be an array namespace"):
            gk.gumbel(3, xp="numpy")
