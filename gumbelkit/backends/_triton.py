"""A fused Gumbel-Softmax kernel for PyTorch tensors, written in Triton.

One program per output row. The noise is generated inside the kernel from Philox-4x32-10,
counter = the element's flat index in the output, key = a 64-bit seed drawn from the tensor's
``torch.Generator`` (on the device, so no host sync), and it is never stored:

- a row that fits one block (``n_cols <= block``) is read twice (its maximum, then its values,
  from the cache) and written once;
- a longer row is read three times: once for its maximum, then a pass that keeps a running
  maximum and sum of ``exp((z - max) / tau)``, then one that regenerates the same noise from the
  same counters and writes ``exp((z - max) / tau) / sum``.

``z = (x - shift) + G``: as in the composed path, a row whose maximum lies beyond ``2**6`` of 0
first loses that maximum (docs/numeric-contract.md, "Logits far from zero"), since ``x + G``
is rounded at the magnitude of ``x``.

The noise has an exact upper tail (docs/mathematics.md#the-upper-tail-and-rare-classes), and it
is the noise of the CUDA kernel for CuPy (``_cuda_gumbel_softmax.cu``), drawn the same way from
the same seed. Output element ``i`` takes the words ``w0 .. w3`` of Philox-4x32-10 at counter
``(lo(i), hi(i), 0, 0)`` under the key ``(lo(seed), hi(seed))`` (``tl.randint4x(seed, i)``):

1. Body: ``k0 = w0 >> 9`` (23 bits), ``u = (k0 + 1/2) 2**-23``. Where ``k0 < 2**23 - 2**11``
   (``u`` below the sliver ``1 - 2**-12``) the noise is ``-log(-log u)``.
2. Sliver: there ``V = 1 - U`` is drawn afresh as ``V = 2**-(12 L) c_L``. The level words
   ``x_1 .. x_7`` are ``w1, w2, w3`` and the four words of Philox at counter
   ``(lo(i), hi(i), 1, 0)``; ``c_L = ((x_L >> 9) + 1/2) 2**-23`` (the complement of a uniform
   on the same grid, which is symmetric), and ``L`` is the first level with
   ``x_L >> 9 >= 2**11`` (``c_L > 2**-12``), or 7. The power of two scales exactly:
   ``V >= 2**-84 2**-24 = 2**-108``, above float32's smallest normal.
3. The noise there is ``-log(E)``, ``E = -log1p(-V)`` computed as
   ``V (1 + V (1/2 + V fl(1/3)))`` in float32: for ``V <= 2**-12`` the dropped terms are below
   ``2**-38`` relatively, and every operation is monotone in ``V``.

There is no branch per element: every element computes the body and levels 1..3 from one
``tl.randint4x`` (the four words ``tl.randint`` computes anyway), and a block computes the second
Philox block, and levels 4..7 from it, only where one of its elements needs it (levels 1..3 all
in their slivers: probability ``2**-48`` per element).

A draw lies in the sliver with probability ``2**-12``. Levels 1..6 hold ``V`` on grids of
relative spacing at most ``2**-11``, and so does level 7 down to ``V = 2**-96``, so
``P(G > t)`` equals ``1 - exp(-exp(-t))`` to a relative ``2**-12`` for ``t`` up to 66.5 and to
``1e-3`` up to 67.9 (tests/triton_interpreted.py sums the construction's atoms through the
kernel's own transform).

The noise is finite: ``u`` lies in ``[2**-24, 1 - 2**-24]``, and the largest noise, at
``V = 2**-108``, is about 74.9 (numeric contract). A masked (``-inf``) logit gets probability 0;
a row with a NaN, a ``+inf`` or no finite logit is NaN. The backward pass is the softmax's,
``y (g - sum(y g)) / tau``, from the saved output.

This module imports Triton; the PyTorch adapter imports it only when asked to use it
(``gumbelkit.backends.torch.use_triton``). Without a GPU, ``TRITON_INTERPRET=1`` runs the same
kernel on CPU tensors, which is how the tests check it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl

__all__ = ["gumbel_softmax"]

MAX_SINGLE_BLOCK = 8192
"""The longest row done in one block; longer rows take three passes over blocks of this size."""


# The @triton.jit functions annotate their arguments with tl.tensor (or tl.constexpr): the
# compiler resolves argument annotations as globals, and allows only Triton's names and
# constexprs (typing.Any fails to compile, though the interpreter accepts it).

# The noise's constants (the module's docstring), on whole words: a body word x0 >= SLIVER_WORD
# (k0 >= 2**23 - 2**11) lies in the sliver u >= 1 - 2**-12, and a level holds V where its word
# is LEVEL_WORD or more (k >= 2**11).
SLIVER_WORD: tl.constexpr = tl.constexpr((2**23 - 2**11) << 9)
LEVEL_WORD: tl.constexpr = tl.constexpr(2**11 << 9)


@triton.jit
def _reaches_level_4(x0: tl.tensor, x1: tl.tensor, x2: tl.tensor, x3: tl.tensor) -> tl.tensor:
    """Return where a draw needs the second Philox block: in the sliver, past levels 1..3."""
    return (x0 >= SLIVER_WORD) & (x1 < LEVEL_WORD) & (x2 < LEVEL_WORD) & (x3 < LEVEL_WORD)


@triton.jit
def _held(
    x_level: tl.tensor, scale_level: tl.tensor, x: tl.tensor, scale: tl.tensor
) -> tuple[tl.tensor, tl.tensor]:
    """Return the level's word and scale where it holds ``V`` (word ``LEVEL_WORD`` or more)."""
    hold = x_level >= LEVEL_WORD
    return tl.where(hold, x_level, x), tl.where(hold, scale_level, scale)


