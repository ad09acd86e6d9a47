"""What every training algorithm shares: σ as a dial, the action distribution, vectorised
environments with auto-reset, advantage estimation, evaluation on fixed seeds.

Pure-JAX tasks collect inside `jit` (`lax.scan` over time, `vmap` over envs); the native tasks (the
MuJoCo ones, any `gym:` env) collect on their vectorised envs (vec_envs.py) with the same
transition layout, so one jitted update serves both.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mollify.core import noise as noise_lib
from mollify.core.evaluation import episode_keys, make_episode_fn
from mollify.core.policies import Policy, make_policy
from mollify.tasks import JaxTask, Task
from mollify.training.config import LEARNED_MODES, TrainConfig

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------
# σ: fixed, learned or scheduled
# ---------------------------------------------------------------------------------------------
def sigma_rel(config: TrainConfig, log_std: jax.Array, progress: jax.Array) -> jax.Array:
    """σ relative to the action half-range, per action dimension, at training progress in [0, 1].

    Only `learned` and `rpo` let gradients reach `log_std`; the floor keeps σ from underflowing.
    """
    if config.sigma_mode in LEARNED_MODES:
        return jnp.maximum(jnp.exp(log_std), config.sigma_floor)
    if config.sigma_mode == "schedule":
        p = jnp.clip(progress, 0.0, 1.0)
        if config.schedule == "linear":
            s = config.sigma + (config.sigma_final - config.sigma) * p
        else:
            s = config.sigma * (config.sigma_final / config.sigma) ** p
        return jnp.full(log_std.shape, s)
    return jnp.full(log_std.shape, config.sigma)


def log_prob(kernel: str, action: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """Log-density of a = mean + std·ε, ε of the unit-variance kernel, summed over dimensions."""
    if kernel == "gaussian":
        z = (action - mean) / std
        return jnp.sum(-0.5 * z**2 - jnp.log(std) - 0.5 * LOG_2PI, axis=-1)
    if kernel == "laplace":
        b = std / math.sqrt(2.0)  # Laplace(b) has variance 2b²
        return jnp.sum(-jnp.abs(action - mean) / b - jnp.log(2 * b), axis=-1)
    raise ValueError(f"kernel: {kernel!r} has no usable score function")


def entropy(kernel: str, std: jax.Array) -> jax.Array:
    if kernel == "gaussian":
        return jnp.sum(0.5 * (1.0 + LOG_2PI) + jnp.log(std), axis=-1)
    b = std / math.sqrt(2.0)
    return jnp.sum(1.0 + jnp.log(2 * b), axis=-1)


# ---------------------------------------------------------------------------------------------
# Networks: the actor is mollify's Policy (so a trained θ loads in every instrument), the critic
# the same MLP with one unsquashed output.
# ---------------------------------------------------------------------------------------------
class Networks(NamedTuple):
    actor: Policy
    critic: Policy


def make_networks(task: Task, config: TrainConfig) -> Networks:
    actor = make_policy(task, "mlp", hidden=config.hidden)
    critic = Policy(task.obs_dim, 1, config.hidden, (-1.0,), (1.0,), squash=False)
    return Networks(actor, critic)


def init_params(nets: Networks, config: TrainConfig, key: jax.Array) -> dict:
    k_actor, k_critic = jax.random.split(key)
    actor = nets.actor.init(k_actor)
    # CleanRL/PureJaxRL scale the last actor layer by 0.01 so the initial mean is near the centre.
    n_last = nets.actor.layer_shapes[-1][0][0] * nets.actor.action_dim + nets.actor.action_dim
    actor = actor.at[-n_last:].multiply(0.01)
    return {
        "actor": actor,
        "critic": nets.critic.init(k_critic),
        "log_std": jnp.full((nets.actor.action_dim,), _log(config.sigma), jnp.float32),
    }


def _log(sigma):
    """log σ: in double precision for a number, as before; traced for σ passed into a compiled
    program (fixed-σ mode only, where log_std is never read)."""
    return math.log(sigma) if isinstance(sigma, int | float) else jnp.log(sigma)


def value(nets: Networks, critic_params: jax.Array, obs: jax.Array) -> jax.Array:
    return nets.critic.apply(critic_params, obs)[..., 0]


# ---------------------------------------------------------------------------------------------
# Vectorised pure-JAX environments with auto-reset and time-limit truncation
# ---------------------------------------------------------------------------------------------
class EnvState(NamedTuple):
    state: jax.Array  # (n, S)
    obs: jax.Array  # (n, O)
    t: jax.Array  # (n,) steps since reset
    key: jax.Array


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array  # terminated (or diverged): no bootstrap
    truncated: jax.Array  # time limit: bootstrap from final_value
    final_value: jax.Array  # V of the observation the step reached (before any reset)


def env_reset(task: JaxTask, key: jax.Array, n_envs: int) -> EnvState:
    key, sub = jax.random.split(key)
    obs, state = jax.vmap(task.reset)(jax.random.split(sub, n_envs))
    return EnvState(state, obs, jnp.zeros(n_envs, jnp.int32), key)


def failure_lump(task: Task, gamma: float | None = None) -> np.ndarray:
    """(horizon,) float64: entry t is failure_reward · Σ_{j=0}^{H−1−t} γ^j, the whole rest of an
    episode charged at once to a training step that diverges at step t (done, no bootstrap), so
    a policy is never rewarded for diverging; 0 where the task's failure reward is 0 or None
    (the Gymnasium adapter's per-episode charge lives in its vector env)."""
    return float(task.failure_reward or 0.0) * remaining_weight(task, gamma)


def remaining_weight(task: Task, gamma: float | None = None) -> np.ndarray:
    """(horizon,) float64: entry t is Σ_{j=0}^{H−1−t} γ^j, steps t … H−1 discounted from t."""
    gamma = task.gamma if gamma is None else gamma
    weights = np.concatenate([[0.0], np.cumsum(float(gamma) ** np.arange(task.horizon))])
    return weights[task.horizon - np.arange(task.horizon)]


def env_step(task: JaxTask, es: EnvState, action: jax.Array, gamma: float | None = None):
    """One step of every env; finished envs restart. Returns (state, next obs, r, done, trunc,
    reached obs). A non-finite state or reward counts as termination, and its reward is the
    task's failure reward for every step left (`failure_lump`, discounted by `gamma`)."""
    n = es.obs.shape[0]
    key, k_step, k_reset = jax.random.split(es.key, 3)
    obs, state, reward, done, _ = jax.vmap(task.step)(jax.random.split(k_step, n), es.state, action)
    ok = jnp.isfinite(reward) & jnp.all(jnp.isfinite(state), axis=-1)
    ok &= jnp.all(jnp.isfinite(obs), axis=-1)
    lump = jnp.asarray(failure_lump(task, gamma), reward.dtype)
    reward = jnp.where(ok, reward, lump[jnp.minimum(es.t, task.horizon - 1)])
    done = done | ~ok
    reached = jnp.where(ok[:, None], obs, es.obs)
    t = es.t + 1
    truncated = (t >= task.horizon) & ~done
    end = done | truncated
    reset_obs, reset_state = jax.vmap(task.reset)(jax.random.split(k_reset, n))
    state = jnp.where(end[:, None], reset_state, jnp.where(ok[:, None], state, es.state))
    obs = jnp.where(end[:, None], reset_obs, reached)
    return EnvState(state, obs, jnp.where(end, 0, t), key), reward, done, truncated, reached


def collect_jax(task, nets, config, params, es, key, std_abs, n_steps):
    """`n_steps` transitions of every env under the stochastic policy (pure; jit/scan)."""
    kernel = config.kernel if config.algo != "es" else "gaussian"

    def body(carry, _):
        es, key = carry
        key, k = jax.random.split(key)
        mean = nets.actor.apply(params["actor"], es.obs)
        action = mean + std_abs * noise_lib.sample(k, kernel, mean.shape)
        logp = log_prob(kernel, action, mean, std_abs)
        v = value(nets, params["critic"], es.obs)
        es2, reward, done, trunc, reached = env_step(task, es, action, config.gamma)
        tr = Transition(es.obs, action, logp, v, reward, done, trunc, reached)
        return (es2, key), tr

    (es, key), traj = jax.lax.scan(body, (es, key), None, length=n_steps)
    final_value = value(nets, params["critic"], traj.final_value)  # reached obs → V
    traj = traj._replace(final_value=final_value)
    last_value = value(nets, params["critic"], es.obs)
    return es, traj, last_value


def gae(traj: Transition, last_value: jax.Array, gamma: float, lam: float):
    """Generalised advantage estimation over (T, n) transitions; time-limit truncation
    bootstraps from V of the reached state, termination does not. Returns (advantages, returns)."""
    end = traj.done | traj.truncated
    reward = traj.reward + gamma * traj.final_value * traj.truncated
    next_values = jnp.concatenate([traj.value[1:], last_value[None]], axis=0)

    def back(adv_next, x):
        r, v, v_next, e = x
        delta = r + gamma * v_next * (1.0 - e) - v
        adv = delta + gamma * lam * (1.0 - e) * adv_next
        return adv, adv

    _, adv = jax.lax.scan(
        back,
        jnp.zeros_like(last_value),
        (reward, traj.value, next_values, end.astype(reward.dtype)),
        reverse=True,
    )
    return adv, adv + traj.value


class RewardNorm(NamedTuple):
    """Running variance of each env's discounted return; rewards are divided by its root so the
    critic's targets are O(1) whatever the task's reward scale (as Gymnasium's NormalizeReward)."""

    ret: jax.Array  # (n,) discounted return accumulated so far in each env
    count: jax.Array
    mean: jax.Array
    var: jax.Array


def reward_norm_init(n_envs: int) -> RewardNorm:
    return RewardNorm(jnp.zeros(n_envs), jnp.float32(1e-4), jnp.float32(0.0), jnp.float32(1.0))


def normalize_rewards(rn: RewardNorm, traj: Transition, gamma: float):
    """Update the running statistics with this batch, then scale its rewards. Returns (rn, traj)."""
    end = (traj.done | traj.truncated).astype(traj.reward.dtype)

    def body(ret, x):
        r, e = x
        ret = ret * gamma + r
        return ret * (1.0 - e), ret

    ret_last, rets = jax.lax.scan(body, rn.ret, (traj.reward, end))
    b_mean, b_var, b_count = rets.mean(), rets.var(), rets.size
    delta = b_mean - rn.mean
    count = rn.count + b_count
    mean = rn.mean + delta * b_count / count
    m2 = rn.var * rn.count + b_var * b_count + delta**2 * rn.count * b_count / count
    rn = RewardNorm(ret_last, count, mean, m2 / count)
    return rn, traj._replace(reward=traj.reward / jnp.sqrt(rn.var + 1e-8))


class ObsNorm(NamedTuple):
    """Running mean and variance of every observation coordinate. Policy and critic see
    (obs − mean) / √(var + ε), as with Gymnasium's `NormalizeObservation` but unclipped: then the
    normalisation folds exactly into the actor's first layer (`fold_obs_norm`), and the policy a
    run saves is an ordinary mollify policy on raw observations, usable by every instrument."""

    mean: jax.Array  # (obs_dim,)
    var: jax.Array
    count: jax.Array


OBS_NORM_EPS = 1e-8


def obs_norm_init(obs_dim: int) -> ObsNorm:
    return ObsNorm(jnp.zeros(obs_dim), jnp.ones(obs_dim), jnp.float32(1e-4))


def normalize_obs(on: ObsNorm, obs: jax.Array) -> jax.Array:
    return (obs - on.mean) / jnp.sqrt(on.var + OBS_NORM_EPS)


def update_obs_norm(on: ObsNorm, obs: jax.Array) -> ObsNorm:
    """Merge a batch (..., obs_dim) into the running statistics (parallel-variance formula)."""
    batch = obs.reshape(-1, obs.shape[-1])
    b_mean, b_var, b_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
    delta = b_mean - on.mean
    count = on.count + b_count
    mean = on.mean + delta * b_count / count
    m2 = on.var * on.count + b_var * b_count + delta**2 * on.count * b_count / count
    return ObsNorm(mean, m2 / count, count)


def fold_obs_norm(actor: Policy, theta: jax.Array, on: ObsNorm | None) -> jax.Array:
    """θ of the same policy on raw observations: x' W + b with x' = (x − m)/s is
    x (W / s) + (b − (m / s) W)."""
    if on is None:
        return theta
    (w, b), n_in = actor.layers(theta)[0], actor.obs_dim
    scale = 1.0 / jnp.sqrt(on.var + OBS_NORM_EPS)
    w_raw = w * scale[:, None]
    b_raw = b - (on.mean * scale) @ w
    n_w = n_in * w.shape[1]
    return theta.at[:n_w].set(w_raw.ravel()).at[n_w : n_w + b.shape[0]].set(b_raw)


def minibatch_epochs(
    grad_fn,
    optimizer,
    params,
    opt_state,
    batch,
    config: TrainConfig,
    key,
    *args,
    epochs=None,
    keyed=False,
):
    """`epochs` (default `update_epochs`) passes of Adam steps over `n_minibatches` shuffled
    minibatches of a flat batch; `grad_fn(params, minibatch, *args) -> ((loss, diag), grads)`, or
    with `keyed` `grad_fn(params, minibatch, key, *args)` with a fresh key per minibatch (the
    shuffles are the same either way). Returns (params, opt_state, diags stacked over epochs ×
    minibatches, grad_norm included)."""
    n = jax.tree.leaves(batch)[0].shape[0]

    def epoch(carry, k):
        perm = jax.random.permutation(k, n) if config.n_minibatches > 1 else jnp.arange(n)
        shuffled = jax.tree.map(
            lambda x: x[perm].reshape(config.n_minibatches, -1, *x.shape[1:]), batch
        )
        mb_keys = jax.random.split(jax.random.fold_in(k, 1), config.n_minibatches)

        def minibatch(carry, mb_and_key):
            params, opt_state = carry
            mb, mb_key = mb_and_key
            extra = (mb_key, *args) if keyed else args
            (_, diag), grads = grad_fn(params, mb, *extra)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            diag["grad_norm"] = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))
            return (params, opt_state), diag

        return jax.lax.scan(minibatch, carry, (shuffled, mb_keys))

    keys = jax.random.split(key, config.update_epochs if epochs is None else epochs)
    (params, opt_state), diags = jax.lax.scan(epoch, (params, opt_state), keys)
    return params, opt_state, diags


