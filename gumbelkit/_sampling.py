"""The public samplers: argument checks and adapter lookup around the array-agnostic core."""

from __future__ import annotations

from typing import Any

from gumbelkit import _core, _estimators
from gumbelkit._checks import (
    check_array_argument,
    check_bool,
    check_estimator,
    check_logits,
    check_real,
    check_rows_valid,
    check_shape,
    concrete_bool,
)
from gumbelkit.backends import (
    Adapter,
    backend_for,
    backend_for_namespace,
    backend_for_rng,
    get_backend,
)
from gumbelkit.estimators import Estimator, GumbelRao

Array = Any
Namespace = Any

__all__ = ["gumbel", "gumbel_max", "gumbel_softmax"]


def _device(x: Array, adapter: Adapter) -> Any:
    # An adapter may read the device itself: array_api_compat.device calls lru_cache-wrapped
    # predicates, on which torch.compile warns.
    read_device = getattr(adapter, "device", None)
    if read_device is not None:
        return read_device(x)
    from array_api_compat import device

    return device(x)


def _compute_dtype(dtype: Any, xp: Namespace) -> Any:
    """Noise and softmax run in float32, or float64 for float64 input (never lower)."""
    return xp.float64 if dtype == xp.float64 else xp.float32


def _as_dtype(x: Array, dtype: Any, xp: Namespace) -> Array:
    """Return ``x`` in ``dtype``: ``x`` itself where it has it (``astype`` costs a call)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def _draw_gumbel(
    adapter: Adapter, xp: Namespace, rng: object, shape: tuple[int, ...], dtype: Any, device: Any
) -> Array:
    noise, _ = draw_gumbel_from(adapter, xp, adapter.make_rng(rng, device), shape, dtype, device)
    return noise


def draw_gumbel_from(
    adapter: Adapter, xp: Namespace, source: Any, shape: tuple[int, ...], dtype: Any, device: Any
) -> tuple[Array, Any]:
    """Return standard Gumbel noise drawn from the native ``source`` and the advanced source.

    A sampler that needs several draws threads the returned source into the next one (a JAX
    key is split; a stateful generator comes back as it is).
    """
    fast = getattr(adapter, "gumbel", None)
    if fast is not None:
        # A native path with the same uniforms and transform, fewer temporaries.
        noise, source = fast(source, shape, dtype, device)
        return noise, source
    u, source = adapter.uniform(source, shape, dtype, device)
    return _core.gumbel_from_uniform(u, xp), source


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
        adapter = backend_for_namespace(xp)
    else:
        adapter = backend_for_rng(rng) or get_backend("numpy")
    namespace = adapter.namespace(None)
    if dtype is None:
        dtype = namespace.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    try:
        floating = namespace.isdtype(dtype, "real floating")
    except Exception:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a real floating dtype of {adapter.name}; got {dtype!r}")
    noise = _draw_gumbel(
        adapter, namespace, rng, dims, _compute_dtype(dtype, namespace), device
    )
    if scale != 1.0:
        noise = noise * scale
    if loc != 0.0:
        noise = noise + loc
    return namespace.astype(noise, dtype, copy=False)


class _Prepared:
    """The checked arguments shared by ``gumbel_softmax`` and ``gumbel_max``."""

    def __init__(
        self,
        logits: Array,
        axis: object,
        rng: object,
        noise: Array | None,
        sample_shape: object,
        validate: object,
    ) -> None:
        self.adapter = backend_for(logits, argument="logits")
        self.xp = self.adapter.namespace(logits)
        self.axis = check_logits(logits, axis, self.xp, self.adapter)
        self.sample_shape = check_shape(sample_shape, "sample_shape")
        self.validate = check_bool(validate, "validate")
        self.out_shape = self.sample_shape + tuple(logits.shape)
        self.num_classes = int(logits.shape[self.axis])
        self.device = _device(logits, self.adapter)
        self.compute_dtype = _compute_dtype(logits.dtype, self.xp)
        if noise is not None:
            if rng is not None:
                raise ValueError(
                    "noise and rng are exclusive: pass precomputed noise, or an rng to draw it"
                )
            check_array_argument(noise, "noise", self.adapter, self.xp, self.out_shape)
        if self.validate:
            check_rows_valid(logits, self.axis, self.xp)
        self.logits = logits
        self.rng = rng
        self.noise = noise
        # The random source advanced past the sample's noise, for further draws.
        self.source: Any = None
        # The class axis of the output, counted from the end: sample_shape does not move it.
        self.out_axis = self.axis - logits.ndim

    def perturbed_logits(self) -> tuple[Array, bool]:
        """Return ``logits + G`` in the compute dtype, with the output's shape.

        The flag says whether the array is a fresh buffer of gumbelkit's own, which an
        adapter's in-place fast path may overwrite (not a broadcast view).
        """
        xp = self.xp
        logits = _as_dtype(self.logits, self.compute_dtype, xp)
        if self.noise is None:
            source = self.adapter.make_rng(self.rng, self.device)
            perturbed = getattr(self.adapter, "perturbed", None)
            if perturbed is not None:
                z, self.source = perturbed(
                    source, logits, self.out_shape, self.compute_dtype, self.device
                )
                return z, True
            noise, self.source = draw_gumbel_from(
                self.adapter, xp, source, self.out_shape, self.compute_dtype, self.device
            )
            return logits + noise, True
        z = logits + xp.astype(self.noise, self.compute_dtype, copy=False)
        if tuple(z.shape) != self.out_shape:
            return xp.broadcast_to(z, self.out_shape), False
        return z, True

    def row_temperature(self, tau: float | Array) -> tuple[float | Array, Array | None]:
        """Return ``tau`` ready to divide the output (class axis kept) and its validity mask.

        A float is checked now. An array is checked now where reading it is free (host memory,
        no trace) or ``validate=True`` asks for it; elsewhere a row with a non-positive or
        non-finite temperature comes out NaN, like any invalid row.
        """
        xp = self.xp
        low, high = _core.UNCLAMPED_TEMPERATURES
        if type(tau) is float and low <= tau <= high:  # valid and representable: as it is
            return tau, None
        if not hasattr(tau, "shape"):
            checked = check_real(tau, "tau", positive=True)
            return _core.representable_temperature(checked, xp, self.compute_dtype), None
        dtype_info = xp.finfo(self.compute_dtype)
        row_shape = tuple(d for i, d in enumerate(self.logits.shape) if i != self.axis)
        check_array_argument(tau, "tau", self.adapter, xp, row_shape)
        tau_ok = xp.logical_and(xp.isfinite(tau), tau > 0)
        # Ask about tau_ok, not tau: a concrete tau captured by jax.jit yields a traced mask.
        if (self.validate or self.adapter.is_host_readable(tau_ok)) and not concrete_bool(
            xp.all(tau_ok), "tau"
        ):
            raise ValueError("tau must be positive and finite in every row; got a value <= 0, "
                             "NaN or inf")
        # tau aligns with the trailing dimensions of the row shape; put the class axis back.
        trailing = len(row_shape) - self.axis
        tau = xp.clip(
            xp.astype(tau, self.compute_dtype, copy=False), *_core.temperature_bounds(dtype_info)
        )
        if tau.ndim > trailing:
            at = tau.ndim - trailing
            tau = xp.expand_dims(tau, axis=at)
            tau_ok = xp.expand_dims(tau_ok, axis=at)
        # A NaN temperature turns its whole row NaN in the softmax.
        return xp.where(tau_ok, tau, self.nan()), tau_ok

    def tempered_softmax(self, z: Array, tau: float | Array, owned: bool) -> Array:
        """Return ``softmax(z / tau)`` along the class axis, in the compute dtype.

        Where ``z`` is gumbelkit's own buffer (``owned``), the adapter's ``tempered_softmax_``
        may compute it, and may overwrite ``z``; elsewhere the core does.
        """
        adapter = self.adapter
        tempered_softmax_ = getattr(adapter, "tempered_softmax_", None)
        if owned and tempered_softmax_ is not None:
            return tempered_softmax_(z, tau, self.out_axis)
        return _core.tempered_softmax(
            z, tau, self.out_axis, xp=self.xp, stop_gradient=adapter.stop_gradient
        )

    def nan(self) -> Array:
        """Return a NaN scalar array in the compute dtype on the logits' device."""
        return self.xp.asarray(float("nan"), dtype=self.compute_dtype, device=self.device)

    def row_max(self, x: Array, axis: int, keepdims: bool) -> Array:
        """Return ``xp.max(x, axis)``, through the adapter's faster ``row_max`` where it has one."""
        row_max = getattr(self.adapter, "row_max", None) or self.xp.max
        return row_max(x, axis=axis, keepdims=keepdims)

    def row_is_valid(self, z: Array) -> Array:
        """Return, with the class axis kept, whether each output row has a finite maximum."""
        return self.xp.isfinite(self.row_max(z, self.out_axis, keepdims=True))

    def logits_row_is_valid(self, keepdims: bool) -> Array:
        """Return whether each logits row is valid: no NaN, no ``+inf``, a finite logit.

        A row is valid where its maximum is finite. It depends on the logits only, so it is
        checked once, not once per sample, and broadcasts against the sample dimensions in
        front.
        """
        return self.xp.isfinite(self.row_max(self.logits, self.axis, keepdims))


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
    conditional_rng = rng if noise is not None and isinstance(estimator, GumbelRao) else None
    prepared = _Prepared(logits, axis, rng if conditional_rng is None else None, noise,
                         sample_shape, validate)
    if conditional_rng is not None:
        prepared.rng = conditional_rng
    # NumPy warns about the deliberate infinities of a tiny tau or an invalid row, and about
    # a huge tau array overflowing its cast before it is clamped.
    errstate = getattr(prepared.adapter, "errstate", None)
    if errstate is None:
        out = _relaxed_sample(prepared, tau, hard, estimator)
    else:
        with errstate():
            out = _relaxed_sample(prepared, tau, hard, estimator)
    return _as_dtype(out, logits.dtype, prepared.xp)


