"""The exact upper-tail law of a backend's Gumbel noise, computed from its construction.

gumbelkit's noise (docs/mathematics.md#the-upper-tail-and-rare-classes) takes uniforms on a
grid of spacing ``2**-m``: outside the sliver ``U >= 1 - 2**-s`` the noise is ``-log(-log U)``;
inside it, ``V = 1 - U`` is drawn afresh as ``2**-(s L) w`` on level ``L`` (``w`` a grid
complement, refined again while it falls in its own sliver, up to ``depth`` levels), and the
noise is ``-log(-log1p(-V))``. Every value is an atom of known weight, so ``P(G > t)`` is a
finite sum. This module evaluates it with the backend's own arithmetic: the body's transform is
the backend's ``gumbel_`` and the tail's is the core's ``gumbel_from_complement`` in the
backend's namespace, on arrays of grid points, so rounding is the implementation's. The number
of atoms above ``t`` on each level is found by bisection, which needs the transforms to be
monotone in the grid index (checked on every evaluation).

``depth=0`` gives the textbook construction, ``-log(-log U)`` on the grid alone.

:func:`atoms_tail_probability` does the same sum for any construction given as levels of atoms
with their transforms as callables (:class:`AtomLevel`): the fused kernels' tests evaluate the
kernels' own word-level transforms with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gumbelkit import _core
from gumbelkit.backends import Backend
from gumbelkit.testing import to_numpy

__all__ = [
    "AtomLevel",
    "atoms_tail_probability",
    "fraction_of_true_rate",
    "grid_bits",
    "tail_probability",
    "true_tail",
]


def true_tail(t: np.ndarray) -> np.ndarray:
    """Return the standard Gumbel law's ``P(G > t) = 1 - exp(-exp(-t))`` in float64."""
    return -np.expm1(-np.exp(-np.asarray(t, dtype=np.float64)))


def grid_bits(backend: Backend, dtype: Any, draws: int = 1 << 16, seed: int = 0) -> int:
    """Return ``m`` where the backend's uniforms of ``dtype`` are multiples of ``2**-m``.

    Found from ``draws`` uniforms: the largest number of binary places any of them needs
    (the smallest normal that stands for 0 aside).
    """
    u, _ = backend.uniform(backend.make_rng(seed, None), (draws,), dtype, None)
    values = to_numpy(u).astype(np.float64)
    values = values[values > 2.0**-60]  # the smallest normal stands for 0
    for m in range(1, 64):
        scaled = np.ldexp(values, m)
        if np.array_equal(scaled, np.floor(scaled)):
            return m
    raise ValueError("the uniforms are not on a dyadic grid of at most 63 bits")


class _Level:
    """One level of atoms: the grid indices ``[first, last]``, their weight and transform."""

    def __init__(self, backend: Backend, dtype: Any, m: int, *, body: bool, shift: int,
                 first: int, last: int, weight: float) -> None:
        self.backend, self.dtype, self.m = backend, dtype, m
        self.xp = backend.namespace(None)
        self.body, self.shift = body, shift
        self.first, self.last, self.weight = first, last, weight

    def noise(self, index: np.ndarray) -> np.ndarray:
        """Return the noise at the grid indices ``index`` (int64), computed by the backend."""
        xp = self.xp
        if self.body:
            # u = k 2**-m, with 0 lifted to the smallest normal as every adapter does.
            u = np.ldexp(index.astype(np.float64), -self.m)
            u = np.maximum(u, float(np.finfo(self._numpy_dtype()).smallest_normal))
            g = self.backend.gumbel_(xp.asarray(u.astype(self._numpy_dtype()), dtype=self.dtype))
        else:
            v = np.ldexp(index.astype(np.float64), -self.m - self.shift)
            g = _core.gumbel_from_complement(
                xp.asarray(v.astype(self._numpy_dtype()), dtype=self.dtype), xp
            )
        return to_numpy(g).astype(np.float64)

    def _numpy_dtype(self) -> type:
        return np.float64 if self.dtype == self.xp.float64 else np.float32

    def count_above(self, t: np.ndarray) -> np.ndarray:
        """Return, per ``t``, the number of this level's atoms whose noise exceeds ``t``."""
        # Body: noise increases with the index. Tail: noise decreases with the index.
        return _count_above(self.noise, self.first, self.last, self.body, t)


