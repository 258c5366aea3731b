"""Sample a billion-element categorical draw out of core with Dask, one chunk at a time.

By default: 1,000,000 rows x 1000 classes of float32 logits, a Gumbel-Max draw per row. The
logits, the noise and the perturbed logits would take 4 GB each in memory; here each chunk of
rows is made, perturbed, reduced to its class counts and dropped, so only a few chunks exist at
any time. The logits come from a function of the row index (standing in for data read from
disk), so the expected class counts are known exactly and the sample can be checked.

    python examples/dask_out_of_core.py                      # 10^6 x 1000, threads
    python examples/dask_out_of_core.py --rows 20000 --classes 100 --scheduler distributed

A seed gives the same counts for the same --rows, --classes and --chunk-rows, whatever the
scheduler: each chunk of noise comes from its own random stream, derived from the seed and the
chunk's index.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.array.core import normalize_chunks

import gumbelkit as gk

GROUPS = 7  # rows cycle through this many distinct logits rows


def group_logits(classes: int) -> np.ndarray:
    """Return the ``GROUPS`` distinct logits rows: Zipf-like laws with different exponents."""
    rank = np.arange(1, classes + 1, dtype=np.float64)
    exponents = np.linspace(0.5, 1.5, GROUPS)[:, None]
    return (-exponents * np.log(rank)).astype(np.float32)


def lazy_logits(rows: int, classes: int, chunk_rows: int) -> Any:
    """Return a lazy ``rows x classes`` array; row ``i`` is logits row ``i % GROUPS``."""
    table = group_logits(classes)

    def make_chunk(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (start, stop), _ = block_info[None]["array-location"]
        return table[np.arange(start, stop) % GROUPS]

    chunks = normalize_chunks((chunk_rows, classes), (rows, classes))
    return da.map_blocks(make_chunk, chunks=chunks, dtype=np.float32,
                         meta=np.empty((0, 0), np.float32))


def expected_counts(rows: int, classes: int) -> np.ndarray:
    """Return the expected number of draws of each class, in float64."""
    table = group_logits(classes).astype(np.float64)
    p = np.exp(table - table.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rows_per_group = np.bincount(np.arange(rows) % GROUPS, minlength=GROUPS)
    counts: np.ndarray = rows_per_group @ p
    return counts


def chi_square(observed: np.ndarray, expected: np.ndarray) -> tuple[float, int, float]:
    """Return Pearson's statistic, its degrees of freedom and its z-score (about N(0, 1))."""
    keep = expected >= 5  # the chi-square approximation needs expected counts of 5 or more
    pooled_observed = np.append(observed[keep], observed[~keep].sum())
    pooled_expected = np.append(expected[keep], expected[~keep].sum())
    if pooled_expected[-1] == 0:
        pooled_observed, pooled_expected = pooled_observed[:-1], pooled_expected[:-1]
    statistic = float(np.sum((pooled_observed - pooled_expected) ** 2 / pooled_expected))
    df = len(pooled_expected) - 1
    return statistic, df, (statistic - df) / math.sqrt(2 * df)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the example; return the class counts, the expected counts and the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--chunk-rows", type=int, default=10_000,
                        help="rows per chunk (default 10000: 40 MB of float32 logits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", default="threads",
                        choices=["threads", "processes", "synchronous", "distributed"])
    args = parser.parse_args(argv)

    logits = lazy_logits(args.rows, args.classes, args.chunk_rows)
    index = gk.gumbel_max(logits, rng=args.seed)  # lazy: nothing is computed yet
    counts_graph = da.bincount(index, minlength=args.classes)

    if args.scheduler == "distributed":
        from distributed import Client, LocalCluster

        with LocalCluster(host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            start = time.perf_counter()  # the cluster's start-up is not sampling
            counts = counts_graph.compute(scheduler=client)
            seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        with dask.config.set(scheduler=args.scheduler):
            counts = counts_graph.compute()
        seconds = time.perf_counter() - start

    expected = expected_counts(args.rows, args.classes)
    statistic, df, z = chi_square(counts, expected)
    elements = args.rows * args.classes
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin"
                                                                 else 1024)
    print(f"{args.rows} x {args.classes} = {elements:.3g} elements in "
          f"{logits.numblocks[0]} chunks of {args.chunk_rows} rows, scheduler {args.scheduler}")
    print(f"sampled in {seconds:.1f} s: {elements / seconds / 1e6:.0f} M elements/s; "
          f"peak memory of this process {peak / 2**20:.0f} MiB "
          f"(one float32 copy of the array: {elements * 4 / 2**20:.0f} MiB)")
    print(f"class counts vs expected: chi-square {statistic:.1f} on {df} df (z = {z:+.2f})")
    print("most frequent classes:", np.argsort(-counts)[:5].tolist(),
          "counts", np.sort(counts)[::-1][:5].tolist())
    return {"counts": counts, "expected": expected, "seconds": seconds, "chi_square": statistic,
            "df": df, "z": z, "chunks": logits.numblocks[0]}


if __name__ == "__main__":
    main()
