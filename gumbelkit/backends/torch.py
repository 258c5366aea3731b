"""The PyTorch adapter: ``torch.rand`` with a ``torch.Generator``, ``detach`` as stop-gradient."""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import array_api_compat.torch as xp_torch
import numpy as np
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

# The only dtypes uniform() draws (the compute dtypes); torch.finfo and the float conversions
# cost about a microsecond a call, much for a (32, 10) sample.
_OPEN_UNIT_BOUNDS = {t: open_unit_bounds(torch.finfo(t)) for t in (torch.float32, torch.float64)}



def matches(x: object) -> bool:
    """Return whether ``x`` is a ``torch.Tensor``."""
    # Not array_api_compat.is_torch_array: it is lru_cache-wrapped, and torch.compile warns
    # when it traces one.
    return isinstance(x, torch.Tensor)


def namespace(x: Any) -> Any:
    """Return array-api-compat's PyTorch namespace."""
    return xp_torch


def unsupported(x: torch.Tensor) -> str | None:
    """Return why gumbelkit cannot compute on ``x`` (a sparse or nested tensor), or None."""
    if x.is_nested:
        return ("a nested tensor: pad it into a dense one with torch.nested.to_padded_tensor, "
                "padding logits with float('-inf'), which masks the classes a row lacks")
    if x.layout != torch.strided:
        return f"a tensor of layout {x.layout}: pass its .to_dense()"
    return None


# The float8 dtypes are floating point too, but PyTorch's CPU reductions do not take them.
_REAL_FLOATING = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})


def is_real_floating(dtype: torch.dtype) -> bool:
    """Return whether ``dtype`` is float16, bfloat16, float32 or float64 (``isdtype``, faster)."""
    return dtype in _REAL_FLOATING


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
    reproducible exactly as with ``torch.nn.functional.gumbel_softmax``. On the meta device
    (shapes and dtypes, no data) nothing is drawn and PyTorch has no generator: a seed or a
    generator on any device, standing in for the device the meta tensors stand in for, is
    accepted, and None is returned; a generator is left as it is.
    """
    if rng is None:
        return None
    if isinstance(rng, torch.Generator) and rng.device == device:
        return rng  # the common case, decided without building a torch.device
    device = torch.get_default_device() if device is None else torch.device(device)
    if device.type == "meta" and (isinstance(rng, torch.Generator) or is_seed(rng)):
        if not isinstance(rng, torch.Generator):
            check_seed(rng)  # the same errors as on a real device
        return None
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

    ``torch.rand`` is half-open ``[0, 1)`` on every device PyTorch documents; on the CPU it
    returns multiples of ``2**-24`` (``2**-53``), so only 0 needs lifting. Elsewhere the clamp
    also guards the top end: cuRAND natively produces ``(0, 1]``.
    """
    # generator=None spelled out fails under torch.compile once a shape is symbolic (from the
    # second shape a compiled function sees, or dynamic=True): Dynamo's fake torch.rand then
    # asks for concrete sizes. Left out, the call traces as F.gumbel_softmax's does.
    if rng is None:
        u = torch.rand(shape, dtype=dtype, device=device)
    else:
        u = torch.rand(shape, generator=rng, dtype=dtype, device=device)
    return _into_open_unit_(u), rng


def _into_open_unit_(u: torch.Tensor) -> torch.Tensor:
    """Return ``torch.rand``'s ``u`` in ``[tiny, 1)``, in its buffer (:func:`uniform`)."""
    bounds = _OPEN_UNIT_BOUNDS.get(u.dtype) or open_unit_bounds(torch.finfo(u.dtype))
    # clamp_min_ and clamp_max_, not clamp_: only these have torch.func.vmap batching rules.
    u.clamp_min_(bounds[0])
    if not u.is_cpu:
        u.clamp_max_(bounds[1])
    return u


def uniform_index(
    rng: torch.Generator | None, shape: tuple[int, ...], n: int, device: Any
) -> tuple[torch.Tensor, torch.Generator | None]:
    """Draw integers uniform on ``0 .. n - 1`` with ``torch.randint``.

    PyTorch reduces 32 random bits modulo ``n`` below ``2**32`` (64 bits above), a relative
    bias of at most ``n 2**-32`` per value.
    """
    if rng is None:  # no generator=None under torch.compile: see uniform
        return torch.randint(n, shape, device=device), rng
    return torch.randint(n, shape, generator=rng, device=device), rng


