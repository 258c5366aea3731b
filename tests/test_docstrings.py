"""The public docstrings: numpydoc validation, runnable Examples, and a reference entry each.

The public API is every module of gumbelkit whose dotted name has no part starting with ``_``,
and every function or class in such a module's ``__all__`` (a re-export is checked once, under
the first public name it has). A module without ``__all__`` (the adapter modules, the command
line) contributes its module docstring only. Data in ``__all__`` such as ``__version__`` has no
docstring of its own and is not checked.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import gumbelkit
from gumbelkit.backends import unavailable_reason

validate_module = pytest.importorskip("numpydoc.validate", reason="numpydoc is not installed")

ROOT = Path(__file__).resolve().parent.parent

# numpydoc checks that every public docstring passes, except these, with the reason.
IGNORED = {
    "ES01": "an extended summary is optional: the summary line and the sections suffice for "
    "short helpers",
    "SA01": "cross-references live in the docs pages (api.md, backends.md, the reference), not "
    "in a See Also section per function",
}
IGNORED_FOR = {
    ("gumbelkit.backends.Adapter", "PR01"): "typing.Protocol gives the class an "
    "__init__(*args, **kwargs); a protocol is never instantiated",
}
# ruff's D413 (pyproject.toml selects every D rule) wants a blank line after the last section;
# numpydoc's GL02 and GL03 reject it. That one line is removed before validating, so GL02 and
# GL03 still catch every other misplaced blank line.
_D413_BLANK_LINE = re.compile(r"\n[ \t]*\n([ \t]*)\Z")


def _load(name: str) -> object:
    """Return the module, or the attribute of a module, that a dotted name names."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:  # the module exists but cannot be imported
            raise
        module_name, _, attribute = name.rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)


class _Validator(validate_module.Validator):
    """numpydoc's validator, with the D413 blank line removed and modules supported."""

    def __init__(self, obj_name: str) -> None:
        obj = _load(obj_name)
        super().__init__(validate_module.get_doc_object(obj))
        self.raw_doc = _D413_BLANK_LINE.sub(r"\n\1", self.raw_doc)

    @property
    def source_file_def_line(self) -> int | None:
        # numpydoc 1.11 looks for a def or class line and raises StopIteration in a module
        # that has none; a module's docstring starts its file anyway.
        if inspect.ismodule(self.obj):
            return None
        return super().source_file_def_line


def _public_module_names() -> list[str]:
    names = ["gumbelkit"]
    for info in pkgutil.walk_packages(gumbelkit.__path__, "gumbelkit."):
        # The conformance suite is test code, run through `gumbelkit check` or pytest and
        # described in docs/conformance.md; it is not API to call.
        if info.name.startswith("gumbelkit.conformance"):
            continue
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _unavailable(module_name: str) -> str | None:
    """Return why an adapter module cannot be imported here (its library is missing)."""
    prefix = "gumbelkit.backends."
    if module_name.startswith(prefix) and module_name.count(".") == 2:
        try:
            return unavailable_reason(module_name[len(prefix):])
        except ValueError:  # not a built-in backend
            return None
    return None


def _public_objects() -> tuple[list[object], list[tuple[str, object]]]:
    """Return the pytest params of the public names and the public ``(name, object)`` pairs."""
    params: list[object] = []
    objects: list[tuple[str, object]] = []
    seen: set[int] = set()
    for module_name in _public_module_names():
        reason = _unavailable(module_name)
        if reason is not None:
            params.append(pytest.param(module_name, id=module_name,
                                       marks=pytest.mark.skip(reason=reason)))
            continue
        module = importlib.import_module(module_name)
        params.append(pytest.param(module_name, id=module_name))
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            full_name = f"{module_name}.{name}"
            objects.append((full_name, obj))
            params.append(pytest.param(full_name, id=full_name))
    return params, objects


PARAMS, PUBLIC_OBJECTS = _public_objects()


def _summary_names_the_package(name: str) -> bool:
    """Whether the docstring of ``name`` begins with the package's own name, all lowercase."""
    doc = inspect.getdoc(_load(name)) or ""
    return doc.startswith("gumbelkit")


def _is_exception(name: str) -> bool:
    obj = _load(name)
    return inspect.isclass(obj) and issubclass(obj, BaseException)


@pytest.mark.parametrize("name", PARAMS)
def test_docstring_passes_numpydoc(name: str) -> None:
    result = validate_module.validate(name, validator_cls=_Validator)
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in IGNORED
        and (name, code) not in IGNORED_FOR
        # SS02 wants a capital letter; the package's name is spelled in lowercase.
        and not (code == "SS02" and _summary_names_the_package(name))
        # A warning or exception is raised, not called: the function that raises it is the
        # example.
        and not (code == "EX01" and _is_exception(name))
    ]
    assert not errors, f"{name} ({result['file']}:{result['file_line']}):\n" + "\n".join(errors)


@pytest.mark.parametrize("name", PARAMS)
def test_docstring_examples_run(name: str) -> None:
    obj = _load(name)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    output = io.StringIO()
    for test in finder.find(obj, name, globs={}):
        runner.run(test, out=output.write)
    assert runner.failures == 0, output.getvalue()


def _rendered_objects() -> set[int]:
    """Return the ids of the objects that a ``::: target`` line of docs/reference renders."""
    rendered: set[int] = set()
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        for target in re.findall(r"^:::\s*(\S+)", page.read_text("utf-8"), flags=re.M):
            obj = _load(target)
            rendered.add(id(obj))
            if isinstance(obj, ModuleType):  # a module page renders its __all__
                rendered.update(id(getattr(obj, n)) for n in getattr(obj, "__all__", ()))
    return rendered


def test_reference_renders_every_public_name() -> None:
    rendered = _rendered_objects()
    missing = [name for name, obj in PUBLIC_OBJECTS if id(obj) not in rendered]
    assert not missing, (
        "docs/reference/ has no '::: name' entry (nor a '::: module' entry) for "
        + ", ".join(missing)
    )
