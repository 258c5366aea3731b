"""Bad parameters raise errors that name the argument and say what was expected."""

from __future__ import annotations

import warnings
from fractions import Fraction

import array_api_compat
import numpy as np
import pytest
from helpers import make, native_dtype, to_numpy
from numpy.testing import assert_array_equal

import gumbelkit as gk
from gumbelkit.distributions import HardConcrete, RelaxedOneHotCategorical

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
    with pytest.raises(ValueError, match="tau must be positive and finite everywhere"):
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


# --- numbers beyond the float range, arrays as shapes ------------------------------------------


@pytest.mark.parametrize("big", [10**400, -(10**400), Fraction(10**400)],
                         ids=["int", "negative-int", "fraction"])
def test_numbers_beyond_the_float_range_name_the_argument(xp, big):
    logits = make(xp, LOGITS)
    with pytest.raises(ValueError, match=r"tau must be a positive finite number; got .* beyond"):
        gk.gumbel_softmax(logits, tau=big, rng=0)
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        gk.relaxed_top_k(logits, 2, tau=big, rng=0)
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        RelaxedOneHotCategorical(logits, big)
    with pytest.raises(ValueError, match=r"loc must be a finite number; got .* beyond"):
        gk.gumbel(3, loc=big, rng=0, xp=xp)
    with pytest.raises(ValueError, match="scale must be a positive finite number"):
        gk.gumbel(3, scale=big, rng=0, xp=xp)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("shape", [np.array([2]), np.array(2), np.array([2, 3])],
                         ids=["1-d", "0-d", "2-entries"])
def test_shapes_refuse_arrays(xp, sampler, shape):
    # A shape is a Python value, the same on every backend and under a trace: an array, a NumPy
    # integer array too, is refused with what to write instead.
    message = r"sample_shape must be an int or a tuple of ints, not an array; got a numpy\.ndarray"
    with pytest.raises(TypeError, match=message):
        getattr(gk, sampler)(make(xp, LOGITS), sample_shape=shape, rng=0)
    with pytest.raises(TypeError, match=r"shape must be an int or a tuple of ints, not an array"):
        gk.gumbel(shape, rng=0, xp=xp)


def test_numpy_integer_scalars_are_sizes(xp):
    out = gk.gumbel_max(make(xp, LOGITS), sample_shape=(np.int64(4),), rng=0)
    assert tuple(out.shape) == (4, 2)
    assert tuple(gk.gumbel(np.int32(3), rng=0, xp=xp).shape) == (3,)


def test_a_device_the_library_does_not_have_is_named(xp):
    # Each library refuses a device in its own words and types (PyTorch without CUDA by an
    # AssertionError); gumbel, whose device is an argument, names it.
    for device in ("no-such-device", 3.5):
        with pytest.raises(ValueError, match="device must be a device that"):
            gk.gumbel(3, device=device, rng=0, xp=xp)
    default = gk.gumbel(3, rng=0, xp=xp)
    same = gk.gumbel(3, device=array_api_compat.device(default), rng=0, xp=xp)
    np.testing.assert_array_equal(to_numpy(same), to_numpy(default))


def _arguments_beside_logits(lib, device):
    """Every array argument beside the logits (2, 3), made on ``device`` by ``lib``."""
    def on(values, dtype):
        return lib.asarray(values, dtype=dtype, device=device)

    rows = on([1.0, 2.0], lib.float32)
    return {
        "tau": lambda x: gk.gumbel_softmax(x, tau=rows, rng=0),
        "noise": lambda x: gk.gumbel_softmax(x, noise=on([[0.0] * 3] * 2, lib.float32)),
        "mask": lambda x: gk.gumbel_max(x, mask=on([[True] * 3] * 2, lib.bool), rng=0),
        "temperature": lambda x: gk.sample_tokens(x, temperature=rows, rng=0),
        "top_p": lambda x: gk.filter_logits(x, top_p=on([0.5, 0.5], lib.float32)),
        "index": lambda x: gk.conditional_gumbel(x, on([0, 1], lib.int64), rng=0),
        "indices": lambda x: gk.plackett_luce_log_prob(x, on([[0, 1], [1, 0]], lib.int64)),
        "relaxed tau": lambda x: gk.relaxed_top_k(x, 2, tau=rows, rng=0),
        "distribution tau": lambda x: gk.distributions.RelaxedOneHotCategorical(x, rows),
        "value": lambda x: gk.distributions.RelaxedOneHotCategorical(x, 0.5).log_prob(
            on([[0.25, 0.25, 0.5]] * 2, lib.float32)),
    }


