"""Vectorised environments for the tasks that do not run inside JAX (the hopper on
`mujoco.rollout`, the Gymnasium locomotion tasks, any `gym:` env), all with one interface so one
collection loop (`common.collect_native`) and one jitted update serve them:

- `obs`: (n, obs_dim) float64, the observation each env stands in now;
- `step(actions (n, A)) -> (reward, done, truncated, reached)`: `done` is termination (or a
  diverged / non-finite env: no bootstrap), `truncated` the time limit (bootstrap from V of
  `reached`, the observation the step reached before any auto-reset); ended envs restart;
- `snapshot()` / `from_snapshot(task, snap)`: everything the next step depends on, for checkpoints,
  so a killed run resumes bit for bit.

A NaN action never reaches the simulator: that env's episode ends. A diverged env (NaN action,
non-finite state or reward) ends its episode with the task's failure reward for every step left
as one lump, discounted by `gamma` (`common.failure_lump`; the collector sets the run's γ), never
0 on a negative-reward task and never NaN.
"""

from __future__ import annotations

import pickle

import numpy as np

from mollify.tasks import GymnasiumTask, HopperTask, LocomotionTask, Task
from mollify.training.common import failure_lump, remaining_weight


class _PhysicsVecEnv:
    """What the MuJoCo tasks' envs share: rows of full-physics states with their observations and
    step counts, resets from seeds drawn from the env's own generator, and snapshots of all that."""

    def __init__(self, task, n_envs: int, seed: int):
        self.task, self.physics, self.n = task, task.physics, n_envs
        self.rng = np.random.default_rng(seed)
        self.states, self.obs = self.physics.reset(self._seeds(n_envs))
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.gamma = task.gamma

    def _failed(self, ok: np.ndarray, reward: np.ndarray) -> np.ndarray:
        """`reward`, with the failure lump of each diverged env's remaining steps in its place."""
        lump = failure_lump(self.task, self.gamma)[np.minimum(self.t, self.task.horizon - 1)]
        return np.where(ok, reward, lump)

    def _seeds(self, k: int) -> np.ndarray:
        return self.rng.integers(0, 2**31 - 1, k)

    def snapshot(self) -> dict:
        return {
            "states": self.states.copy(),
            "obs": self.obs.copy(),
            "t": self.t.copy(),
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_snapshot(cls, task, snap: dict):
        env = cls.__new__(cls)
        env.task, env.physics, env.n = task, task.physics, len(snap["t"])
        env.rng = np.random.default_rng()
        env.rng.bit_generator.state = snap["rng"]
        env.states = np.array(snap["states"], dtype=np.float64)
        env.obs = np.array(snap["obs"], dtype=np.float64)
        env.t = np.array(snap["t"], dtype=np.int64)
        env.gamma = task.gamma
        return env


class HopperVecEnv(_PhysicsVecEnv):
    """n hopper-stand envs on `mujoco.rollout`, auto-reset at the horizon; numpy in, numpy out."""

    def step(self, actions: np.ndarray):
        sane = np.all(~np.isnan(actions), axis=1)
        controls = np.where(sane[:, None], np.clip(actions, -1.0, 1.0), 0.0)
        traj, sens = self.physics.advance(self.states, controls)
        new_states = traj[:, -1]
        # dm_control rewards the state a control step reaches (heights by kinematics of it).
        heights = np.array([self.physics.height_of_state(s) for s in new_states])
        reward = self.physics.reward(heights, controls)
        expected_time = (
            self.states[:, 0] + self.physics.n_substeps * self.physics.model.opt.timestep
        )
        ok = np.all(np.isfinite(new_states), axis=1) & np.isclose(
            new_states[:, 0], expected_time, rtol=0, atol=1e-9
        )
        ok &= np.isfinite(reward) & sane
        reached = np.where(ok[:, None], self.physics.observe(new_states, sens[:, -1]), self.obs)
        reward = self._failed(ok, reward)
        done = ~ok
        self.t += 1
        truncated = (self.t >= self.task.horizon) & ~done
        end = done | truncated
        self.states = np.where(ok[:, None], new_states, self.states)
        self.obs = reached.copy()
        if end.any():
            idx = np.nonzero(end)[0]
            s, o = self.physics.reset(self._seeds(idx.size))
            self.states[idx], self.obs[idx], self.t[idx] = s, o, 0
        return reward, done, truncated, reached


class LocomotionVecEnv(_PhysicsVecEnv):
    """n envs of one locomotion task, auto-reset when an episode ends (terminated, diverged or at
    the horizon)."""

    def step(self, actions: np.ndarray):
        """(reward, done = terminated or diverged, truncated = time limit, reached observation
        before any reset). A NaN action never reaches MuJoCo: that env's episode ends."""
        actions = np.asarray(actions, np.float64)
        sane = ~np.any(np.isnan(actions), axis=1)
        p = self.physics
        controls = np.where(sane[:, None], np.clip(actions, p.action_low, p.action_high), 0.0)
        new, new_obs, reward, terminated, ok = p.step(self.states, controls)
        ok &= sane
        reward = self._failed(ok, reward)
        done = ~ok | terminated
        reached = np.where(ok[:, None], new_obs, self.obs)
        self.t += 1
        truncated = (self.t >= self.task.horizon) & ~done
        end = done | truncated
        self.states = np.where(ok[:, None], new, self.states)
        self.obs = reached.copy()
        if end.any():
            idx = np.nonzero(end)[0]
            s, o = p.reset(self._seeds(idx.size))
            self.states[idx], self.obs[idx], self.t[idx] = s, o, 0
        return reward, done, truncated, reached


class GymVecEnv:
    """n copies of any Gymnasium env in Gymnasium's synchronous vector env, auto-reset on the same
    step (the reached observation comes from `info["final_obs"]`). Each sub-env is seeded once from
    `seed`; later resets continue its own generator, so reruns repeat exactly.

    Snapshots pickle the sub-envs. MuJoCo envs pickle as their constructor arguments only
    (Gymnasium's `EzPickle`), so their simulator state (`mjSTATE_INTEGRATION`: time, positions,
    velocities, activations, warm start) and every env's random generator are saved beside.
    """

    def __init__(self, task: GymnasiumTask, n_envs: int, seed: int):
        self.task, self.n = task, n_envs
        self.envs = task.make_vector_env(n_envs, same_step_autoreset=True)
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, n_envs)
        obs, _ = self.envs.reset(seed=[int(s) for s in seeds])
        self.obs = np.asarray(obs, np.float64)
        self.gamma = task.gamma
        self.t = np.zeros(n_envs, dtype=np.int64)  # steps since reset, for the failure lump
        self.lowest = np.zeros(n_envs)  # min(0, lowest reward since reset): the failure reward

    def step(self, actions: np.ndarray):
        sane = np.all(~np.isnan(actions), axis=1)
        low, high = self.task.action_low, self.task.action_high
        actions = np.where(sane[:, None], np.clip(actions, low, high), self.task.action_center)
        obs, reward, terminated, truncated, info = self.envs.step(
            actions.astype(self.envs.single_action_space.dtype)
        )
        obs = np.asarray(obs, np.float64)
        reached = obs.copy()
        if "_final_obs" in info:
            for i in np.nonzero(info["_final_obs"])[0]:
                reached[i] = info["final_obs"][i]
        reward = np.asarray(reward, np.float64)
        ok = sane & np.isfinite(reward) & np.all(np.isfinite(reached), axis=1)
        done = np.asarray(terminated, bool) | ~ok
        truncated = np.asarray(truncated, bool) & ~done
        # As in evaluation (`gymnasium_adapter`): a diverged env is charged the lowest reward its
        # episode had seen, capped at 0, for every step left, discounted.
        weight = remaining_weight(self.task, self.gamma)[np.minimum(self.t, self.task.horizon - 1)]
        reward = np.where(ok, reward, self.lowest * weight)
        self.lowest = np.where(ok, np.minimum(self.lowest, reward), self.lowest)
        ended = done | truncated | ~ok
        self.t = np.where(ended, 0, self.t + 1)
        self.lowest = np.where(ended, 0.0, self.lowest)
        # An env that went bad without Gymnasium ending its episode restarts here.
        stuck = ~ok & ~(np.asarray(terminated, bool) | np.asarray(truncated, bool))
        if stuck.any():
            fresh, _ = self.envs.reset(options={"reset_mask": stuck})
            obs = np.where(stuck[:, None], np.asarray(fresh, np.float64), obs)
        self.obs = np.where(np.isfinite(obs), obs, 0.0)
        return (
            reward,
            done,
            truncated,
            np.where(ok[:, None] & np.isfinite(reached), reached, 0.0),
        )

    def snapshot(self) -> dict:
        subs = self.envs.envs
        extra = [
            (_mujoco_state(env.unwrapped), env.unwrapped.np_random.bit_generator.state)
            for env in subs
        ]
        blob = pickle.dumps((subs, extra))
        return {
            "envs": np.frombuffer(blob, np.uint8).copy(),
            "obs": self.obs.copy(),
            "t": self.t.copy(),
            "lowest": self.lowest.copy(),
        }

    @classmethod
    def from_snapshot(cls, task: GymnasiumTask, snap: dict) -> GymVecEnv:
        import gymnasium as gym

        subs, extra = pickle.loads(np.asarray(snap["envs"], np.uint8).tobytes())
        for env, (mj_state, rng_state) in zip(subs, extra, strict=True):
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = rng_state
            env.unwrapped.np_random = generator
            if mj_state is not None:
                _set_mujoco_state(env.unwrapped, mj_state)
        env = cls.__new__(cls)
        env.task, env.n = task, len(subs)
        env.envs = gym.vector.SyncVectorEnv(
            [lambda e=e: e for e in subs], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        env.obs = np.array(snap["obs"])
        env.gamma = task.gamma
        env.t = np.array(snap.get("t", np.zeros(len(subs))), dtype=np.int64)
        env.lowest = np.array(snap.get("lowest", np.zeros(len(subs))), dtype=np.float64)
        return env


def _mujoco_state(env) -> np.ndarray | None:
    if not (hasattr(env, "model") and hasattr(env, "data")):
        return None
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(env.model, spec))
    mujoco.mj_getState(env.model, env.data, state, spec)
    return state


