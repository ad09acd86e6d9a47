"""Mollification of plain functions: the mathematics the landscape instruments rest on.

A stochastic policy replaces f by its mollification f_σ(x) = E_{ε~K}[f(x + σε)]. For the Gaussian
kernel u(μ, t) = f_√t(μ) solves the heat equation u_t = ½ u_μμ (t = σ² is time), so shrinking σ
runs heat backwards, which is ill-posed, and the Gaussian's uncertainty product fixes how finely a
mollifier can resolve a narrow optimum. This module computes each of these on ordinary functions,
with closed forms beside them, so the claims can be checked before they are used on returns.

Quadrature, finite differences and FFTs are in numpy float64; only the Monte-Carlo draws come from
JAX (float32, cast to float64), so that a seed means the same draws here as in the rollouts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtr

from mollify.core.noise import NoiseError, check_kernel, check_sigma, sample

__all__ = [
    "HEISENBERG_BOUND",
    "BackwardHeatResult",
    "backward_heat",
    "backward_heat_amplification",
    "forward_heat",
    "gaussian_smoothed_sine",
    "gaussian_transform_variances",
    "heat_residual",
    "heat_solution",
    "heat_time_derivative",
    "heisenberg_product",
    "smooth",
    "smoothed_box",
    "smoothed_gaussian_bump",
]

HEISENBERG_BOUND = 0.5
"""Lower bound on Δx·Δξ (spreads of |g|² and |ĝ|², ξ in radians per unit); Gaussians attain it."""

_MAX_ROWS = 2**20  # rows per call of f: bounds the memory of one batch
_REL_FLOOR = 1e-8  # a frequency is valid when its estimated rounding error is below this fraction

ArrayFn = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------
# Monte-Carlo mollification


def _eval_rows(f: ArrayFn, rows: np.ndarray) -> np.ndarray:
    """Call f on at most _MAX_ROWS rows at a time and check it returns one value per row."""
    out = [np.empty(0)]
    for start in range(0, rows.shape[0], _MAX_ROWS):
        chunk = rows[start : start + _MAX_ROWS]
        vals = np.asarray(f(chunk), dtype=np.float64)
        if vals.shape != (chunk.shape[0],):
            raise ValueError(
                f"f: expected f to map a batch of shape {chunk.shape} to ({chunk.shape[0]},), "
                f"got shape {vals.shape}"
            )
        out.append(vals)
    return np.concatenate(out)


def _check_n_samples(n_samples: int, antithetic: bool) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise ValueError(f"n_samples: must be an integer, got {n_samples!r}")
    if antithetic and (n_samples < 2 or n_samples % 2):
        raise ValueError(f"n_samples: must be even and >= 2 with antithetic=True, got {n_samples}")
    if n_samples < 1:
        raise ValueError(f"n_samples: must be >= 1, got {n_samples}")


def _draws(kernel: str, n_samples: int, d: int, seed: int, antithetic: bool) -> np.ndarray:
    """The ε draws of shape (n_samples, d): one PRNG key per seed, antithetic pairs if asked."""
    n_draw = n_samples // 2 if antithetic else n_samples
    eps = np.asarray(sample(jax.random.PRNGKey(seed), kernel, (n_draw, d)), dtype=np.float64)
    return np.concatenate([eps, -eps]) if antithetic else eps


def smooth(
    f: ArrayFn,
    x,
    sigma,
    *,
    kernel: str = "gaussian",
    n_samples: int = 1024,
    seed: int = 0,
    antithetic: bool = True,
) -> np.ndarray:
    """Monte-Carlo f_σ(x) = E_{ε~K}[f(x + σε)], with the same ε at every point x.

    `f` maps a float64 batch (N, d) to (N,); `x` is (d,) or (M, d); the result is a float64 array
    of shape () or (M,). `sigma` is one number or one per dimension. Common random numbers (one
    set of draws, fixed by `seed`, shared by all M points) make differences between points free of
    sampling noise. With `antithetic`, n_samples/2 draws are used with their negatives, so odd parts
    of f around x cancel exactly. σ = 0 returns f(x) itself, from a single call.
    """
    check_kernel(kernel)
    _check_n_samples(n_samples, antithetic)
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim not in (1, 2) or x_arr.shape[-1] == 0:
        raise ValueError(f"x: expected shape (d,) or (M, d), got {x_arr.shape}")
    points = np.atleast_2d(x_arr)
    m, d = points.shape
    sig = check_sigma(sigma, d)
    if not np.all(np.isfinite(points)):
        raise ValueError(f"x: must be finite, got {_first(points, ~np.isfinite(points))}")

    if np.all(sig == 0.0):
        values = _eval_rows(f, points)
    else:
        eps = sig * _draws(kernel, n_samples, d, seed, antithetic)  # (n, d)
        n = eps.shape[0]
        block = max(1, _MAX_ROWS // n)  # points per batch: M*n rows never built at once
        values = np.empty(m)
        for start in range(0, m, block):
            pts = points[start : start + block]
            rows = (pts[:, None, :] + eps[None, :, :]).reshape(-1, d)
            values[start : start + block] = _eval_rows(f, rows).reshape(pts.shape[0], n).mean(1)
    return values[0, ...] if x_arr.ndim == 1 else values  # 0-d array for one point


# ---------------------------------------------------------------------------------------------
# Heat equation


def _grid(name: str, arr, *, min_len: int = 1, nonneg: bool = False) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 1 or a.shape[0] < min_len:
        raise ValueError(f"{name}: expected a 1-D grid of at least {min_len} points, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: must be finite, got {_first(a, ~np.isfinite(a))}")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name}: must be >= 0 (t = σ² is a variance), got {_first(a, a < 0)}")
    return a


def _first(a: np.ndarray, bad: np.ndarray) -> str:
    """The first offending entry of `a`, for an error message."""
    return f"{a[bad].ravel()[0]:g}"


def _check_increasing(name: str, a: np.ndarray) -> None:
    bad = np.nonzero(np.diff(a) <= 0)[0]
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"{name}: must be strictly increasing, got {a[i + 1]:g} after {a[i]:g} (index {i + 1})"
        )


def heat_solution(f: ArrayFn, mu, t, *, n_nodes: int = 64) -> np.ndarray:
    """u(μ, t) = E_{a~N(μ, t)}[f(a)] on a (t, μ) grid by Gauss–Hermite quadrature; shape (T, P).

    `f` maps a 1-D float64 array of points (N,) to values (N,) (wrap a batch function of `smooth`
    as ``lambda a: g(a[:, None])``). The rule is exact for polynomials of degree < 2·n_nodes and
    converges spectrally for smooth f, but only slowly (errors of a few percent) at jumps. Rows
    with t = 0 are f(μ) exactly.
    """
    mu = _grid("mu", mu)
    t = _grid("t", t, nonneg=True)
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 1:
        raise ValueError(f"n_nodes: must be a positive integer, got {n_nodes!r}")
    nodes, weights = hermegauss(int(n_nodes))
    weights = weights / np.sqrt(2.0 * np.pi)  # probabilists' weight e^{-z²/2} → N(0, 1)

    def call(points: np.ndarray) -> np.ndarray:
        vals = np.asarray(f(points), dtype=np.float64)
        if vals.shape != points.shape:
            raise ValueError(
                f"f: expected f to map points of shape {points.shape} to the same shape, "
                f"got {vals.shape}"
            )
        return vals

    u = np.empty((t.shape[0], mu.shape[0]))
    zero = t == 0.0
    if np.any(zero):
        u[zero] = call(mu)
    pos = np.flatnonzero(~zero)
    if pos.size:
        per_t = mu.shape[0] * nodes.shape[0]
        block = max(1, _MAX_ROWS // per_t)
        for start in range(0, pos.size, block):
            idx = pos[start : start + block]
            a = mu[None, :, None] + np.sqrt(t[idx])[:, None, None] * nodes[None, None, :]
            vals = call(a.ravel()).reshape(a.shape)
            u[idx] = vals @ weights
    return u


def _check_field(u, mu, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = _grid("mu", mu, min_len=3)
    t = _grid("t", t, min_len=3, nonneg=True)
    _check_increasing("mu", mu)
    _check_increasing("t", t)
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (t.shape[0], mu.shape[0]):
        raise ValueError(f"u: expected shape (len(t), len(mu)) = {(t.shape[0], mu.shape[0])}")
    return u, mu, t


def heat_time_derivative(u, mu, t) -> np.ndarray:
    """u_t by second-order central differences (non-uniform t allowed), interior only: (T-2, P-2).

    The scale against which `heat_residual` should be read.
    """
    u, mu, t = _check_field(u, mu, t)
    return np.gradient(u, t, axis=0)[1:-1, 1:-1]


def heat_residual(u, mu, t) -> np.ndarray:
    """u_t − ½ u_μμ by finite differences on the grid interior, shape (T-2, P-2).

    Near zero (relative to `heat_time_derivative`) when u solves the heat equation. u_t uses
    np.gradient in t; u_μμ the three-point rule 2[h₋u₊ − (h₋+h₊)u₀ + h₊u₋]/(h₋h₊(h₋+h₊)), exact for
    quadratics and second-order on uniform or smoothly graded μ grids. Both grids strictly increase.
    """
    u, mu, t = _check_field(u, mu, t)
    u_t = np.gradient(u, t, axis=0)[1:-1, 1:-1]
    hm = np.diff(mu)[:-1]  # μ_i − μ_{i−1}
    hp = np.diff(mu)[1:]  # μ_{i+1} − μ_i
    core = u[1:-1]
    u_mm = 2.0 * (hm * core[:, 2:] - (hm + hp) * core[:, 1:-1] + hp * core[:, :-2])
    u_mm /= hm * hp * (hm + hp)
    return u_t - 0.5 * u_mm


# ---------------------------------------------------------------------------------------------
# Backward heat on a periodic grid


def _periodic(u, T, dx) -> tuple[np.ndarray, float, float, np.ndarray]:
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 1 or u.shape[0] < 2:
        raise ValueError(f"u: expected a 1-D periodic profile of at least 2 points, got {u.shape}")
    if not np.isfinite(T) or T < 0:
        raise ValueError(f"T: must be finite and >= 0, got {T!r}")
    if not np.isfinite(dx) or dx <= 0:
        raise ValueError(f"dx: must be finite and > 0, got {dx!r}")
    xi = 2.0 * np.pi * np.fft.rfftfreq(u.shape[0], dx)  # angular frequency
    return u, float(T), float(dx), xi


def forward_heat(u0, T: float, dx: float) -> np.ndarray:
    """Exact periodic heat flow to time T: multiply frequency ξ by e^{−Tξ²/2}."""
    u0, T, dx, xi = _periodic(u0, T, dx)
    return np.fft.irfft(np.fft.rfft(u0) * np.exp(-0.5 * T * xi**2), n=u0.shape[0])


def backward_heat(u_T, T: float, dx: float) -> np.ndarray:
    """Undo periodic heat flow of duration T: multiply frequency ξ by e^{+Tξ²/2}.

    Ill-posed: anything at frequency ξ in u_T, rounding included, grows by e^{Tξ²/2}. Where that
    overflows the result is non-finite, which is the honest answer, so no warning is raised.
    """
    u_T, T, dx, xi = _periodic(u_T, T, dx)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.fft.irfft(np.fft.rfft(u_T) * np.exp(0.5 * T * xi**2), n=u_T.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class BackwardHeatResult:
    """Per-frequency amplification of a perturbation by backward heat, measured and predicted.

    `valid` marks frequencies whose measurement stands above float64 rounding (see
    `backward_heat_amplification`); compare `measured` with `predicted` only there.
    """

    xi: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    valid: np.ndarray
    T: float
    delta: float

    def max_relative_error(self) -> float:
        """max |measured/predicted − 1| over the valid frequencies (nan if none is valid)."""
        if not np.any(self.valid):
            return float("nan")
        return float(np.max(np.abs(self.measured[self.valid] / self.predicted[self.valid] - 1)))


def backward_heat_amplification(
    u0, T: float, dx: float, delta: float, *, seed: int = 0
) -> BackwardHeatResult:
    """Measure how backward heat amplifies a perturbation of RMS δ added at time T.

    u0 (periodic, spacing dx) is evolved exactly to time T, white Gaussian noise rescaled to RMS
    exactly δ (numpy default_rng(seed)) is added, and `backward_heat` inverts. Measured
    amplification is |FFT(recovered − u0)| / |FFT(noise)| per frequency, predicted e^{Tξ²/2}.

    A frequency is valid when everything is finite and a first-order estimate of its float64
    rounding error, eps·log₂n·(e^{Tξ²/2}(‖u0‖ + ‖u_T + noise‖) + ‖recovered‖ + ‖u0‖), is below 1e-8
    of the signal e^{Tξ²/2}|FFT(noise)|. The ‖recovered‖ term is why a large T·ξ_max² leaves only
    the top frequencies valid: in real space they swamp the others, whose share is lost to rounding.
    Past e^{Tξ_max²/2} ≈ 1e308 the inversion overflows and nothing is valid.
    """
    u0, T, dx, xi = _periodic(u0, T, dx)
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta: must be finite and > 0, got {delta!r}")
    n = u0.shape[0]
    z = np.random.default_rng(seed).standard_normal(n)
    noise = z * (delta / np.sqrt(np.mean(z**2)))
    u_T = forward_heat(u0, T, dx) + noise
    recovered = backward_heat(u_T, T, dx)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        predicted = np.exp(0.5 * T * xi**2)
        noise_hat = np.abs(np.fft.rfft(noise))
        measured = np.abs(np.fft.rfft(recovered - u0)) / noise_hat
        eps = np.finfo(np.float64).eps * max(1.0, np.log2(n))
        norm = np.linalg.norm
        rounding = eps * (predicted * (norm(u0) + norm(u_T)) + norm(recovered) + norm(u0))
        valid = (
            np.isfinite(measured)
            & np.isfinite(rounding)
            & (rounding < _REL_FLOOR * predicted * noise_hat)
        )
    return BackwardHeatResult(
        xi=xi, measured=measured, predicted=predicted, valid=valid, T=T, delta=float(delta)
    )


# ---------------------------------------------------------------------------------------------
# Uncertainty principle


def _gaussian_on_grid(sigma: float, n: int, extent: float | None):
    if not np.isfinite(sigma) or sigma <= 0:
        raise NoiseError(f"sigma: must be finite and > 0, got {sigma!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 16:
        raise ValueError(f"n: must be an integer >= 16, got {n!r}")
    extent = 40.0 * sigma if extent is None else float(extent)
    if not np.isfinite(extent) or extent <= 0:
        raise ValueError(f"extent: must be finite and > 0, got {extent!r}")
    dx = extent / n
    x = (np.arange(n) - n // 2) * dx
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g_hat = np.fft.fft(np.fft.ifftshift(g)) * dx  # continuous transform up to a phase
    xi = 2.0 * np.pi * np.fft.fftfreq(n, dx)
    return x, g, xi, g_hat


def _spread(coord: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Mean and variance of `coord` under the (unnormalised, non-negative) density `weight`."""
    p = weight / weight.sum()
    mean = float(p @ coord)
    return mean, float(p @ (coord - mean) ** 2)


