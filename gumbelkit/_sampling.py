"""The public samplers: argument checks and adapter lookup around the array-agnostic core."""

from __future__ import annotations

from typing import Any

from gumbelkit import _core
from gumbelkit._checks import (
    call_error,
    check_bool,
    check_device,
    check_estimator,
    check_real,
    check_shape,
    publish,
)
from gumbelkit._noise import draw_gumbel
from gumbelkit._prepared import Prepared
from gumbelkit._row_blocks import by_row_blocks, by_shape_blocks
from gumbelkit._surrogates import surrogate
from gumbelkit._typing import Array, Device, DType, Namespace
from gumbelkit.backends import (
    Backend,
    backend_for_namespace,
    backend_for_rng,
    get_backend,
    resolve,
)
from gumbelkit.estimators import Estimator, GumbelRao

__all__ = ["gumbel", "gumbel_max", "gumbel_softmax"]


# Bounds on standard Gumbel noise drawn in each compute dtype (by its bits), whatever the draw:
# its uniform is at least the smallest normal number (G >= -log(-log(tiny)), -4.4698 and
# -6.5630), and its noise is finite, so the complement of the uniform is at least the smallest
# subnormal (G <= -log(2**-149) = 103.28 and -log(2**-1074) = 744.44). Rounded outwards.
_NOISE_BOUNDS = {32: (-4.47, 103.3), 64: (-6.57, 744.5)}


def _floating_dtype(dtype: object, backend: Backend, namespace: Namespace, device: Device) -> DType:
    """Return ``dtype`` as a real floating dtype of ``namespace``, or raise naming ``dtype``.

    A spelling that the namespace reads itself, as NumPy reads ``"float32"`` or ``">f8"``,
    becomes the dtype it names.
    """
    try:
        if namespace.isdtype(dtype, "real floating"):
            return dtype
    except Exception:  # not a dtype object of the namespace
        pass
    try:
        spelled = namespace.empty((0,), dtype=dtype, device=device).dtype
        if namespace.isdtype(spelled, "real floating"):
            return spelled
    except Exception:  # not a dtype the namespace reads either
        pass
    raise TypeError(f"dtype must be a real floating dtype of {backend.name}; got {dtype!r}")


def _check_noise_range(
    loc: float, scale: float, dtype: DType, compute: DType, namespace: Namespace
) -> None:
    """Raise ``ValueError`` where ``loc + scale * G`` may leave the finite range of ``dtype``.

    ``G`` is any standard Gumbel noise drawn in ``compute`` (:data:`_NOISE_BOUNDS`); the sum is
    computed in ``compute``, which must hold it, and cast to ``dtype``, which rounds a sum up to
    half a unit in the last place beyond its largest value to that value.
    """
    g_low, g_high = _NOISE_BOUNDS[64 if compute == namespace.float64 else 32]
    low, high = loc + scale * g_low, loc + scale * g_high
    limit = float(namespace.finfo(compute).max)
    dtype_max = float(namespace.finfo(dtype).max)
    if dtype_max < limit:
        # The cast from the wider compute dtype rounds to dtype's largest value anything short
        # of half a unit in the last place beyond it (float16: 65504 + 16); a 2**-8 margin
        # covers the compute dtype's own rounding of the sum.
        eps = float(namespace.finfo(dtype).eps)
        limit = dtype_max * (1 + eps / (2 * (2 - eps)) * (1 - 2**-8))
    if -limit <= low and high <= limit:
        return
    argument = "loc" if abs(loc) > limit else "scale"
    name = getattr(dtype, "__name__", None) or str(dtype)
    largest = f"largest {min(dtype_max, limit):.6g}"
    if limit > dtype_max:
        largest += f", to which the cast rounds sums up to {limit:.6g}"
    raise ValueError(
        f"{argument} must keep loc + scale * G finite in {name} ({largest}) for every "
        f"value of the standard noise G in [{g_low}, {g_high}]; got loc={loc!r} and "
        f"scale={scale!r}, which reach [{low:.6g}, {high:.6g}]"
    )


