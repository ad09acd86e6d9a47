"""REINFORCE with reward-to-go and a learned value baseline, top to bottom.

The driver collects whole, aligned episodes (n_steps = the task's horizon, every env restarted at
the start of each update), so the batch holds n_envs episodes of a = μ_θ(s) + σ·ε. For every step,
the reward-to-go G_t is the discounted sum of the (normalised) rewards from t to the end of its
episode; the advantage is G_t − V(s_t), and the update is one Adam step on

    −mean_t log π(a_t | s_t) · (G_t − V(s_t))  +  vf_coef · ½ mean_t (V(s_t) − G_t)²,

gradients clipped by global norm, non-finite steps skipped (ppo.make_optimizer). Its policy part is
the score-function (likelihood-ratio) estimate of ∇ E[return] — the gradient of the mollified
objective at the current σ, with no ratio, no clipping and no trust region: the plainest policy
gradient, to compare against PPO and NPG at the same σ.

Episode ends inside the batch. Terminations (`done`) stop the sum. A time-limit truncation adds
γ·V(s_H) of the state the episode reached and stops there: the policy and the critic do not see the
time step, so what both estimate is the discounted return of an unending task of which the horizon
is only where sampling stops; bootstrapping at the horizon keeps G_t an estimate of that same
quantity (the one V is fitted to and PPO/NPG optimise) instead of one that falsely says the world
ends at step H. A batch that stops mid-episode (not the driver's case) bootstraps from `last_value`.
This is exactly GAE with λ = 1, so `common.gae(·, λ = 1)` computes it.

`update_epochs` × `n_minibatches` > 1 (the defaults are 1 × 1) runs that many Adam steps on the
same batch; only the first is the on-policy REINFORCE gradient — later ones reuse off-policy
samples without an importance ratio, which is a heuristic (PPO is the principled version).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mollify.training import common, ppo
from mollify.training.config import LEARNED_MODES, TrainConfig


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # at collection: for the KL the update moved the policy by
    advantage: jax.Array  # G_t − V(s_t)
    ret: jax.Array  # G_t, the critic's target


def make_optimizer(config: TrainConfig, n_updates: int) -> optax.GradientTransformation:
    """PPO's optimiser: Adam (linearly annealed with `anneal_lr`), global-norm clipping, and
    non-finite steps skipped; here one step per update unless epochs/minibatches say more."""
    return ppo.make_optimizer(config, n_updates)


def make_batch(traj: common.Transition, last_value: jax.Array, gamma: float) -> Batch:
    """Reward-to-go and advantage of every step, flattened from (T, n) to (T·n,)."""
    advantage, ret = common.gae(traj, last_value, gamma, 1.0)  # λ = 1: G_t − V(s_t), G_t
    batch = Batch(traj.obs, traj.action, traj.log_prob, advantage, ret)
    n = traj.reward.size
    return jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), batch)


def _policy(params, obs, nets: common.Networks, config: TrainConfig, half, progress):
    """(mean, std) of the action distribution; σ is a parameter only when it is learned."""
    log_std = params["log_std"]
    if config.sigma_mode not in LEARNED_MODES:
        log_std = jax.lax.stop_gradient(log_std)
    std = common.sigma_rel(config, log_std, progress) * half
    return nets.actor.apply(params["actor"], obs), std


def policy_loss(params, batch: Batch, nets: common.Networks, config: TrainConfig, half, progress):
    """−mean log π(a|s)·A: its negative gradient is the REINFORCE estimate of ∇ E[return]."""
    mean, std = _policy(params, batch.obs, nets, config, half, progress)
    logp = common.log_prob(config.kernel, batch.action, mean, std)
    adv = batch.advantage
    if config.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return -(logp * adv).mean()


def policy_gradient_estimate(params, batch: Batch, nets, config: TrainConfig, half, progress):
    """The ascent direction ĝ = mean ∇ log π(a|s)·A over {"actor", "log_std"} (zero for log_std
    unless σ is learned)."""
    grads = jax.grad(policy_loss)(params, batch, nets, config, half, progress)
    return {"actor": -grads["actor"], "log_std": -grads["log_std"]}


def loss_fn(params, batch: Batch, nets: common.Networks, config: TrainConfig, half, progress):
    """Policy loss + value loss − entropy bonus. Returns (loss, diagnostics)."""
    pg_loss = policy_loss(params, batch, nets, config, half, progress)
    v = common.value(nets, params["critic"], batch.obs)
    value_loss = 0.5 * ((v - batch.ret) ** 2).mean()
    _, std = _policy(params, batch.obs, nets, config, half, progress)
    ent = common.entropy(config.kernel, std)
    loss = pg_loss + config.vf_coef * value_loss - config.ent_coef * ent
    return loss, {"policy_loss": pg_loss, "value_loss": value_loss, "entropy": ent}


def make_update(nets: common.Networks, config: TrainConfig, optimizer, half):
    """(params, opt_state, traj, last_value, progress, key) -> (params, opt_state, metrics)."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update(params, opt_state, traj, last_value, progress, key):
        batch = make_batch(traj, last_value, config.gamma)
        params, opt_state, diags = common.minibatch_epochs(
            grad_fn, optimizer, params, opt_state, batch, config, key, nets, config, half, progress
        )
        metrics = {k: v.mean() for k, v in diags.items()}

        # How far the step(s) moved the policy: KL(old ‖ new) on the batch (k3 estimator).
        mean, std = _policy(params, batch.obs, nets, config, half, progress)
        log_ratio = common.log_prob(config.kernel, batch.action, mean, std) - batch.log_prob
        metrics["approx_kl"] = (jnp.expm1(log_ratio) - log_ratio).mean()
        metrics["clip_fraction"] = jnp.float32(0.0)
        metrics["nan_skips"] = opt_state.total_notfinite.astype(jnp.float32)
        return params, opt_state, metrics

    return update
