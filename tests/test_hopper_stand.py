"""hopper_stand must equal dm_control's own suite.load("hopper", "stand")."""

import numpy as np
import pytest
from dm_control import suite

from mollify import tasks
from mollify.tasks.hopper_stand import run_closed_loop


def _dm_obs(ts):
    return np.concatenate([ts.observation[k] for k in ("position", "velocity", "touch")])


@pytest.fixture(scope="module")
def task():
    return tasks.make("hopper_stand")


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_reset_matches_dm_control(task, seed):
    env = suite.load("hopper", "stand", task_kwargs={"random": seed})
    ts = env.reset()
    _states, obs = task.physics.reset([seed])
    np.testing.assert_array_equal(task.physics.initial_qpos(seed), env.physics.data.qpos)
    np.testing.assert_allclose(obs[0], _dm_obs(ts), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_obs_and_reward_match_dm_control_for_200_steps(task, seed):
    """Same initial state and actions; the small actions keep it near standing so reward != 0."""
    env = suite.load("hopper", "stand", task_kwargs={"random": seed})
    ts = env.reset()
    actions = np.random.default_rng(seed).uniform(-0.3, 0.3, size=(200, 4))
    dm_obs, dm_rew = [], []
    for a in actions:
        ts = env.step(a)
        dm_obs.append(_dm_obs(ts))
        dm_rew.append(ts.reward)
    states, obs = task.physics.reset([seed])
    seen = []

    def act(t, o):
        seen.append(o[0].copy())
        return actions[t][None]

    _, ret, steps = run_closed_loop(task.physics, act, states, obs, 200, 1.0)
    np.testing.assert_allclose(np.array(seen[1:]), np.array(dm_obs[:-1]), atol=1e-6)
    assert abs(ret[0] - sum(dm_rew)) <= 1e-6 * 200
    assert steps[0] == 200


def test_per_step_reward_matches_dm_control(task):
    import gymnasium as gym

    env = suite.load("hopper", "stand", task_kwargs={"random": 0})
    env.reset()
    mine = gym.make("mollify/HopperStand-v0").unwrapped
    mine.reset(seed=0)
    mine._state, _ = task.physics.state_from(env.physics.data.qpos.copy())
    rewards = []
    for a in np.random.default_rng(0).uniform(-0.3, 0.3, size=(200, 4)):
        ts = env.step(a)
        obs, r, *_ = mine.step(a)
        np.testing.assert_allclose(obs, _dm_obs(ts), atol=1e-5)  # float32 observation
        assert abs(r - ts.reward) <= 1e-6
        rewards.append(r)
    assert max(rewards) > 0.5  # the comparison is not all zeros


def test_zero_action_return_is_the_dm_control_figure(task):
    """SPEC §5: dm_control's zero-action return on hopper-stand is about 15 when it starts upright."""
    env = suite.load("hopper", "stand", task_kwargs={"random": 0})
    ts, total = env.reset(), 0.0
    while not ts.last():
        ts = env.step(np.zeros(4))
        total += ts.reward
    states, obs = task.physics.reset([0])
    _, ret, _ = run_closed_loop(task.physics, lambda t, o: np.zeros((1, 4)), states, obs, 1000, 1)
    assert ret[0] == pytest.approx(total, abs=1e-6)
    assert total > 5
