"""Evolution strategies (OpenAI-ES style): gradient ascent on the explicit parameter-space
mollifier J̃_σ(θ) = E_ε J(θ + σ_p ε), the counterpart of the smoothing that action noise performs
implicitly in policy gradient (Wang, Herbert & Gao, ICML 2024).

Each update draws `es_pairs` directions ε_k (unit variance, `config.kernel`) in the actor's flat
parameter space and scores θ ± σ_p ε_k by the mean *discounted* return (the paper's J) over
`es_episodes` episodes. Actions are deterministic (σ = 0): ES smooths in parameter space only.
Every candidate of an update plays the same episodes (common random numbers, fresh each update),
so differences between candidates are not reset noise. The returns are centred-rank transformed
and Adam ascends

    g = 1/(2·pairs·σ_p) · Σ_k (u(θ + σ_p ε_k) − u(θ − σ_p ε_k)) ε_k.

Without the rank transform g is an unbiased estimate of ∇J̃_σ (Stein's identity). For the uniform
and Laplace kernels the same estimator is the gradient of J smoothed by a related kernel (exact on
quadratics); those kernels change the search distribution, not the update rule.

Which σ is which:
- σ_p, the parameter-noise std, is `es_sigma`, scheduled like the action σ:
  σ_p(p) = es_sigma · σ_rel(p) / sigma, so `--sigma-mode schedule` shrinks it by sigma_final/sigma.
- `Algorithm.sigma` reports the *action* σ_rel (`sigma`, fixed or scheduled). ES never adds
  action noise while training; that σ only feeds the "stochastic" evaluation column, so ES runs
  are evaluated at the same action σ as the policy-gradient runs they are compared with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mollify.core import noise as noise_lib
from mollify.core.evaluation import evaluate, make_episode_fn
from mollify.tasks import JaxTask, Task
from mollify.training import common
from mollify.training.algorithm import Algorithm
from mollify.training.config import TrainConfig


class ESState(NamedTuple):
    theta: jax.Array  # the actor's flat θ
    opt_state: Any
    nan_returns: jax.Array  # non-finite returns replaced so far
    key: jax.Array


class Estimate(NamedTuple):
    grad: jax.Array  # (P,) ascent direction on the smoothed objective
    values: jax.Array  # (2·pairs,): J(θ + σ_p ε_k) for every k, then J(θ − σ_p ε_k); all finite
    nonfinite: jax.Array  # how many values of J were not finite (and were replaced)
    aux: Any  # J's auxiliary output when has_aux, else None


# ---------------------------------------------------------------------------------------------
# The estimator, independent of any task: J maps a batch of parameter vectors to their values
# ---------------------------------------------------------------------------------------------
def centered_ranks(x: jax.Array) -> jax.Array:
    """Ranks scaled to [−0.5, 0.5]. Ties share their mean rank, so a flat batch gives all zeros
    (and a zero gradient) instead of an arbitrary order."""
    n = x.shape[0]
    less = jnp.sum(x[None, :] < x[:, None], axis=1)
    ties = jnp.sum(x[None, :] == x[:, None], axis=1) - 1
    return (less + 0.5 * ties) / max(n - 1, 1) - 0.5


def replace_nonfinite(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Non-finite values become the worst finite one (a diverged candidate ranks last, never
    poisons the sum). Returns (values, how many were replaced)."""
    ok = jnp.isfinite(x)
    worst = jnp.min(jnp.where(ok, x, jnp.inf))
    worst = jnp.where(jnp.isfinite(worst), worst, 0.0)  # nothing finite: all equal, g = 0
    return jnp.where(ok, x, worst), jnp.sum(~ok)


def es_gradient(
    J: Callable,
    theta: jax.Array,
    key: jax.Array,
    sigma_p,
    pairs: int,
    kernel: str = "gaussian",
    *,
    rank: bool = True,
    has_aux: bool = False,
) -> Estimate:
    """Antithetic ES estimate of ∇_θ E_ε J(θ + σ_p ε) from `pairs` mirrored perturbations.

    J: (2·pairs, P) -> (2·pairs,), or (values, aux) with `has_aux`. Pure when J is, so it jits
    and vmaps. Non-finite values are replaced by the worst finite one and counted.

    `rank=False` gives the raw, unbiased estimator. Mirroring cancels J's constant and even-order
    terms exactly: a constant J gives g = 0 (also ranked: ties share a rank), a linear J gives the
    exact directional derivative along every ε_k, whatever σ_p.
    """
    eps, candidates = perturb(jnp.asarray(theta), key, sigma_p, pairs, kernel)
    out = J(candidates)
    values, aux = out if has_aux else (out, None)
    return Estimate(*combine(eps, values, sigma_p, rank), aux)


def perturb(theta: jax.Array, key: jax.Array, sigma_p, pairs: int, kernel: str = "gaussian"):
    """ε (pairs, P) and the mirrored candidates: θ + σ_p ε_k for every k, then θ − σ_p ε_k."""
    eps = noise_lib.sample(key, kernel, (pairs, theta.shape[0]), theta.dtype)
    return eps, jnp.concatenate([theta + sigma_p * eps, theta - sigma_p * eps])


def combine(eps: jax.Array, values, sigma_p, rank: bool = True):
    """(g, values with non-finite ones replaced, how many were) from the candidates' values."""
    pairs = eps.shape[0]
    values, nonfinite = replace_nonfinite(jnp.asarray(values, eps.dtype))
    u = centered_ranks(values) if rank else values
    return (u[:pairs] - u[pairs:]) @ eps / (2 * pairs * sigma_p), values, nonfinite


