"""Proximal policy optimisation at a controlled σ, top to bottom.

Collect n_envs × n_steps transitions with a = μ_θ(s) + σ·ε, estimate advantages by GAE (time-limit
truncation bootstraps from the critic), then run `update_epochs` passes of minibatch Adam steps on
the clipped surrogate plus value loss, gradients clipped by global norm. σ comes from
`common.sigma_rel`: fixed, scheduled, or a learned state-independent log-std. Updates whose
gradients are not finite are skipped (optax.apply_if_finite) and counted.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mollify.training import common
from mollify.training.config import LEARNED_MODES, TrainConfig


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    advantage: jax.Array
    ret: jax.Array
    value: jax.Array


def make_optimizer(config: TrainConfig, n_updates: int) -> optax.GradientTransformation:
    steps = n_updates * config.update_epochs * config.n_minibatches
    lr = optax.linear_schedule(config.lr, 0.0, steps) if config.anneal_lr else config.lr
    inner = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    return optax.apply_if_finite(inner, max_consecutive_errors=1_000_000)


def loss_fn(
    params, batch: Batch, key, nets: common.Networks, config: TrainConfig, std_scale, progress
):
    """Clipped surrogate + value loss − entropy bonus. Returns (loss, diagnostics). In σ mode
    `rpo` the mean is shifted by U(−α, α)·half-range before the ratio (a fresh draw per
    minibatch step): the new policy is scored as a mollified one."""
    half = std_scale  # action half-range: σ_abs = σ_rel · half
    log_std = params["log_std"]
    if config.sigma_mode not in LEARNED_MODES:
        log_std = jax.lax.stop_gradient(log_std)
    std = common.sigma_rel(config, log_std, progress) * half
    mean = nets.actor.apply(params["actor"], batch.obs)
    if config.sigma_mode == "rpo":
        alpha = config.rpo_alpha
        mean = mean + jax.random.uniform(key, mean.shape, minval=-alpha, maxval=alpha) * half
    new_logp = common.log_prob(config.kernel, batch.action, mean, std)
    log_ratio = new_logp - batch.log_prob
    ratio = jnp.exp(log_ratio)
    adv = batch.advantage
    if config.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    unclipped = -adv * ratio
    clipped = -adv * jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps)
    policy_loss = jnp.maximum(unclipped, clipped).mean()
    v = common.value(nets, params["critic"], batch.obs)
    value_loss = 0.5 * ((v - batch.ret) ** 2).mean()
    ent = common.entropy(config.kernel, jnp.broadcast_to(std, mean.shape)).mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * ent
    diag = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": ent,
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "clip_fraction": (jnp.abs(ratio - 1) > config.clip_eps).mean(),
        "ratio_mean": ratio.mean(),
        "unclipped_loss": unclipped.mean(),
        "clipped_loss": jnp.maximum(unclipped, clipped).mean(),
    }
    return loss, diag


def make_update(nets: common.Networks, config: TrainConfig, optimizer, half):
    """(params, opt_state, traj, last_value, progress, key) -> (params, opt_state, metrics)."""
    gamma = config.gamma
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update(params, opt_state, traj, last_value, progress, key):
        adv, ret = common.gae(traj, last_value, gamma, config.gae_lambda)
        flat = Batch(traj.obs, traj.action, traj.log_prob, adv, ret, traj.value)
        n = traj.reward.size
        flat = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), flat)
        params, opt_state, diags = common.minibatch_epochs(
            grad_fn,
            optimizer,
            params,
            opt_state,
            flat,
            config,
            key,
            nets,
            config,
            half,
            progress,
            keyed=True,
        )
        metrics = {
            k: v.mean()
            for k, v in diags.items()
            if k not in ("unclipped_loss", "clipped_loss", "ratio_mean")
        }
        metrics["nan_skips"] = opt_state.total_notfinite.astype(jnp.float32)
        return params, opt_state, metrics

    return update
