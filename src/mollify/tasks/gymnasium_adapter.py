"""Any Gymnasium environment with a Box action space as a mollify task (the slow path).

Episodes run on a synchronous Gymnasium vector env, one sub-env per (policy, episode) pair, with the
policy evaluated batched between steps; every policy's episode e is reset with the same seed, so
common random numbers hold here too. Truncation by the env's time limit ends an episode.

A rollout that diverges (non-finite reward or observation, a NaN action) is charged, for that step
and every step left, the lowest per-step reward that episode had seen, capped at 0: an arbitrary
env's worst reward is unknown, and this way diverging never beats the episode's own worst step
nor a termination (which Gymnasium pays 0 after). Training does the same (`vec_envs.GymVecEnv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mollify.tasks.base import Task, TaskError, charge_failures


@dataclass(frozen=True, eq=False)
class GymnasiumTask(Task):
    env_id: str = ""
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def make_vector_env(self, num_envs: int, *, same_step_autoreset: bool = False):
        """Gymnasium's synchronous vector env; `same_step_autoreset` for training (an ended env
        returns its reset observation at once, the reached one in `info["final_obs"]`)."""
        import gymnasium as gym

        vector_kwargs = {}
        if same_step_autoreset:
            vector_kwargs["autoreset_mode"] = gym.vector.AutoresetMode.SAME_STEP
        return gym.make_vec(
            self.env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs=vector_kwargs,
            max_episode_steps=self.horizon,
            **self.env_kwargs,
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "env_id": self.env_id, "env_kwargs": dict(self.env_kwargs)}


def from_gymnasium(env_id: str, *, horizon: int | None = None, gamma: float = 0.99, **kwargs):
    """Wrap the Gymnasium env `env_id` (continuous Box actions, flat Box observations)."""
    import gymnasium as gym

    if ":" not in env_id and env_id not in gym.registry:  # "module:Env" imports first
        from mollify.util.checks import did_you_mean

        hint = did_you_mean(env_id, gym.registry.keys())
        raise TaskError(
            f"task: no Gymnasium env {env_id!r} is registered{hint}; "
            "`mollify tasks` lists the built-in tasks"
        )
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as exc:  # missing extras (box2d, mujoco), bad kwargs: one line, no traceback
        detail = " ".join(str(exc).split())
        raise TaskError(
            f"task: cannot make Gymnasium env {env_id!r}: {type(exc).__name__}: {detail}"
        ) from None
    try:
        act, obs = env.action_space, env.observation_space
        if not isinstance(act, gym.spaces.Box):
            raise TaskError(
                f"task: Gymnasium env {env_id!r} has a {type(act).__name__} action space; "
                "mollify needs a continuous Box"
            )
        if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
            raise TaskError(f"task: Gymnasium env {env_id!r} needs a flat Box observation space")
        low, high = np.asarray(act.low, np.float64), np.asarray(act.high, np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise TaskError(f"task: Gymnasium env {env_id!r} has an unbounded action box")
        spec_limit = env.spec.max_episode_steps if env.spec is not None else None
    finally:
        env.close()
    return GymnasiumTask(
        name=f"gym:{env_id}",
        obs_dim=int(obs.shape[0]),
        action_dim=int(act.shape[0]),
        action_low=low.ravel(),
        action_high=high.ravel(),
        horizon=int(horizon or spec_limit or 1000),
        gamma=float(gamma),
        backend="gymnasium",
        failure_reward=None,  # the episode's own lowest reward, capped at 0 (see run_closed_loop)
        env_id=env_id,
        env_kwargs=dict(kwargs),
    )


def run_closed_loop(task: GymnasiumTask, act, reset_seeds: np.ndarray, gamma: float, *,
                    return_diverged: bool = False):  # fmt: skip
    """Episodes on a vector env; `act(t, obs (B, obs_dim)) -> actions (B, A)`.

    Returns (discounted (B,), undiscounted (B,), steps (B,)[, diverged (B,)]). A NaN action (never
    passed to the env: the box centre goes instead), a non-finite reward or observation diverges
    the episode, charged the lowest reward it had seen (capped at 0) for that step and each one
    after (`GymnasiumTask.failure_reward` is None: the adapter cannot know an env's worst).
    """
    batch = len(reset_seeds)
    envs = task.make_vector_env(batch)
    try:
        obs, _ = envs.reset(seed=[int(s) for s in reset_seeds])
        ret, dret = np.zeros(batch), np.zeros(batch)
        steps = np.zeros(batch, dtype=np.int64)
        alive = np.ones(batch, dtype=bool)
        diverged = np.zeros(batch, dtype=bool)
        lowest = np.zeros(batch)  # min(0, lowest reward so far): the failure reward per step
        for t in range(task.horizon):
            actions = np.clip(act(t, obs), task.action_low, task.action_high)
            sane = ~np.any(np.isnan(actions), axis=1)
            actions = np.where(sane[:, None], actions, task.action_center)
            obs, reward, terminated, truncated, _ = envs.step(
                actions.astype(envs.action_space.dtype)
            )
            reward = np.asarray(reward, dtype=np.float64)
            ok = alive & sane & np.isfinite(reward) & np.all(np.isfinite(obs), axis=1)
            diverged |= alive & ~ok
            ret += np.where(ok, reward, 0.0)
            dret += np.where(ok, gamma**t * reward, 0.0)
            lowest = np.where(ok, np.minimum(lowest, reward), lowest)
            steps += ok
            alive = ok & ~(terminated | truncated)
            obs = np.where(np.isfinite(obs), obs, 0.0)
            if not alive.any():
                break
    finally:
        envs.close()
    charge_failures(dret, ret, steps, diverged, lowest, task.horizon, gamma)
    return (dret, ret, steps, diverged) if return_diverged else (dret, ret, steps)
