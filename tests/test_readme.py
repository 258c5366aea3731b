"""Run every ```python block of README.md and docs/*.md, each in a fresh namespace.

A block that imports an optional library which is not installed (torch, jax, dask, cupy,
array_api_strict) is skipped with a reason naming the library; a CuPy block is skipped when no
CUDA GPU is present. The test id names the file and the line of the opening fence, e.g.
``README.md:L42``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import gumbelkit.backends as gb
from gumbelkit.backends import unavailable_reason

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# The built-in backends beyond NumPy, which a block may import; from the catalogue.
OPTIONAL = tuple(entry.name for entry in gb.BUILTIN_BACKENDS if entry.name != "numpy")

_IMPORT = re.compile(r"^\s*import\s+(.+)$")
_FROM = re.compile(r"^\s*from\s+([A-Za-z_][\w.]*)\s+import\b")


@dataclass(frozen=True)
class Block:
    """One ```python block: its file, the line of its opening fence and its code."""

    path: Path
    line: int
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:L{self.line}"


def fenced_python(text: str) -> list[tuple[int, str]]:
    """Return ``(line of the opening fence, code)`` for each ```python block of ``text``."""
    blocks = []
    language: str | None = None  # the language of the open fence, None outside a fence
    start = 0
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if language is None:
            if stripped.startswith("```"):
                language, start, body = stripped[3:].strip(), number, []
        elif stripped == "```":
            if language == "python":
                blocks.append((start, "\n".join(body) + "\n"))
            language = None
        else:
            body.append(line)
    if language is not None:
        raise ValueError(f"the fence opened on line {start} is not closed")
    return blocks


def python_blocks(path: Path) -> list[Block]:
    """Return the ```python blocks of a Markdown file."""
    return [Block(path, line, code) for line, code in fenced_python(path.read_text("utf-8"))]


def imported_modules(code: str) -> set[str]:
    """Return the top-level names of the modules a block imports."""
    names = set()
    for line in code.splitlines():
        if match := _FROM.match(line):
            names.add(match.group(1).split(".")[0])
        elif match := _IMPORT.match(line):
            for part in match.group(1).split(","):
                names.add(part.split()[0].split(".")[0])
    return names


def skip_reason(block: Block) -> str | None:
    """Return why ``block`` cannot run here, or None."""
    modules = imported_modules(block.code)
    for library in OPTIONAL:
        if library in modules and (reason := unavailable_reason(library)):
            return f"{block.name} imports {library}: {reason}"
    return None


def _params() -> list[object]:
    params = []
    for path in DOCUMENTS:
        for block in python_blocks(path):
            reason = skip_reason(block)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param(block, id=block.name, marks=marks))
    return params


@pytest.fixture
def _isolated_state():
    """Run a block as a fresh interpreter would, and undo what it changes.

    Other tests may move PyTorch's default device (``GUMBELKIT_TEST_DEVICE``); the blocks
    assume the CPU. Adapters a block registers are removed afterwards.
    """
    torch = sys.modules.get("torch")
    device = torch.get_default_device() if torch is not None else None
    if torch is not None:
        torch.set_default_device("cpu")
    before = list(gb.registered_backends())
    yield
    for adapter in gb.registered_backends():
        if adapter not in before:
            gb.unregister_backend(adapter)
    if torch is not None:
        torch.set_default_device(device)


@pytest.mark.usefixtures("_isolated_state")
@pytest.mark.parametrize("block", _params())
def test_block_runs(block: Block) -> None:
    # Pad with blank lines so that a traceback names the Markdown file's own line numbers.
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    exec(code, {"__name__": f"docs_block_{block.line}"})


def test_readme_has_a_block_per_backend() -> None:
    imports = [imported_modules(block.code) for block in python_blocks(ROOT / "README.md")]
    for library in ("numpy", *OPTIONAL):
        assert any(library in names and "gumbelkit" in names for names in imports), (
            f"README.md has no quick-start block for {library}"
        )


def test_block_parser() -> None:
    text = (
        "Text.\n"
        "```python\nimport torch.nn.functional as F, numpy as np\nfrom jax import numpy\n```\n"
        "```text\nimport cupy\n```\n"
        "```sh\nmake test\n```\n"
    )
    blocks = fenced_python(text)
    assert [line for line, _ in blocks] == [2]
    assert imported_modules(blocks[0][1]) == {"torch", "numpy", "jax"}
    with pytest.raises(ValueError, match="line 2"):
        fenced_python("x\n```python\nimport numpy\n")