def _gumbel_body(
    shape: int | tuple[int, ...],
    *misplaced: object,
    loc: float = 0.0,
    scale: float = 1.0,
    dtype: Any = None,
    device: Any = None,
    rng: object = None,
    xp: Namespace = None,
    **unknown: object,
) -> Array:
    """Draw Gumbel noise; the body of :func:`gumbel`, which documents it."""
    if misplaced or unknown:
        raise call_error(gumbel, misplaced, unknown)
    dims = check_shape(shape, "shape")
    loc = check_real(loc, "loc")
    scale = check_real(scale, "scale", positive=True)
    if xp is not None:
        backend = resolve(backend_for_namespace(xp))
    else:
        backend = resolve(backend_for_rng(rng) or get_backend("numpy"))
    namespace = backend.namespace(None)
    check_device(device, namespace, backend.name)
    if dtype is None:
        dtype = namespace.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    dtype = _floating_dtype(dtype, backend, namespace, device)
    compute = _core.compute_dtype(dtype, namespace)
    if loc != 0.0 or scale != 1.0:
        _check_noise_range(loc, scale, dtype, compute, namespace)
    source = backend.make_rng(rng, device)

    def draw(block_source: Any, block_shape: tuple[int, ...]) -> Array:
        noise, _ = draw_gumbel(backend, block_source, block_shape, compute, device)
        if scale == 1.0 and loc == 0.0:
            return namespace.astype(noise, dtype, copy=False)
        # Arithmetic on a 0-d NumPy array (a 0-d Dask block too) returns a NumPy scalar, which
        # the cast would leave in native byte order: scale one element, then reshape.
        scaled = namespace.reshape(noise, (1,)) if block_shape == () else noise
        if scale != 1.0:
            scaled = scaled * scale
        if loc != 0.0:
            scaled = scaled + loc
        return namespace.reshape(namespace.astype(scaled, dtype, copy=False), block_shape)

    # A large NumPy draw runs by row blocks on threads, each from its own spawned stream.
    with backend.errstate():  # float16 noise near 0 underflows in the cast, as it should
        return by_shape_blocks(backend, source, dims, draw)


@publish(_gumbel_body)
def gumbel(
    shape: int | tuple[int, ...],
    *,
    loc: float = 0.0,
    scale: float = 1.0,
    dtype: Any = None,
    device: Any = None,
    rng: object = None,
    xp: Namespace = None,
) -> Array:
    """Draw Gumbel noise: ``loc - scale * log(-log(U))`` with ``U`` uniform on ``(0, 1)``.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the result (an array is refused, as for ``sample_shape`` of
        :func:`gumbel_softmax`).
    loc : float, optional
        Location, finite; the standard Gumbel has 0.
    scale : float, optional
        Scale, positive and finite; the standard Gumbel has 1. ``loc + scale * G`` must stay
        finite in ``dtype`` for every value the standard noise ``G`` can take, within
        ``[-4.47, 103.3]`` when it is computed in float32 and ``[-6.57, 744.5]`` in float64
        (docs/numeric-contract.md#scaled-noise); a ``scale`` (or ``loc``) beyond raises
        ``ValueError``.
    dtype : dtype, optional
        A real floating dtype of the namespace, or a spelling the namespace reads (NumPy's
        ``"float32"`` or ``">f8"``); default its default floating dtype. Noise is computed in
        float32 (float64 for float64, whatever its byte order) and cast, so float16 and bfloat16
        noise keeps the float32 tails up to the final rounding.
    device : device, optional
        Device of the result; default the namespace's default device.
    rng : None, int, or a native generator or key, optional
        The random source (see the README's table); ``None`` uses fresh entropy, or the global
        generator for PyTorch and CuPy. JAX needs a key or a seed.
    xp : namespace, optional
        Array namespace of the result, e.g. ``numpy``, ``torch`` or ``jax.numpy``. Default: the
        library of ``rng`` when it is a native generator or key, else NumPy.

    Returns
    -------
    array
        Finite Gumbel noise of the given shape, at least -4.470 in float32 (-6.563 in
        float64), the noise of the smallest normal uniform, and below 103.3 (744.5); its upper
        tail is exact (docs/numeric-contract.md), not capped where the uniforms' grid ends
        (16.6).

    Examples
    --------
    >>> import gumbelkit as gk
    >>> gk.gumbel((2, 3), rng=0).shape
    (2, 3)

    """
    raise NotImplementedError  # never runs: publish makes _gumbel_body this function


