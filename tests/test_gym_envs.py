"""The registered Gymnasium ids pass Gymnasium's own environment checker."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mollify  # noqa: F401  (registers the ids)
from mollify.tasks.gym_envs import GYM_IDS


@pytest.mark.parametrize("env_id", sorted(GYM_IDS))
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    obs2, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, obs2)
    obs, reward, _terminated, _truncated, _ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    env.close()


def test_pendulum_id_matches_gymnasium_pendulum_reward_scale():
    env = gym.make("mollify/Pendulum-v0")
    env.reset(seed=1)
    total = sum(env.step(np.zeros(1, np.float32))[1] for _ in range(200))
    assert -2000 < total < 0
    assert env.spec.max_episode_steps == 200
