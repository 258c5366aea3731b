"""The distribution: one source for the version, and a wheel that holds gumbelkit and nothing else.

The wheel is built from this checkout by calling the PEP 517 hook of the build backend that
pyproject.toml names, in a subprocess and without build isolation, so the test needs no
network and takes about a second.
"""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    backend = PYPROJECT["build-system"]["build-backend"]
    pytest.importorskip(
        backend, reason=f"the build backend {backend} is not installed (the test extra has it)"
    )
    out = tmp_path_factory.mktemp("wheel")
    hook = f"import sys, {backend} as b; print(b.build_wheel(sys.argv[1]))"
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
