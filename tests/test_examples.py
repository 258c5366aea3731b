"""The scripts in examples/ run, at a small size, and give what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gumbelkit.backends import unavailable_reason

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(unavailable_reason("dask") is not None,
                    reason=str(unavailable_reason("dask")))
def test_dask_out_of_core_counts_every_row_once_and_is_reproducible(capsys):
    example = load_example("dask_out_of_core")
    argv = ["--rows", "4000", "--classes", "60", "--chunk-rows", "1000", "--seed", "3"]
    threaded = example.main([*argv, "--scheduler", "threads"])
    synchronous = example.main([*argv, "--scheduler", "synchronous"])
    assert "4000 x 60" in capsys.readouterr().out
    counts = threaded["counts"]
    assert threaded["chunks"] == 4
    assert counts.shape == (60,)
    assert counts.sum() == 4000
    # Same seed and chunks, another scheduler: the same sample.
    np.testing.assert_array_equal(counts, synchronous["counts"])
    # The expected counts, from the example's law (rows cycle through GROUPS Zipf-like rows),
    # recomputed here with SciPy's softmax.
    from scipy.special import softmax

    table = example.group_logits(60).astype(np.float64)
    rows = np.arange(4000) % example.GROUPS
    np.testing.assert_allclose(threaded["expected"], softmax(table[rows], axis=1).sum(axis=0))
    # The law of the draws is tested in tests/test_dask.py, on a cluster, with a calibrated
    # design; here the statistic need only be what the example prints.
    assert threaded["df"] == 59
    assert np.isfinite(threaded["chi_square"])
