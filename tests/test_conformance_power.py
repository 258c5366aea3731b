"""The checks of the conformance suite fail on planted wrong adapters.

Each planted adapter is the NumPy adapter with one defect a real adapter could have; the
suite's checks (gumbelkit/conformance/test_tails.py), called on it as on any third-party
backend, must fail, and pass on the unchanged adapter.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import minimal_adapter

from gumbelkit import backends
from gumbelkit.conformance import stats, test_tails
from gumbelkit.conformance.subjects import Subject


def _planted(name: str, **members: object) -> Subject:
    adapter = minimal_adapter("numpy", name=name, **members)
    return Subject(name, adapter, adapter.namespace(None))


def _coarse_uniform(rng, shape, dtype, device):
    # float32 uniforms carrying 16 random bits: a grid of 2**-16.
    u = np.floor(rng.random(shape, dtype=np.float64) * 2.0**16) * 2.0**-16
    return np.maximum(u, np.finfo(dtype).smallest_normal).astype(dtype), rng


def _half_precision_noise(u):
    # The noise computed in float16, then widened again: its upper tail stops near 7.
    # Kept inside float16's own open interval.
    half = np.clip(u.astype(np.float16), np.finfo(np.float16).smallest_normal,
                   np.float16(1.0 - 2.0**-11))
    return (-np.log(-np.log(half))).astype(u.dtype)


def _dropped_tail(x, mask, values):
    # A merge that keeps x: the redrawn upper tail never arrives, the textbook noise stays.
    return x


PLANTED = {
    "16-bit uniforms": {"uniform": _coarse_uniform},
    "float16 noise": {"gumbel_": _half_precision_noise},
}


def test_the_checks_pass_on_the_numpy_adapter():
    subject = _planted("control")
    test_tails.test_noise_upper_tail_is_exact_up_to_60(subject, "float32")
    test_tails.test_rare_classes_are_drawn_at_their_true_rate(subject, "float32")


@pytest.mark.parametrize("defect", PLANTED)
def test_the_tail_check_fails_a_planted_defect(defect):
    subject = _planted(defect, **PLANTED[defect])
    with pytest.raises(AssertionError):
        test_tails.test_noise_upper_tail_is_exact_up_to_60(subject, "float32")


def test_the_rate_check_fails_coarse_uniforms():
    # (A float16 body transform leaves the rare classes' rates alone: their noise comes from
    # the redrawn tail; the two checks above catch it.)
    subject = _planted("16-bit uniforms", **PLANTED["16-bit uniforms"])
    with pytest.raises(AssertionError):
        test_tails.test_rare_classes_are_drawn_at_their_true_rate(subject, "float32")


def _fused_missing_a_piece(rng, shape, dtype, device, threshold):
    # NumPy's fused body and sliver, but the positions of its last piece dropped (a draw it
    # leaves to the composed path, None, stays None).
    fused = backends.get_backend("numpy").gumbel_and_sliver(rng, shape, dtype, device,
                                                            threshold)
    if fused is None:
        return None
    noise, positions, rng = fused
    return noise, positions[positions < noise.size - 2**16], rng


def _fused_from_another_stream(rng, shape, dtype, device, threshold):
    # The right construction from a generator other than the one given.
    return backends.get_backend("numpy").gumbel_and_sliver(
        np.random.default_rng(12345), shape, dtype, device, threshold)


@pytest.mark.parametrize("defect", ["float16 noise", "textbook tail", "fused sliver short",
                                    "fused other stream"])
def test_the_contract_check_fails_a_planted_defect(defect):
    members = {**PLANTED, "textbook tail": {"scatter_masked_": _dropped_tail},
               "fused sliver short": {"gumbel_and_sliver": _fused_missing_a_piece},
               "fused other stream": {"gumbel_and_sliver": _fused_from_another_stream}}[defect]
    subject = _planted(defect, **members)
    with pytest.raises(AssertionError):
        test_tails.test_noise_members_keep_the_contract(subject, "float32")


def test_the_contract_check_passes_on_the_numpy_adapter():
    test_tails.test_noise_members_keep_the_contract(_planted("control"), "float32")
    fused = {"gumbel_and_sliver": backends.get_backend("numpy").gumbel_and_sliver}
    test_tails.test_noise_members_keep_the_contract(_planted("control", **fused), "float32")


def _verdict(what, *, dtype, n, statistic, pvalue, method):
    # The suite's rule (stats.check): a p-value at or below alpha fails.
    assert pvalue > stats.ALPHA, (what, pvalue)


def test_the_sliver_check_fails_coarse_uniforms_and_passes_the_control():
    subject = _planted("16-bit uniforms", **PLANTED["16-bit uniforms"])
    with pytest.raises(AssertionError):
        test_tails.test_uniforms_fill_the_top_sliver(subject, "float32", 1, 11, _verdict)
    for seed in (11, 12):
        test_tails.test_uniforms_fill_the_top_sliver(_planted("control"), "float32", 1, seed,
                                                     _verdict)


def _argmax_wrong_in_one_row_of_a_thousand(x, axis, keepdims=False):
    # The index path of a fast argmax that errs in one row of 1000: it picks the last class.
    index = np.argmax(x, axis=axis, keepdims=keepdims)
    flat = index.reshape(-1)
    flat[::1000] = x.shape[axis] - 1
    return index


def test_the_many_rows_check_fails_a_wrong_row_in_a_thousand():
    from gumbelkit.conformance import test_deterministic

    wrong = _planted("wrong row", argmax=_argmax_wrong_in_one_row_of_a_thousand)
    backends.register_backend(wrong.adapter)
    try:
        with pytest.raises(AssertionError, match="gumbel_max differs"):
            test_deterministic.test_every_index_path_equals_argmax_on_thousands_of_rows(
                wrong, "float32", 3)
    finally:
        backends.unregister_backend(wrong.adapter)
    control = _planted("control")
    backends.register_backend(control.adapter)
    try:
        test_deterministic.test_every_index_path_equals_argmax_on_thousands_of_rows(
            control, "float32", 3)
    finally:
        backends.unregister_backend(control.adapter)


def _search_wrong_in_one_row_of_a_thousand(table, values):
    # A per-row search that errs in one row of 1000: one entry too far there.
    found = np.stack([np.searchsorted(row, row_values)
                      for row, row_values in zip(table, values, strict=True)])
    found[517::1000] += 1
    return found


def _merge_wrong_in_one_row_of_a_thousand(first, second):
    # The merge's counts per row, one too many in one row of 1000.
    before_first = np.stack([np.searchsorted(b, a) for a, b in zip(first, second, strict=True)])
    before_second = np.stack([np.searchsorted(a, b, side="right")
                              for a, b in zip(first, second, strict=True)])
    before_second[517::1000] += 1
    return before_first, before_second


def _running_sum_in_float64(x):
    # A running sum through float64: exact below 2**53, rounded above (tables sum to 2**60).
    return np.cumsum(x.astype(np.float64), axis=-1).astype(x.dtype)


@pytest.mark.parametrize("defect", [{"search_rows": _search_wrong_in_one_row_of_a_thousand},
                                    {"merge_rows": _merge_wrong_in_one_row_of_a_thousand},
                                    {"running_sum": _running_sum_in_float64}],
                         ids=["search wrong in one row of 1000", "merge wrong in one row of 1000",
                              "running sum in float64"])
def test_the_table_members_check_fails_a_planted_defect_and_passes_the_control(defect):
    from gumbelkit.conformance import test_categorical

    with pytest.raises(AssertionError):
        test_categorical.test_table_members_keep_the_contract(_planted("wrong table", **defect))
    test_categorical.test_table_members_keep_the_contract(_planted("control"))


class _Registered:
    """Register a planted adapter for the suite's sampled checks, which call gumbelkit."""

    def __init__(self, subject: Subject) -> None:
        self.subject = subject

    def __enter__(self) -> Subject:
        backends.register_backend(self.subject.adapter)
        return self.subject

    def __exit__(self, *exc: object) -> None:
        backends.unregister_backend(self.subject.adapter)


