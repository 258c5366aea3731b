"""The package's layers (docs/architecture.md), enforced on its source by an ``ast`` walk.

Every module of ``gumbelkit`` has a layer. A module imports only from its own layer or the
layers below, never a private name from another unit (module or subpackage) of its own layer,
and the imports between modules, those inside functions included, form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gumbelkit"

# Module name (or subpackage name, for everything inside it) -> layer; lowest first.
LAYERS: dict[str, int] = {
    # 0: pure mathematics and pure-Python objects
    "gumbelkit._typing": 0,
    "gumbelkit._core": 0,
    "gumbelkit.estimators": 0,
    "gumbelkit.schedules": 0,
    # 1: the adapters, their contract, catalogue and registry
    "gumbelkit.backends": 1,
    # 2: argument checks
    "gumbelkit._checks": 2,
    # 3: the noise draw and the prepared arguments of a sampling call
    "gumbelkit._noise": 3,
    "gumbelkit._prepared": 3,
    # 4: the estimators' surrogates; large calls by row blocks on threads
    "gumbelkit._surrogates": 4,
    "gumbelkit._row_blocks": 4,
    # 5: the public families
    "gumbelkit._sampling": 5,
    "gumbelkit._categorical": 5,
    "gumbelkit._tokens": 5,
    "gumbelkit._conditional": 5,
    "gumbelkit._top_k": 5,
    "gumbelkit.distributions": 5,
    # 6: the package's public face
    "gumbelkit": 6,
    # 7: what only users run
    "gumbelkit.__main__": 7,
    "gumbelkit.cli": 7,
    "gumbelkit._cli": 7,
    "gumbelkit.testing": 7,
    "gumbelkit.conformance": 7,
    # the per-framework front ends, over the public API and the checks and core below it
    "gumbelkit.torch": 7,
    "gumbelkit.numpyro": 7,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str:
    """Return the entry of LAYERS that ``module`` belongs to (itself or its subpackage)."""
    # A subpackage's modules belong to it; the package itself holds only its __init__.
    candidates = [name for name in LAYERS if module == name
                  or (name != "gumbelkit" and module.startswith(name + "."))]
    if not candidates:
        raise KeyError(module)
    return max(candidates, key=len)


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """Return ``(target module, imported name or None, line)`` for each gumbelkit import.

    A module imported whole counts as imported, and so does each name read from it as an
    attribute (``_noise._put_tail`` after ``from gumbelkit import _noise``).
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    bound: dict[str, str] = {}  # local name -> the gumbelkit module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gumbelkit":
                    found.append((alias.name, None, node.lineno))
                    if alias.asname:
                        bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source.split(".")[0] != "gumbelkit":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:  # `from package import module`
                    found.append((submodule, None, node.lineno))
                    bound[alias.asname or alias.name] = submodule
                else:
                    found.append((source, alias.name, node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in bound):
            found.append((bound[node.value.id], node.attr, node.lineno))
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in MODULES:
        try:
            _unit(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"give these modules a layer in tests/test_layers.py: {unplaced}"


def _layer_problems(module: str) -> list[str]:
    """Return the imports of ``module`` that go up the layers or take a sibling's private name."""
    unit = _unit(module)
    problems = []
    for target, name, line in _imports(module):
        target_unit = _unit(target)
        if LAYERS[target_unit] > LAYERS[unit]:
            problems.append(f"line {line}: imports {target} (layer {LAYERS[target_unit]}) from "
                            f"layer {LAYERS[unit]}")
        same_layer_sibling = LAYERS[target_unit] == LAYERS[unit] and target_unit != unit
        if same_layer_sibling and name is not None and name.startswith("_"):
            problems.append(f"line {line}: imports the private name {name} from {target}, a "
                            "sibling on its own layer")
    return problems


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    problems = _layer_problems(module)
    assert not problems, f"{module}:\n" + "\n".join(problems)


def test_no_import_cycle() -> None:
    graph = {module: {target for target, _, _ in _imports(module) if target != module}
             for module in MODULES}
    # The package's __init__ is where users enter; an import of `gumbelkit` from inside runs it
    # first anyway, so the edges into it are what would close a cycle: they are kept.
    cycles = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target in graph and state.get(target) is None:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_a_private_name_read_from_a_sibling_module_is_refused(tmp_path: Path) -> None:
    # The check is only as good as the walk: a probe stands in for _sampling (layer 5) and
    # reads a private name of _top_k, its sibling on layer 5, as a module attribute.
    probe = tmp_path / "probe.py"
    probe.write_text("from gumbelkit import _top_k as top\n\nvalue = top._relaxed_top_k_body\n")
    real = MODULES["gumbelkit._sampling"]
    MODULES["gumbelkit._sampling"] = probe
    try:
        problems = _layer_problems("gumbelkit._sampling")
    finally:
        MODULES["gumbelkit._sampling"] = real
    assert problems == ["line 3: imports the private name _relaxed_top_k_body from "
                        "gumbelkit._top_k, a sibling on its own layer"]


def test_the_walk_sees_imports_inside_functions() -> None:
    # The checks above are only as good as the walk: a lazy import must be seen.
    targets = {target for target, _, _ in _imports("gumbelkit.backends._catalogue")}
    assert "gumbelkit.backends.torch" in targets
