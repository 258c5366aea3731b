"""What the exact upper tail costs: each sampler with the tail against the same call without it.

The exact tail (docs/mathematics.md#the-upper-tail-and-rare-classes) finds the top sliver of the
uniforms and redraws it. This script times every call twice in one process, once as gumbelkit
draws it and once with the refinement switched off (the noise is the textbook
``-log(-log U)`` of the same uniforms, everything else the same), interleaved round by round so
that a load change hits both, and prints the median over rounds of the per-round ratio
``with tail / without``. The textbook variant exists only here, for this measurement.

    python benchmarks/tail_cost.py                  # numpy, torch and jax at the issue's shapes
    python benchmarks/tail_cost.py --backends numpy --shapes 4096x1024 --rounds 31
    python benchmarks/tail_cost.py --backends numpy --threads 1   # NumPy's row blocks on 1 thread
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

import gumbelkit as gk
from gumbelkit import _noise


def _textbook(backend: Any, source: Any, shape: tuple[int, ...], dtype: Any,
              device: Any) -> tuple[Any, Any]:
    u, source = backend.uniform(source, shape, dtype, device)
    return backend.gumbel_(u), source


@contextmanager
def textbook_noise() -> Iterator[None]:
    """Draw the noise without the exact tail inside the block (jax.jit: while tracing)."""
    exact = _noise._exact_gumbel
    _noise._exact_gumbel = _textbook
    try:
        yield
    finally:
        _noise._exact_gumbel = exact


def _ready(f: Callable[..., Any], *arguments: Any) -> Any:
    """Return ``f(*arguments)`` once JAX has computed it."""
    return f(*arguments).block_until_ready()


def _without_tail(f: Callable[..., Any], *arguments: Any) -> Any:
    """Return ``f(*arguments)`` drawn with the textbook noise."""
    with textbook_noise():
        return f(*arguments)


def _calls(backend: str, logits: np.ndarray) -> dict[str, tuple[Callable[[], Any],
                                                             Callable[[], Any]]]:
    """Return, per operation, the call with the exact tail and the call without it."""
    ops: dict[str, Callable[..., Any]] = {
        "soft": lambda x, rng: gk.gumbel_softmax(x, tau=0.5, rng=rng),
        "hard": lambda x, rng: gk.gumbel_softmax(x, tau=0.5, hard=True, rng=rng),
        "max": lambda x, rng: gk.gumbel_max(x, rng=rng),
    }
    calls = {}
    if backend == "jax":
        import jax

        x = jax.numpy.asarray(logits)
        key = jax.random.key(0)
        for name, op in ops.items():
            with_tail = jax.jit(op)
            with_tail(x, key).block_until_ready()  # traced with the tail
            without_tail = jax.jit(lambda x, key, op=op: op(x, key))
            with textbook_noise():
                without_tail(x, key).block_until_ready()  # traced without it
            calls[name] = (partial(_ready, with_tail, x, key),
                           partial(_ready, without_tail, x, key))
        return calls
    if backend == "torch":
        import torch

        arguments: tuple[Any, Any] = (torch.from_numpy(logits), None)  # the global generator
    else:
        arguments = (logits, np.random.default_rng(0))
    for name, op in ops.items():
        calls[name] = (partial(op, *arguments), partial(_without_tail, op, *arguments))
    return calls


def _seconds(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="numpy,torch,jax")
    parser.add_argument("--shapes", default="4096x1024,64x50257")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's row blocks (default: gumbelkit's default)")
    args = parser.parse_args()
    if args.threads is not None:
        gk.set_num_threads(args.threads)
    print("| backend | shape | op | with tail ms | without ms | with / without (median of "
          "rounds) |")
    print("|---|---|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        for shape_text in args.shapes.split(","):
            rows, classes = (int(part) for part in shape_text.split("x"))
            logits = np.random.default_rng(1).normal(size=(rows, classes)).astype(np.float32)
            for op, (exact, textbook) in _calls(backend, logits).items():
                for _ in range(3):  # warm-up: allocator, thread pools
                    exact()
                    textbook()
                with_tail, without, ratios = [], [], []
                for round_ in range(args.rounds):
                    # Alternate which goes first, so that neither always follows the other.
                    if round_ % 2:
                        b, a = _seconds(textbook), _seconds(exact)
                    else:
                        a, b = _seconds(exact), _seconds(textbook)
                    with_tail.append(a)
                    without.append(b)
                    ratios.append(a / b)
                print(f"| {backend} | {shape_text} | {op} | "
                      f"{statistics.median(with_tail) * 1e3:.2f} | "
                      f"{statistics.median(without) * 1e3:.2f} | "
                      f"{statistics.median(ratios):.3f} |", flush=True)


if __name__ == "__main__":
    main()
