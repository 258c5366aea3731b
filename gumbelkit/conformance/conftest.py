"""Register the suite's pytest plugin, :mod:`gumbelkit.conformance.plugin`, unless ``-p`` did."""

from __future__ import annotations

import pytest

from gumbelkit.conformance import plugin


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the plugin, whose options pytest then adds before it parses the command line.

    Under ``--pyargs`` this runs too late for the command line; ``-p
    gumbelkit.conformance.plugin`` has registered the plugin already there.
    """
    if not pluginmanager.is_registered(plugin):
        pluginmanager.register(plugin, plugin.__name__)
