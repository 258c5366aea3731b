"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library."""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TextIO

import numpy as np

from gumbelkit import __version__
from gumbelkit._sampling import gumbel_max, gumbel_softmax

DEMO_LOGITS = (2.0, 1.0, 0.5, 0.0, -1.0, -3.0)

# The built-in backends `gumbelkit sample` can draw on, and the module that builds their arrays.
SAMPLE_BACKENDS = {
    "numpy": "numpy",
    "torch": "torch",
    "jax": "jax.numpy",
    "dask": "dask.array",
    "array_api_strict": "array_api_strict",
    "cupy": "cupy",
}
SAMPLE_DTYPES = ("float16", "bfloat16", "float32", "float64")
# Floating dtypes a backend lacks: NumPy has no bfloat16; the standard (array-api-strict) has
# neither half-precision type.
_MISSING_DTYPES = {
    "numpy": {"bfloat16"},
    "dask": {"bfloat16"},
    "cupy": {"bfloat16"},
    "array_api_strict": {"float16", "bfloat16"},
}
_CSV_FORMATS = {"float16": "%.5g", "float32": "%.9g", "float64": "%.17g"}  # round-trip digits
_CSV_CHUNK_ROWS = 65_536


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors become one line (the usage is under ``--help``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class ProgressBar:
    """A one-line progress bar on a text stream, drawn once the work has run ``delay`` seconds.

    Work that ends sooner draws nothing. ``note`` prints a line above the bar; ``close`` ends
    the bar's line, so that whatever follows starts on a fresh line.
    """

    def __init__(
        self, total: int, *, delay: float = 1.0, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.total = total
        self.done = 0
        self.delay = delay
        self.width = width
        self.label = ""
        # Looked up now, not at import: tests and callers may swap sys.stderr.
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self, label: str) -> None:
        """Name the step that runs now."""
        self.label = label
        self._draw()

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more steps as done."""
        self.done = min(self.done + steps, self.total)
        self._draw()

    def note(self, message: str) -> None:
        """Print ``message`` on its own line, above the bar."""
        if self.drawn:
            # Blank the bar's line with spaces, which every stream understands.
            self.stream.write("\r" + " " * (self.width + 56) + "\r")
        self.stream.write(message + "\n")
        self.stream.flush()
        if self.drawn:
            self._draw()

    def close(self) -> None:
        """End the bar's line, if a bar was drawn."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
            self.delay = math.inf  # nothing more after close

    def _draw(self) -> None:
        if not self.drawn and time.perf_counter() - self.start < self.delay:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label[:40]:<40}")
        self.stream.flush()
        self.drawn = True


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


# ---------------------------------------------------------------------------------------------
# gumbelkit sample


def parse_logits(text: str) -> np.ndarray:
    """Return float64 logits from ``"0.1,0.5,0.4"`` (one row) or ``"1,2;3,4"`` (rows by ``;``).

    One row gives a 1-d array, several rows a 2-d array. ``inf``, ``-inf`` and ``nan`` are
    accepted here and judged by :func:`check_logit_rows`.
    """
    rows = []
    for number, row in enumerate(text.split(";"), start=1):
        cells = [cell.strip() for cell in row.split(",")]
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            bad = next(cell for cell in cells if not _is_float(cell))
            raise UsageError(
                f"--logits: row {number} has {bad!r}, not a number; expected comma-separated "
                "numbers with rows separated by ';', e.g. \"0.1,0.5,0.4\", or a .npy file"
            ) from None
    lengths = sorted({len(row) for row in rows})
    if len(lengths) > 1:
        raise UsageError(f"--logits: rows have different lengths {lengths}; expected equal rows")
    values = np.asarray(rows, dtype=np.float64)
    return values[0] if len(rows) == 1 else values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_logits(path: Path) -> np.ndarray:
    """Return the logits stored in a .npy file as a real floating (or float64) array."""
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--logits: cannot read {path}: {exc}") from None
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        raise UsageError(f"--logits: {path} must hold a real numeric array; got {values.dtype}")
    if values.ndim == 0:
        raise UsageError(f"--logits: {path} holds a scalar; expected at least one class axis")
    return values if values.dtype.kind == "f" else values.astype(np.float64)


