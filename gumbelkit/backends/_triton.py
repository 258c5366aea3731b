"""A fused Gumbel-Softmax kernel for PyTorch tensors, written in Triton.

One program per output row. The noise is generated inside the kernel from Philox-4x32-10,
counter = the element's flat index in the output, key = a 64-bit seed drawn from the tensor's
``torch.Generator`` (on the device, so no host sync), and it is never stored:

- a row that fits one block (``n_cols <= block``) is read once and written once;
- a longer row is read twice: the first pass keeps a running maximum and sum of
  ``exp((z - max) / tau)``, the second regenerates the same noise from the same counters and
  writes ``exp((z - max) / tau) / sum``.

Uniforms are ``(k + 1/2) 2**-23`` for the top 23 bits ``k`` of a Philox word: the open interval
``[2**-24, 1 - 2**-24]``, so the noise ``-log(-log u)`` is finite (numeric contract). A masked
(``-inf``) logit gets probability 0; a row with a NaN, a ``+inf`` or no finite logit is NaN. The
backward pass is the softmax's, ``y (g - sum(y g)) / tau``, from the saved output.

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
"""The longest row done in one pass; longer rows take two passes over blocks of this size."""


@triton.jit
def _gumbel_noise(seed: Any, offsets: Any) -> Any:
    """Return standard Gumbel noise for the flat indices ``offsets`` (int64) under ``seed``."""
    bits = tl.randint(seed, offsets).to(tl.uint32, bitcast=True)
    u = ((bits >> 9).to(tl.float32) + 0.5) * 1.1920928955078125e-07  # (k + 1/2) 2**-23
    return -tl.log(-tl.log(u))


@triton.jit
def _perturbed_block(
    x_row: Any, seed: Any, flat_row: Any, cols: Any, n_cols: Any, noise_row: Any,
    write_noise: tl.constexpr,
) -> tuple[Any, Any]:
    """Return ``x + G`` for one block of a row (``-inf`` past its end) and its NaN flag."""
    mask = cols < n_cols
    x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
    noise = _gumbel_noise(seed, flat_row + cols)
    if write_noise:
        tl.store(noise_row + cols, noise, mask=mask)
    z = tl.where(mask, x + noise, float("-inf"))
    return z, tl.sum((x != x).to(tl.int32), axis=0) > 0


@triton.jit
def _gumbel_softmax_kernel(
    x_ptr: Any, out_ptr: Any, seed_ptr: Any, noise_ptr: Any, n_cols: Any, n_logit_rows: Any,
    tau: Any, block: tl.constexpr, single: tl.constexpr, write_noise: tl.constexpr,
) -> None:
    row = tl.program_id(0).to(tl.int64)
    seed = tl.load(seed_ptr)
    flat_row = row * n_cols
    # Output rows cycle over the logits' rows: sample dimensions come first.
    x_row = x_ptr + (row % n_logit_rows) * n_cols
    out_row = out_ptr + flat_row
    noise_row = noise_ptr + flat_row
    cols = tl.arange(0, block)
    if single:
        z, has_nan = _perturbed_block(x_row, seed, flat_row, cols, n_cols, noise_row, write_noise)
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
                x_row, seed, flat_row, start + cols, n_cols, noise_row, write_noise
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
                x_row, seed, flat_row, start + cols, n_cols, noise_row, False
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
