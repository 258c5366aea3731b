"""The noise draw: Gumbel noise with an exact upper tail, and noise conditioned on the argmax.

Every sampler draws its noise here, from the random source it threads explicitly: each draw
takes a native source and returns the source advanced past it (a JAX key split, a stateful
generator as it is), which the next draw of the same call takes.

Exact upper tail (docs/mathematics.md#the-upper-tail-and-rare-classes). ``-log(-log U)`` of a
uniform ``U`` on a grid of spacing ``2**-m`` (``m`` = 23 or 24 in float32) is capped near
``m log 2`` and resolves its upper tail with a handful of grid points, so a class ``d`` nats
below the row maximum is drawn too rarely from ``d`` of about 13 on. All of the upper tail comes
from the sliver ``U >= 1 - 2**-s`` at the top of the grid. Given that ``U`` lies there,
``V = 1 - U`` is uniform on ``(0, 2**-s]``, so the noise draws it afresh as ``V = 2**-s W``
with ``W`` the complement of a new uniform, refined the same way where it falls in its own
sliver, up to a fixed depth (one row of fresh uniforms per redrawn value, one per level), and
takes ``G = -log(-log1p(-V))``. A draw outside the sliver keeps
today's ``-log(-log U)``. On each level the grid's relative spacing at the sliver's edge is
``2**(s - m)``, so ``P(G > t)`` equals the Gumbel law's ``1 - exp(-exp(-t))`` to a relative
``2**(s - m)`` for every ``t`` the depth reaches. The refinement touches a fraction ``2**-s`` of
the draws, each refined value taking a row of ``depth`` fresh uniforms (8 in float32, 3 in
float64: about ``8 * 2**-12``, 0.2%, more uniforms in float32):

- where the backend can read the sliver's mask for free (NumPy, PyTorch on the CPU, eager JAX
  on the CPU; Dask, which runs the NumPy construction on each block), it counts the draws
  there and draws exactly as many refinements;
- elsewhere (``jax.jit``, ``torch.compile``, a GPU) shapes are static and reading is a sync:
  it draws a fixed capacity of refinements, ``n 2**-s`` plus twelve standard deviations plus
  twelve, which the count exceeds with a probability below ``3e-27`` for every ``n`` (the
  largest near ``n = 13,400`` in float32); a draw beyond the capacity would keep its grid
  value.

Conditional noise, the exponential race:

Given logits ``theta`` and a class ``i``, ``X = theta + G`` conditioned on ``argmax X = i`` is

    X_i = LSE(theta) - log E_i,    X_j = -log(exp(-X_i) + E_j exp(-theta_j))   (j != i)

with ``E`` iid Exp(1): the winner's arrival time ``exp(-X_i)`` of the race with rates
``exp(theta)`` is Exp(sum exp(theta)) whoever wins, and by memorylessness each loser arrives
an independent Exp(exp(theta_j)) time later. The noise is computed directly as

    G_i = (LSE(theta) - theta_i) - log E_i,    G_j = -logaddexp(theta_j - X_i, log E_j)

which never forms ``X_j - theta_j`` by cancellation, and gives a masked class
(``theta_j = -inf``) the finite, unconditioned noise ``-log E_j``: its perturbed logit stays
``-inf`` and it never wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import concrete_bool
from gumbelkit._typing import Array, Device, DType, Namespace
from gumbelkit.backends import Backend

__all__ = ["conditional_noise", "draw_complement", "draw_gumbel", "perturb"]


# Per compute dtype's number of bits: the sliver's bits s and the refinement's depth. float32
# grids have 23 (JAX) or 24 bits: s = 12 keeps the relative spacing at the sliver's edge at
# 2**-11 or finer, and 8 levels reach V = 2**-120 (G up to 83) above float32's smallest normal.
# float64 grids have 52 or 53 bits: s = 40 keeps 2**-12, and 3 levels reach V = 2**-173.
_TAIL_BITS = {32: (12, 8), 64: (40, 3)}


def tail_constants(dtype: DType, xp: Namespace) -> tuple[int, int]:
    """Return ``(s, depth)`` for the compute ``dtype``.

    The noise refines the sliver ``U >= 1 - 2**-s``, ``depth`` levels deep.
    """
    return _TAIL_BITS[64 if dtype == xp.float64 else 32]


def capacity(n: int, bits: int) -> int:
    """Return how many refinements a static-shape draw of ``n`` uniforms reserves.

    The count in the sliver is Binomial(``n``, ``2**-bits``); this is its mean plus twelve
    standard deviations plus twelve, which it exceeds with a probability below ``3e-27`` for
    every ``n`` and ``bits`` of 12 or 40 (the largest near ``n = 13,400`` with 12 bits).
    """
    mean = n * 2.0**-bits
    return min(n, math.ceil(mean + 12.0 * math.sqrt(mean) + 12.0))


def _refined_complement(
    backend: Backend, source: Any, count: int, bits: int, depth: int, dtype: DType,
    device: Device,
) -> tuple[Array, Any]:
    """Return ``count`` draws of ``W``, uniform on ``(0, 1]``, refined near 0, and the source.

    Each draw takes a row of ``depth`` fresh uniforms, whose complements ``w_1 .. w_depth`` are
    exact: ``W = w_1`` where ``w_1 > 2**-bits``, else ``2**-bits`` times the same rule applied
    to ``w_2 ..``, the last level taken as it is. One draw of ``count * depth`` uniforms and
    ``depth`` elementwise steps: static shapes, no compaction below the top level.
    """
    u, source = backend.uniform(source, (count, depth), dtype, device)
    xp = backend.namespace(u)
    # Eagerly, the common case in one reduction: every draw leaves the sliver on level 1
    # (each stays with probability 2**-bits), so W is the first level's complement.
    if backend.is_host_readable(u) and (
        count == 0 or float(backend.row_max(u[:, 0], None)) < 1.0 - 2.0**-bits
    ):
        return 1.0 - u[:, 0], source
    w = 1.0 - u  # exact: u is a multiple of the grid spacing
    levels = xp.arange(depth, device=device)
    # The first level whose complement leaves the sliver, or the last level.
    leaves = xp.logical_or(w > 2.0**-bits, levels == depth - 1)
    level = xp.argmax(xp.astype(leaves, xp.int8), axis=1)
    chosen = xp.sum(xp.where(levels == level[:, None], w, xp.zeros_like(w)), axis=1)
    # 2**-(bits L), exact in the compute dtype, by table (a power function need not be exact).
    scales = xp.asarray([2.0 ** -(bits * lv) for lv in range(depth)], dtype=dtype, device=device)
    return chosen * xp.take(scales, level, axis=0), source


def _with_exact_tail(
    backend: Backend,
    source: Any,
    u: Array,
    tail: tuple[int, int],
    dtype: DType,
    device: Device,
    body_of: Callable[[Array], Array],
    tail_of: Callable[[Array], Array],
) -> tuple[Array, Any]:
    """Return ``body_of(u)`` with ``tail_of(V)`` in the sliver ``U >= 1 - 2**-s``, and the source.

    ``tail`` is :func:`tail_constants`'s ``(s, depth)`` for ``dtype``.
    ``V = 1 - U`` is drawn afresh on ``(0, 2**-s]`` (:func:`_refined_complement` scaled by
    ``2**-s``), one value per sliver entry where the positions can be read for free, a static
    capacity of them (:func:`capacity`) elsewhere. The sliver is found before ``body_of`` runs,
    which may overwrite ``u``. Eagerly, a draw of fewer than ``2**s`` values most often has
    nothing in the sliver, which its maximum says in one reduction (a larger one has about
    ``n 2**-s``).
    """
    bits, depth = tail
    threshold = 1.0 - 2.0**-bits
    n = math.prod(u.shape)
    readable = backend.is_host_readable(u)
    if n == 0 or (readable and n < 2**bits and float(backend.row_max(u, None)) < threshold):
        return body_of(u), source
    positions = backend.positions_at_least(u, threshold) if readable else None
    if positions is not None:
        return _put_tail(backend, source, body_of(u), positions, tail, dtype, device, tail_of)
    mask = u >= threshold
    body = body_of(u)
    w, source = _refined_complement(backend, source, capacity(n, bits), bits, depth, dtype,
                                    device)
    return backend.scatter_masked_(body, mask, tail_of(2.0**-bits * w)), source


def _put_tail(
    backend: Backend,
    source: Any,
    body: Array,
    positions: Array,
    tail: tuple[int, int],
    dtype: DType,
    device: Device,
    tail_of: Callable[[Array], Array],
) -> tuple[Array, Any]:
    """Return ``body`` with ``tail_of(V)`` at the sliver's ``positions``, and the source."""
    bits, depth = tail
    count = int(positions.shape[0])
    w, source = _refined_complement(backend, source, count, bits, depth, dtype, device)
    return backend.put_(body, positions, tail_of(2.0**-bits * w)), source


