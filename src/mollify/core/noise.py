"""Exploration-noise kernels: zero mean, unit variance per action dimension, scaled by σ.

σ is relative to the action half-range (σ = 1 means noise std equal to half the box), either one
number or one per action dimension. σ = 0 is the deterministic policy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

KERNELS = ("gaussian", "uniform", "laplace")


class NoiseError(ValueError):
    """Bad σ or kernel; the CLI turns it into a one-line message and exit code 2."""


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        from mollify.util.checks import did_you_mean

        hint = did_you_mean(kernel, KERNELS)
        raise NoiseError(
            f"kernel: unknown kernel {kernel!r}{hint}; choose from {', '.join(KERNELS)}"
        )
    return kernel


def check_sigma(sigma: float | Sequence[float] | np.ndarray, action_dim: int) -> np.ndarray:
    """Validate σ and broadcast it to one value per action dimension."""
    arr = np.asarray(sigma, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, action_dim)):
        raise NoiseError(
            f"sigma: expected one value or {action_dim} (one per action dimension), got shape "
            f"{arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise NoiseError(f"sigma: must be finite, got {sigma!r}")
    if np.any(arr < 0):
        raise NoiseError(f"sigma: must be >= 0, got {sigma!r}")
    return np.broadcast_to(arr, (action_dim,)).copy()


def sample(key: jax.Array, kernel: str, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Draw zero-mean, unit-variance noise of the named kernel."""
    if kernel == "gaussian":
        return jax.random.normal(key, shape, dtype)
    if kernel == "uniform":
        half_width = math.sqrt(3.0)  # U[-√3, √3] has variance 1
        return jax.random.uniform(key, shape, dtype, minval=-half_width, maxval=half_width)
    if kernel == "laplace":
        return jax.random.laplace(key, shape, dtype) / math.sqrt(2.0)  # Laplace(b) var = 2b²
    check_kernel(kernel)
    raise AssertionError("unreachable")
