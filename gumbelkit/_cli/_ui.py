"""What the commands share: the argument parser, the usage error and the progress bar.

Every command module exposes the interface of :class:`Command`; ``gumbelkit.cli`` builds the
parser from them and dispatches to their ``run``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import NoReturn, Protocol, TextIO

import numpy as np

from gumbelkit.backends import _common


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit code 2."""


def check_seed(option: str, seed: int) -> int:
    """Return ``seed`` if it lies in ``[0, 2**63)``, else raise :class:`UsageError`.

    Parameters
    ----------
    option : str
        The option's name, for the message.
    seed : int
        The parsed value.

    Returns
    -------
    int
        ``seed``.

    Raises
    ------
    UsageError
        Naming the option and the range.

    Examples
    --------
    >>> check_seed("--seed", 7)
    7

    """
    try:
        return _common.check_seed(seed, option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_count(option: str, value: int, largest: int, why: str = "") -> int:
    """Return ``value`` if it lies in ``[1, largest]``, else raise :class:`UsageError`.

    An upper bound keeps a mistyped count from reaching the allocator, whose failure would be
    a traceback (or the machine swapping) rather than a message.

    Parameters
    ----------
    option : str
        The option's name, for the message.
    value : int
        The parsed value.
    largest : int
        The largest accepted value.
    why : str, optional
        What sets the upper bound, appended to the message in parentheses.

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    UsageError
        Naming the option and the accepted range.

    Examples
    --------
    >>> check_count("--samples", 10, 100)
    10

    """
    if not 1 <= value <= largest:
        reason = f" ({why})" if why else ""
        raise UsageError(f"{option} must lie in [1, {largest}]{reason}; got {value}")
    return value


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors become one line (the usage is under ``--help``)."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` instead of printing the usage and exiting.

        Parameters
        ----------
        message : str
            argparse's description of the problem.

        Raises
        ------
        UsageError
            Always.

        """
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """Parse ``args``; an argument no parser knows names the subcommand's help.

        argparse reports unknown arguments from the top parser, whose help does not list the
        subcommand's options.

        Parameters
        ----------
        args : sequence of str, optional
            The arguments (default: ``sys.argv[1:]``).
        namespace : argparse.Namespace, optional
            The object to fill.

        Returns
        -------
        argparse.Namespace
            The parsed options.

        Raises
        ------
        UsageError
            For a bad or unknown argument.

        """
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise UsageError(f"unrecognized arguments: {' '.join(unknown)} (see {prog} --help)")
        return parsed


class Command(Protocol):
    """The interface of a command module: its texts, its options and how it runs."""

    @property
    def HELP(self) -> str:  # noqa: N802  (a module constant in each command)
        """One line for the command list of ``gumbelkit --help``."""

    @property
    def DESCRIPTION(self) -> str | None:  # noqa: N802
        """The paragraph of ``gumbelkit COMMAND --help``, or None for none."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's options to ``parser``."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the command with parsed options; return its exit code.

        Bad input raises :class:`UsageError`.
        """


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # an object without isatty, or a closed file
        return False


class ProgressBar:
    """A one-line progress bar on a terminal, drawn once the work has run ``delay`` seconds.

    The bar is drawn only when its stream is a terminal: on a file or a pipe (a log, CI) the
    carriage returns would pile up, so it writes nothing there. Work that ends before
    ``delay`` draws nothing either. ``note`` prints a line (above the bar, if one is drawn)
    on any stream; ``finish`` ends the bar's line, so that whatever follows starts on a fresh
    line.

    Parameters
    ----------
    total : int, optional
        The number of steps; :meth:`update` may set it later.
    delay : float, optional
        Seconds of work before the bar first appears (0: at once).
    stream : TextIO, optional
        Where to draw (default: ``sys.stderr`` at construction).
    width : int, optional
        Characters of the bar itself.

    Examples
    --------
    >>> with ProgressBar(2, delay=0.0) as bar:
    ...     bar.describe("first step")
    ...     bar.advance()

    """

    def __init__(
        self, total: int = 0, *, delay: float = 1.0, stream: TextIO | None = None,
        width: int = 30,
    ) -> None:
        self.total = total
        self.done = 0
        self.delay = delay
        self.width = width
        self.label = ""
        # Looked up now, not at import: tests and callers may swap sys.stderr.
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.start = time.perf_counter()
        self.drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def describe(self, label: str) -> None:
        """Name the step that runs now.

        Parameters
        ----------
        label : str
            Shown after the count, cut to 40 characters.

        """
        self.label = label
        self._draw()

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more steps as done (at most the total).

        Parameters
        ----------
        steps : int, optional
            How many steps finished.

        """
        self.update(self.done + steps)

    def update(self, done: int, total: int | None = None, label: str | None = None) -> None:
        """Set how many steps are done, and optionally the total and the label, then redraw.

        Parameters
        ----------
        done : int
            Steps finished so far; clamped to the total.
        total : int, optional
            A new total, for work whose size is known only once it has started.
        label : str, optional
            A new label, as for :meth:`describe`.

        """
        if total is not None:
            self.total = total
        if label is not None:
            self.label = label
        self.done = min(done, self.total)
        self._draw()

    def note(self, message: str) -> None:
        """Print ``message`` on its own line, above the bar; on every stream, terminal or not.

        Parameters
        ----------
        message : str
            One line, without its newline.

        """
        if self.drawn:
            # Blank the bar's line with spaces, which every terminal understands.
            self.stream.write("\r" + " " * (self.width + 56) + "\r")
        self.stream.write(message + "\n")
        self.stream.flush()
        if self.drawn:
            self._draw()

    def finish(self) -> None:
        """End the bar's line, if a bar was drawn; nothing is drawn afterwards."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
        self.delay = math.inf

    def _draw(self) -> None:
        if not self.enabled:
            return
        if not self.drawn and time.perf_counter() - self.start < self.delay:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label[:40]:<40}")
        self.stream.flush()
        self.drawn = True


def softmax(logits: np.ndarray, tau: float | np.ndarray = 1.0) -> np.ndarray:
    """Return ``softmax(logits / tau)`` along the last axis, in float64.

    The exact probabilities that ``demo`` and ``plot`` set beside gumbelkit's samples.

    Parameters
    ----------
    logits : numpy.ndarray
        Real logits, classes on the last axis.
    tau : float or numpy.ndarray, optional
        The temperature, positive; an array broadcasts against ``logits``.

    Returns
    -------
    numpy.ndarray
        The probabilities, float64.

    Examples
    --------
    >>> softmax(np.zeros(4)).tolist()
    [0.25, 0.25, 0.25, 0.25]

    """
    z = np.asarray(logits, dtype=np.float64) / tau
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))