def check_logit_rows(logits: np.ndarray) -> None:
    """Reject an empty class axis and rows with a NaN, a ``+inf`` or no finite logit."""
    if logits.shape[-1] == 0:
        raise UsageError(f"--logits: expected at least one class; got shape {logits.shape}")
    rows = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    for number, row in enumerate(rows, start=1):
        if np.isnan(row).any() or (row == np.inf).any():
            raise UsageError(
                f"--logits: row {number} has a NaN or +inf; expected finite logits or -inf "
                "(a masked class)"
            )
        if not np.isfinite(row).any():
            raise UsageError(f"--logits: row {number} has no finite logit")


def _import_backend(name: str) -> Any:
    """Import the array module of a built-in backend, or raise :class:`UsageError` saying why."""
    if name not in SAMPLE_BACKENDS:
        raise UsageError(
            f"unknown backend {name!r}; expected one of {', '.join(SAMPLE_BACKENDS)}"
        )
    from importlib import import_module

    from gumbelkit.backends import unavailable_reason

    reason = unavailable_reason(name)
    if reason is not None:
        raise UsageError(f"--backend {name}: {reason}")
    return import_module(SAMPLE_BACKENDS[name])


def _to_backend(name: str, module: Any, values: np.ndarray, dtype: str) -> Any:
    """Return ``values`` as an array of the backend ``name`` with the floating ``dtype``."""
    if name == "jax" and dtype == "float64":
        import jax

        # JAX computes in float32 unless x64 is on; a float64 request turns it on.
        config: Any = jax.config
        config.update("jax_enable_x64", True)
    native = np.dtype(dtype) if name in ("numpy", "dask") else getattr(module, dtype)
    return module.asarray(values, dtype=native)


def _to_numpy(name: str, x: Any) -> np.ndarray:
    """Return a NumPy copy of the sample ``x``; bfloat16 becomes float32 (NumPy lacks it)."""
    if name == "torch":
        x = x.detach().cpu()
        if x.dtype == sys.modules["torch"].bfloat16:
            x = x.float()
        values = x.numpy()
    elif name == "dask":
        values = x.compute()
    elif name == "cupy":
        values = x.get()
    elif name == "array_api_strict":
        values = np.from_dlpack(x)
    else:
        values = x
    values = np.asarray(values)
    return values.astype(np.float32) if values.dtype.name == "bfloat16" else values


def _write_csv(
    stream: IO[str], values: np.ndarray, header: str, progress: ProgressBar | None
) -> None:
    """Write one line per sample of one logits row, after a ``#`` header line."""
    if values.dtype.kind == "f":
        table, fmt = values.reshape(-1, values.shape[-1]), _CSV_FORMATS[values.dtype.name]
    else:
        table, fmt = values.reshape(-1, 1), "%d"
    stream.write(f"# {header}\n")
    for start in range(0, max(table.shape[0], 1), _CSV_CHUNK_ROWS):
        np.savetxt(stream, table[start:start + _CSV_CHUNK_ROWS], fmt=fmt, delimiter=",")
        if progress is not None:
            progress.advance()


