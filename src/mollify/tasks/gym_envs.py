"""The mollify tasks as ordinary Gymnasium environments, for any Gymnasium training library.

These single-environment wrappers are for interoperability, not speed: mollify's own instruments
use the batched paths in `mollify.evaluation`. The locomotion ids (`mollify/Walker2d-v0`, ...) also
have a vector entry point, `gym.make_vec(id, num_envs, vectorization_mode="vector_entry_point")`,
that steps every sub-env in one `mujoco.rollout` call; both behave as Gymnasium's own v5 envs
(same seeds, same resets, Gymnasium's next-step autoreset).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import jax
import numpy as np

from mollify.tasks import locomotion

GYM_IDS = {
    "mollify/Pendulum-v0": "pendulum",
    "mollify/DoublePendulum-v0": "double_pendulum",
    "mollify/PlanarQuadrotor-v0": "planar_quadrotor",
    "mollify/HopperStand-v0": "hopper_stand",
    "mollify/Hopper-v0": "hopper",
    "mollify/Walker2d-v0": "walker2d",
    "mollify/HalfCheetah-v0": "half_cheetah",
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


def _locomotion_spaces(physics):
    """Gymnasium's v5 spaces: float32 actions in `ctrlrange`, float64 observations."""
    action_space = gym.spaces.Box(
        physics.action_low.astype(np.float32), physics.action_high.astype(np.float32)
    )
    observation_space = gym.spaces.Box(-np.inf, np.inf, (physics.obs_dim,), dtype=np.float64)
    return action_space, observation_space


def _step_rows(physics, states, actions):
    """One Gymnasium step of the rows of `states`: actions reach MuJoCo as given (it clamps them to
    `ctrlrange`) and are charged as given, as in Gymnasium; a NaN action or a diverged physics
    step is a termination with zero reward that leaves the state where it was."""
    actions = np.asarray(actions).reshape(states.shape[0], physics.action_dim)
    sane = ~np.any(np.isnan(actions), axis=1)
    new, obs, reward, terminated, ok = physics.step(states, np.where(sane[:, None], actions, 0.0))
    ok &= sane
    new = np.where(ok[:, None], new, states)
    obs = np.where(ok[:, None], obs, physics.observe(states))
    return new, obs, np.where(ok, reward, 0.0), terminated | ~ok


class LocomotionEnv(gym.Env):
    """A Gymnasium MuJoCo locomotion env (`Walker2d-v5`, ...) on mollify's native physics, one
    environment; `reset(seed=s)` gives the same state as Gymnasium's env."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, task_name: str = "walker2d", **params):
        from mollify.tasks import make

        self.task = make(task_name, **params)
        self.physics = self.task.physics
        self.action_space, self.observation_space = _locomotion_spaces(self.physics)
        self._state = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state, obs = self.physics.state_from(*self.physics.draw_initial(self.np_random))
        return obs, {}

    def step(self, action):
        before = self._state
        states, obs, reward, terminated = _step_rows(self.physics, before[None], action)
        self._state = states[0]
        x_velocity = (self._state[1] - before[1]) / self.physics.dt
        info = {"x_position": self._state[1], "x_velocity": x_velocity}
        return obs[0], float(reward[0]), bool(terminated[0]), False, info


class LocomotionVectorEnv(gym.vector.VectorEnv):
    """`num_envs` copies of a locomotion env stepped together, one `mujoco.rollout` call per step.

    Equal to Gymnasium's sync vector env of the v5 env: each sub-env keeps its own generator,
    seeded as `reset(seed=...)` seeds it (an int seeds sub-env i with seed + i), and an env whose
    episode ended (terminated, or `max_episode_steps` reached) is reset by the next `step`, which
    ignores its action and returns its reset observation with reward 0.
    """

    metadata: ClassVar[dict] = {
        "render_modes": [],
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
    }

    def __init__(self, num_envs=1, max_episode_steps=1000, *, task_name="walker2d", **params):
        from gymnasium.vector.utils import batch_space

        from mollify.tasks import make

        self.task = make(task_name, **params)
        self.physics = self.task.physics
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.single_action_space, self.single_observation_space = _locomotion_spaces(self.physics)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._rngs = [None] * self.num_envs
        self._states = np.zeros((self.num_envs, self.physics.state_size))
        self._obs = np.zeros((self.num_envs, self.physics.obs_dim))
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def _reset_env(self, i: int) -> None:
        if self._rngs[i] is None:  # as `Env.np_random` when reset without a seed
            self._rngs[i] = locomotion.gym_rng(None)
        self._states[i], self._obs[i] = self.physics.state_from(
            *self.physics.draw_initial(self._rngs[i])
        )
        self._t[i] = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed if isinstance(seed, int) or seed is None else None)
        if seed is None:
            seed = [None] * self.num_envs
        elif isinstance(seed, int):
            seed = [seed + i for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ValueError(f"seed: expected {self.num_envs} seeds, got {len(seed)}")
        mask = np.ones(self.num_envs, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
        for i in np.nonzero(mask)[0]:
            if seed[i] is not None:
                self._rngs[i] = locomotion.gym_rng(seed[i])
            self._reset_env(int(i))
        self._autoreset[mask] = False
        return self._obs.copy(), {}

    def step(self, actions):
        actions = np.asarray(actions).reshape(self.num_envs, self.physics.action_dim)
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        live = np.nonzero(~self._autoreset)[0]
        if live.size:
            states, obs, reward, term = _step_rows(self.physics, self._states[live], actions[live])
            self._states[live], self._obs[live], rewards[live] = states, obs, reward
            terminated[live] = term
            self._t[live] += 1
            truncated[live] = self._t[live] >= self.max_episode_steps
        for i in np.nonzero(self._autoreset)[0]:
            self._reset_env(int(i))
        self._autoreset = terminated | truncated
        return self._obs.copy(), rewards, terminated, truncated, {}


def register_envs() -> None:
    for env_id, task_name in GYM_IDS.items():
        if env_id in gym.registry:
            continue
        horizon = 1000 if task_name == "hopper_stand" else (250 if "quad" in task_name else 200)
        if task_name in locomotion.TASK_ENV_IDS:
            gym.register(
                env_id,
                entry_point=LocomotionEnv,
                vector_entry_point=LocomotionVectorEnv,
                max_episode_steps=1000,
                kwargs={"task_name": task_name},
            )
        elif task_name == "hopper_stand":
            gym.register(env_id, entry_point=HopperStandEnv, max_episode_steps=horizon)
        else:
            gym.register(
                env_id,
                entry_point=JaxTaskEnv,
                max_episode_steps=horizon,
                kwargs={"task_name": task_name},
            )