@pytest.mark.parametrize("defect", PLANTED)
def test_the_resolution_check_fails_a_planted_defect(defect):
    with _Registered(_planted(defect, **PLANTED[defect])) as subject, pytest.raises(
            AssertionError, match="distinct values"):
        test_tails.test_noise_takes_as_many_distinct_values_as_its_grid_gives(
            subject, "float32", 3)


def test_the_quantile_check_fails_float16_noise():
    # (16-bit uniforms reach 11.1, past four of the five quantiles: the resolution and sliver
    # checks are the ones for them.)
    with _Registered(_planted("float16 noise", **PLANTED["float16 noise"])) as subject, \
            pytest.raises(AssertionError):
        test_tails.test_noise_upper_quantiles(subject, "float32", 1, 3, _verdict)


@pytest.mark.parametrize("seed", [3, None])
def test_the_resolution_and_quantile_checks_pass_the_control(seed):
    # None: a fresh seed, as the suite's --fresh-seed mode draws one.
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
    with _Registered(_planted("control")) as subject:
        for dtype in ("float32", "float64"):
            test_tails.test_noise_takes_as_many_distinct_values_as_its_grid_gives(
                subject, dtype, seed)
            test_tails.test_noise_upper_quantiles(subject, dtype, 1, seed, _verdict)


