"""``gumbelkit sample``: draw samples from logits given on the command line or in a .npy file.

The backends and the dtypes each one has come from the catalogue of built-in backends
(``gumbelkit.backends.BUILTIN_BACKENDS``).
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
from importlib import import_module
from pathlib import Path
from typing import IO, Any

import numpy as np

import gumbelkit as gk
from gumbelkit._cli._ui import ProgressBar, UsageError, check_count, check_seed
from gumbelkit.backends import BUILTIN_BACKENDS, builtin_backend
from gumbelkit.backends._common import SEED_RANGE

HELP = "draw samples from logits given on the command line or in a .npy file"
DESCRIPTION: str | None = (
    "Draw Gumbel-Softmax samples (or Gumbel-Max indices with --max) on any installed backend "
    "and print them as CSV or write them to a .npy or .csv file. Each CSV line is one sample "
    "of one logits row, after a '#' line that records the call and the output shape; with "
    "--max a line is the logits row's number and the index drawn for it."
)
BACKEND_NAMES = tuple(entry.name for entry in BUILTIN_BACKENDS)
# Every floating dtype some built-in backend has; each backend's own share is in its entry.
SAMPLE_DTYPES = tuple(dict.fromkeys(dtype for entry in BUILTIN_BACKENDS for dtype in entry.dtypes))
_CSV_FORMATS = {"float16": "%.5g", "float32": "%.9g", "float64": "%.17g"}  # round-trip digits
_CSV_CHUNK_ROWS = 65_536
# The most values -n may ask for: 1 GiB of float32, 2 GiB of float64, before the noise and the
# temporaries of the draw. Beyond it a mistyped -n fails in the allocator, not with a message.
MAX_OUTPUT_VALUES = 2**28
# What every .npy file starts with (numpy.lib.format); np.load unpickles anything else.
_NPY_MAGIC = b"\x93NUMPY"
# bfloat16, which NumPy lacks: its largest finite value, and the float32 value from which
# float32 -> bfloat16 rounds to inf (the largest plus half a step, 2**128 - 2**119).
_BFLOAT16_MAX = (2.0 - 2.0**-7) * 2.0**127
_BFLOAT16_OVERFLOW = 2.0**128 - 2.0**119


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``gumbelkit sample`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.

    """
    parser.add_argument(
        "--logits", required=True, metavar="VALUES|FILE.npy",
        help='comma-separated logits, rows separated by ";" (e.g. "0.1,0.5,0.4" or '
             '"1,2,3;0,0,-inf"; -inf masks a class), or a NumPy .npy file (numpy.save) with '
             "classes on the last axis",
    )
    parser.add_argument(
        "--backend", default="numpy", metavar="NAME",
        help=f"the array library to draw on: {', '.join(BACKEND_NAMES)} (default numpy)",
    )
    parser.add_argument("--tau", type=float, default=None,
                        help="temperature, positive (default 1.0)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true",
                      help="exactly one-hot samples (straight-through Gumbel-Softmax)")
    kind.add_argument("--max", action="store_true",
                      help="class indices with the Gumbel-Max trick instead of soft samples")
    parser.add_argument("-n", "--samples", type=int, default=None, metavar="N",
                        help="samples per logits row; the output shape is (N, *logits.shape), "
                             "at most 2**28 values (default: one, with the shape of the "
                             "logits)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"an int in {SEED_RANGE} (default: fresh entropy, recorded in "
                             "the CSV header)")
    parser.add_argument("--dtype", default=None, choices=SAMPLE_DTYPES,
                        help="dtype of the logits and the sample (default: the .npy file's "
                             "float dtype, else float32; bfloat16 on torch and jax, written "
                             "to files as float32)")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                        help="write to PATH, .npy or .csv by its extension (default: print "
                             "CSV to stdout)")


