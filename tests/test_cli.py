"""The ``gumbelkit`` command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from gumbelkit.cli import DEMO_LOGITS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gumbelkit", *args], capture_output=True,
                          text=True, check=False)


def test_demo_prints_frequencies_beside_softmax():
    result = run("demo", "--samples", "50000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    logits = np.array(DEMO_LOGITS)
    softmax = np.exp(logits) / np.exp(logits).sum()
    rows = [line.split() for line in result.stdout.splitlines()]
    table = [r for r in rows if len(r) == 4 and r[0].isdigit()]
    assert [int(r[0]) for r in table] == list(range(len(logits)))
    np.testing.assert_allclose([float(r[1]) for r in table], softmax, atol=1e-5)
    # |z| < 5 for every class: frequencies within five standard errors of softmax.
    assert all(abs(float(r[3])) < 5 for r in table)
    assert "soft samples" in result.stdout


def test_bad_arguments_exit_with_2():
    assert run("demo", "--samples", "0").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run().returncode == 2


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("gumbelkit ")
