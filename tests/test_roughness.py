"""Hölder and Lyapunov exponents against functions and closed loops whose exponents are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mollify import tasks
from mollify.core.evaluation import reset_seeds
from mollify.core.policies import Policy, make_policy
from mollify.instruments import lyapunov
from mollify.instruments.lyapunov import (
    lyapunov_exponent,
    lyapunov_per_start,
    predicted_holder_exponent,
)
from mollify.instruments.roughness import holder_exponent
from mollify.tasks.base import JaxTask, TaskError


# --- Hölder ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 3])
@pytest.mark.parametrize("beta", [0.3, 0.5, 0.8, 1.5])
def test_power_of_norm_has_its_exponent(beta, dim):
    est = holder_exponent(lambda x: np.linalg.norm(x, axis=1) ** beta, np.zeros(dim))
    assert est.alpha == pytest.approx(beta, abs=1e-9)
    # |f(δd) − f(0)| = δ^β for every direction: the bootstrap has nothing to vary.
    assert est.ci_low == pytest.approx(beta, abs=1e-9)
    assert est.ci_high == pytest.approx(beta, abs=1e-9)
    np.testing.assert_allclose(est.mean_abs_diff, est.radii**beta, rtol=1e-12)
    assert est.fitted.all() and est.n_directions == 64


def test_smooth_function_is_lipschitz_in_one_and_many_dimensions():
    est = holder_exponent(lambda x: np.sin(x[:, 0]) + x[:, 0], [0.3])
    assert abs(est.alpha - 1.0) < 0.01
    assert est.ci_low - 0.01 <= 1.0 <= est.ci_high + 0.01
    # The intercept is log of the mean |directional derivative|: here |cos 0.3 + 1|.
    assert est.intercept == pytest.approx(np.log(np.cos(0.3) + 1), abs=0.01)
    w = jnp.arange(1.0, 6.0)  # a JAX f, evaluated in float32, works the same
    est = holder_exponent(lambda x: jnp.sum(jnp.sin(x), axis=1) + x @ w, np.full(5, 0.3))
    assert abs(est.alpha - 1.0) < 0.02


@pytest.fixture(scope="module")
def brownian():
    """One Brownian path on [0, 1] sampled at 2**20 + 1 points, linearly interpolated."""
    n = 2**20
    rng = np.random.default_rng(1234)
    grid = np.linspace(0.0, 1.0, n + 1)
    path = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n)) / np.sqrt(n)])
    return grid, path


def test_brownian_path_is_half_holder(brownian):
    # At one base point in 1-D the directions are ±1: two increments per radius, a noisy slope.
    # Brownian scaling makes D(δ)/√δ equally distributed at every radius, so the slope is
    # unbiased; averaging it over 64 base points brings its standard error to ≈ 0.02.
    grid, path = brownian
    radii = np.geomspace(1e-4, 1e-2, 10)  # well above the grid spacing ≈ 1e-6

    def f(x):
        return np.interp(x[:, 0], grid, path)

    # Only α is used: a token bootstrap (its CI is not read) keeps 64 fits cheap.
    alphas = [
        holder_exponent(f, [x0], radii=radii, n_bootstrap=10).alpha
        for x0 in np.linspace(0.05, 0.95, 64)
    ]
    assert abs(np.mean(alphas) - 0.5) < 0.07
    assert abs(np.mean(alphas) - 1.0) > 0.3  # clearly not Lipschitz


def brownian_sum(seed, k=8, n=2**18):
    """f(x) = Σ_k B_k(x_k) for k independent Brownian paths on [0, 1]."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, n + 1)
    paths = np.concatenate([np.zeros((k, 1)), np.cumsum(rng.standard_normal((k, n)), 1)], 1)
    paths /= np.sqrt(n)
    return lambda x: sum(np.interp(x[:, i], grid, paths[i]) for i in range(k))