# ---------------------------------------------------------------------------------------------
# The training algorithm
# ---------------------------------------------------------------------------------------------
def make_optimizer(config: TrainConfig, n_updates: int) -> optax.GradientTransformation:
    """Adam on −g; `anneal_lr` decays the rate linearly to 0 as for the other algorithms. A
    non-finite g skips the update (counted in `total_notfinite`)."""
    lr = optax.linear_schedule(config.lr, 0.0, n_updates) if config.anneal_lr else config.lr
    return optax.apply_if_finite(optax.adam(lr), max_consecutive_errors=1_000_000)


def parameter_sigma(config: TrainConfig, progress) -> jax.Array:
    """σ_p at training progress p: es_sigma, shrunk by the same factor as the action σ under
    `sigma_mode="schedule"` (fixed mode: always es_sigma)."""
    return config.es_sigma * common.sigma_rel(config, jnp.zeros(()), progress) / config.sigma


def make_algorithm(config: TrainConfig, task: Task) -> Algorithm:
    """ES as an `Algorithm`: pure (scanned and jitted) on JAX tasks, a host loop on the others.

    `steps_per_update` counts simulated env steps, 2·pairs·episodes·horizon (rollouts run to the
    horizon), so ES and policy gradient are compared at equal simulation budgets.
    """
    if config.gamma is not None and config.gamma != task.gamma:
        task = dataclasses.replace(task, gamma=config.gamma)  # J is discounted by the config's γ
    nets = common.make_networks(task, config)
    actor = nets.actor
    pairs, episodes = config.es_pairs, config.es_episodes
    per_update = 2 * pairs * episodes * task.horizon
    n_updates = max(1, config.total_steps // per_update)
    optimizer = make_optimizer(config, n_updates)
    action_log_std = jnp.zeros((task.action_dim,), jnp.float32)  # sigma_rel needs only its shape

    def sigma(state, progress):
        """The action σ_rel for the stochastic evaluation (ES trains without action noise)."""
        return common.sigma_rel(config, action_log_std, progress)

    def init(key):
        # The policy-gradient split: for one seed, ES and PPO start from the same actor.
        k_params, _, k_run = jax.random.split(key, 3)
        theta = common.init_params(nets, config, k_params)["actor"]
        return ESState(theta, optimizer.init(theta), jnp.float32(0.0), k_run)

    def apply(state: ESState, est: Estimate, key: jax.Array):
        """Adam step along +g, and the per-update metrics (the PG columns that mean nothing for
        ES are 0)."""
        updates, opt_state = optimizer.update(-est.grad, state.opt_state, state.theta)
        theta = optax.apply_updates(state.theta, updates)
        nan_returns = state.nan_returns + est.nonfinite
        undiscounted, _ = replace_nonfinite(jnp.asarray(est.aux, jnp.float32))
        zero = jnp.float32(0.0)
        metrics = {
            "policy_loss": -est.values.mean(),
            "grad_norm": jnp.linalg.norm(est.grad),
            "entropy": zero,
            "approx_kl": zero,
            "clip_fraction": zero,
            "value_loss": zero,
            # Replaced returns plus skipped updates, cumulative (as PPO's skipped-update count).
            "nan_skips": (nan_returns + opt_state.total_notfinite).astype(jnp.float32),
            "train_reward_per_step": undiscounted.mean() / task.horizon,
        }
        return ESState(theta, opt_state, nan_returns, key), metrics

    if isinstance(task, JaxTask):
        episode = make_episode_fn(task, actor, "gaussian")  # σ = 0: the kernel never acts
        no_noise = jnp.zeros((task.action_dim,), jnp.float32)

        def J(thetas, keys):
            """Mean (discounted, undiscounted) return of each θ over the shared episode keys."""
            per_theta = jax.vmap(episode, in_axes=(None, 0, None))
            dret, ret, _ = jax.vmap(per_theta, in_axes=(0, None, None))(thetas, keys, no_noise)
            return dret.mean(axis=1), ret.mean(axis=1)

        def step(state, i):
            key, k_eps, k_episodes = jax.random.split(state.key, 3)
            keys = jax.random.split(k_episodes, episodes)  # one set for every candidate: CRN
            est = es_gradient(
                lambda thetas: J(thetas, keys),
                state.theta,
                k_eps,
                parameter_sigma(config, i / n_updates),
                pairs,
                config.kernel,
                has_aux=True,
            )
            return apply(state, est, key)

        pure = True
    else:
        # The host loop: perturb, score on MuJoCo, then one compiled combine-and-step.
        jit_perturb = jax.jit(perturb, static_argnums=(3, 4))

        @jax.jit
        def combine_and_apply(state, eps, values, undiscounted, sigma_p, key):
            return apply(state, Estimate(*combine(eps, values, sigma_p), undiscounted), key)

        def step(state, i):
            key, k_eps, k_episodes = jax.random.split(state.key, 3)
            seed = int(jax.random.randint(k_episodes, (), 0, 2**31 - 1))
            sigma_p = parameter_sigma(config, float(i) / n_updates)
            eps, candidates = jit_perturb(state.theta, k_eps, sigma_p, pairs, config.kernel)
            # `evaluate` gives every candidate the same episodes (CRN), on mujoco.rollout.
            res = evaluate(
                task, actor, np.asarray(candidates), sigma=0.0, episodes=episodes, seed=seed
            )
            values, undiscounted = res.discounted.mean(axis=1), res.undiscounted.mean(axis=1)
            return combine_and_apply(state, eps, values, undiscounted, sigma_p, key)

        pure = False
    return Algorithm(
        init=init,
        step=step,
        theta=lambda s: s.theta,
        sigma=sigma,
        n_updates=n_updates,
        steps_per_update=per_update,
        pure=pure,
    )
