"""How much faster NumPy's row blocks run on two threads than on one, beside a hand-written control.

For float32 logits of one shape, times gumbelkit's soft sample, hard sample and ``gumbel_max``
with ``gumbelkit.set_num_threads(1)`` and ``(2)``, and a control written with NumPy alone that
does what the row blocks do (eight row blocks, each with its own ``Generator.spawn`` stream, the
textbook noise ``-log(-log U)``, then the sample), on one thread and on a pool of two. The four
calls of an operation are interleaved round by round, so that a load change hits all of them;
the table gives the median of each and the median over rounds of the ratio one thread / two
threads. The control shows what the machine's two threads give to this work.

    python benchmarks/threads.py                       # (8192, 1024), 15 rounds
    python benchmarks/threads.py --shape 4096x1024 --rounds 31
    python benchmarks/threads.py --categorical         # categorical's table methods too
    python benchmarks/threads.py --tokens              # sample_tokens too

``--categorical`` adds ``gk.categorical`` by alias tables (one row of 4,096 classes, 2**22
draws) and by the CDF (256 rows of 4,096, 4,096 draws each), whose draws are blocked (no
control). ``--tokens`` adds ``gk.sample_tokens`` on 64 rows of 50,257 (temperature 0.7, with
top-k 50 and top-p 0.9, with top-p 0.9 alone, and with no filter), whose filters run by the
noise's row blocks (no control).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

import gumbelkit as gk

BLOCKS = 8
TAU = 0.5


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    u = rng.random(shape, dtype=np.float32)
    np.maximum(u, np.finfo(np.float32).smallest_normal, out=u)
    np.log(u, out=u)
    np.negative(u, out=u)
    np.log(u, out=u)
    np.negative(u, out=u)
    return u


def _soft(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    z = _noise(rng, x.shape)
    z += x
    z /= TAU
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _hard(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    z = _noise(rng, x.shape)
    z += x
    index = z.argmax(axis=1)
    z[...] = 0.0
    z[np.arange(len(index)), index] = 1.0
    return z


def _max(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    z = _noise(rng, x.shape)
    z += x
    return z.argmax(axis=1)


def _control(op: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray,
             pool: ThreadPoolExecutor | None) -> np.ndarray:
    """The row blocks by hand: spawned streams, one block per stream, on ``pool`` or inline."""
    streams = np.random.default_rng(1).spawn(BLOCKS)
    rows = -(-x.shape[0] // BLOCKS)
    blocks = [x[b * rows:(b + 1) * rows] for b in range(BLOCKS)]
    if pool is None:
        parts = [op(stream, block) for stream, block in zip(streams, blocks, strict=True)]
    else:
        parts = list(pool.map(op, streams, blocks))
    return np.concatenate(parts)


def _gumbelkit(op: str, x: np.ndarray, threads: int) -> Any:
    gk.set_num_threads(threads)
    if op == "max":
        return gk.gumbel_max(x, rng=1)
    return gk.gumbel_softmax(x, tau=TAU, hard=op == "hard", rng=1)


def _seconds(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    time.sleep(elapsed / 10)  # as gumbelkit bench: what a call leaves behind is not the next's
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="8192x1024")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--categorical", action="store_true",
                        help="also time categorical's table methods")
    parser.add_argument("--tokens", action="store_true", help="also time sample_tokens")
    args = parser.parse_args()
    rows, classes = (int(part) for part in args.shape.split("x"))
    x = np.random.default_rng(0).normal(size=(rows, classes)).astype(np.float32)
    pool = ThreadPoolExecutor(2)
    controls = {"soft": _soft, "hard": _hard, "max": _max}
    print("| op | gumbelkit 1 thread ms | 2 threads ms | ratio | control 1 thread ms | "
          "2 threads ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for op, control in controls.items():
        calls = {
            "gk1": lambda op=op: _gumbelkit(op, x, 1),
            "gk2": lambda op=op: _gumbelkit(op, x, 2),
            "c1": lambda control=control: _control(control, x, None),
            "c2": lambda control=control: _control(control, x, pool),
        }
        for call in calls.values():  # warm-up: allocator, thread pools
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                times[name].append(_seconds(call))
        ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
        gk_ratio = statistics.median(a / b for a, b in zip(times["gk1"], times["gk2"],
                                                           strict=True))
        control_ratio = statistics.median(a / b for a, b in zip(times["c1"], times["c2"],
                                                                strict=True))
        print(f"| {op} | {ms['gk1']:.1f} | {ms['gk2']:.1f} | {gk_ratio:.2f} | {ms['c1']:.1f} | "
              f"{ms['c2']:.1f} | {control_ratio:.2f} |", flush=True)
    if args.categorical:
        _categorical_rows(args.rounds)
    if args.tokens:
        _token_rows(args.rounds)
    gk.set_num_threads(None)


def _categorical_rows(rounds: int) -> None:
    """Time categorical's alias tables and CDF on one thread and on two (draws by blocks)."""
    cases = {
        "categorical alias, 1x4096, 2**22 draws": ((1, 4096), 2**22, "alias"),
        "categorical cdf, 256x4096, 4096 draws per row": ((256, 4096), 4096, "cdf"),
    }
    for label, (shape, draws, method) in cases.items():
        logits = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        _one_against_two(label, rounds, partial(gk.categorical, logits, sample_shape=draws,
                                                rng=1, method=method))


def _token_rows(rounds: int) -> None:
    """Time sample_tokens on one thread and on two (filters and noise by row blocks)."""
    logits = np.random.default_rng(0).normal(size=(64, 50257)).astype(np.float32)
    cases = {
        "tokens, 64x50257, t=0.7 top-k 50 top-p 0.9": {"top_k": 50, "top_p": 0.9},
        "tokens, 64x50257, t=0.7 top-p 0.9": {"top_p": 0.9},
        "tokens, 64x50257, t=0.7": {},
    }
    for label, filters in cases.items():
        _one_against_two(label, rounds, partial(gk.sample_tokens, logits, temperature=0.7,
                                                rng=1, **filters))


def _one_against_two(label: str, rounds: int, sample: Callable[[], Any]) -> None:
    """Print the median times of ``sample`` on one thread and on two, and their ratio."""

    def call(threads: int) -> Any:
        gk.set_num_threads(threads)
        return sample()

    call(1)
    call(2)
    one, two = [], []
    for _ in range(rounds):
        one.append(_seconds(lambda: call(1)))
        two.append(_seconds(lambda: call(2)))
    ratio = statistics.median(a / b for a, b in zip(one, two, strict=True))
    print(f"| {label} | {1e3 * statistics.median(one):.1f} | "
          f"{1e3 * statistics.median(two):.1f} | {ratio:.2f} | - | - | - |", flush=True)


if __name__ == "__main__":
    main()