def _gumbel_softmax_body(
    logits: Array,
    *misplaced: object,
    tau: float | Array = 1.0,
    hard: bool = False,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    estimator: Estimator = "st",
    validate: bool = False,
    mask: Array | None = None,
    return_index: bool = False,
    **unknown: object,
) -> Array:  # with return_index, (sample, index): Array is Any to the type checker
    """Draw a relaxed one-hot sample; the body of :func:`gumbel_softmax`, which documents it."""
    # Checked only when given: the common call pays two empty-container tests.
    if misplaced or unknown:
        raise call_error(gumbel_softmax, misplaced, unknown)
    hard = check_bool(hard, "hard")
    if check_bool(return_index, "return_index") and not hard:
        raise ValueError("return_index=True needs hard=True: a soft sample has no index")
    estimator = check_estimator(estimator, hard=hard, tau=tau)
    # Gumbel-Rao draws noise conditioned on the sample; with precomputed noise, from rng.
    rao_with_noise = noise is not None and rng is not None and isinstance(estimator, GumbelRao)
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate,
                        rng_with_noise=rao_with_noise, mask=mask)
    # NumPy warns about the deliberate infinities of a tiny tau or an invalid row, and about
    # a huge tau array overflowing its cast before it is clamped.
    with prepared.backend.errstate():
        tau, tau_ok = prepared.row_temperature(tau)
        # A large NumPy call runs by row blocks on threads; the temperatures go with their rows.
        sample = by_row_blocks(prepared, _relaxed_block, tau, tau_ok, hard, estimator)
    if not return_index:
        return sample
    # The index of the one-hot itself: one draw, and a row that came out NaN (invalid logits
    # or temperature) gets the number of classes.
    xp, backend, out_axis = prepared.xp, prepared.backend, prepared.out_axis
    plain = backend.stop_gradient(sample)
    index = backend.argmax(plain, axis=out_axis)
    valid = xp.isfinite(backend.row_max(plain, out_axis))
    return sample, xp.where(valid, index, xp.asarray(prepared.num_classes, dtype=index.dtype,
                                                     device=prepared.device))