def _set_mujoco_state(env, state: np.ndarray) -> None:
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    mujoco.mj_setState(env.model, env.data, state, spec)
    mujoco.mj_forward(env.model, env.data)  # derived quantities (positions of bodies, contacts)
    mujoco.mj_setState(env.model, env.data, state, spec)  # the warm start as it was


def make_vec_env(task: Task, n_envs: int, seed: int):
    """The vectorised env of a task that does not run in JAX."""
    if isinstance(task, HopperTask):
        return HopperVecEnv(task, n_envs, seed)
    if isinstance(task, GymnasiumTask):
        return GymVecEnv(task, n_envs, seed)
    if isinstance(task, LocomotionTask):
        return LocomotionVecEnv(task, n_envs, seed)
    raise TypeError(f"no vectorised env for task type {type(task).__name__}")


def vec_env_from_snapshot(task: Task, snap: dict):
    if isinstance(task, HopperTask):
        return HopperVecEnv.from_snapshot(task, snap)
    if isinstance(task, GymnasiumTask):
        return GymVecEnv.from_snapshot(task, snap)
    return LocomotionVecEnv.from_snapshot(task, snap)


def sample_observations(task: Task, n: int, seed: int) -> np.ndarray:
    """Observations of `n` fresh resets of a non-JAX task (where its policy is compared)."""
    env = make_vec_env(task, n, seed)
    obs = np.array(env.obs)
    if isinstance(env, GymVecEnv):
        env.envs.close()
    return obs
