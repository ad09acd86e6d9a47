"""Natural policy gradient with a KL step (TRPO-style), top to bottom.

Collect n_envs × n_steps transitions, estimate advantages by GAE, then move the policy
parameters φ = {actor θ, log-std when σ is learned} along the natural gradient:

    g = ∇ L(φ) at φ_old,   L(φ) = mean π_φ(a|s) / π_old(a|s) · A      (the surrogate)
    x ≈ (F + cg_damping·I)⁻¹ g  by `cg_iters` conjugate-gradient iterations,
    Δ = sqrt(2·max_kl / xᵀ(F + cg_damping·I)x) · x,

where F is the Fisher information, the Hessian of the mean KL(π_old ‖ π_φ) at φ_old, applied to
vectors as a Hessian-vector product (`jax.jvp` of `jax.grad`) and never formed. Δ is the step whose
quadratic KL model equals `max_kl`. A backtracking line search scores φ_old + 2⁻ʲ·Δ for
j = 0, …, 9 and takes the largest step that improves the surrogate and keeps the exact mean KL
≤ 1.5·max_kl (the quadratic model can be off for large steps); if none does, φ stays. The KL has a
closed form for both kernels. The critic is fitted separately: `vf_iters` epochs of
`n_minibatches` Adam steps on ½(V − return)², gradients clipped by global norm, non-finite steps
skipped (optax.apply_if_finite), as in PPO.

Metrics: approx_kl is the exact mean KL of the accepted step, policy_loss = −L(φ_new) (a loss, the
sign PPO's has; −mean A-weighted ratio), grad_norm = ‖g‖, clip_fraction = 0, nan_skips counts
skipped critic steps and policy steps that were not finite.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from mollify.training import common
from mollify.training.config import LEARNED_MODES, TrainConfig

LINE_SEARCH_STEPS = 10  # φ_old + 2⁻ʲ Δ, j = 0 … 9
KL_SLACK = 1.5  # accept a step whose exact KL ≤ 1.5 · max_kl


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    advantage: jax.Array
    ret: jax.Array


class NPGState(NamedTuple):
    critic: Any  # the critic's optax state (apply_if_finite(clip ∘ Adam))
    policy_skips: jax.Array  # natural-gradient steps dropped because they were not finite


class Optimizer(NamedTuple):
    """What the driver calls `optimizer`: `init(params)` gives the NPG state; `critic` is the
    optax transformation for the critic's flat θ (the policy moves by the natural gradient)."""

    critic: optax.GradientTransformation

    def init(self, params: dict) -> NPGState:
        return NPGState(self.critic.init(params["critic"]), jnp.int32(0))


def make_optimizer(config: TrainConfig, n_updates: int) -> Optimizer:
    steps = n_updates * config.vf_iters * config.n_minibatches
    lr = optax.linear_schedule(config.lr, 0.0, steps) if config.anneal_lr else config.lr
    inner = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    return Optimizer(optax.apply_if_finite(inner, max_consecutive_errors=1_000_000))


# ---------------------------------------------------------------------------------------------
# The policy as a function of φ, and the KL between two of them in closed form
# ---------------------------------------------------------------------------------------------
def policy_params(params: dict, config: TrainConfig) -> dict:
    """φ: the parameters the natural gradient moves."""
    if config.sigma_mode in LEARNED_MODES:
        return {"actor": params["actor"], "log_std": params["log_std"]}
    return {"actor": params["actor"]}


def distribution(phi, params, obs, nets: common.Networks, config: TrainConfig, half, progress):
    """(mean, std) of π_φ; a fixed or scheduled σ comes from the config, not from φ."""
    log_std = phi.get("log_std", params["log_std"])
    std = common.sigma_rel(config, log_std, progress) * half
    return nets.actor.apply(phi["actor"], obs), std