def test_an_array_on_another_device_is_named():
    # array-api-strict refuses to mix its devices, in its own words: gumbelkit names the
    # argument first, for every array argument beside the logits.
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    here, there = strict.__array_namespace_info__().devices()[:2]
    logits = strict.zeros((2, 3), device=here)
    for name, call in _arguments_beside_logits(strict, there).items():
        argument = name.split()[-1]
        with pytest.raises(ValueError, match=rf"^{argument} must be on the device of "
                                             rf"(logits|the parameters) \(.*CPU_DEVICE.*\); "
                                             rf"got an array on .*device1"):
            call(logits)
    for call in _arguments_beside_logits(strict, here).values():  # the same device: no error
        call(logits)
    # Seeds are read to the host (the default map_seeds), never combined with the logits.
    seeds = strict.asarray([1, 2], dtype=strict.int64, device=there)
    assert gk.sample_tokens(logits, seeds=seeds).device == here


def test_a_torch_tensor_on_another_device_is_named():
    # PyTorch's meta device stands in for a GPU here; a 0-d CPU tensor is what PyTorch itself
    # combines with a tensor on any device, and is taken.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.zeros(2, 3)
    for name, call in _arguments_beside_logits(torch, "meta").items():
        with pytest.raises(ValueError, match=rf"^{name.split()[-1]} must be on the device of "
                                             r"(logits|the parameters) \(cpu\); got an array "
                                             r"on meta"):
            call(logits)
    tau = torch.tensor(0.5)
    assert torch.equal(gk.gumbel_softmax(logits, tau=tau, rng=0),
                       gk.gumbel_softmax(logits, tau=0.5, rng=0))
    # With logits on meta: 0-d CPU tensors of every argument that takes one, and CPU seeds,
    # which are read to the host.
    on_meta = torch.zeros(2, 3, device="meta")
    for out in (gk.gumbel_softmax(on_meta, tau=tau, rng=0),
                gk.sample_tokens(on_meta, temperature=tau, top_k=torch.tensor(2),
                                 top_p=torch.tensor(0.9), rng=0),
                gk.conditional_gumbel(on_meta, torch.tensor(1), rng=0),
                gk.sample_tokens(on_meta, seeds=torch.tensor([1, 2]))):
        assert out.device.type == "meta"


def test_zero_dimensional_tau_of_another_library_is_refused(xp, backend):
    # A NumPy scalar is a number; a 0-d array is an array, which must be of the logits' library.
    if backend.adapter_name == "numpy":
        pytest.skip("a 0-d NumPy array is an array of the logits' library here")
    with pytest.raises(TypeError, match="tau must be an array of the same library as logits"):
        gk.gumbel_softmax(make(xp, LOGITS), tau=np.asarray(0.5), rng=0)


# --- the habits of other libraries ---------------------------------------------------------------