@triton.jit
def _exponential(x: tl.tensor, scale: tl.tensor) -> tl.tensor:
    """Return ``-log1p(-V)`` for ``V = ((x >> 9) + 1/2) scale``, as ``V (1 + V (1/2 + V/3))``."""
    v = ((x >> 9).to(tl.float32) + 0.5) * scale
    return v * (1.0 + v * (0.5 + v * 0.3333333432674408))  # fl(1/3)


@triton.jit
def _first_noise(x0: tl.tensor, x1: tl.tensor, x2: tl.tensor, x3: tl.tensor) -> tl.tensor:
    """Return the noise from the first Philox block (uint32 words), where it does not reach level 4.

    ``x0`` is the body's word, ``x1 .. x3`` the levels'. Where the draw reaches level 4 the
    value is not the noise (it takes level 3 as it is) and :func:`_deep_noise` replaces it.
    """
    # V = (k + 1/2) 2**-23 2**-(12 L) on the first level L that holds it (levels 3 up to 1, so
    # that the first is taken last): exact, 24 bits times a power of two.
    x, scale = _held(x2, 7.105427357601002e-15, x3, 1.734723475976807e-18)  # 2**-47, 2**-59
    x, scale = _held(x1, 2.9103830456733704e-11, x, scale)  # 2**-35
    tail = _exponential(x, scale)
    body = -tl.log(((x0 >> 9).to(tl.float32) + 0.5) * 1.1920928955078125e-07)  # (k0 + 1/2) 2**-23
    # One more logarithm for both: the noise is -log of the exponential variable.
    return -tl.log(tl.where(x0 >= SLIVER_WORD, tail, body))


@triton.jit
def _deep_noise(x4: tl.tensor, x5: tl.tensor, x6: tl.tensor, x7: tl.tensor) -> tl.tensor:
    """Return the noise of a draw that reaches level 4, from the level words ``x4 .. x7``."""
    # Levels 7 up to 4, as in _first_noise; level 7 holds V whatever its word.
    x, scale = _held(x6, 2.524354896707238e-29, x7, 6.162975822039155e-33)  # 2**-95, 2**-107
    x, scale = _held(x5, 1.0339757656912846e-25, x, scale)  # 2**-83
    x, scale = _held(x4, 4.235164736271502e-22, x, scale)  # 2**-71
    return -tl.log(_exponential(x, scale))


@triton.jit
def _noise_from_words(
    x0: tl.tensor, x1: tl.tensor, x2: tl.tensor, x3: tl.tensor,
    x4: tl.tensor, x5: tl.tensor, x6: tl.tensor, x7: tl.tensor,
) -> tl.tensor:
    """Return the noise from its eight Philox words (uint32): ``x0`` the body's, the rest levels'.

    The construction of the module's docstring as one function of the words (the kernel
    computes ``_deep_noise`` only for blocks that need it).
    """
    return tl.where(_reaches_level_4(x0, x1, x2, x3), _deep_noise(x4, x5, x6, x7),
                    _first_noise(x0, x1, x2, x3))


