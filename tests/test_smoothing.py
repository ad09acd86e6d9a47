"""Mollification, heat equation, backward heat and uncertainty checked against closed forms.

Monte-Carlo tolerances are 5 standard errors computed from the kernel's known moments; with
antithetic pairs the odd part of f cancels, so only the even part's variance over n/2 pairs counts.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from mollify.core.noise import NoiseError
from mollify.instruments import smoothing
from mollify.instruments.smoothing import (
    HEISENBERG_BOUND,
    backward_heat,
    backward_heat_amplification,
    forward_heat,
    gaussian_smoothed_sine,
    gaussian_transform_variances,
    heat_residual,
    heat_solution,
    heat_time_derivative,
    heisenberg_product,
    smooth,
    smoothed_box,
    smoothed_gaussian_bump,
)

N = 20000  # samples per point: 10000 antithetic pairs
PAIRS = N // 2
VAR_EPS2 = {"gaussian": 2.0, "uniform": 4.0 / 5.0, "laplace": 5.0}  # Var(ε²) at unit variance


def square(a):
    return np.sum(a**2, axis=1)


# ---------------------------------------------------------------------------------------------
# smooth


@pytest.mark.parametrize("kernel", ["gaussian", "uniform", "laplace"])
def test_smooth_quadratic_adds_variance(kernel):
    sigma = 0.7
    x = np.linspace(-2.0, 2.0, 5)[:, None]
    est = smooth(square, x, sigma, kernel=kernel, n_samples=N, seed=1)
    assert est.shape == (5,) and est.dtype == np.float64
    se = sigma**2 * np.sqrt(VAR_EPS2[kernel] / PAIRS)
    np.testing.assert_allclose(est, x[:, 0] ** 2 + sigma**2, atol=5 * se)


def test_smooth_quadratic_without_antithetic():
    sigma, x = 0.7, np.array([[1.5], [-0.5]])
    est = smooth(square, x, sigma, n_samples=N, seed=2, antithetic=False)
    se = np.sqrt(4 * x[:, 0] ** 2 * sigma**2 + 2 * sigma**4) / np.sqrt(N)
    assert np.all(np.abs(est - (x[:, 0] ** 2 + sigma**2)) < 5 * se)


def test_smooth_sum_of_squares_in_three_dimensions():
    x = np.array([0.3, -1.0, 2.0])
    est = smooth(square, x, 0.5, n_samples=N, seed=3)
    assert est.shape == ()
    se = np.sqrt(3 * 2 * 0.5**4 / PAIRS)
    assert abs(est - (x @ x + 3 * 0.5**2)) < 5 * se

    sig = np.array([0.1, 0.5, 1.0])  # per-dimension σ: E|x + σε|² = |x|² + Σσᵢ²
    est = smooth(square, x, sig, n_samples=N, seed=3)
    se = np.sqrt(2 * np.sum(sig**4) / PAIRS)
    assert abs(est - (x @ x + np.sum(sig**2))) < 5 * se


def test_smooth_sine_decays_like_gaussian_spectrum():
    k, sigma = 3.0, 0.4
    x = np.linspace(-1.0, 1.0, 7)[:, None]
    est = smooth(lambda a: np.sin(k * a[:, 0]), x, sigma, n_samples=N, seed=4)
    a = (k * sigma) ** 2
    pair_var = (1 + np.exp(-2 * a)) / 2 - np.exp(-a)  # Var cos(kσε); pair mean is sin(kx)cos(kσε)
    np.testing.assert_allclose(
        est, gaussian_smoothed_sine(x[:, 0], k, sigma), atol=5 * np.sqrt(pair_var / PAIRS)
    )
    assert np.max(np.abs(est)) < 0.6  # damped by e^{-0.72} ≈ 0.49, not left at amplitude 1


def test_smooth_box_is_difference_of_normal_cdfs():
    lo, hi, sigma = -1.0, 0.5, 0.3
    x = np.linspace(-1.5, 1.0, 6)[:, None]
    est = smooth(lambda a: ((a[:, 0] >= lo) & (a[:, 0] <= hi)).astype(float), x, sigma, n_samples=N)
    p = smoothed_box(x[:, 0], lo, hi, sigma)
    se = np.sqrt(p * (1 - p) / PAIRS) + 1e-12  # a pair's mean varies no more than one draw
    assert np.all(np.abs(est - p) < 5 * se)


def test_antithetic_cancels_odd_part_exactly():
    x0 = 1.3
    odd = lambda a: (a[:, 0] - x0) ** 3  # noqa: E731
    assert abs(smooth(odd, np.array([x0]), 0.5)) < 1e-12
    assert abs(smooth(odd, np.array([x0]), 0.5, antithetic=False)) > 1e-4


def test_common_random_numbers_and_seeds():
    x = np.linspace(-3, 3, 9)[:, None]
    est = smooth(square, x, 0.8, n_samples=64, seed=7)
    # Same ε at every point: the error σ²(mean ε² − 1) is the same everywhere.
    err = est - x[:, 0] ** 2
    np.testing.assert_allclose(err, err[0], atol=1e-12)
    assert abs(err[0] - 0.64) > 1e-6  # 64 samples: a visible, shared error

    again = smooth(square, x, 0.8, n_samples=64, seed=7)
    np.testing.assert_array_equal(est, again)
    other = smooth(square, x, 0.8, n_samples=64, seed=8)
    assert not np.allclose(est, other)


def test_sigma_zero_returns_f_exactly():
    calls = []

    def f(a):
        calls.append(a.shape)
        return np.sin(a[:, 0]) * np.exp(a[:, 1]) / 3.0

    x = np.array([[0.1, 0.2], [1.7, -0.3], [-2.2, 0.9]])
    np.testing.assert_array_equal(smooth(f, x, 0.0), f(x))
    np.testing.assert_array_equal(smooth(f, x, [0.0, 0.0]), f(x))
    assert calls[0] == (3, 2)  # one call, no samples
    assert smooth(f, x[0], 0.0) == f(x[:1])[0]


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, [0.1, 0.2, 0.3]])
def test_bad_sigma_raises(bad):
    with pytest.raises(NoiseError, match="sigma"):
        smooth(square, np.zeros(2), bad)


def test_bad_arguments_raise():
    with pytest.raises(NoiseError, match="kernel"):
        smooth(square, np.zeros(2), 0.1, kernel="gausian")
    with pytest.raises(ValueError, match="n_samples"):
        smooth(square, np.zeros(2), 0.1, n_samples=11)
    assert np.isfinite(smooth(square, np.zeros(2), 0.1, n_samples=11, antithetic=False))
    with pytest.raises(ValueError, match="x"):
        smooth(square, np.zeros((2, 2, 2)), 0.1)
    with pytest.raises(ValueError, match="f"):
        smooth(lambda a: a, np.zeros(2), 0.1)


def test_chunked_evaluation_matches_single_batch(monkeypatch):
    x = np.linspace(-1, 1, 10)[:, None] * np.ones(2)
    whole = smooth(square, x, 0.3, n_samples=512)
    calls = []

    def f(a):
        calls.append(a.shape[0])
        return square(a)

    monkeypatch.setattr(smoothing, "_MAX_ROWS", 300)  # fewer rows than one point's samples
    np.testing.assert_array_equal(smooth(f, x, 0.3, n_samples=512), whole)
    assert max(calls) <= 300 and sum(calls) == 10 * 512


def test_smooth_accepts_jax_functions():
    est = smooth(lambda a: jnp.sum(a**2, axis=1), np.array([1.0, 2.0]), 0.5, n_samples=N)
    assert isinstance(est, np.ndarray) and est.shape == ()
    assert abs(est - 5.5) < 5 * np.sqrt(2 * 2 * 0.5**4 / PAIRS) + 1e-5  # f runs in float32


# ---------------------------------------------------------------------------------------------
# heat_solution


MU = np.linspace(-3.0, 3.0, 61)
T_GRID = np.array([0.0, 0.01, 0.1, 0.5, 1.0, 2.0])


def test_heat_solution_of_polynomials_is_exact():
    u2 = heat_solution(lambda a: a**2, MU, T_GRID)
    assert u2.shape == (T_GRID.size, MU.size)
    np.testing.assert_allclose(u2, MU**2 + T_GRID[:, None], rtol=1e-12, atol=1e-12)
    u4 = heat_solution(lambda a: a**4, MU, T_GRID)
    t = T_GRID[:, None]
    np.testing.assert_allclose(u4, MU**4 + 6 * MU**2 * t + 3 * t**2, rtol=1e-12, atol=1e-12)


def test_heat_solution_of_sine_and_bump():
    k = 2.0
    u = heat_solution(lambda a: np.sin(k * a), MU, T_GRID)
    expect = gaussian_smoothed_sine(MU, k, np.sqrt(T_GRID)[:, None])
    np.testing.assert_allclose(u, expect, atol=1e-12)
    bump = heat_solution(lambda a: np.exp(-(a**2) / (2 * 0.25)), MU, T_GRID[:5])
    expect = smoothed_gaussian_bump(MU, 0.5, np.sqrt(T_GRID[:5])[:, None])
    np.testing.assert_allclose(bump, expect, atol=1e-10)


def test_heat_solution_of_box_is_only_roughly_right():
    # Gauss–Hermite converges slowly at jumps: a few percent at 64 nodes, as documented.
    box = lambda a: ((a >= -1) & (a <= 1)).astype(float)  # noqa: E731
    u = heat_solution(box, MU, T_GRID[1:])
    expect = smoothed_box(MU, -1, 1, np.sqrt(T_GRID[1:])[:, None])
    assert np.max(np.abs(u - expect)) < 0.1


def test_heat_solution_at_time_zero_is_f():
    f = lambda a: np.cos(3 * a) + np.abs(a)  # noqa: E731
    u = heat_solution(f, MU, T_GRID)
    np.testing.assert_array_equal(u[0], f(MU))
    assert not np.array_equal(u[1], f(MU))


def test_heat_solution_validates():
    with pytest.raises(ValueError, match="t"):
        heat_solution(np.sin, MU, np.array([0.1, -0.1]))
    with pytest.raises(ValueError, match="t"):
        heat_solution(np.sin, MU, np.array([np.nan]))
    with pytest.raises(ValueError, match="mu"):
        heat_solution(np.sin, MU[:, None], T_GRID)
    with pytest.raises(ValueError, match="f"):
        heat_solution(lambda a: a[:, None], MU, T_GRID)


# ---------------------------------------------------------------------------------------------
# heat_residual


def test_heat_residual_vanishes_on_heat_solution():
    mu = np.linspace(-np.pi, np.pi, 301)
    t = np.linspace(0.0, 1.0, 201)
    u = heat_solution(lambda a: np.sin(a) + 0.5 * np.cos(2 * a), mu, t)
    res, u_t = heat_residual(u, mu, t), heat_time_derivative(u, mu, t)
    assert res.shape == u_t.shape == (t.size - 2, mu.size - 2)
    assert np.max(np.abs(res)) < 1e-3 * np.max(np.abs(u_t))


def test_heat_residual_on_non_uniform_grids():
    mu = 2.0 * np.sinh(np.linspace(-1.5, 1.5, 401)) / np.sinh(1.5)  # smoothly graded
    t = np.geomspace(1e-3, 1.0, 200)
    u = gaussian_smoothed_sine(mu, 1.5, np.sqrt(t)[:, None])
    res, u_t = heat_residual(u, mu, t), heat_time_derivative(u, mu, t)
    assert np.max(np.abs(res)) < 1e-3 * np.max(np.abs(u_t))

    # μ² + t solves it exactly and both stencils are exact on it, on any grid.
    rng = np.random.default_rng(0)
    mu_r, t_r = np.sort(rng.uniform(-2, 2, 15)), np.sort(rng.uniform(0, 1, 9))
    quad = mu_r**2 + t_r[:, None]
    assert np.max(np.abs(heat_residual(quad, mu_r, t_r))) < 1e-9


def test_heat_residual_detects_wrong_rate():
    mu = np.linspace(-np.pi, np.pi, 301)
    t = np.linspace(0.0, 1.0, 201)
    u = np.sin(mu) * np.exp(-t[:, None])  # decays at rate 1, heat would give 1/2
    res, u_t = heat_residual(u, mu, t), heat_time_derivative(u, mu, t)
    assert np.max(np.abs(res)) > 0.4 * np.max(np.abs(u_t))


def test_heat_residual_validates():
    with pytest.raises(ValueError, match="u"):
        heat_residual(np.zeros((4, 5)), np.arange(4.0), np.arange(4.0))
    with pytest.raises(ValueError, match="mu"):
        heat_residual(np.zeros((4, 4)), np.array([0.0, 2.0, 1.0, 3.0]), np.arange(4.0))


# ---------------------------------------------------------------------------------------------
# backward heat

N_GRID = 128
DX = 2 * np.pi / N_GRID
X = np.arange(N_GRID) * DX
U0 = np.sin(X) + 0.3 * np.cos(5 * X)


def test_backward_heat_inverts_forward_heat():
    u_T = forward_heat(U0, 0.5, DX)
    np.testing.assert_allclose(u_T, np.exp(-0.25) * np.sin(X) + 0.3 * np.exp(-6.25) * np.cos(5 * X))
    # On 128 points e^{0.25·64²} overflows: the inversion is honestly non-finite.
    assert not np.all(np.isfinite(backward_heat(u_T, 0.5, DX)))
    # On 16 points the top gain is e^{16} ≈ 9e6, so rounding grows to ~1e-9 only.
    x16 = np.arange(16) * 2 * np.pi / 16
    u0 = np.sin(x16) + 0.3 * np.cos(5 * x16)
    back = backward_heat(forward_heat(u0, 0.5, 2 * np.pi / 16), 0.5, 2 * np.pi / 16)
    np.testing.assert_allclose(back, u0, atol=1e-8)


def test_backward_heat_amplification_matches_formula():
    res = backward_heat_amplification(U0, 0.005, DX, 1e-3, seed=0)
    np.testing.assert_allclose(res.xi, np.arange(N_GRID // 2 + 1))
    np.testing.assert_allclose(res.predicted, np.exp(0.0025 * res.xi**2))
    assert res.valid.sum() >= 10
    assert res.max_relative_error() < 1e-6
    assert res.predicted[res.valid].max() > 1e4  # real amplification, not a trivial ratio of 1


def test_backward_heat_valid_mask_excludes_rounding_dominated_frequencies():
    # Long T: the top frequencies (amplified > 1e20) swamp the rest in real space.
    res = backward_heat_amplification(U0, 0.03, DX, 1e-3, seed=1)
    assert 3 <= res.valid.sum() < res.xi.size // 2
    assert res.predicted[res.valid].min() > 1e15
    assert res.max_relative_error() < 1e-6
    rel = np.abs(res.measured / res.predicted - 1)
    assert np.nanmax(rel[~res.valid]) > 1e-3


def test_backward_heat_validates():
    with pytest.raises(ValueError, match="delta"):
        backward_heat_amplification(U0, 0.01, DX, 0.0)
    with pytest.raises(ValueError, match="T"):
        backward_heat(U0, -1.0, DX)


# ---------------------------------------------------------------------------------------------
# uncertainty


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 4.0])
def test_gaussian_attains_heisenberg_bound(sigma):
    # Δx = std of |g|² = σ/√2, Δξ = std of |ĝ|² (angular ξ) = 1/(σ√2); product ½.
    spread_x, spread_xi, product = heisenberg_product(sigma)
    np.testing.assert_allclose(product, HEISENBERG_BOUND, rtol=1e-3)
    np.testing.assert_allclose(spread_x, sigma / np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(spread_xi, 1 / (sigma * np.sqrt(2)), rtol=1e-6)
    var_g, var_g_hat = gaussian_transform_variances(sigma)
    np.testing.assert_allclose([var_g, var_g_hat], [sigma**2, 1 / sigma**2], rtol=1e-6)


def test_heisenberg_grid_matters():
    # Too narrow a window cuts the Gaussian's tails; the spreads are then visibly wrong.
    _, _, product = heisenberg_product(1.0, extent=2.0)
    assert abs(product - HEISENBERG_BOUND) > 0.05
    with pytest.raises(NoiseError, match="sigma"):
        heisenberg_product(0.0)


def test_closed_forms_at_sigma_zero():
    x = np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(smoothed_box(x, -1, 1, 0.0), (np.abs(x) <= 1).astype(float))
    np.testing.assert_array_equal(gaussian_smoothed_sine(x, 2.0, 0.0), np.sin(2 * x))
    np.testing.assert_allclose(smoothed_gaussian_bump(x, 0.5, 0.0), np.exp(-2 * x**2))
