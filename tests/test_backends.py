"""The adapter registry: lazy discovery, lookup, and third-party registration."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import threading
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import make, minimal_adapter, np_gumbel, np_softmax, to_numpy
from scipy import stats

import gumbelkit as gk
from gumbelkit import backends
from gumbelkit.backends import _registry

# Every built-in backend's library but NumPy (the core's dependency), and one gumbelkit never
# touches.
FRAMEWORKS = (*(e.name for e in backends.BUILTIN_BACKENDS if e.name != "numpy"), "tensorflow")


def test_import_imports_no_framework():
    code = (
        "import sys, gumbelkit, numpy as np\n"
        "gumbelkit.gumbel_softmax(np.zeros((2, 3)), rng=0)\n"
        "gumbelkit.gumbel_max(np.zeros(3), rng=0)\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_adapter_lookup_finds_each_backend(xp, backend):
    logits = make(xp, [0.0, 1.0])
    adapter = backends.backend_for(logits)
    assert adapter.name == backend.adapter_name
    assert backends.get_backend(backend.adapter_name) is adapter
    assert backends.backend_for_namespace(xp) is adapter


def test_lookup_is_safe_under_threads(xp):
    logits = make(xp, [0.0, 1.0])
    _registry._by_type.clear()
    found: list[object] = []

    def look() -> None:
        for _ in range(200):
            found.append(backends.backend_for(logits))

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 1600
    assert len({id(a) for a in found}) == 1


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'; expected one of"):
        backends.get_backend("tensorflow")


def test_available_backends_lists_numpy():
    assert "numpy" in backends.available_backends()


class _Box:
    """A toy third-party array library: a NumPy array in a box, with its own namespace."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values)

    shape = property(lambda self: self.values.shape)
    ndim = property(lambda self: self.values.ndim)
    dtype = property(lambda self: self.values.dtype)
    device = property(lambda self: "cpu")


def _box_namespace() -> SimpleNamespace:
    """The few array-API functions gumbelkit's core needs, for boxes."""
    import array_api_compat.numpy as xnp

    def lift(function):
        def boxed(*args, **kwargs):
            args = [a.values if isinstance(a, _Box) else a for a in args]
            result = function(*args, **kwargs)
            return _Box(result) if isinstance(result, np.ndarray | np.generic) else result
        return boxed

    names = ["log", "exp", "max", "sum", "argmax", "astype", "reshape", "arange", "expand_dims",
             "isfinite", "where", "asarray", "broadcast_to", "logical_and", "squeeze", "isdtype",
             "empty", "all", "any", "logical_not", "log1p", "cumulative_sum", "take",
             "count_nonzero", "divide", "subtract", "abs", "zeros_like"]
    namespace = SimpleNamespace(**{n: lift(getattr(xnp, n)) for n in names})
    namespace.float32, namespace.float64 = np.float32, np.float64
    namespace.int8, namespace.int32 = np.int8, np.int32
    namespace.finfo, namespace.clip = np.finfo, lift(xnp.clip)
    for op in ("__add__", "__sub__", "__truediv__", "__neg__", "__eq__", "__gt__", "__mul__",
               "__bool__", "__int__", "__float__", "__ge__", "__le__", "__lt__", "__rsub__",
               "__rmul__"):
        def method(self, *other, _op=op):
            other = [o.values if isinstance(o, _Box) else o for o in other]
            result = getattr(self.values, _op)(*other)
            return _Box(result) if isinstance(result, np.ndarray | np.generic) else result
        setattr(_Box, op, method)
    return namespace


class BoxAdapter:
    """A complete third-party adapter, registered at run time."""

    name = "box"
    supports_autodiff = False

    def __init__(self) -> None:
        self.namespace_ = _box_namespace()
        self.draws = 0

    def matches(self, x: object) -> bool:
        return isinstance(x, _Box)

    def namespace(self, x: object) -> SimpleNamespace:
        return self.namespace_

    def owns_rng(self, rng: object) -> bool:
        return False

    def make_rng(self, rng: object, device: object) -> np.random.Generator:
        if rng is not None and not isinstance(rng, int):
            raise TypeError("rng for box arrays must be None or an int seed")
        return np.random.default_rng(rng)

    def uniform(self, rng, shape, dtype, device):
        self.draws += 1
        u = rng.random(shape, dtype=dtype)
        return _Box(np.maximum(u, np.finfo(dtype).smallest_normal)), rng

    def stop_gradient(self, x):
        return x

    def is_host_readable(self, x: object) -> bool:
        return True


@pytest.fixture
def box_adapter():
    adapter = BoxAdapter()
    gk.register_backend(adapter)
    yield adapter
    backends.unregister_backend(adapter)


