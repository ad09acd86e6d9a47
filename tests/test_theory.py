"""The theory instruments on a real task: heat equation, backward heat, uncertainty principle."""

import math

import jax
import numpy as np
import pytest

from mollify import make_policy, tasks
from mollify.core.evaluation import q_values
from mollify.instruments import heat, uncertainty


@pytest.fixture(scope="module")
def pendulum():
    task = tasks.make("pendulum")
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(0)))
    return task, policy, theta


@pytest.fixture(scope="module")
def heat_report(pendulum):
    return heat.heat_experiment(*pendulum, n_t=41, mc_samples=1024)


def test_q_values_clip_like_the_task_and_take_the_action_first(pendulum):
    task, policy, theta = pendulum
    q = q_values(task, policy, theta, np.array([[-5.0], [-2.0], [0.0], [2.0], [5.0]]))
    assert q[0] == q[1] and q[3] == q[4]  # the task clips torque to ±2
    assert q[1] != q[3]


def test_q_values_on_a_gymnasium_task_match_a_plain_loop():
    import gymnasium as gym

    from mollify.core.evaluation import reset_seeds

    task = tasks.make("gym:Pendulum-v1", horizon=10, gamma=0.9)
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(1)))
    q = q_values(task, policy, theta, np.array([[-3.0], [0.5]]))
    env = gym.make("Pendulum-v1")
    for a0, expected in zip((-2.0, 0.5), q, strict=True):
        obs, _ = env.reset(seed=int(reset_seeds(0, 1)[0]))
        total, action = 0.0, np.array([a0])
        for t in range(10):
            obs, r, *_ = env.step(action.astype(np.float32))
            total += 0.9**t * r
            action = np.asarray(policy.apply(theta, obs.astype(np.float32)))
        assert total == pytest.approx(expected, rel=1e-5)


def test_stochastic_one_step_value_solves_the_heat_equation(heat_report):
    r = heat_report
    assert r.max_abs_u_t > 0.1
    assert r.max_abs_residual < 0.01 * r.max_abs_u_t
    assert r.median_relative_residual < 0.01
    # The table is right: u from direct rollouts at a ~ N(μ, t) agrees within Monte-Carlo error.
    for row in r.monte_carlo:
        assert abs(row["u_table"] - row["u_monte_carlo"]) < 5 * row["mc_stderr"] + 1e-3
    # And heat_solution's Gauss–Hermite quadrature of the same table agrees where t is not tiny.
    assert r.gauss_hermite_max_diff < 0.05


def test_heat_residual_catches_a_wrong_time_scale(heat_report):
    """Negative control: u(μ, 2t) is not a solution of u_t = ½u_μμ (it solves u_t = u_μμ)."""
    from mollify.instruments import smoothing

    r = heat_report
    u_fast = heat.heat_from_table(r.profile, r.mu, 2 * r.t)
    res = smoothing.heat_residual(u_fast, r.mu, r.t)
    assert np.abs(res).max() > 0.3 * np.abs(smoothing.heat_time_derivative(u_fast, r.mu, r.t)).max()


def test_backward_heat_on_a_task_profile(heat_report):
    res, summary = heat.backward_experiment(heat_report.profile, sigma=0.1, delta=1e-6)
    assert summary["n_valid_frequencies"] >= 5
    assert summary["max_rel_error_valid"] < 1e-6
    assert summary["max_predicted_valid"] > 1e3  # the check covers strong amplification
    assert 0 < summary["cutoff_xi"] < res.xi[-1]
    assert summary["recovered_relative_error"] > 1  # inversion with noise destroys the profile


def test_first_crossing_interpolates():
    x = np.array([0.0, 1.0, 2.0])
    assert uncertainty._first_crossing(x, np.array([10.0, 6.0, 2.0]), 4.0, True) == pytest.approx(
        1.5
    )
    assert uncertainty._first_crossing(x, np.array([10.0, 9.0, 8.0]), 4.0, True) == math.inf
    assert uncertainty._first_crossing(x, np.array([-10.0, -6.0, -2.0]), -4.0, False) == 1.5


def test_uncertainty_on_a_stabilising_policy():
    """A linear upright controller on a pendulum started near upright: a real optimum whose good
    region has finite width, erased by parameter noise of that order."""
    task = tasks.make("pendulum", init_angle=0.3, init_speed=0.3, horizon=100)
    policy = make_policy(task, "linear")
    theta = np.zeros(policy.n_params)
    theta[1], theta[2] = -10.0 / 2, -2.0 / 2  # u = −10 sin θ − 2 θ̇ (output scaled by max torque 2)
    rep = uncertainty.uncertainty_experiment(
        task,
        policy,
        theta,
        n_directions=8,
        max_radius=3.0,
        n_radii=31,
        param_sigmas=(0.03, 0.3, 3.0),
        action_sigmas=(0.03, 3.0),
        samples=16,
        episodes=8,
    )
    assert rep.j_star > rep.j_background
    assert 0 < rep.width < 3.0
    assert rep.j_param[0] == pytest.approx(rep.j_star, abs=0.05 * abs(rep.j_star) + 1)
    assert rep.j_param[-1] < rep.j_star - 0.5 * (rep.j_star - rep.j_background)
    assert 0.03 < rep.erasure_param < 3.0
    for h in rep.heisenberg:
        assert h["product"] == pytest.approx(0.5, rel=1e-3)