def heisenberg_product(
    sigma: float, *, n: int = 4096, extent: float | None = None
) -> tuple[float, float, float]:
    """Spreads of a Gaussian g(x) = e^{−x²/(2σ²)} and its transform, computed on a grid.

    Δx is the standard deviation of |g(x)|² (normalised) and Δξ that of |ĝ(ξ)|², with ξ the angular
    frequency (ĝ(ξ) = ∫ g(x) e^{−iξx} dx, by FFT). Returns (Δx, Δξ, Δx·Δξ); exactly Δx = σ/√2,
    Δξ = 1/(σ√2) and the product is HEISENBERG_BOUND = ½, the least any function can have. The
    grid spans `extent` (default 40σ) with n points, fine enough that both tails are resolved.
    """
    x, g, xi, g_hat = _gaussian_on_grid(sigma, n, extent)
    _, var_x = _spread(x, g**2)
    _, var_xi = _spread(xi, np.abs(g_hat) ** 2)
    dx_, dxi = np.sqrt(var_x), np.sqrt(var_xi)
    return float(dx_), float(dxi), float(dx_ * dxi)


def gaussian_transform_variances(
    sigma: float, *, n: int = 4096, extent: float | None = None
) -> tuple[float, float]:
    """Variances of g and of |ĝ| taken as densities themselves (not squared), computed on a grid.

    For g of variance σ² the transform ĝ(ξ) ∝ e^{−σ²ξ²/2} has variance 1/σ²: the wider the
    mollifier in θ, the narrower the band of frequencies it keeps. Returns (≈σ², ≈1/σ²).
    """
    x, g, xi, g_hat = _gaussian_on_grid(sigma, n, extent)
    return _spread(x, g)[1], _spread(xi, np.abs(g_hat))[1]


