"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gumbelkit import __version__
from gumbelkit._cli import bench, check, demo, info, plot, sample
from gumbelkit._cli._ui import Command, Parser, UsageError

# The subcommands, in the order of `gumbelkit --help`.
COMMANDS: dict[str, Command] = {
    "demo": demo,
    "sample": sample,
    "check": check,
    "bench": bench,
    "info": info,
    "plot": plot,
}


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``gumbelkit`` command and its subcommands.

    Returns
    -------
    argparse.ArgumentParser
        A parser whose errors raise ``UsageError``; ``args.command`` names the subcommand.

    """
    parser = Parser(prog="gumbelkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gumbelkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.add_arguments(
            commands.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gumbelkit`` command; return its exit code.

    Bad input prints one line, ``gumbelkit COMMAND: message``, on stderr and returns 2.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program's name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 on success, 1 when a check fails or stdout closes early or cannot be
        written, 2 on bad input.

    """
    parser = build_parser()
    arguments = _join_logits(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in arguments if not a.startswith("-")), "")
    try:
        args = parser.parse_args(arguments)
        return COMMANDS[args.command].run(args)
    except UsageError as exc:
        prefix = "gumbelkit" if command not in COMMANDS else f"gumbelkit {command}"
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout stopped early (`gumbelkit sample ... | head`). Point stdout at
        # devnull so that the interpreter's final flush does not fail a second time.
        _quiet_stdout()
        return 1
    except OSError as exc:
        # Reading the input and writing --output name their option themselves: what is left
        # is stdout failing (a full disk, an I/O error), said in one line.
        _quiet_stdout()
        prefix = "gumbelkit" if command not in COMMANDS else f"gumbelkit {command}"
        print(f"{prefix}: cannot write to stdout: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Point stdout at devnull, so that the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
