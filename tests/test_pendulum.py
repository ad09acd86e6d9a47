"""pendulum must equal Gymnasium's Pendulum-v1 step for step."""

import gymnasium as gym
import jax
import numpy as np
import pytest

from mollify import tasks


@pytest.fixture(scope="module")
def task():
    return tasks.make("pendulum")


def test_matches_gymnasium_step_for_step(task):
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    step = jax.jit(task.step)
    key = jax.random.PRNGKey(0)
    _, state = task.reset(key)
    env.state = np.asarray(state, dtype=np.float64)
    worst_obs = worst_rew = 0.0
    for _ in range(200):
        action = rng.uniform(-3.0, 3.0, size=1)  # beyond the box: both must clip
        obs, state, reward, done, _ = step(key, state, action.astype(np.float32))
        g_obs, g_rew, terminated, _truncated, _ = env.step(action)
        worst_obs = max(worst_obs, float(np.abs(np.asarray(obs) - g_obs).max()))
        worst_rew = max(worst_rew, abs(float(reward) - g_rew))
        assert not bool(done) and not terminated
        env.state = np.asarray(state, dtype=np.float64)  # float32 vs float64: resync each step
    assert worst_obs <= 1e-5
    assert worst_rew <= 1e-5 * 20  # costs reach ~16; 1e-5 relative


def test_whole_trajectory_in_float64_matches(task):
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    actions = np.random.default_rng(1).uniform(-2.0, 2.0, size=(200, 1))
    with jax.enable_x64(True):
        _, state = task.reset(jax.random.PRNGKey(3))
        env.state = np.asarray(state, dtype=np.float64).copy()
        for a in actions:
            obs, state, reward, _, _ = task.step(None, state, jax.numpy.asarray(a))
            g_obs, g_rew, *_ = env.step(a)
            np.testing.assert_allclose(np.asarray(obs), g_obs, atol=1e-9)
            assert abs(float(reward) - g_rew) <= 1e-9


def test_reset_distribution_is_gymnasiums(task):
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    states = np.asarray(jax.vmap(lambda k: task.reset(k)[1])(keys))
    assert np.abs(states[:, 0]).max() <= np.pi and np.abs(states[:, 1]).max() <= 1.0
    assert abs(states[:, 0].std() - np.pi / np.sqrt(3)) < 0.05
    assert abs(states[:, 1].std() - 1 / np.sqrt(3)) < 0.02