def test_registered_adapter_runs_the_api(box_adapter):
    base = np.log(np.array([[0.2, 0.3, 0.5]]))
    g = np_gumbel(np.random.default_rng(0).uniform(size=(1, 3)))
    soft = gk.gumbel_softmax(_Box(base), tau=0.5, noise=_Box(g))
    assert isinstance(soft, _Box)
    np.testing.assert_allclose(soft.values, np_softmax((base + g) / 0.5), rtol=1e-12)
    hard = gk.gumbel_softmax(_Box(base), hard=True, rng=1)
    assert isinstance(hard, _Box)
    assert sorted(hard.values.ravel()) == [0.0, 0.0, 1.0]
    assert backends.get_backend("box") is box_adapter
    # The registered adapter draws the noise, and its samples follow the law (alpha = 1e-6).
    draws_before = box_adapter.draws
    index = gk.gumbel_max(_Box(base), rng=2, sample_shape=(50_000,))
    assert box_adapter.draws == draws_before + 1
    counts = np.bincount(index.values.ravel(), minlength=3)
    assert stats.chisquare(counts, 50_000 * np.array([0.2, 0.3, 0.5])).pvalue > 1e-6
    with pytest.raises(TypeError, match="rng for box arrays"):
        gk.gumbel_max(_Box(base), rng="x")


def test_registered_adapter_takes_precedence(box_adapter):
    class Shadow(BoxAdapter):
        name = "numpy-shadow"

        def matches(self, x: object) -> bool:
            return isinstance(x, np.ndarray)

        def namespace(self, x: object):
            import array_api_compat.numpy as xnp
            return xnp

        def uniform(self, rng, shape, dtype, device):
            self.draws += 1
            return np.maximum(rng.random(shape, dtype=dtype), 1e-30), rng

    shadow = Shadow()
    gk.register_backend(shadow)
    try:
        out = gk.gumbel_softmax(np.zeros(3), rng=0)
        assert shadow.draws == 1
        assert np.isclose(to_numpy(out).sum(), 1.0)
    finally:
        backends.unregister_backend(shadow)
    assert backends.backend_for(np.zeros(3)).name == "numpy"


def test_register_rejects_an_incomplete_adapter():
    with pytest.raises(TypeError, match=r"adapter must provide .*uniform"):
        gk.register_backend(SimpleNamespace(name="broken", matches=lambda x: False))


@pytest.mark.parametrize(("members", "message"), [
    ({"name": 3}, "adapter must have a non-empty str name; got 3"),
    ({"name": ""}, "adapter must have a non-empty str name; got ''"),
    ({"supports_autodiff": "no"}, "adapter must have a bool supports_autodiff; got 'no'"),
    ({"uniform": 3, "make_rng": None}, "adapter must have callable make_rng, uniform"),
])
def test_register_rejects_a_member_of_the_wrong_kind(members, message):
    # Accepted, a name of 3 broke get_backend's own message (it joins the names), and a
    # member that cannot be called failed at the first draw, far from the registration.
    before = backends.registered_backends()
    with pytest.raises(TypeError, match=f"^{message} \\(see gumbelkit.backends.Adapter\\)$"):
        gk.register_backend(type("Broken", (BoxAdapter,), members)())
    assert backends.registered_backends() == before


def test_register_rejects_the_class_of_an_adapter(monkeypatch):
    # Registered, the class was asked matches(x) with x as self for every array, NumPy's too.
    with pytest.raises(TypeError, match=r"adapter is the class BoxAdapter, whose methods need an "
                                        r"instance: register BoxAdapter\(\)"):
        gk.register_backend(BoxAdapter)
    assert gk.gumbel_max(np.zeros(3), rng=0) == 0
    monkeypatch.setitem(sys.modules, "toy_adapters", SimpleNamespace(Box=BoxAdapter))
    with pytest.raises(ValueError, match=r"toy_adapters:Box is not a gumbelkit adapter: it is "
                                         r"the class BoxAdapter"):
        backends.get_backend("toy_adapters:Box")

    class Static:  # a class of static methods is an adapter as it stands
        name = "static"
        supports_autodiff = False
        matches = staticmethod(lambda x: False)
        namespace = owns_rng = make_rng = uniform = stop_gradient = is_host_readable = matches

    gk.register_backend(Static)
    backends.unregister_backend(Static)


def test_get_backend_by_module_attribute():
    import gumbelkit.backends.numpy as numpy_adapter

    assert backends.get_backend("gumbelkit.backends:numpy") is numpy_adapter
    with pytest.raises(ValueError, match="gumbelkit:gumbel is not a gumbelkit adapter"):
        backends.get_backend("gumbelkit:gumbel")


def test_get_backend_names_a_module_attr_that_is_no_adapter():
    # The import's and the lookup's own errors came out: ModuleNotFoundError, AttributeError,
    # or "Empty module name" for ":".
    for name, error in (("no_such_module_here:x", "ModuleNotFoundError"),
                        ("gumbelkit:no_such_name", "AttributeError"),
                        (":", "ValueError")):
        with pytest.raises(ValueError, match=f"^{re.escape(name)} names no adapter: {error}"):
            backends.get_backend(name)