@jax.custom_jvp
def _laplace_excess(x):
    """h(x) = |x| + e^{−|x|} − 1, the KL between unit Laplaces |x| apart. It is C² with h''(0) = 1,
    but autodiff of |x| gives 0 there, which would zero the Fisher: the derivatives are explicit."""
    return jnp.abs(x) + jnp.expm1(-jnp.abs(x))


@jax.custom_jvp
def _laplace_excess_grad(x):
    return -jnp.sign(x) * jnp.expm1(-jnp.abs(x))  # h'(x) = sign(x)(1 − e^{−|x|})


@_laplace_excess.defjvp
def _laplace_excess_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _laplace_excess(x), _laplace_excess_grad(x) * t


@_laplace_excess_grad.defjvp
def _laplace_excess_grad_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _laplace_excess_grad(x), jnp.exp(-jnp.abs(x)) * t  # h''(x) = e^{−|x|}


def kl(kernel: str, mean_p, std_p, mean_q, std_q) -> jax.Array:
    """KL(p ‖ q) between two distributions of the unit-variance kernel, summed over dimensions.

    Gaussian: log(σ_q/σ_p) + (σ_p² + Δ²)/(2σ_q²) − ½. Laplace (scale b = σ/√2):
    log(b_q/b_p) + (b_p/b_q)(|Δ|/b_p + e^{−|Δ|/b_p}) − 1, which for equal scales is h(Δ/b).
    """
    diff = mean_p - mean_q
    if kernel == "gaussian":
        per_dim = jnp.log(std_q / std_p) + (std_p**2 + diff**2) / (2 * std_q**2) - 0.5
    elif kernel == "laplace":
        b_p, b_q = std_p / math.sqrt(2.0), std_q / math.sqrt(2.0)
        per_dim = jnp.log(b_q / b_p) + (b_p / b_q) * (_laplace_excess(diff / b_p) + 1.0) - 1.0
    else:
        raise ValueError(f"kernel: {kernel!r} has no usable score function")
    return jnp.sum(per_dim, axis=-1)


# ---------------------------------------------------------------------------------------------
# The pieces of one natural-gradient step, each a pure function of flat vectors
# ---------------------------------------------------------------------------------------------
def make_step_functions(params, batch: Batch, nets, config: TrainConfig, half, progress):
    """(φ_old flat, unravel, surrogate(φ flat), mean_kl(φ flat), fvp(v)) around the current
    policy; fvp(v) = (F + cg_damping·I)·v with F the Hessian of the mean KL at φ_old."""
    phi_old = policy_params(params, config)
    flat_old, unravel = ravel_pytree(phi_old)
    mean_old, std_old = distribution(phi_old, params, batch.obs, nets, config, half, progress)
    adv = batch.advantage
    if config.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)

    def surrogate(flat):
        mean, std = distribution(unravel(flat), params, batch.obs, nets, config, half, progress)
        logp = common.log_prob(config.kernel, batch.action, mean, std)
        return (jnp.exp(logp - batch.log_prob) * adv).mean()

    def mean_kl(flat):
        mean, std = distribution(unravel(flat), params, batch.obs, nets, config, half, progress)
        return kl(config.kernel, mean_old, std_old, mean, std).mean()

    def fvp(v):
        _, hv = jax.jvp(jax.grad(mean_kl), (flat_old,), (v,))
        return hv + config.cg_damping * v

    return flat_old, unravel, surrogate, mean_kl, fvp


def conjugate_gradient(matvec, b, iters: int):
    """x ≈ A⁻¹b for symmetric positive definite A given as a matrix-vector product, from x = 0."""

    def body(carry, _):
        x, r, p, rr = carry
        ap = matvec(p)
        pap = p @ ap
        alpha = jnp.where(pap > 0, rr / pap, 0.0)  # 0 once converged exactly (p = 0)
        x, r = x + alpha * p, r - alpha * ap
        rr_new = r @ r
        beta = jnp.where(rr > 0, rr_new / rr, 0.0)
        return (x, r, r + beta * p, rr_new), None

    (x, *_), _ = jax.lax.scan(body, (jnp.zeros_like(b), b, b, b @ b), None, length=iters)
    return x


