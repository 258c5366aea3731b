"""Sample a large Zipf-like vocabulary with NumPy: Gumbel-Max draws and draws without replacement.

By default: 4096 classes with probabilities proportional to rank^-1.1 (float32 logits), one
million categorical draws with ``gk.gumbel_max``, then 1000 ordered samples of 10 distinct
classes with ``gk.gumbel_top_k``. The script prints

- the frequencies of the most probable classes next to their exact probabilities (float64),
  with z-scores, and the time per draw (``numpy.random.Generator.choice`` is timed as well);
- for the draws without replacement: that no sample repeats a class, the frequencies of the
  first position (which is a Gumbel-Max draw, so they follow the same probabilities), and the
  log-probabilities of a few samples from ``gk.plackett_luce_log_prob`` next to the product
  formula of the Plackett-Luce law evaluated here in float64.

Gumbel-Max costs one Gumbel variate per class and draw: a million draws of 4096 classes are
4 * 10^9 variates (about a minute on one CPU core), drawn ``--chunk`` draws at a time to bound
the memory (``--chunk`` x ``--classes`` float32 numbers per array). The time grows with
``--classes`` x ``--draws``: 50,000 classes take about 13 minutes, and ``--draws`` makes a
short run. For many draws from one fixed distribution an inverse-CDF sampler
(``Generator.choice``) is far cheaper; Gumbel-Max is for logits that change from draw to draw,
for batches of rows, and for the relaxed and hard samples of ``gk.gumbel_softmax``.

    python examples/numpy_sampling.py
    python examples/numpy_sampling.py --draws 20000 --top-k-draws 200
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
    parser.add_argument("--chunk", type=int, default=500,
                        help="draws per call (default 500: 8 MB per float32 array of 4096 classes)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--top-k-draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    logits = zipf_logits(args.classes)
    p = exact_probabilities(logits)
    rng = np.random.default_rng(args.seed)  # one generator, advanced by every call

    counts = np.zeros(args.classes, dtype=np.int64)
    start = time.perf_counter()
    for first in range(0, args.draws, args.chunk):
        size = min(args.chunk, args.draws - first)
        counts += np.bincount(gk.gumbel_max(logits, rng=rng, sample_shape=size),
                              minlength=args.classes)
    gumbel_max_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rng.choice(args.classes, size=args.draws, p=p)  # inverse CDF: O(log K) per draw
    choice_seconds = time.perf_counter() - start
    print(f"{args.draws} draws of {args.classes} classes with gk.gumbel_max in "
          f"{gumbel_max_seconds:.1f} s ({gumbel_max_seconds / args.draws * 1e6:.0f} us per draw; "
          f"Generator.choice: {choice_seconds:.2f} s)")
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
    return {"counts": counts, "p": p, "gumbel_max_seconds": gumbel_max_seconds,
            "choice_seconds": choice_seconds, "samples": samples, "distinct": distinct,
            "first_counts": first_counts, "top_k_seconds": top_k_seconds,
            "log_prob": log_prob, "reference_log_prob": reference}


if __name__ == "__main__":
    main()
