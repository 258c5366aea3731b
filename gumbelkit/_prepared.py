"""The prepared arguments of a sampling call: checked once, shared by every sampler.

``Prepared`` resolves the backend of the logits, checks the arguments every sampler shares
(the class axis, ``sample_shape``, ``noise``, ``validate``) and answers the questions the
samplers ask of them. It holds no random state: a sampler asks it for a fresh native source and
threads the source through its draws explicitly.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    broadcast_shapes,
    check_array_argument,
    check_bool,
    check_logits,
    check_placed_with,
    check_real,
    check_rows_valid,
    check_shape,
    check_supported,
    check_temperature_array,
    held_temperature,
    is_real_scalar,
    not_an_array,
    type_name,
)
from gumbelkit._noise import perturb
from gumbelkit._typing import Array, DType, Namespace
from gumbelkit.backends import Backend, resolved_for

__all__ = ["Prepared", "slice_aligned"]


def slice_aligned(x: Any, ndim: int, axis: int, start: int, stop: int) -> Any:
    """Return ``x`` restricted to ``start:stop`` along ``axis`` of a broadcast shape.

    ``x`` is an array that broadcasts against a shape of ``ndim`` dimensions, aligned on the
    right as broadcasting aligns it; ``axis`` (non-negative) counts in that shape. Where ``x``
    has no such dimension, or size 1 there, it broadcasts along ``axis`` and is returned as it
    is. Anything without a shape (a float, None, an estimator) is returned as it is too.
    """
    shape = getattr(x, "shape", None)
    if shape is None:
        return x
    at = axis - (ndim - len(shape))
    if at < 0 or shape[at] == 1:
        return x
    return x[(slice(None),) * at + (slice(start, stop),)]


def from_near_zero(logits: Array, axis: int, backend: Backend, xp: Namespace, *,
                   by_rows: bool = False,
                   limit: float | None = None) -> tuple[Array, Array | None]:
    """Return ``logits`` less the row maximum in rows where it is large, and that maximum.

    ``logits`` are in the compute dtype; the maximum is kept along ``axis``. ``logits + G`` is
    rounded to the grid of its magnitude, which at 1e6 in float32 has a spacing of 0.0625,
    coarse against the noise: near-equal classes tie and the first one wins (a class 0.5 nats
    above its rival was drawn 61.5% of the time, not 62.2%). The softmax and the argmax of a
    row do not change when a constant is subtracted from it, so such a row races from its
    maximum, 0, where the grid is fine. A row whose maximum lies within ``2**6`` of 0
    (``2**35`` in float64) keeps its values: its sums lie below ``2**8`` (``2**37``), on a grid
    of ``2**-16`` or finer. Where reading is free and no row is large nothing is subtracted.
    A difference that overflows is ``-inf``, its limit: such a class never wins (a sample
    without replacement still ranks it: :meth:`Prepared.ranking_keys`). The maximum
    carries no gradient (the shift changes no gradient of a softmax or an argmax).

    Where reading is free, the largest and smallest of all the logits settle the common case
    first: both within the limit, no row maximum can exceed it, and the row maximum (None
    then) is not computed, unless ``by_rows`` asks for it (a caller that needs it anyway).
    A ``-inf`` (a masked class) or a NaN anywhere leaves the common case to the row maximum.
    ``limit`` replaces the dtype's bound.
    """
    if limit is None:
        limit = 2.0**35 if logits.dtype == xp.float64 else 2.0**6
    size = math.prod(tuple(logits.shape))
    if size == 0:  # no row to shift (and no maximum to reduce to)
        return logits, None
    smallest = getattr(xp, "min", None)  # large, without it: by the rows
    if (not by_rows and (size <= 2**16 or smallest is not None)
            and backend.is_host_readable(logits)):
        values = backend.stop_gradient(logits)  # read, not differentiated
        # Small: one reduction of the magnitudes, fewer calls. Large: the largest and the
        # smallest, which write no array of magnitudes first.
        if size > 2**16 and smallest is not None:
            top, bottom = backend.row_max(values, None), smallest(values)
        else:
            top, bottom = backend.row_max(xp.abs(values), None), None
        # Readable input, traced result: under jax.jit a constant's reduction is traced.
        if backend.is_host_readable(top) and float(top) <= limit and (
                bottom is None or float(bottom) >= -limit):  # NaN fails either test
            return logits, None
    peak = backend.stop_gradient(backend.row_max(logits, axis, keepdims=True))
    magnitude = backend.row_max(xp.abs(peak), None)
    # NaN (a row with a NaN hides the others' maxima) and inf fail the test: the rows decide.
    if backend.is_host_readable(magnitude) and float(magnitude) <= limit:
        return logits, peak
    # An infinite maximum counts as large: its row is invalid whatever is subtracted (NaN).
    large = xp.abs(peak) > limit
    # A difference beyond the largest float is -inf, its limit: quietly, also where Dask
    # computes it later (its namespace's subtract does so without NumPy's warning).
    with backend.errstate():
        return xp.subtract(logits, xp.where(large, peak, xp.zeros_like(peak))), peak


class Prepared:
    """The checked arguments shared by the samplers of one logits array.

    Parameters
    ----------
    logits : array
        The logits, classes along ``axis``.
    axis : int
        The class axis, checked against ``logits``.
    rng : object
        The caller's random source, as given (``None``, a seed, a native generator or key).
    noise : array or None
        Precomputed Gumbel noise; exclusive with ``rng`` unless ``rng_with_noise``.
    sample_shape : int or tuple of int
        Independent samples per logits row.
    validate : bool
        Whether to read the data and raise for invalid rows.
    rng_with_noise : bool, optional
        Allow ``rng`` beside ``noise`` (Gumbel-Rao draws further noise from it).
    mask : array or None, optional
        Booleans that broadcast to the logits' shape, True where a class is allowed; the
        logits become ``-inf`` where it is False.

    """

    def __init__(
        self,
        logits: Array,
        axis: object,
        rng: object,
        noise: Array | None,
        sample_shape: object,
        validate: object,
        *,
        rng_with_noise: bool = False,
        mask: Array | None = None,
    ) -> None:
        try:
            self.backend = resolved_for(logits, argument="logits")
        except TypeError as error:
            raise not_an_array(logits, "logits", error) from None
        self.xp = self.backend.namespace(logits)
        self.axis = check_logits(logits, axis, self.xp, self.backend)
        if mask is not None:
            logits = self._masked(logits, mask)
        self.sample_shape = check_shape(sample_shape, "sample_shape",
                                        beside=tuple(logits.shape), beside_name="logits")
        self.validate = check_bool(validate, "validate")
        self.out_shape = self.sample_shape + tuple(logits.shape)
        self.num_classes = int(logits.shape[self.axis])
        self.device = self.backend.device(logits)
        self.compute_dtype = _core.compute_dtype(logits.dtype, self.xp)
        if noise is not None:
            if rng is not None and not rng_with_noise:
                raise ValueError(
                    "noise and rng are exclusive: pass precomputed noise, or an rng to draw it"
                )
            check_array_argument(noise, "noise", self.backend, self.xp, self.out_shape,
                                 beside=logits)
        if self.validate:
            check_rows_valid(logits, self.axis, self.xp)
        if getattr(logits.dtype, "itemsize", 0) > 8:
            logits = self._within_float64(logits)
        self.logits = logits
        self.rng = rng
        self.noise = noise
        self._peak: Array | None = None  # the logits' row maximum, once perturbed_logits found it
        self._near_zero: Array | None = None  # the logits the noise met, once perturbed
        self._shifted = False  # whether a row of them raced from its maximum
        # The class axis of the output, counted from the end: sample_shape does not move it.
        self.out_axis = self.axis - logits.ndim

    def _within_float64(self, logits: Array) -> Array:
        """Return logits wider than float64 (NumPy's longdouble) in float64's range.

        Rows whose maximum lies beyond float64's range start from 0 in their own dtype
        (:func:`from_near_zero`), where float64, the compute dtype, would make them infinite;
        other rows keep their values. A finite value still below float64's range is float64's
        lowest value: such a class never wins and weighs 0, but it still counts, and ranks,
        as a finite class (behind every class within range, in index order among the classes
        at that bound), not as a masked one. One above the range is ``inf`` (in a row with a
        NaN, invalid anyway). No cast warns of an overflow. Every sampler is unchanged by a
        row's shift.
        """
        xp = self.xp
        highest = float(xp.finfo(xp.float64).max)
        logits, _ = from_near_zero(logits, self.axis, self.backend, xp, limit=highest)
        lowest = xp.asarray(-highest, dtype=logits.dtype)
        logits = xp.where(xp.logical_and(logits < lowest, logits > -math.inf), lowest, logits)
        return xp.where(logits > highest, xp.asarray(math.inf, dtype=logits.dtype), logits)

    def _masked(self, logits: Array, mask: object) -> Array:
        """Return ``logits`` with ``-inf`` where the boolean ``mask`` is False."""
        xp = self.xp
        if not self.backend.matches(mask):
            raise TypeError(f"mask must be a boolean array of the same library as logits "
                            f"({self.backend.name}); got {type_name(mask)}")
        check_supported(mask, "mask", self.backend)
        check_placed_with(mask, "mask", self.backend, logits)
        allowed: Array = mask
        if not xp.isdtype(allowed.dtype, "bool"):
            raise TypeError(f"mask must have a boolean dtype (True where a class is allowed); "
                            f"got {allowed.dtype}")
        shape = tuple(logits.shape)
        if broadcast_shapes(tuple(allowed.shape), shape) != shape:
            raise ValueError(f"mask of shape {tuple(allowed.shape)} does not broadcast to the "
                             f"logits' shape {shape}")
        excluded = xp.asarray(-math.inf, dtype=logits.dtype, device=self.backend.device(logits))
        return xp.where(allowed, logits, excluded)

    def new_source(self) -> Any:
        """Return the native random source made from the caller's ``rng``."""
        return self.backend.make_rng(self.rng, self.device)

    def block(self, axis: int, start: int, stop: int, rng: Any) -> Prepared:
        """Return the arguments of the rows ``start:stop`` along ``axis`` of the output.

        ``axis`` (non-negative, not the class axis) counts in :attr:`out_shape`: a sample
        dimension shortens ``sample_shape``, a logits dimension slices the logits. ``noise``
        is sliced alike where it has the dimension. ``rng`` is the block's own random source
        (a native one, or None where the call draws nothing). Nothing is checked again: the
        arguments were checked once, for the whole call.
        """
        block = copy.copy(self)
        ndim = len(self.out_shape)
        block.logits = slice_aligned(self.logits, ndim, axis, start, stop)
        if self.noise is not None:
            block.noise = slice_aligned(self.noise, ndim, axis, start, stop)
        if axis < len(self.sample_shape):
            dims = list(self.sample_shape)
            dims[axis] = stop - start
            block.sample_shape = tuple(dims)
        block.out_shape = block.sample_shape + tuple(block.logits.shape)
        block.rng = rng
        block._peak = block._near_zero = None  # the call's rows, not the block's
        block._shifted = False
        return block

    def perturbed_logits(self, by_rows: bool = False) -> tuple[Array, bool, Any]:
        """Return ``logits + G`` in the compute dtype, with the output's shape.

        Rows far from 0 race from their maximum (:func:`from_near_zero`; ``by_rows`` finds
        every row maximum, which :meth:`logits_row_is_valid` then reads).

        ``G`` is the precomputed ``noise`` where one was given, else drawn from a fresh source
        made of ``rng`` (:meth:`new_source`). Also returns whether the array is a fresh buffer
        of gumbelkit's own, which an adapter's in-place fast path may overwrite (not a broadcast
        view), and the source advanced past the draw, for further draws of the same call (None
        where the noise was given).
        """
        xp = self.xp
        logits = self._from_near_zero(_core.as_dtype(self.logits, self.compute_dtype, xp),
                                      by_rows)
        if self.noise is None:
            z, source = perturb(self.backend, self.new_source(), logits, self.out_shape,
                                self.compute_dtype, self.device)
            return z, True, source
        z = logits + xp.astype(self.noise, self.compute_dtype, copy=False)
        if tuple(z.shape) != self.out_shape:
            return xp.broadcast_to(z, self.out_shape), False, None
        return z, True, None

    def _from_near_zero(self, logits: Array, by_rows: bool) -> Array:
        """Return :func:`from_near_zero` of ``logits``, keeping it and their row maximum."""
        shifted, self._peak = from_near_zero(logits, self.axis, self.backend, self.xp,
                                             by_rows=by_rows)
        self._near_zero = shifted
        self._shifted = shifted is not logits
        return shifted

    def ranking_keys(self, z: Array) -> Array:
        """Return keys of ``z = perturbed_logits()`` ranking every finite class above the masked.

        A finite logit more than the dtype's largest value below its row's maximum is ``-inf``
        once its row races from that maximum (:func:`from_near_zero`, ``-3e38 - 3e38`` in
        float32), as a masked class is. An argmax never takes either; a sample without
        replacement ranks every class, and must take such a class after all the others and
        before the masked ones. In a row with such a class the keys are ``z / 2``, in the same
        order as ``z`` (halving is exact above the subnormals: keys within ``2**-125`` of 0
        may tie), and ``logits / 2 - maximum / 2`` for those classes, which lies below every
        other key and keeps their order (the noise, far below the spacing of floats there,
        would change none; equal logits go to the lower index). Other rows keep ``z``.
        """
        if not self._shifted or self._peak is None:
            return z
        xp = self.xp
        logits = _core.as_dtype(self.logits, self.compute_dtype, xp)
        overflowed = xp.logical_and(z == -math.inf, logits > -math.inf)
        if self.backend.is_host_readable(overflowed) and not bool(xp.any(overflowed)):
            return z
        # An infinite maximum (an invalid row) counts as 0: inf - inf would warn, also where
        # Dask computes it later, outside any errstate.
        beyond = logits * 0.5 - _core.finite_or_zero(self._peak, xp) * 0.5
        halved = xp.any(overflowed, axis=self.out_axis, keepdims=True)
        return xp.where(overflowed, beyond, xp.where(halved, z * 0.5, z))

    def near_zero_logits(self) -> Array:
        """Return the logits as the noise met them, found once by :meth:`perturbed_logits`.

        In the compute dtype, rows far from 0 from their maximum (:func:`from_near_zero`).
        """
        if self._near_zero is None:
            return self._from_near_zero(_core.as_dtype(self.logits, self.compute_dtype, self.xp),
                                        False)
        return self._near_zero

    def gumbel_max_indices(self, keepdims: bool = False) -> Array:
        """Return ``argmax(logits + G)`` along the class axis, the number of classes where invalid.

        A row with a NaN, a ``+inf`` or no finite logit gives the number of classes, an index
        that is never a valid class; so does a row whose given noise has a NaN or ``+inf``.
        """
        z, _, _ = self.perturbed_logits(by_rows=True)  # the row maximum decides validity too
        index = self.backend.argmax(z, axis=self.out_axis, keepdims=keepdims)
        valid = self.logits_row_is_valid(keepdims, z)
        invalid = self.xp.asarray(self.num_classes, dtype=index.dtype, device=self.device)
        return self.xp.where(valid, index, invalid)

    def row_temperature(self, tau: float | Array) -> tuple[float | Array, Array | None]:
        """Return ``tau`` ready to divide the output (class axis kept) and its validity mask.

        A real number that is not an array (an int, a NumPy scalar) is one temperature, checked
        now. An array broadcasts to the logits' shape without the class axis, or, with the
        logits' number of dimensions, to their shape with size 1 along it. It is checked now
        where reading it is free (host memory, no trace) or ``validate=True`` asks for it;
        elsewhere a row with a non-positive or non-finite temperature comes out NaN, like any
        invalid row. A temperature below the compute dtype's smallest normal number is clamped
        to it, as a float is.
        """
        xp = self.xp
        low, high = _core.UNCLAMPED_TEMPERATURES
        if type(tau) is float and low <= tau <= high:  # valid and representable: as it is
            return tau, None
        if self.backend.matches(tau):  # before reading a shape a nested tensor lacks
            check_supported(tau, "tau", self.backend)
        if not hasattr(tau, "shape") or is_real_scalar(tau):
            checked = check_real(tau, "tau", positive=True)
            return _core.representable_temperature(checked, xp, self.compute_dtype), None
        tau_array: Array = tau
        check_array_argument(tau_array, "tau", self.backend, xp, None, beside=self.logits)
        logits_shape = tuple(self.logits.shape)
        row_shape = logits_shape[: self.axis] + logits_shape[self.axis + 1:]
        keep_shape = (*logits_shape[: self.axis], 1, *row_shape[self.axis:])
        # With the logits' number of dimensions, tau keeps the class axis with size 1 (the
        # PyTorch habit: (B, 1) for (B, K) logits); a tau without it never has that many.
        keeps_axis = tau_array.ndim == len(logits_shape)
        target = keep_shape if keeps_axis else row_shape
        tau_shape = tuple(tau_array.shape)
        if broadcast_shapes(tau_shape, target) != target:
            raise ValueError(
                f"tau of shape {tau_shape} does not broadcast to {row_shape}, the shape of "
                f"logits without axis {self.axis}, nor to {keep_shape}, their shape with size 1 "
                "along it"
            )
        tau_ok = check_temperature_array(tau_array, "tau", self.backend, xp, self.validate)
        # A NaN temperature turns its whole row NaN in the softmax.
        tau = held_temperature(tau_array, tau_ok, self.backend, xp, self.compute_dtype)
        if keeps_axis:
            return tau, tau_ok
        # tau aligns with the trailing dimensions of the row shape; put the class axis back.
        trailing = len(row_shape) - self.axis
        if tau.ndim > trailing:
            at = tau.ndim - trailing
            tau = xp.expand_dims(tau, axis=at)
            tau_ok = xp.expand_dims(tau_ok, axis=at)
        return tau, tau_ok

    def tempered_softmax(self, z: Array, tau: float | Array, owned: bool) -> Array:
        """Return ``softmax(z / tau)`` along the class axis, in the compute dtype.

        Where ``z`` is gumbelkit's own buffer (``owned``), the backend's ``tempered_softmax_``
        computes it and may overwrite ``z``; elsewhere the core does.
        """
        if owned:
            return self.backend.tempered_softmax_(z, tau, self.out_axis)
        return _core.tempered_softmax(
            z, tau, self.out_axis, xp=self.xp, stop_gradient=self.backend.stop_gradient,
            differentiable=isinstance(tau, float) or self.backend.tracks_gradient(tau),
        )

    def index_dtype(self) -> DType:
        """Return the integer dtype of the indices and counts the samplers make.

        int64, or int32 where the namespace has no 64-bit arrays now (JAX without x64, where
        asking for int64 warns and truncates). Asked of the default device: Apple's MPS lacks
        float64 but has int64. (array-api-strict's ``no_x64`` device has no int64, and its own
        ``argmax`` fails there, returning int64.)
        """
        return self.xp.int64 if self.backend.float64_available(None) else self.xp.int32

    def nan(self) -> Array:
        """Return a NaN scalar array in the compute dtype on the logits' device."""
        return self.xp.asarray(float("nan"), dtype=self.compute_dtype, device=self.device)

    def row_is_valid(self, z: Array, keepdims: bool = True) -> Array:
        """Return whether each row of an output-shaped ``z`` has a finite maximum."""
        return self.xp.isfinite(self.backend.row_max(z, self.out_axis, keepdims))

    def logits_row_is_valid(self, keepdims: bool, z: Array | None = None) -> Array:
        """Return whether each logits row is valid: no NaN, no ``+inf``, a finite logit.

        A row is valid where its maximum is finite. It depends on the logits only, so it is
        checked once, not once per sample, and broadcasts against the sample dimensions in
        front; after :meth:`perturbed_logits` it reads the maximum found there. Given ``z``,
        that method's ``logits + G``, and a ``noise`` of the caller's, a row of ``z`` must have
        a finite maximum too (per sample): a NaN or ``+inf`` in the given noise makes it
        invalid, as in a hard sample. Drawn noise is finite, and needs no such look.
        """
        peak = self._peak
        if peak is None:
            valid = self.xp.isfinite(self.backend.row_max(self.logits, self.axis, keepdims))
        else:
            valid = self.xp.isfinite(peak)
            valid = valid if keepdims else self.xp.squeeze(valid, axis=self.axis)
        if z is None or self.noise is None:
            return valid
        return self.xp.logical_and(valid, self.row_is_valid(z, keepdims))

    def class_rows(self) -> tuple[Array, tuple[int, ...]]:
        """Return the logits as ``(rows, K)``, classes last, and the shape of their rows.

        The form of the samplers that work row by row on a 2-d table (categorical, tokens).
        """
        logits = _core.move_axis(self.logits, self.axis, -1, self.xp)
        row_shape = tuple(logits.shape[:-1])
        return self.xp.reshape(logits, (math.prod(row_shape), self.num_classes)), row_shape
