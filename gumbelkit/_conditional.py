"""Gumbel noise conditioned on the argmax, for users: :func:`conditional_gumbel`.

The exponential race that draws it is :func:`gumbelkit._noise.conditional_noise`, shared with
the Gumbel-Rao estimator.
"""

from __future__ import annotations

import numbers
import operator

from gumbelkit import _core
from gumbelkit._checks import broadcast_shapes, call_error, check_placed_with, publish
from gumbelkit._noise import conditional_noise
from gumbelkit._prepared import Prepared
from gumbelkit._row_blocks import by_row_blocks
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import Backend

__all__ = ["conditional_gumbel"]


def _check_index(
    index: object, backend: Backend, xp: Namespace, row_shape: tuple[int, ...], logits: Array,
    axis: int,
) -> Array:
    """Return ``index`` as an integer array of the logits' library, or raise naming it.

    An integer scalar of another library (``numpy.int64(2)`` with PyTorch logits) is read as
    the Python int it holds.
    """
    if isinstance(index, numbers.Integral) and not isinstance(index, bool) and not (
        backend.matches(index)
    ):
        index = operator.index(index)
    if isinstance(index, int) and not isinstance(index, bool):
        num_classes = int(logits.shape[axis])
        if not 0 <= index < num_classes:  # before it meets an integer dtype it overflows
            raise ValueError(f"index must name an unmasked class of each row, in "
                             f"[0, {num_classes}); got {index}")
        return xp.asarray(index, device=backend.device(logits))
    if not backend.matches(index):
        raise TypeError(
            f"index must be an int or an integer array of the same library as logits "
            f"({backend.name}); got {type(index).__module__}.{type(index).__qualname__}"
        )
    array: Array = index
    check_placed_with(array, "index", backend, logits)
    if not xp.isdtype(array.dtype, "integral"):
        raise TypeError(f"index must have an integer dtype; got {array.dtype}")
    if array.ndim == 0:
        array = _core.placed_scalar(array, xp, backend.device(logits))
    if broadcast_shapes(tuple(array.shape), row_shape) != row_shape:
        raise ValueError(
            f"index of shape {tuple(array.shape)} does not broadcast to {row_shape}, "
            "sample_shape + the shape of logits without axis"
        )
    return array


def _conditional_gumbel_body(
    logits: Array,
    index: Array | int,
    *misplaced: object,
    axis: int = -1,
    rng: object = None,
    sample_shape: int | tuple[int, ...] = (),
    **unknown: object,
) -> Array:
    """Draw conditional Gumbel noise; the body of :func:`conditional_gumbel`."""
    if misplaced or unknown:
        raise call_error(conditional_gumbel, misplaced, unknown)
    prepared = Prepared(logits, axis, rng, None, sample_shape, False)
    backend, xp = prepared.backend, prepared.xp
    out_shape = prepared.out_shape
    out_axis = prepared.out_axis
    row_shape = out_shape[: len(out_shape) + out_axis] + out_shape[len(out_shape) + out_axis + 1:]
    index = _check_index(index, backend, xp, row_shape, prepared.logits, prepared.axis)
    # The index goes with its rows into the row blocks of a large call: broadcast to the rows
    # and given the class axis (size 1), it aligns with the output as a per-row argument does.
    class_axis = len(out_shape) + out_axis
    index = xp.expand_dims(xp.broadcast_to(index, row_shape), axis=class_axis)
    return by_row_blocks(prepared, _conditional_block, index)


def _conditional_block(prepared: Prepared, index: Array) -> Array:
    """Return the conditional noise of one block of rows (``index`` with the class axis kept)."""
    backend, xp = prepared.backend, prepared.xp
    logits = prepared.logits
    class_axis = len(prepared.out_shape) + prepared.out_axis
    theta = xp.astype(logits, prepared.compute_dtype, copy=False)
    # The masked classes' and invalid rows' deliberate infinities warn in NumPy.
    with backend.errstate():
        noise, _ = conditional_noise(
            theta, xp.squeeze(index, axis=class_axis), prepared.out_axis, prepared.out_shape,
            backend=backend, xp=xp, source=prepared.new_source(), device=prepared.device,
            check_index=True,
            bound=float(xp.finfo(logits.dtype).max),  # finite after the cast to logits.dtype
            out_dtype=logits.dtype,
        )
    return _core.as_dtype(noise, logits.dtype, xp)


@publish(_conditional_gumbel_body)
def conditional_gumbel(
    logits: Array,
    index: Array | int,
    *,
    axis: int = -1,
    rng: object = None,
    sample_shape: int | tuple[int, ...] = (),
) -> Array:
    """Draw Gumbel noise ``G`` conditioned on ``argmax(logits + G) == index``.

    The exact conditional law (docs/mathematics.md#conditional-noise):
    ``max(logits + G) - logsumexp(logits)`` is standard Gumbel, and given it each other
    perturbed logit is Gumbel truncated below that maximum. Drawn with the exponential race
    from ``E = -log U``, ``U`` uniform in ``[tiny, 1)``, so every ``E`` is finite and positive.

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: its noise is finite (unconditioned standard Gumbel)
        and its perturbed logit stays ``-inf``.
    index : int or array of int
        The class to condition on, per row: it broadcasts to ``sample_shape`` + the shape of
        ``logits`` without ``axis`` (one index per row, or one per sample and row).
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source (as for :func:`gumbel_softmax`).
    sample_shape : int or tuple of int, optional
        Independent draws per row; the output shape is ``sample_shape + logits.shape``.

    Returns
    -------
    array
        The noise, with the dtype, device and namespace of ``logits``, computed in float32
        (float64 for float64 logits). ``argmax(logits + G, axis)`` is exactly ``index``, the
        sum taken in the dtype of ``logits``: a loser that would round up to the winner is
        moved a few units in the last place below it (with float16 or bfloat16 logits, again
        after the cast of ``G`` to that dtype). The noise of a valid row is finite for any
        finite logits, in the dtype of ``logits``: where the winner's exact noise exceeds that
        dtype's largest finite value (its logit lies more than that below the row maximum, as
        ``[-6e4, 6e4]`` in float16), it is that largest value and the losers are moved below
        it. Only where a loser's logit lies twice that largest value or more above the
        winner's (``[65504, -65504]`` in float16, conditioned on class 1) can no finite noise
        keep the winner ahead: the noise stays finite and the sums tie.
        The noise carries no gradient. An ``index`` out of range or at a ``-inf`` logit
        raises ``ValueError`` where its value can be read for free (host memory, no trace);
        elsewhere, as for a row with a NaN, a ``+inf`` or no finite logit, that row is NaN.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> logits = np.log(np.array([0.7, 0.2, 0.1]))
    >>> g = gk.conditional_gumbel(logits, 2, sample_shape=(1000,), rng=0)
    >>> bool(((logits + g).argmax(axis=-1) == 2).all())
    True

    """
    raise NotImplementedError  # never runs: publish makes _conditional_gumbel_body this function
