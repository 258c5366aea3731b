"""Time gumbelkit against the samplers each backend already offers, in one process.

Run ``python benchmarks/bench.py [--quick] [--json PATH] [--backends numpy,torch,jax]``.
Prints a markdown table and writes the same rows as JSON; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gumbelkit as gk

SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (64, 50257), (32, 10))
TAU = 0.5
SEED = 0


@dataclass
class Row:
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
    min_repeats: int
    max_repeats: int
    budget_s: float  # time allowed for one group of interleaved callables
    rows: list[Row] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
        start = time.perf_counter()
        sync(fn())
        slowest = max(slowest, time.perf_counter() - start)
    per_round = max(slowest * len(fns), 1e-6)
    fitting = int(settings.budget_s // per_round)
    repeats = min(settings.max_repeats, max(settings.min_repeats, fitting))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            sync(fn())
            samples[name].append(time.perf_counter() - start)
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
    fns = {"gk": ours} if theirs is None else {"gk": ours, "ref": theirs}
    ms, repeats = _median_ms(fns, settings, sync)
    ref_ms = ms.get("ref")
    ratio = None if ref_ms is None else ref_ms / ms["gk"]
    settings.rows.append(
        Row(backend, shape, operation, mode, ms["gk"], reference, ref_ms, ratio, repeats)
    )


def _floors(
    settings: Settings,
    backend: str,
    shape: tuple[int, ...],
    floors: dict[str, Callable[[], Any]],
    sync: Callable[[Any], Any] = lambda out: out,
) -> None:
    ms, repeats = _median_ms(floors, settings, sync)
    for name, value in ms.items():
        settings.rows.append(
            Row(backend, shape, "floor", "forward", None, name, value, None, repeats)
        )


def _peak_bytes(fn: Callable[[], Any]) -> tuple[int, int]:
    """Return the traced peak of one call and the size of its result (NumPy reports to
    tracemalloc, so this counts array buffers, not only Python objects)."""
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, int(out.nbytes)


def bench_numpy(settings: Settings) -> None:
    import numpy as np

    try:
        from scipy.special import softmax
    except ImportError:
        softmax = None
        settings.skipped.append("numpy naive reference: scipy is not installed")

    gen = np.random.default_rng(SEED)

    def naive_soft(x: Any) -> Any:
        # The textbook version: float64 noise from float64 uniforms, then scipy's softmax.
        g = -np.log(-np.log(gen.random(x.shape)))
        return softmax((x + g) / TAU, axis=-1).astype(x.dtype)

    def naive_hard(x: Any) -> Any:
        y = naive_soft(x)
        out = np.zeros_like(y)
        np.put_along_axis(out, np.argmax(y, axis=-1)[:, None], 1.0, axis=-1)
        return out

    def naive_max(x: Any) -> Any:
        return np.argmax(x + -np.log(-np.log(gen.random(x.shape))), axis=-1)

    for shape in SHAPES:
        x = gen.standard_normal(shape, dtype=np.float32)
        for op, hard in (("soft", False), ("hard", True)):
            _compare(
                settings, "numpy", shape, op, "forward",
                lambda x=x, hard=hard: gk.gumbel_softmax(x, tau=TAU, hard=hard, rng=gen),
                "naive float64 + scipy softmax",
                None if softmax is None else (
                    lambda x=x, hard=hard: naive_hard(x) if hard else naive_soft(x)
                ),
            )
        _compare(
            settings, "numpy", shape, "max", "forward",
            lambda x=x: gk.gumbel_max(x, rng=gen),
            "naive float64 argmax",
            lambda x=x: naive_max(x),
        )
        _floors(settings, "numpy", shape, {
            "Generator.random float32": lambda shape=shape: gen.random(shape, dtype=np.float32),
            "copy": lambda x=x: x.copy(),
        })
        peak, out_bytes = _peak_bytes(lambda x=x: gk.gumbel_softmax(x, tau=TAU, rng=gen))
        record: dict[str, Any] = {
            "backend": "numpy", "shape": shape, "operation": "soft",
            "output_bytes": out_bytes, "gumbelkit_peak_bytes": peak,
            "gumbelkit_peak_over_output": peak / out_bytes,
        }
        if softmax is not None:
            naive_peak, _ = _peak_bytes(lambda x=x: naive_soft(x))
            record["naive_peak_bytes"] = naive_peak
            record["naive_peak_over_output"] = naive_peak / out_bytes
        settings.memory.append(record)


def bench_torch(settings: Settings) -> None:
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.manual_seed(SEED)
    for shape in SHAPES:
        x = torch.randn(shape, dtype=torch.float32)
        weights = torch.randn(shape, dtype=torch.float32)
        leaf = x.clone().requires_grad_(True)

        def backward(fn: Callable[[Any], Any], leaf: Any = leaf, weights: Any = weights) -> Any:
            # A weighted sum, since the gradient of sum(softmax) is zero by construction.
            (fn(leaf) * weights).sum().backward()
            leaf.grad = None

        for op, hard in (("soft", False), ("hard", True)):
            def ours(t: Any, hard: bool = hard) -> Any:
                return gk.gumbel_softmax(t, tau=TAU, hard=hard)

            def theirs(t: Any, hard: bool = hard) -> Any:
                return F.gumbel_softmax(t, tau=TAU, hard=hard)

            with torch.no_grad():
                _compare(
                    settings, "torch", shape, op, "forward",
                    lambda ours=ours, x=x: ours(x), "F.gumbel_softmax",
                    lambda theirs=theirs, x=x: theirs(x),
                )
            _compare(
                settings, "torch", shape, op, "forward+backward",
                lambda ours=ours: backward(ours), "F.gumbel_softmax",
                lambda theirs=theirs: backward(theirs),
            )
        with torch.no_grad():
            # multinomial takes probabilities, so the reference pays for the softmax that
            # gumbel_max does not need.
            _compare(
                settings, "torch", shape, "max", "forward",
                lambda x=x: gk.gumbel_max(x), "torch.multinomial(softmax)",
                lambda x=x: torch.multinomial(torch.softmax(x, dim=-1), 1),
            )
            _floors(settings, "torch", shape, {
                "torch.rand": lambda shape=shape: torch.rand(shape),
                "copy": lambda x=x: x.clone(),
            })


def bench_jax(settings: Settings) -> None:
    import jax
    import jax.numpy as jnp

    def sync(out: Any) -> Any:
        return jax.block_until_ready(out)

    def peer(x: Any, k: Any, hard: bool) -> Any:
        y = jax.nn.softmax((x + jax.random.gumbel(k, x.shape)) / TAU)
        if not hard:
            return y
        one_hot = jax.nn.one_hot(jnp.argmax(y, axis=-1), x.shape[-1], dtype=y.dtype)
        return one_hot - jax.lax.stop_gradient(y) + y

    def ours(x: Any, k: Any, hard: bool) -> Any:
        return gk.gumbel_softmax(x, tau=TAU, hard=hard, rng=k)

    def loss(fn: Callable[[Any, Any, bool], Any], hard: bool) -> Callable[..., Any]:
        # A weighted sum, since the gradient of sum(softmax) is zero by construction.
        return lambda x, k, w: jnp.sum(fn(x, k, hard) * w)

    key = jax.random.key(SEED)
    for shape in SHAPES:
        kx, kw = jax.random.split(jax.random.fold_in(key, shape[1]))
        x = jax.random.normal(kx, shape, dtype=jnp.float32)
        w = jax.random.normal(kw, shape, dtype=jnp.float32)
        for op, hard in (("soft", False), ("hard", True)):
            f_ours = jax.jit(lambda x, k, hard=hard: ours(x, k, hard))
            f_peer = jax.jit(lambda x, k, hard=hard: peer(x, k, hard))
            _compare(
                settings, "jax", shape, op, "forward",
                lambda f=f_ours, x=x: f(x, key), "jit(softmax(x + gumbel))",
                lambda f=f_peer, x=x: f(x, key), sync,
            )
            g_ours = jax.jit(jax.grad(loss(ours, hard)))
            g_peer = jax.jit(jax.grad(loss(peer, hard)))
            _compare(
                settings, "jax", shape, op, "forward+backward",
                lambda g=g_ours, x=x, w=w: g(x, key, w), "jit(softmax(x + gumbel))",
                lambda g=g_peer, x=x, w=w: g(x, key, w), sync,
            )
        m_ours = jax.jit(lambda x, k: gk.gumbel_max(x, rng=k))
        m_peer = jax.jit(lambda x, k: jax.random.categorical(k, x, axis=-1))
        _compare(
            settings, "jax", shape, "max", "forward",
            lambda f=m_ours, x=x: f(x, key), "jit(jax.random.categorical)",
            lambda f=m_peer, x=x: f(x, key), sync,
        )
        uniform = jax.jit(lambda k, shape=shape: jax.random.uniform(k, shape, jnp.float32))
        _floors(settings, "jax", shape, {
            "jit(jax.random.uniform)": lambda u=uniform: u(key),
            # Eager: under jit XLA may alias an unchanged input instead of copying it.
            "copy": lambda x=x: jnp.array(x, copy=True),
        }, sync)


BACKENDS: dict[str, tuple[str, Callable[[Settings], None]]] = {
    "numpy": ("numpy", bench_numpy),
    "torch": ("torch", bench_torch),
    "jax": ("jax", bench_jax),
}


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if value < 1000 else f"{value:.0f}"


def markdown(settings: Settings) -> str:
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


def environment(quick: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gumbelkit": gk.__version__,
        "quick": quick,
        "tau": TAU,
    }
    if hasattr(os, "getloadavg"):
        # Context for the numbers: other processes may share the CPU.
        info["loadavg_at_start"] = os.getloadavg()
    for module in ("numpy", "scipy", "torch", "jax"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 2 minutes)")
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).with_name("results.json"),
        help="where to write the results (default: benchmarks/results.json)",
    )
    parser.add_argument(
        "--backends", default="numpy,torch,jax", help="comma-separated subset of numpy,torch,jax"
    )
    args = parser.parse_args(argv)

    if args.quick:
        settings = Settings(min_repeats=5, max_repeats=50, budget_s=0.8)
    else:
        settings = Settings(min_repeats=15, max_repeats=300, budget_s=5.0)
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(wanted) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {sorted(BACKENDS)}")

    for name in wanted:
        module, run = BACKENDS[name]
        try:
            __import__(module)
        except ImportError as exc:
            reason = f"{name}: skipped, cannot import {module} ({exc})"
            settings.skipped.append(reason)
            print(reason, file=sys.stderr)
            continue
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        run(settings)

    print(markdown(settings))
    for reason in settings.skipped:
        print(f"\nskipped: {reason}")
    result = {
        "environment": environment(args.quick),
        "rows": [asdict(r) for r in settings.rows],
        "memory": settings.memory,
        "skipped": settings.skipped,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
