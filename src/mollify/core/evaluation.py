"""Batched evaluation: returns of N policy parameter vectors, with common random numbers.

Every instrument reduces to "the returns of many θ, with and without action noise". Every policy
in a batch sees the same initial states and the same noise draws, so differences between θ are not
Monte-Carlo noise. Episode e uses the key `split(PRNGKey(seed), episodes)[e]`, from which its reset
key and its per-step noise `sample(fold_in(noise_key, t))` derive; the three backends share that.

Pure-JAX tasks: `jit(shard_map(lax.map(vmap(vmap(scan)))))` over the host's devices, streamed
over fixed-size blocks of policies so memory is bounded for any N. MuJoCo tasks (hopper_stand, the
locomotion tasks): one `mujoco.rollout` call per control step with the policy batched in between.
Gymnasium: a vector env (slow path).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from mollify.core import noise as noise_lib
from mollify.core.policies import Policy
from mollify.tasks import (
    GymnasiumTask,
    HopperTask,
    JaxTask,
    LocomotionTask,
    Task,
    check_start,
    fixed_start,
    gymnasium_adapter,
    hopper_stand,
    locomotion,
)
from mollify.tasks.base import remaining_discount

# Rollouts batched per vmap call (policies × episodes); measured best on 2 cores at 128–512.
_TARGET_BATCH = 256
_MAX_CHUNKS_PER_BLOCK = 16
# Small evaluations pad to at least this many rollouts per device per vmapped step, so that
# every evaluation below it (any n, for a given episode count) shares one compiled shape:
# compiling an evaluator (1.5–3 s) costs far more than simulating a few dozen padded rows.
_MIN_ROWS = 64
# Episodes per call of the noise-table program (one compiled shape for every episode count).
_NOISE_EPISODES = 64
# Host-side batch for the MuJoCo path (bounds memory of state/sensor arrays per call).
_HOPPER_BLOCK = 2048
_GYM_BLOCK = 256


@dataclass(frozen=True)
class EvalResult:
    """Per-policy, per-episode returns; `lengths` counts env steps actually taken (to termination
    or divergence). A diverged episode's returns include the task's `failure_reward` for the step
    it diverged at and every step after (discounted from that step on), never a free zero."""

    discounted: np.ndarray  # (N, episodes)
    undiscounted: np.ndarray  # (N, episodes)
    lengths: np.ndarray  # (N, episodes)
    env_steps: int  # simulated steps, the rate's numerator (batched paths simulate to the horizon)
    seconds: float
    diverged: np.ndarray = None  # (N, episodes) bool: non-finite state, reward or action

    def __post_init__(self):  # last and optional, so results built the old way still work
        if self.diverged is None:
            object.__setattr__(self, "diverged", np.zeros(np.shape(self.lengths), bool))

    @property
    def steps_per_second(self) -> float:
        return self.env_steps / max(self.seconds, 1e-12)


def episode_keys(seed: int, episodes: int) -> jax.Array:
    return jax.random.split(jax.random.PRNGKey(seed), episodes)


def _split_episode_key(key: jax.Array):
    reset_key, noise_key, step_key = jax.random.split(key, 3)
    return reset_key, noise_key, step_key


@functools.lru_cache(maxsize=4)  # a 1024-episode hopper table is 33 MB
def noise_table(task: Task, kernel: str, seed: int, episodes: int) -> np.ndarray:
    """The (episodes, horizon, action_dim) unit-variance draws the JAX path generates in-loop
    (read-only; kept for the next call with the same arguments, e.g. training's evaluations).

    One compiled program per (task, kernel), for `_NOISE_EPISODES` episodes at a time (the last
    call padded): a program per episode count would recompile (≈ 1 s) for every new count."""
    table = _noise_table_fn(task, kernel)
    keys = np.asarray(jax.random.key_data(episode_keys(seed, episodes)))
    pad = -episodes % _NOISE_EPISODES
    keys = np.concatenate([keys, np.repeat(keys[:1], pad, axis=0)])
    parts = [table(keys[i : i + _NOISE_EPISODES]) for i in range(0, len(keys), _NOISE_EPISODES)]
    out = np.concatenate([np.asarray(p, np.float64) for p in parts])[:episodes]
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=32)
def _noise_table_fn(task: Task, kernel: str):
    def one(key):
        _, noise_key, _ = _split_episode_key(key)
        steps = jnp.arange(task.horizon)
        return jax.vmap(
            lambda t: noise_lib.sample(jax.random.fold_in(noise_key, t), kernel, (task.action_dim,))
        )(steps)

    return jax.jit(jax.vmap(one))


def reset_seeds(seed: int, episodes: int) -> np.ndarray:
    """Integer reset seeds for the native backends, derived from the same episode keys."""
    keys = episode_keys(seed, episodes)
    reset_keys = jax.vmap(lambda k: _split_episode_key(k)[0])(keys)
    return np.asarray(jax.vmap(lambda k: jax.random.randint(k, (), 0, 2**31 - 1))(reset_keys))


# ---------------------------------------------------------------------------------------------
# Pure-JAX tasks
# ---------------------------------------------------------------------------------------------
def make_episode_fn(
    task: JaxTask, policy: Policy, kernel: str, slice_basis=None, report_diverged=False
) -> Callable:
    """(θ, episode_key, σ_abs[, first_action]) -> (discounted, undiscounted, steps[, diverged]),
    one episode.

    A step with a non-finite state or reward diverges the episode: it is frozen, and the task's
    `failure_reward` is charged for that step and each one after (Σ_{k=t}^{H−1} γ^k of it), added
    once after the scan, so the loop only carries one more flag.

    With `first_action` the episode takes that action at t = 0 and follows the policy after: the
    return is then Q(s0, a) (the heat-equation instrument tabulates it over actions). With
    `slice_basis` (`Policy.slice_basis`) the first argument is a point's coefficients
    (1, c_1, …, c_k) on that slice instead of θ.
    """
    horizon, gamma, action_dim = task.horizon, task.gamma, task.action_dim
    fail = float(task.failure_reward or 0.0)
    fail_d = fail * remaining_discount(horizon, gamma)  # by the step the episode diverged at
    fail_u = fail * (horizon - np.arange(horizon + 1, dtype=np.float64))
    if slice_basis is None:
        prepare, mean = policy.layers, policy.apply_layers
    else:
        prepare, mean = (lambda coef: coef), functools.partial(policy.apply_slice, slice_basis)

    def episode(theta, key, sigma_abs, first_action=None):
        reset_key, noise_key, step_key = _split_episode_key(key)
        obs, state = task.reset(reset_key)
        layers = prepare(theta)

        def body(carry, t):
            obs, state, alive, ret, dret, div = carry
            eps = noise_lib.sample(jax.random.fold_in(noise_key, t), kernel, (action_dim,))
            action = mean(layers, obs) + sigma_abs * eps
            if first_action is not None:
                action = jnp.where(t == 0, first_action, action)
            new_obs, new_state, reward, done, _ = task.step(
                jax.random.fold_in(step_key, t), state, action
            )
            ok = alive & jnp.isfinite(reward) & jnp.all(jnp.isfinite(new_state))
            div = div | (alive & ~ok)
            reward = jnp.where(ok, reward, 0.0)
            ret = ret + reward
            dret = dret + (gamma**t) * reward
            alive = ok & ~done
            # Freeze a finished episode so a diverged state can never feed NaN forward.
            state = jnp.where(alive, new_state, state)
            obs = jnp.where(alive, new_obs, obs)
            return (obs, state, alive, ret, dret, div), ok

        zero = jnp.zeros((), obs.dtype)
        init = (obs, state, jnp.array(True), zero, zero, jnp.array(False))
        (_, _, _, ret, dret, div), oks = jax.lax.scan(body, init, jnp.arange(horizon))
        steps = jnp.sum(oks)  # a diverged episode was live, every step ok, until it diverged
        if fail:
            dret = jnp.where(div, dret + jnp.asarray(fail_d, dret.dtype)[steps], dret)
            ret = jnp.where(div, ret + jnp.asarray(fail_u, ret.dtype)[steps], ret)
        return (dret, ret, steps, div) if report_diverged else (dret, ret, steps)

    return episode


def _pow2_ceil(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


@functools.lru_cache(maxsize=64)
def _jax_block_fn(task: JaxTask, policy: Policy, kernel: str, chunk: int, n_chunks: int):
    """Compiled evaluator of one block of n_dev × n_chunks × chunk policies."""
    episode = make_episode_fn(task, policy, kernel, report_diverged=True)
    return sharded_block_fn(episode, chunk, n_chunks)


def sharded_block_fn(episode_of, chunk: int, n_chunks: int, shared: int = 0):
    """jit(shard_map(lax.map(vmap(vmap(episode))))): rows (one per policy or slice point) split
    over the host's devices, `n_chunks` chunks of `chunk` rows per device, each row's episodes
    vmapped over the episode keys. `episode_of(row, key, σ_abs, *shared)` runs one episode; the
    compiled function takes (rows, *shared, keys, σ_abs), `shared` arrays replicated."""
    mesh = Mesh(np.asarray(jax.devices()), ("d",))

    def per_device(rows, *rest):
        *extra, keys, sigma_abs = rest

        def per_row(row):
            run = lambda key: episode_of(row, key, sigma_abs, *extra)  # noqa: E731
            return jax.vmap(run)(keys)

        out = jax.lax.map(jax.vmap(per_row), rows.reshape(n_chunks, chunk, rows.shape[-1]))
        return jax.tree.map(lambda x: x.reshape(n_chunks * chunk, *x.shape[2:]), out)

    spec, replicated = PartitionSpec("d"), PartitionSpec()
    sharded = jax.shard_map(
        per_device,
        mesh=mesh,
        in_specs=(spec, *([replicated] * (shared + 2))),
        out_specs=spec,  # every output (returns, steps, diverged) sharded like the rows
        check_vma=False,  # keys, σ and shared arrays are replicated; the carries vary by device
    )
    return jax.jit(sharded)


def _block_shape(n: int, episodes: int, rows_per_step: int) -> tuple[int, int]:
    """(chunk, n_chunks): `chunk` points' episodes advance together in one vmapped step (about
    `rows_per_step` rollouts, at least `_MIN_ROWS` even for a few points), `n_chunks` chunks per
    device per compiled call."""
    n_dev = jax.device_count()
    per_episodes = _pow2_ceil(episodes)
    chunk = max(1, rows_per_step // per_episodes)
    chunk = min(chunk, max(_pow2_ceil(math.ceil(n / n_dev)), _MIN_ROWS // per_episodes))
    n_chunks = min(_MAX_CHUNKS_PER_BLOCK, _pow2_ceil(math.ceil(n / (n_dev * chunk))))
    return chunk, n_chunks


def _run_blocks(fn, rows: np.ndarray, block: int, *shared) -> tuple[np.ndarray, ...]:
    """fn over `rows` in padded blocks of `block` (one compiled shape), results concatenated."""
    outs = []
    for start in range(0, rows.shape[0], block):
        part = rows[start : start + block]
        pad = block - part.shape[0]
        if pad:
            part = np.concatenate([part, np.repeat(part[:1], pad, axis=0)])
        res = fn(jnp.asarray(part), *shared)
        outs.append([np.asarray(x)[: block - pad] for x in res])
    return tuple(np.concatenate([o[i] for o in outs]) for i in range(len(outs[0])))


def _evaluate_jax(task, policy, thetas, sigma_abs, kernel, episodes, seed):
    n = thetas.shape[0]
    chunk, n_chunks = _block_shape(n, episodes, _TARGET_BATCH)
    fn = _jax_block_fn(task, policy, kernel, chunk, n_chunks)
    keys = episode_keys(seed, episodes)
    sigma = jnp.asarray(sigma_abs, jnp.float32)
    block = jax.device_count() * n_chunks * chunk
    dret, ret, steps, diverged = _run_blocks(fn, thetas, block, keys, sigma)
    return dret, ret, steps, diverged, n * episodes * task.horizon


# ---------------------------------------------------------------------------------------------
# Native backends (hopper on mujoco.rollout, Gymnasium vector envs): batched policy in between
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _batched_apply(policy: Policy):
    """(layers of n policies, obs (n, e, obs_dim)) -> actions (n, e, A), jitted."""
    return jax.jit(jax.vmap(policy.apply_layers))


@functools.lru_cache(maxsize=16)
def _batched_layers(policy: Policy):
    return jax.jit(jax.vmap(policy.layers))


def _native_actor(policy, thetas, sigma_abs, noise, episodes):
    """`act(t, obs)` for the native loops; θ is split into layers once, not at every step
    (re-slicing a batch of flat θ copies every policy's weights, ~4 ms per step for 1024)."""
    apply = _batched_apply(policy)
    layers = _batched_layers(policy)(jnp.asarray(thetas))
    n = thetas.shape[0]

    def act(t, obs):
        # numpy casts to float32 faster than a jnp.asarray(..., float32) dispatch (same rounding)
        mean = np.asarray(apply(layers, obs.reshape(n, episodes, -1).astype(np.float32)))
        return (mean + sigma_abs * noise[None, :, t, :]).reshape(n * episodes, -1)

    return act


def _evaluate_native(task, policy, thetas, sigma_abs, kernel, episodes, seed, start):
    noise = noise_table(task, kernel, seed, episodes)
    seeds = reset_seeds(seed, episodes)
    if start == "fixed":  # every episode from the first episode's reset
        seeds = np.full_like(seeds, seeds[0])
    n = thetas.shape[0]
    mujoco_task = isinstance(task, HopperTask | LocomotionTask)
    per_block = max(1, (_HOPPER_BLOCK if mujoco_task else _GYM_BLOCK) // episodes)
    if mujoco_task:
        physics = task.physics
        init_states, init_obs = physics.reset(seeds)
    outs = []
    for first in range(0, n, per_block):
        part = thetas[first : first + per_block]
        m = part.shape[0]
        act = _native_actor(policy, part, sigma_abs, noise, episodes)
        if mujoco_task:
            loop = hopper_stand if isinstance(task, HopperTask) else locomotion
            states = np.tile(init_states, (m, 1))
            obs = np.tile(init_obs, (m, 1))
            res = loop.run_closed_loop(
                physics, act, states, obs, task.horizon, task.gamma, return_diverged=True,
                failure_reward=task.failure_reward,
            )  # fmt: skip
        else:
            seeds_m = np.tile(seeds, m)
            res = gymnasium_adapter.run_closed_loop(
                task, act, seeds_m, task.gamma, return_diverged=True
            )
        outs.append([x.reshape(m, episodes) for x in res])
    dret, ret, steps, diverged = (np.concatenate([o[i] for o in outs]) for i in range(4))
    # hopper_stand simulates every episode to the horizon; the others stop at termination.
    simulated = n * episodes * task.horizon if isinstance(task, HopperTask) else int(steps.sum())
    return dret, ret, steps, diverged, simulated


def q_values(task: Task, policy: Policy, theta, actions, *, seed: int = 0) -> np.ndarray:
    """Discounted return of taking each row of `actions` (n, A) in the first reset state of `seed`
    and following the deterministic policy θ afterwards: Q(s0, a) over a batch of actions.

    Every built-in and Gymnasium task clips actions to its box, so Q(s0, a) = Q(s0, clip(a)).
    """
    actions = np.asarray(actions, np.float64)
    if actions.ndim != 2 or actions.shape[1] != task.action_dim:
        raise ValueError(f"actions: expected shape (n, {task.action_dim}), got {actions.shape}")
    theta = np.asarray(theta, np.float32)
    if isinstance(task, JaxTask):
        episode = make_episode_fn(task, policy, "gaussian")
        key = episode_keys(seed, 1)[0]
        run = jax.jit(jax.vmap(lambda a: episode(theta, key, 0.0, a)[0]))
        return np.asarray(run(jnp.asarray(actions, jnp.float32)), np.float64)
    n = actions.shape[0]
    layers = _batched_layers(policy)(jnp.asarray(theta[None]))
    apply = _batched_apply(policy)

    def act(t, obs):  # one policy over the whole batch of episodes
        if t == 0:
            return actions
        return np.asarray(apply(layers, jnp.asarray(obs[None], jnp.float32)))[0]

    seeds = reset_seeds(seed, 1)
    if isinstance(task, HopperTask | LocomotionTask):
        loop = hopper_stand if isinstance(task, HopperTask) else locomotion
        states, obs = task.physics.reset(seeds)
        dret, _, _ = loop.run_closed_loop(
            task.physics,
            act,
            np.repeat(states, n, 0),
            np.repeat(obs, n, 0),
            task.horizon,
            task.gamma,
            failure_reward=task.failure_reward,
        )
    elif isinstance(task, GymnasiumTask):
        dret, _, _ = gymnasium_adapter.run_closed_loop(task, act, np.repeat(seeds, n), task.gamma)
    else:
        raise TypeError(f"unsupported task type {type(task).__name__}")
    return np.asarray(dret, np.float64)


def memory_estimate(task: Task, n_policies: int, episodes: int) -> int:
    """A lower bound on the bytes `evaluate` keeps: three float64 results per (policy, episode),
    the episode keys, and either the native backends' noise table (episodes × horizon × action
    dims, float64) or the JAX path's in-flight states of one policy's episodes (float32)."""
    per_episode = 3 * 8 * n_policies + 8
    if isinstance(task, JaxTask):
        per_episode += 4 * (task.obs_dim + task.action_dim)
    else:
        per_episode += 8 * task.horizon * task.action_dim
    return per_episode * episodes


def check_memory(task: Task, n_policies: int, episodes: int, field: str = "episodes") -> None:
    from mollify.util import checks

    checks.fits_in_memory(
        field,
        episodes,
        memory_estimate(task, n_policies, episodes),
        f"{episodes} episodes × {n_policies} parameter vectors of returns, keys and noise/state "
        "arrays",
    )


def evaluate(
    task: Task,
    policy: Policy,
    thetas,
    *,
    sigma=0.0,
    kernel: str = "gaussian",
    episodes: int = 8,
    seed: int = 0,
    start: str = "random",
) -> EvalResult:
    """Returns of each row of `thetas` (N, P) over `episodes` episodes at action noise σ.

    σ (one value or one per action dimension) is relative to the action half-range; σ = 0 is the
    deterministic policy. `start="fixed"` runs every episode from one state (`tasks.fixed_start`;
    the episodes then differ only by their noise draws), "random" from the task's reset
    distribution. Every row sees the same starts and noise draws. Same seed, same numbers.
    """
    if _identical_episodes(start, sigma, episodes):
        one = evaluate(task, policy, thetas, sigma=sigma, kernel=kernel, episodes=1, seed=seed,
                       start=start)  # fmt: skip
        return _tiled(one, episodes)
    task, sigma_abs = _checked(task, sigma, kernel, episodes, start)
    thetas = np.asarray(thetas, dtype=np.float32)
    if thetas.ndim == 1:
        thetas = thetas[None]
    if thetas.ndim != 2 or thetas.shape[1] != policy.n_params:
        raise ValueError(f"thetas: expected shape (N, {policy.n_params}), got {thetas.shape}")
    if thetas.shape[0] == 0:
        raise ValueError("thetas: need at least one parameter vector")
    check_memory(task, thetas.shape[0], int(episodes))
    began = time.perf_counter()
    if isinstance(task, JaxTask):
        out = _evaluate_jax(task, policy, thetas, sigma_abs, kernel, episodes, seed)
    elif isinstance(task, HopperTask | LocomotionTask | GymnasiumTask):
        out = _evaluate_native(task, policy, thetas, sigma_abs, kernel, episodes, seed, start)
    else:
        raise TypeError(f"unsupported task type {type(task).__name__}")
    return _result(*out, began)


def _identical_episodes(start, sigma, episodes) -> bool:
    """From one fixed start without action noise every episode is the same (the dynamics are
    deterministic, a native env is reset with the same seed): one is run and repeated."""
    if start != "fixed" or not isinstance(episodes, int | np.integer) or episodes < 2:
        return False
    try:
        return not np.any(np.asarray(sigma, np.float64))
    except (TypeError, ValueError):  # not numbers: `_checked` names the field
        return False


def _tiled(one: EvalResult, episodes: int) -> EvalResult:
    """`one` (a single episode per policy) as `episodes` identical columns; `env_steps` stays
    what was simulated."""
    rep = lambda x: np.repeat(x, episodes, axis=1)  # noqa: E731
    arrays = (one.discounted, one.undiscounted, one.lengths)
    return EvalResult(*map(rep, arrays), one.env_steps, one.seconds, rep(one.diverged))


def _checked(task, sigma, kernel, episodes, start):
    """(the task to run, σ in action units) after checking the shared arguments."""
    if check_start(start) == "fixed":
        task = fixed_start(task)
    noise_lib.check_kernel(kernel)
    sigma_rel = noise_lib.check_sigma(sigma, task.action_dim)
    if not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(f"episodes: must be a positive integer, got {episodes!r}")
    return task, sigma_rel * task.action_half_range


def _result(dret, ret, steps, diverged, simulated, began) -> EvalResult:
    return EvalResult(
        discounted=np.asarray(dret, np.float64),
        undiscounted=np.asarray(ret, np.float64),
        lengths=np.asarray(steps, np.int64),
        diverged=np.asarray(diverged, bool),
        env_steps=int(simulated),
        seconds=time.perf_counter() - began,
    )
