"""Transcendental functions evaluated with the C math library, one value at a time.

numpy dispatches ``sin``, ``cos``, ``exp`` and ``log`` on arrays to SIMD code that depends on the CPU (AVX2,
AVX-512...), and the last bit of the result can differ between machines. The generator promises byte-identical
files for a seed (checked against committed checksums), so everything that feeds its outputs uses these
instead. They are only ever applied to short 1-d arrays (tables, ramps), so the Python loop is cheap.
"""

from __future__ import annotations

import math

import numpy as np


def _apply(function, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    flat = np.fromiter(map(function, values.ravel().tolist()), dtype=np.float64, count=values.size)
    return flat.reshape(values.shape)


def sin(values) -> np.ndarray:
    """Element-wise sine (radians), float64."""
    return _apply(math.sin, values)


def cos(values) -> np.ndarray:
    """Element-wise cosine (radians), float64."""
    return _apply(math.cos, values)


def exp(values) -> np.ndarray:
    """Element-wise exponential, float64."""
    return _apply(math.exp, values)
