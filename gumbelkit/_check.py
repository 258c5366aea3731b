"""``gumbelkit check``: run the conformance suite and print one row per statistical test.

The suite lives in the source tree (``conformance/``), not in the wheel; this command finds it
beside the package (an editable or source install), in ``$GUMBELKIT_CONFORMANCE_DIR``, or in
the working directory, and runs it with pytest.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

REPORT_VARIABLE = "GUMBELKIT_CHECK_REPORT"


class CheckError(Exception):
    """A reason the suite cannot run (exit code 2)."""


def find_suite() -> Path:
    """Return the conformance directory, or raise :class:`CheckError` saying where it looked."""
    candidates = []
    if os.environ.get("GUMBELKIT_CONFORMANCE_DIR"):
        candidates.append(Path(os.environ["GUMBELKIT_CONFORMANCE_DIR"]))
    candidates += [Path(__file__).resolve().parent.parent / "conformance",
                   Path.cwd() / "conformance"]
    for candidate in candidates:
        if (candidate / "conftest.py").is_file():
            return candidate
    raise CheckError(
        "the conformance suite is not installed with the wheel; run gumbelkit check from a "
        "source checkout, or set GUMBELKIT_CONFORMANCE_DIR to its conformance/ folder "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


class _Progress:
    """A pytest plugin that draws a progress bar and keeps the failures' reports."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.outcomes = {"passed": 0, "failed": 0, "skipped": 0}
        self.failures: list[tuple[str, str]] = []

    def pytest_collection_finish(self, session: Any) -> None:
        self.total = len(session.items)
        self._draw("")

    def pytest_runtest_logreport(self, report: Any) -> None:
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        if report.failed:
            self.failures.append((report.nodeid, str(report.longreprtext)))
        if finished:
            self.done += 1
            self.outcomes[report.outcome] += 1
            self._draw(report.nodeid.split("::")[-1])

    def _draw(self, current: str) -> None:
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {current[:40]:<40}")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")


def _check_backend_names(backend: str | None) -> None:
    """Reject an unknown backend name in one line, before pytest starts."""
    from gumbelkit.backends import get_backend

    builtin = {"numpy", "torch", "jax", "dask", "array_api_strict", "cupy", "all"}
    for name in (backend or "").split(","):
        name = name.strip()
        if name and name not in builtin:
            try:
                get_backend(name)
            except (ValueError, ImportError, AttributeError) as exc:
                raise CheckError(str(exc)) from exc


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
    suite = find_suite()
    try:
        import pytest
        import scipy  # noqa: F401  (the suite's statistics)
    except ImportError as exc:
        raise CheckError(
            f"gumbelkit check needs pytest and scipy ({exc}); install gumbelkit[test]"
        ) from exc
    _check_backend_names(backend)
    # The progress bar and the table replace pytest's terminal output (and its addopts).
    arguments = [str(suite), "-p", "no:terminal", "-p", "no:cacheprovider", "-o", "addopts=",
                 "--rootdir", str(suite.parent)]
    if backend:
        arguments += ["--backend", backend]
    if thorough:
        arguments.append("--thorough")
    if fresh_seeds:
        arguments.append("--fresh-seeds")
    if seed is not None:
        arguments += ["--seed", str(seed)]
    if select:
        arguments += ["-k", select]
    progress = _Progress(sys.stderr)
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
        progress.finish()
        if code == pytest.ExitCode.USAGE_ERROR:
            raise CheckError("the conformance suite rejected its options (see above)")
        rows = json.loads(report_path.read_text()) if report_path.exists() else []
    if rows:
        print(_table(rows))
    for nodeid, text in progress.failures:
        print(f"\nFAILED {nodeid}\n{text}")
    counts = progress.outcomes
    print(f"\n{len(rows)} statistical tests; "
          f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 0 if code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and not \
        counts["failed"] else 1