def natural_step(params, batch: Batch, nets, config: TrainConfig, half, progress):
    """One natural-gradient step with backtracking. Returns (new φ as a dict, diagnostics)."""
    flat_old, unravel, surrogate, mean_kl, fvp = make_step_functions(
        params, batch, nets, config, half, progress
    )
    surr_old, g = jax.value_and_grad(surrogate)(flat_old)
    x = conjugate_gradient(fvp, g, config.cg_iters)
    xfx = x @ fvp(x)  # ≈ gᵀF⁻¹g; the quadratic KL model of the step x is ½·xfx
    step = jnp.where(xfx > 0, jnp.sqrt(2.0 * config.max_kl / xfx), 0.0) * x

    fractions = 0.5 ** jnp.arange(LINE_SEARCH_STEPS, dtype=flat_old.dtype)
    candidates = flat_old[None] + fractions[:, None] * step[None]
    surr = jax.vmap(surrogate)(candidates)
    kls = jax.vmap(mean_kl)(candidates)
    ok = (surr > surr_old) & (kls <= KL_SLACK * config.max_kl) & jnp.isfinite(surr)
    finite = jnp.all(jnp.isfinite(step))
    accept = ok.any() & finite
    j = jnp.argmax(ok)  # the first (largest) acceptable step
    flat_new = jnp.where(accept, candidates[j], flat_old)
    diag = {
        "surrogate_old": surr_old,
        "surrogate": jnp.where(accept, surr[j], surr_old),
        "kl": jnp.where(accept, kls[j], 0.0),
        "accepted": accept,
        "step_fraction": jnp.where(accept, fractions[j], 0.0),
        "grad_norm": jnp.linalg.norm(g),
        "finite": finite,
    }
    return unravel(flat_new), diag


# ---------------------------------------------------------------------------------------------
# The update the driver calls
# ---------------------------------------------------------------------------------------------
def make_update(nets: common.Networks, config: TrainConfig, optimizer: Optimizer, half):
    """(params, opt_state, traj, last_value, progress, key) -> (params, opt_state, metrics)."""

    def value_loss(critic, mb: Batch):
        loss = 0.5 * ((common.value(nets, critic, mb.obs) - mb.ret) ** 2).mean()
        return loss, {"value_loss": loss}

    critic_grad = jax.value_and_grad(value_loss, has_aux=True)

    def update(params, opt_state: NPGState, traj, last_value, progress, key):
        adv, ret = common.gae(traj, last_value, config.gamma, config.gae_lambda)
        batch = Batch(traj.obs, traj.action, traj.log_prob, adv, ret)
        n = traj.reward.size
        batch = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), batch)

        # Policy: one natural-gradient step on the whole batch.
        phi, diag = natural_step(params, batch, nets, config, half, progress)
        new_params = params | phi

        # Critic: vf_iters epochs of minibatch Adam on the returns (from the old critic's GAE).
        critic, critic_state, diags = common.minibatch_epochs(
            critic_grad, optimizer.critic, params["critic"], opt_state.critic, batch, config, key,
            epochs=config.vf_iters,
        )  # fmt: skip
        new_params["critic"] = critic

        _, std = distribution(phi, new_params, batch.obs, nets, config, half, progress)
        skips = opt_state.policy_skips + (~diag["finite"]).astype(jnp.int32)
        metrics = {
            "entropy": common.entropy(config.kernel, std),
            "approx_kl": diag["kl"],
            "clip_fraction": jnp.float32(0.0),
            "policy_loss": -diag["surrogate"],
            "value_loss": diags["value_loss"].mean(),
            "grad_norm": diag["grad_norm"],
            "nan_skips": (critic_state.total_notfinite + skips).astype(jnp.float32),
        }
        return new_params, NPGState(critic_state, skips), metrics

    return update