def sample(args: argparse.Namespace) -> int:
    """Draw samples from the command line's logits and write or print them."""
    # Every check that needs no array library runs first, so bad input fails fast.
    text = args.logits.strip()
    logits = load_logits(Path(text)) if text.lower().endswith(".npy") else parse_logits(text)
    check_logit_rows(logits)
    if args.max and args.tau is not None:
        raise UsageError("--tau has no effect with --max; leave one out")
    tau = 1.0 if args.tau is None else args.tau
    if not (math.isfinite(tau) and tau > 0):
        raise UsageError(f"--tau must be positive and finite; got {args.tau}")
    if args.samples is not None and args.samples < 1:
        raise UsageError(f"-n/--samples must be a positive integer; got {args.samples}")
    seed = secrets.randbits(63) if args.seed is None else args.seed
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must lie in [0, 2**63); got {seed}")
    if args.dtype in _MISSING_DTYPES.get(args.backend, ()):
        raise UsageError(f"--dtype {args.dtype} is not available on {args.backend}")
    output: Path | None = args.output
    if output is not None and output.suffix.lower() not in (".npy", ".csv"):
        raise UsageError(f"--output must end in .npy or .csv; got {output}")

    sample_shape = () if args.samples is None else (args.samples,)
    rows = math.prod(sample_shape + logits.shape[:-1])  # lines of CSV output
    writing = 0 if output is None else (
        1 if output.suffix.lower() == ".npy" else max(1, math.ceil(rows / _CSV_CHUNK_ROWS))
    )
    function = "gumbel_max" if args.max else "gumbel_softmax"
    details = "" if args.max else f" tau={tau:g} hard={args.hard}"
    # The bar covers the import, the draw and the writing of a file, never printed output.
    with ProgressBar(2 + writing) as progress:
        progress.describe(f"importing {args.backend}")
        module = _import_backend(args.backend)
        progress.advance()
        progress.describe(f"drawing on {args.backend}")
        array = _to_backend(args.backend, module, logits, args.dtype)
        try:
            if args.max:
                drawn = gumbel_max(array, sample_shape=sample_shape, rng=seed)
            else:
                drawn = gumbel_softmax(
                    array, tau=tau, hard=args.hard, sample_shape=sample_shape, rng=seed
                )
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        values = _to_numpy(args.backend, drawn)
        progress.advance()
        header = (f"{function}{details} backend={args.backend} dtype={args.dtype} "
                  f"seed={seed} shape={values.shape}")
        if output is not None:
            progress.describe(f"writing {output.name}")
            try:
                if output.suffix.lower() == ".npy":
                    # A handle, so that np.save adds no second suffix to "x.NPY".
                    with output.open("wb") as binary:
                        np.save(binary, values)
                    progress.advance()
                else:
                    with output.open("w") as stream:
                        _write_csv(stream, values, header, progress)
            except OSError as exc:
                raise UsageError(
                    f"--output: cannot write {output}: {exc.strerror or exc}"
                ) from None
    if output is None:
        _write_csv(sys.stdout, values, header, None)
    return 0


# ---------------------------------------------------------------------------------------------
# the command line


def _add_sample(commands: Any) -> None:
    parser = commands.add_parser(
        "sample", help="draw samples from logits given on the command line or in a .npy file",
        description="Draw Gumbel-Softmax samples (or Gumbel-Max indices with --max) on any "
                    "installed backend and print them as CSV or write them to a .npy or .csv "
                    "file. Each CSV line is one sample of one logits row, after a '#' line "
                    "that records the call and the output shape.",
    )
    parser.add_argument(
        "--logits", required=True, metavar="VALUES|FILE.npy",
        help='comma-separated logits, rows separated by ";" (e.g. "0.1,0.5,0.4" or '
             '"1,2,3;0,0,-inf"; -inf masks a class), or a .npy file with classes on the '
             "last axis",
    )
    parser.add_argument(
        "--backend", default="numpy", metavar="NAME",
        help=f"the array library to draw on: {', '.join(SAMPLE_BACKENDS)} (default numpy)",
    )
    parser.add_argument("--tau", type=float, default=None,
                        help="temperature, positive (default 1.0)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true",
                      help="exactly one-hot samples (straight-through Gumbel-Softmax)")
    kind.add_argument("--max", action="store_true",
                      help="class indices with the Gumbel-Max trick instead of soft samples")
    parser.add_argument("-n", "--samples", type=int, default=None, metavar="N",
                        help="samples per logits row; the output shape is (N, *logits.shape) "
                             "(default: one, with the shape of the logits)")
    parser.add_argument("--seed", type=int, default=None,
                        help="an int in [0, 2**63) (default: fresh entropy, recorded in the "
                             "CSV header)")
    parser.add_argument("--dtype", default="float32", choices=SAMPLE_DTYPES,
                        help="dtype of the logits and the sample (default float32; bfloat16 "
                             "on torch and jax, written to files as float32)")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                        help="write to PATH, .npy or .csv by its extension (default: print "
                             "CSV to stdout)")


