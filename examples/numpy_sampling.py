"""Sample a large Zipf-like vocabulary with NumPy: categorical draws and draws without replacement.

By default: 4096 classes with probabilities proportional to rank^-1.1 (float32 logits), one
million categorical draws with ``gk.categorical``, then 1000 ordered samples of 10 distinct
classes with ``gk.gumbel_top_k``. The script prints

- the frequencies of the most probable classes next to their exact probabilities (float64),
  with z-scores, and the time of the draws next to ``numpy.random.Generator.choice``'s;
- for the draws without replacement: that no sample repeats a class, the frequencies of the
  first position (which is a Gumbel-Max draw, so they follow the same probabilities), and the
  log-probabilities of a few samples from ``gk.plackett_luce_log_prob`` next to the product
  formula of the Plackett-Luce law evaluated here in float64.

``gk.categorical`` picks the fastest exact method for the shapes: a million draws from one
row of 4096 classes come from an alias table (two random numbers and a lookup per draw), where
``gk.gumbel_max`` would draw 4 * 10^9 Gumbel variates (about a minute). ``--method gumbel``
times that for comparison (``--draws`` makes it short).

    python examples/numpy_sampling.py
    python examples/numpy_sampling.py --draws 20000 --method gumbel
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import gumbelkit as gk

EXPONENT = 1.1  # Zipf-like: p_i proportional to i^-EXPONENT
SHOWN = 5  # classes shown in the tables
CHECKED_LOG_PROBS = 5  # samples whose Plackett-Luce log-probability is printed


def zipf_logits(classes: int) -> np.ndarray:
    """Return float32 logits ``-EXPONENT * log(rank)``, rank 1 to ``classes``."""
    return (-EXPONENT * np.log(np.arange(1, classes + 1, dtype=np.float64))).astype(np.float32)


def exact_probabilities(logits: np.ndarray) -> np.ndarray:
    """Return ``softmax(logits)`` in float64."""
    p = np.exp(logits.astype(np.float64) - logits.max())
    result: np.ndarray = p / p.sum()
    return result


def plackett_luce_reference(p: np.ndarray, order: np.ndarray) -> float:
    """Return ``log prod_j p[i_j] / (1 - sum_{l<j} p[i_l])`` in float64 (for small chosen mass)."""
    chosen = p[order]
    remaining = 1.0 - np.concatenate([[0.0], np.cumsum(chosen)[:-1]])
    return float(np.sum(np.log(chosen) - np.log(remaining)))


def z_scores(counts: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """Return ``(frequency - p) / standard error`` of binomial counts."""
    z: np.ndarray = (counts / n - p) / np.sqrt(p * (1 - p) / n)
    return z


def print_table(title: str, counts: np.ndarray, p: np.ndarray, n: int) -> None:
    """Print the frequencies of the ``SHOWN`` most probable classes next to ``p``."""
    print(title)
    print("  class   probability   frequency       z")
    z = z_scores(counts[:SHOWN], p[:SHOWN], n)
    for i in range(SHOWN):
        print(f"  {i:5d}   {p[i]:11.6f}   {counts[i] / n:9.6f}   {z[i]:+5.2f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the example; return the counts, the probabilities, the log-probabilities and times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4096)
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--method", default="auto", choices=gk._categorical.METHODS,
                        help="gk.categorical's method (default: auto, the fastest for the shapes)")
    parser.add_argument("--chunk", type=int, default=500,
                        help="samples without replacement per call (8 MB per float32 array of "
                             "4096 classes)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--top-k-draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    logits = zipf_logits(args.classes)
    p = exact_probabilities(logits)
    rng = np.random.default_rng(args.seed)  # one generator, advanced by every call

    # One warm-up call of each first: the first call of a process pays for fresh memory.
    gk.categorical(logits, sample_shape=args.draws, rng=np.random.default_rng(), method=args.method)
    np.random.default_rng().choice(args.classes, size=args.draws, p=p)
    start = time.perf_counter()
    draws = gk.categorical(logits, sample_shape=args.draws, rng=rng, method=args.method)
    categorical_seconds = time.perf_counter() - start
    counts = np.bincount(draws, minlength=args.classes)
    start = time.perf_counter()
    rng.choice(args.classes, size=args.draws, p=p)  # inverse CDF: O(log K) per draw
    choice_seconds = time.perf_counter() - start
    print(f"{args.draws} draws of {args.classes} classes with gk.categorical "
          f"(method={args.method!r}) in {categorical_seconds:.3f} s "
          f"({categorical_seconds / args.draws * 1e9:.0f} ns per draw; "
          f"Generator.choice: {choice_seconds:.3f} s)")
    print_table("most probable classes:", counts, p, args.draws)

    start = time.perf_counter()
    samples = np.concatenate([
        gk.gumbel_top_k(logits, args.k, rng=rng,
                        sample_shape=min(args.chunk, args.top_k_draws - first))
        for first in range(0, args.top_k_draws, args.chunk)])
    top_k_seconds = time.perf_counter() - start
    distinct = bool(all(len(set(row.tolist())) == args.k for row in samples))
    print(f"\n{args.top_k_draws} samples of {args.k} distinct classes with gk.gumbel_top_k in "
          f"{top_k_seconds:.1f} s; every sample without repeats: {distinct}")
    first_counts = np.bincount(samples[:, 0], minlength=args.classes)
    print_table("first position:", first_counts, p, args.top_k_draws)

    checked = samples[:CHECKED_LOG_PROBS]
    log_prob = np.asarray(gk.plackett_luce_log_prob(logits, checked), dtype=np.float64)
    reference = np.array([plackett_luce_reference(p, row) for row in checked])
    print("\nlog-probability of the first samples (plackett_luce_log_prob, float64 formula):")
    for row, mine, exact in zip(checked, log_prob, reference, strict=True):
        print(f"  {row.tolist()}: {mine:.5f}  {exact:.5f}")
    return {"counts": counts, "p": p, "categorical_seconds": categorical_seconds,
            "choice_seconds": choice_seconds, "samples": samples, "distinct": distinct,
            "first_counts": first_counts, "top_k_seconds": top_k_seconds,
            "log_prob": log_prob, "reference_log_prob": reference}


if __name__ == "__main__":
    main()
