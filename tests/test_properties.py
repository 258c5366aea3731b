"""Property-based tests of the public contract (docs/numeric-contract.md, docs/api.md).

Each sampler gets one property test that draws valid inputs and checks what the contract
promises for them, and one test draws invalid arguments and checks the error that names them.

Backends come from the ``backend`` and ``xp`` fixtures of ``conftest.py``: every test runs on
every built-in backend, and a backend that cannot run here (CuPy without a CUDA GPU, a library
that is not installed) is reported as skipped with its reason; it is never drawn. Within a
backend only what it can represent is drawn: the dtypes its catalogue entry lists
(``builtin_backend(name).dtypes``, so never bfloat16 for NumPy, Dask or array-api-strict),
plus the big-endian float64 ``">f8"`` for NumPy and Dask.

The examples are derandomized, so CI draws the same ones on every run. For fresh randomness
and ten times the examples, run::

    GUMBELKIT_HYPOTHESIS_FRESH=1 .venv/bin/python -m pytest tests/test_properties.py

A failure prints the minimal example and a ``@reproduce_failure`` blob; no example database is
kept (Hypothesis still caches source constants in the git-ignored ``.hypothesis/``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gumbelkit as gk
from gumbelkit.backends import builtin_backend
from gumbelkit.testing import asarray, assert_same_namespace_device, get_dtype, to_numpy

FRESH = os.environ.get("GUMBELKIT_HYPOTHESIS_FRESH") == "1"


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * 10 if FRESH else examples,
        deadline=None,  # JAX compiles every new shape on first use
        derandomize=not FRESH,
        database=None,  # writes nothing; a failure prints its reproducer instead
        print_blob=True,
    )


# Per test and backend (JAX: a quarter, Dask: half: check_property), so that the file runs in
# under a minute on two cores.
VALID_EXAMPLES = 16
INVALID_EXAMPLES = 10

BIG_ENDIAN = ">f8"
# Largest finite value and machine epsilon; NumPy has no bfloat16 to ask.
FINFO = {
    "float16": (float(np.finfo(np.float16).max), 2.0**-10),
    "bfloat16": ((2.0 - 2.0**-7) * 2.0**127, 2.0**-7),
    "float32": (float(np.finfo(np.float32).max), 2.0**-23),
    "float64": (float(np.finfo(np.float64).max), 2.0**-52),
    BIG_ENDIAN: (float(np.finfo(np.float64).max), 2.0**-52),
}
# Bounds of any noise drawn in the compute dtype (docs/numeric-contract.md, scaled noise).
NOISE_BOUNDS = {"float32": (-4.47, 103.3), "float64": (-6.57, 744.5)}


def float_dtypes(backend: Any) -> list[str]:
    names = list(builtin_backend(backend.adapter_name).dtypes)
    if backend.adapter_name in ("numpy", "dask"):
        names.append(BIG_ENDIAN)
    return names


def compute_dtype(dtype: str) -> str:
    return "float64" if dtype in ("float64", BIG_ENDIAN) else "float32"


def build(xp: Any, values: Any, dtype: str) -> Any:
    """An array of ``xp`` holding ``values`` in the dtype named ``dtype`` (">f8" too)."""
    if dtype != BIG_ENDIAN:
        return asarray(xp, values, dtype)
    data = np.array(values, dtype=BIG_ENDIAN)
    return xp.from_array(data, chunks=-1) if xp.__name__ == "dask.array" else data


def is_integral(x: Any) -> bool:
    return bool(array_api_compat.array_namespace(x).isdtype(x.dtype, "integral"))


def last(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` with the class axis moved to the end."""
    return np.moveaxis(x, axis, -1)


@dataclass
class Case:
    dtype: str
    axis: int  # negative: the same class axis in the logits and in every output
    classes: int
    values: np.ndarray  # float64, -inf at the masked classes
    mask: np.ndarray
    logits: Any
    tau: Any
    tau_min: float
    sample_shape: Any
    seed: int
    k: int
    index: Any  # conditional_gumbel's index, as passed
    index_values: np.ndarray  # ... and as NumPy, broadcast to the row shape

    @property
    def sample_dims(self) -> tuple[int, ...]:
        s = self.sample_shape
        return (s,) if isinstance(s, int) else tuple(s)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.sample_dims + self.values.shape

    @property
    def out_mask(self) -> np.ndarray:
        return np.broadcast_to(self.mask, self.out_shape)