def test_sum_of_brownian_paths_is_half_holder_with_ci():
    # f(x0 + δd) − f(x0) is Gaussian with variance δ Σ_k |d_k|, so E D ∝ δ^½. The bootstrap CI
    # is over directions for the one f at hand; from path to path α itself varies (std ≈ 0.08
    # over this range), so the check on 0.5 averages over 10 independent sets of paths.
    radii = np.geomspace(1e-3, 1e-1, 10)
    x0 = np.full(8, 0.5)
    ests = [holder_exponent(brownian_sum(s), x0, radii=radii, n_directions=256) for s in range(10)]
    assert abs(np.mean([e.alpha for e in ests]) - 0.5) < 0.08
    for e in ests:
        assert e.ci_low < e.alpha < e.ci_high and 0.01 < e.ci_high - e.ci_low < 0.2
    f = brownian_sum(0)
    again = holder_exponent(f, x0, radii=radii, n_directions=256)
    assert (again.alpha, again.ci_low, again.ci_high) == (ests[0].alpha, ests[0].ci_low,
                                                          ests[0].ci_high)  # fmt: skip
    assert holder_exponent(f, x0, radii=radii, n_directions=256, seed=1).alpha != ests[0].alpha


def test_flat_radii_are_dropped_and_a_flat_function_raises():
    est = holder_exponent(lambda x: np.maximum(np.abs(x[:, 0]) - 0.005, 0.0), [0.0])
    np.testing.assert_array_equal(est.fitted, est.radii > 0.005)
    assert est.mean_abs_diff[~est.fitted].max() == 0.0
    with pytest.raises(ValueError, match="flat"):
        holder_exponent(lambda x: np.zeros(x.shape[0]), np.zeros(2))


@pytest.mark.parametrize(
    "radii",
    [[1e-3, 1e-2], [1e-2, 1e-3, 1e-1], [-1e-3, 1e-2, 1e-1], [1e-3, 1e-3, 1e-1], [0, 1e-2, 1e-1]],
)
def test_bad_radii_raise(radii):
    with pytest.raises(ValueError, match="radii"):
        holder_exponent(lambda x: x[:, 0], [0.0], radii=radii)


def test_bad_f_raises():
    with pytest.raises(ValueError, match="f: must map"):
        holder_exponent(
            lambda x: x[:, :, None], np.zeros(2)
        )  # (N, S) is paired samples; 3-D is not
    with pytest.raises(ValueError, match="non-finite"):
        holder_exponent(lambda x: np.where(x[:, 0] > 0, np.inf, 0.0), [0.0])


def test_to_dict_is_plain():
    d = holder_exponent(lambda x: np.abs(x[:, 0]), [0.0]).to_dict()
    assert d["alpha"] == pytest.approx(1.0) and len(d["radii"]) == len(d["mean_abs_diff"]) == 12
    assert all(isinstance(v, bool) for v in d["fitted"])


def test_predicted_holder_exponent():
    gamma = 0.99
    pred = predicted_holder_exponent(0.1, gamma)
    assert pred.nontrivial and pred.alpha == pytest.approx(-np.log(gamma) / 0.1)
    assert predicted_holder_exponent(0.001, gamma) == (1.0, False)
    assert predicted_holder_exponent(-0.5, gamma) == (1.0, False)
    assert np.isnan(predicted_holder_exponent(float("nan"), gamma).alpha)


# --- Hölder from paired samples (common random numbers) -----------------------------------------
W_ALPHA, W_B, W_TERMS, W_DIM = 0.4, 2.0, 34, 32  # Σ_k W(x_k), W(x) = Σ_n b^{−αn} cos(2π bⁿ x)
W_X0 = np.random.default_rng(1).uniform(0, 1, W_DIM)


def weierstrass(x, s=0.0):
    """Σ over coordinates of the Weierstrass function W(x_k) (exponent W_ALPHA at every scale down
    to 2^-34); with s > 0 its Gaussian mollification E W(x + sε), ε ~ N(0, I), known term by
    term: each cosine is damped by exp(−(2π bⁿ s)²/2)."""
    n = np.arange(W_TERMS)
    freq = 2 * np.pi * W_B**n
    amp = W_B ** (-W_ALPHA * n) * np.exp(-((freq * s) ** 2) / 2)
    return (amp * np.cos(freq * np.asarray(x)[..., None])).sum(axis=(-1, -2))