def _habit_calls(logits: object) -> list[tuple[object, str]]:
    """Calls written with another library's habits, and the start of what each must say."""
    return [
        (lambda: gk.gumbel_softmax(logits, 0.5, True),
         r"gumbel_softmax takes logits by position and everything else by keyword \(tau, hard, "
         r"axis, .*\): write gumbel_softmax\(logits, tau=0\.5, hard=True\)"),
        (lambda: gk.gumbel_softmax(logits, tau=0.5, dim=-1),
         r"gumbel_softmax has no keyword dim: gumbelkit calls it axis; write axis=-1"),
        (lambda: gk.gumbel_softmax(logits, eps=1e-10),
         r"gumbel_softmax takes no eps: .* open interval \(0, 1\).*drop eps=1e-10"),
        (lambda: gk.gumbel_softmax(logits, temperature=2.0),
         r"gumbel_softmax has no keyword temperature: gumbelkit calls it tau; write tau=2\.0"),
        (lambda: gk.gumbel_softmax(logits, taus=2.0),
         r"unexpected keyword argument 'taus' \(did you mean tau\?\); its keywords are tau, "),
        (lambda: gk.gumbel_max(logits, 0),
         r"gumbel_max takes logits by position .*: write gumbel_max\(logits, axis=0\)"),
        (lambda: gk.gumbel_max(logits, dim=0, keepdims=True),
         r"gumbel_max has no keyword dim: gumbelkit calls it axis; write axis=0"),
        (lambda: gk.gumbel_max(logits, generator=None),
         r"gumbel_max has no keyword generator: gumbelkit calls it rng; write rng=None"),
        (lambda: gk.gumbel_top_k(logits, 2, dim=-1),
         r"gumbel_top_k has no keyword dim: gumbelkit calls it axis; write axis=-1"),
        (lambda: gk.relaxed_top_k(logits, 2, 0.5),
         r"relaxed_top_k takes logits and k by position .*: write "
         r"relaxed_top_k\(logits, k, tau=0\.5\)"),
        (lambda: gk.conditional_gumbel(logits, 0, dim=-1),
         r"conditional_gumbel has no keyword dim: gumbelkit calls it axis; write axis=-1"),
        (lambda: gk.gumbel((2, 3), 0.0, 2.0),
         r"gumbel takes shape by position .*: write gumbel\(shape, loc=0\.0, scale=2\.0\)"),
        (lambda: gk.gumbel(3, key=0),
         r"gumbel has no keyword key: gumbelkit calls it rng; write rng=0"),
    ]


@pytest.mark.parametrize("case", range(len(_habit_calls(None))))
def test_habits_of_other_libraries_say_what_to_write(xp, case):
    call, message = _habit_calls(make(xp, LOGITS))[case]
    with pytest.raises(TypeError, match=message):
        call()


def test_long_values_are_not_spelled_out(xp):
    logits = make(xp, LOGITS)
    with pytest.raises(TypeError, match=r"write gumbel_softmax\(logits, tau=\.\.\.\)"):
        gk.gumbel_softmax(logits, make(xp, [0.5, 1.0]))


@pytest.mark.parametrize("value", [[[0.0, 1.0]], ((0.0, 1.0),), 1.0],
                         ids=["list", "tuple", "float"])
def test_python_values_as_logits_say_how_to_convert(value):
    expected = (r"logits must be an array of a supported library .*; got a "
                rf"{type(value).__name__}: convert logits with numpy\.asarray \(or your "
                r"library's asarray\)")
    for call in (lambda: gk.gumbel_softmax(value, rng=0), lambda: gk.gumbel_max(value, rng=0),
                 lambda: gk.gumbel_top_k(value, 1, rng=0),
                 lambda: gk.relaxed_top_k(value, 1, rng=0),
                 lambda: gk.conditional_gumbel(value, 0, rng=0),
                 lambda: RelaxedOneHotCategorical(value, 0.5)):
        with pytest.raises(TypeError, match=expected):
            call()
    with pytest.raises(TypeError, match=r"log_alpha .*; got a \w+: convert log_alpha with"):
        HardConcrete(value)


# --- scaled noise --------------------------------------------------------------------------------


