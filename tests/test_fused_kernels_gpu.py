"""The fused soft-sample kernels compiled and run on a CUDA GPU: Triton (PyTorch), CUDA (CuPy).

Their arithmetic is tested without a GPU elsewhere: tests/triton_interpreted.py runs the Triton
kernel in Triton's interpreter, tests/test_cuda_kernel.py a host emulation of the CUDA source.
Here the compiled kernels run on the GPU:

- each kernel's noise is the exact-tail noise of the Philox stream (tests/helpers.py's NumPy
  reference of the construction), on a draw with more than a hundred values in the sliver;
- the two kernels draw the same noise from the same seed;
- their values are the float64 softmax of the logits plus that noise, on rows with masked
  classes, rows far from 0, and invalid rows (all NaN), in one pass and in two;
- through the adapters (``use_triton``, ``use_fused_kernel``), the argmax of a soft sample at a
  small temperature has the law ``softmax(logits)`` (chi-square, alpha 1e-6).

Everything here skips where PyTorch or CuPy sees no CUDA GPU, and says so.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import SLIVER_START, np_softmax, philox_exact_gumbel, philox_words
from scipy import stats

import gumbelkit as gk
from gumbelkit.backends import _cuda_fused

ALPHA = 1e-6
SEED = 0x1234_5678_9ABC  # a kernel seed below 2**62, as both adapters draw them
ROWS, CLASSES = 32, 8192  # 2 x 2**18 draws: about 128 in the sliver


def _torch_cuda() -> Any:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU for PyTorch (torch.cuda.is_available() is False)")
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed (pip install 'gumbelkit[triton]')")
    return torch


def _cupy() -> Any:
    cupy = pytest.importorskip("cupy", reason="cupy is not installed (CuPy needs a CUDA GPU)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:
        pytest.skip(f"CuPy sees no CUDA GPU ({error})")
    if count == 0:
        pytest.skip("CuPy sees no CUDA GPU")
    return cupy


def _triton_sample(x: Any, tau: float, samples: int, *,
                   block: int | None = None) -> tuple[Any, Any]:
    """The Triton kernel on the CUDA tensor ``x`` under :data:`SEED`: (sample, noise)."""
    torch = _torch_cuda()
    from gumbelkit.backends import _triton

    seed = torch.tensor([SEED], dtype=torch.int64, device=x.device)
    noise = torch.empty((samples * x.shape[0], x.shape[1]), device=x.device)
    out = _triton._launch(x, tau, samples * x.shape[0], seed, noise, block)
    torch.cuda.synchronize()
    return out.cpu().numpy(), noise.cpu().numpy().reshape(samples, *x.shape)


def _cuda_sample(x: Any, tau: float, samples: int) -> tuple[Any, Any]:
    """The CUDA kernel on the CuPy array ``x`` under :data:`SEED`: (sample, noise)."""
    cupy = _cupy()
    from gumbelkit.backends import cupy as adapter

    module = adapter._fused_module(x.device.id)

    def launch(name: str, n_rows: int, rows: Any, out: Any, seed: Any, noise_out: Any,
               n_cols: int, n_logit_rows: int, tau: float) -> None:
        module.get_function(name)(
            (n_rows,), (_cuda_fused.BLOCK,),
            (rows, out, seed, noise_out, np.int64(n_cols), np.int64(n_logit_rows),
             np.float32(tau)),
        )

    seed = cupy.asarray([SEED], dtype=cupy.int64)
    noise = cupy.empty((samples, *x.shape), dtype=cupy.float32)
    out = _cuda_fused.gumbel_softmax(x, tau, -1, (samples,), seed, launch, cupy, noise_out=noise)
    cupy.cuda.runtime.deviceSynchronize()
    return cupy.asnumpy(out), cupy.asnumpy(noise)


def _check_philox_noise(noise: np.ndarray) -> None:
    words = philox_words(SEED, np.arange(noise.size))
    sliver = (words[:, 0] >> np.uint32(9)) >= SLIVER_START
    assert sliver.sum() > 64  # the refinement is exercised
    np.testing.assert_allclose(noise.ravel(), philox_exact_gumbel(SEED, np.arange(noise.size)),
                               rtol=2e-6, atol=2e-6)


def test_triton_noise_is_the_philox_stream():
    torch = _torch_cuda()
    _, noise = _triton_sample(torch.zeros(ROWS, CLASSES, device="cuda"), 1.0, 2)
    _check_philox_noise(noise)


def test_cuda_noise_is_the_philox_stream():
    cupy = _cupy()
    _, noise = _cuda_sample(cupy.zeros((ROWS, CLASSES), dtype=cupy.float32), 1.0, 2)
    _check_philox_noise(noise)


def test_both_kernels_draw_the_same_noise():
    torch, cupy = _torch_cuda(), _cupy()
    _, from_triton = _triton_sample(torch.zeros(ROWS, CLASSES, device="cuda"), 1.0, 2)
    _, from_cuda = _cuda_sample(cupy.zeros((ROWS, CLASSES), dtype=cupy.float32), 1.0, 2)
    np.testing.assert_allclose(from_triton, from_cuda, rtol=2e-6, atol=2e-6)


def _logits(classes: int) -> np.ndarray:
    """Rows to score: ordinary, masked classes, far from 0 (both signs), and three invalid."""
    x = (np.random.default_rng(classes).normal(size=(8, classes)) * 2).astype(np.float32)
    x[1, :5] = -np.inf  # masked classes
    x[2] += np.float32(1e6)
    x[3] -= np.float32(1e6)
    x[4] += np.float32(-3e4)
    x[5] = -np.inf  # no finite logit
    x[6, 7] = np.nan
    x[7, 9] = np.inf
    return x


INVALID = [5, 6, 7]


def _check_values(y: np.ndarray, x: np.ndarray, noise: np.ndarray, tau: float) -> None:
    """``y`` against the float64 softmax of ``x + noise`` (exact enough in float64)."""
    z = x.astype(np.float64) + noise.astype(np.float64)
    valid = [r for r in range(x.shape[0]) if r not in INVALID]
    expected = np_softmax((z[:, valid] - z[:, valid].max(axis=-1, keepdims=True)) / tau)
    assert np.isnan(y[:, INVALID]).all()
    np.testing.assert_allclose(y[:, valid], expected, rtol=1e-5, atol=1e-30)
    assert (y[:, 1, :5] == 0).all()


@pytest.mark.parametrize("classes", [300, 5000])
@pytest.mark.parametrize("block", [None, 1024])
def test_triton_values(classes, block):
    torch = _torch_cuda()
    x = _logits(classes)
    y, noise = _triton_sample(torch.from_numpy(x).cuda(), 0.5, 3, block=block)
    _check_values(y.reshape(3, *x.shape), x, noise, 0.5)


@pytest.mark.parametrize("classes", [300, 5000])  # a cached kernel, the two-pass kernel
def test_cuda_values(classes):
    cupy = _cupy()
    x = _logits(classes)
    y, noise = _cuda_sample(cupy.asarray(x), 0.5, 3)
    _check_values(y, x, noise, 0.5)


def _argmax_law(sample: np.ndarray, logits: np.ndarray) -> None:
    """Chi-square of each row's argmax frequencies against ``softmax(logits)``, alpha 1e-6."""
    for row in range(logits.shape[0]):
        counts = np.bincount(sample[:, row].argmax(axis=-1), minlength=logits.shape[1])
        expected = sample.shape[0] * np_softmax(logits[row].astype(np.float64))
        assert stats.chisquare(counts, expected).pvalue > ALPHA, (row, counts)


