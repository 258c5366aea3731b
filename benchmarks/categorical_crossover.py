"""Where ``gk.categorical(method="auto")`` should switch methods: each method's time by draws.

For a few shapes (rows x classes) and draws per row, time the three methods of
``gk.categorical`` on NumPy and PyTorch, and Gumbel-max and alias tables under ``jax.jit`` with
``jax_enable_x64`` off (float32 logits, one process, interleaved repeats, the median), and
print a markdown table with the fastest method per line. ``TABLE_FROM_DRAWS``,
``ALIAS_FROM_DRAWS_PER_CLASS`` and ``ALIAS_WITHOUT_CDF_FROM_DRAWS`` in
gumbelkit/_categorical.py are read from this table.

    python benchmarks/categorical_crossover.py
    python benchmarks/categorical_crossover.py --libraries jax

``--per-class`` times only the CDF against the alias tables on NumPy and PyTorch, at 1, 2, 4
and 8 draws per row and class and 15 repeats, where ``ALIAS_FROM_DRAWS_PER_CLASS`` is read:

    python benchmarks/categorical_crossover.py --per-class
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

import gumbelkit as gk

SHAPES = ((1, 4096), (64, 4096), (1, 50257), (4096, 1024))
DRAWS = (1, 2, 4, 8, 16, 32, 64, 256, 1024, 8192, 100_000)
MAX_VALUES = 2**27  # skip a Gumbel-max line that would draw more uniforms than this
REPEATS = 5
PER_CLASS_SHAPES = ((1, 4096), (8, 4096), (64, 4096), (1, 50257), (8, 50257), (256, 1024))
PER_CLASS_DRAWS = (1, 2, 4, 8)
PER_CLASS_REPEATS = 15
METHODS = ("gumbel", "cdf", "alias")


def median_ms(fns: dict[str, Callable[[], Any]], repeats: int = REPEATS) -> dict[str, float]:
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(s) for name, s in samples.items()}


def _jax_calls(logits: np.ndarray, draws: int) -> dict[str, Callable[[], Any]]:
    """Jitted calls per method with ``jax_enable_x64`` off (JAX's default: no CDF there)."""
    import jax

    x = jax.numpy.asarray(logits)
    key = jax.random.key(0)
    calls: dict[str, Callable[[], Any]] = {}
    for method in ("gumbel", "alias"):
        jitted = jax.jit(partial(_draw, sample_shape=draws, method=method))
        calls[method] = partial(_ready, jitted, x, key)
    return calls


def _draw(x: Any, key: Any, *, sample_shape: int, method: str) -> Any:
    return gk.categorical(x, sample_shape=sample_shape, rng=key, method=method)


def _ready(f: Callable[..., Any], *arguments: Any) -> Any:
    return f(*arguments).block_until_ready()


def _importable(library: str) -> bool:
    """Return whether ``library`` imports; say on stderr why a library is skipped."""
    try:
        importlib.import_module(library)
    except ImportError as error:
        print(f"skipped {library}: {error}", file=sys.stderr)
        return False
    return True


Library = tuple[str, Callable[[np.ndarray], Any], Any]  # name, from NumPy, generator


def _tables(libraries: list[Library],
            shapes: tuple[tuple[int, int], ...]) -> Iterator[tuple[str, int, int, Any, Any]]:
    """Yield each library's logits of each shape (one stream of normals, times 2)."""
    rng = np.random.default_rng(1)
    for library, convert, generator in libraries:
        for rows, classes in shapes:
            logits = convert(rng.normal(size=(rows, classes)).astype(np.float32) * 2)
            yield library, rows, classes, logits, generator


def _method_calls(logits: Any, draws: int, generator: Any,
                  methods: tuple[str, ...]) -> dict[str, Callable[[], Any]]:
    return {method: partial(gk.categorical, logits, sample_shape=draws, rng=generator,
                            method=method) for method in methods}


def per_class(libraries: list[Library]) -> None:
    """Print the CDF's time against the alias tables' by draws per row and class."""
    print("| library | rows x classes | draws per class | cdf ms | alias ms | cdf / alias |")
    print("|---|---|---|---|---|---|")
    for library, rows, classes, logits, generator in _tables(libraries, PER_CLASS_SHAPES):
        for per in PER_CLASS_DRAWS:
            ms = median_ms(_method_calls(logits, per * classes, generator, ("cdf", "alias")),
                           PER_CLASS_REPEATS)
            print(f"| {library} | {rows} x {classes} | {per} | {ms['cdf']:.2f} | "
                  f"{ms['alias']:.2f} | {ms['cdf'] / ms['alias']:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", default="numpy,torch,jax")
    parser.add_argument("--per-class", action="store_true",
                        help="the CDF against the alias tables by draws per class")
    arguments = parser.parse_args()
    wanted = arguments.libraries.split(",")
    if arguments.per_class:
        wanted = [library for library in wanted if library != "jax"]
    libraries: list[tuple[str, Callable[[np.ndarray], Any], Any]] = []
    if "numpy" in wanted:
        libraries.append(("numpy", lambda x: x, np.random.default_rng(0)))
    if "torch" in wanted and _importable("torch"):
        import torch

        libraries.append(("torch", torch.from_numpy, torch.Generator().manual_seed(0)))
    if "jax" in wanted and _importable("jax"):
        import jax

        jax.config.update("jax_enable_x64", False)
        libraries.append(("jax (jit, x64 off)", lambda x: x, None))
    if arguments.per_class:
        per_class(libraries)
        return
    print("| library | rows x classes | draws per row | gumbel ms | cdf ms | alias ms | fastest |")
    print("|---|---|---|---|---|---|---|")
    for library, rows, classes, logits, generator in _tables(libraries, SHAPES):
        for draws in DRAWS:
            if rows * draws > 2**22:
                continue
            if library.startswith("jax"):
                fns = _jax_calls(logits, draws)
            else:
                fns = _method_calls(logits, draws, generator, METHODS)
            if rows * classes * draws > MAX_VALUES:
                fns.pop("gumbel")
            ms = median_ms(fns)
            cells = [f"{ms[m]:.3f}" if m in ms else "-" for m in METHODS]
            fastest = min(ms, key=ms.__getitem__)
            print(f"| {library} | {rows} x {classes} | {draws} | {' | '.join(cells)} | "
                  f"{fastest} |", flush=True)


if __name__ == "__main__":
    main()