class TestScaledNoiseRange:
    """loc + scale * G must stay finite in the dtype for every value the noise can take."""

    def test_a_scale_that_overflows_float64_is_refused(self, xp):
        dtype = native_dtype(xp, "float64")
        with pytest.raises(ValueError, match=r"scale must keep loc \+ scale \* G finite in "
                                             r".*float64.* got loc=0\.0 and scale=1e\+308"):
            gk.gumbel(10_000, scale=1e308, dtype=dtype, rng=0, xp=xp)

    def test_a_loc_beyond_float32_is_refused(self, xp):
        dtype = native_dtype(xp, "float32")
        with pytest.raises(ValueError, match=r"loc must keep loc \+ scale \* G finite"):
            gk.gumbel(3, loc=1e39, dtype=dtype, rng=0, xp=xp)

    def test_float16_takes_only_what_its_range_holds(self, xp):
        dtype = native_dtype(xp, "float16")
        # float16's largest value is 65504 and float32 noise reaches at most 103.3.
        with pytest.raises(ValueError, match=r"scale must keep .*float16 \(largest 65504, to "
                                             r"which the cast rounds sums up to 65519\.9\)"):
            gk.gumbel(3, scale=650.0, dtype=dtype, rng=0, xp=xp)
        assert np.isfinite(to_numpy(gk.gumbel(1000, scale=600.0, dtype=dtype, rng=0,
                                              xp=xp))).all()

    def test_float16_takes_a_loc_at_its_largest_value(self, xp):
        # The float32 sums -65504 + 1e-3 * G lie within float16's rounding of its largest
        # value (half its spacing of 32 there), so every cast is -65504: the call is valid.
        dtype = native_dtype(xp, "float16")
        shifted = to_numpy(gk.gumbel(1000, loc=-65504.0, scale=1e-3, dtype=dtype, rng=0, xp=xp))
        np.testing.assert_array_equal(shifted, np.full(1000, -65504.0, np.float16))
        with pytest.raises(ValueError, match=r"loc must keep .* got loc=65520\.0"):
            gk.gumbel(3, loc=65520.0, scale=1e-3, dtype=dtype, rng=0, xp=xp)


def test_sizes_no_array_holds_are_named(xp):
    # 2**40 x 2**40 draws: a clear error naming the argument, before any backend overflows or
    # a machine runs out of memory.
    huge = (2**40, 2**40)
    with pytest.raises(ValueError, match=r"sample_shape \(1099511627776, 1099511627776\) "
                                         r"with logits of shape \(2, 3\) asks for \d+ "
                                         r"values or a size of 2\*\*63 or more, more than any "
                                         r"array holds"):
        gk.gumbel_max(make(xp, LOGITS), sample_shape=huge, rng=0)
    with pytest.raises(ValueError, match=r"sample_shape .* more than any array holds"):
        gk.categorical(make(xp, LOGITS), sample_shape=huge, rng=0)
    with pytest.raises(ValueError, match=r"shape \(1099511627776, 1099511627776\) asks for"):
        gk.gumbel(huge, rng=0, xp=xp)
    with pytest.raises(ValueError, match=r"sample_shape .* with the batch and a pair of shape"):
        HardConcrete(make(xp, LOGITS)).rsample(huge, rng=0)
    # 2**62 draws of 2 x 3 logits are 6 times 2**62 values.
    with pytest.raises(ValueError, match="more than any array holds"):
        gk.gumbel_max(make(xp, LOGITS), sample_shape=2**62, rng=0)
    # No values, but a size no array has.
    with pytest.raises(ValueError, match=r"sample_shape \(0, 1180591620717411303424\) .* a size "
                                         r"of 2\*\*63 or more"):
        gk.gumbel_max(make(xp, LOGITS), sample_shape=(0, 2**70), rng=0)
    with pytest.raises(ValueError, match=r"shape \(18446744073709551616, 0\) asks for 0 values"):
        gk.gumbel((2**64, 0), rng=0, xp=xp)


def test_an_ml_dtypes_bfloat16_numpy_array_is_refused_as_numpys_missing_dtype():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    with pytest.raises(TypeError, match=r"got bfloat16 \(numpy has no bfloat16\)"):
        gk.gumbel_max(np.zeros(3, dtype=ml_dtypes.bfloat16), rng=0)


def test_float8_logits_are_refused_by_name():
    # PyTorch's float8 reductions do not run on the CPU: refused where every dtype is checked.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    message = r"logits must have a real floating dtype \(float16, bfloat16, float32 or float64\)"
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        for call in (gk.gumbel_max, gk.gumbel_softmax, gk.sample_tokens):
            with pytest.raises(TypeError, match=message):
                call(torch.zeros(2, 3, dtype=dtype), rng=0)


