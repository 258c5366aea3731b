"""Time the build of ``categorical``'s alias tables alone, per library and shape.

The minimum of 5 calls after a warm-up, float64 tables from float64 logits (normal, scale 3,
every seventh class 30 nats lower); JAX jitted, with ``jax_enable_x64`` on.

    python benchmarks/alias_build.py
    python benchmarks/alias_build.py --libraries jax
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gumbelkit._categorical import alias_table
from gumbelkit._prepared import Prepared

SHAPES = ((64, 4096), (4096, 1024), (1, 50257))
REPEATS = 5


def minimum_ms(fn: Callable[[], Any]) -> float:
    fn()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        getattr(result[0], "block_until_ready", lambda: None)()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def build(library: str, logits: np.ndarray) -> Callable[[], Any]:
    if library == "torch":
        import torch

        x: Any = torch.asarray(logits)
    elif library == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        x = jax.numpy.asarray(logits)
    else:
        x = logits
    prepared = Prepared(x, -1, 0, None, (), False)
    backend, xp, device = prepared.backend, prepared.xp, prepared.device

    def table(values: Any) -> Any:
        return alias_table(values, xp.float64, backend=backend, xp=xp, device=device)

    if library == "jax":
        import jax

        jitted = jax.jit(table)
        return lambda: jitted(x)
    return lambda: table(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", default="numpy,torch,jax")
    args = parser.parse_args()
    print("| library | rows x classes | build ms |")
    print("|---|---|---|")
    for library in args.libraries.split(","):
        for rows, classes in SHAPES:
            logits = np.random.default_rng(0).normal(size=(rows, classes)) * 3
            logits[:, ::7] -= 30
            print(f"| {library} | {rows} x {classes} | {minimum_ms(build(library, logits)):.1f} |")


if __name__ == "__main__":
    main()