def _relaxed_sample(
    prepared: _Prepared, tau: float | Array, hard: bool, estimator: Estimator = "st"
) -> Array:
    """Return the soft or straight-through hard sample, in the compute dtype."""
    xp, adapter, out_axis = prepared.xp, prepared.adapter, prepared.out_axis
    tau, tau_ok = prepared.row_temperature(tau)
    fused = getattr(adapter, "fused_gumbel_softmax", None)
    if fused is not None and not hard and prepared.noise is None:
        # A kernel that draws its own noise and never stores it (PyTorch CUDA with Triton).
        out = fused(prepared.logits, tau, out_axis, prepared.sample_shape, prepared.rng)
        if out is not None:
            return out
    z, owned = prepared.perturbed_logits()
    if not hard:
        return prepared.tempered_softmax(z, tau, owned)
    differentiable = adapter.supports_autodiff and _may_differentiate(
        adapter, estimator, prepared.logits, tau
    )
    one_hot_argmax_ = getattr(adapter, "one_hot_argmax_", None)
    if owned and one_hot_argmax_ is not None and not differentiable:
        hard_sample = one_hot_argmax_(z, out_axis)
        if tau_ok is None:
            return hard_sample
        return xp.where(tau_ok, hard_sample, prepared.nan())
    one_hot_argmax = getattr(adapter, "one_hot_argmax", None)
    if one_hot_argmax is not None:
        one_hot = one_hot_argmax(z, out_axis)
    else:
        one_hot = _core.one_hot(
            xp.argmax(z, axis=out_axis), prepared.num_classes, z.ndim + out_axis, z.dtype, xp,
            device=prepared.device,
        )
    if differentiable:
        soft = _estimators.surrogate(prepared, estimator, z, one_hot, tau, z_owned=owned)
        return _core.straight_through(one_hot, soft, adapter.stop_gradient)
    # Without a gradient the straight-through bracket is 0 and would only mark invalid rows.
    valid = prepared.row_is_valid(z)
    if tau_ok is not None:
        valid = xp.logical_and(valid, tau_ok)
    return xp.where(valid, one_hot, prepared.nan())


def _may_differentiate(
    adapter: Adapter, estimator: Estimator, logits: Array, tau: float | Array
) -> bool:
    """Return whether a hard sample's gradient may be taken, so its surrogate is needed.

    An adapter's ``tracks_gradient`` may say no (PyTorch: recording off, or nothing requires a
    gradient); without it the answer is yes. Gumbel-Rao's surrogate draws noise, so it is
    always computed: skipping it would change what the rng draws next.
    """
    tracks_gradient = getattr(adapter, "tracks_gradient", None)
    if tracks_gradient is None or isinstance(estimator, GumbelRao):
        return True
    return bool(tracks_gradient(logits, tau))


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
    prepared = _Prepared(logits, axis, rng, noise, sample_shape, validate)
    keepdims = check_bool(keepdims, "keepdims")
    xp, out_axis = prepared.xp, prepared.out_axis
    z, _ = prepared.perturbed_logits()
    argmax = getattr(prepared.adapter, "argmax", None) or xp.argmax
    index = argmax(z, axis=out_axis, keepdims=keepdims)
    valid = prepared.logits_row_is_valid(keepdims)
    invalid_index = xp.asarray(prepared.num_classes, dtype=index.dtype, device=prepared.device)
    return xp.where(valid, index, invalid_index)