def test_estimator_parameters_beyond_range_are_named():
    with pytest.raises(ValueError, match="gap must be a positive finite float"):
        gk.Gapped(10**400)
    with pytest.raises(TypeError, match="gap must be a positive float or 'p'; got array"):
        gk.Gapped(np.array([1.0, 2.0]))  # compared with "p" first, it was NumPy's error
    # The conditional draws happen where a gradient is taken: PyTorch's.
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"GumbelRao\.samples .* 2\*\*63"):
        gk.gumbel_softmax(logits, hard=True, estimator=gk.GumbelRao(2**62), rng=0)


def test_unknown_sizes_are_named():
    da = pytest.importorskip("dask.array", reason="Dask is not installed")
    x = da.from_array(np.random.default_rng(0).normal(size=(6, 3)), chunks=3)
    unknown = x[x[:, 0] > -1]  # boolean indexing: NaN sizes until computed
    for call in (gk.gumbel_max, gk.gumbel_softmax, gk.sample_tokens, gk.categorical):
        with pytest.raises(ValueError, match=r"logits must have a known shape; got \(nan, 3\)"):
            call(unknown, rng=0)


def test_registry_and_threads_name_what_is_wrong():
    from gumbelkit import backends

    with pytest.raises(ValueError, match="is not registered"):
        backends.unregister_backend(backends.get_backend("numpy"))
    with pytest.raises(TypeError, match="name must be a str"):
        backends.get_backend(1)
    previous = gk.get_num_threads()
    try:
        gk.set_num_threads(np.int64(2))  # an integer of NumPy's, as elsewhere
        assert gk.get_num_threads() == 2
        assert type(gk.get_num_threads()) is int
    finally:
        gk.set_num_threads(None)
    assert gk.get_num_threads() == previous


def test_numpy_masked_arrays_and_matrices_are_refused():
    # A masked array's mask would go unseen (the masked class drawn); a matrix keeps two
    # dimensions after a reduction. Both say what to pass instead, or what they are.
    masked = np.ma.masked_array([0.0, 1.0, 2.0], mask=[False, False, True])
    with pytest.raises(TypeError, match=r"masked array.*mask=~numpy\.ma\.getmaskarray"):
        gk.gumbel_max(masked, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy's, on any matrix
        matrix = np.matrix([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(TypeError, match=r"got numpy\.matrix"):
        gk.gumbel_max(matrix, rng=0)
    with pytest.raises(TypeError, match="tau must be an array of the same library"):
        gk.gumbel_softmax(np.zeros((1, 3)), tau=np.ma.masked_array([1.0]), rng=0)
    draws = gk.gumbel_max(masked.filled(0.0), mask=~np.ma.getmaskarray(masked),
                          sample_shape=(200,), rng=0)
    assert not (draws == 2).any()


def test_the_testing_helpers_check_their_arguments():
    # gumbelkit.testing is public, for third parties' adapter tests: a wrong argument is named
    # there too, not turned into a function posing as a dtype or a reversed law.
    from gumbelkit import testing

    with pytest.raises(ValueError, match="name must be a dtype's name"):
        testing.has_dtype(np, "sum")
    with pytest.raises(ValueError, match="name must be a dtype's name"):
        testing.get_dtype(np, "random")
    assert testing.get_dtype(np, "float32") is np.float32
    for tau in (-1.0, 0.0, np.nan, [1.0, -1.0]):
        with pytest.raises(ValueError, match="tau must be positive"):
            testing.reference_softmax([[1.0, 2.0], [0.0, 0.0]], tau=tau)
    for u in ([0.0, 0.5], [0.5, 1.0], [np.nan], [1.5]):
        with pytest.raises(ValueError, match=r"u must lie in the open interval \(0, 1\)"):
            testing.reference_gumbel(u)


def test_a_list_of_ints_is_read_as_the_tuple(xp):
    # As NumPy and PyTorch read a shape: the draw is the tuple's, value for value.
    logits = make(xp, LOGITS)
    assert_array_equal(to_numpy(gk.gumbel_max(logits, sample_shape=[3, 2], rng=5)),
                       to_numpy(gk.gumbel_max(logits, sample_shape=(3, 2), rng=5)))
    assert_array_equal(to_numpy(gk.gumbel([2, 3], rng=5, xp=xp)),
                       to_numpy(gk.gumbel((2, 3), rng=5, xp=xp)))
