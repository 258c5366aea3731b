"""``gumbelkit demo``: hard and soft samples on NumPy beside the exact probabilities."""

from __future__ import annotations

import argparse

import numpy as np

import gumbelkit as gk
from gumbelkit._cli._ui import check_count, check_seed, softmax
from gumbelkit.backends._common import SEED_RANGE

HELP = "draw samples with NumPy and compare them with the exact probabilities"
DESCRIPTION: str | None = None
DEMO_LOGITS = (2.0, 1.0, 0.5, 0.0, -1.0, -3.0)
# About 14 s and 1.2 GB at the top: more would only print the same table slower.
MAX_SAMPLES = 10_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``gumbelkit demo`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.

    """
    parser.add_argument("--samples", type=int, default=100_000,
                        help=f"samples of each kind, in [1, {MAX_SAMPLES}] (default 100000)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"an int in {SEED_RANGE} (default: fresh entropy)")


def run(args: argparse.Namespace) -> int:
    """Run ``gumbelkit demo`` with parsed options; return its exit code.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If ``--samples`` or ``--seed`` is out of range.

    """
    check_count("--samples", args.samples, MAX_SAMPLES)
    if args.seed is not None:
        check_seed("--seed", args.seed)
    return demo(args.samples, args.seed)


def demo(samples: int, seed: int | None) -> int:
    """Draw hard and soft samples with NumPy and print them beside the exact probabilities.

    Parameters
    ----------
    samples : int
        Samples of each kind, positive.
    seed : int or None
        The seed of NumPy's generator (None: fresh entropy).

    Returns
    -------
    int
        0.

    """
    logits = np.asarray(DEMO_LOGITS)
    probabilities = softmax(logits)
    rng = np.random.default_rng(seed)
    print(f"gumbelkit {gk.__version__} demo: NumPy backend, logits {list(DEMO_LOGITS)}")
    print(f"\n{samples:,} hard samples, gumbel_max(logits, sample_shape=({samples},))")
    index = gk.gumbel_max(logits, sample_shape=(samples,), rng=rng)
    counts = np.bincount(index, minlength=logits.size)
    standard_error = np.sqrt(probabilities * (1 - probabilities) / samples)
    print(f"{'class':>5} {'softmax':>9} {'frequency':>10} {'z-score':>8}")
    for k, (p, count, se) in enumerate(zip(probabilities, counts, standard_error, strict=True)):
        frequency = count / samples
        print(f"{k:>5} {p:>9.5f} {frequency:>10.5f} {(frequency - p) / se:>8.2f}")

    print(f"\nsoft samples, gumbel_softmax(logits, tau=..., sample_shape=({samples},))")
    print(f"{'tau':>5} {'mean of max(y)':>15} {'P(argmax=0)':>13}  mean y")
    for tau in (0.1, 0.5, 1.0, 5.0):
        y = gk.gumbel_softmax(logits, tau=tau, sample_shape=(samples,), rng=rng)
        largest = y.max(axis=-1).mean()
        mean = np.array2string(y.mean(axis=0), precision=3, floatmode="fixed")
        # The argmax of a soft sample is a categorical sample at every temperature.
        hard_share = np.mean(np.argmax(y, axis=-1) == 0)
        print(f"{tau:>5} {largest:>15.4f} {hard_share:>13.4f}  {mean}")
    print("\nP(argmax=0): share of soft samples whose largest entry is class 0; the argmax of a "
          f"soft sample is categorical at every tau, so it should be near {probabilities[0]:.4f}.")
    return 0