# ---------------------------------------------------------------------------------------------
# Evaluation on fixed seeds: deterministic (σ = 0) and stochastic at the current σ
# ---------------------------------------------------------------------------------------------
def make_jax_evaluator(task: JaxTask, nets: Networks, config: TrainConfig):
    """(θ, σ_abs) -> (mean undiscounted return at σ = 0, at σ); pure, jit-able."""
    episode = make_episode_fn(
        task, nets.actor, config.kernel if config.algo != "es" else "gaussian"
    )
    keys = episode_keys(config.eval_seed, config.eval_episodes)

    def evaluate(theta, std_abs):
        run = jax.vmap(episode, in_axes=(None, 0, None))
        det = run(theta, keys, jnp.zeros_like(std_abs))[1].mean()
        sto = run(theta, keys, std_abs)[1].mean()
        return det, sto

    return evaluate


def evaluate_native(task: Task, nets: Networks, config: TrainConfig, theta, sigma) -> tuple:
    from mollify.core.evaluation import _evaluate_native, evaluate

    kernel = config.kernel if config.algo != "es" else "gaussian"
    if not isinstance(task, JaxTask):
        # σ = 0 and σ in one batch of closed-loop episodes (same resets, same noise table as two
        # `evaluate` calls): half the simulator calls, each twice as wide.
        theta = np.asarray(theta, np.float32)
        sigma_abs = np.stack(
            [np.zeros(task.action_dim), np.broadcast_to(sigma, (task.action_dim,))]
        )[:, None, :] * np.asarray(task.action_half_range)
        ret = _evaluate_native(
            task, nets.actor, np.stack([theta, theta]), sigma_abs, kernel,
            config.eval_episodes, config.eval_seed, "random",
        )[1]  # fmt: skip
        return float(ret[0].mean()), float(ret[1].mean())
    common = {"kernel": kernel, "episodes": config.eval_episodes, "seed": config.eval_seed}
    det = evaluate(task, nets.actor, np.asarray(theta), sigma=0.0, **common)
    sto = evaluate(task, nets.actor, np.asarray(theta), sigma=np.asarray(sigma), **common)
    return float(det.undiscounted.mean()), float(sto.undiscounted.mean())