def search_rows(table: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Return ``torch.searchsorted(table, values)``: batched over rows natively."""
    return torch.searchsorted(table.contiguous(), values.contiguous())


def merge_rows(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the two runs' places in their merge by two ``torch.searchsorted``, batched natively.

    Two binary searches cost less than the default's sorts (about half, for 64 rows of 4,096
    classes on the CPU).
    """
    return search_rows(second, first), torch.searchsorted(first.contiguous(), second.contiguous(),
                                                          right=True)


def running_sum(x: torch.Tensor) -> torch.Tensor:
    """Return ``torch.cumsum(x, -1)``.

    Not array-api-compat's ``cumulative_sum``: it asks for the namespace through an
    ``lru_cache``, which ``torch.compile`` warns about when it traces.
    """
    return torch.cumsum(x, dim=-1)


def device(x: Any) -> Any:
    """Return ``x.device`` (array_api_compat.device is not traceable without a warning)."""
    return x.device


def float64_available(device: Any) -> bool:
    """Return whether tensors on ``device`` can be float64 and int64: not on Apple's MPS.

    MPS has int64 but no float64; categorical's tables need both.
    """
    return bool(getattr(device, "type", device) != "mps")


def placed_with(x: Any, y: Any) -> bool:
    """Return whether PyTorch combines ``x`` with ``y``: one device, or ``x`` a 0-d CPU tensor.

    PyTorch takes a 0-d CPU tensor beside a tensor on any device, as it takes a number.
    """
    return bool(x.device == y.device or (x.ndim == 0 and x.device.type == "cpu"))


def gumbel_(u: torch.Tensor) -> torch.Tensor:
    """Return ``-log(-log(u))`` computed in ``u``'s buffer: the core's values, one buffer.

    The in-place unary ops have torch.func batching rules (unlike ``clamp_``), so vmap stays
    warning-free.
    """
    return u.log_().neg_().log_().neg_()


# Values per piece of gumbel_and_sliver: about 0.6 ms of torch.rand on a CPU core, enough that
# handing a piece to the helper thread costs little beside it.
_PIECE = 2**18

_helper_lock = threading.Lock()
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (process id, the one-thread pool)


def _sliver_helper() -> ThreadPoolExecutor:
    """Return this process's one-thread pool for the sliver's search.

    Made anew in a forked child, which inherits the pool but not its thread.
    """
    global _helper
    with _helper_lock:
        if _helper is None or _helper[0] != os.getpid():
            _helper = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="gumbelkit-torch"))
        return _helper[1]


def _positions_from(u: np.ndarray, threshold: float, start: int) -> np.ndarray:
    """Return ``start`` plus the positions of the entries of ``u`` at or above ``threshold``."""
    hits: np.ndarray = np.flatnonzero(u >= threshold)
    return hits + start


