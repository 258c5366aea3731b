"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gumbelkit import __version__
from gumbelkit._cli import bench, demo, info, plot, sample
from gumbelkit._cli._ui import Command, Parser, UsageError
from gumbelkit.backends import BUILTIN_BACKENDS


class _Check:
    """``gumbelkit check``: the conformance suite, which ``gumbelkit._check`` runs."""

    HELP = "run the statistical conformance suite and print a table of verdicts"
    DESCRIPTION: str | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the options of ``gumbelkit check`` to ``parser``."""
        names = ", ".join(entry.name for entry in BUILTIN_BACKENDS)
        parser.add_argument(
            "--backend", default=None,
            help=f"comma-separated backends ({names}, or module:attr of a registered adapter); "
                 "default: every installed one",
        )
        parser.add_argument("--thorough", action="store_true", help="10x the samples")
        parser.add_argument("--fresh-seeds", action="store_true",
                            help="draw seeds from OS entropy (printed on failure)")
        parser.add_argument("--seed", type=int, default=None, help="replay with this seed")
        parser.add_argument("-k", dest="select", default=None,
                            help="run only tests matching this pytest -k expression")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        """Run the suite; return 0 when every test passed, 1 otherwise."""
        # Imported here: the suite's runner needs pytest, which no other command does.
        from gumbelkit._check import CheckError, run_check

        try:
            return run_check(args.backend, args.thorough, args.fresh_seeds, args.seed,
                             args.select)
        except CheckError as exc:
            raise UsageError(str(exc)) from None


# The subcommands, in the order of `gumbelkit --help`.
COMMANDS: dict[str, Command] = {
    "demo": demo,
    "sample": sample,
    "check": _Check(),
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
        The exit code: 0 on success, 1 when a check fails or stdout closes early, 2 on bad
        input.

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
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


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