# ---------------------------------------------------------------------------------------------
# Collection on the native tasks (their vectorised envs are in vec_envs.py)
# ---------------------------------------------------------------------------------------------
def collect_native(env, nets, config, params, key, std_abs, n_steps, obs_norm=None):
    """Batched JAX policy between steps of a vectorised native env (`vec_envs`).

    With `obs_norm`, the policy and critic see normalised observations and so does the returned
    trajectory; the raw observations (T, n, obs_dim) come back too, to update the statistics
    after the collection (they stay fixed within it, so the stored log-probabilities hold).
    Returns (trajectory, last value, key, raw observations).
    """
    act = _jitted_act(nets.actor, nets.critic, config.kernel)
    if config.gamma is not None:
        env.gamma = config.gamma  # the discount of a diverged step's failure lump
    fields = {k: [] for k in Transition._fields}
    for _ in range(n_steps):
        obs = env.obs.copy()
        action, logp, v, key = act(params, jnp.asarray(obs, jnp.float32), key, std_abs, obs_norm)
        action = np.asarray(action, np.float64)
        reward, done, trunc, reached = env.step(action)
        for name, val in zip(
            Transition._fields,
            (obs, action, logp, v, reward, done, trunc, reached),
            strict=True,
        ):
            fields[name].append(np.asarray(val))
    traj = Transition(**{k: jnp.asarray(np.stack(v), jnp.float32) for k, v in fields.items()})
    traj = traj._replace(done=traj.done > 0.5, truncated=traj.truncated > 0.5)
    raw_obs = traj.obs
    last_obs = jnp.asarray(env.obs, jnp.float32)
    if obs_norm is not None:
        norm = _jitted_normalize()
        traj = traj._replace(
            obs=norm(obs_norm, traj.obs), final_value=norm(obs_norm, traj.final_value)
        )
        last_obs = norm(obs_norm, last_obs)
    critic = _jitted_value(nets.critic)
    traj = traj._replace(final_value=critic(params["critic"], traj.final_value))
    last_value = critic(params["critic"], last_obs)
    return traj, last_value, key, raw_obs


_ACT_CACHE: dict = {}


def _jitted_act(actor: Policy, critic: Policy, kernel: str):
    key = (actor, critic, kernel)
    if key not in _ACT_CACHE:

        def act(params, obs, key, std_abs, obs_norm):  # the key is split inside: one dispatch
            key, k = jax.random.split(key)
            if obs_norm is not None:
                obs = normalize_obs(obs_norm, obs)
            mean = actor.apply(params["actor"], obs)
            a = mean + std_abs * noise_lib.sample(k, kernel, mean.shape)
            return (
                a,
                log_prob(kernel, a, mean, std_abs),
                critic.apply(params["critic"], obs)[..., 0],
                key,
            )

        _ACT_CACHE[key] = jax.jit(act)
    return _ACT_CACHE[key]


def _jitted_normalize():
    if "normalize" not in _ACT_CACHE:
        _ACT_CACHE["normalize"] = jax.jit(normalize_obs)
    return _ACT_CACHE["normalize"]


def _jitted_value(critic: Policy):
    key = ("value", critic)
    if key not in _ACT_CACHE:
        _ACT_CACHE[key] = jax.jit(lambda p, obs: critic.apply(p, obs)[..., 0])
    return _ACT_CACHE[key]