# A batch size in [0, 3], 0 (an empty batch) one time in eight: a non-empty batch checks more.
SIZES = st.integers(0, 7).map(lambda n: 0 if n == 0 else 1 + n % 3)


def sample_shapes() -> st.SearchStrategy[Any]:
    return st.one_of(st.just(()), SIZES, st.lists(SIZES, max_size=2).map(tuple))


def temperatures(draw: Any, xp: Any, backend: Any, shape: tuple[int, ...],
                 axis: int) -> tuple[Any, float]:
    """A float in [1e-6, 1e6], or an array with one temperature per row; and the smallest."""
    scalar = st.floats(1e-6, 1e6)
    kind = draw(st.sampled_from(["float", "int", "numpy", "rows", "rows-keepdims"]))
    if kind == "float":
        tau = draw(scalar)
        return tau, tau
    if kind == "int":
        tau = draw(st.integers(1, 10**6))
        return tau, tau
    if kind == "numpy":
        tau = draw(scalar.map(np.float64) | scalar.map(np.float32))
        return tau, float(tau)
    if kind == "rows":  # broadcasts against the row shape: some sizes 1, leading ones dropped
        row = [n for i, n in enumerate(shape) if i != axis % len(shape)]
        row = [draw(st.sampled_from([n, 1])) for n in row]
        tau_shape = tuple(row[draw(st.integers(0, len(row))):])
    else:  # the logits' dimensions with size 1 along the class axis (PyTorch's (B, 1))
        tau_shape = tuple(
            1 if i == axis % len(shape) else draw(st.sampled_from([n, 1]))
            for i, n in enumerate(shape)
        )
    dtype = draw(st.sampled_from(float_dtypes(backend)))
    top = min(1e6, FINFO[dtype][0])
    values = draw(hnp.arrays(np.float64, tau_shape, elements=st.floats(1e-6, top)))
    tau = build(xp, values, dtype)
    return tau, float(to_numpy(tau).min(initial=top))


@st.composite
def cases(draw: Any, backend: Any, xp: Any, *, top_k: bool = False,
          condition: bool = False) -> Case:
    """Valid arguments: logits with -inf masks, an axis, a temperature, a sample shape."""
    dtype = draw(st.sampled_from(float_dtypes(backend)))
    ndim = draw(st.integers(1, 3))
    axis = draw(st.integers(-ndim, ndim - 1))
    classes = draw(st.integers(1, 12))
    shape = tuple(
        classes if i == axis % ndim else draw(SIZES) for i in range(ndim)
    )
    bound = FINFO[dtype][0] / 4
    elements = st.floats(-10, 10) | st.floats(-bound, bound)
    values = draw(hnp.arrays(np.float64, shape, elements=elements))
    mask = draw(hnp.arrays(np.bool_, shape))
    k = draw(st.integers(1, classes)) if top_k else 1

    rows = np.ascontiguousarray(last(mask, axis))  # reshaped below as a view
    row_shape = rows.shape[:-1]
    index: Any = 0
    index_values = np.zeros(row_shape, dtype=np.int64)
    if condition:  # the conditioned class is never masked
        if draw(st.booleans()):
            index = draw(st.integers(0, classes - 1))
            index_values = np.full(row_shape, index)
        else:
            index_values = draw(hnp.arrays(np.int64, row_shape,
                                           elements=st.integers(0, classes - 1)))
            index = asarray(xp, index_values, "int64")
        np.put_along_axis(rows, index_values[..., None], False, axis=-1)
    # At least k unmasked classes per row (at least one): unmask the first masked ones.
    for row in rows.reshape(-1, classes):
        short = k - int((~row).sum())
        if short > 0:
            row[np.flatnonzero(row)[:short]] = False
    mask = np.moveaxis(rows, -1, axis)
    values = np.where(mask, -np.inf, values)
    tau, tau_min = temperatures(draw, xp, backend, shape, axis)

    return Case(
        dtype=dtype,
        axis=axis - ndim if axis >= 0 else axis,
        classes=classes,
        values=values,
        mask=mask,
        logits=build(xp, values, dtype),
        tau=tau,
        tau_min=tau_min,
        sample_shape=draw(sample_shapes()),
        seed=draw(st.integers(0, 2**63 - 1)),
        k=k,
        index=index,
        index_values=index_values,
    )