def gumbel_and_sliver(
    rng: torch.Generator | None, shape: tuple[int, ...], dtype: Any, device: Any,
    threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Generator | None] | None:
    """Return ``gumbel_(u)`` of ``uniform``'s ``u`` and the positions of ``u >= threshold``.

    On the CPU, ``torch.rand`` runs on one core while PyTorch's other threads wait, so the
    sliver is searched beside it: the uniforms are drawn piece by piece into one buffer (the
    CPU generator continues its stream from call to call, so the values are those of one
    draw), and a helper thread finds each piece's sliver, in NumPy on the tensor's buffer,
    while the next piece is drawn; the last piece is searched by the caller. The transform
    runs once every search is done. None (the composed path) for fewer than two pieces, off
    the CPU, inside ``torch.compile`` or a ``torch.func`` transform, and where PyTorch has one
    thread (no idle core to search on).
    """
    n = math.prod(shape)
    if n < 2 * _PIECE or torch.get_num_threads() < 2 or torch.compiler.is_compiling():
        return None
    # Any torch.func transform active (vmap, grad): its random draws are batched or traced.
    transforms = getattr(torch._C._functorch, "peek_interpreter_stack", None)
    if transforms is None or transforms() is not None:
        return None
    noise = torch.empty(shape, dtype=dtype, device=device)
    if not is_host_readable(noise) or noise.dtype not in _OPEN_UNIT_BOUNDS:
        return None
    flat = noise.view(-1)
    size = -(-n // -(-n // _PIECE))  # equal pieces of at most _PIECE: no short last one
    helper = _sliver_helper()
    searches: list[Future[np.ndarray]] = []
    for start in range(0, n, size):
        piece = flat[start:start + size]
        torch.rand(piece.shape, generator=rng, dtype=noise.dtype, out=piece)
        if start + size < n:
            searches.append(helper.submit(_positions_from, piece.numpy(), threshold, start))
    found = [search.result() for search in searches]
    found.append(_positions_from(piece.numpy(), threshold, start))
    return gumbel_(_into_open_unit_(noise)), torch.from_numpy(np.concatenate(found)), rng


def row_max(x: torch.Tensor, axis: int | None, keepdims: bool = False) -> torch.Tensor:
    """Return ``max(x, axis)`` (all entries for ``axis=None``), NaN where a NaN is."""
    if axis is None:
        return torch.amax(x)
    return torch.amax(x, dim=axis, keepdim=keepdims)


def scatter_masked_(x: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Return ``x`` with ``values`` in C order where ``mask`` is true.

    Where the mask can be read for free and ``values`` covers it, ``masked_scatter_`` writes
    them into ``x``'s buffer. Elsewhere (``torch.compile``, ``torch.func``, a GPU: a fixed
    capacity of values, no sync) the core's static-shape merge in PyTorch's own operations,
    which ``torch.compile`` traces without array-api-compat's cached wrappers: the ``j``-th
    true entry takes ``values[j]``, the true entries beyond the capacity keep ``x``.
    """
    if is_host_readable(mask) and values.shape[0] >= int(torch.count_nonzero(mask)):
        return x.masked_scatter_(mask, values)
    flat = mask.reshape(-1)
    rank = torch.cumsum(flat, 0) - 1
    size = values.shape[0]
    picked = torch.index_select(values, 0, rank.clamp(0, max(size - 1, 0)))
    keep = torch.logical_and(flat, rank < size)
    return torch.where(keep.reshape(x.shape), picked.reshape(x.shape), x)


def _scatter_one_hot(z: torch.Tensor, axis: int, index: torch.Tensor) -> torch.Tensor:
    """Return ones at ``index`` (kept dimension ``axis``) in zeros shaped and typed like ``z``."""
    # torch.scatter, not scatter_: only the former has a torch.func.vmap batching rule.
    return torch.scatter(torch.zeros_like(z), axis, index, 1.0)


def one_hot_argmax(z: torch.Tensor, axis: int) -> torch.Tensor:
    """Return the one-hot of ``argmax(z, axis)`` in ``z``'s dtype: a scatter into zeros.

    The generic path's values (``torch.argmax`` also sends a row with a NaN to its first NaN
    and ties to the first index) in two kernels instead of five.
    """
    return _scatter_one_hot(z, axis, z.argmax(dim=axis, keepdim=True))


def one_hot_argmax_(z: torch.Tensor, axis: int) -> torch.Tensor:
    """Return the hard sample without a gradient: :func:`one_hot_argmax` with invalid rows NaN.

    One ``max`` gives the row maximum ``m`` and its first index; adding ``m - m``, which is 0
    for a finite maximum and NaN for a NaN, ``+inf`` or all ``-inf`` row, marks the invalid
    rows without ``torch.isfinite`` (itself four kernels) and ``where``.
    """
    row_max, index = z.max(dim=axis, keepdim=True)
    return _scatter_one_hot(z, axis, index).add_(row_max - row_max)


def tracks_gradient(*arrays: Any) -> bool:
    """Return whether autograd may differentiate the result of operations on ``arrays``.

    False where gradient recording is off, or no tensor among ``arrays`` requires a gradient
    (and none is a ``torch.func`` wrapper, whose transform may differentiate it). Under
    ``torch.compile``, and while a forward-mode dual level is open (its tangents ride on
    tensors that require no gradient), the answer is True.
    """
    if torch.compiler.is_compiling() or torch.autograd.forward_ad._current_level >= 0:
        return True
    if not torch.is_grad_enabled():
        return False
    return any(
        isinstance(a, torch.Tensor)
        and (a.requires_grad or torch._C._functorch.is_functorch_wrapped_tensor(a))
        for a in arrays
    )


def tempered_softmax_(z: torch.Tensor, tau: Any, axis: int) -> torch.Tensor:
    """``softmax(z / tau)`` with ``torch.softmax``: one to four kernels instead of six.

    A temperature of at least 1 cannot overflow ``z / tau``, so ``torch.softmax`` (which
    subtracts the row maximum itself) takes ``z / tau`` directly. A smaller one is applied after
    subtracting the detached row maximum, as in the core, so that a tiny ``tau`` sends the
    shifted values to ``-inf`` rather than ``z / tau`` to ``inf - inf``; both steps overwrite
    ``z``, gumbelkit's own buffer (a copy while ``torch.compile`` traces: Inductor failed on
    the in-place steps after a generator's graph break). Masked entries get
    probability 0 and gradient 0, invalid rows are NaN. The values agree with the core's to
    rounding (the fused kernel sums in its own order), not bit for bit. A temperature array
    that carries a gradient takes the core's path, whose gradient in the temperature has no
    NaN; one that does not is applied in place, as a small float is.
    """
    if not isinstance(tau, float):
        if tracks_gradient(tau):
            core: torch.Tensor = _core.tempered_softmax(
                z, tau, axis, xp=xp_torch, stop_gradient=stop_gradient
            )
            return core
        divisor = tau
    elif tau == 1.0:
        return torch.softmax(z, dim=axis)
    else:
        # A zero-dimensional CPU tensor, not the float: PyTorch wraps a Python scalar into a
        # tensor on every call, several microseconds per kernel for small inputs. The quotient
        # is the same. On the CPU whatever the default device (torch.set_default_device), which
        # combines with a tensor on any device.
        divisor = torch.scalar_tensor(tau, dtype=z.dtype, device="cpu")
        if tau > 1.0:
            return torch.softmax(z / divisor, dim=axis)
    # Detached always: inside torch.func.vmap, z.requires_grad is False even where autograd
    # records z, whose amax would then save it for a backward that the in-place steps spoil.
    row_max = z.detach().amax(dim=axis, keepdim=True)
    if torch.compiler.is_compiling():
        return torch.softmax((z - row_max) / divisor, dim=axis)
    # In place: z is gumbelkit's own buffer, and no backward needs its values.
    return torch.softmax(z.sub_(row_max).div_(divisor), dim=axis)


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


def top_k(x: torch.Tensor, k: int, axis: int) -> torch.Tensor:
    """Return the indices of the ``k`` largest ``x`` along ``axis``, by a partial selection.

    The indices are the first ``k`` of a stable descending argsort: decreasing, ties to the
    lower index. On a concrete CPU tensor, ``torch.topk`` selects the ``k + 1`` largest without
    sorting the row. Where the ``k``-th largest exceeds the ``(k + 1)``-th, the first ``k`` are
    exactly the ``k`` largest; their order among equal values, which ``torch.topk`` leaves
    open, is set by sorting their indices and then their values stably. A row where the two
    tie, or with a NaN (which ``topk`` and the stable argsort both put first), takes the stable
    argsort. On a GPU, under ``torch.compile`` and ``torch.func``, where the check would be a
    device sync or a data-dependent branch, the stable argsort runs throughout.
    """
    num = x.shape[axis]
    if k >= num or x.numel() == 0 or not is_host_readable(x):
        return torch.argsort(x, dim=axis, descending=True, stable=True).narrow(axis, 0, k)
    last = x.movedim(axis, -1)
    values, index = torch.topk(last, k + 1, dim=-1)
    chosen = torch.sort(index[..., :k], dim=-1).values
    order = torch.argsort(torch.gather(last, -1, chosen), dim=-1, descending=True, stable=True)
    top = torch.gather(chosen, -1, order)
    # NaN compares False: a NaN edge or a NaN among the k goes to the stable argsort.
    inexact = torch.logical_not(values[..., k - 1] > values[..., k])
    if bool(inexact.any()):
        rows = last[inexact]
        top[inexact] = torch.argsort(rows, dim=-1, descending=True, stable=True)[..., :k]
    return top.movedim(-1, axis)


def stop_gradient(x: Any) -> Any:
    """Return ``x.detach()``."""
    return x.detach()


def positions_at_least(u: torch.Tensor, threshold: float) -> torch.Tensor | None:
    """Return the flat C-order positions of the entries of ``u`` at or above ``threshold``.

    None where they cannot be read for free. On the CPU the comparison and the scan run in
    NumPy on the tensor's own buffer, at less than half the cost of PyTorch's comparison,
    ``count_nonzero`` and ``masked_scatter_`` for the same work.
    """
    if not is_host_readable(u) or not u.is_contiguous():
        return None
    return torch.from_numpy(np.flatnonzero(u.detach().numpy() >= threshold))


def put_(x: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Write ``values`` at the flat C-order ``positions`` of ``x``, in its buffer if contiguous."""
    if x.is_contiguous():
        x.view(-1).index_copy_(0, positions, values.to(x.dtype))
        return x
    flat = x.reshape(-1).index_copy(0, positions, values.to(x.dtype))
    return flat.reshape(x.shape)


def is_host_readable(x: Any) -> bool:
    """Return whether ``x`` is a concrete CPU tensor, outside torch.compile and torch.func."""
    if torch.compiler.is_compiling() or x.device.type != "cpu":
        return False
    # Tensors inside torch.func transforms are wrappers whose values cannot be read.
    return not torch._C._functorch.is_functorch_wrapped_tensor(x)