def parse_logits(text: str) -> np.ndarray:
    """Return float64 logits from ``"0.1,0.5,0.4"`` (one row) or ``"1,2;3,4"`` (rows by ``;``).

    One row gives a 1-d array, several rows a 2-d array. ``inf``, ``-inf`` and ``nan`` are
    accepted here and judged by :func:`check_logit_rows`.

    Parameters
    ----------
    text : str
        The value of ``--logits``.

    Returns
    -------
    numpy.ndarray
        The logits, float64.

    Raises
    ------
    UsageError
        If a cell is not a number or the rows differ in length.

    """
    rows = []
    for number, row in enumerate(text.split(";"), start=1):
        cells = [cell.strip() for cell in row.split(",")]
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            if "," not in text and ";" not in text:
                # One word that is no number: a path, most likely, of a file that is no .npy.
                raise UsageError(_not_numbers_nor_npy(text.strip())) from None
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


def _not_numbers_nor_npy(text: str) -> str:
    """Say what ``--logits`` takes, for a value that is neither numbers nor a .npy path."""
    expected = ('expected comma-separated numbers such as "0.1,0.5,0.4", or the path of a '
                "NumPy .npy file (written by numpy.save)")
    path = Path(text)
    if path.is_file():
        return f"--logits: {text} is not a .npy file; {expected}"
    if path.suffix or "/" in text or "\\" in text:
        return f"--logits: {text!r} is not a number and not a .npy path; {expected}"
    return f"--logits: {text!r} is not a number; {expected}"


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_logits(path: Path) -> np.ndarray:
    """Return the logits stored in a .npy file, a real array in the dtype it was stored in.

    Parameters
    ----------
    path : pathlib.Path
        A .npy file.

    Returns
    -------
    numpy.ndarray
        Its array: floats, integers or booleans, as stored.

    Raises
    ------
    UsageError
        If the file cannot be read, is no NumPy .npy file or holds no real array with a
        class axis.

    """
    try:
        with path.open("rb") as stream:
            magic = stream.read(len(_NPY_MAGIC))
            if magic != _NPY_MAGIC:
                kind = "a .npz archive" if magic.startswith(b"PK") else "not a NumPy .npy file"
                raise UsageError(
                    f"--logits: {path} is {kind}; expected a NumPy .npy file holding one "
                    "array (written by numpy.save), or comma-separated numbers"
                )
            stream.seek(0)
            values: np.ndarray = np.load(stream, allow_pickle=False)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"--logits: cannot read {path}: {reason}") from None
    except MemoryError:  # a header whose shape asks for more than this machine holds
        raise UsageError(f"--logits: cannot read {path}: its array does not fit in memory "
                         "(or its header claims a shape its data lacks)") from None
    if values.dtype.kind not in "biuf":
        raise UsageError(f"--logits: {path} must hold a real numeric array; got {values.dtype}")
    if values.ndim == 0:
        raise UsageError(f"--logits: {path} holds a scalar; expected at least one class axis")
    return values


def check_logit_rows(logits: np.ndarray) -> None:
    """Reject an empty class axis and rows with a NaN, a ``+inf`` or no finite logit.

    Parameters
    ----------
    logits : numpy.ndarray
        Logits with classes on the last axis.

    Raises
    ------
    UsageError
        Naming the first bad row.

    """
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


def check_logit_range(logits: np.ndarray, dtype: str) -> None:
    """Reject finite logits that become ``+inf`` in ``dtype``, such as 1e39 in float32.

    The other checks see the logits before the cast to the sample's dtype; a logit that
    overflows to ``+inf`` there would turn the whole row's sample into NaN, or its index out of
    range. One that overflows to ``-inf`` masks its class, whose probability ``exp(-1e39)``
    is 0 in every dtype anyway, unless its row has no logit left that is finite in ``dtype``.

    Parameters
    ----------
    logits : numpy.ndarray
        Real logits with classes on the last axis.
    dtype : str
        The floating dtype the sample is drawn in: one of :data:`SAMPLE_DTYPES`.

    Raises
    ------
    UsageError
        Naming the first row with such a logit, the logit and ``dtype``.

    """
    values = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    with np.errstate(over="ignore"):
        if dtype == "bfloat16":
            # PyTorch rounds float64 to float32, then to bfloat16: that overflows a little
            # earlier than JAX's one rounding, so it covers both.
            single = values.astype(np.float32)
            cast_overflows = np.isinf(single) | (np.abs(single) >= _BFLOAT16_OVERFLOW)
            largest = _BFLOAT16_MAX
        else:
            cast_overflows = np.isinf(values.astype(dtype))
            largest = float(np.finfo(dtype).max)
    overflows = cast_overflows & np.isfinite(values)
    left = np.isfinite(values) & ~cast_overflows
    bad = np.argwhere((overflows & (values > 0)) | (overflows & ~left.any(axis=-1, keepdims=True)))
    if bad.size:
        row, column = (int(index) for index in bad[0])
        raise UsageError(
            f"--logits: row {row + 1} has {float(values[row, column])!r}, which overflows "
            f"{dtype} (its largest finite value is {largest:.5g}); expected logits finite in "
            f"{dtype}, or -inf to mask a class"
        )