def check_array(out: Any, like: Any) -> None:
    """``out`` has the array type, namespace and device of ``like``.

    A Dask array computes to the dtype it declares.
    """
    assert isinstance(out, type(like)), type(out)
    assert_same_namespace_device(out, like)
    if array_api_compat.is_dask_array(out):
        computed = out.compute()
        assert computed.dtype == out.dtype, (computed.dtype, out.dtype)


def check_kind(out: Any, case: Case, shape: tuple[int, ...], *, indices: bool = False) -> None:
    """Shape, array type, namespace and device of ``out``; the logits' or an integer dtype."""
    assert tuple(out.shape) == shape
    check_array(out, case.logits)
    if indices:
        assert is_integral(out), out.dtype
    else:
        assert out.dtype == case.logits.dtype, (out.dtype, case.logits.dtype)


def check_reproducible(draw_once: Any) -> np.ndarray:
    """Call ``draw_once`` twice (one int seed); return its values after checking they agree."""
    first, second = to_numpy(draw_once()), to_numpy(draw_once())
    np.testing.assert_array_equal(first, second)
    return first


def sum_tolerance(case: Case, total: int = 1) -> float:
    """How far a row of ``total`` softmaxes may sum from ``total``: float rounding, per class."""
    return total * (2 * case.classes + 2) * FINFO[case.dtype][1]


def check_simplex(y: np.ndarray, case: Case, total: int) -> None:
    """Finite, non-negative, exactly 0 where masked, rows summing to ``total``."""
    y = y.astype(np.float64)
    assert np.isfinite(y).all()
    assert (y >= 0).all()
    assert (y[case.out_mask] == 0).all()
    error = np.abs(y.sum(axis=case.axis) - total)
    assert error.size == 0 or error.max() <= sum_tolerance(case, total), error.max()


def check_k_hot(y: np.ndarray, case: Case, total: int) -> None:
    """Entries exactly 0 or 1, exactly ``total`` ones per row, never at a masked class."""
    assert np.isin(y, (0.0, 1.0)).all()
    assert (y[case.out_mask] == 0).all()
    assert (y.sum(axis=case.axis) == total).all()


def check_indices(index: np.ndarray, case: Case) -> None:
    """Indices (class axis last) in [0, K), distinct along a row, never a masked class."""
    assert ((index >= 0) & (index < case.classes)).all()
    masked = np.take_along_axis(last(case.out_mask, case.axis), index, axis=-1)
    assert not masked.any()
    ordered = np.sort(index, axis=-1)
    assert (np.diff(ordered, axis=-1) != 0).all()


# --- valid arguments ------------------------------------------------------------------------

