"""The distribution: one source for the version, and a wheel that holds gumbelkit and nothing else.

The wheel and the sdist are built from this checkout by calling the PEP 517 hooks of the build
backend that pyproject.toml names, in a subprocess and without build isolation, so the tests
need no network and take about a second each. The wheel then runs the conformance suite it
ships, installed with pip (offline) into a folder outside the checkout: through
``gumbelkit check``, on a third-party adapter given as ``module:attr``, and through
``pytest --pyargs``.
"""

from __future__ import annotations

import ast
import email.parser
import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest

import gumbelkit

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
VERSION_FILE = "gumbelkit/__init__.py"
DIST_INFO = f"gumbelkit-{gumbelkit.__version__}.dist-info"


def test_version_has_one_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project, "pyproject.toml must not state the version itself"
    assert "version" in project["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == VERSION_FILE
    assignments = re.findall(
        r'^__version__\s*=\s*"([^"]+)"\s*$', (ROOT / VERSION_FILE).read_text("utf-8"), re.M
    )
    assert assignments == [gumbelkit.__version__]
    # No other module of the package assigns a version of its own.
    for path in sorted((ROOT / "gumbelkit").rglob("*.py")):
        if path != ROOT / VERSION_FILE:
            assert "__version__ =" not in path.read_text("utf-8"), path


@contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Hold a lock, across processes, while the build backend writes into the checkout.

    It writes build/ and the .egg-info folder there; under pytest-xdist the wheel and the sdist
    may be built by two workers at once. The lock is a file in the temporary folder, named after
    the checkout; without ``fcntl`` (not POSIX) the builds are not serialized.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"gumbelkit-build-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    backend = PYPROJECT["build-system"]["build-backend"]
    pytest.importorskip(
        backend, reason=f"the build backend {backend} is not installed (the test extra has it)"
    )
    out = tmp_path_factory.mktemp("wheel")
    hook = f"import sys, {backend} as b; print(b.build_wheel(sys.argv[1]))"
    with one_build_at_a_time():
        done = subprocess.run(
            [sys.executable, "-c", hook, str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out / done.stdout.strip().splitlines()[-1]) as archive:
        yield archive


def test_wheel_holds_only_the_package(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    tops = {PurePosixPath(name).parts[0] for name in names}
    assert tops == {"gumbelkit", DIST_INFO}, (
        f"the wheel holds more than gumbelkit/ and its dist-info: {sorted(tops)}"
    )
    # Every module of the source tree is in it, and the marker that the package is typed.
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "gumbelkit").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources <= set(names), sorted(sources - set(names))
    assert "gumbelkit/py.typed" in names
    assert "gumbelkit/backends/__init__.py" in names
    # The CUDA kernel's source, which cupy.RawModule compiles at run time.
    assert "gumbelkit/backends/_cuda_gumbel_softmax.cu" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    metadata = email.parser.Parser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    assert metadata["Name"] == "gumbelkit"
    assert metadata["Version"] == gumbelkit.__version__
    assert metadata["Requires-Python"] == ">=3.10"
    # The core install is NumPy and array-api-compat; every framework is an extra.
    core = {
        re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        for requirement in metadata.get_all("Requires-Dist", [])
        if "extra ==" not in requirement
    }
    assert core == {"numpy", "array-api-compat"}
    assert {"torch", "jax", "cupy", "dask", "test", "docs"} <= set(
        metadata.get_all("Provides-Extra", [])
    )
    # A pure-Python wheel, with the command and the licence.
    assert "Tag: py3-none-any" in wheel.read(f"{DIST_INFO}/WHEEL").decode()
    entry_points = wheel.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert re.search(r"^gumbelkit\s*=\s*gumbelkit\.cli:main$", entry_points, re.M)
    assert f"{DIST_INFO}/licenses/LICENSE" in wheel.namelist()


def _requirement_names(metadata: email.message.Message, extra: str | None) -> set[str]:
    """Return the distribution names that the wheel requires for ``extra`` (None: the core)."""
    names = set()
    for requirement in metadata.get_all("Requires-Dist", []):
        marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if (marker.group(1) if marker else None) == extra:
            names.add(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower())
    return names


def test_examples_extra_brings_what_the_examples_import(wheel: zipfile.ZipFile) -> None:
    metadata = email.parser.Parser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    assert "examples" in metadata.get_all("Provides-Extra", [])
    # Every top-level module the scripts import, in functions too, beyond the standard library.
    imported = set()
    for script in sorted((ROOT / "examples").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    imported -= set(sys.stdlib_module_names) | {"__future__", "gumbelkit"}
    assert "sklearn" in imported
    # The distribution of each module, as the installed packages record it.
    distributions = importlib.metadata.packages_distributions()
    needed = {distributions.get(module, [module])[0].lower() for module in imported}
    provided = _requirement_names(metadata, None) | _requirement_names(metadata, "examples")
    for framework in ("torch", "jax", "dask"):
        provided |= _requirement_names(metadata, framework)
    assert needed <= provided, sorted(needed - provided)
    # scikit-learn with the lower bound the tests run the examples with.
    assert "Requires-Dist: scikit-learn>=1.3; extra == 'examples'" in str(metadata)
    assert "gumbelkit[examples]" in " ".join(PYPROJECT["project"]["optional-dependencies"]["test"])


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Build the sdist; return the paths it holds, relative to its top folder."""
    backend = PYPROJECT["build-system"]["build-backend"]
    pytest.importorskip(
        backend, reason=f"the build backend {backend} is not installed (the test extra has it)"
    )
    out = tmp_path_factory.mktemp("sdist")
    hook = f"import sys, {backend} as b; print(b.build_sdist(sys.argv[1]))"
    with one_build_at_a_time():
        done = subprocess.run(
            [sys.executable, "-c", hook, str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == 0, done.stderr
    with tarfile.open(out / done.stdout.strip().splitlines()[-1]) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    top = f"gumbelkit-{gumbelkit.__version__}"
    assert all(PurePosixPath(name).parts[0] == top for name in names), names
    return {PurePosixPath(name).relative_to(top).as_posix() for name in names}


def test_sdist_holds_what_its_tests_and_make_test_read(sdist: set[str]) -> None:
    # `make test` on an unpacked sdist: the Makefile, its constraints, the docs site's config.
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "mkdocs.yml", "Makefile",
            "constraints.txt"} <= sdist
    # Every file the tests read under these folders: the pages and pictures of the docs site,
    # the examples, the benchmark script and its README, the tests themselves.
    wanted = {
        path.relative_to(ROOT).as_posix()
        for folder in ("gumbelkit", "tests", "docs", "examples", "benchmarks")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and path.suffix in {".py", ".md", ".png", ".css", ".cpp", ".cu", ".typed"}
    }
    assert "docs/cli.md" in wanted
    assert "benchmarks/bench.py" in wanted
    assert wanted <= sdist, sorted(wanted - sdist)
    # The CI script is for this repository's own runner, not for a user of the sdist.
    assert not [name for name in sdist if name.startswith(".ci/")]


# --- the conformance suite, from the installed wheel ------------------------------------------

SUITE = "gumbelkit/conformance"
# One small, fast selection of the suite: two KS tests of the noise (float32, float64).
SELECTION = "test_noise_follows_the_gumbel_cdf"
# A third-party adapter, given as module:attr: the NumPy adapter under another name.
RENAMED_ADAPTER = '''
import gumbelkit.backends.numpy as base


class Renamed:
    name = "numpy-renamed"

    def __getattr__(self, member):
        return getattr(base, member)


ADAPTER = Renamed()
'''


def test_wheel_ships_the_conformance_suite(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sources = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / SUITE).glob("*.py")
    }
    assert {f"{SUITE}/{name}" for name in ("__init__.py", "conftest.py", "plugin.py", "stats.py",
                                           "designs.py", "subjects.py")} <= sources
    assert sources <= names, sorted(sources - names)
    assert any(name.startswith(f"{SUITE}/test_") for name in names)
    # Its run-time requirements are the check extra, which the test extra includes.
    metadata = email.parser.Parser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    check = {
        re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        for requirement in metadata.get_all("Requires-Dist", [])
        if re.search(r"extra\s*==\s*['\"]check['\"]", requirement)
    }
    assert check == {"pytest", "scipy"}
    assert "check" in metadata.get_all("Provides-Extra", [])


@pytest.fixture(scope="module")
def installed(
    wheel: zipfile.ZipFile, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """Install the wheel into a folder of its own; return it and a working folder beside it.

    Both lie outside the checkout; with the folder as PYTHONPATH, the wheel's gumbelkit comes
    before the editable install of this checkout.
    """
    pytest.importorskip("pip", reason="pip installs the wheel")
    base = tmp_path_factory.mktemp("installed")
    site, work = base / "site", base / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", "--target", str(site), str(wheel.filename)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (work / "renamed_adapter.py").write_text(RENAMED_ADAPTER)
    return site, work


def _run_outside(
    installed: tuple[Path, Path], *args: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in the working folder with the installed wheel first on the path."""
    site, work = installed
    # None of the suite's settings, nor pytest's, leaks in from this run.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GUMBELKIT_", "PYTEST_", "PYTHON"))}
    env.update(variables, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_installed_wheel_is_the_one_imported(installed: tuple[Path, Path]) -> None:
    site, work = installed
    assert ROOT not in work.parents
    assert ROOT not in site.parents
    probe = ("import sys, gumbelkit; print(gumbelkit.__file__); "
             "print(sorted({'pytest', 'scipy', 'gumbelkit.conformance'} & set(sys.modules)))")
    done = _run_outside(installed, "-c", probe)
    assert done.returncode == 0, done.stderr
    location, imported = done.stdout.splitlines()
    assert Path(location).is_relative_to(site)
    # Importing gumbelkit imports neither the suite nor what it needs.
    assert imported == "[]"


def test_gumbelkit_check_runs_the_shipped_suite(installed: tuple[Path, Path]) -> None:
    done = _run_outside(installed, "-m", "gumbelkit", "check", "--backend", "numpy", "-k",
                        SELECTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| numpy   | float32 |" in done.stdout
    assert "2 statistical tests; 2 passed, 0 failed" in done.stdout


def test_gumbelkit_check_runs_a_third_party_adapter(installed: tuple[Path, Path]) -> None:
    done = _run_outside(installed, "-m", "gumbelkit", "check", "--backend",
                        "renamed_adapter:ADAPTER", "-k", SELECTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| numpy-renamed | float64 |" in done.stdout


def test_pytest_pyargs_runs_the_shipped_suite(installed: tuple[Path, Path]) -> None:
    # Under --pyargs pytest reads the suite's conftest after the command line: its options
    # come with -p gumbelkit.conformance.plugin.
    done = _run_outside(installed, "-m", "pytest", "-p", "gumbelkit.conformance.plugin",
                        "-p", "no:cacheprovider", "--pyargs", "gumbelkit.conformance",
                        "-k", SELECTION, "--backend", "numpy", "--seed", "7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gumbelkit conformance: alpha 1e-06 per assertion, fixed seed 7" in done.stdout
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout
    # Without -p, the backends come from $GUMBELKIT_BACKEND.
    done = _run_outside(installed, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs",
                        "gumbelkit.conformance", "-k", SELECTION, GUMBELKIT_BACKEND="numpy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout
