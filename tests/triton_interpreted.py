"""The fused Triton kernel for PyTorch (``gumbelkit.backends._triton``), in the interpreter.

``TRITON_INTERPRET=1`` executes the kernel with NumPy on CPU tensors, so its arithmetic, its
Philox noise (against a NumPy reference of the construction, and its upper tail's exact law
through the kernel's own word-level transform), its two-pass path and its autograd wrapper are
checked without a GPU. The variable
must be set before Triton is first imported (Triton's own ``@jit`` functions, such as
``tl.randint``, are decorated then), so tests/test_triton.py runs this file in a fresh process.
What the interpreter cannot show is the GPU's code generation and speed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip(
    "torch", reason="torch is not installed (pip install 'gumbelkit[torch]')"
)
pytest.importorskip("triton", reason="triton is not installed (pip install 'gumbelkit[triton]')")
if os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("needs TRITON_INTERPRET=1 from the start (tests/test_triton.py sets it)",
                allow_module_level=True)

import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from helpers import (  # noqa: E402
    SLIVER_START,
    exact_gumbel_from_words,
    exact_tail_levels,
    philox_gumbel,
    philox_words,
    scripted_levels,
    scripted_words,
    textbook_levels,
)

import gumbelkit as gk  # noqa: E402
from gumbelkit.backends import _triton  # noqa: E402
from gumbelkit.backends import torch as torch_adapter  # noqa: E402
from gumbelkit.conformance import tails  # noqa: E402

# The interpreter evaluates the invalid rows' deliberate NaNs and infinities with NumPy.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ALPHA = 1e-6
THRESHOLDS = np.linspace(-3.0, 60.0, 631)


@triton.jit
def _words_kernel(words_ptr, out_ptr, n, block: tl.constexpr):
    # The kernel's word-level transform on rows of eight scripted words (int32 bit patterns).
    i = tl.program_id(0) * block + tl.arange(0, block)
    mask = i < n
    row = words_ptr + i * 8
    x0 = tl.load(row + 0, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x1 = tl.load(row + 1, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x2 = tl.load(row + 2, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x3 = tl.load(row + 3, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x4 = tl.load(row + 4, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x5 = tl.load(row + 5, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x6 = tl.load(row + 6, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x7 = tl.load(row + 7, mask=mask, other=0).to(tl.uint32, bitcast=True)
    noise = _triton._noise_from_words(x0, x1, x2, x3, x4, x5, x6, x7)
    tl.store(out_ptr + i, noise, mask=mask)


@triton.jit
def _given_first_kernel(seed_ptr, offsets_ptr, words_ptr, out_ptr, n, block: tl.constexpr):
    # The kernel's noise at real offsets from scripted first Philox words (int32 bit patterns):
    # the second block, where needed, is the kernel's own.
    i = tl.program_id(0) * block + tl.arange(0, block)
    mask = i < n
    offsets = tl.load(offsets_ptr + i, mask=mask, other=0)
    row = words_ptr + i * 4
    x0 = tl.load(row + 0, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x1 = tl.load(row + 1, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x2 = tl.load(row + 2, mask=mask, other=0).to(tl.uint32, bitcast=True)
    x3 = tl.load(row + 3, mask=mask, other=0).to(tl.uint32, bitcast=True)
    noise = _triton._noise_given_first(tl.load(seed_ptr), offsets, x0, x1, x2, x3)
    tl.store(out_ptr + i, noise, mask=mask)


def _noise_from_words(words: np.ndarray, block: int = 1024) -> np.ndarray:
    """Run the kernel's ``_noise_from_words`` on ``(n, 8)`` uint32 words."""
    w = torch.from_numpy(np.ascontiguousarray(words, dtype=np.uint32).view(np.int32))
    out = torch.empty(w.shape[0])
    _words_kernel[(triton.cdiv(w.shape[0], block),)](w, out, w.shape[0], block=block)
    return out.numpy()


def _kernel_seed(generator_seed: int) -> int:
    """Return the kernel's seed: the generator's first draw, as _triton.gumbel_softmax makes it."""
    return int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(
        generator_seed), dtype=torch.int64))


def _logits(dtype=torch.float32, rows=12, classes=300, seed=0):
    x = torch.as_tensor(np.random.default_rng(seed).normal(size=(rows, classes)) * 2, dtype=dtype)
    x[1, :5] = -torch.inf  # masked classes
    x[2] = -torch.inf  # no finite logit: invalid
    x[3, 7] = torch.nan  # invalid
    x[4, 9] = torch.inf  # invalid
    return x


def _reference(x, noise, tau):
    """softmax((x + G) / tau) in float64 from the kernel's own float32 noise."""
    z = x.double() + noise.double()
    with np.errstate(all="ignore"):
        shifted = (z - z.amax(dim=-1, keepdim=True)) / tau
        return torch.softmax(shifted, dim=-1)


@pytest.mark.parametrize("tau", [1.0, 0.5, 3.0, 1e-30])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_values_are_the_softmax_of_the_kernel_noise(tau, dtype):
    x = _logits(dtype)
    noise = torch.empty((2, *x.shape))
    y = _triton.gumbel_softmax(x, tau, -1, (2,), torch.Generator().manual_seed(3), noise_out=noise)
    assert y.dtype == dtype
    assert y.shape == (2, *x.shape)
    expected = _reference(x, noise, tau)
    invalid = [2, 3, 4]
    valid = [r for r in range(x.shape[0]) if r not in invalid]
    assert torch.isnan(y[:, invalid]).all()
    assert torch.isfinite(y[:, valid]).all()
    assert (y[:, 1, :5] == 0).all()
    # The kernel computes in float32, then rounds to the logits' dtype.
    tolerance = {torch.float32: 4e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    np.testing.assert_allclose(y[:, valid].double().numpy(), expected[:, valid].numpy(),
                               rtol=tolerance, atol=1e-30 if dtype == torch.float32 else 1e-7)


def test_noise_is_standard_gumbel():
    # KS against the Gumbel CDF (scipy.stats.gumbel_r), n = 240,000 at alpha 1e-6: it detects a
    # sup-distance of about 0.0055 between the CDFs (a location shift of about 0.015). Long
    # rows, as the interpreter runs each row's program in Python: 48 rows take a seventh of the
    # time of 480 rows of 500.
    x = torch.zeros(48, 5000)
    noise = torch.empty(x.shape)
    _triton.gumbel_softmax(x, 1.0, -1, (), torch.Generator().manual_seed(11), noise_out=noise)
    values = noise.numpy().ravel()
    assert np.isfinite(values).all()
    assert stats.kstest(values, "gumbel_r").pvalue > ALPHA
    # Rows are not copies of each other (every element has its own Philox counter).
    assert len(np.unique(noise[:, 0].numpy())) == 48


def test_noise_is_the_philox_stream():
    # Flat output index i gets the exact-tail noise of Philox-4x32-10 at counter
    # (lo(i), hi(i), 0, 0) under the seed (and (.., 1, 0) deep in the sliver): the CUDA kernel for
    # CuPy draws the same (tests/test_cuda_kernel.py). 2**19 draws: about 128 in the sliver, and
    # this seed puts one on level 2 (index 474719).
    x = torch.zeros(32, 8192)
    noise = torch.empty((2, *x.shape))
    _triton.gumbel_softmax(x, 1.0, -1, (2,), torch.Generator().manual_seed(12), noise_out=noise)
    words = philox_words(_kernel_seed(12), np.arange(noise.numel()))
    k = words >> np.uint32(9)
    sliver = k[:, 0] >= SLIVER_START
    assert sliver.sum() > 64
    assert np.any(sliver & (k[:, 1] < 2**11))  # a draw on level 2
    values = noise.numpy().ravel()
    np.testing.assert_allclose(values, exact_gumbel_from_words(words), rtol=1e-6, atol=1e-6)
    # Outside the sliver, the textbook noise -log(-log u) of the same stream.
    np.testing.assert_allclose(values[~sliver],
                               philox_gumbel(_kernel_seed(12), np.arange(values.size))[~sliver],
                               rtol=1e-6, atol=1e-6)
    assert values[sliver].min() > values[~sliver].max()


def test_noise_from_scripted_words_reaches_every_level():
    # The word-level transform on words that decide the draw on each level 0 (the body) .. 7,
    # random grid indices and the boundaries, against the NumPy reference.
    for level, words in scripted_levels(3000):
        np.testing.assert_allclose(_noise_from_words(words),
                                   exact_gumbel_from_words(words), rtol=1e-6, atol=1e-6,
                                   err_msg=f"level {level}")


def test_the_second_philox_block_is_counter_one():
    # Scripted first words that reach level 4 make the kernel draw the second block itself, at
    # counter (lo(i), hi(i), 1, 0); hi(i) != 0 included. The first block of 64 mixes levels 0..4,
    # the second needs no second block.
    rng = np.random.default_rng(8)
    seed = 0x2777_374B_723B_969B
    first = np.concatenate([scripted_words(level, rng.integers(2**11, SLIVER_START, 16), rng)
                            for level in (0, 1, 2, 4)] + [scripted_words(0, np.arange(64), rng)])
    first = first[:, :4]
    offsets = np.concatenate([rng.integers(0, 2**40, 63), [2**63 - 1], np.arange(64)])
    out = torch.empty(len(offsets))
    _given_first_kernel[(2,)](
        torch.tensor([seed]), torch.from_numpy(offsets.astype(np.int64)),
        torch.from_numpy(np.ascontiguousarray(first).view(np.int32)), out, len(offsets),
        block=64,
    )
    words = np.concatenate([first, philox_words(seed, offsets)[:, 4:]], axis=1)
    np.testing.assert_allclose(out.numpy(), exact_gumbel_from_words(words), rtol=1e-6, atol=1e-6)


def test_noise_upper_tail_is_exact_up_to_60():
    # P(G > t) exactly, from the construction's atoms through the kernel's own word-level
    # transform (monotone on every point evaluated), against the Gumbel law.
    law = tails.atoms_tail_probability(exact_tail_levels(_noise_from_words), THRESHOLDS)
    error = np.abs(law / tails.true_tail(THRESHOLDS) - 1.0)
    assert error.max() <= 1e-3, (THRESHOLDS[np.argmax(error)], error.max())
    # The check sees the textbook noise: its tail ends near t = 16.6.
    textbook = tails.atoms_tail_probability(textbook_levels(), THRESHOLDS)
    assert np.max(np.abs(textbook / tails.true_tail(THRESHOLDS) - 1.0)) > 0.5


@pytest.mark.parametrize("block", [None, 64])
def test_rows_far_from_zero_keep_their_values(block):
    # x + G in float32 is rounded at the magnitude of x (a spacing of 0.0625 at 1e6), which
    # moved such rows' probabilities by up to 3%; as the composed path, the kernel subtracts
    # the maximum of a row beyond 2**6 of 0 first. Reference: the float64 softmax of x + G on
    # the kernel's noise, where the sum is exact enough. The third row has masked classes.
    x = _logits()[[0, 6, 1, 5]] + torch.tensor([[1e6], [-1e6], [-3e4], [60.0]])
    x = x.contiguous()
    noise = torch.empty(x.shape)
    y = _triton.gumbel_softmax(x, 1.0, -1, (), torch.Generator().manual_seed(4), noise_out=noise,
                               block=block)
    assert torch.isfinite(y).all()
    np.testing.assert_allclose(y.double().numpy(), _reference(x, noise, 1.0).numpy(),
                               rtol=4e-6, atol=1e-30)


def test_two_passes_equal_one_pass():
    # Rows longer than the block are read twice, regenerating the same noise.
    x = _logits(rows=6)  # every kind of row _logits makes
    one_pass = _triton.gumbel_softmax(x, 0.5, -1, (2,), torch.Generator().manual_seed(5))
    two_pass = _triton.gumbel_softmax(x, 0.5, -1, (2,), torch.Generator().manual_seed(5), block=64)
    np.testing.assert_array_equal(torch.isnan(one_pass).numpy(), torch.isnan(two_pass).numpy())
    np.testing.assert_allclose(two_pass.numpy(), one_pass.numpy(), rtol=2e-6, atol=1e-30)
    # A row whose first block is all masked must not poison the running sum.
    x = torch.randn(2, 200)
    x[:, :128] = -torch.inf
    two_pass = _triton.gumbel_softmax(x, 0.5, -1, (), torch.Generator().manual_seed(6), block=64)
    assert torch.isfinite(two_pass).all()
    torch.testing.assert_close(two_pass.sum(dim=-1), torch.ones(2))


def test_seeds_samples_and_axis():
    x = _logits()[[0, 1, 5, 6]]
    first = _triton.gumbel_softmax(x, 1.0, -1, (2,), torch.Generator().manual_seed(9))
    again = _triton.gumbel_softmax(x, 1.0, -1, (2,), torch.Generator().manual_seed(9))
    other = _triton.gumbel_softmax(x, 1.0, -1, (2,), torch.Generator().manual_seed(10))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    assert not torch.equal(first[0], first[1])  # two samples of the same rows
    # The global generator, so torch.manual_seed reproduces a call.
    torch.manual_seed(4)
    a = _triton.gumbel_softmax(x, 1.0, -1, (), None)
    torch.manual_seed(4)
    torch.testing.assert_close(a, _triton.gumbel_softmax(x, 1.0, -1, (), None), rtol=0, atol=0)
    # Classes on axis 0: the same values as the transposed call.
    moved = _triton.gumbel_softmax(x.T.contiguous(), 1.0, 0, (), torch.Generator().manual_seed(9))
    last = _triton.gumbel_softmax(x, 1.0, -1, (), torch.Generator().manual_seed(9))
    torch.testing.assert_close(moved, last.T, rtol=0, atol=0)


def test_backward_is_the_softmax_backward():
    x = _logits()[[0, 1, 5, 6]].double().float()
    weights = torch.as_tensor(np.random.default_rng(2).normal(size=(3, *x.shape)),
                              dtype=torch.float32)
    leaf = x.clone().requires_grad_(True)
    noise = torch.empty((3, *x.shape))
    y = _triton.gumbel_softmax(leaf, 0.7, -1, (3,), torch.Generator().manual_seed(1),
                              noise_out=noise)
    (y * weights).sum().backward()
    reference_leaf = x.clone().requires_grad_(True)
    reference = torch.softmax((reference_leaf + noise) / 0.7, dim=-1)
    (reference * weights).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), reference_leaf.grad.numpy(),
                               rtol=1e-4, atol=1e-6)
    assert (leaf.grad[1, :5] == 0).all()  # masked classes get no gradient


