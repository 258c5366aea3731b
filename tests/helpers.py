"""Test helpers: the shared ones come from gumbelkit.testing; the Philox reference is test-only.

``make`` and ``native_dtype`` skip the calling test where the array module lacks the dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from gumbelkit.conformance.tails import AtomLevel
from gumbelkit.testing import (
    asarray,
    assert_close,
    assert_same_namespace_device,
    get_dtype,
    has_dtype,
    to_numpy,
)
from gumbelkit.testing import reference_gumbel as np_gumbel
from gumbelkit.testing import reference_softmax as np_softmax

__all__ = [
    "assert_close",
    "assert_same_namespace_device",
    "exact_gumbel_from_words",
    "exact_tail_levels",
    "exact_tail_noise",
    "make",
    "minimal_adapter",
    "native_dtype",
    "np_gumbel",
    "np_softmax",
    "philox4x32_10",
    "philox_exact_gumbel",
    "philox_gumbel",
    "philox_words",
    "scripted_words",
    "textbook_levels",
    "to_numpy",
]


def native_dtype(xp: Any, name: str) -> Any:
    """Return the dtype ``name`` of the array module ``xp``, or skip where it has none."""
    if not has_dtype(xp, name):
        pytest.skip(f"{xp.__name__} has no {name} dtype")
    return get_dtype(xp, name)


def minimal_adapter(builtin: str, **members: Any) -> SimpleNamespace:
    """Return a third-party adapter: the required members of a built-in one, and ``members``.

    The optional members it lacks take the generic defaults when it is resolved.
    """
    from gumbelkit import backends

    adapter = backends.get_backend(builtin)
    minimal = SimpleNamespace(**{m: getattr(adapter, m) for m in backends.REQUIRED_MEMBERS})
    for member, value in members.items():
        setattr(minimal, member, value)
    return minimal


def make(xp: Any, data: Any, dtype: str = "float64") -> Any:
    """Build an array of module ``xp`` from NumPy data, in the dtype named ``dtype``."""
    native_dtype(xp, dtype)
    return asarray(xp, data, dtype)


# Philox-4x32-10 (Salmon et al., SC 2011), written from the paper for the kernels' noise tests.
_PHILOX_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_KEY_STEPS = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter: Any, key: Any) -> np.ndarray:
    """Return the four output words (uint32, last axis) of Philox-4x32-10.

    ``counter`` has four uint32 words on its last axis, ``key`` two; they broadcast.
    """
    counter = np.asarray(counter, dtype=np.uint64)
    key = np.asarray(key, dtype=np.uint64)
    c0, c1, c2, c3 = (counter[..., i] for i in range(4))
    k0, k1 = key[..., 0], key[..., 1]
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        product0 = _PHILOX_MULTIPLIERS[0] * c0  # exact: both factors are below 2**32
        product1 = _PHILOX_MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (
            (product1 >> np.uint64(32)) ^ c1 ^ k0,
            product1 & mask,
            (product0 >> np.uint64(32)) ^ c3 ^ k1,
            product0 & mask,
        )
        k0 = (k0 + np.uint64(_PHILOX_KEY_STEPS[0])) & mask
        k1 = (k1 + np.uint64(_PHILOX_KEY_STEPS[1])) & mask
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def philox_gumbel(seed: int, index: Any) -> np.ndarray:
    """Return, in float64, the fused kernels' noise for the flat output ``index`` under ``seed``.

    Counter ``(lo(index), hi(index), 0, 0)``, key ``(lo(seed), hi(seed))`` (Triton's
    ``tl.randint``); the top 23 bits ``k`` of the first word give ``u = (k + 1/2) 2**-23``.
    """
    index = np.asarray(index, dtype=np.uint64)
    low, high = index & np.uint64(0xFFFFFFFF), index >> np.uint64(32)
    zeros = np.zeros_like(index)
    counter = np.stack([low, high, zeros, zeros], axis=-1)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint64)
    bits = philox4x32_10(counter, key)[..., 0]
    u = ((bits >> np.uint32(9)).astype(np.float64) + 0.5) * 2.0**-23
    return -np.log(-np.log(u))


def exact_tail_noise(generator: np.random.Generator, shape: tuple[int, ...],
                     dtype: Any) -> np.ndarray:
    """The noise construction of docs/mathematics.md#the-upper-tail-and-rare-classes.

    Written from the documentation, independently of gumbelkit: uniforms from ``generator``
    (the smallest normal standing for 0); outside the sliver ``u >= 1 - 2**-s``, ``-log(-log
    u)`` in ``dtype``; inside it, ``V = 2**-s W`` with ``W`` the complement of a fresh uniform,
    refined the same way while it falls in its own sliver (``depth`` levels), and the noise
    ``-log(-log1p(-V))`` in float64, rounded to ``dtype``. The draws come in the documented
    order: the grid uniforms, then one row of ``depth`` uniforms per value in the sliver.
    """
    dtype = np.dtype(dtype)
    bits, depth = (12, 8) if dtype == np.float32 else (40, 3)
    tiny = np.finfo(dtype).smallest_normal

    def uniforms(size: Any) -> np.ndarray:
        return np.maximum(generator.random(size, dtype=dtype), tiny)

    def refined(count: int) -> np.ndarray:
        # One row of `depth` uniforms per redrawn value; level by level, the first complement
        # above 2**-bits (or the last) holds it, scaled by 2**-bits per level passed.
        w = 1.0 - uniforms((count, depth)).astype(np.float64)  # exact
        value = np.empty(count)
        for row in range(count):
            scale = 1.0
            for level in range(depth):
                if w[row, level] > 2.0**-bits or level == depth - 1:
                    value[row] = scale * w[row, level]
                    break
                scale *= 2.0**-bits
        return value

    u = uniforms(shape)
    noise = -np.log(-np.log(u))
    sliver = u >= 1.0 - 2.0**-bits
    if sliver.any():
        v = 2.0**-bits * refined(int(sliver.sum()))
        noise[sliver] = (-np.log(-np.log1p(-v))).astype(dtype)
    return noise


# The fused kernels' exact-tail noise, written from its description (gumbelkit/backends/_triton.py
# and _cuda_gumbel_softmax.cu): eight Philox words per output element.
_SLIVER_START = 2**23 - 2**11  # body grid indices k0 >= this lie in the sliver u >= 1 - 2**-12
_LEVEL_LEAVES = 2**11  # a level's index k >= this has c > 2**-12: the level holds V
_DEPTH = 7


def exact_gumbel_from_words(words: Any) -> np.ndarray:
    """Return, in float64, the fused kernels' noise from eight Philox words (last axis).

    ``k0 = w0 >> 9``; below ``2**23 - 2**11`` the noise is ``-log(-log u)``, ``u = (k0 + 1/2)
    2**-23``. Otherwise ``V = 2**-(12 L) c_L`` with ``c_L = ((x_L >> 9) + 1/2) 2**-23`` for the
    level words ``x_1 .. x_7 = w1 .. w7``, ``L`` the first level with ``x_L >> 9 >= 2**11`` (or
    7), and the noise is ``-log(-log1p(-V))``.
    """
    k = np.asarray(words, dtype=np.uint32) >> np.uint32(9)
    midpoint = (k.astype(np.float64) + 0.5) * 2.0**-23  # exact
    noise = -np.log(-np.log(midpoint[..., 0]))
    v = np.full(midpoint.shape[:-1], np.nan)
    for level in range(_DEPTH, 0, -1):  # the lowest level that holds V is taken last
        holds = k[..., level] >= _LEVEL_LEAVES if level < _DEPTH else np.True_
        v = np.where(holds, midpoint[..., level] * 2.0 ** (-12 * level), v)  # exact
    sliver = k[..., 0] >= _SLIVER_START
    return np.where(sliver, -np.log(-np.log1p(-v)), noise)


def philox_words(seed: int, index: Any) -> np.ndarray:
    """Return the fused kernels' eight Philox words (uint32, last axis) for the flat ``index``.

    Counters ``(lo(index), hi(index), 0, 0)`` and ``(lo(index), hi(index), 1, 0)`` under the
    key ``(lo(seed), hi(seed))``; the reference computes both for every element.
    """
    index = np.asarray(index, dtype=np.uint64)
    low, high = index & np.uint64(0xFFFFFFFF), index >> np.uint64(32)
    zeros = np.zeros_like(index)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint64)
    first = philox4x32_10(np.stack([low, high, zeros, zeros], axis=-1), key)
    second = philox4x32_10(np.stack([low, high, zeros + np.uint64(1), zeros], axis=-1), key)
    return np.concatenate([first, second], axis=-1)


def philox_exact_gumbel(seed: int, index: Any) -> np.ndarray:
    """Return, in float64, the fused kernels' exact-tail noise for the flat ``index``.

    :func:`exact_gumbel_from_words` of :func:`philox_words`; outside the sliver it equals
    :func:`philox_gumbel`.
    """
    return exact_gumbel_from_words(philox_words(seed, index))


SLIVER_START = _SLIVER_START
"""The first body grid index in the sliver: ``k0 >= 2**23 - 2**11``, ``u >= 1 - 2**-12``."""


def scripted_levels(count: int, seed: int = 7) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(level, words)`` for levels 0 (the body) .. 7: words decided on that level.

    ``count`` random grid indices of the level's range and its boundaries, each with random
    words wherever they do not matter (:func:`scripted_words`).
    """
    rng = np.random.default_rng(seed)
    for level in range(8):
        low = {0: 0, 7: 0}.get(level, 2**11)
        high = _SLIVER_START if level == 0 else 2**23
        k = np.concatenate([rng.integers(low, high, count), [low, low + 1, high - 2, high - 1]])
        yield level, scripted_words(level, k, rng)


