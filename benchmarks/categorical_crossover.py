"""Where ``gk.categorical(method="auto")`` should switch methods: each method's time by draws.

For a few shapes (rows x classes) and draws per row, time the three methods of
``gk.categorical`` on NumPy and PyTorch (float32 logits, one process, interleaved repeats, the
median) and print a markdown table with the fastest method per line. ``TABLE_FROM_DRAWS`` and
``ALIAS_FROM_DRAWS_PER_CLASS`` in gumbelkit/_categorical.py are read from this table.

    python benchmarks/categorical_crossover.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import gumbelkit as gk

SHAPES = ((1, 4096), (64, 4096), (1, 50257), (4096, 1024))
DRAWS = (1, 4, 8, 16, 64, 1024, 8192, 100_000)
MAX_VALUES = 2**27  # skip a Gumbel-max line that would draw more uniforms than this
REPEATS = 5
METHODS = ("gumbel", "cdf", "alias")


def median_ms(fns: dict[str, Callable[[], Any]]) -> dict[str, float]:
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(s) for name, s in samples.items()}


def main() -> None:
    libraries: list[tuple[str, Callable[[np.ndarray], Any], Any]] = [
        ("numpy", lambda x: x, np.random.default_rng(0))]
    try:
        import torch

        libraries.append(("torch", torch.from_numpy, torch.Generator().manual_seed(0)))
    except ImportError:
        pass
    print("| library | rows x classes | draws per row | gumbel ms | cdf ms | alias ms | fastest |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    for library, convert, generator in libraries:
        for rows, classes in SHAPES:
            logits = convert(rng.normal(size=(rows, classes)).astype(np.float32) * 2)
            for draws in DRAWS:
                if rows * draws > 2**22:
                    continue
                fns = {
                    method: partial(gk.categorical, logits, sample_shape=draws, rng=generator,
                                    method=method)
                    for method in METHODS
                    if method != "gumbel" or rows * classes * draws <= MAX_VALUES
                }
                ms = median_ms(fns)
                cells = [f"{ms[m]:.3f}" if m in ms else "-" for m in METHODS]
                fastest = min(ms, key=ms.__getitem__)
                print(f"| {library} | {rows} x {classes} | {draws} | {' | '.join(cells)} | "
                      f"{fastest} |", flush=True)


if __name__ == "__main__":
    main()