def sampled_weierstrass(s, n_samples, seed=0):
    """f(points) -> (N, S): W(x + s ε_j) with the same draws ε_j at every point, as a stochastic
    policy's returns are paired across θ; its mean over samples estimates W mollified at scale s."""
    eps = np.random.default_rng(seed).standard_normal((n_samples, W_DIM))
    return lambda points: np.stack([weierstrass(p + s * eps) for p in points])


def test_the_mollifier_closed_form_matches_sampling():
    x = W_X0 + 0.01
    samples = sampled_weierstrass(1e-3, 4096)(x[None])[0]
    se = samples.std() / np.sqrt(samples.size)
    assert abs(samples.mean() - weierstrass(x, 1e-3)) < 4 * se
    assert abs(weierstrass(x) - weierstrass(x, 1e-3)) > 10 * se  # the mollification shows


def test_raw_weierstrass_reads_its_own_exponent():
    est = holder_exponent(weierstrass, W_X0, radii=np.geomspace(1e-5, 1e-2, 8), n_directions=16)
    assert abs(est.alpha - W_ALPHA) < 0.08 and est.ci_low < W_ALPHA + 0.05


S_MOLLIFY = 1e-7


def test_mollified_weierstrass_is_smooth_below_its_scale():
    radii = S_MOLLIFY * np.geomspace(0.3, 3, 6)
    est = holder_exponent(sampled_weierstrass(S_MOLLIFY, 256), W_X0, radii=radii, n_directions=16)
    assert est.n_samples == 256 and est.resolved.sum() >= 4
    assert abs(est.alpha - 1.0) < 0.2 and est.ci_high > 0.9
    assert est.crossover > radii[-1] or est.crossover_ci[1] > radii[-1]  # smooth throughout


def test_mollified_weierstrass_keeps_its_roughness_well_above_its_scale():
    radii = np.geomspace(1e-5, 1e-2, 8)  # 100 to 100 000 times the mollifier's scale
    est = holder_exponent(sampled_weierstrass(S_MOLLIFY, 64), W_X0, radii=radii, n_directions=32)
    assert abs(est.alpha - W_ALPHA) < 0.1
    assert est.ci_low < W_ALPHA < est.ci_high + 0.05 and est.ci_high < 0.6
    assert est.crossover == 0.0  # rough at every measured scale


def test_crossover_sits_at_the_mollifier_scale():
    radii = S_MOLLIFY * np.geomspace(0.3, 1e5, 14)
    est = holder_exponent(sampled_weierstrass(S_MOLLIFY, 256), W_X0, radii=radii, n_directions=16)
    assert est.alpha > 0.75  # the smallest resolved scales are the smooth ones
    assert S_MOLLIFY < est.crossover < 300 * S_MOLLIFY
    assert est.alpha_below > 0.8 and abs(est.alpha_above - W_ALPHA) < 0.1


def test_noise_common_to_all_points_cancels_exactly():
    """A rough function plus noise that every point shares reads the function's own exponent:
    paired differences cancel the noise, whatever its size."""
    eta = 1e3 * np.random.default_rng(5).standard_normal(64)
    est = holder_exponent(
        lambda p: weierstrass(p)[:, None] + eta[None, :],
        W_X0,
        radii=np.geomspace(1e-5, 1e-2, 8),
        n_directions=16,
    )
    assert abs(est.alpha - W_ALPHA) < 0.1
    assert np.all(est.noise_floor < 1e-9 * est.structure)
    assert est.resolved.all()