def _add_check(commands: Any) -> None:
    parser = commands.add_parser(
        "check", help="run the statistical conformance suite and print a table of verdicts"
    )
    parser.add_argument(
        "--backend", default=None,
        help="comma-separated backends (numpy, torch, jax, dask, array_api_strict, cupy, or "
             "module:attr of a registered adapter); default: every installed one",
    )
    parser.add_argument("--thorough", action="store_true", help="10x the samples")
    parser.add_argument("--fresh-seeds", action="store_true",
                        help="draw seeds from OS entropy (printed on failure)")
    parser.add_argument("--seed", type=int, default=None, help="replay with this seed")
    parser.add_argument("-k", dest="select", default=None,
                        help="run only tests matching this pytest -k expression")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``gumbelkit`` command and its subcommands."""
    parser = _Parser(prog="gumbelkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gumbelkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo", help="draw samples with NumPy and compare them with the exact probabilities"
    )
    demo_parser.add_argument("--samples", type=int, default=100_000, help="default 100000")
    demo_parser.add_argument("--seed", type=int, default=None, help="default: fresh entropy")
    _add_sample(commands)
    _add_check(commands)
    from gumbelkit._bench import DESCRIPTION as BENCH_DESCRIPTION
    from gumbelkit._bench import add_arguments as add_bench_arguments

    add_bench_arguments(commands.add_parser(
        "bench", help="time gumbelkit against each backend's own samplers",
        description=BENCH_DESCRIPTION,
    ))
    info_parser = commands.add_parser(
        "info", help="show the installed backends, their versions and devices",
        description="Show gumbelkit's version, Python, and for each built-in backend whether it "
                    "can run here (or why not), its version and its devices.",
    )
    info_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plot_parser = commands.add_parser(
        "plot", help="draw the documentation's pictures as PNG files (needs gumbelkit[plot])",
        description="Draw eight PNG pictures with matplotlib: relaxed samples on the simplex, "
                    "the binary Concrete density, hard-sample frequencies, tempered softmax "
                    "beside Gumbel-Softmax, the gradient estimators' expected gradients (with "
                    "PyTorch or JAX), Gumbel-top-k inclusion, Hard Concrete gates and "
                    "temperature annealing.",
    )
    plot_parser.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR",
                             help="where to write the PNG files (default: the current folder)")
    plot_parser.add_argument("--seed", type=int, default=0, help="default 0")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        if args.samples < 1:
            raise UsageError("--samples must be a positive integer")
        return demo(args.samples, args.seed)
    if args.command == "sample":
        return sample(args)
    if args.command == "check":
        from gumbelkit._check import CheckError, run_check

        try:
            return run_check(args.backend, args.thorough, args.fresh_seeds, args.seed,
                             args.select)
        except CheckError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "bench":
        from gumbelkit._bench import BenchError, run_bench

        try:
            return run_bench(args)
        except BenchError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "info":
        from gumbelkit._info import print_info

        return print_info(as_json=args.json)
    if args.command == "plot":
        from gumbelkit._plot import PlotError, render

        if args.seed < 0:
            raise UsageError(f"--seed must be a non-negative integer; got {args.seed}")
        try:
            paths = render(args.output_dir, seed=args.seed)
        except PlotError as exc:
            raise UsageError(str(exc)) from None
        for path in paths:
            print(path)
        return 0
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gumbelkit`` command; return its exit code.

    Bad input prints one line, ``gumbelkit COMMAND: message``, on stderr and returns 2.
    """
    parser = build_parser()
    arguments = _join_logits(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in arguments if not a.startswith("-")), "")
    try:
        args = parser.parse_args(arguments)
        return _run(args)
    except UsageError as exc:
        prefix = "gumbelkit" if command not in _COMMANDS else f"gumbelkit {command}"
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout stopped early (`gumbelkit sample ... | head`). Point stdout at
        # devnull so that the interpreter's final flush does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


_COMMANDS = ("demo", "sample", "check", "bench", "info", "plot")


def _join_logits(arguments: list[str]) -> list[str]:
    """Glue ``--logits VALUE`` into ``--logits=VALUE``.

    argparse takes a value such as ``-1,0,2`` or ``-inf,0`` for an option, since it does not
    read as one negative number.
    """
    joined: list[str] = []
    values = iter(arguments)
    for argument in values:
        if argument == "--logits":
            following = next(values, None)
            joined.append(argument if following is None else f"--logits={following}")
        else:
            joined.append(argument)
    return joined


if __name__ == "__main__":
    sys.exit(main())
