"""The public samplers: argument checks and adapter lookup around the array-agnostic core."""

from __future__ import annotations

from typing import Any

from gumbelkit import _core
from gumbelkit._checks import check_bool, check_estimator, check_real, check_shape
from gumbelkit._noise import draw_gumbel
from gumbelkit._prepared import Prepared
from gumbelkit._surrogates import surrogate
from gumbelkit._typing import Array, Namespace
from gumbelkit.backends import (
    Backend,
    backend_for_namespace,
    backend_for_rng,
    get_backend,
    resolve,
)
from gumbelkit.estimators import Estimator, GumbelRao

__all__ = ["gumbel", "gumbel_max", "gumbel_softmax"]


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
        Shape of the result.
    loc : float, optional
        Location, finite; the standard Gumbel has 0.
    scale : float, optional
        Scale, positive and finite; the standard Gumbel has 1.
    dtype : dtype, optional
        A real floating dtype of the namespace; default its default floating dtype. Noise is
        computed in float32 (float64 for float64) and cast, so float16 and bfloat16 noise keeps
        the float32 tails up to the final rounding.
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
        Finite Gumbel noise of the given shape: every value lies between the tails set by the
        smallest normal uniform and the largest uniform below 1.

    Examples
    --------
    >>> import gumbelkit as gk
    >>> gk.gumbel((2, 3), rng=0).shape
    (2, 3)

    """
    dims = check_shape(shape, "shape")
    loc = check_real(loc, "loc")
    scale = check_real(scale, "scale", positive=True)
    if xp is not None:
        backend = resolve(backend_for_namespace(xp))
    else:
        backend = resolve(backend_for_rng(rng) or get_backend("numpy"))
    namespace = backend.namespace(None)
    if dtype is None:
        dtype = namespace.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    try:
        floating = namespace.isdtype(dtype, "real floating")
    except Exception:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a real floating dtype of {backend.name}; got {dtype!r}")
    source = backend.make_rng(rng, device)
    noise, _ = draw_gumbel(backend, source, dims, _core.compute_dtype(dtype, namespace), device)
    if scale != 1.0:
        noise = noise * scale
    if loc != 0.0:
        noise = noise + loc
    return namespace.astype(noise, dtype, copy=False)


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
) -> Array:
    """Draw a relaxed one-hot sample ``softmax((logits + G) / tau)`` (Gumbel-Softmax, Concrete).

    Parameters
    ----------
    logits : array
        Unnormalised log-probabilities, classes along ``axis``; any real floating dtype. A
        ``-inf`` entry masks its class: probability exactly 0, never drawn, gradient exactly 0.
    tau : float or array, optional
        Temperature, positive and finite: a float, or an array that broadcasts against
        ``logits`` with ``axis`` removed (one temperature per row).
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

    Returns
    -------
    array
        The sample, with the dtype, device and namespace of ``logits``. Noise and softmax are
        computed in float32 (float64 for float64 logits). Rows with a NaN, a ``+inf`` or no
        finite logit come out NaN.

    Examples
    --------
    >>> import numpy as np, gumbelkit as gk
    >>> y = gk.gumbel_softmax(np.array([[0.1, 0.5, 0.4]]), tau=0.5, rng=0)
    >>> bool(abs(y.sum() - 1) < 1e-12)
    True

    """
    hard = check_bool(hard, "hard")
    estimator = check_estimator(estimator, hard=hard, tau=tau)
    # Gumbel-Rao draws noise conditioned on the sample; with precomputed noise, from rng.
    rao_with_noise = noise is not None and rng is not None and isinstance(estimator, GumbelRao)
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate,
                        rng_with_noise=rao_with_noise)
    # NumPy warns about the deliberate infinities of a tiny tau or an invalid row, and about
    # a huge tau array overflowing its cast before it is clamped.
    with prepared.backend.errstate():
        out = _relaxed_sample(prepared, tau, hard, estimator)
    return _core.as_dtype(out, logits.dtype, prepared.xp)


def _relaxed_sample(
    prepared: Prepared, tau: float | Array, hard: bool, estimator: Estimator = "st"
) -> Array:
    """Return the soft or straight-through hard sample, in the compute dtype."""
    xp, backend, out_axis = prepared.xp, prepared.backend, prepared.out_axis
    tau, tau_ok = prepared.row_temperature(tau)
    if not hard and prepared.noise is None:
        # A kernel that draws its own noise and never stores it (PyTorch CUDA with Triton).
        out = backend.fused_gumbel_softmax(
            prepared.logits, tau, out_axis, prepared.sample_shape, prepared.rng
        )
        if out is not None:
            return out
    source = prepared.new_source() if prepared.noise is None else None
    z, owned, source = prepared.perturbed_logits(source)
    if not hard:
        return prepared.tempered_softmax(z, tau, owned)
    if not (backend.supports_autodiff and _may_differentiate(backend, estimator, prepared, tau)):
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
    backend: Backend, estimator: Estimator, prepared: Prepared, tau: float | Array
) -> bool:
    """Return whether a hard sample's gradient may be taken, so its surrogate is needed.

    The backend's ``tracks_gradient`` may say no (PyTorch: recording off, or nothing requires
    a gradient). Gumbel-Rao's surrogate draws noise, so it is always computed: skipping it
    would change what the rng draws next.
    """
    if isinstance(estimator, GumbelRao):
        return True
    return bool(backend.tracks_gradient(prepared.logits, tau))


def gumbel_max(
    logits: Array,
    *,
    axis: int = -1,
    rng: object = None,
    noise: Array | None = None,
    sample_shape: int | tuple[int, ...] = (),
    keepdims: bool = False,
    validate: bool = False,
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
        Independent draws per row; the output shape is ``sample_shape`` + the row shape.
    keepdims : bool, optional
        Keep the class axis with size 1.
    validate : bool, optional
        Read the data (a device sync; eager only) and raise ``ValueError`` for a row with a
        NaN, a ``+inf`` or no finite logit.

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
    prepared = Prepared(logits, axis, rng, noise, sample_shape, validate)
    keepdims = check_bool(keepdims, "keepdims")
    xp, out_axis = prepared.xp, prepared.out_axis
    source = prepared.new_source() if noise is None else None
    z, _, _ = prepared.perturbed_logits(source)
    index = prepared.backend.argmax(z, axis=out_axis, keepdims=keepdims)
    valid = prepared.logits_row_is_valid(keepdims)
    invalid_index = xp.asarray(prepared.num_classes, dtype=index.dtype, device=prepared.device)
    return xp.where(valid, index, invalid_index)