def _exact_gumbel(
    backend: Backend, source: Any, shape: tuple[int, ...], dtype: DType, device: Device
) -> tuple[Array, Any]:
    """Return standard Gumbel noise with an exact upper tail (the module's docstring)."""
    tail = tail_constants(dtype, backend.namespace(None))

    def tail_of(v: Array) -> Array:
        return _core.gumbel_from_complement(v, backend.namespace(v))

    fused = backend.gumbel_and_sliver(source, shape, dtype, device, 1.0 - 2.0 ** -tail[0])
    if fused is not None:  # the same body and positions, in one pass over the memory
        body, positions, source = fused
        return _put_tail(backend, source, body, positions, tail, dtype, device, tail_of)
    u, source = backend.uniform(source, shape, dtype, device)
    return _with_exact_tail(backend, source, u, tail, dtype, device, backend.gumbel_, tail_of)


def draw_gumbel(
    backend: Backend, source: Any, shape: tuple[int, ...], dtype: DType, device: Device
) -> tuple[Array, Any]:
    """Return standard Gumbel noise of ``shape`` drawn from the native ``source``.

    The noise has an exact upper tail (the module's docstring). Also returns the source
    advanced past the draw, for the next draw of the same call. ``dtype`` is the compute dtype
    (float32 or float64). A backend that draws by blocks (Dask) runs the construction once per
    block, each block from its own stream.
    """
    return backend.draw_by_blocks(source, shape, dtype, device, _exact_gumbel)