def test_unregister_removes_the_very_adapter_given():
    # Two equal adapters (a dataclass compares by value): list.remove took the first equal one.
    @dataclasses.dataclass
    class Equal:
        name: str = "equal"
        supports_autodiff: bool = False

    for member in backends.REQUIRED_MEMBERS[:-2]:
        setattr(Equal, member, staticmethod(getattr(backends.get_backend("numpy"), member)))
    first, second = Equal(), Equal()
    assert first == second
    gk.register_backend(first)
    gk.register_backend(second)
    try:
        backends.unregister_backend(first)
        assert len(backends.registered_backends()) == 1
        assert backends.registered_backends()[0] is second
    finally:
        for adapter in backends.registered_backends():
            backends.unregister_backend(adapter)


def test_a_registration_during_a_lookup_is_not_undone():
    # A lookup that began before a registration found the older adapter and cached it in the
    # cache the registration had just cleared, so the new adapter was never used.
    numpy_adapter = backends.get_backend("numpy")
    asked, released = threading.Event(), threading.Event()

    def slow_matches(x):
        asked.set()
        released.wait(10)
        return False

    slow = minimal_adapter("numpy", name="slow", matches=slow_matches)
    newer = minimal_adapter("numpy", name="newer")
    gk.register_backend(slow)
    try:
        looker = threading.Thread(target=backends.backend_for, args=(np.zeros(1),))
        looker.start()
        assert asked.wait(10)
        gk.register_backend(newer)
        released.set()
        looker.join(10)
        assert backends.backend_for(np.zeros(1)) is newer
    finally:
        released.set()
        for adapter in (newer, slow):
            if any(a is adapter for a in backends.registered_backends()):
                backends.unregister_backend(adapter)
    assert backends.backend_for(np.zeros(1)) is numpy_adapter


def test_register_rejects_an_optional_member_that_cannot_be_called():
    # Accepted, it failed inside a sampling call with "'str' object is not callable".
    before = backends.registered_backends()
    with pytest.raises(TypeError, match=r"^adapter must have row_max, top_k callable or None "
                                        r"\(an optional member\)"):
        gk.register_backend(minimal_adapter("numpy", top_k=5, row_max="x"))
    assert backends.registered_backends() == before
    adapter = minimal_adapter("numpy", top_k=None)  # None: not supplied
    gk.register_backend(adapter)
    backends.unregister_backend(adapter)


def test_unavailable_reason():
    assert backends.unavailable_reason("numpy") is None
    reason = backends.unavailable_reason("cupy")
    assert reason is None or "CuPy" in reason or "cupy" in reason
    with pytest.raises(ValueError, match="'tensorflow' is not a built-in backend"):
        backends.unavailable_reason("tensorflow")