def _import_backend(name: str) -> Any:
    """Import the array module of a built-in backend, or raise :class:`UsageError` saying why."""
    try:
        entry = builtin_backend(name)
    except ValueError:
        raise UsageError(
            f"--backend: unknown backend {name!r}; expected one of {', '.join(BACKEND_NAMES)}"
        ) from None
    reason = entry.unavailable_reason()
    if reason is not None:
        raise UsageError(f"--backend {name}: {reason}")
    return import_module(entry.array_module)


def _to_backend(name: str, module: Any, values: np.ndarray, dtype: str) -> Any:
    """Return ``values`` as an array of the backend ``name`` with the floating ``dtype``."""
    if name == "jax" and dtype == "float64":
        import jax

        # JAX computes in float32 unless x64 is on; a float64 request turns it on.
        config: Any = jax.config
        config.update("jax_enable_x64", True)
    # NumPy and Dask take NumPy dtypes; the other array modules name their own, and take only
    # the machine's byte order (a .npy file may hold big-endian values).
    if name in ("numpy", "dask"):
        native = np.dtype(dtype)
    else:
        native = getattr(module, dtype)
        values = values.astype(values.dtype.newbyteorder("="), copy=False)
    # check_logit_range let through only logits that overflow to -inf, masked classes: NumPy's
    # cast warns of them.
    with np.errstate(over="ignore"):
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
    stream: IO[str], values: np.ndarray, rows: int, header: str, progress: ProgressBar | None
) -> None:
    """Write one line per sample of one logits row, after a ``#`` header line.

    A soft or hard sample's line holds its class values; an index's line (``--max``) holds
    the number of its logits row (C order, from 0, so ``rows`` is the count of logits rows)
    and the index. Lines run sample by sample, each over every row.
    """
    if values.dtype.kind == "f":
        table, fmt = values.reshape(-1, values.shape[-1]), _CSV_FORMATS[values.dtype.name]
    else:
        table, fmt = values.reshape(-1, 1), "%d"
    stream.write(f"# {header}\n")
    for start in range(0, max(table.shape[0], 1), _CSV_CHUNK_ROWS):
        chunk = table[start:start + _CSV_CHUNK_ROWS]
        if values.dtype.kind != "f":
            row = np.arange(start, start + chunk.shape[0]) % max(rows, 1)
            chunk = np.column_stack([row, chunk])
        np.savetxt(stream, chunk, fmt=fmt, delimiter=",")
        if progress is not None:
            progress.advance()


