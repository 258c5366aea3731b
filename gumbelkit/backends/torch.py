"""The PyTorch adapter: ``torch.rand`` with a ``torch.Generator``, ``detach`` as stop-gradient."""

from __future__ import annotations

import os
from typing import Any

import array_api_compat.torch as xp_torch
import torch

from gumbelkit import _core
from gumbelkit.backends._common import check_seed, is_seed, open_unit_bounds, rng_type_error

name = "torch"
supports_autodiff = True

use_triton = False
"""Draw soft samples of CUDA tensors with the fused Triton kernel of ``gumbelkit.backends._triton``
(float32, float16 and bfloat16 logits, a float temperature, no precomputed noise). Off by
default: the kernel is tested in Triton's interpreter on the CPU, not yet on a GPU."""

_FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def matches(x: object) -> bool:
    """Return whether ``x`` is a ``torch.Tensor``."""
    # Not array_api_compat.is_torch_array: it is lru_cache-wrapped, and torch.compile warns
    # when it traces one.
    return isinstance(x, torch.Tensor)


def namespace(x: Any) -> Any:
    """Return array-api-compat's PyTorch namespace."""
    return xp_torch


def owns_rng(rng: object) -> bool:
    """Return whether ``rng`` is a ``torch.Generator``."""
    return isinstance(rng, torch.Generator)


def _same_device(a: torch.device, b: torch.device) -> bool:
    # torch.device("cuda") and torch.device("cuda:0") name the same device when 0 is current.
    if a.type != b.type:
        return False
    if a.type == "cpu" or a.index == b.index:
        return True
    current = torch.cuda.current_device() if a.type == "cuda" else 0
    return (a.index if a.index is not None else current) == (
        b.index if b.index is not None else current
    )


def make_rng(rng: object, device: Any) -> torch.Generator | None:
    """Return a ``torch.Generator`` on ``device``, or None for the device's global generator.

    ``None`` keeps PyTorch's global generator, so ``torch.manual_seed`` makes calls
    reproducible exactly as with ``torch.nn.functional.gumbel_softmax``.
    """
    if rng is None:
        return None
    device = torch.get_default_device() if device is None else torch.device(device)
    if isinstance(rng, torch.Generator):
        if not _same_device(rng.device, device):
            raise ValueError(
                f"rng is a torch.Generator on {rng.device}, but the arrays are on {device}; "
                f"create it with torch.Generator(device={str(device)!r})"
            )
        return rng
    if is_seed(rng):
        generator = torch.Generator(device=device)
        generator.manual_seed(check_seed(rng))
        return generator
    raise rng_type_error(name, "None, an int seed, or a torch.Generator on the arrays' device", rng)


def uniform(
    rng: torch.Generator | None, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[torch.Tensor, torch.Generator | None]:
    """Draw uniforms in ``[tiny, 1)`` with ``torch.rand``.

    ``torch.rand`` is half-open ``[0, 1)`` on every device PyTorch documents, but the clamp
    also guards the top end: cuRAND natively produces ``(0, 1]``.
    """
    u = torch.rand(shape, generator=rng, dtype=dtype, device=device)
    tiny, u_max = open_unit_bounds(torch.finfo(dtype))
    # Out of place: clamp_ has no torch.func.vmap batching rule and warns there.
    return torch.clamp(u, tiny, u_max), rng


def device(x: Any) -> Any:
    """Return ``x.device`` (array_api_compat.device is not traceable without a warning)."""
    return x.device


def gumbel(
    rng: torch.Generator | None, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[torch.Tensor, torch.Generator | None]:
    """Return ``-log(-log(u))`` of :func:`uniform`'s draw, transformed in place.

    The same values as the generic path with one buffer instead of four; the in-place unary
    ops have torch.func batching rules (unlike ``clamp_``), so vmap stays warning-free.
    """
    u, rng = uniform(rng, shape, dtype, device)
    return u.log_().neg_().log_().neg_(), rng


def tempered_softmax_(z: torch.Tensor, tau: Any, axis: int) -> torch.Tensor:
    """``softmax(z / tau)`` with ``torch.softmax``: two to four kernels instead of six.

    A temperature of at least 1 cannot overflow ``z / tau``, so ``torch.softmax`` (which
    subtracts the row maximum itself) takes ``z / tau`` directly. A smaller one is applied after
    subtracting the detached row maximum, as in the core, so that a tiny ``tau`` sends the
    shifted values to ``-inf`` rather than ``z / tau`` to ``inf - inf``. Masked entries get
    probability 0 and gradient 0, invalid rows are NaN. The values agree with the core's to
    rounding (the fused kernel sums in its own order), not bit for bit. A temperature array
    takes the core's path, which keeps a masked entry out of the temperature's gradient.
    """
    if not isinstance(tau, float):
        core: torch.Tensor = _core.tempered_softmax(
            z, tau, axis, xp=xp_torch, stop_gradient=stop_gradient
        )
        return core
    if tau >= 1.0:
        scaled = z if tau == 1.0 else z / tau
    else:
        scaled = (z - z.detach().amax(dim=axis, keepdim=True)) / tau
    return torch.softmax(scaled, dim=axis)


def fused_gumbel_softmax(
    logits: torch.Tensor,
    tau: float | Any,
    axis: int,
    sample_shape: tuple[int, ...],
    rng: object,
) -> torch.Tensor | None:
    """Return the soft sample from the fused Triton kernel, or None where it does not apply.

    It applies with :data:`use_triton` set, to a CUDA tensor (or any tensor under
    ``TRITON_INTERPRET=1``, Triton's CPU interpreter) of a dtype the kernel reads, with a
    float temperature, outside ``torch.compile`` and ``torch.func`` transforms. ``rng`` is the
    caller's (``None``, a seed or a generator), turned into a generator only where the kernel
    runs.
    """
    if not use_triton or not isinstance(tau, float) or logits.dtype not in _FUSED_DTYPES:
        return None
    if logits.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return None
    if torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(logits):
        return None
    from gumbelkit.backends import _triton

    return _triton.gumbel_softmax(
        logits, tau, axis, sample_shape, make_rng(rng, logits.device)
    )


def stop_gradient(x: Any) -> Any:
    """Return ``x.detach()``."""
    return x.detach()


def is_host_readable(x: Any) -> bool:
    """Return whether ``x`` is a concrete CPU tensor, outside torch.compile and torch.func."""
    if torch.compiler.is_compiling() or x.device.type != "cpu":
        return False
    # Tensors inside torch.func transforms are wrappers whose values cannot be read.
    return not torch._C._functorch.is_functorch_wrapped_tensor(x)
