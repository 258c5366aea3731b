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


SKLEARN_MISSING = importlib.util.find_spec("sklearn") is None


def test_numpy_sampling_counts_every_draw_and_scores_the_samples(capsys):
    example = load_example("numpy_sampling")
    result = example.main(["--classes", "2000", "--draws", "3000", "--chunk", "1000",
                           "--k", "4", "--top-k-draws", "300", "--seed", "1"])
    assert "3000 draws of 2000 classes with gk.categorical" in capsys.readouterr().out
    assert result["counts"].shape == (2000,)
    assert result["counts"].sum() == 3000
    samples = result["samples"]
    assert samples.shape == (300, 4)
    assert result["distinct"]
    assert all(len(set(row.tolist())) == 4 for row in samples)
    assert result["first_counts"].sum() == 300
    # The law of the draws is tested in conformance/ with calibrated designs; here the
    # log-probabilities must match the Plackett-Luce product formula, recomputed in float64.
    rank = np.arange(1, 2001, dtype=np.float64)
    p = rank**-example.EXPONENT / np.sum(rank**-example.EXPONENT)
    np.testing.assert_allclose(result["p"], p, rtol=1e-6)
    checked = samples[: len(result["log_prob"])]
    chosen = p[checked]
    before = np.cumsum(chosen, axis=1) - chosen
    expected = np.sum(np.log(chosen) - np.log1p(-before), axis=1)
    np.testing.assert_allclose(result["log_prob"], expected, rtol=1e-5)
    assert np.all(np.isfinite([result["categorical_seconds"], result["top_k_seconds"]]))


@pytest.mark.skipif(SKLEARN_MISSING, reason="scikit-learn is not installed")
@pytest.mark.skipif(unavailable_reason("torch") is not None,
                    reason=str(unavailable_reason("torch")))
@pytest.mark.parametrize("estimator", ["st", "reinmax"])
def test_vae_torch_training_lowers_the_test_elbo(estimator, capsys):
    example = load_example("vae_torch")
    initial = example.main(["--steps", "0", "--seed", "2"])
    trained = example.main(["--steps", "100", "--seed", "2", "--estimator", estimator])
    assert f"torch {estimator}: test -ELBO" in capsys.readouterr().out
    assert np.isfinite(initial)
    assert np.isfinite(trained)
    # A random decoder scores about 44 nats per image; 100 steps reach about 27.
    assert trained < initial - 5


@pytest.mark.skipif(SKLEARN_MISSING, reason="scikit-learn is not installed")
@pytest.mark.skipif(unavailable_reason("jax") is not None,
                    reason=str(unavailable_reason("jax")))
def test_vae_jax_training_lowers_the_test_elbo(capsys):
    example = load_example("vae_jax")
    # One estimator: each compiles its own training step (several seconds on a CPU).
    initial = example.main(["--steps", "0", "--seed", "2"])
    trained = example.main(["--steps", "100", "--seed", "2", "--estimator", "reinmax"])
    assert "jax reinmax: test -ELBO" in capsys.readouterr().out
    assert np.isfinite(initial)
    assert np.isfinite(trained)
    assert trained < initial - 5


def test_tail_cost_benchmark_times_both_noises_and_restores_the_exact_one(capsys, monkeypatch):
    # benchmarks/tail_cost.py at a smoke size: one row per operation, and the exact noise is
    # the library's again afterwards (it swaps it only inside its context).
    from gumbelkit import _noise

    spec = importlib.util.spec_from_file_location(
        "tail_cost", EXAMPLES.parent / "benchmarks" / "tail_cost.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exact = _noise._exact_gumbel
    monkeypatch.setattr("sys.argv", ["tail_cost.py", "--backends", "numpy", "--shapes", "8x4",
                                     "--rounds", "2"])
    module.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| numpy")]
    assert [row.split("|")[3].strip() for row in rows] == ["soft", "hard", "max"]
    assert _noise._exact_gumbel is exact
    # Inside the context the noise is the textbook transform of the same uniforms.
    with module.textbook_noise():
        textbook = gk_noise(np.random.default_rng(5))
    uniforms = np.maximum(np.random.default_rng(5).random((64, 64), dtype=np.float32),
                          np.finfo(np.float32).smallest_normal)
    np.testing.assert_array_equal(textbook, -np.log(-np.log(uniforms)))


def gk_noise(rng: np.random.Generator) -> np.ndarray:
    import gumbelkit as gk

    return np.asarray(gk.gumbel((64, 64), dtype=np.float32, rng=rng))