@triton.jit
def _noise_given_first(
    seed: tl.tensor, offsets: tl.tensor, x0: tl.tensor, x1: tl.tensor, x2: tl.tensor,
    x3: tl.tensor,
) -> tl.tensor:
    """Return the noise of the flat indices ``offsets`` given their first Philox block.

    The second block, at counter ``(lo(i), hi(i), 1, 0)``, is computed only where some element
    of the block reaches level 4 (probability ``2**-48`` per element). Only the first block's
    noise and the mask are live across that branch, which keeps its register cost low.
    """
    noise = _first_noise(x0, x1, x2, x3)
    deep = _reaches_level_4(x0, x1, x2, x3)
    if tl.max(deep.to(tl.int32), axis=0) > 0:
        # The counter as tl.randint4x forms it from int64 offsets, with word 2 set to 1.
        low = offsets.to(tl.uint32)
        high = (offsets >> 32).to(tl.uint32)
        x4, x5, x6, x7 = tl.philox(seed, low, high, low * 0 + 1, low * 0)
        noise = tl.where(deep, _deep_noise(x4, x5, x6, x7), noise)
    return noise


@triton.jit
def _gumbel_noise(seed: tl.tensor, offsets: tl.tensor) -> tl.tensor:
    """Return standard Gumbel noise for the flat indices ``offsets`` (int64) under ``seed``."""
    w0, w1, w2, w3 = tl.randint4x(seed, offsets)  # counter (lo(i), hi(i), 0, 0)
    return _noise_given_first(
        seed, offsets, w0.to(tl.uint32, bitcast=True), w1.to(tl.uint32, bitcast=True),
        w2.to(tl.uint32, bitcast=True), w3.to(tl.uint32, bitcast=True),
    )


@triton.jit
def _row_shift(x_row: tl.tensor, cols: tl.tensor, n_cols: tl.tensor,
               block: tl.constexpr) -> tl.tensor:
    """Return what a row's logits lose before the noise is added (the composed path's rule).

    The row's maximum where it is finite and lies beyond ``2**6`` of 0, else 0: ``x + G`` is
    rounded at the magnitude of ``x`` (a spacing of 0.0625 at 1e6), and the softmax does not
    change when a constant leaves the row. A row with a NaN is NaN whatever its shift.
    """
    peak = tl.max(tl.full((block,), float("-inf"), tl.float32), axis=0)
    for start in range(0, n_cols, block):
        x = tl.load(x_row + start + cols, mask=start + cols < n_cols, other=float("-inf"))
        peak = tl.maximum(peak, tl.max(x.to(tl.float32), axis=0))
    large = (tl.abs(peak) > 64.0) & (tl.abs(peak) < float("inf"))
    return tl.where(large, peak, 0.0)


@triton.jit
def _perturbed_block(
    x_row: tl.tensor, shift: tl.tensor, seed: tl.tensor, flat_row: tl.tensor, cols: tl.tensor,
    n_cols: tl.tensor, noise_row: tl.tensor, write_noise: tl.constexpr,
) -> tuple[tl.tensor, tl.tensor]:
    """Return ``(x - shift) + G`` for one block of a row (``-inf`` past its end), NaN flag."""
    mask = cols < n_cols
    x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
    noise = _gumbel_noise(seed, flat_row + cols)
    if write_noise:
        tl.store(noise_row + cols, noise, mask=mask)
    z = tl.where(mask, (x - shift) + noise, float("-inf"))
    return z, tl.sum((x != x).to(tl.int32), axis=0) > 0