def test_independent_noise_is_debiased_and_its_floor_reported():
    """A linear f plus noise drawn anew at every point: the naive mean of squared increments is
    D2 + 2τ²/S; the estimator reports that floor and removes it, reading α = 1 where resolved."""
    tau, n_samples = 0.05, 400
    rng = np.random.default_rng(7)
    slope = np.array([1.0, -2.0, 0.5])

    def f(points):
        return (points @ slope)[:, None] + tau * rng.standard_normal((len(points), n_samples))

    radii = np.geomspace(1e-4, 1e-1, 10)
    est = holder_exponent(f, np.zeros(3), radii=radii, n_directions=32)
    np.testing.assert_allclose(est.noise_floor, 2 * tau**2 / n_samples, rtol=0.1)
    assert not est.resolved[0] and est.resolved[-4:].all()  # 1e-4 sits under the floor
    assert abs(est.alpha - 1.0) < 0.1
    naive = est.structure + est.noise_floor
    naive_alpha = np.polyfit(np.log(radii), 0.5 * np.log(naive), 1)[0]
    assert naive_alpha < 0.8  # a straight fit of the naive estimate reads the floor as roughness


def test_unresolved_scales_give_a_reason_not_a_number():
    def f(points):
        return 1e-9 * points[:, :1] + np.random.default_rng(len(points)).standard_normal(
            (len(points), 8)
        )

    est = holder_exponent(f, np.zeros(2), radii=np.geomspace(1e-3, 1e-1, 5), n_directions=4)
    assert np.isnan(est.alpha) and "resolve" in est.note and "samples" in est.note


def test_paired_estimate_is_reproducible_and_rejects_bad_shapes():
    f = sampled_weierstrass(S_MOLLIFY, 32)
    radii = np.geomspace(1e-5, 1e-3, 5)
    a = holder_exponent(f, W_X0, radii=radii, n_directions=4, seed=3)
    b = holder_exponent(f, W_X0, radii=radii, n_directions=4, seed=3)
    assert a.alpha == b.alpha and a.ci_low == b.ci_low and a.crossover_ci == b.crossover_ci
    with pytest.raises(ValueError, match="f: must map"):
        holder_exponent(lambda p: np.zeros((len(p), 2, 2)), W_X0, radii=radii)


# --- Lyapunov ----------------------------------------------------------------------------------
def linear_task(a, b, done_above=np.inf):
    """s' = A s + B a, obs = s; ends once |s| > done_above."""
    n, m = b.shape

    def reset(key, params):
        s = jax.random.normal(key, (n,))
        return s, s

    def step(key, state, action, params):
        new = a @ state + b @ action
        return new, new, jnp.zeros(()), jnp.linalg.norm(new) > done_above, {}

    return JaxTask(
        name="linear",
        obs_dim=n,
        action_dim=m,
        action_low=-np.ones(m),
        action_high=np.ones(m),
        horizon=100,
        gamma=0.99,
        backend="jax",
        reset_fn=reset,
        step_fn=step,
        observe_fn=lambda s, p: s,
    )


def closed_loop_with(block, m=2, seed=0, done_above=np.inf):
    """(task, policy, θ) whose closed loop A + B Kᵀ is similar to `block`."""
    rng = np.random.default_rng(seed)
    n = block.shape[0]
    p = rng.standard_normal((n, n)) + 2 * np.eye(n)
    closed = p @ block @ np.linalg.inv(p)
    b, w = rng.standard_normal((n, m)), rng.standard_normal((n, m))
    task = linear_task(closed - b @ w.T, b, done_above)
    # Unsquashed linear policy with bounds ±1: a = obs @ W + bias, exactly.
    policy = Policy(obs_dim=n, action_dim=m, hidden=(), action_low=(-1,) * m,
                    action_high=(1,) * m, squash=False)  # fmt: skip
    return task, policy, np.concatenate([w.ravel(), np.zeros(m)])


def rotation(r, phi):
    return r * np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])