# ---------------------------------------------------------------------------------------------
# Closed forms of Gaussian smoothing (= heat solutions at t = σ²)


def gaussian_smoothed_sine(x, k: float, sigma: float) -> np.ndarray:
    """E[sin(k(x + σε))], ε ~ N(0, 1), = e^{−σ²k²/2} sin(kx): frequency k decays like e^{−σ²k²/2}."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * (sigma * k) ** 2) * np.sin(k * x)


def smoothed_box(x, a: float, b: float, sigma: float) -> np.ndarray:
    """E[1{a ≤ x + σε ≤ b}], ε ~ N(0, 1), = Φ((b−x)/σ) − Φ((a−x)/σ); σ = 0 gives the indicator."""
    x = np.asarray(x, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        smoothed = ndtr((b - x) / sigma) - ndtr((a - x) / sigma)
    return np.where(sigma == 0, ((x >= a) & (x <= b)).astype(np.float64), smoothed)


def smoothed_gaussian_bump(x, s: float, sigma: float) -> np.ndarray:
    """E[e^{−(x+σε)²/(2s²)}], ε ~ N(0, 1), = s/√(s²+σ²) · e^{−x²/(2(s²+σ²))}: variances add."""
    x = np.asarray(x, dtype=np.float64)
    v = s**2 + sigma**2
    return s / np.sqrt(v) * np.exp(-0.5 * x**2 / v)
