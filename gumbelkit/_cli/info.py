"""``gumbelkit info``: what this installation can run on.

The backends, their distributions and extras come from the catalogue of built-in backends
(``gumbelkit.backends.BUILTIN_BACKENDS``). A library that is not installed is never imported
(``importlib.util.find_spec`` only looks for it); an installed one is imported to ask for its
version and devices.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import import_module, metadata
from typing import Any

from gumbelkit import __version__
from gumbelkit._cli._ui import ProgressBar
from gumbelkit.backends import BUILTIN_BACKENDS, builtin_backend

HELP = "show the installed backends, their versions and devices"
DESCRIPTION: str | None = (
    "Show gumbelkit's version, Python, and for each built-in backend whether it can run here "
    "(or why not), its version and its devices."
)
# Optional libraries of the commands: distribution name and what needs it.
OPTIONAL = {
    "matplotlib": "gumbelkit plot",
    "scipy": "gumbelkit check",
    "pytest": "gumbelkit check",
}


@dataclass
class BackendInfo:
    """Whether one backend can run here, its version and its devices."""

    name: str
    available: bool
    version: str | None = None
    devices: list[str] = field(default_factory=list)
    reason: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``gumbelkit info`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.

    """
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Run ``gumbelkit info`` with parsed options; return its exit code.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    int
        0.

    """
    return print_info(as_json=args.json)


def _devices(name: str) -> list[str]:
    """Return the devices of an importable backend."""
    if name == "torch":
        import torch

        devices = ["cpu"]
        devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                    for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
        return devices
    if name == "jax":
        import jax

        return [f"{device.platform}:{device.id}" for device in jax.devices()]
    if name == "cupy":
        cupy: Any = import_module("cupy")
        runtime = cupy.cuda.runtime
        return [f"cuda:{i} ({runtime.getDeviceProperties(i)['name'].decode()})"
                for i in range(runtime.getDeviceCount())]
    return ["cpu"]  # NumPy, Dask and array-api-strict arrays live in host memory


def backend_info(name: str) -> BackendInfo:
    """Return what :func:`print_info` reports for the built-in backend ``name``.

    Parameters
    ----------
    name : str
        A built-in backend's name.

    Returns
    -------
    BackendInfo
        Whether it can run here (or why not), its version and its devices.

    """
    entry = builtin_backend(name)
    if not entry.is_installed():
        hint = "" if entry.extra is None else f"; pip install 'gumbelkit[{entry.extra}]'"
        return BackendInfo(name, False, reason=f"not installed{hint}")
    reason = entry.unavailable_reason()
    loaded = sys.modules.get(entry.distribution)
    version = None if loaded is None else str(getattr(loaded, "__version__", "?"))
    if reason is not None:
        return BackendInfo(name, False, version, reason=reason)
    try:
        devices = _devices(name)
    except Exception as exc:  # a driver problem must not hide the other backends
        return BackendInfo(name, False, version, reason=f"cannot list devices: {exc}")
    return BackendInfo(name, True, version, devices)


def _distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect(progress: ProgressBar | None = None) -> dict[str, Any]:
    """Return gumbelkit's, Python's and each backend's facts as a JSON-ready dict.

    Parameters
    ----------
    progress : ProgressBar, optional
        Advanced by one step per backend.

    Returns
    -------
    dict
        The facts, in the order of the catalogue of built-in backends.

    """
    backends = []
    for entry in BUILTIN_BACKENDS:
        if progress is not None:
            progress.describe(entry.name)
        backends.append(asdict(backend_info(entry.name)))
        if progress is not None:
            progress.advance()
    return {
        "gumbelkit": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "array_api_compat": _distribution_version("array-api-compat"),
        "backends": backends,
        "optional": {name: _distribution_version(name) for name in OPTIONAL},
    }


def format_info(facts: dict[str, Any]) -> str:
    """Return the facts of :func:`collect` as text: a header and one row per backend.

    Parameters
    ----------
    facts : dict
        What :func:`collect` returns.

    Returns
    -------
    str
        The lines, without a final newline.

    """
    lines = [
        f"gumbelkit {facts['gumbelkit']}",
        f"Python {facts['python']} on {facts['platform']}",
        f"array-api-compat {facts['array_api_compat']}",
        "",
    ]
    rows = [("backend", "version", "devices, or why it cannot run")]
    for b in facts["backends"]:
        status = ", ".join(b["devices"]) if b["available"] else f"unavailable: {b['reason']}"
        rows.append((b["name"], b["version"] or "-", status))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines += [f"{name:<{widths[0]}}  {version:<{widths[1]}}  {status}"
              for name, version, status in rows]
    lines.append("")
    for name, version in facts["optional"].items():
        state = version if version is not None else "not installed"
        lines.append(f"{name} {state} (for {OPTIONAL[name]})")
    return "\n".join(lines)


def print_info(*, as_json: bool = False) -> int:
    """Print what this installation can run on; return the exit code 0.

    Parameters
    ----------
    as_json : bool, optional
        Print JSON instead of a table.

    Returns
    -------
    int
        0.

    """
    # Importing torch and JAX to ask for their devices can take seconds.
    with ProgressBar(len(BUILTIN_BACKENDS)) as progress:
        facts = collect(progress)
    print(json.dumps(facts, indent=2) if as_json else format_info(facts))
    return 0
