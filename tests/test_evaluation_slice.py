"""`evaluate_slice`: the affine-slice path gives `evaluate`'s numbers on θ0 + coords @ directions.

The two paths round differently (shared products then a per-point combination, against each
point's own float32 weights), so they agree to float32 tolerance wherever the closed loop does not
amplify rounding; over a full pendulum horizon a few noisy episodes sit on a bifurcation (the
rough landscape itself), which the last test bounds instead of hiding.
"""

import jax
import numpy as np
import pytest

from mollify import tasks
from mollify.core.evaluation import evaluate
from mollify.core.policies import make_policy
from mollify.core.slices import evaluate_slice
from mollify.instruments.landscape import random_directions


def _slice(task, dims, grid, seed=0):
    policy = make_policy(task)
    theta0 = np.asarray(policy.init(jax.random.PRNGKey(seed)), np.float64)
    directions = random_directions(policy, theta0, dims, seed)
    axis = np.linspace(-1.0, 1.0, grid)
    if dims == 1:
        coords = axis[:, None]
    else:
        a, b = np.meshgrid(axis, axis, indexing="ij")
        coords = np.stack([a.ravel(), b.ravel()], axis=1)
    return policy, theta0, directions, coords


def test_apply_slice_is_apply_at_the_point():
    task = tasks.make("planar_quadrotor")
    policy, theta0, directions, coords = _slice(task, 2, 5)
    basis = policy.slice_basis(theta0, directions)
    obs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (7, task.obs_dim)))
    for c in coords:
        coef = np.concatenate([[1.0], c]).astype(np.float32)
        want = policy.apply(np.float32(theta0 + c @ directions), obs)
        got = jax.vmap(lambda o, coef=coef: policy.apply_slice(basis, coef, o))(obs)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["pendulum", "planar_quadrotor", "double_pendulum"])
@pytest.mark.parametrize("dims", [1, 2])
def test_same_returns_as_evaluate_over_a_short_horizon(name, dims):
    task = tasks.make(name, horizon=30)
    policy, theta0, directions, coords = _slice(task, dims, 7)
    for sigma in (0.0, 0.3):
        kwargs = dict(sigma=sigma, episodes=6, seed=3, start="random")
        want = evaluate(task, policy, theta0 + coords @ directions, **kwargs)
        got = evaluate_slice(task, policy, theta0, directions, coords, method="slice", **kwargs)
        np.testing.assert_allclose(got.discounted, want.discounted, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(got.undiscounted, want.undiscounted, rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(got.lengths, want.lengths)
        assert got.env_steps == want.env_steps


def test_full_horizon_landscape_agrees_but_for_bifurcating_episodes():
    task = tasks.make("pendulum")
    policy, theta0, directions, coords = _slice(task, 2, 9)
    kwargs = dict(sigma=0.3, episodes=32, seed=0, start="fixed")
    want = evaluate(task, policy, theta0 + coords @ directions, **kwargs).discounted
    got = evaluate_slice(task, policy, theta0, directions, coords, method="slice", **kwargs)
    got = got.discounted
    close = np.isclose(got, want, rtol=1e-4, atol=1e-3)
    assert close.mean() > 0.98, close.mean()
    # The points' means (what a landscape plots) move far less than their standard errors.
    se = want.std(axis=1, ddof=1) / np.sqrt(want.shape[1])
    assert np.all(np.abs(got.mean(axis=1) - want.mean(axis=1)) < 0.5 * se)


def test_auto_takes_the_points_path_for_many_episodes_and_is_then_exact():
    task = tasks.make("pendulum", horizon=20)
    policy, theta0, directions, coords = _slice(task, 2, 3)
    kwargs = dict(sigma=0.2, episodes=8, seed=1)
    want = evaluate(task, policy, theta0 + coords @ directions, **kwargs)
    got = evaluate_slice(task, policy, theta0, directions, coords, **kwargs)
    np.testing.assert_array_equal(got.discounted, want.discounted)


@pytest.mark.parametrize("name", ["pendulum", "hopper_stand"])
def test_identical_episodes_run_once(name):
    """σ = 0 from a fixed start: every episode is the same, so one is run and repeated; the
    numbers are those of running them all (the task with its start collapsed, sampled as random
    starts, runs every episode)."""
    from mollify.tasks import fixed_start

    task = tasks.make(name, horizon=15)
    policy, theta0, directions, coords = _slice(task, 2, 3)
    thetas = theta0 + coords @ directions
    once = evaluate(task, policy, thetas, episodes=5, seed=2, start="fixed")
    assert once.env_steps == thetas.shape[0] * task.horizon  # one episode each was simulated
    if name == "pendulum":
        every = evaluate(fixed_start(task), policy, thetas, episodes=5, seed=2)
    else:  # a native task's fixed start reuses the first seed: run that seed five times
        every = evaluate(task, policy, np.repeat(thetas, 5, axis=0), episodes=1, seed=2)
        every = type(every)(
            *(
                np.reshape(x, (-1, 5))
                for x in (every.discounted, every.undiscounted, every.lengths)
            ),
            every.env_steps,
            every.seconds,
        )
    # Equal up to the rounding of a different batch shape (XLA vectorises it differently).
    np.testing.assert_allclose(once.discounted, every.discounted, rtol=1e-5)
    np.testing.assert_array_equal(once.lengths, every.lengths)
    sliced = evaluate_slice(
        task, policy, theta0, directions, coords, episodes=5, seed=2, start="fixed", method="points"
    )
    np.testing.assert_array_equal(sliced.discounted, once.discounted)


def test_native_tasks_evaluate_the_points():
    task = tasks.make("hopper_stand", horizon=5)
    policy, theta0, directions, coords = _slice(task, 1, 3)
    want = evaluate(task, policy, theta0 + coords @ directions, episodes=2)
    got = evaluate_slice(task, policy, theta0, directions, coords, episodes=2, method="slice")
    np.testing.assert_array_equal(got.discounted, want.discounted)


def test_bad_shapes_name_the_argument():
    task = tasks.make("pendulum")
    policy, theta0, directions, coords = _slice(task, 2, 3)
    with pytest.raises(ValueError, match="coords"):
        evaluate_slice(task, policy, theta0, directions, coords[:, :1])
    with pytest.raises(ValueError, match="directions"):
        evaluate_slice(task, policy, theta0, directions[:, :-1], coords)
    with pytest.raises(ValueError, match="theta0"):
        evaluate_slice(task, policy, theta0[:-1], directions, coords)
    with pytest.raises(ValueError, match="method"):
        evaluate_slice(task, policy, theta0, directions, coords, method="fast")