def scripted_words(level: int, k: Any, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return eight words per grid index in ``k`` whose draw is decided on ``level``, at ``k``.

    Level 0 is the body (``k`` below ``2**23 - 2**11``), level ``L`` in 1..7 puts the body word
    in the sliver, levels ``1 .. L - 1`` in their slivers and ``x_L >> 9 = k`` (at least
    ``2**11`` below level 7). The words that do not matter are 0 and the sliver word the
    sliver's top, or, with ``rng``, random within those constraints (the low 9 bits included).
    """
    k = np.asarray(k, dtype=np.uint32)
    words = np.zeros((k.size, 8), dtype=np.uint32)
    if rng is not None:
        words[:] = rng.integers(0, 2**32, size=words.shape, dtype=np.uint32)
        low_bits = rng.integers(0, 2**9, size=words.shape, dtype=np.uint32)
        sliver = rng.integers(_SLIVER_START, 2**23, size=k.size, dtype=np.uint32)
        deep = rng.integers(0, _LEVEL_LEAVES, size=words.shape, dtype=np.uint32)
    else:
        low_bits = np.zeros(words.shape, dtype=np.uint32)
        sliver = np.full(k.size, 2**23 - 1, dtype=np.uint32)
        deep = np.zeros(words.shape, dtype=np.uint32)
    nine = np.uint32(9)
    if level == 0:
        words[:, 0] = (k << nine) | low_bits[:, 0]
        return words
    words[:, 0] = (sliver << nine) | low_bits[:, 0]
    words[:, 1:level] = (deep[:, 1:level] << nine) | low_bits[:, 1:level]
    words[:, level] = (k << nine) | low_bits[:, level]
    return words


def exact_tail_levels(noise_from_words: Callable[[np.ndarray], np.ndarray]) -> list[AtomLevel]:
    """Return the fused kernels' construction as atoms (``gumbelkit.conformance.tails``).

    ``noise_from_words`` maps ``(n, 8)`` uint32 words to the kernel's noise. The body's atoms
    are ``k`` in ``[0, 2**23 - 2**11)`` of mass ``2**-23``, increasing; level ``L`` holds ``k``
    in ``[2**11, 2**23)`` (all of ``[0, 2**23)`` on level 7) of mass ``2**-(23 + 12 L)``,
    decreasing (``V`` grows with ``k``).
    """
    levels = [AtomLevel(lambda k: noise_from_words(scripted_words(0, k)), 0, _SLIVER_START - 1,
                        2.0**-23, True)]
    for level in range(1, _DEPTH + 1):
        levels.append(AtomLevel(
            lambda k, level=level: noise_from_words(scripted_words(level, k)),
            0 if level == _DEPTH else _LEVEL_LEAVES, 2**23 - 1, 2.0 ** (-23 - 12 * level), False,
        ))
    return levels


def textbook_levels() -> list[AtomLevel]:
    """Return the textbook noise ``-log(-log u)`` in float32 on the kernels' grid, as atoms."""
    def noise(k: np.ndarray) -> np.ndarray:
        u = ((k.astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-23)).astype(np.float32)
        return -np.log(-np.log(u))

    return [AtomLevel(noise, 0, 2**23 - 1, 2.0**-23, True)]


# Logits with masked classes, and one temperature per row, for the gradients of filter_logits.
MASKED_ROWS = np.array([[0.5, -np.inf, 1.0, -0.3], [2.0, 0.0, -np.inf, -np.inf]])
ROW_TEMPERATURES = np.array([0.5, 2.0])


def tempered_sum_gradients(logits: np.ndarray, t: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the gradients of ``sum over finite entries of (logits - row max) / t``.

    In the logits: ``1 / t`` at each finite class but the maximum, minus their count over ``t``
    at the maximum, 0 at a masked class. In ``t`` (one per row): ``-sum(logits - max) / t**2``.
    """
    t = np.asarray(t, dtype=np.float64)
    rows = t[..., None] if t.ndim else t
    finite = np.isfinite(logits)
    is_max = logits == logits.max(axis=-1, keepdims=True)
    others = finite.sum(axis=-1, keepdims=True) - 1
    in_logits = np.where(finite, np.where(is_max, -others, 1.0), 0.0) / rows
    with np.errstate(invalid="ignore"):
        shifted = np.where(finite, logits - logits.max(axis=-1, keepdims=True), 0.0)
    return in_logits, -shifted.sum(axis=-1) / t**2