@pytest.mark.parametrize(
    "block, rho",
    [
        (np.diag([0.9, 0.5, -0.3]), 0.9),
        (np.diag([1.2, 0.7, -0.4]), 1.2),  # the state grows; the renormalised tangent does not
        (np.block([[rotation(0.95, 0.3), np.zeros((2, 1))], [np.zeros((1, 2)), 0.5]]), 0.95),
    ],
)
def test_linear_closed_loop_has_log_spectral_radius(block, rho):
    task, policy, theta = closed_loop_with(block)
    lam = lyapunov_exponent(task, policy, theta, steps=300, n_starts=4)
    assert lam == pytest.approx(np.log(rho), abs=1e-2)


def test_terminated_starts_average_over_the_steps_they_counted():
    task, policy, theta = closed_loop_with(np.diag([1.2, 0.7, -0.4]), done_above=1e6)
    lam, count = lyapunov_per_start(task, policy, theta, steps=300, discard=10, n_starts=4)
    assert np.all((count > 40) & (count < 120))  # 1.2^76 ≈ 1e6: ends long before 300
    assert np.mean(lam) == pytest.approx(np.log(1.2), abs=2e-2)


def test_nothing_counted_gives_nan_with_a_warning():
    rng = np.random.default_rng(0)
    b, w = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    task = linear_task(np.eye(3), b, done_above=-1.0)  # every first step terminates
    policy = Policy(obs_dim=3, action_dim=2, hidden=(), action_low=(-1, -1),
                    action_high=(1, 1), squash=False)  # fmt: skip
    theta = np.concatenate([w.ravel(), np.zeros(2)])
    _, count = lyapunov_per_start(task, policy, theta, steps=20, discard=0, n_starts=3)
    np.testing.assert_array_equal(count, 1)  # the terminating step itself counts
    with pytest.warns(RuntimeWarning, match="NaN"):
        assert np.isnan(lyapunov_exponent(task, policy, theta, steps=20, discard=5, n_starts=3))


def test_stabilised_pendulum_contracts_at_its_linearised_rate():
    task = tasks.make("pendulum", init_angle=0.1, init_speed=0.1)
    policy = make_policy(task, "linear")  # unsquashed, bounds ±2: u = 2 (obs @ W + b)
    kp, kd = 10.0, 2.0  # u = −kp sin θ − kd θ̇, at most 1.2 from these starts: no clipping
    theta = np.array([0.0, -kp / 2, -kd / 2, 0.0])
    lam = lyapunov_exponent(task, policy, theta)
    # Gymnasium's semi-implicit Euler step, θ̈ = 15 sin θ + 3u, linearised at the upright rest.
    dt, k, c = 0.05, 15.0 - 3 * kp, 3 * kd
    jac = np.array([[1 + k * dt**2, dt - c * dt**2], [k * dt, 1 - c * dt]])
    expected = np.log(np.abs(np.linalg.eigvals(jac)).max())
    assert expected < -0.1
    assert lam == pytest.approx(expected, abs=0.01)


def test_free_double_pendulum_from_upright_is_chaotic():
    task = tasks.make("double_pendulum")  # starts near upright: energy near the top of the well
    policy = make_policy(task, "linear")
    zero = np.zeros(policy.n_params)  # center of the ±10 box is 0: no torque
    lam = lyapunov_exponent(task, policy, zero, steps=500, seed=0)
    assert lam > 0.02  # ≈ 0.06 per 0.05 s step
    per_start, count = lyapunov_per_start(task, policy, zero, steps=500, seed=0)
    assert np.all(per_start > 0) and np.all(count == 450)
    assert lyapunov_exponent(task, policy, zero, steps=500, seed=0) == lam
    assert lyapunov_exponent(task, policy, zero, steps=500, seed=1) != lam


