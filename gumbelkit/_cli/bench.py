"""The ``gumbelkit bench`` command: gumbelkit against the samplers each backend offers.

Everything runs in one process: gumbelkit and its reference are interleaved within each repeat,
so that a load change on a shared machine affects both alike. The command prints a markdown
table and can write the same rows as JSON; benchmarks/README.md describes the method and the
columns, and ``python benchmarks/bench.py`` runs the same code from a source checkout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gumbelkit import (
    __version__,
    categorical,
    get_num_threads,
    gumbel_max,
    gumbel_softmax,
    gumbel_top_k,
    sample_tokens,
    set_num_threads,
)
from gumbelkit._cli._ui import Parser, ProgressBar, UsageError
from gumbelkit._row_blocks import MIN_BLOCKED_VALUES

HELP = "time gumbelkit against each backend's own samplers"
DESCRIPTION: str | None = (
    "Time gumbelkit against the samplers each installed backend already offers, in one "
    "process, and print a markdown table (see benchmarks/README.md)."
)
SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (64, 50257), (32, 10))
TAU = 0.5
HAND_WRITTEN = "hand-written float32, same operations"
SEED = 0
ONE_THREAD = "gumbelkit, 1 thread"
# gumbel_top_k against gumbel_max (--top-k): a vocabulary of 152,064 classes, 8 rows.
TOP_K_SHAPE = (8, 152_064)
TOP_K_KS = (1, 8, 64)
# categorical against each library's own sampler (--categorical): many draws from one row,
# many draws from each of many rows, one draw per row; and token sampling (PyTorch).
CATEGORICAL_ONE_ROW = (1, 4096, 100_000)  # rows, classes, draws per row
CATEGORICAL_MANY_ROWS = (64, 4096, 1000)
CATEGORICAL_ONE_DRAW = (4096, 1024, 1)
TOKENS_SHAPE = (64, 50257)
TOKENS_FILTERS: dict[str, Any] = {"temperature": 0.7, "top_k": 50, "top_p": 0.9}
# The most logits one shape may hold: 1 GiB of float32. The NumPy references hold several
# float64 temporaries of that size, so a larger shape would fail in the allocator.
MAX_SHAPE_VALUES = 2**28


class BenchError(UsageError):
    """Bad options for the benchmark (exit code 2)."""


@dataclass
class Row:
    """One timed comparison: gumbelkit against a reference, or a floor."""

    backend: str
    shape: tuple[int, ...]
    operation: str  # soft, hard, max, or floor
    mode: str  # forward or forward+backward
    gumbelkit_ms: float | None
    reference: str
    reference_ms: float | None
    ratio: float | None = None  # reference / gumbelkit: > 1 means gumbelkit is faster
    repeats: int = 0


@dataclass
class Settings:
    """How long to time, what to time, and what has been measured so far."""

    min_repeats: int
    max_repeats: int
    budget_s: float  # time allowed for one group of interleaved callables
    shapes: tuple[tuple[int, int], ...] = SHAPES
    tau: float = TAU
    torch_device: str = "cpu"
    triton: bool = False  # gumbelkit's soft PyTorch samples through the fused Triton kernel
    top_k: bool = False  # also time gumbel_top_k against gumbel_max at TOP_K_SHAPE
    categorical: bool = False  # also time categorical and sample_tokens against peers
    progress: ProgressBar | None = None
    rows: list[Row] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    bandwidth: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def begin(self, backend: str, shape: tuple[int, ...], what: str) -> None:
        """Show on the progress bar which comparison runs now."""
        if self.progress is not None:
            self.progress.describe(f"{backend} {'x'.join(map(str, shape))} {what}")

    def finish(self) -> None:
        """Count one comparison as done."""
        if self.progress is not None:
            self.progress.advance()

    def skip(self, reason: str) -> None:
        """Record and print why something is not measured."""
        self.skipped.append(reason)
        if self.progress is not None:
            self.progress.note(reason)
        else:
            print(reason, file=sys.stderr)


_SETTLE_MAX_S = 0.25


def _timed(fn: Callable[[], Any], sync: Callable[[Any], Any]) -> float:
    """Return the seconds of one synced call, then pause for a tenth of them (at most 0.25 s).

    The pause keeps work a call leaves behind (XLA frees the large buffers of a long call after
    its result is ready) from being charged to the next call.
    """
    start = time.perf_counter()
    sync(fn())
    elapsed = time.perf_counter() - start
    time.sleep(min(_SETTLE_MAX_S, elapsed / 10))
    return elapsed


def _median_ms(
    fns: dict[str, Callable[[], Any]],
    settings: Settings,
    sync: Callable[[Any], Any] = lambda out: out,
) -> tuple[dict[str, float], int]:
    """Return the median wall time of each callable, in milliseconds, and the repeat count.

    The callables are interleaved within each repeat so that a load change on a shared machine
    hits gumbelkit and its reference alike, which keeps the ratio meaningful.
    """
    slowest = 0.0
    for fn in fns.values():
        sync(fn())  # warm-up: compilation, allocator and thread-pool start-up
        slowest = max(slowest, _timed(fn, sync))
    per_round = max(slowest * len(fns), 1e-6)
    fitting = int(settings.budget_s // per_round)
    repeats = min(settings.max_repeats, max(settings.min_repeats, fitting))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_timed(fn, sync))
    return {name: 1e3 * statistics.median(s) for name, s in samples.items()}, repeats


def _compare(
    settings: Settings,
    backend: str,
    shape: tuple[int, ...],
    operation: str,
    mode: str,
    ours: Callable[[], Any],
    reference: str,
    theirs: Callable[[], Any] | None,
    sync: Callable[[Any], Any] = lambda out: out,
) -> None:
    settings.begin(backend, shape, f"{operation} {mode}")
    fns = {"gk": ours} if theirs is None else {"gk": ours, "ref": theirs}
    ms, repeats = _median_ms(fns, settings, sync)
    ref_ms = ms.get("ref")
    ratio = None if ref_ms is None else ref_ms / ms["gk"]
    settings.rows.append(
        Row(backend, shape, operation, mode, ms["gk"], reference, ref_ms, ratio, repeats)
    )
    settings.finish()


def _floors(
    settings: Settings,
    backend: str,
    shape: tuple[int, ...],
    floors: dict[str, Callable[[], Any]],
    sync: Callable[[Any], Any] = lambda out: out,
) -> None:
    settings.begin(backend, shape, "floors")
    ms, repeats = _median_ms(floors, settings, sync)
    for name, value in ms.items():
        settings.rows.append(
            Row(backend, shape, "floor", "forward", None, name, value, None, repeats)
        )
    settings.finish()


def _peak_bytes(fn: Callable[[], Any]) -> tuple[int, int]:
    """Return the traced peak of one call and the size of its result.

    NumPy reports its array buffers to tracemalloc, so this counts them, not only Python
    objects.
    """
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, int(out.nbytes)


def bench_numpy(settings: Settings) -> None:
    """Time NumPy: a naive float64 + SciPy reference, floors, and traced peak memory."""
    import numpy as np

    softmax: Callable[..., Any] | None = None
    try:
        import scipy.special

        softmax = scipy.special.softmax
    except ImportError:
        settings.skip("numpy naive reference: skipped, scipy is not installed")
    gen = np.random.default_rng(SEED)
    for shape in settings.shapes:
        _bench_numpy_shape(settings, shape, gen, softmax)
        if math.prod(shape) >= MIN_BLOCKED_VALUES:
            _bench_numpy_threads(settings, shape, gen)
    if settings.top_k:
        x = gen.standard_normal(TOP_K_SHAPE, dtype=np.float32)
        _bench_top_k(settings, "numpy", x, {"rng": gen})
    if settings.categorical:
        _bench_numpy_categorical(settings, gen)


def _float64_softmax(x: Any) -> Any:
    """Return ``softmax(x)`` along the last axis in float64 (what ``Generator.choice`` takes)."""
    import numpy as np

    z = x.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _bench_numpy_categorical(settings: Settings, gen: Any) -> None:
    """Time ``categorical`` against ``Generator.choice`` (its softmax included) and gumbel_max."""
    import numpy as np

    rows, classes, draws = CATEGORICAL_ONE_ROW
    row = gen.standard_normal(classes, dtype=np.float32)
    _compare(settings, "numpy", (rows, classes), f"categorical, {draws} draws", "forward",
             partial(categorical, row, sample_shape=draws, rng=gen),
             "Generator.choice(p=softmax)",
             lambda: gen.choice(classes, size=draws, p=_float64_softmax(row)))
    rows, classes, draws = CATEGORICAL_MANY_ROWS
    x = gen.standard_normal((rows, classes), dtype=np.float32)
    _compare(settings, "numpy", (rows, classes), f"categorical, {draws} draws per row",
             "forward", partial(categorical, x, sample_shape=draws, rng=gen),
             "a loop of Generator.choice(p=softmax)",
             lambda: [gen.choice(classes, size=draws, p=p) for p in _float64_softmax(x)])
    rows, classes, _ = CATEGORICAL_ONE_DRAW
    x = gen.standard_normal((rows, classes), dtype=np.float32)
    _compare(settings, "numpy", (rows, classes), "categorical, 1 draw per row", "forward",
             partial(categorical, x, rng=gen), "gumbelkit gumbel_max",
             partial(gumbel_max, x, rng=gen))


def _bench_numpy_threads(settings: Settings, shape: tuple[int, int], gen: Any) -> None:
    """Time gumbelkit on all its threads against gumbelkit on one, for a blocked shape.

    Both draw the same row blocks from the same spawned streams (the values do not depend on
    the thread count), so the ratio is the speed-up of the threads alone.
    """
    import numpy as np

    threads = get_num_threads()
    if threads < 2:
        settings.skip(f"numpy {'x'.join(map(str, shape))} threads: skipped, one thread "
                      "(gumbelkit.get_num_threads() is 1)")
        for _ in range(3):
            settings.finish()
        return
    x = gen.standard_normal(shape, dtype=np.float32)

    def on(count: int, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            set_num_threads(count)
            return fn()

        return call

    try:
        for op, hard in (("soft", False), ("hard", True)):
            sample = partial(gumbel_softmax, x, tau=settings.tau, hard=hard, rng=gen)
            _compare(settings, "numpy", shape, op, f"forward, {threads} threads",
                     on(threads, sample), ONE_THREAD, on(1, sample))
        sample = partial(gumbel_max, x, rng=gen)
        _compare(settings, "numpy", shape, "max", f"forward, {threads} threads",
                 on(threads, sample), ONE_THREAD, on(1, sample))
    finally:
        set_num_threads(None)


def _bench_top_k(
    settings: Settings,
    backend: str,
    x: Any,
    rng: dict[str, Any],
    sync: Callable[[Any], Any] = lambda out: out,
) -> None:
    """Time ``gumbel_top_k`` against ``gumbel_max`` on the same logits, for each k.

    The reference is gumbelkit's own ``gumbel_max``, the least a sample from the same
    perturbed logits can cost: ref/gk is its time over top-k's (0.67 is 1.5 times as long).
    """
    for k in TOP_K_KS:
        _compare(
            settings, backend, TOP_K_SHAPE, f"top-k, k={k}", "forward",
            partial(gumbel_top_k, x, k, **rng), "gumbelkit gumbel_max",
            partial(gumbel_max, x, **rng), sync,
        )


def _bench_torch_categorical(settings: Settings, device: Any) -> None:
    """Time ``categorical`` against ``torch.multinomial``, ``sample_tokens`` against a recipe.

    The recipe is the plain PyTorch token sampler of LLM servers (:func:`_torch_token_recipe`).
    """
    import torch

    def sync(out: Any) -> Any:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    generator = torch.Generator(device=device).manual_seed(SEED)

    def multinomial(x: Any, draws: int) -> Any:
        return torch.multinomial(torch.softmax(x, -1), draws, replacement=True,
                                 generator=generator)

    for (rows, classes, draws), what in ((CATEGORICAL_ONE_ROW, f"{CATEGORICAL_ONE_ROW[2]} draws"),
                                         (CATEGORICAL_MANY_ROWS, f"{CATEGORICAL_MANY_ROWS[2]} "
                                                                 "draws per row")):
        x = torch.randn(rows, classes, device=device)
        _compare(settings, "torch", (rows, classes), f"categorical, {what}", "forward",
                 partial(categorical, x, sample_shape=draws, rng=generator),
                 "torch.multinomial(softmax, replacement=True)",
                 partial(multinomial, x, draws), sync)
    rows, classes, _ = CATEGORICAL_ONE_DRAW
    x = torch.randn(rows, classes, device=device)
    _compare(settings, "torch", (rows, classes), "categorical, 1 draw per row", "forward",
             partial(categorical, x, rng=generator), "gumbelkit gumbel_max",
             partial(gumbel_max, x, rng=generator), sync)
    x = torch.randn(TOKENS_SHAPE, device=device)
    _compare(settings, "torch", TOKENS_SHAPE, "tokens, t=0.7 top-k 50 top-p 0.9", "forward",
             partial(sample_tokens, x, rng=generator, **TOKENS_FILTERS),
             "softmax, sort, cumsum, mask, probs / Exp(1), argmax",
             partial(_torch_token_recipe, x, generator), sync)


def _torch_token_recipe(logits: Any, generator: Any) -> Any:
    """Return tokens as LLM servers draw them in plain PyTorch.

    Temperature, top-k, top-p over the sorted softmax, then ``argmax(probs / Exp(1))``.
    """
    import torch

    z = logits / TOKENS_FILTERS["temperature"]
    kth = torch.topk(z, TOKENS_FILTERS["top_k"], dim=-1).values[..., -1:]
    z = z.masked_fill(z < kth, -math.inf)
    ordered, order = torch.sort(z, dim=-1, descending=True)
    probs = torch.softmax(ordered, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs
    ordered = ordered.masked_fill(before >= TOKENS_FILTERS["top_p"], -math.inf)
    z = torch.empty_like(z).scatter_(-1, order, ordered)
    probs = torch.softmax(z, dim=-1)
    exponential = torch.empty_like(probs).exponential_(generator=generator)
    return torch.argmax(probs / exponential, dim=-1)


def _bench_numpy_shape(
    settings: Settings, shape: tuple[int, int], gen: Any, softmax: Callable[..., Any] | None
) -> None:
    import numpy as np

    x = gen.standard_normal(shape, dtype=np.float32)

    def naive_soft() -> Any:
        # The textbook version: float64 noise from float64 uniforms, then scipy's softmax.
        assert softmax is not None
        g = -np.log(-np.log(gen.random(x.shape)))
        return softmax((x + g) / settings.tau, axis=-1).astype(x.dtype)

    def naive_hard() -> Any:
        y = naive_soft()
        out = np.zeros_like(y)
        np.put_along_axis(out, np.argmax(y, axis=-1)[:, None], 1.0, axis=-1)
        return out

    def naive_max() -> Any:
        return np.argmax(x + -np.log(-np.log(gen.random(x.shape))), axis=-1)

    for op, hard in (("soft", False), ("hard", True)):
        _compare(
            settings, "numpy", shape, op, "forward",
            partial(gumbel_softmax, x, tau=settings.tau, hard=hard, rng=gen),
            "naive float64 + scipy softmax",
            None if softmax is None else (naive_hard if hard else naive_soft),
        )
    _compare(
        settings, "numpy", shape, "max", "forward",
        partial(gumbel_max, x, rng=gen), "naive float64 argmax", naive_max,
    )
    # The operations of gumbelkit's NumPy path written inline, with none of its argument
    # checks or dispatch: the difference is gumbelkit's overhead per call.
    tiny = np.finfo(np.float32).smallest_normal

    def log_minus_log_uniform() -> Any:
        # log(-log(u)) = -G in place, from float32 uniforms with 0 lifted (as finite noise
        # needs): the uniforms and two logarithms.
        u = gen.random(shape, dtype=np.float32)
        np.maximum(u, tiny, out=u)
        np.log(u, out=u)
        np.negative(u, out=u)
        return np.log(u, out=u)

    def hand_perturbed() -> Any:
        z = log_minus_log_uniform()
        return np.subtract(x, z, out=z)

    def hand_soft() -> Any:
        z = hand_perturbed()
        z -= z.max(axis=-1, keepdims=True)
        z /= settings.tau
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z

    classes = np.arange(shape[-1])

    def hand_hard() -> Any:
        # The one-hot of the argmax, and m - m (NaN where the row maximum m is not finite).
        z = hand_perturbed()
        index = z.argmax(axis=-1, keepdims=True)
        row_max = z.max(axis=-1, keepdims=True)
        np.equal(index, classes, out=z, casting="unsafe")
        return np.add(z, row_max - row_max, out=z)

    def hand_max() -> Any:
        # The argmax, and the number of classes for a row without a finite maximum.
        index = hand_perturbed().argmax(axis=-1)
        return np.where(np.isfinite(x.max(axis=-1)), index, shape[-1])

    for op, hand in (("soft", hand_soft), ("hard", hand_hard)):
        _compare(
            settings, "numpy", shape, op, "forward",
            partial(gumbel_softmax, x, tau=settings.tau, hard=op == "hard", rng=gen),
            HAND_WRITTEN, hand,
        )
    _compare(settings, "numpy", shape, "max", "forward", partial(gumbel_max, x, rng=gen),
             HAND_WRITTEN, hand_max)

    def gumbel_from_uniform() -> Any:
        # Float32 Gumbel noise alone.
        g = log_minus_log_uniform()
        return np.negative(g, out=g)

    def gumbel_from_exponential() -> Any:
        # The same from NumPy's ziggurat exponentials: one logarithm. A float32 exponential
        # is exactly 0 about once in 2**23 draws: lifted to the smallest normal, as the
        # uniforms are, it gives finite noise, and log never divides by zero.
        e = gen.standard_exponential(shape, dtype=np.float32)
        np.maximum(e, tiny, out=e)
        np.log(e, out=e)
        return np.negative(e, out=e)

    _floors(settings, "numpy", shape, {
        "Generator.random float32": partial(gen.random, shape, dtype=np.float32),
        "Gumbel noise: -log(-log(random float32))": gumbel_from_uniform,
        "Gumbel noise: -log(standard_exponential float32)": gumbel_from_exponential,
        "copy": x.copy,
    })
    peak, out_bytes = _peak_bytes(partial(gumbel_softmax, x, tau=settings.tau, rng=gen))
    record: dict[str, Any] = {
        "backend": "numpy", "shape": shape, "operation": "soft",
        "output_bytes": out_bytes, "gumbelkit_peak_bytes": peak,
        "gumbelkit_peak_over_output": peak / out_bytes,
    }
    if softmax is not None:
        naive_peak, _ = _peak_bytes(naive_soft)
        record["naive_peak_bytes"] = naive_peak
        record["naive_peak_over_output"] = naive_peak / out_bytes
    settings.memory.append(record)


def bench_torch(settings: Settings) -> None:
    """Time PyTorch against ``F.gumbel_softmax`` and ``torch.multinomial``, eager."""
    import torch

    from gumbelkit.backends import torch as torch_adapter

    torch.manual_seed(SEED)
    try:
        device = torch.device(settings.torch_device)
    except RuntimeError as exc:
        raise BenchError(f"--torch-device: {exc}") from None
    if device.type == "meta":  # its tensors hold no values: every time would be of nothing
        raise BenchError("--torch-device: meta tensors hold no values, so nothing would be "
                         "timed; name a device that computes, such as cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        settings.skip(f"torch: skipped, --torch-device {device} but CUDA is not available")
        return
    try:
        torch.empty(0, device=device)
    except RuntimeError as exc:
        settings.skip(f"torch: skipped, --torch-device {device} cannot hold a tensor ({exc})")
        return
    use_triton = torch_adapter.use_triton
    torch_adapter.use_triton = settings.triton
    try:
        for shape in settings.shapes:
            _bench_torch_shape(settings, shape, device)
        if settings.top_k:
            x = torch.randn(TOP_K_SHAPE, dtype=torch.float32, device=device)

            def sync(out: Any) -> Any:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                return out

            with torch.no_grad():
                _bench_top_k(settings, "torch", x, {}, sync)
        if settings.categorical:
            with torch.no_grad():
                _bench_torch_categorical(settings, device)
    finally:
        torch_adapter.use_triton = use_triton


def _bench_torch_shape(settings: Settings, shape: tuple[int, int], device: Any) -> None:
    import torch
    import torch.nn.functional as F  # noqa: N812

    def sync(out: Any) -> Any:
        # CUDA kernels run asynchronously: a time counts only once the device has finished.
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    x = torch.randn(shape, dtype=torch.float32, device=device)
    weights = torch.randn(shape, dtype=torch.float32, device=device)
    leaf = x.clone().requires_grad_(True)

    def backward(fn: Callable[..., Any], hard: bool) -> None:
        # A weighted sum, since the gradient of sum(softmax) is zero by construction.
        (fn(leaf, tau=settings.tau, hard=hard) * weights).sum().backward()
        leaf.grad = None

    for op, hard in (("soft", False), ("hard", True)):
        with torch.no_grad():
            _compare(
                settings, "torch", shape, op, "forward",
                partial(gumbel_softmax, x, tau=settings.tau, hard=hard), "F.gumbel_softmax",
                partial(F.gumbel_softmax, x, tau=settings.tau, hard=hard), sync,
            )
        _compare(
            settings, "torch", shape, op, "forward+backward",
            partial(backward, gumbel_softmax, hard), "F.gumbel_softmax",
            partial(backward, F.gumbel_softmax, hard), sync,
        )

    def multinomial() -> Any:
        return torch.multinomial(torch.softmax(x, dim=-1), 1)

    with torch.no_grad():
        # multinomial takes probabilities, so the reference pays for the softmax that
        # gumbel_max does not need.
        _compare(
            settings, "torch", shape, "max", "forward",
            partial(gumbel_max, x), "torch.multinomial(softmax)", multinomial, sync,
        )
        _floors(settings, "torch", shape, {
            "torch.rand": partial(torch.rand, shape, device=device),
            "copy": x.clone,
        }, sync)
    if device.type != "cpu":
        _record_bandwidth(settings, shape, device, x.element_size())


def _record_bandwidth(
    settings: Settings, shape: tuple[int, int], device: Any, item_bytes: int
) -> None:
    """Record the soft forward sample's bandwidth against the copy's, from the rows just timed.

    Both move the logits in and the output out: ``2 * size * item_bytes`` bytes.
    """
    moved = 2 * math.prod(shape) * item_bytes
    soft = next(r for r in reversed(settings.rows) if r.backend == "torch" and r.shape == shape
                and r.operation == "soft" and r.mode == "forward")
    copy = next(r for r in reversed(settings.rows) if r.backend == "torch" and r.shape == shape
                and r.operation == "floor" and r.reference == "copy")
    assert soft.gumbelkit_ms is not None
    assert copy.reference_ms is not None
    soft_gbs, copy_gbs = moved / soft.gumbelkit_ms / 1e6, moved / copy.reference_ms / 1e6
    settings.bandwidth.append({
        "backend": "torch", "device": str(device), "shape": shape, "operation": "soft",
        "bytes_moved": moved, "gumbelkit_gb_per_s": soft_gbs, "copy_gb_per_s": copy_gbs,
        "fraction_of_copy": soft_gbs / copy_gbs,
    })


def bench_jax(settings: Settings) -> None:
    """Time JAX, jitted, against a hand-written jitted peer and ``jax.random.categorical``."""
    for shape in settings.shapes:
        _bench_jax_shape(settings, shape)
    if settings.categorical:
        _bench_jax_categorical(settings)


def _bench_jax_categorical(settings: Settings) -> None:
    """Time jitted ``categorical`` against jitted ``jax.random.categorical(shape=...)``.

    Float32 logits, with ``jax_enable_x64`` off (JAX's default: the alias tables are built
    inside ``jax.enable_x64``) and on.
    """
    import jax

    rows, classes, draws = CATEGORICAL_ONE_ROW
    for x64 in (False, True):
        with jax.enable_x64(x64):
            row = jax.random.normal(jax.random.key(SEED), (classes,), dtype=jax.numpy.float32)
            key = jax.random.key(SEED + 1)
            ours = jax.jit(lambda x, k: categorical(x, sample_shape=(draws,), rng=k))
            theirs = jax.jit(lambda x, k: jax.random.categorical(k, x, shape=(draws,)))
            _compare(settings, "jax", (rows, classes), f"categorical, {draws} draws",
                     "jit, x64" if x64 else "jit", partial(ours, row, key),
                     "jax.random.categorical(shape=...)", partial(theirs, row, key),
                     lambda out: out.block_until_ready())


def _bench_jax_shape(settings: Settings, shape: tuple[int, int]) -> None:
    import jax
    import jax.numpy as jnp

    block_until_ready: Callable[[Any], Any] = jax.block_until_ready

    def sync(out: Any) -> Any:
        return block_until_ready(out)

    def peer(x: Any, k: Any, hard: bool) -> Any:
        y = jax.nn.softmax((x + jax.random.gumbel(k, x.shape)) / settings.tau)
        if not hard:
            return y
        one_hot = jax.nn.one_hot(jnp.argmax(y, axis=-1), x.shape[-1], dtype=y.dtype)
        return one_hot - jax.lax.stop_gradient(y) + y

    def ours(x: Any, k: Any, hard: bool) -> Any:
        return gumbel_softmax(x, tau=settings.tau, hard=hard, rng=k)

    def loss(fn: Callable[[Any, Any, bool], Any], hard: bool) -> Callable[..., Any]:
        # A weighted sum, since the gradient of sum(softmax) is zero by construction.
        def weighted(x: Any, k: Any, w: Any) -> Any:
            return jnp.sum(fn(x, k, hard) * w)

        return weighted

    key = jax.random.key(SEED)
    kx, kw = jax.random.split(jax.random.fold_in(key, shape[1]))
    x = jax.random.normal(kx, shape, dtype=jnp.float32)
    w = jax.random.normal(kw, shape, dtype=jnp.float32)
    for op, hard in (("soft", False), ("hard", True)):
        f_ours = jax.jit(partial(ours, hard=hard))
        f_peer = jax.jit(partial(peer, hard=hard))
        _compare(
            settings, "jax", shape, op, "forward",
            partial(f_ours, x, key), "jit(softmax(x + gumbel))", partial(f_peer, x, key), sync,
        )
        g_ours = jax.jit(jax.grad(loss(ours, hard)))
        g_peer = jax.jit(jax.grad(loss(peer, hard)))
        _compare(
            settings, "jax", shape, op, "forward+backward",
            partial(g_ours, x, key, w), "jit(softmax(x + gumbel))", partial(g_peer, x, key, w),
            sync,
        )

    def ours_max(x: Any, k: Any) -> Any:
        return gumbel_max(x, rng=k)

    def peer_max(x: Any, k: Any) -> Any:
        return jax.random.categorical(k, x, axis=-1)

    def uniform(k: Any) -> Any:
        return jax.random.uniform(k, shape, jnp.float32)

    _compare(
        settings, "jax", shape, "max", "forward",
        partial(jax.jit(ours_max), x, key), "jit(jax.random.categorical)",
        partial(jax.jit(peer_max), x, key), sync,
    )
    _floors(settings, "jax", shape, {
        "jit(jax.random.uniform)": partial(jax.jit(uniform), key),
        # Eager: under jit XLA may alias an unchanged input instead of copying it.
        "copy": partial(jnp.array, x, copy=True),
    }, sync)


# Each backend's comparisons per shape: a step of the progress bar each.
BACKENDS: dict[str, tuple[str, Callable[[Settings], None], int]] = {
    "numpy": ("numpy", bench_numpy, 7),
    "torch": ("torch", bench_torch, 6),
    "jax": ("jax", bench_jax, 6),
}


def _extra_steps(name: str, settings: Settings) -> int:
    """Return the comparisons beyond ``BACKENDS``' per-shape ones: threads, top-k."""
    steps = 0
    if name == "numpy":
        steps += 3 * sum(math.prod(shape) >= MIN_BLOCKED_VALUES for shape in settings.shapes)
    if name in ("numpy", "torch") and settings.top_k:
        steps += len(TOP_K_KS)
    if settings.categorical:
        steps += {"numpy": 3, "torch": 4, "jax": 1}.get(name, 0)
    return steps


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if value < 1000 else f"{value:.0f}"