def check_property(backend: Any, strategy: st.SearchStrategy[Any], check: Any,
                   examples: int = VALID_EXAMPLES) -> None:
    """Run ``check`` on examples drawn from ``strategy``, fewer on JAX and Dask.

    JAX compiles every new shape (about a second each), so it gets a quarter of the examples,
    and Dask, which builds and computes a graph per call (tens of milliseconds), half; the
    other backends take milliseconds per example and draw them all. The backends share the
    core, so the shapes that JAX and Dask skip are still drawn on the others.
    """
    if backend.adapter_name == "jax":
        examples = max(1, examples // 4)
    elif backend.adapter_name == "dask":
        examples = max(1, examples // 2)

    @_settings(examples)
    @given(strategy)
    def run(drawn: Any) -> None:
        check(drawn)

    run()


def test_gumbel_softmax_soft(backend, xp):
    def check(case):
        def sample():
            return gk.gumbel_softmax(case.logits, tau=case.tau, axis=case.axis, rng=case.seed,
                                     sample_shape=case.sample_shape)

        check_kind(sample(), case, case.out_shape)
        check_simplex(check_reproducible(sample), case, total=1)

    check_property(backend, cases(backend, xp), check)


def test_gumbel_softmax_hard(backend, xp):
    def check(case):
        def sample():
            return gk.gumbel_softmax(case.logits, tau=case.tau, hard=True, axis=case.axis,
                                     rng=case.seed, sample_shape=case.sample_shape)

        check_kind(sample(), case, case.out_shape)
        check_k_hot(check_reproducible(sample), case, total=1)

    check_property(backend, cases(backend, xp), check)


def test_gumbel_max(backend, xp):
    def check(drawn):
        case, keepdims = drawn

        def sample():
            return gk.gumbel_max(case.logits, axis=case.axis, rng=case.seed,
                                 sample_shape=case.sample_shape, keepdims=keepdims)

        shape = list(case.out_shape)
        if keepdims:
            shape[case.axis] = 1
        else:
            del shape[case.axis]
        check_kind(sample(), case, tuple(shape), indices=True)
        index = check_reproducible(sample)
        check_indices(last(index, case.axis) if keepdims else index[..., None], case)

    check_property(backend, st.tuples(cases(backend, xp), st.booleans()), check)


# "gumbel" is gumbel_max's own path (test_gumbel_max); "auto" reaches it for few draws.
@pytest.mark.parametrize("method", ["auto", "cdf", "alias"])
def test_categorical(backend, xp, method):
    def check(case):
        def sample():
            return gk.categorical(case.logits, axis=case.axis, rng=case.seed,
                                  sample_shape=case.sample_shape, method=method)

        shape = list(case.out_shape)
        del shape[case.axis]
        check_kind(sample(), case, tuple(shape), indices=True)
        check_indices(check_reproducible(sample)[..., None], case)

    check_property(backend, cases(backend, xp), check)


def test_sample_tokens(backend, xp):
    filters = st.fixed_dictionaries({}, optional={
        "temperature": st.sampled_from([0.0, 0.3, 1.0, 2.5]),
        "top_k": st.integers(1, 6),
        "top_p": st.sampled_from([0.05, 0.5, 0.95, 1.0]),
        "min_p": st.sampled_from([0.0, 0.1, 0.9]),
    })

    def check(drawn):
        case, chosen = drawn

        def sample():
            return gk.sample_tokens(case.logits, axis=case.axis, rng=case.seed, **chosen)

        shape = list(case.values.shape)
        del shape[case.axis]
        check_kind(sample(), case, tuple(shape), indices=True)
        index = check_reproducible(sample)
        mask = np.broadcast_to(case.mask, case.values.shape)
        check_indices(index[..., None], dataclasses.replace(case, sample_shape=(), mask=mask))

    check_property(backend, st.tuples(cases(backend, xp), filters), check)


def test_gumbel_top_k(backend, xp):
    def check(case):
        def sample():
            return gk.gumbel_top_k(case.logits, case.k, axis=case.axis, rng=case.seed,
                                   sample_shape=case.sample_shape)

        shape = list(case.out_shape)
        shape[case.axis] = case.k
        check_kind(sample(), case, tuple(shape), indices=True)
        check_indices(last(check_reproducible(sample), case.axis), case)

    check_property(backend, cases(backend, xp, top_k=True), check)


def test_relaxed_top_k(backend, xp):
    def check(drawn):
        case, hard = drawn

        def sample():
            return gk.relaxed_top_k(case.logits, case.k, tau=case.tau, hard=hard,
                                    axis=case.axis, rng=case.seed,
                                    sample_shape=case.sample_shape)

        check_kind(sample(), case, case.out_shape)
        y = check_reproducible(sample)
        if hard:
            check_k_hot(y, case, total=case.k)
        else:
            check_simplex(y, case, total=case.k)

    check_property(backend, st.tuples(cases(backend, xp, top_k=True), st.booleans()), check)


def test_conditional_gumbel(backend, xp):
    def check(case):
        def sample():
            return gk.conditional_gumbel(case.logits, case.index, axis=case.axis,
                                         rng=case.seed, sample_shape=case.sample_shape)

        check_kind(sample(), case, case.out_shape)
        noise = check_reproducible(sample)
        assert np.isfinite(noise).all()
        winner = np.broadcast_to(case.index_values, case.sample_dims + case.index_values.shape)
        if case.dtype in ("float16", "bfloat16"):
            # The argmax holds in float32; rounding the noise to the logits' dtype may move
            # each perturbed logit by half a unit in the last place of its noise.
            z = last(to_numpy(case.logits).astype(np.float64) + noise, case.axis)
            slack = last(FINFO[case.dtype][1] * np.abs(noise) + 2.0**-24, case.axis)
            best = np.take_along_axis(z + slack, winner[..., None], axis=-1)[..., 0]
            assert (best >= (z - slack).max(axis=-1, initial=-np.inf)).all()
        else:  # exactly, in the compute dtype (ties would go to the first index)
            z = to_numpy(case.logits) + noise
            np.testing.assert_array_equal(np.argmax(z, axis=case.axis), winner)

    check_property(backend, cases(backend, xp, condition=True), check)


@st.composite
def noise_requests(draw: Any, backend: Any, xp: Any) -> tuple[Any, ...]:
    """Arguments of gumbel: a shape, a dtype of the backend, loc and scale, a seed."""
    dtype = draw(st.sampled_from(float_dtypes(backend)))
    loc, scale = 0.0, 1.0
    if draw(st.booleans()):
        loc, scale = draw(st.floats(-100, 100)), draw(st.floats(1e-3, 10))
    return draw(sample_shapes()), dtype, loc, scale, draw(st.integers(0, 2**63 - 1))


def test_gumbel(backend, xp):
    like = asarray(xp, [0.0], "float32")

    def check(drawn):
        shape, dtype, loc, scale, seed = drawn
        native = np.dtype(BIG_ENDIAN) if dtype == BIG_ENDIAN else get_dtype(xp, dtype)

        def sample():
            return gk.gumbel(shape, loc=loc, scale=scale, dtype=native, rng=seed, xp=xp)

        dims = (shape,) if isinstance(shape, int) else shape
        g = sample()
        assert tuple(g.shape) == dims
        assert g.dtype == native, (g.dtype, native)
        check_array(g, like)
        values = check_reproducible(sample).astype(np.float64)
        assert np.isfinite(values).all()
        low, high = NOISE_BOUNDS[compute_dtype(dtype)]
        slack = 2 * FINFO[dtype][1] * (abs(loc) + scale * high)
        assert (values >= loc + scale * low - slack).all()
        assert (values <= loc + scale * high + slack).all()

    check_property(backend, noise_requests(backend, xp), check)


# --- invalid arguments -----------------------------------------------------------------------

NAN, INF = math.nan, math.inf
SAMPLERS = ["gumbel_softmax", "gumbel_max", "gumbel_top_k", "relaxed_top_k",
            "conditional_gumbel", "gumbel", "categorical"]
# The arguments each sampler takes, of those the test spoils.
ARGUMENTS = {
    "gumbel_softmax": ["tau", "axis", "logits", "noise", "sample_shape", "rng"],
    "gumbel_max": ["axis", "logits", "noise", "sample_shape", "rng"],
    "gumbel_top_k": ["axis", "logits", "noise", "sample_shape", "rng", "k"],
    "relaxed_top_k": ["tau", "axis", "logits", "noise", "sample_shape", "rng", "k"],
    "conditional_gumbel": ["axis", "logits", "sample_shape", "rng", "index"],
    "gumbel": ["shape", "dtype", "loc", "scale", "rng"],
    "categorical": ["axis", "logits", "sample_shape", "rng"],
}
BAD_SHAPES = st.sampled_from([
    (ValueError, -1), (ValueError, (2, -1)), (TypeError, 1.5), (TypeError, "3"),
    (TypeError, None), (TypeError, (2.0,)), (TypeError, np.array([2])), (TypeError, [True]),
])


def call(name: str, logits: Any, **kwargs: Any) -> Any:
    if name in ("gumbel_top_k", "relaxed_top_k"):
        return getattr(gk, name)(logits, kwargs.pop("k", 1), **kwargs)
    if name == "conditional_gumbel":
        return gk.conditional_gumbel(logits, kwargs.pop("index", 0), **kwargs)
    return getattr(gk, name)(logits, **kwargs)


@st.composite
def bad_calls(draw: Any, backend: Any, xp: Any, argument: str) -> tuple[type, Any]:
    """A call whose one bad argument is ``argument``: the error it must raise, and the call."""
    sampler = draw(st.sampled_from([s for s in SAMPLERS if argument in ARGUMENTS[s]]))
    dtype = draw(st.sampled_from(float_dtypes(backend)))
    rows, classes = draw(st.integers(2, 3)), draw(st.integers(2, 6))
    logits = build(xp, draw(hnp.arrays(np.float64, (rows, classes),
                                       elements=st.floats(-10, 10))), dtype)
    kwargs: dict[str, Any] = {"rng": draw(st.integers(0, 2**63 - 1))}
    error: type = ValueError

    if argument == "tau":
        error, kwargs["tau"] = draw(st.sampled_from([
            (ValueError, 0.0), (ValueError, -0.0), (ValueError, -1.0), (ValueError, -1e-300),
            (ValueError, NAN), (ValueError, INF), (ValueError, -INF), (ValueError, 10**400),
            (ValueError, np.float64(NAN)), (TypeError, "1.0"), (TypeError, None),
            (TypeError, True), (TypeError, 1j),
        ]))
    elif argument == "axis":
        error, kwargs["axis"] = draw(
            st.tuples(st.just(ValueError), st.integers(2, 50) | st.integers(-50, -3))
            | st.sampled_from([(TypeError, 1.0), (TypeError, None), (TypeError, "0"),
                               (TypeError, True)]))
    elif argument == "logits":
        kind = draw(st.sampled_from(["int32", "int64", "bool", "empty"]))
        if kind == "empty":  # no class along the axis
            shape = draw(st.sampled_from([(0,), (rows, 0), (0, rows)]))
            kwargs["axis"] = 0 if shape == (0, rows) else -1
            logits = build(xp, np.zeros(shape), dtype)
        else:
            error = TypeError
            logits = asarray(xp, np.ones((rows, classes), dtype=kind), kind)
    elif argument == "noise":
        kwargs.pop("rng")
        good = [(rows, classes), (classes,), (1, classes)]
        bad = [(classes + 1,), (rows + 1, classes), (2, rows, classes), (rows, 1, classes)]
        if draw(st.booleans()):  # noise and rng together
            noise_shape = draw(st.sampled_from(good))
            kwargs["rng"] = 0
        else:
            noise_shape = draw(st.sampled_from(bad))
        kwargs["noise"] = build(xp, np.zeros(noise_shape), dtype)
    elif argument in ("sample_shape", "shape"):
        error, kwargs[argument] = draw(BAD_SHAPES)
    elif argument == "rng":
        bad = [(TypeError, "seed"), (TypeError, 1.5), (TypeError, [0]), (TypeError, object()),
               (ValueError, -1), (ValueError, 2**63), (ValueError, -(2**70))]
        if backend.adapter_name == "jax":  # JAX has no global generator
            bad.append((TypeError, None))
        if backend.adapter_name in ("torch", "jax"):  # another library's generator
            bad.append((TypeError, np.random.default_rng(0)))
        error, kwargs["rng"] = draw(st.sampled_from(bad))
    elif argument == "k":
        error, kwargs["k"] = draw(
            st.tuples(st.just(ValueError), st.integers(-5, 0) | st.integers(classes + 1, 50))
            | st.sampled_from([(TypeError, 1.0), (TypeError, "1"), (TypeError, True),
                               (TypeError, None)]))
    elif argument == "index":
        error, kwargs["index"] = draw(st.sampled_from([
            (TypeError, 1.0), (TypeError, "0"), (TypeError, None),
            (TypeError, build(xp, np.zeros(rows), dtype)),  # a floating index
            (ValueError, asarray(xp, np.zeros(rows + 1, dtype=np.int64), "int64")),
        ]))
    elif argument == "dtype":
        error = TypeError
        kwargs["dtype"] = get_dtype(xp, draw(st.sampled_from(["int32", "int64", "bool"])))
    elif argument in ("loc", "scale"):
        bad = [NAN, INF, -INF]
        if argument == "scale":  # 1e308 * G overflows every dtype
            bad += [0.0, -1.0, 1e308]
        kwargs[argument] = draw(st.sampled_from(bad))

    if sampler == "gumbel":
        shape = kwargs.pop("shape", (rows, classes))
        return error, lambda: gk.gumbel(shape, xp=xp, **kwargs)
    return error, lambda: call(sampler, logits, **kwargs)


@pytest.mark.parametrize("argument", sorted({a for names in ARGUMENTS.values() for a in names}))
def test_invalid_arguments_are_named(backend, xp, argument):
    def check(drawn):
        error, bad_call = drawn
        with pytest.raises((TypeError, ValueError)) as raised:
            bad_call()
        assert raised.type is error, raised.value
        assert re.search(rf"\b{argument}\b", str(raised.value)), raised.value

    check_property(backend, bad_calls(backend, xp, argument), check, INVALID_EXAMPLES)