def test_the_adapter_uses_the_kernel_only_when_asked(monkeypatch):
    x = _logits()[[0, 1, 5, 6]]
    composed = gk.gumbel_softmax(x, tau=0.5, rng=8, sample_shape=2)
    monkeypatch.setattr(torch_adapter, "use_triton", True)
    fused = gk.gumbel_softmax(x, tau=0.5, rng=8, sample_shape=2)
    expected = _triton.gumbel_softmax(x, 0.5, -1, (2,), torch.Generator().manual_seed(8))
    torch.testing.assert_close(fused, expected, rtol=0, atol=0)
    assert not torch.equal(fused, composed)  # another noise stream: Philox in the kernel
    # Not for hard samples, precomputed noise, array temperatures or float64.
    hard = gk.gumbel_softmax(x, tau=0.5, hard=True, rng=8)
    monkeypatch.setattr(torch_adapter, "use_triton", False)
    torch.testing.assert_close(hard, gk.gumbel_softmax(x, tau=0.5, hard=True, rng=8))
    monkeypatch.setattr(torch_adapter, "use_triton", True)
    assert torch_adapter.fused_gumbel_softmax(x.double(), 0.5, -1, (), None) is None
    assert torch_adapter.fused_gumbel_softmax(x, torch.ones(4), -1, (), None) is None