# 100,000 samples of 4 rows of 6 classes: the chi-square detects a shift of about 0.01 in a
# class probability of 0.2 at alpha 1e-6.
LAW_LOGITS = np.log(np.array([[0.02, 0.08, 0.2, 0.3, 0.1, 0.3],
                              [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
                              [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
                              [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]]), dtype=np.float32)


def test_the_torch_adapter_samples_the_law_with_triton(monkeypatch):
    torch = _torch_cuda()
    from gumbelkit.backends import torch as adapter

    monkeypatch.setattr(adapter, "use_triton", True)
    logits = torch.from_numpy(LAW_LOGITS).cuda()
    generator = torch.Generator(device="cuda").manual_seed(3)
    sample = gk.gumbel_softmax(logits, tau=1e-3, sample_shape=100_000, rng=generator)
    assert sample.device == logits.device
    _argmax_law(sample.cpu().numpy(), LAW_LOGITS)
    # The kernel ran: the same generator state through the kernel directly gives these values.
    from gumbelkit.backends import _triton

    again = _triton.gumbel_softmax(logits, 1e-3, -1, (100_000,),
                                   torch.Generator(device="cuda").manual_seed(3))
    assert torch.equal(sample, again)


def test_the_cupy_adapter_samples_the_law_with_the_fused_kernel(monkeypatch):
    cupy = _cupy()
    from gumbelkit.backends import cupy as adapter

    monkeypatch.setattr(adapter, "use_fused_kernel", True)
    logits = cupy.asarray(LAW_LOGITS)
    sample = gk.gumbel_softmax(logits, tau=1e-3, sample_shape=100_000,
                               rng=cupy.random.default_rng(3))
    assert isinstance(sample, cupy.ndarray)
    _argmax_law(cupy.asnumpy(sample), LAW_LOGITS)