@publish(_gumbel_softmax_body)
def gumbel_softmax(
    logits: Array,
    *,
    tau: float | Array = 1.0,
    hard: bool = False,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    estimator: Estimator = "st",
    validate: bool = False,
    mask: Array | None = None,
    return_index: bool = False,
) -> Array:  # with return_index, (sample, index): Array is Any to the type checker
    """Draw a relaxed one-hot sample ``softmax((logits + G) / tau)`` (Gumbel-Softmax, Concrete).

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: probability exactly 0, never drawn, gradient exactly 0.
    tau : float or array, optional
        Temperature, positive and finite: a real number (a NumPy scalar such as
        ``numpy.float64(0.5)`` too), or an array of the library of ``logits`` with one
        temperature per row, which broadcasts against ``logits`` with ``axis`` removed, or has
        the dimensions of ``logits`` with size 1 along ``axis`` (shape ``(B, 1)`` for ``(B, K)``
        logits). A temperature below the compute dtype's smallest normal number is clamped to
        it.
    hard : bool, optional
        Return an exactly one-hot sample (ties go to the first index) whose gradient is that of
        the soft sample (the straight-through Gumbel-Softmax estimator).
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source; exclusive with ``noise``, except for Gumbel-Rao, whose conditional
        noise it draws when ``noise`` is given.
    noise : array, optional
        Precomputed standard Gumbel noise that broadcasts to the output shape, for common
        random numbers and reproducible comparisons; exclusive with ``rng``.
    sample_shape : int or tuple of int, optional
        Independent samples per logits row; the output shape is ``sample_shape + logits.shape``.
        An array is refused (``TypeError``), a NumPy integer array too: a shape is a Python
        value, the same under a trace.
    estimator : str, GumbelRao or Gapped, optional
        The gradient estimator of the hard sample (docs/estimators.md): "st" (straight-through
        Gumbel-Softmax), "st-probs", "reinmax", "gumbel-rao" (``GumbelRao(10)``), "gapped"
        (``Gapped(1.0)``), "gapped-p" (``Gapped("p")``), or a ``GumbelRao`` or ``Gapped`` of
        ``gumbelkit.estimators``. The forward value is the same exact one-hot for all of them;
        without autodiff (NumPy, CuPy, Dask, array-api-strict) they are all the plain one-hot.
        Only "st" goes with ``hard=False``. ReinMax warns for a float ``tau`` below 1.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a
        NaN, a ``+inf`` or no finite logit, or a temperature that is not positive and finite.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).
    return_index : bool, optional
        With ``hard=True``, also return the index of each one-hot, from the same draw.

    Returns
    -------
    sample : array
        The sample, with the dtype (byte order included), device and namespace of ``logits``.
        Noise and softmax are computed in float32 (float64 for float64 logits, whatever their
        byte order). Rows with a NaN, a ``+inf`` or no finite logit come out NaN.
    index : array
        With ``return_index=True`` only: the index of each one-hot, the shape of ``sample``
        without ``axis``, in the namespace's default index dtype (the number of classes for a
        row that came out NaN), from the same draw.

    Raises
    ------
    TypeError
        For an argument of the wrong type, named in the message; also for a positional
        argument after ``logits`` or an unknown keyword, with what to write instead
        (``gumbel_softmax(logits, tau=0.5, hard=True)``, ``axis=`` for PyTorch's ``dim=``).
    ValueError
        For a value out of range, named in the message.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> y = gk.gumbel_softmax(np.array([[0.1, 0.5, 0.4]]), tau=0.5, rng=0)
    >>> bool(abs(y.sum() - 1) < 1e-12)
    True

    """
    raise NotImplementedError  # never runs: publish makes _gumbel_softmax_body this function


def _relaxed_block(
    prepared: Prepared,
    tau: float | Array,
    tau_ok: Array | None,
    hard: bool,
    estimator: Estimator,
) -> Array:
    """Return the soft or hard sample of one row block, in the dtype of the logits.

    ``tau`` and ``tau_ok`` are :meth:`Prepared.row_temperature`'s, restricted to the block.
    """
    out = _relaxed_sample(prepared, tau, tau_ok, hard, estimator)
    return _core.as_dtype(out, prepared.logits.dtype, prepared.xp)