def _fused_textbook_softmax(logits, tau, axis, sample_shape, rng):
    # A fused soft sample, as a kernel would draw it, with the textbook noise of its own (rng
    # is the caller's: a seed here).
    shape = tuple(sample_shape) + logits.shape
    generator = np.random.default_rng(rng)
    u = np.maximum(generator.random(shape, dtype=np.float32),
                   np.finfo(np.float32).smallest_normal)
    z = (logits - np.log(-np.log(u))) / tau
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return (z / z.sum(axis=axis, keepdims=True)).astype(logits.dtype)


def test_the_own_noise_check_fails_a_fused_sampler_with_other_noise():
    from gumbelkit.conformance import test_deterministic

    wrong = _planted("fused textbook", fused_gumbel_softmax=_fused_textbook_softmax)
    with _Registered(wrong) as subject, pytest.raises(AssertionError, match="soft draws other"):
        test_deterministic.test_samplers_draw_the_noise_that_gumbel_draws(subject, "float32", 3)
    with _Registered(_planted("control")) as subject:
        test_deterministic.test_samplers_draw_the_noise_that_gumbel_draws(subject, "float32", 3)


@pytest.mark.parametrize("gap", [18, 19])
def test_the_rare_mass_design_fails_textbook_noise_and_passes_the_control(gap):
    # The suite runs these designs with --thorough only (3.1e9 and 4.7e9 noise values per
    # backend); here on the NumPy adapter and on one whose merge drops the redrawn tail (the
    # textbook noise), at the designs' sizes (factor 10 is --thorough's).
    from gumbelkit.conformance import test_gumbel_max

    check = {18: test_gumbel_max.test_rare_classes_18_nats_down_at_their_rate,
             19: test_gumbel_max.test_rare_classes_19_nats_down_at_their_rate}[gap]
    # With the NumPy adapter's fast members (threads included): 6 to 9 s each, not minutes.
    numpy_adapter = backends.get_backend("numpy")
    fast = {member: getattr(numpy_adapter, member) for member in backends.OPTIONAL_MEMBERS
            if getattr(numpy_adapter, member, None) is not None}
    textbook = {**fast, "put_": lambda x, positions, values: x,
                "scatter_masked_": _dropped_tail}
    with _Registered(_planted("textbook tail", **textbook)) as subject, \
            pytest.raises(AssertionError, match=f"65,536 classes {gap} nats down"):
        check(subject, 10, 3, _verdict)
    with _Registered(_planted("control", **fast)) as subject:
        check(subject, 10, 3, _verdict)


def test_to_numpy_reads_an_array_by_dlpack_and_names_one_it_cannot_read():
    # np.asarray does not refuse an object it cannot read: it wraps it in a 0-d object array.
    # An array with DLPack but no __array__ is read by DLPack; one with neither is an error.
    from gumbelkit.testing import to_numpy

    class OnlyDLPack:
        def __init__(self, values):
            self._values = np.asarray(values)

        def __dlpack__(self, **kwargs):
            return self._values.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self._values.__dlpack_device__()

    read = to_numpy(OnlyDLPack([[1.5, -2.0], [0.25, 3.0]]))
    assert read.dtype == np.float64
    np.testing.assert_array_equal(read, [[1.5, -2.0], [0.25, 3.0]])
    with pytest.raises(TypeError, match="cannot read the values of a object"):
        to_numpy(object())


def test_to_numpy_reads_resolved_views_and_arrays_off_the_cpu():
    # PyTorch has no NumPy view of a conjugate or negative view ("Can't call numpy() on Tensor
    # that has negative bit set"); array-api-strict's np.asarray refuses an array on another
    # of its devices with a RuntimeError, which DLPack reads.
    from gumbelkit.testing import to_numpy

    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    complex_values = torch.tensor([1 + 2j, -3 - 0.5j])
    np.testing.assert_array_equal(to_numpy(complex_values.conj().imag), [-2.0, 0.5])
    np.testing.assert_array_equal(to_numpy(complex_values.conj()), [1 - 2j, -3 + 0.5j])
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    elsewhere = strict.asarray([1.0, 2.0], device=strict.Device("device1"))
    np.testing.assert_array_equal(to_numpy(elsewhere), [1.0, 2.0])


@pytest.mark.parametrize("name", ["numpy", "torch", "dask.array", "array_api_strict"])
def test_asarray_takes_values_of_either_byte_order(name):
    # PyTorch refused a big-endian NumPy array ("given numpy array has byte order different
    # from the native byte order").
    from gumbelkit.testing import asarray, to_numpy

    xp = pytest.importorskip(name, reason=f"{name} is not installed")
    for dtype, values in (("float64", [1.5, -2.0]), ("float32", [1.5, -2.0]), ("int32", [1, -2]),
                          ("bfloat16", [1.5, -2.0])):
        if dtype == "bfloat16" and name != "torch":
            continue  # the others have no bfloat16
        big = np.array(values, dtype=">f8" if dtype != "int32" else ">i4")
        np.testing.assert_array_equal(to_numpy(asarray(xp, big, dtype)), values)