def markdown(settings: Settings) -> str:
    """Return the rows (and the memory records) as markdown tables."""
    lines = [
        "| backend | shape | op | pass | gumbelkit ms | reference | reference ms | ref/gk |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for r in settings.rows:
        lines.append(
            f"| {r.backend} | {'x'.join(map(str, r.shape))} | {r.operation} | {r.mode} "
            f"| {_fmt(r.gumbelkit_ms)} | {r.reference} | {_fmt(r.reference_ms)} "
            f"| {_fmt(r.ratio, 2)} |"
        )
    # Only short calls: at a millisecond and more the timing noise exceeds any overhead.
    overheads = [
        (r, 1e3 * (r.gumbelkit_ms - r.reference_ms)) for r in settings.rows
        if r.reference == HAND_WRITTEN and r.gumbelkit_ms is not None
        and r.reference_ms is not None and r.reference_ms < 1.0
    ]
    if overheads:
        lines += [
            "",
            "| backend | shape | op | gumbelkit overhead per call, us |",
            "|---|---|---|---:|",
        ]
        for r, overhead_us in overheads:
            lines.append(
                f"| {r.backend} | {'x'.join(map(str, r.shape))} | {r.operation} "
                f"| {overhead_us:.1f} |"
            )
    if settings.bandwidth:
        lines += [
            "",
            "| backend | device | shape | op | gumbelkit GB/s | copy GB/s | fraction of copy |",
            "|---|---|---|---|---:|---:|---:|",
        ]
        for b in settings.bandwidth:
            lines.append(
                f"| {b['backend']} | {b['device']} | {'x'.join(map(str, b['shape']))} "
                f"| {b['operation']} | {b['gumbelkit_gb_per_s']:.1f} | {b['copy_gb_per_s']:.1f} "
                f"| {b['fraction_of_copy']:.2f} |"
            )
    if settings.memory:
        lines += [
            "",
            "| backend | shape | op | output MiB | gumbelkit peak / output "
            "| naive peak / output |",
            "|---|---|---|---:|---:|---:|",
        ]
        for m in settings.memory:
            lines.append(
                f"| {m['backend']} | {'x'.join(map(str, m['shape']))} | {m['operation']} "
                f"| {m['output_bytes'] / 2**20:.3g} | {m['gumbelkit_peak_over_output']:.2f} "
                f"| {_fmt(m.get('naive_peak_over_output'), 3)} |"
            )
    return "\n".join(lines)


def environment(
    settings: Settings, quick: bool, repeats: int | None, load_at_start: Any
) -> dict[str, Any]:
    """Return the versions, thread count and load that give the numbers their context."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gumbelkit": __version__,
        "quick": quick,
        "repeats": repeats,
        "tau": settings.tau,
        "shapes": [list(shape) for shape in settings.shapes],
        "torch_device": settings.torch_device,
        "triton": settings.triton,
        "top_k": settings.top_k,
        "categorical": settings.categorical,
        "gumbelkit_threads": get_num_threads(),
        # Context for the numbers: other processes may share the CPU.
        "loadavg_at_start": load_at_start,
    }
    for module in ("numpy", "scipy", "torch", "jax"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number; got {text!r}")
    return value


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    """Return the logits shapes of ``"4096x1024,32x10"`` (rows x classes, positive sizes).

    Each shape holds at most ``MAX_SHAPE_VALUES`` logits.
    """
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated ROWSxCLASSES with positive sizes, e.g. 32x10; "
                f"got {item.strip()!r}"
            )
        rows, classes = int(parts[0]), int(parts[1])
        if rows * classes > MAX_SHAPE_VALUES:
            raise argparse.ArgumentTypeError(
                f"ROWS x CLASSES must lie in [1, 2**28 = {MAX_SHAPE_VALUES}]; "
                f"{item.strip()} has {rows * classes}"
            )
        shapes.append((rows, classes))
    return tuple(shapes)


def add_arguments(parser: argparse.ArgumentParser, default_json: Path | None = None) -> None:
    """Add the benchmark's options to ``parser`` (``gumbelkit bench`` and benchmarks/bench.py)."""
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats (about 2 minutes with the default shapes)")
    parser.add_argument(
        "--json", type=Path, default=default_json, metavar="PATH",
        help="also write the results as JSON to PATH" + (
            f" (default: {default_json})" if default_json is not None else ""
        ),
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), metavar="NAMES",
        help=f"comma-separated subset of {','.join(BACKENDS)} (default: all; a library that is "
             "not installed is skipped with the reason)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, metavar="N",
        help="time exactly N repeats per comparison instead of filling a time budget (N >= 1; "
             "for a smoke test, not for numbers)",
    )
    parser.add_argument(
        "--tau", type=_positive_float, default=TAU, metavar="T",
        help=f"the temperature of the soft and hard samples (default: {TAU})",
    )
    parser.add_argument(
        "--torch-device", default="cpu", metavar="DEVICE",
        help="the PyTorch device, e.g. cuda (default: cpu); off the CPU the table also gives "
             "the soft sample's bandwidth against a copy's",
    )
    parser.add_argument(
        "--triton", action="store_true",
        help="draw gumbelkit's soft PyTorch samples with the fused Triton kernel "
             "(gumbelkit.backends.torch.use_triton; CUDA tensors)",
    )
    parser.add_argument(
        "--categorical", action="store_true",
        help="also time categorical against Generator.choice, torch.multinomial and "
             "jax.random.categorical, and sample_tokens against PyTorch's token recipe",
    )
    parser.add_argument(
        "--top-k", action="store_true",
        help="also time gumbel_top_k against gumbel_max at "
             f"{'x'.join(map(str, TOP_K_SHAPE))} for k = "
             f"{', '.join(map(str, TOP_K_KS))} (NumPy, PyTorch)",
    )
    parser.add_argument(
        "--shapes", type=parse_shapes, default=SHAPES, metavar="RxK,...",
        help="logits shapes, rows x classes, at most 2**28 logits each (default: "
             f"{','.join(f'{r}x{k}' for r, k in SHAPES)})",
    )