def _relaxed_sample(
    prepared: Prepared,
    tau: float | Array,
    tau_ok: Array | None,
    hard: bool,
    estimator: Estimator = "st",
) -> Array:
    """Return the soft or straight-through hard sample, in the compute dtype.

    ``tau`` and ``tau_ok`` are those of :meth:`Prepared.row_temperature`.
    """
    xp, backend, out_axis = prepared.xp, prepared.backend, prepared.out_axis
    if not hard and prepared.noise is None:
        # A kernel that draws its own noise and never stores it (PyTorch CUDA with Triton).
        out = backend.fused_gumbel_softmax(
            prepared.logits, tau, out_axis, prepared.sample_shape, prepared.rng
        )
        if out is not None:
            return out
    z, owned, source = prepared.perturbed_logits()
    if not hard:
        return prepared.tempered_softmax(z, tau, owned)
    if not (backend.supports_autodiff and _may_differentiate(backend, estimator, z, tau)):
        # Without a gradient the straight-through bracket is 0: the hard sample is the one-hot,
        # with its invalid rows NaN.
        if owned:
            hard_sample = backend.one_hot_argmax_(z, out_axis)
        else:
            hard_sample = xp.where(
                prepared.row_is_valid(z), backend.one_hot_argmax(z, out_axis), prepared.nan()
            )
        if tau_ok is None:
            return hard_sample
        return xp.where(tau_ok, hard_sample, prepared.nan())
    one_hot = backend.one_hot_argmax(z, out_axis)
    soft = surrogate(prepared, estimator, z, one_hot, tau, source, z_owned=owned)
    return _core.straight_through(one_hot, soft, backend.stop_gradient)


def _may_differentiate(
    backend: Backend, estimator: Estimator, z: Array, tau: float | Array
) -> bool:
    """Return whether a hard sample's gradient may be taken, so its surrogate is needed.

    The backend's ``tracks_gradient`` may say no (PyTorch: recording off, or nothing requires
    a gradient), asked of the perturbed logits ``z``, which carry the gradient of the logits
    and of a precomputed ``noise`` alike, and of ``tau``. Gumbel-Rao's surrogate draws noise,
    so it is always computed: skipping it would change what the rng draws next.
    """
    if isinstance(estimator, GumbelRao):
        return True
    return bool(backend.tracks_gradient(z, tau))


def _gumbel_max_body(
    logits: Array,
    *misplaced: object,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    keepdims: bool = False,
    validate: bool = False,
    mask: Array | None = None,
    **unknown: object,
) -> Array:
    """Draw categorical indices; the body of :func:`gumbel_max`, which documents it."""
    if misplaced or unknown:
        raise call_error(gumbel_max, misplaced, unknown)
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate, mask=mask)
    keepdims = check_bool(keepdims, "keepdims")
    # A large NumPy call runs by row blocks on threads, each from its own spawned stream.
    with prepared.backend.errstate():
        return by_row_blocks(prepared, Prepared.gumbel_max_indices, keepdims)


@publish(_gumbel_max_body)
def gumbel_max(
    logits: Array,
    *,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    keepdims: bool = False,
    validate: bool = False,
    mask: Array | None = None,
) -> Array:
    """Draw categorical indices ``argmax(logits + G)`` (the Gumbel-Max trick).

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; a ``-inf`` entry is never drawn.
    axis : int, optional
        The class axis of ``logits``.
    rng : None, int, or a native generator or key, optional
        The random source; exclusive with ``noise``.
    noise : array, optional
        Precomputed standard Gumbel noise that broadcasts to ``sample_shape + logits.shape``.
    sample_shape : int or tuple of int, optional
        Independent draws per row; the output shape is ``sample_shape`` + the row shape. An
        array is refused, as for :func:`gumbel_softmax`.
    keepdims : bool, optional
        Keep the class axis with size 1.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a
        NaN, a ``+inf`` or no finite logit.
    mask : array, optional
        A boolean array of the library of ``logits`` that broadcasts to their shape, True where
        a class is allowed: a False entry is the same as a ``-inf`` logit (probability exactly
        0, never drawn, gradient exactly 0).

    Returns
    -------
    array
        Integer indices in the namespace's default index dtype, on the device of ``logits``. A
        row with a NaN, a ``+inf`` or no finite logit gives the number of classes, an index that
        is never a valid class.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> gk.gumbel_max(np.log(np.array([0.2, 0.8])), sample_shape=(5,), rng=0).shape
    (5,)

    """
    raise NotImplementedError  # never runs: publish makes _gumbel_max_body this function