def _count_above(
    noise: Callable[[np.ndarray], np.ndarray], first: int, last: int, increasing: bool,
    t: np.ndarray, seen: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Return, per ``t``, how many indices in ``[first, last]`` have ``noise(index) > t``.

    Bisection, one vectorised call of ``noise`` per step for all of ``t``: for an increasing
    ``noise`` it finds the first index above ``t``, for a decreasing one the last. Every
    evaluated ``(index, noise)`` pair is appended to ``seen`` where given.
    """
    low = np.full(t.shape, first - 1, dtype=np.int64)
    high = np.full(t.shape, last + 1, dtype=np.int64)
    while np.any(high - low > 1):
        mid = low + (high - low) // 2
        inside = (high - low > 1)
        index = np.clip(mid, first, last)
        values = noise(index)
        if seen is not None:
            seen.append((index, values))
        above = values > t
        if increasing:
            high = np.where(inside & above, mid, high)
            low = np.where(inside & ~above, mid, low)
        else:
            low = np.where(inside & above, mid, low)
            high = np.where(inside & ~above, mid, high)
    if increasing:
        return last + 1 - high
    return low - (first - 1)


@dataclass(frozen=True)
class AtomLevel:
    """Atoms of a construction: one per grid index in ``[first, last]``, each of mass ``weight``.

    ``noise`` maps an int64 array of indices to the noise of those atoms (any float array),
    with the implementation's own arithmetic; it must be monotone in the index, increasing
    where ``increasing`` and decreasing otherwise.
    """

    noise: Callable[[np.ndarray], np.ndarray]
    first: int
    last: int
    weight: float
    increasing: bool


def atoms_tail_probability(levels: Sequence[AtomLevel], t: np.ndarray) -> np.ndarray:
    """Return ``P(G > t)`` of a construction given as levels of atoms, exactly.

    The generalisation of :func:`tail_probability` to any transform: per level, the atoms above
    ``t`` are counted by bisection and weighted (float64 sums). The bisection needs each level's
    noise to be monotone in the index: it is checked on every point evaluated (the ends of each
    level included), and a violation raises.

    Parameters
    ----------
    levels : sequence of AtomLevel
        The construction's atoms; their weights should sum to 1.
    t : numpy.ndarray
        Thresholds.

    Returns
    -------
    numpy.ndarray
        ``P(G > t)`` per threshold, in float64.

    Raises
    ------
    ValueError
        Where a level's noise is not monotone on the points evaluated.

    """
    t = np.asarray(t, dtype=np.float64)
    total = np.zeros(t.shape)
    for number, level in enumerate(levels):
        ends = np.array([level.first, level.last], dtype=np.int64)
        seen = [(ends, np.asarray(level.noise(ends), dtype=np.float64))]
        count = _count_above(level.noise, level.first, level.last, level.increasing, t, seen)
        index = np.concatenate([i for i, _ in seen])
        values = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in seen])
        order = np.argsort(index, kind="stable")
        steps = np.diff(values[order]) * (1.0 if level.increasing else -1.0)
        if not (np.all(steps >= 0.0) and np.all(np.isfinite(values))):
            raise ValueError(f"level {number}'s noise is not monotone (or not finite) in the index")
        total += level.weight * count
    return total


def _levels(backend: Backend, dtype: Any, m: int, s: int, depth: int) -> list[_Level]:
    if depth == 0:
        return [_Level(backend, dtype, m, body=True, shift=0, first=0, last=2**m - 1,
                       weight=2.0**-m)]
    levels = [_Level(backend, dtype, m, body=True, shift=0, first=0,
                     last=2**m - 2 ** (m - s) - 1, weight=2.0**-m)]
    for level in range(1, depth + 1):
        # Level L holds V = 2**-(s L) j 2**-m; below the deepest level, j <= 2**(m - s) goes
        # a level deeper.
        first = 1 if level == depth else 2 ** (m - s) + 1
        levels.append(_Level(backend, dtype, m, body=False, shift=s * level, first=first,
                             last=2**m, weight=2.0 ** (-m - s * level)))
    return levels


def tail_probability(
    backend: Backend, dtype: Any, t: np.ndarray, *, m: int, s: int, depth: int
) -> np.ndarray:
    """Return ``P(G > t)`` of the construction, exactly (float64 sums of atom weights).

    Parameters
    ----------
    backend : Backend
        The resolved backend whose arithmetic computes the noise.
    dtype : dtype
        The compute dtype (the backend's float32 or float64).
    t : numpy.ndarray
        Thresholds.
    m : int
        The uniform grid's bits (:func:`grid_bits`).
    s : int
        The sliver's bits.
    depth : int
        The refinement's depth; 0 for the textbook construction.

    Returns
    -------
    numpy.ndarray
        ``P(G > t)`` per threshold, in float64.

    """
    t = np.asarray(t, dtype=np.float64)
    total = np.zeros(t.shape)
    for level in _levels(backend, dtype, m, s, depth):
        total += level.weight * level.count_above(t)
    return total


def fraction_of_true_rate(
    backend: Backend, dtype: Any, d: float, *, m: int, s: int, depth: int, bin_width: float = 1e-4
) -> tuple[float, float]:
    """Return bounds on ``P(G_1 - G_0 > d) (1 + e**d)``: a class ``d`` nats below the other's rate.

    Two classes, ``G_0`` and ``G_1`` independent draws of the construction; the true rate is
    ``1 / (1 + e**d)``. ``P = E[T(d + G_0)]`` with ``T`` the exact tail: ``G_0``'s body atoms are
    grouped into bins of width ``bin_width`` in the noise, within which the decreasing ``T`` is
    bounded by its values at the bin's edges; the sliver's mass (``G_0`` above the body) adds
    between 0 and ``2**-s T(d + top)``. The two bounds differ by about ``bin_width``
    relatively.

    Returns
    -------
    tuple of float
        The lower and upper bound of the fraction.

    """
    body = _levels(backend, dtype, m, s, depth)[0]
    low_g = body.noise(np.array([body.first]))[0]
    high_g = body.noise(np.array([body.last]))[0]
    edges = np.arange(low_g, high_g + bin_width, bin_width)
    edges = np.concatenate([edges, [math.nextafter(high_g, math.inf)]])
    # Atoms with noise below each edge: the body's atoms not above it.
    below = (body.last + 1 - body.first) - body.count_above(np.nextafter(edges, -np.inf))
    in_bin = np.diff(below) * body.weight
    tail_at_edges = tail_probability(backend, dtype, d + edges, m=m, s=s, depth=depth)
    lower = float(np.sum(in_bin * tail_at_edges[1:]))
    upper = float(np.sum(in_bin * tail_at_edges[:-1]))
    if depth:
        sliver = 2.0**-s * float(tail_probability(backend, dtype, np.array([d + high_g]),
                                                  m=m, s=s, depth=depth)[0])
        upper += sliver
    rate = 1.0 / (1.0 + math.exp(d))
    return lower / rate, upper / rate