@triton.jit
def _gumbel_softmax_kernel(
    x_ptr: tl.tensor, out_ptr: tl.tensor, seed_ptr: tl.tensor, noise_ptr: tl.tensor,
    n_cols: tl.tensor, n_logit_rows: tl.tensor, tau: tl.tensor, block: tl.constexpr,
    single: tl.constexpr, write_noise: tl.constexpr,
) -> None:
    row = tl.program_id(0).to(tl.int64)
    seed = tl.load(seed_ptr)
    flat_row = row * n_cols
    # Output rows cycle over the logits' rows: sample dimensions come first.
    x_row = x_ptr + (row % n_logit_rows) * n_cols
    out_row = out_ptr + flat_row
    noise_row = noise_ptr + flat_row
    cols = tl.arange(0, block)
    shift = _row_shift(x_row, cols, n_cols, block)
    if single:
        z, has_nan = _perturbed_block(x_row, shift, seed, flat_row, cols, n_cols, noise_row,
                                      write_noise)
        top = tl.max(z, axis=0)
        e = tl.exp((z - top) / tau)
        y = e / tl.sum(e, axis=0)
        y = tl.where(has_nan, float("nan"), y)
        tl.store(out_row + cols, y.to(out_ptr.dtype.element_ty), mask=cols < n_cols)
    else:
        top = tl.max(tl.full((block,), float("-inf"), tl.float32), axis=0)
        total = tl.sum(tl.zeros((block,), tl.float32), axis=0)
        has_nan = total != total  # False
        for start in range(0, n_cols, block):
            z, block_nan = _perturbed_block(
                x_row, shift, seed, flat_row, start + cols, n_cols, noise_row, write_noise
            )
            new_top = tl.maximum(top, tl.max(z, axis=0))
            # Two -inf maxima would give exp(NaN): nothing to rescale, nothing to add.
            rescale = tl.where(new_top == top, 1.0, tl.exp((top - new_top) / tau))
            e = tl.where(z == float("-inf"), 0.0, tl.exp((z - new_top) / tau))
            total = total * rescale + tl.sum(e, axis=0)
            top = new_top
            has_nan = has_nan | block_nan
        for start in range(0, n_cols, block):
            z, _ = _perturbed_block(
                x_row, shift, seed, flat_row, start + cols, n_cols, noise_row, False
            )
            y = tl.exp((z - top) / tau) / total
            y = tl.where(has_nan, float("nan"), y)
            tl.store(out_row + start + cols, y.to(out_ptr.dtype.element_ty),
                     mask=start + cols < n_cols)


def _launch(
    x: torch.Tensor, tau: float, n_rows: int, seed: torch.Tensor, noise: torch.Tensor | None,
    block: int | None,
) -> torch.Tensor:
    n_logit_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    if block is None:
        block = min(triton.next_power_of_2(n_cols), MAX_SINGLE_BLOCK)
    single = n_cols <= block
    _gumbel_softmax_kernel[(n_rows,)](
        x, out, seed, out if noise is None else noise, n_cols, n_logit_rows, tau,
        block=block, single=single, write_noise=noise is not None,
    )
    return out


class _FusedGumbelSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor, tau: float, n_rows: int, seed: torch.Tensor,
        noise: torch.Tensor | None, block: int | None,
    ) -> torch.Tensor:
        return _launch(x, tau, n_rows, seed, noise, block)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, tau, *_ = inputs
        ctx.save_for_backward(output)
        ctx.tau = tau
        ctx.n_logit_rows = x.shape[0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        y32, g32 = y.float(), grad.float()
        grad_z = y32 * (g32 - (y32 * g32).sum(dim=-1, keepdim=True)) / ctx.tau
        # Sum over the sample dimensions: output row r came from logits row r % n_logit_rows.
        grad_x = grad_z.reshape(-1, ctx.n_logit_rows, y.shape[-1]).sum(dim=0)
        return grad_x.to(y.dtype), None, None, None, None, None


def gumbel_softmax(
    logits: torch.Tensor,
    tau: float,
    axis: int,
    sample_shape: tuple[int, ...],
    generator: torch.Generator | None,
    *,
    noise_out: torch.Tensor | None = None,
    block: int | None = None,
) -> torch.Tensor:
    """Return ``softmax((logits + G) / tau)`` along ``axis``, ``sample_shape`` samples per row.

    ``logits`` is float32, float16 or bfloat16 (the kernel computes in float32 and writes the
    logits' dtype); ``tau`` is a positive float already clamped to float32's range. The seed is
    drawn from ``generator`` (``None``: the device's global generator) as a device tensor.
    ``noise_out``, a float32 tensor of the output's shape, receives the noise (for tests);
    ``block`` forces the block size (a power of two; a smaller one than the row forces the
    two-pass path).
    """
    moved = torch.movedim(logits, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]).contiguous()
    n_samples = math.prod(sample_shape)
    seed = torch.randint(
        0, 2**62, (1,), generator=generator, device=logits.device, dtype=torch.int64
    )
    noise_rows = None if noise_out is None else noise_out.view(-1, rows.shape[-1])
    out = _FusedGumbelSoftmax.apply(rows, tau, n_samples * rows.shape[0], seed, noise_rows, block)
    out = out.reshape(*sample_shape, *moved.shape)
    return torch.movedim(out, -1, axis)
