"""The policy-gradient algorithms (PPO, REINFORCE, NPG) as one `Algorithm`: they share the
collection in `common` (rollouts on JAX tasks, a host loop on the native tasks' envs) and differ
only in their optimizer and update, which each algorithm's module supplies. Kept apart from the
driver (train) and the dispatcher so that neither has to import the other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mollify.tasks import JaxTask, Task
from mollify.training import common, npg, ppo, reinforce, vec_envs
from mollify.training.algorithm import Algorithm
from mollify.training.config import TrainConfig


class PGState(NamedTuple):
    params: dict
    opt_state: Any
    env: Any  # common.EnvState for JAX tasks; None on the native path
    reward_norm: common.RewardNorm
    key: jax.Array
    obs_norm: common.ObsNorm | None = None  # with config.norm_obs (native tasks only)


def make_algorithm(config: TrainConfig, task: Task) -> Algorithm:
    """PPO, REINFORCE or NPG (`config.algo`) on a resolved config."""
    module = {"ppo": ppo, "reinforce": reinforce, "npg": npg}[config.algo]
    nets = common.make_networks(task, config)
    half = jnp.asarray(task.action_half_range, jnp.float32)
    n_steps = task.horizon if config.algo == "reinforce" else config.n_steps
    per_update = config.n_envs * n_steps
    n_updates = max(1, config.total_steps // per_update)
    optimizer = module.make_optimizer(config, n_updates)
    update = module.make_update(nets, config, optimizer, half)

    def sigma(state, progress):
        return common.sigma_rel(config, state.params["log_std"], progress)

    def init(key):
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = common.init_params(nets, config, k_params)
        env = common.env_reset(task, k_env, config.n_envs) if isinstance(task, JaxTask) else None
        rn = common.reward_norm_init(config.n_envs)
        on = common.obs_norm_init(task.obs_dim) if config.norm_obs else None
        return PGState(params, optimizer.init(params), env, rn, k_run, on)

    if isinstance(task, JaxTask):

        def step(state, i):
            progress = i / n_updates
            std_abs = sigma(state, progress) * half
            key, k_col, k_upd = jax.random.split(state.key, 3)
            env = state.env
            if config.algo == "reinforce":  # whole episodes, aligned: restart every env
                env = common.env_reset(task, k_col, config.n_envs)
            env, traj, last_value = common.collect_jax(
                task, nets, config, state.params, env, k_col, std_abs, n_steps
            )
            raw_reward = traj.reward.mean()
            rn = state.reward_norm
            if config.norm_reward:
                rn, traj = common.normalize_rewards(rn, traj, config.gamma)
            params, opt_state, metrics = update(
                state.params, state.opt_state, traj, last_value, progress, k_upd
            )
            metrics["train_reward_per_step"] = raw_reward
            return PGState(params, opt_state, env, rn, key, state.obs_norm), metrics

        pure = True
    else:
        native = {}
        jit_update = jax.jit(update)
        jit_normalize = jax.jit(lambda rn, traj: common.normalize_rewards(rn, traj, config.gamma))
        jit_obs_stats = jax.jit(common.update_obs_norm)

        def step(state, i):
            progress = float(i) / n_updates
            key, k_col, k_upd = jax.random.split(state.key, 3)
            if "env" not in native or config.algo == "reinforce":
                seed = int(jax.random.randint(k_col, (), 0, 2**31 - 1))
                native["env"] = vec_envs.make_vec_env(task, config.n_envs, seed)
            std_abs = sigma(state, progress) * half
            traj, last_value, _, raw_obs = common.collect_native(
                native["env"], nets, config, state.params, k_col, std_abs, n_steps, state.obs_norm
            )
            on = state.obs_norm
            if on is not None:
                on = jit_obs_stats(on, raw_obs)
            raw_reward = float(traj.reward.mean())
            rn = state.reward_norm
            if config.norm_reward:
                rn, traj = jit_normalize(rn, traj)
            params, opt_state, metrics = jit_update(
                state.params, state.opt_state, traj, last_value, progress, k_upd
            )
            metrics["train_reward_per_step"] = raw_reward
            return PGState(params, opt_state, None, rn, key, on), metrics

        def save_host():
            return native["env"].snapshot() if "env" in native else None

        def load_host(snap):
            native["env"] = vec_envs.vec_env_from_snapshot(task, snap)

        pure = False
    return Algorithm(
        init=init,
        step=step,
        theta=lambda s: common.fold_obs_norm(nets.actor, s.params["actor"], s.obs_norm),
        sigma=sigma,
        n_updates=n_updates,
        steps_per_update=per_update,
        pure=pure,
        **({} if pure else {"save_host": save_host, "load_host": load_host}),
    )