@pytest.mark.parametrize("name", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_noise_members_equal_the_generic_path(name, dtype):
    # gumbel_ must give the core transform of the same uniforms, scatter_masked_ the core's
    # static-shape merge, positions_at_least and put_ the same sliver and values, and add_ the
    # plain sum, bit for bit, masks included, with the logits
    # broadcast over a sample dimension.
    if backends.unavailable_reason(name):
        pytest.skip(backends.unavailable_reason(name))
    from gumbelkit import _core

    adapter = backends.get_backend(name)
    namespace = adapter.namespace(None)
    native_dtype = getattr(namespace, dtype)
    u, _ = adapter.uniform(adapter.make_rng(7, "cpu"), (4, 40, 33), native_dtype, "cpu")
    generic = _core.gumbel_from_uniform(u, namespace)
    fast = adapter.gumbel_(namespace.asarray(u, copy=True))
    np.testing.assert_array_equal(to_numpy(fast), to_numpy(generic))
    assert np.all(np.isfinite(to_numpy(fast)))

    mask = u >= 0.999
    count = int(namespace.sum(namespace.astype(mask, namespace.int32)))
    values = namespace.asarray(np.arange(count, dtype=dtype))
    # (NumPy reads its sliver as positions always, so it keeps the core's merge.)
    merged = backends.resolve(adapter).scatter_masked_(namespace.asarray(fast, copy=True), mask,
                                                       values)
    np.testing.assert_array_equal(to_numpy(merged),
                                  to_numpy(_core.replace_where(fast, mask, values, namespace)))
    positions = adapter.positions_at_least(u, 0.999)
    np.testing.assert_array_equal(to_numpy(positions), np.flatnonzero(to_numpy(u) >= 0.999))
    expected = to_numpy(fast).copy().reshape(-1)
    expected[np.flatnonzero(to_numpy(mask))] = np.arange(count)
    put = adapter.put_(namespace.asarray(fast, copy=True), positions, values)
    np.testing.assert_array_equal(to_numpy(put), expected.reshape(u.shape))
    # The generic put (a binary search per entry) writes the same.
    generic_put = _core.put_at(fast, positions, values, namespace, "cpu")
    np.testing.assert_array_equal(to_numpy(generic_put), expected.reshape(u.shape))
    # A target that is not C-contiguous (a transposed view): positions count in its C order.
    strided = namespace.asarray(fast, copy=True)[0].T
    assert not (strided.flags.c_contiguous if name == "numpy" else strided.is_contiguous())
    flat_positions = namespace.asarray(np.array([0, 7, 40, 1000]))
    written = namespace.asarray(np.array([-1.0, -2.0, -3.0, -4.0], dtype=dtype))
    expected_strided = np.ascontiguousarray(to_numpy(strided)).reshape(-1)
    expected_strided[[0, 7, 40, 1000]] = [-1.0, -2.0, -3.0, -4.0]
    np.testing.assert_array_equal(to_numpy(adapter.put_(strided, flat_positions, written)),
                                  expected_strided.reshape(33, 40))

    logits = np.random.default_rng(8).normal(size=(40, 33)) * 5
    logits[3, [0, 7]] = -np.inf
    logits = namespace.asarray(logits, dtype=native_dtype)
    add_ = getattr(adapter, "add_", None) or (lambda x, y: x + y)
    z = add_(namespace.asarray(fast, copy=True), logits)
    assert tuple(z.shape) == (4, 40, 33)
    np.testing.assert_array_equal(to_numpy(z), to_numpy(logits + fast))
    assert np.all(to_numpy(z)[:, 3, [0, 7]] == -np.inf)


@pytest.mark.parametrize("tau", [0.5, "rows"])
def test_numpy_in_place_softmax_equals_the_core(tau):
    # The NumPy fast path overwrites gumbelkit's own buffer; its values must be the core's,
    # bit for bit, with masks, an invalid row and per-row temperatures.
    from gumbelkit import _core

    logits = np.array([[0.5, -np.inf, 2.0, 0.1], [np.nan, 0.0, 1.0, 2.0], [3.0, 1.0, -1.0, 0.0]])
    g = np_gumbel(np.random.default_rng(3).uniform(size=(5, 3, 4)))
    temperature = np.array([0.3, 1.0, 7.0]) if tau == "rows" else tau
    with np.errstate(all="ignore"):
        fast = gk.gumbel_softmax(logits, tau=temperature, noise=g, sample_shape=(5,))
        z = logits + g
        scale = temperature[:, None] if tau == "rows" else temperature
        core = _core.tempered_softmax(z, scale, -1, xp=backends.get_backend("numpy").namespace(z),
                                      stop_gradient=lambda x: x)
    np.testing.assert_array_equal(fast, core)
    # And with noise drawn by the adapter: the same seed gives the core's values on that noise.
    adapter = backends.get_backend("numpy")
    noise = gk.gumbel((5, 3, 4), dtype=np.float64, rng=9)
    with np.errstate(all="ignore"):
        drawn = gk.gumbel_softmax(logits, tau=temperature, rng=9, sample_shape=(5,))
        core = _core.tempered_softmax(logits + noise, scale, -1,
                                      xp=adapter.namespace(None), stop_gradient=lambda x: x)
    np.testing.assert_array_equal(drawn, core)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_numpy_row_max_and_argmax_equal_the_namespace(axis, keepdims):
    # The NumPy members that gumbel_max calls instead of xp.max and xp.argmax: the same values,
    # with NaN, infinities and ties.
    numpy_adapter = backends.get_backend("numpy")
    xp = numpy_adapter.namespace(None)
    x = np.array([[[0.5, np.nan, 2.0], [1.0, 3.0, 3.0]], [[-np.inf] * 3, [np.inf, 0.0, np.inf]]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(numpy_adapter.row_max(x, axis=axis, keepdims=keepdims),
                                      xp.max(x, axis=axis, keepdims=keepdims))
    np.testing.assert_array_equal(numpy_adapter.argmax(x, axis=axis, keepdims=keepdims),
                                  xp.argmax(x, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("tau", [0.5, "rows"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_place_hard_sample_equals_the_core(tau, dtype):
    # The NumPy hard fast path writes the one-hot into gumbelkit's own buffer; its values must
    # be the generic path's (core one-hot, NaN rows), with ties, masks, invalid rows and
    # per-row temperatures.
    from gumbelkit import _core

    logits = np.array([[0.5, -np.inf, 2.0, 0.1], [np.nan, 0.0, 1.0, 2.0],
                       [1.0, 3.0, 3.0, 0.0], [-np.inf] * 4, [np.inf, 0.0, 1.0, 2.0]], dtype=dtype)
    g = np_gumbel(np.random.default_rng(4).uniform(size=(6, 5, 4))).astype(dtype)
    g[:, 2] = 0.0  # row 2: a tie between classes 1 and 3 goes to class 1
    temperature = np.linspace(0.5, 2.0, 5) if tau == "rows" else tau

    def generic(z):
        namespace = backends.get_backend("numpy").namespace(z)
        one_hot = _core.one_hot(np.argmax(z, axis=-1), 4, z.ndim - 1, z.dtype, namespace,
                                device="cpu")
        return np.where(np.isfinite(z.max(axis=-1, keepdims=True)), one_hot, np.nan)

    with np.errstate(all="ignore"):
        fast = gk.gumbel_softmax(logits, tau=temperature, hard=True, noise=g, sample_shape=(6,))
        expected = generic(logits + g)
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, expected)
    assert np.all(fast[:, 2] == [0, 1, 0, 0])
    assert np.all(np.isnan(fast[:, [1, 3, 4]]))

    noise = gk.gumbel((6, 5, 4), dtype=dtype, rng=9)
    with np.errstate(all="ignore"):
        drawn = gk.gumbel_softmax(logits, tau=temperature, hard=True, rng=9, sample_shape=(6,))
        expected = generic(logits + noise)
    np.testing.assert_array_equal(drawn, expected)


@pytest.mark.parametrize("tau", [1.0, 3.0, 0.5, 1e-30, "rows"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_softmax_path_agrees_with_the_core(tau, dtype):
    # The PyTorch tempered_softmax_ calls torch.softmax: the core's values to rounding, and the
    # core's gradients, with masks, an invalid row, a +inf row and a tiny temperature; also
    # for one temperature per row without a gradient, applied in place.
    if backends.unavailable_reason("torch"):
        pytest.skip(backends.unavailable_reason("torch"))
    import torch

    from gumbelkit import _core

    adapter = backends.get_backend("torch")
    native = getattr(torch, dtype)
    values = np.random.default_rng(5).normal(size=(6, 7)) * 3
    values[1, [0, 4]] = -np.inf
    values[2] = -np.inf
    values[3, 2] = np.nan
    values[4, 5] = np.inf
    weights = torch.as_tensor(np.random.default_rng(6).normal(size=(6, 7)), dtype=native)
    if tau == "rows":
        tau = torch.tensor([[0.5], [2.0], [1e-30], [1.0], [3.0], [0.7]], dtype=native)

    def run(softmax):
        z = torch.tensor(values, dtype=native, requires_grad=True)
        y = softmax(z * 1.0)  # a fresh non-leaf buffer, as gumbelkit passes it
        (torch.nan_to_num(y) * weights).sum().backward()
        return y.detach().numpy(), z.grad.numpy()

    fast, fast_grad = run(lambda z: adapter.tempered_softmax_(z, tau, -1))
    core, core_grad = run(lambda z: _core.tempered_softmax(
        z, tau, -1, xp=adapter.namespace(z), stop_gradient=adapter.stop_gradient))
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(fast, core, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(core))
    assert np.all(np.isnan(fast[[2, 3, 4]]))
    assert np.all(fast[1, [0, 4]] == 0)
    np.testing.assert_allclose(fast_grad, core_grad, rtol=10 * rtol, atol=10 * rtol)
    assert np.all(fast_grad[1, [0, 4]] == 0)


def torch_hard_logits(torch, dtype):
    values = np.random.default_rng(10).normal(size=(7, 5))
    values[1, 2] = np.nan
    values[2] = -np.inf
    values[3, 4] = np.inf
    values[4] = [1.0, 3.0, 0.0, 3.0, 3.0]  # a tie: the first index wins
    values[5, [0, 3]] = -np.inf
    return torch.tensor(values, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_torch_one_hot_paths_equal_the_core(dtype, axis):
    # The PyTorch one-hot scatters: the generic path's values exactly, ties to the first index,
    # a NaN row's one at its first NaN (as argmax puts it); the in-place variant, used without
    # a gradient, turns rows whose maximum is not finite NaN, as the generic where does.
    if backends.unavailable_reason("torch"):
        pytest.skip(backends.unavailable_reason("torch"))
    import torch

    from gumbelkit import _core

    adapter = backends.get_backend("torch")
    xp = adapter.namespace(None)
    z = torch_hard_logits(torch, getattr(torch, dtype))
    if axis == 0:
        z = z.T.contiguous()
    generic = _core.one_hot(xp.argmax(z, axis=axis), z.shape[axis], axis % z.ndim, z.dtype, xp,
                            device=z.device)
    np.testing.assert_array_equal(to_numpy(adapter.one_hot_argmax(z, axis)), to_numpy(generic))
    valid = torch.isfinite(torch.amax(z, dim=axis, keepdim=True))
    expected = torch.where(valid, generic, torch.nan)
    np.testing.assert_array_equal(to_numpy(adapter.one_hot_argmax_(z.clone(), axis)),
                                  to_numpy(expected))
    rows = to_numpy(expected) if axis == -1 else to_numpy(expected).T
    assert np.all(np.isnan(rows[[1, 2, 3]]))
    np.testing.assert_array_equal(rows[4], [0, 1, 0, 0, 0])


def test_torch_tracks_gradient():
    if backends.unavailable_reason("torch"):
        pytest.skip(backends.unavailable_reason("torch"))
    import torch

    adapter = backends.get_backend("torch")
    plain, leaf = torch.zeros(3), torch.zeros(3, requires_grad=True)
    assert not adapter.tracks_gradient(plain, 0.5)
    assert adapter.tracks_gradient(plain, leaf)
    assert adapter.tracks_gradient(leaf, 0.5)
    with torch.no_grad():
        assert not adapter.tracks_gradient(leaf, 0.5)
    seen = []
    torch.func.grad(lambda x: seen.append(adapter.tracks_gradient(x, 0.5)) or x.sum())(plain)
    assert seen == [True]


def test_backend_fills_every_optional_member_and_records_the_supplied_ones():
    adapter = backends.get_backend("numpy")
    backend = backends.resolve(adapter)
    assert backend is backends.resolve(adapter)
    assert backend.adapter is adapter
    assert all(callable(getattr(backend, m)) for m in backends.OPTIONAL_MEMBERS)
    own = {m for m in backends.OPTIONAL_MEMBERS if getattr(adapter, m, None) is not None}
    assert backend.supplied == own
    assert backend.row_max is adapter.row_max  # a supplied member is used as it is
    assert {"top_k", "block_streams"} <= own  # a partial selection; row blocks on threads
    assert backend.top_k is adapter.top_k


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_generic_defaults_give_the_fast_paths_values(name):
    # An adapter with only the required members resolves into a Backend whose generic defaults
    # must give every sampler the values of the built-in adapter's fast paths, bit for bit.
    if backends.unavailable_reason(name):
        pytest.skip(backends.unavailable_reason(name))
    builtin = backends.get_backend(name)
    minimal = minimal_adapter(name)
    assert backends.resolve(minimal).supplied == frozenset()
    namespace = builtin.namespace(None)
    values = np.random.default_rng(2).normal(size=(3, 6)) * 3
    values[0, 2] = -np.inf
    values[2] = np.nan
    logits = namespace.asarray(values, dtype=namespace.float32)
    noise = namespace.asarray(np.random.default_rng(3).gumbel(size=(2, 3, 6)),
                              dtype=namespace.float32)
    calls = {
        "soft": lambda: gk.gumbel_softmax(logits, tau=0.4, rng=5, sample_shape=2),
        "hard": lambda: gk.gumbel_softmax(logits, tau=0.4, hard=True, rng=5, sample_shape=2),
        "hard noise": lambda: gk.gumbel_softmax(logits, hard=True, noise=noise[0, :1]),
        "hard rows": lambda: gk.gumbel_softmax(
            logits, tau=namespace.asarray([0.5, 2.0, 1.0]), hard=True, rng=5),
        "max": lambda: gk.gumbel_max(logits, rng=5, sample_shape=3, keepdims=True),
        "top-k": lambda: gk.gumbel_top_k(logits, 2, rng=5),
        "relaxed top-k": lambda: gk.relaxed_top_k(logits, 2, tau=0.7, hard=True, rng=5),
        "conditional": lambda: gk.conditional_gumbel(logits[:2], 1, rng=5),
        "noise": lambda: gk.gumbel((4, 5), rng=5, xp=namespace),
        # Large enough for NumPy's gumbel_and_sliver (more than 2**20 float32 values, in
        # pieces), and one block (one dimension, one row).
        "large noise": lambda: gk.gumbel((1_100_003,), rng=5, xp=namespace),
        "large max": lambda: gk.gumbel_max(namespace.asarray(np.zeros((1, 1_100_003)),
                                                             dtype=namespace.float32), rng=5),
    }
    with np.errstate(all="ignore"):
        expected = {key: to_numpy(call()) for key, call in calls.items()}
        backends.register_backend(minimal)
        try:
            for key, call in calls.items():
                if name == "torch" and key == "soft":
                    # PyTorch's tempered_softmax_ is torch.softmax: the core's values to rounding.
                    np.testing.assert_allclose(to_numpy(call()), expected[key], rtol=1e-6,
                                               atol=1e-12)
                else:
                    np.testing.assert_array_equal(to_numpy(call()), expected[key], err_msg=key)
        finally:
            backends.unregister_backend(minimal)


@pytest.mark.parametrize(("cache", "float32_piece", "float64_piece"), [
    (2**21, 2**18, 2**17),  # 2 MiB: 2**18 x 5 bytes fill 5/8 of it
    (2**20, 2**17, 2**16),
    (2**15, 2**15, 2**15),  # the smallest piece, whatever the cache
    (2**30, 2**18, 2**18),  # the largest
])
def test_numpy_pieces_fit_the_cache(monkeypatch, cache, float32_piece, float64_piece):
    # The fused draw's pieces: the largest power of two whose values and booleans fill at most
    # three quarters of the L2 cache, within [2**15, 2**18]. The values never depend on it.
    from gumbelkit.backends import numpy as numpy_adapter

    monkeypatch.setattr(numpy_adapter, "_l2_cache_bytes", lambda: cache)
    numpy_adapter._piece_values.cache_clear()
    try:
        assert numpy_adapter._piece_values(4) == float32_piece
        assert numpy_adapter._piece_values(8) == float64_piece
        shape = (5, 2**18 + 5)  # the conformance suite's fused shape: in pieces
        fused = numpy_adapter.gumbel_and_sliver(np.random.default_rng(4), shape, np.float32,
                                                "cpu", 0.999)
        assert fused is not None
        u, _ = numpy_adapter.uniform(np.random.default_rng(4), shape, np.float32, "cpu")
        np.testing.assert_array_equal(fused[1], np.flatnonzero(u >= 0.999))
        np.testing.assert_array_equal(fused[0], numpy_adapter.gumbel_(u))
        # A draw of at most 4 MiB takes the composed path (2**20 float32 values, 2**19 float64
        # ones); one value more runs in pieces.
        for dtype in (np.float32, np.float64):
            most = numpy_adapter._WHOLE_BYTES // np.dtype(dtype).itemsize
            assert numpy_adapter.gumbel_and_sliver(np.random.default_rng(4), (most,), dtype,
                                                   "cpu", 0.999) is None
            more = numpy_adapter.gumbel_and_sliver(np.random.default_rng(4), (most + 1,), dtype,
                                                   "cpu", 0.999)
            u, _ = numpy_adapter.uniform(np.random.default_rng(4), (most + 1,), dtype, "cpu")
            assert more is not None
            np.testing.assert_array_equal(more[1], np.flatnonzero(u >= 0.999))
            np.testing.assert_array_equal(more[0], numpy_adapter.gumbel_(u))
    finally:
        numpy_adapter._piece_values.cache_clear()


@pytest.mark.parametrize(("caches", "expected"), [
    ({"index0": ("1", "Data", "48K"), "index1": ("1", "Instruction", "64K"),
      "index2": ("2", "Unified", "2048K"), "index3": ("3", "Unified", "491520K")}, 2**21),
    ({"index0": ("1", "Data", "32K"), "index1": ("2", "Unified", "1M")}, 2**20),
    ({"index0": ("1", "Data", "32K")}, 2**20),  # no L2 reported: 1 MiB
    ({"index0": ("2", "Unified", "")}, 2**20),  # unreadable size: 1 MiB
    ({"index0": ("2", "Unified", "2G")}, 2**20),  # a unit it does not know: 1 MiB
    ({}, 2**20),  # no cache folder (not Linux)
])
def test_numpy_reads_the_l2_cache_size(tmp_path, caches, expected):
    # Linux's /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}, written out.
    from gumbelkit.backends import numpy as numpy_adapter

    for index, (level, kind, size) in caches.items():
        folder = tmp_path / index
        folder.mkdir()
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(text + "\n")
    assert numpy_adapter._l2_cache_bytes(tmp_path) == expected


@pytest.mark.parametrize("rows", [0, 1, 2, 7])
@pytest.mark.parametrize("width", [0, 1, 2, 5, 64, 100])
@pytest.mark.parametrize("draws", [0, 1, 5000, 2**14 + 5, 2**17])
def test_numpy_search_rows_is_searchsorted_per_row(rows, width, draws):
    # The vectorized binary search, of unsorted and of sorted rows of values, against
    # np.searchsorted row by row (side="left"): ties, values beyond both ends, empty tables,
    # rows and values, integer and float tables; blocks of several rows (5000 values each, the
    # last block shorter) and of part of a row (2**14 + 5 values), and one block (2**17).
    from gumbelkit.backends import numpy as numpy_adapter

    rng = np.random.default_rng(rows * 1000 + width * 10 + draws)
    table = np.sort(rng.integers(-5, 20, size=(rows, width)), axis=1)
    values = rng.integers(-8, 25, size=(rows, draws))
    for t, v in [(table, values), (table.astype(np.float64), values + 0.5),
                 (table, np.sort(values, axis=1))]:
        expected = np.array([np.searchsorted(t[r], v[r]) for r in range(rows)],
                            dtype=np.intp).reshape(rows, draws)
        found = numpy_adapter.search_rows(t, v)
        assert found.shape == (rows, draws)
        np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("default", [False, True], ids=["supplied", "default"])
@pytest.mark.parametrize(("rows", "first_width", "second_width"),
                         [(0, 3, 4), (1, 0, 5), (3, 5, 0), (7, 1, 1), (5, 64, 100)])
def test_merge_rows_counts_each_run_before_the_other(xp, default, rows, first_width,
                                                      second_width):
    # Against np.searchsorted row by row: first comes first among equal entries, so
    # before_first is side="left" in second and before_second side="right" in first. Ties
    # within and across the runs, integer and float rows.
    from gumbelkit.backends._contract import _default_merge_rows

    backend = backends.resolved_for(make(xp, np.zeros(1)))
    merge = partial(_default_merge_rows, backend) if default else backend.merge_rows
    rng = np.random.default_rng(rows * 10_000 + first_width * 100 + second_width)
    first = np.sort(rng.integers(-5, 20, size=(rows, first_width)), axis=1)
    second = np.sort(rng.integers(-5, 20, size=(rows, second_width)), axis=1)
    for dtype in ("int64", "float64"):
        before_first, before_second = merge(make(xp, first, dtype), make(xp, second, dtype))
        np.testing.assert_array_equal(
            to_numpy(before_first),
            np.array([np.searchsorted(second[r], first[r]) for r in range(rows)],
                     dtype=np.intp).reshape(rows, first_width))
        np.testing.assert_array_equal(
            to_numpy(before_second),
            np.array([np.searchsorted(first[r], second[r], side="right") for r in range(rows)],
                     dtype=np.intp).reshape(rows, second_width))


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_row_gathers_equal_numpy_on_every_backend(xp, index_dtype):
    # take_rows is the namespace's take_along_axis where it has one (PyTorch's takes int64
    # indices only), else one flat take with each row's offset; both give NumPy's gather.
    from gumbelkit import _core

    rng = np.random.default_rng(5)
    values = rng.standard_normal((6, 9))
    index = rng.integers(0, 9, size=(6, 4))
    x = make(xp, values)
    adapter = backends.resolve(backends.backend_for(x))
    namespace = adapter.namespace(x)
    picks = namespace.asarray(make(xp, index, "int64"), dtype=getattr(namespace, index_dtype))
    expected = np.take_along_axis(values, index, axis=-1)
    taken = _core.take_rows(x, picks, namespace, adapter.device(x))
    assert type(taken) is type(x)
    np.testing.assert_array_equal(to_numpy(taken), expected)
    # A namespace without take_along_axis (an array API before 2024.12) takes the flat path.
    older = SimpleNamespace(**{name: getattr(namespace, name) for name in
                               ("reshape", "arange", "take", "asarray")})
    flat = _core.take_rows(x, picks, older, adapter.device(x))
    np.testing.assert_array_equal(to_numpy(flat), expected)


def test_a_third_party_uniform_of_another_shape_or_dtype_is_refused():
    # Uniforms of one value per row broadcast against the logits: every class of a row got the
    # same noise, and gumbel_max returned each row's argmax, with no error.
    import array_api_strict as strict

    base = backends.get_backend("array_api_strict")

    def one_per_row(rng, shape, dtype, device):
        u, rng = base.uniform(rng, shape, dtype, device)
        return u[..., :1], rng

    def always_float64(rng, shape, dtype, device):
        return base.uniform(rng, shape, strict.float64, device)

    logits = strict.asarray(np.zeros((3, 5), dtype=np.float32))
    for uniform, message in ((one_per_row, r"shape \(3, 1\)"), (always_float64, "dtype")):
        adapter = minimal_adapter("array_api_strict", uniform=uniform, name="planted")
        backends.register_backend(adapter)
        try:
            for call in (lambda: gk.gumbel_max(logits, rng=0),
                         lambda: gk.gumbel_softmax(logits, rng=0)):
                with pytest.raises(TypeError, match=f"planted adapter's uniform .*{message}"):
                    call()
        finally:
            backends.unregister_backend(adapter)
    # A correct one passes unchanged: the values of the built-in adapter.
    builtin = to_numpy(gk.gumbel_softmax(logits, rng=3))
    adapter = minimal_adapter("array_api_strict", name="planted")
    backends.register_backend(adapter)
    try:
        assert backends.backend_for(logits) is adapter
        np.testing.assert_array_equal(to_numpy(gk.gumbel_softmax(logits, rng=3)), builtin)
    finally:
        backends.unregister_backend(adapter)


def test_a_distribution_unpickled_without_its_adapter_names_its_argument():
    # In a process where the adapter of a registered library is not registered (a spawned
    # child), unpickling says which parameter it cannot place, as the constructor does.
    import pickle

    from gumbelkit.distributions import HardConcrete

    adapter = BoxAdapter()
    gk.register_backend(adapter)
    try:
        gate = HardConcrete(_Box(np.array([0.1, 0.2])))
        state = pickle.dumps(gate)
        assert isinstance(pickle.loads(state), HardConcrete)  # registered: it restores
    finally:
        backends.unregister_backend(adapter)
    with pytest.raises(TypeError, match="log_alpha must be an array of a supported library"):
        HardConcrete(_Box(np.array([0.1, 0.2])))
    with pytest.raises(TypeError, match="log_alpha must be an array of a supported library"):
        pickle.loads(state)


def test_a_namespace_without_data_dependent_shapes_draws_the_exact_tail_in_static_shapes():
    # array-api-strict's data_dependent_shapes=False refuses nonzero, with which the default
    # positions_at_least found the noise's top sliver: every float32 draw of 4096 values or more
    # raised. The namespace's capabilities() say so, and the static-shape merge is used.
    import array_api_strict as strict

    logits = strict.asarray(np.random.default_rng(0).normal(size=(8, 4096)).astype(np.float32))
    expected = to_numpy(gk.gumbel_softmax(logits, rng=4))
    expected_index = to_numpy(gk.gumbel_max(logits, rng=159))
    with strict.ArrayAPIStrictFlags(data_dependent_shapes=False):
        np.testing.assert_array_equal(to_numpy(gk.gumbel_softmax(logits, rng=4)), expected)
        np.testing.assert_array_equal(to_numpy(gk.gumbel_max(logits, rng=159)), expected_index)
