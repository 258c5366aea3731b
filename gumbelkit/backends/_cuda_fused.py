"""What runs the fused CUDA Gumbel-Softmax kernel of ``_cuda_gumbel_softmax.cu``.

The kernel draws its noise from Philox-4x32-10 inside the kernel and never stores it: a row of at
most ``8 * BLOCK`` classes is read once and kept in registers, a longer one is read three times
(its maximum, then twice with its noise regenerated); a row whose maximum lies beyond ``2**6``
of 0 loses it before the noise is added, as in the composed path. The noise has an exact upper
tail, by the construction of the composed path
(docs/mathematics.md#the-upper-tail-and-rare-classes) on Philox words: the first block of
an element's counter gives the body and three levels of the sliver, a second block, computed
only for the rare draws that need it, four more. It is the noise of the Triton kernel of
``_triton.py``, drawn the same way from the same seed. The source comment says how.

This module imports no array library. :func:`gumbel_softmax` works with the array module it is
given and a :class:`Launch` that runs a named kernel: the CuPy adapter passes ``cupy`` and a
``cupy.RawModule`` launch, and the tests pass NumPy and a host emulation of the same source.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any, Protocol

__all__ = ["BLOCK", "KERNEL_NAMES", "Launch", "gumbel_softmax", "kernel_name", "seed_from_uniforms",
           "source"]

BLOCK = 256
"""Threads per block (``GK_BLOCK`` in the source), one block per output row."""

CACHED_MULTIPLES = (1, 2, 4, 8)
"""``K`` of the ``gumbel_softmax_cached<K>`` kernels: rows of at most ``K * BLOCK`` classes."""

KERNEL_NAMES = (
    *(f"gumbel_softmax_cached<{k}>" for k in CACHED_MULTIPLES),
    "gumbel_softmax_two_pass",
)
"""The kernels the source defines, as ``cupy.RawModule`` name expressions."""

MAX_BLOCKS = 2**31 - 1
"""The most blocks in a CUDA grid's x dimension: the most output rows one launch draws."""

SOURCE_FILE = "_cuda_gumbel_softmax.cu"


def source() -> str:
    """Return the kernel's CUDA C++ source."""
    return resources.files("gumbelkit.backends").joinpath(SOURCE_FILE).read_text()


def kernel_name(n_cols: int, block: int = BLOCK) -> str:
    """Return the kernel for rows of ``n_cols`` classes: the smallest cache that holds a row."""
    for multiple in CACHED_MULTIPLES:
        if n_cols <= multiple * block:
            return f"gumbel_softmax_cached<{multiple}>"
    return "gumbel_softmax_two_pass"


def seed_from_uniforms(u: Any, array_module: Any) -> Any:
    """Return a one-element int64 seed in ``[0, 2**62)`` from two float64 uniforms in ``[0, 1)``.

    Computed where ``u`` lives, so drawing a seed on the GPU does not wait for it; each uniform
    gives 31 bits (float64 uniforms have 53).
    """
    words = array_module.floor(u * 2.0**31).astype(array_module.int64)
    return words[:1] * 2**31 + words[1:2]


class Launch(Protocol):
    """Runs kernel ``name`` on a grid of ``n_rows`` blocks of :data:`BLOCK` threads.

    ``rows`` holds the logits' rows, C-contiguous, classes last. ``noise_out`` is None or a
    float32 array that receives the noise; the kernel takes a null pointer for None.
    """

    def __call__(
        self, name: str, n_rows: int, rows: Any, out: Any, seed: Any, noise_out: Any | None,
        n_cols: int, n_logit_rows: int, tau: float,
    ) -> None: ...


def gumbel_softmax(
    logits: Any,
    tau: float,
    axis: int,
    sample_shape: tuple[int, ...],
    seed: Any,
    launch: Launch,
    array_module: Any,
    *,
    noise_out: Any | None = None,
    block: int = BLOCK,
) -> Any | None:
    """Return ``softmax((logits + G) / tau)`` along ``axis``; None where the kernel does not apply.

    ``logits`` is a float32 array of ``array_module``; ``tau`` a positive float already clamped
    to float32's range; ``seed`` the one-element int64 array of :func:`seed_from_uniforms`, on
    the logits' device. The result has shape ``sample_shape + logits.shape``. None (the caller
    takes the composed path) for other dtypes, for no classes or no rows, and for more rows than
    one grid holds. ``noise_out``, a float32 array of the result's shape with the class axis
    last, receives the noise (for tests); ``block`` is the source's ``GK_BLOCK``.
    """
    if logits.dtype != array_module.float32:
        return None
    axis = axis % logits.ndim - logits.ndim  # counted from the end: sample_shape does not move it
    moved = array_module.moveaxis(logits, axis, -1)
    n_cols = moved.shape[-1]
    n_logit_rows = math.prod(moved.shape[:-1])
    n_rows = math.prod(sample_shape) * n_logit_rows
    if n_cols == 0 or n_rows == 0 or n_rows > MAX_BLOCKS:
        return None
    rows = array_module.ascontiguousarray(array_module.reshape(moved, (n_logit_rows, n_cols)))
    out = array_module.empty((n_rows, n_cols), dtype=array_module.float32)
    launch(kernel_name(n_cols, block), n_rows, rows, out, seed, noise_out, n_cols, n_logit_rows,
           tau)
    return array_module.moveaxis(array_module.reshape(out, sample_shape + moved.shape), -1, axis)