def _exact_complement(
    backend: Backend, source: Any, shape: tuple[int, ...], dtype: DType, device: Device
) -> tuple[Array, Any]:
    """Return uniforms on ``(0, 1]`` refined near 0 (:func:`draw_complement`) and the source."""
    u, source = backend.uniform(source, shape, dtype, device)
    # 1 - u is exact: u is a multiple of the grid spacing.
    tail = tail_constants(dtype, backend.namespace(u))
    return _with_exact_tail(backend, source, u, tail, dtype, device, lambda u: 1.0 - u,
                            lambda v: v)


def draw_complement(
    backend: Backend, source: Any, shape: tuple[int, ...], dtype: DType, device: Device
) -> tuple[Array, Any]:
    """Return uniforms ``V`` on ``(0, 1]`` with full relative precision near 0, and the source.

    ``V = 1 - U`` of the adapter's uniform ``U``, exact on its grid, except in the sliver
    ``V <= 2**-s`` (``s`` of :func:`tail_constants`), where ``V`` is drawn afresh as the noise's
    refinement draws it. So ``P(V < t) = t`` to a relative ``2**(s - m)`` for every threshold
    ``t`` down to ``2**-(s depth)``, where a plain uniform on a grid of spacing ``2**-m``
    resolves only ``t`` well above ``2**-m``: a comparison ``V < t`` accepts a tiny ``t`` at its
    true rate. The categorical samplers' alias tables compare with it.
    """
    return backend.draw_by_blocks(source, shape, dtype, device, _exact_complement)


def perturb(
    backend: Backend,
    source: Any,
    logits: Array,
    shape: tuple[int, ...],
    dtype: DType,
    device: Device,
) -> tuple[Array, Any]:
    """Return ``logits + G`` for the noise ``G`` that :func:`draw_gumbel` draws, and the source.

    The sum is a fresh buffer of ``shape`` (the output's), which the caller owns.
    """
    noise, source = draw_gumbel(backend, source, shape, dtype, device)
    return backend.add_(noise, logits), source


