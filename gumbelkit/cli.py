"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from gumbelkit import __version__
from gumbelkit._sampling import gumbel_max, gumbel_softmax

DEMO_LOGITS = (2.0, 1.0, 0.5, 0.0, -1.0, -3.0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return np.asarray(e / e.sum())


def demo(samples: int, seed: int | None) -> int:
    """Draw hard and soft samples with NumPy and print them beside the exact probabilities."""
    logits = np.asarray(DEMO_LOGITS)
    probabilities = _softmax(logits)
    rng = np.random.default_rng(seed)
    print(f"gumbelkit {__version__} demo: NumPy backend, logits {list(DEMO_LOGITS)}")
    print(f"\n{samples:,} hard samples, gumbel_max(logits, sample_shape=({samples},))")
    index = gumbel_max(logits, sample_shape=(samples,), rng=rng)
    counts = np.bincount(index, minlength=logits.size)
    standard_error = np.sqrt(probabilities * (1 - probabilities) / samples)
    print(f"{'class':>5} {'softmax':>9} {'frequency':>10} {'z-score':>8}")
    for k, (p, count, se) in enumerate(zip(probabilities, counts, standard_error, strict=True)):
        frequency = count / samples
        print(f"{k:>5} {p:>9.5f} {frequency:>10.5f} {(frequency - p) / se:>8.2f}")

    print(f"\nsoft samples, gumbel_softmax(logits, tau=..., sample_shape=({samples},))")
    print(f"{'tau':>5} {'mean of max(y)':>15} {'P(argmax=0)':>13}  mean y")
    for tau in (0.1, 0.5, 1.0, 5.0):
        y = gumbel_softmax(logits, tau=tau, sample_shape=(samples,), rng=rng)
        largest = y.max(axis=-1).mean()
        mean = np.array2string(y.mean(axis=0), precision=3, floatmode="fixed")
        # The argmax of a soft sample is a categorical sample at every temperature.
        hard_share = np.mean(np.argmax(y, axis=-1) == 0)
        print(f"{tau:>5} {largest:>15.4f} {hard_share:>13.4f}  {mean}")
    print("\nP(argmax=0): share of soft samples whose largest entry is class 0; the argmax of a "
          f"soft sample is categorical at every tau, so it should be near {probabilities[0]:.4f}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gumbelkit`` command."""
    parser = argparse.ArgumentParser(prog="gumbelkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gumbelkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="draw samples with NumPy and compare them with the exact probabilities"
    )
    demo_parser.add_argument("--samples", type=int, default=100_000, help="default 100000")
    demo_parser.add_argument("--seed", type=int, default=None, help="default: fresh entropy")
    check_parser = commands.add_parser(
        "check", help="run the statistical conformance suite and print a table of verdicts"
    )
    check_parser.add_argument(
        "--backend", default=None,
        help="comma-separated backends (numpy, torch, jax, dask, array_api_strict, cupy, or "
             "module:attr of a registered adapter); default: every installed one",
    )
    check_parser.add_argument("--thorough", action="store_true", help="10x the samples")
    check_parser.add_argument("--fresh-seeds", action="store_true",
                              help="draw seeds from OS entropy (printed on failure)")
    check_parser.add_argument("--seed", type=int, default=None, help="replay with this seed")
    check_parser.add_argument("-k", dest="select", default=None,
                              help="run only tests matching this pytest -k expression")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.samples < 1:
            parser.error("--samples must be a positive integer")
        return demo(args.samples, args.seed)
    if args.command == "check":
        from gumbelkit._check import CheckError, run_check

        try:
            return run_check(args.backend, args.thorough, args.fresh_seeds, args.seed,
                             args.select)
        except CheckError as exc:
            print(f"gumbelkit check: {exc}", file=sys.stderr)
            return 2
    return 2  # pragma: no cover  (argparse rejects unknown commands)


if __name__ == "__main__":
    sys.exit(main())
