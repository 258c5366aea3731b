"""The CuPy adapter: ``cupy.random.Generator`` uniforms on the array's GPU, no autodiff."""

from __future__ import annotations

import functools
from typing import Any

import array_api_compat
import array_api_compat.cupy as xp_cupy
import cupy
import numpy as np

from gumbelkit.backends import _cuda_fused
from gumbelkit.backends._common import check_seed, is_seed, open_unit_bounds, rng_type_error

name = "cupy"
supports_autodiff = False

use_fused_kernel = False
"""Draw soft samples of float32 logits with the fused CUDA kernel of
``gumbelkit/backends/_cuda_gumbel_softmax.cu`` (a float temperature, no precomputed noise). Off
by default: its arithmetic is tested in a host emulation and its source compiled with nvcc, but
it has not yet run on a GPU."""


def matches(x: object) -> bool:
    """Return whether ``x`` is a CuPy array."""
    return array_api_compat.is_cupy_array(x)


def namespace(x: Any) -> Any:
    """Return array-api-compat's CuPy namespace."""
    return xp_cupy


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a ``cupy.random.Generator``."""
    return isinstance(rng, cupy.random.Generator)


def make_rng(rng: object, device: Any) -> cupy.random.Generator | None:
    """Return a ``cupy.random.Generator``, or None for CuPy's global generator."""
    if rng is None or isinstance(rng, cupy.random.Generator):
        return rng
    if is_seed(rng):
        with _on(device):
            return cupy.random.default_rng(check_seed(rng))
    raise rng_type_error(name, "None, an int seed, or a cupy.random.Generator", rng)


def _on(device: Any) -> Any:
    return cupy.cuda.Device(device.id if device is not None else None)


def uniform(
    rng: cupy.random.Generator | None, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Any, cupy.random.Generator | None]:
    """Draw uniforms in ``[tiny, 1)`` on ``device``.

    cuRAND's native convention is ``(0, 1]``; the clip maps both ends into the open interval
    whatever CuPy's kernel does.
    """
    with _on(device):
        if rng is None:
            u = cupy.random.random_sample(shape, dtype=dtype)
        else:
            u = rng.random(shape, dtype=dtype)
        tiny, u_max = open_unit_bounds(cupy.finfo(dtype))
        return cupy.clip(u, tiny, u_max, out=u), rng


def stop_gradient(x: Any) -> Any:
    """Return ``x``: CuPy has no autodiff."""
    return x


def float64_available(device: Any) -> bool:
    """Return True: every CUDA GPU holds float64 and int64 arrays."""
    return True


def placed_with(x: Any, y: Any) -> bool:
    """Return True: CuPy combines arrays on two GPUs through peer access, which it enables.

    Where the GPUs have none, CuPy's own error names them.
    """
    return True


def is_host_readable(x: Any) -> bool:
    """Return False: reading a CuPy array synchronises with the GPU."""
    return False


@functools.cache
def _fused_module(device_id: int) -> Any:
    """Return the fused kernel's ``cupy.RawModule`` for the GPU ``device_id`` (compiled once)."""
    return cupy.RawModule(
        code=_cuda_fused.source(),
        options=("-std=c++17", f"-DGK_BLOCK={_cuda_fused.BLOCK}"),
        name_expressions=_cuda_fused.KERNEL_NAMES,
    )


def fused_gumbel_softmax(
    logits: Any, tau: float | Any, axis: int, sample_shape: tuple[int, ...], rng: object
) -> Any:
    """Return the soft sample from the fused CUDA kernel, or None where it does not apply.

    It applies with :data:`use_fused_kernel` set, to float32 logits with a float temperature.
    The kernel's Philox key comes from two float64 uniforms of ``rng``'s generator (or CuPy's
    global one), drawn on the GPU.
    """
    if not use_fused_kernel or not isinstance(tau, float) or logits.dtype != cupy.float32:
        return None
    device = logits.device
    generator = make_rng(rng, device)
    with _on(device):
        if generator is None:
            u = cupy.random.random_sample((2,), dtype=cupy.float64)
        else:
            u = generator.random((2,), dtype=cupy.float64)
        seed = _cuda_fused.seed_from_uniforms(u, cupy)
        module = _fused_module(device.id)

        def launch(
            name: str, n_rows: int, rows: Any, out: Any, seed: Any, noise_out: Any | None,
            n_cols: int, n_logit_rows: int, tau: float,
        ) -> None:
            # A NumPy scalar goes by value; a zero uint64 is the kernel's null noise pointer.
            noise = np.uint64(0) if noise_out is None else noise_out
            module.get_function(name)(
                (n_rows,), (_cuda_fused.BLOCK,),
                (rows, out, seed, noise, np.int64(n_cols), np.int64(n_logit_rows),
                 np.float32(tau)),
            )

        return _cuda_fused.gumbel_softmax(logits, tau, axis, sample_shape, seed, launch, cupy)