def conditional_noise(
    theta: Array,
    index: Array,
    axis: int,
    shape: tuple[int, ...],
    *,
    backend: Backend,
    xp: Namespace,
    source: Any,
    device: Any,
    check_index: bool = False,
    bound: float | None = None,
    out_dtype: DType | None = None,
) -> tuple[Array, Any]:
    """Return noise ``G`` of ``shape`` with ``argmax(theta + G, axis) == index``, and the source.

    ``theta`` (float32 or float64: the compute dtype, which the noise gets) broadcasts to
    ``shape``; ``axis`` is negative, the class axis counted from the end; ``index`` broadcasts
    to ``shape`` without the class axis. The noise carries no gradient. Where ``index`` is out
    of range or names a masked class, or the row of ``theta`` has a NaN, a ``+inf`` or no
    finite value, the row is NaN; with ``check_index`` an out-of-range or masked ``index``
    raises ``ValueError`` instead where its validity can be read for free (host memory, no
    trace).

    The race runs on ``theta - max(theta)``, so huge logits enter only through their
    differences: ``X_i - max = LSE(theta - max) - log E_i`` lies within a few dozen of 0, and
    ``G_j = -logaddexp((theta_j - max) - (X_i - max), log E_j)`` lies in about ``[-8, 37]``
    for every loser (a difference that overflows to ``-inf`` gives ``-log E_j``, its limit).
    Only the winner's ``G_i = (max - theta_i) + (X_i - max)`` can be large, and it exceeds
    ``bound`` (default: the compute dtype's largest finite value; a caller that casts ``G`` to
    a narrower dtype passes that dtype's) only where the exact conditional law has no finite
    value to give: ``theta_i`` lies more than ``bound`` below the row maximum. There it is
    ``bound``, the noise that lifts the winner highest, and the losers are moved below it as
    below.

    The perturbed logits are exact in the compute dtype: every loser ``j`` has
    ``theta_j + G_j < theta_i + G_i`` after rounding, so the argmax is ``index`` even where the
    exact ``X_j`` lies within rounding of ``X_i``. Such a loser gets
    ``G_j = nextafter(fl(t - theta_j), -inf)``, with ``t`` the largest float below
    ``theta_i + G_i``; then ``theta_j + G_j < t`` exactly, since a float's lower neighbour lies
    below every real number it is the rounding of. The move is a few units in the last place
    (more only below a bounded winner) and happens only where rounding or the bound would
    otherwise have broken the conditioning. Every noise value of a valid row is finite and
    within ``[-bound, bound]``, and the conditioning holds in every valid row but one whose
    winner's logit is ``-bound`` and a loser's ``bound``: no noise within the bounds can do
    better than a tie there.

    With ``out_dtype`` (a narrower dtype the caller wants, float16 or bfloat16; ``bound`` then
    its largest value) the noise is returned in it, and the conditioning holds for the sums
    ``theta + G`` in that dtype: the losers are moved below the winner there too.
    """
    theta = backend.stop_gradient(theta)
    dtype = theta.dtype
    num_classes = shape[axis]
    positive_axis = len(shape) + axis
    row_shape = shape[:positive_axis] + shape[positive_axis + 1:]
    index = xp.expand_dims(xp.broadcast_to(index, row_shape), axis=positive_axis)
    class_shape = [1] * len(shape)
    class_shape[positive_axis] = num_classes
    classes = xp.reshape(
        xp.arange(num_classes, dtype=index.dtype, device=device), tuple(class_shape)
    )
    chosen = index == classes
    zero = xp.zeros((), dtype=dtype, device=device)
    largest = float(xp.finfo(dtype).max) if bound is None else bound

    row_max = xp.max(theta, axis=axis, keepdims=True)
    row_valid = xp.isfinite(row_max)
    theta_i = xp.sum(xp.where(chosen, theta, zero), axis=axis, keepdims=True)
    # Blame the index only in rows that are valid data; a bad row is NaN whatever it says.
    index_valid = xp.logical_or(
        xp.logical_and(xp.any(chosen, axis=axis, keepdims=True), theta_i != -math.inf),
        xp.logical_not(row_valid),
    )
    if check_index and backend.is_host_readable(index_valid) and not concrete_bool(
        xp.all(index_valid), "index"
    ):
        raise ValueError(
            f"index must name an unmasked class of each row, in [0, {num_classes}); got an "
            "index out of range or at a -inf logit"
        )

    # -log E, E = -log U: standard Gumbel noise from the backend's uniforms.
    minus_log_e, source = draw_gumbel(backend, source, shape, dtype, device)
    minus_log_e_i = xp.sum(xp.where(chosen, minus_log_e, zero), axis=axis, keepdims=True)
    # Shifted by the row maximum (0 in an invalid row, which ends NaN anyway).
    shift = xp.where(row_valid, row_max, zero)
    # The differences that may overflow are the namespace's subtractions: Dask's computes
    # them without NumPy's warning, when no errstate is active.
    shifted = xp.subtract(theta, shift)  # <= 0; -inf where the difference overflows, as exp says
    top = _core.logsumexp(
        shifted, axis, xp=xp, stop_gradient=backend.stop_gradient, keepdims=True
    ) + minus_log_e_i  # X_i - max
    winner = xp.minimum(xp.subtract(shift, theta_i) + top,
                        xp.asarray(largest, dtype=dtype, device=device))
    loser = -xp.logaddexp(shifted - top, -minus_log_e)
    noise = xp.where(chosen, winner, loser)

    noise, best = _losers_below_the_winner(theta, noise, chosen, axis, largest, xp, device)
    valid = xp.logical_and(xp.logical_and(row_valid, index_valid), xp.isfinite(best))
    if out_dtype is not None and out_dtype != dtype:
        # Rounding to the narrower dtype can undo a loser's move (or tie a loser with the
        # winner): the losers are moved again there, against the winner's sum in that dtype.
        noise, _ = _losers_below_the_winner(xp.astype(theta, out_dtype),
                                            xp.astype(noise, out_dtype), chosen, axis, largest,
                                            xp, device)
    nan = xp.asarray(math.nan, dtype=noise.dtype, device=device)
    return xp.where(valid, noise, nan), source


