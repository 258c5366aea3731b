"""``gumbelkit check``: run the conformance suite and print one row per statistical test.

The suite ships with the package (``gumbelkit.conformance``); ``$GUMBELKIT_CONFORMANCE_DIR``
names another copy of it to run instead. It needs pytest and SciPy, the ``check`` extra, which
only this command imports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gumbelkit._cli._ui import ProgressBar, UsageError, check_seed
from gumbelkit.backends import BUILTIN_BACKENDS, unavailable_reason
from gumbelkit.backends._common import SEED_RANGE

HELP = "run the statistical conformance suite and print a table of verdicts"
DESCRIPTION: str | None = None

REPORT_VARIABLE = "GUMBELKIT_CHECK_REPORT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``gumbelkit check`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.

    """
    names = ", ".join(entry.name for entry in BUILTIN_BACKENDS)
    parser.add_argument(
        "--backend", default=None,
        help=f"comma-separated backends ({names}, or module:attr of an adapter); default: "
             "$GUMBELKIT_BACKEND, else all of them (one not installed skips, saying why)",
    )
    parser.add_argument("--thorough", action="store_true", help="10x the samples")
    parser.add_argument("--fresh-seeds", action="store_true",
                        help="draw seeds from OS entropy (printed on failure)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"replay with this seed, an int in {SEED_RANGE}")
    parser.add_argument("-k", dest="select", default=None,
                        help="run only tests matching this pytest -k expression (one that "
                             "matches none is an error, exit code 2)")


def run(args: argparse.Namespace) -> int:
    """Run the suite with parsed options; return 0 when every test passed, 1 otherwise.

    No test run is an error (exit code 2), not a pass: a ``-k`` that matches nothing is
    most likely a typo, and a run whose every test skipped (a backend that is not installed)
    checked nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    int
        0 when every test passed, 1 otherwise.

    Raises
    ------
    UsageError
        When the suite cannot run: pytest or SciPy missing, an unknown backend, bad options,
        no test selected.

    """
    return run_check(args.backend, args.thorough, args.fresh_seeds, args.seed, args.select)


def find_suite() -> Path:
    """Return the conformance suite's folder, or raise :class:`UsageError` saying where it looked.

    The shipped package's folder, found without importing it (that would import pytest), or
    ``$GUMBELKIT_CONFORMANCE_DIR`` where it is set.
    """
    override = os.environ.get("GUMBELKIT_CONFORMANCE_DIR")
    candidate = (Path(override) if override else
                 Path(__file__).resolve().parent.parent / "conformance")
    if (candidate / "conftest.py").is_file():
        return candidate
    raise UsageError(
        f"the conformance suite is missing: {candidate} has no conftest.py "
        + ("(check GUMBELKIT_CONFORMANCE_DIR)" if override else "(reinstall gumbelkit)")
    )


class _Progress:
    """A pytest plugin that counts outcomes, keeps the failures' reports and draws the bar."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.outcomes = {"passed": 0, "failed": 0, "skipped": 0}
        self.failures: list[tuple[str, str]] = []
        self.skip_reasons: dict[str, int] = {}

    def pytest_collection_finish(self, session: Any) -> None:
        self.bar.update(0, total=len(session.items), label="")

    def pytest_runtest_logreport(self, report: Any) -> None:
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        if report.failed:
            self.failures.append((report.nodeid, str(report.longreprtext)))
        if report.skipped:
            # pytest's skip report is (path, line, "Skipped: reason").
            longrepr = report.longrepr
            reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
            reason = reason.removeprefix("Skipped: ")
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        if finished:
            self.outcomes[report.outcome] += 1
            self.bar.update(self.bar.done + 1, label=report.nodeid.split("::")[-1])


def _check_backend_names(backend: str | None) -> None:
    """Reject what the suite's plugin would reject, in one line, before pytest starts.

    An unknown name, an empty list, ``all`` among other names, a ``module:attr`` that does not
    import, a built-in backend named that cannot run here (not installed, CuPy without a GPU);
    from ``--backend`` or, without it, from ``GUMBELKIT_BACKEND``.
    """
    # The plugin's own reading (imported here: it needs pytest, which run_check has checked).
    from gumbelkit.conformance.subjects import BUILTIN, ENVIRONMENT_VARIABLE, selected_names

    source = "--backend" if backend is not None else ENVIRONMENT_VARIABLE
    try:
        names = selected_names(backend)
    except (ValueError, ImportError, AttributeError) as exc:
        raise UsageError(f"{source}: {exc or type(exc).__name__}") from exc
    value = backend if backend is not None else os.environ.get(ENVIRONMENT_VARIABLE, "")
    if value.strip() in ("", "all"):
        return  # every backend: one that cannot run here skips with its reason
    # A backend named on purpose that cannot run here is an error, not a run of the suite's
    # own statistics checks (which need no backend) reported as a pass.
    for name in names:
        if name in BUILTIN:
            reason = unavailable_reason(name)
            if reason is not None:
                raise UsageError(f"{source}: {name} cannot run here: {reason}")


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("test", "backend", "dtype", "n", "statistic", "p-value", "verdict")
    cells = [
        (r["test"], r["backend"], r["dtype"], f"{r['n']:,}", f"{r['statistic']:.4g}",
         f"{r['pvalue']:.3g}", "pass" if r["pvalue"] > r["alpha"] else "FAIL")
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
              for row in cells]
    return "\n".join(lines)


def run_check(
    backend: str | None, thorough: bool, fresh_seeds: bool, seed: int | None,
    select: str | None,
) -> int:
    """Run the suite; return 0 when every test passed, 1 otherwise."""
    if seed is not None:
        # Every test passes its seed to a backend: one out of range would fail them all.
        check_seed("--seed", seed)
    suite = find_suite()
    try:
        import pytest
        import scipy  # noqa: F401  (the suite's statistics)
    except ImportError as exc:
        raise UsageError(
            f"gumbelkit check needs pytest and scipy ({exc}); "
            'pip install "gumbelkit[check]"'
        ) from exc
    _check_backend_names(backend)
    # The progress bar and the table replace pytest's terminal output (and its addopts).
    arguments = [str(suite), "-p", "no:terminal", "-p", "no:cacheprovider", "-o", "addopts=",
                 "--rootdir", str(suite.parent)]
    if backend is not None:
        arguments += ["--backend", backend]
    if thorough:
        arguments.append("--thorough")
    if fresh_seeds:
        arguments.append("--fresh-seeds")
    if seed is not None:
        arguments += ["--seed", str(seed)]
    if select:
        arguments += ["-k", select]
    progress = _Progress(ProgressBar(delay=0.0, stream=sys.stderr))
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "outcomes.json"
        previous = os.environ.get(REPORT_VARIABLE)
        os.environ[REPORT_VARIABLE] = str(report_path)
        try:
            code = pytest.main(arguments, plugins=[progress])
        finally:
            if previous is None:
                os.environ.pop(REPORT_VARIABLE, None)
            else:
                os.environ[REPORT_VARIABLE] = previous
        progress.bar.finish()
        if code == pytest.ExitCode.USAGE_ERROR:
            raise UsageError("the conformance suite rejected its options (see above)")
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            # Zero tests would print "0 passed, 0 failed" and look like a pass.
            if not select:
                raise UsageError(f"the conformance suite in {suite} has no test")
            where = f" on --backend {backend}" if backend else ""
            raise UsageError(
                f"-k {select!r} matches no test of the conformance suite{where}; expected a "
                "pytest -k expression of test names, e.g. -k noise_follows_the_gumbel_cdf"
            )
        rows = json.loads(report_path.read_text()) if report_path.exists() else []
    if rows:
        print(_table(rows))
    for nodeid, text in progress.failures:
        print(f"\nFAILED {nodeid}\n{text}")
    counts = progress.outcomes
    reasons = "; ".join(f"{reason} ({n})" for reason, n in progress.skip_reasons.items())
    if counts["skipped"] and not counts["passed"] and not counts["failed"]:
        # Every test skipped (a backend that is not installed) would look like a pass.
        raise UsageError(f"no test ran: every selected test was skipped: {reasons}")
    print(f"\n{len(rows)} statistical tests; "
          f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    if reasons:
        print(f"skipped: {reasons}")
    return 0 if code == pytest.ExitCode.OK and not counts["failed"] else 1
