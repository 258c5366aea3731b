"""The conformance suite's pytest plugin: backend selection, seeds and sample-size scaling.

Options (also passed on by ``gumbelkit check``):

--backend NAMES    comma-separated built-in names, registered names or ``module:attr``;
                   default ``$GUMBELKIT_BACKEND`` or every built-in backend installed here.
--thorough         ten times the samples of every statistical test.
--fresh-seeds      draw every seed from OS entropy and print it; a failure names its seed.
--seed N           use seed N everywhere (replay a failure with ``-k`` and its seed).

The suite's ``conftest.py`` registers this plugin where pytest reads that conftest before the
command line (``pytest gumbelkit/conformance``, ``gumbelkit check``). With ``--pyargs
gumbelkit.conformance`` pytest reads it only while collecting, after parsing the options, so
the options need ``-p gumbelkit.conformance.plugin`` there (``$GUMBELKIT_BACKEND`` works
without it).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict

import pytest

from gumbelkit.backends._common import check_seed
from gumbelkit.conformance import stats
from gumbelkit.conformance.subjects import (
    BUILTIN,
    Subject,
    make_subject,
    missing_reason,
    selected_names,
)

REPORT_VARIABLE = "GUMBELKIT_CHECK_REPORT"  # where gumbelkit check collects the outcomes

BACKENDS = pytest.StashKey[list[str]]()
"""The backend names this run tests (``config.stash[BACKENDS]``)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the suite's options."""
    group = parser.getgroup("gumbelkit conformance")
    group.addoption("--backend", default=None, help="backends to test (default: all installed)")
    group.addoption("--thorough", action="store_true", help="10x the samples")
    group.addoption("--fresh-seeds", action="store_true", help="seeds from OS entropy")
    group.addoption("--seed", type=int, default=None, help="use this seed everywhere")


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the backend names once; an unknown one is a usage error."""
    try:
        config.stash[BACKENDS] = selected_names(config.getoption("--backend"))
    except (ValueError, ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"gumbelkit conformance: {exc}") from exc
    seed = config.getoption("--seed")
    if seed is not None:
        # Every test passes it to a backend: out of range, they would all fail as if broken.
        try:
            check_seed(seed, "--seed")
        except ValueError as exc:
            raise pytest.UsageError(f"gumbelkit conformance: {exc}") from None


def _seed_mode(config: pytest.Config) -> str:
    if config.getoption("--seed") is not None:
        return f"fixed seed {config.getoption('--seed')}"
    return "fresh seeds (printed on failure)" if config.getoption("--fresh-seeds") else (
        "stable per-test seeds (SHA-256 of the test id)"
    )


def _skip_reason(name: str) -> str | None:
    return missing_reason(name) if name in BUILTIN else None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name each backend's device and dtypes, the significance level and the seed mode."""
    lines = []
    for name in config.stash[BACKENDS]:
        reason = _skip_reason(name)
        if reason:
            lines.append(f"gumbelkit backend {name}: skipped ({reason})")
            continue
        subject = make_subject(name)
        lines.append(f"gumbelkit backend {subject.name}: device {subject.device}, "
                     f"dtypes {', '.join(subject.dtypes)}")
    factor = 10 if config.getoption("--thorough") else 1
    lines.append(f"gumbelkit conformance: alpha {stats.ALPHA:g} per assertion, "
                 f"{_seed_mode(config)}, sample sizes x{factor}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``subject`` once per backend, skipping one that cannot run."""
    if "subject" not in metafunc.fixturenames:
        return
    params = []
    for name in metafunc.config.stash[BACKENDS]:
        reason = _skip_reason(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("subject", params, indirect=True)


def stable_test_id(nodeid: str) -> str:
    """Return the id a test's stable seed is derived from: ``file::test[params]``.

    The file's name without its folder: a checkout and an installed wheel give a test the same
    seed, whatever pytest's root directory.
    """
    path, separator, rest = nodeid.partition("::")
    return path.rpartition("/")[2] + separator + rest


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> Subject:
    """The backend under test."""
    return make_subject(request.param)


@pytest.fixture
def factor(request: pytest.FixtureRequest) -> int:
    """The sample-size multiplier: 10 with --thorough, else 1."""
    return 10 if request.config.getoption("--thorough") else 1


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: stable (SHA-256 of its id, which names backend and dtype), fixed with
    --seed, or fresh with --fresh-seeds."""
    fixed = request.config.getoption("--seed")
    if fixed is not None:
        return int(fixed)
    if request.config.getoption("--fresh-seeds"):
        value = secrets.randbits(63)
        request.node.user_properties.append(("seed", value))
        print(f"seed {value}")
        return value
    return stats.stable_seed(stable_test_id(request.node.nodeid))


@pytest.fixture
def verdict(
    request: pytest.FixtureRequest, subject: Subject, seed: int
) -> Callable[..., None]:
    """Record and assert one statistical outcome of this test (see stats.check)."""

    def record(what: str, *, dtype: str, n: int, statistic: float, pvalue: float,
               method: str) -> None:
        outcome = stats.Outcome(
            test=request.node.name, backend=subject.name, dtype=dtype, n=int(n),
            statistic=float(statistic), pvalue=float(pvalue), method=method, seed=seed,
        )
        stats.check(outcome, what)

    return record


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write every outcome to ``$GUMBELKIT_CHECK_REPORT`` where it is set."""
    path = os.environ.get(REPORT_VARIABLE)
    if path:
        with open(path, "w") as report:
            json.dump([asdict(outcome) for outcome in stats.RECORDS], report)
