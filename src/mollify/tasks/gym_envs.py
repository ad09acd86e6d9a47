"""The mollify tasks as ordinary Gymnasium environments, for any Gymnasium training library.

These single-environment wrappers are for interoperability, not speed: mollify's own instruments
use the batched paths in `mollify.evaluation`.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import jax
import numpy as np

GYM_IDS = {
    "mollify/Pendulum-v0": "pendulum",
    "mollify/DoublePendulum-v0": "double_pendulum",
    "mollify/PlanarQuadrotor-v0": "planar_quadrotor",
    "mollify/HopperStand-v0": "hopper_stand",
}


def _spaces(task):
    action_space = gym.spaces.Box(
        task.action_low.astype(np.float32), task.action_high.astype(np.float32), dtype=np.float32
    )
    observation_space = gym.spaces.Box(-np.inf, np.inf, (task.obs_dim,), dtype=np.float32)
    return action_space, observation_space


class JaxTaskEnv(gym.Env):
    """A pure-JAX mollify task stepped one transition at a time (jitted step and reset)."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, task_name: str = "pendulum", **params):
        from mollify.tasks import make

        self.task = make(task_name, **params)
        self.action_space, self.observation_space = _spaces(self.task)
        self._reset = jax.jit(self.task.reset)
        self._step = jax.jit(self.task.step)
        self._key = jax.random.PRNGKey(0)
        self._state = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        seed_int = int(self.np_random.integers(0, 2**31 - 1))
        self._key, reset_key = jax.random.split(jax.random.PRNGKey(seed_int))
        obs, self._state = self._reset(reset_key)
        return np.asarray(obs, np.float32), {}

    def step(self, action):
        self._key, step_key = jax.random.split(self._key)
        action = np.asarray(action, np.float32).reshape(self.task.action_dim)
        obs, self._state, reward, done, _ = self._step(step_key, self._state, action)
        obs = np.asarray(obs, np.float32)
        terminated = bool(done) or not np.all(np.isfinite(obs))
        return np.nan_to_num(obs), float(reward), terminated, False, {}


class HopperStandEnv(gym.Env):
    """dm_control hopper-stand on native MuJoCo, one environment."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, **params):
        from mollify.tasks import make

        self.task = make("hopper_stand", **params)
        self.physics = self.task.physics
        self.action_space, self.observation_space = _spaces(self.task)
        self._state = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        seed_int = int(self.np_random.integers(0, 2**31 - 1))
        states, obs = self.physics.reset([seed_int])
        self._state = states[0]
        return obs[0].astype(np.float32), {}

    def step(self, action):
        control = np.clip(np.asarray(action, np.float64).reshape(1, -1), -1.0, 1.0)
        traj, sens = self.physics.advance(self._state[None], control)
        self._state = traj[0, -1]
        obs = self.physics.observe(traj[:, -1], sens[:, -1])[0]
        reward = self.physics.reward(np.array([self.physics.height_of_state(self._state)]), control)
        terminated = not np.all(np.isfinite(self._state))
        return obs.astype(np.float32), float(reward[0]), terminated, False, {}


def register_envs() -> None:
    for env_id, task_name in GYM_IDS.items():
        if env_id in gym.registry:
            continue
        horizon = 1000 if task_name == "hopper_stand" else (250 if "quad" in task_name else 200)
        if task_name == "hopper_stand":
            gym.register(env_id, entry_point=HopperStandEnv, max_episode_steps=horizon)
        else:
            gym.register(
                env_id,
                entry_point=JaxTaskEnv,
                max_episode_steps=horizon,
                kwargs={"task_name": task_name},
            )