def _losers_below_the_winner(
    theta: Array, noise: Array, chosen: Array, axis: int, largest: float, xp: Namespace,
    device: Any,
) -> tuple[Array, Array]:
    """Return the noise with every loser strictly below the winner after rounding, and the best.

    In the dtype of ``theta`` and ``noise``: a loser whose ``theta + noise`` does not lie below
    the winner's gets ``nextafter(fl(t - theta_j), -inf)``, ``t`` the largest float below the
    winner's sum (:func:`conditional_noise`'s docstring); the noise is clipped to
    ``[-largest, largest]``. Also returns the winner's sum, with the class axis kept.
    """
    perturbed = theta + noise
    zero = xp.zeros((), dtype=perturbed.dtype, device=device)
    best = xp.sum(xp.where(chosen, perturbed, zero), axis=axis, keepdims=True)
    lowered = _float_below(xp.subtract(_float_below(best, xp, device), theta), xp, device)
    keep = xp.logical_or(chosen, perturbed < best)
    return xp.clip(xp.where(keep, noise, lowered), -largest, largest), best


def _float_below(x: Array, xp: Namespace, device: Any) -> Array:
    """Return a float below each entry of ``x`` that arithmetic does not read as zero.

    ``nextafter(x, -inf)``, except at 0, whose lower neighbour is subnormal: XLA's CPU
    arithmetic and comparisons in float32 and bfloat16 flush subnormals to zero (CuPy's
    kernels are compiled with ``-ftz`` too), so that neighbour is not below 0 there; 0 gets
    minus the smallest normal number.
    """
    below = xp.nextafter(x, xp.full_like(x, -math.inf))
    smallest = -float(xp.finfo(x.dtype).smallest_normal)
    smallest_array = xp.asarray(smallest, dtype=x.dtype, device=device)
    return xp.where(below < x, below, xp.minimum(below, smallest_array))
