"""The partial selections of the NumPy and PyTorch adapters' ``top_k`` (docs/backends.md).

Each is compared with the order it must reproduce, written independently with ``np.lexsort``:
NaN first (where the stable descending argsort puts it), then decreasing value, equal values in
increasing index. The rows are long enough to take the chunked candidate search (NumPy) and
hold the cases that send a row to the full sort: ties at the edge of the ``k`` largest, NaN,
``-inf`` (masked classes), signed zeros. ``gumbel_top_k`` is then checked against a full argsort
of the same perturbed logits at the benchmark's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.backends import numpy as numpy_adapter
from gumbelkit.backends import unavailable_reason

NINF = -np.inf


def descending(z: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of the stable descending order of each row (last axis), NaN first."""
    rows = np.asarray(z).reshape(-1, z.shape[-1])
    index = np.arange(z.shape[-1])
    out = []
    for row in rows:
        nan = np.isnan(row)
        # lexsort sorts by the last key first: NaN before numbers, then -value, then index.
        out.append(np.lexsort((index, -np.where(nan, 0.0, row), ~nan))[:k])
    return np.array(out).reshape((*z.shape[:-1], k))


def rows_of(kind: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "ties":  # few values: ties inside the k and at their edge
        return rng.integers(-3, 4, size=shape).astype(np.float32)
    z = rng.standard_normal(shape).astype(np.float32)
    if kind == "masked":  # most classes masked, some rows with fewer finite than k
        z[rng.random(shape) < 0.97] = NINF
        z[0] = NINF
        z[(0,) * (z.ndim - 1) + (5,)] = 1.0
    elif kind == "nan":
        z[rng.random(shape) < 2e-4] = np.nan
    elif kind == "signed zeros":
        z[rng.random(shape) < 0.5] = 0.0
        z[rng.random(shape) < 0.25] = -0.0
    return z


KINDS = ["continuous", "ties", "masked", "nan", "signed zeros"]


def adapters() -> list[Any]:
    params: list[Any] = [pytest.param(numpy_adapter.top_k, id="numpy")]
    reason = unavailable_reason("torch")
    if reason:
        params.append(pytest.param(None, id="torch", marks=pytest.mark.skip(reason=reason)))
    else:
        import torch

        from gumbelkit.backends import torch as torch_adapter

        def torch_top_k(z: np.ndarray, k: int, axis: int) -> np.ndarray:
            return torch_adapter.top_k(torch.from_numpy(z), k, axis).numpy()

        params.append(pytest.param(torch_top_k, id="torch"))
    return params


@pytest.mark.parametrize("top_k", adapters())
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 2, 8, 64])
def test_top_k_is_the_stable_descending_order(top_k, kind, k):
    z = rows_of(kind, (5, 20_000), seed=k)
    np.testing.assert_array_equal(top_k(z, k, -1), descending(z, k))


@pytest.mark.parametrize("top_k", adapters())
@pytest.mark.parametrize("kind", KINDS)
def test_top_k_along_a_leading_axis_and_short_rows(top_k, kind):
    z = rows_of(kind, (3, 4, 3000), seed=7)
    moved = np.moveaxis(z, -1, 1)  # classes along axis 1 of (3, 3000, 4)
    expected = np.moveaxis(descending(z, 5), -1, 1)
    np.testing.assert_array_equal(top_k(np.ascontiguousarray(moved), 5, -2), expected)
    short = rows_of(kind, (6, 9), seed=8)  # shorter than the chunked search needs
    for k in (1, 3, 8, 9):
        np.testing.assert_array_equal(top_k(short, k, -1), descending(short, k))
    one = short[1]
    np.testing.assert_array_equal(top_k(one, 4, -1), descending(one[None], 4)[0])


@pytest.mark.parametrize("top_k", adapters())
def test_top_k_sends_only_a_tied_edge_to_the_full_sort(top_k):
    # Row 0 ties at its edge (the 3rd and 4th largest are equal), row 1 does not.
    z = np.zeros((2, 5000), dtype=np.float32)
    z[0, [10, 20, 30, 40]] = [5.0, 4.0, 3.0, 3.0]
    z[1, [4999, 7, 3000]] = [2.0, 1.0, 1.5]
    np.testing.assert_array_equal(top_k(z, 3, -1), [[10, 20, 30], [4999, 3000, 7]])
    np.testing.assert_array_equal(top_k(z, 4, -1), [[10, 20, 30, 40], [4999, 3000, 7, 0]])


@pytest.mark.parametrize("k", [1, 8, 64])
def test_gumbel_top_k_is_the_full_argsort_of_the_same_noise_at_the_benchmark_shape(k):
    logits = np.random.default_rng(1).standard_normal((8, 152_064)).astype(np.float32)
    noise = np.random.default_rng(2).gumbel(size=logits.shape).astype(np.float32)
    z = logits + noise
    expected = np.argsort(-z.astype(np.float64), axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(gk.gumbel_top_k(logits, k, noise=noise), expected)
    hard = gk.relaxed_top_k(logits, k, hard=True, noise=noise)
    k_hot = np.zeros(z.shape, dtype=np.float32)
    np.put_along_axis(k_hot, expected, 1.0, axis=-1)
    np.testing.assert_array_equal(hard, k_hot)


def test_gumbel_top_k_leaves_a_masked_row_to_the_invalid_index():
    # Rows with masked classes are counted: the positions their finite logits cannot fill
    # hold K, on the fast path too.
    logits = np.zeros((4, 10_000), dtype=np.float32)
    logits[1, 3:] = NINF
    logits[2, 0] = np.nan
    noise = np.random.default_rng(3).gumbel(size=logits.shape).astype(np.float32)
    index = gk.gumbel_top_k(logits[[0, 3]], 5, noise=noise[[0, 3]])
    np.testing.assert_array_equal(
        index, np.argsort(-(logits[[0, 3]] + noise[[0, 3]]), axis=-1, kind="stable")[:, :5]
    )
    with pytest.raises(ValueError, match="k = 5 exceeds the number of unmasked"):
        gk.gumbel_top_k(logits[:2], 5, noise=noise[:2])
    top = gk.gumbel_top_k(logits[1:3], 3, noise=noise[1:3])
    np.testing.assert_array_equal(
        top[0], np.argsort(-(logits[1, :3] + noise[1, :3]), kind="stable")
    )
    np.testing.assert_array_equal(top[1], [10_000] * 3)
