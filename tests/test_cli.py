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


THIRD_PARTY_ADAPTER = '''
"""A third-party adapter: NumPy arrays with the PCG64DXSM bit generator."""
import numpy as np

import gumbelkit.backends.numpy as base


class DxsmAdapter:
    name = "numpy-dxsm"
    supports_autodiff = False
    matches = staticmethod(base.matches)
    namespace = staticmethod(base.namespace)
    stop_gradient = staticmethod(base.stop_gradient)
    is_host_readable = staticmethod(base.is_host_readable)
    draws = 0

    def owns_rng(self, rng):
        return False

    def make_rng(self, rng, device):
        if rng is not None and not isinstance(rng, int):
            raise TypeError("rng for numpy-dxsm arrays must be None or an int seed")
        return np.random.Generator(np.random.PCG64DXSM(rng))

    def uniform(self, rng, shape, dtype, device):
        type(self).draws += 1
        u = rng.random(shape, dtype=dtype)
        return np.maximum(u, np.finfo(dtype).smallest_normal), rng


ADAPTER = DxsmAdapter()
'''


def test_check_runs_the_suite_and_prints_the_table():
    result = run("check", "--backend", "numpy", "-k", "noise_follows")
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.splitlines()[0].split("|")
    assert [h.strip() for h in header] == ["test", "backend", "dtype", "n", "statistic",
                                           "p-value", "verdict"]
    assert "| numpy   | float32 |" in result.stdout
    assert "2 statistical tests; 2 passed, 0 failed" in result.stdout


def test_check_runs_a_third_party_adapter(tmp_path, monkeypatch):
    (tmp_path / "dxsm_adapter.py").write_text(THIRD_PARTY_ADAPTER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = run("check", "--backend", "dxsm_adapter:ADAPTER", "-k", "noise_follows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| numpy-dxsm | float64 |" in result.stdout


def test_check_rejects_an_unknown_backend_in_one_line():
    result = run("check", "--backend", "tensorflow")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gumbelkit check: unknown backend 'tensorflow'; expected one of "
        "torch, numpy, jax, cupy, dask, array_api_strict or 'module:attr'"
    ]
