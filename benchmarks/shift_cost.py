"""What the check for rows far from 0 costs: each sampler with it against the same call without.

Every sampler of logits subtracts a row's maximum where that maximum lies beyond ``2**6`` of 0
(``2**35`` in float64), so that ``logits + G`` is not rounded at the logits' magnitude
(docs/numeric-contract.md, "Logits far from zero"). On ordinary logits nothing is subtracted,
and what remains is the check: two whole-array reductions, or the row maxima. This script
times each call with the check and with it switched off (the logits used as they are, which
is what the call did without it), interleaved round by round, and prints the median time with
it and the ratio of the medians. The switch exists only here, for this measurement.

    python benchmarks/shift_cost.py                   # NumPy at the usual shapes, both threads
    python benchmarks/shift_cost.py --threads 1 --rounds 41
    python benchmarks/shift_cost.py --shapes 32x10 --backends numpy,torch
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import gumbelkit as gk
from gumbelkit import _prepared


def _unchecked(logits: Any, axis: int, backend: Any, xp: Any, *, by_rows: bool = False,
               limit: float | None = None) -> tuple[Any, None]:
    return logits, None


def _median_seconds(call: Callable[[], Any], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="numpy")
    parser.add_argument("--shapes", default="4096x1024,64x50257")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's row blocks (default: gumbelkit's default)")
    args = parser.parse_args()
    if args.threads is not None:
        gk.set_num_threads(args.threads)
    checked = _prepared.from_near_zero
    print("| backend | shape | op | with the check ms | with / without (ratio of medians) |")
    print("|---|---|---|---:|---:|")
    for backend in args.backends.split(","):
        for shape_text in args.shapes.split(","):
            rows, classes = (int(part) for part in shape_text.split("x"))
            data = np.random.default_rng(1).normal(size=(rows, classes)).astype(np.float32)
            if backend == "torch":
                import torch

                logits: Any = torch.from_numpy(data)
                rng: Any = torch.Generator().manual_seed(0)
            else:
                logits, rng = data, np.random.default_rng(0)
            repeats = max(1, 200_000 // data.size)  # small calls: many per timing
            ops: dict[str, Callable[[], Any]] = {
                "soft": partial(gk.gumbel_softmax, logits, tau=0.5, rng=rng),
                "hard": partial(gk.gumbel_softmax, logits, tau=0.5, hard=True, rng=rng),
                "max": partial(gk.gumbel_max, logits, rng=rng),
            }
            for op, call in ops.items():
                times: dict[bool, list[float]] = {True: [], False: []}
                for round_ in range(args.rounds):
                    for on in ((True, False) if round_ % 2 else (False, True)):
                        _prepared.from_near_zero = checked if on else _unchecked
                        try:
                            times[on].append(_median_seconds(call, repeats))
                        finally:
                            _prepared.from_near_zero = checked
                with_check = statistics.median(times[True])
                without = statistics.median(times[False])
                print(f"| {backend} | {shape_text} | {op} | {with_check * 1e3:.3f} | "
                      f"{with_check / without:.3f} |", flush=True)


if __name__ == "__main__":
    main()