def check_json_path(path: Path) -> None:
    """Raise :class:`BenchError` unless the JSON results can be written to ``path``.

    The folder of ``path`` must exist and ``path`` must not be a folder; then ``path`` is opened
    for appending, which asks the operating system itself (a permission check alone passes
    everything for root, also where nothing can be written, as under ``/proc``). An existing
    file stays as it is; a file the check creates is removed again.

    Parameters
    ----------
    path : pathlib.Path
        The ``--json`` path.

    Raises
    ------
    BenchError
        Naming ``--json``, the path and what is wrong with it.

    """
    folder = path.parent
    problem = None
    if not folder.exists():
        problem = f"the folder {folder} does not exist"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder"
    elif path.is_dir():
        problem = "it is a folder"
    else:
        existed = path.exists()
        try:
            with path.open("a"):
                pass
        except OSError as exc:
            problem = exc.strerror or str(exc)
        else:
            if not existed:
                path.unlink()
    if problem is not None:
        raise BenchError(f"--json: cannot write {path}: {problem}")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with parsed options; print the tables, write JSON if asked.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    int
        0, or 1 when nothing was measured: every backend asked for was skipped (the reasons
        are printed on stderr and no JSON is written).

    Raises
    ------
    BenchError
        On bad options, a malformed ``--torch-device`` or an unwritable ``--json`` path (a
        path whose folder is missing or cannot be written is found before anything is timed).

    """
    # Each backend once, in the order given: a repeated name would time it twice.
    wanted = list(dict.fromkeys(b.strip() for b in args.backends.split(",") if b.strip()))
    unknown = sorted(set(wanted) - set(BACKENDS))
    if unknown:
        raise BenchError(f"--backends: unknown {', '.join(unknown)}; "
                         f"choose from {', '.join(BACKENDS)}")
    if not wanted:
        raise BenchError(f"--backends: no backend named; choose from {', '.join(BACKENDS)}")
    if args.repeats is not None and args.repeats < 1:
        raise BenchError(f"--repeats must be a positive integer; got {args.repeats}")
    if args.json is not None:
        check_json_path(args.json)  # before the run, not after minutes of it
    if args.repeats is not None:
        settings = Settings(args.repeats, args.repeats, budget_s=0.0, shapes=args.shapes)
    elif args.quick:
        settings = Settings(min_repeats=5, max_repeats=50, budget_s=0.8, shapes=args.shapes)
    else:
        settings = Settings(min_repeats=15, max_repeats=300, budget_s=5.0, shapes=args.shapes)
    settings.tau = args.tau
    settings.torch_device = args.torch_device
    settings.triton = args.triton
    settings.top_k = args.top_k
    settings.categorical = args.categorical
    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    steps = {name: BACKENDS[name][2] * len(settings.shapes) + _extra_steps(name, settings)
             for name in wanted}
    total = sum(steps.values())
    # The benchmark always takes more than a second: draw the bar from the start.
    with ProgressBar(total, delay=0.0) as progress:
        settings.progress = progress
        for name in wanted:
            module, bench_backend, _ = BACKENDS[name]
            progress.describe(f"importing {module}")
            try:
                __import__(module)
            except ImportError as exc:
                settings.skip(f"{name}: skipped, cannot import {module} ({exc})")
                progress.advance(steps[name])
                continue
            try:
                bench_backend(settings)
            except MemoryError:
                # The rows measured so far stand; the shapes are what to make smaller.
                settings.skip(f"{name}: stopped, out of memory (try smaller --shapes)")
        settings.progress = None

    if not settings.rows:
        # An empty table with exit code 0 would read as success to a script or CI, and an
        # empty JSON file would overwrite earlier results.
        print("nothing was measured: every backend asked for was skipped (see above)",
              file=sys.stderr)
        return 1
    print(markdown(settings))
    for reason in settings.skipped:
        print(f"\nskipped: {reason}")
    if args.json is not None:
        result = {
            "environment": environment(settings, args.quick, args.repeats, load_at_start),
            "rows": [asdict(r) for r in settings.rows],
            "memory": settings.memory,
            "bandwidth": settings.bandwidth,
            "skipped": settings.skipped,
        }
        try:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            raise BenchError(f"--json: cannot write {args.json}: {exc.strerror or exc}") from None
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None, *, default_json: Path | None = None,
         prog: str | None = None) -> int:
    """Run the benchmark as a script (``python benchmarks/bench.py``); return its exit code."""
    parser = Parser(prog=prog, description=DESCRIPTION)
    add_arguments(parser, default_json)
    try:
        return run(parser.parse_args(argv))
    except UsageError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