def free_twin_growth(task, policy, theta, steps, seed, n_starts, eps=1e-9):
    """log(|separation after `steps`| / eps) / steps of a twin never pulled back: what Benettin's
    renormalised product must equal while the separation stays linear."""
    physics = task.physics
    nq, nv = physics.model.nq, physics.model.nv
    qv = slice(physics.qpos.start, physics.qvel.stop)
    ref, ref_obs = physics.reset(reset_seeds(seed, n_starts))
    v = np.random.default_rng(seed).standard_normal((n_starts, nq + nv))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    twins = [
        physics.state_from(s[physics.qpos] + eps * d[:nq], s[physics.qvel] + eps * d[nq:])
        for s, d in zip(ref, v, strict=True)
    ]
    states = np.concatenate([ref, np.stack([t[0] for t in twins])])
    obs = np.concatenate([ref_obs, np.stack([t[1] for t in twins])])
    with jax.enable_x64(True):
        theta = jnp.asarray(theta, jnp.float64)
        for _ in range(steps):
            controls = np.clip(np.asarray(policy.apply(theta, jnp.asarray(obs))), -1.0, 1.0)
            traj, sens = physics.advance(states, controls)
            states, obs = traj[:, -1], physics.observe(traj[:, -1], sens[:, -1])
    sep = np.linalg.norm(states[n_starts:, qv] - states[:n_starts, qv], axis=1)
    return np.log(sep / eps) / steps


def test_hopper_finite_difference_matches_a_free_twin_and_is_deterministic(monkeypatch):
    task = tasks.make("hopper_stand")
    policy = make_policy(task, "linear")
    theta = 0.3 * np.asarray(policy.init(jax.random.PRNGKey(1)))
    lam, count = lyapunov_per_start(task, policy, theta, steps=40, discard=0, n_starts=2)
    assert np.all(count == 40) and np.all(np.abs(lam) < 1.0)
    np.testing.assert_allclose(lam, free_twin_growth(task, policy, theta, 40, 0, 2), atol=1e-5)
    again, _ = lyapunov_per_start(task, policy, theta, steps=40, discard=0, n_starts=2)
    np.testing.assert_array_equal(again, lam)
    # In the linear regime the twin's distance does not matter.
    monkeypatch.setattr(lyapunov, "_FD_EPS", 1e-6)
    wider, _ = lyapunov_per_start(task, policy, theta, steps=40, discard=0, n_starts=2)
    np.testing.assert_allclose(wider, lam, atol=1e-4)
    # Default transient: the first steps // 10 are propagated but not counted.
    _, count = lyapunov_per_start(task, policy, np.zeros(policy.n_params), steps=50, n_starts=2)
    np.testing.assert_array_equal(count, 45)


def test_gymnasium_task_raises():
    task = tasks.from_gymnasium("Pendulum-v1")
    policy = make_policy(task, "linear")
    with pytest.raises(TaskError, match="Gymnasium env Pendulum-v1 does not expose one"):
        lyapunov_exponent(task, policy, np.zeros(policy.n_params))


def test_bad_arguments_raise():
    task, policy, theta = closed_loop_with(np.diag([0.9, 0.5, -0.3]))
    with pytest.raises(ValueError, match="params"):
        lyapunov_exponent(task, policy, theta[:-1])
    with pytest.raises(ValueError, match="discard"):
        lyapunov_exponent(task, policy, theta, steps=10, discard=10)
    with pytest.raises(ValueError, match="policy"):
        lyapunov_exponent(tasks.make("pendulum"), policy, theta)


@pytest.mark.slow
def test_chaotic_raw_j_is_rough_and_j_sigma_smooth_with_default_options():
    """The issue's acceptance check (about 30 s): `mollify roughness --task double_pendulum
    --sigmas 0,0.3 --json` with every other option at its default."""
    import json

    from typer.testing import CliRunner

    from mollify.cli import app

    res = CliRunner().invoke(
        app, ["roughness", "--task", "double_pendulum", "--sigmas", "0,0.3", "--json"]
    )
    assert res.exit_code == 0, res.output
    holder = json.loads(res.output)["holder"]
    raw, smoothed = holder["0.0"], holder["0.3"]
    assert raw["alpha"] < 0.5 < 0.8 < smoothed["alpha"]
    assert raw["ci_high"] < smoothed["ci_low"]
