"""Elementwise mathematics that more than one family uses, written against the array API.

A sigmoid that never overflows, a logarithm of a float or an array, and the pinning of a CDF or
a quantile to its end values.
"""

from __future__ import annotations

import math

from gumbelkit._typing import Array, Namespace


def _sigmoid(t: Array, xp: Namespace) -> Array:
    """Return ``1 / (1 + exp(-t))`` without overflow: ``exp(-|t|)`` is at most 1."""
    e = xp.exp(-xp.abs(t))
    return xp.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log(value: float | Array, xp: Namespace) -> float | Array:
    """``log`` of a Python float (exactly, in double precision) or of an array."""
    return math.log(value) if isinstance(value, float) else xp.log(value)


def _pin_ends(values: Array, at_zero: Array, at_one: Array, xp: Namespace) -> Array:
    """Return ``values`` with 0 where ``at_zero`` and 1 where ``at_one`` (1 wins where both)."""
    values = xp.where(at_zero, xp.zeros_like(values), values)
    return xp.where(at_one, xp.ones_like(values), values)