def run(args: argparse.Namespace) -> int:
    """Draw samples from the command line's logits and write or print them.

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
        On bad input, a backend that cannot run here, or an output that cannot be written.

    """
    # Every check that needs no array library runs first, so bad input fails fast.
    text = args.logits.strip()
    from_file = text.lower().endswith(".npy")
    logits = load_logits(Path(text)) if from_file else parse_logits(text)
    check_logit_rows(logits)
    if args.max and args.tau is not None:
        raise UsageError("--tau has no effect with --max; leave one out")
    tau = 1.0 if args.tau is None else args.tau
    if not (math.isfinite(tau) and tau > 0):
        raise UsageError(f"--tau must be positive and finite; got {args.tau}")
    per_sample = max(logits.size, 1)
    if per_sample > MAX_OUTPUT_VALUES:
        raise UsageError(f"--logits: {per_sample:,} values, and one sample holds as many, beyond "
                         "the 2**28 an output may hold; sample fewer rows at a time")
    if args.samples is not None:
        check_count("-n/--samples", args.samples, MAX_OUTPUT_VALUES // per_sample,
                    f"at most 2**28 values in all, {per_sample} per sample of these logits")
    seed = secrets.randbits(63) if args.seed is None else check_seed("--seed", args.seed)
    dtype = _sample_dtype(args.dtype, logits if from_file else None, text)
    if dtype != logits.dtype.name:
        # Integers, and a float dtype that no backend has (float128), go through float64.
        logits = logits.astype(np.float64)
    # An unknown backend is reported once the bar starts, by _import_backend.
    if args.backend in BACKEND_NAMES and dtype not in builtin_backend(args.backend).dtypes:
        if args.dtype is None:
            raise UsageError(
                f"--logits: {text} holds {dtype}, which {args.backend} does not have; pass "
                f"--dtype with one of {', '.join(builtin_backend(args.backend).dtypes)}"
            )
        raise UsageError(f"--dtype {dtype} is not available on {args.backend}")
    check_logit_range(logits, dtype)
    output: Path | None = args.output
    if output is not None and output.suffix.lower() not in (".npy", ".csv"):
        raise UsageError(f"--output must end in .npy or .csv; got {output}")

    sample_shape = () if args.samples is None else (args.samples,)
    logits_rows = math.prod(logits.shape[:-1])
    rows = math.prod(sample_shape) * logits_rows  # lines of CSV output
    writing = 0 if output is None else (
        1 if output.suffix.lower() == ".npy" else max(1, math.ceil(rows / _CSV_CHUNK_ROWS))
    )
    function = "gumbel_max" if args.max else "gumbel_softmax"
    details = "" if args.max else f" tau={tau:g} hard={args.hard}"
    columns = " columns=row,index" if args.max else ""
    # The bar covers the import, the draw and the writing of a file, never printed output.
    with ProgressBar(2 + writing) as progress:
        progress.describe(f"importing {args.backend}")
        module = _import_backend(args.backend)
        progress.advance()
        progress.describe(f"drawing on {args.backend}")
        array = _to_backend(args.backend, module, logits, dtype)
        try:
            if args.max:
                drawn = gk.gumbel_max(array, sample_shape=sample_shape, rng=seed)
            else:
                drawn = gk.gumbel_softmax(
                    array, tau=tau, hard=args.hard, sample_shape=sample_shape, rng=seed
                )
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        except MemoryError:
            raise UsageError(
                f"-n/--samples: {math.prod(sample_shape + logits.shape):,} values do not fit "
                "in the memory free here; ask for fewer"
            ) from None
        values = _to_numpy(args.backend, drawn)
        progress.advance()
        header = (f"{function}{details} backend={args.backend} dtype={dtype} "
                  f"seed={seed} shape={values.shape}{columns}")
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
                        _write_csv(stream, values, logits_rows, header, progress)
            except OSError as exc:
                raise UsageError(
                    f"--output: cannot write {output}: {exc.strerror or exc}"
                ) from None
    if output is None:
        _write_csv(sys.stdout, values, logits_rows, header, None)
    return 0


def _sample_dtype(requested: str | None, stored: np.ndarray | None, source: str) -> str:
    """Return the dtype to draw in: ``--dtype``, else a .npy file's float dtype, else float32.

    Logits typed on the command line (``stored`` is None) and integer files draw in float32;
    a float16, float32 or float64 file keeps its precision.
    """
    if requested is not None:
        return requested
    if stored is not None and stored.dtype.kind == "f":
        if stored.dtype.name not in SAMPLE_DTYPES:
            raise UsageError(
                f"--logits: {source} holds {stored.dtype.name}, which no backend draws in; "
                f"pass --dtype with one of {', '.join(SAMPLE_DTYPES)}"
            )
        return str(stored.dtype.name)
    return "float32"
