"""The mechanism behind a rough landscape: the closed loop's maximal Lyapunov exponent λ, and the
Hölder exponent −log γ / λ that the predecessor paper (Wang, Herbert, Gao, NeurIPS 2023) proves for
J once λ > −log γ, to set beside the measured α (`roughness`)."""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mollify.core.evaluation import episode_keys, reset_seeds
from mollify.core.policies import Policy, PolicyError
from mollify.tasks import (
    GymnasiumTask,
    HopperTask,
    JaxTask,
    LocomotionTask,
    Task,
    TaskError,
    check_start,
    fixed_start,
)

# Size of the separation kept between reference and perturbed hopper states (float64 state space):
# small enough to stay linear over one control step, far above the 1e-16 relative rounding.
_FD_EPS = 1e-7


class HolderPrediction(NamedTuple):
    alpha: float
    nontrivial: bool  # True when λ > −log γ, the regime where the bound says less than Lipschitz


def predicted_holder_exponent(lyap: float, gamma: float) -> HolderPrediction:
    """The predecessor paper's exponent: J is (−log γ / λ)-Hölder when λ > −log γ (λ per step).

    Below that threshold J is Lipschitz there, so the prediction is capped at 1 (`nontrivial`
    False). NaN λ gives NaN.
    """
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma: must be in (0, 1], got {gamma}")
    lyap = float(lyap)
    if math.isnan(lyap):
        return HolderPrediction(math.nan, False)
    threshold = -math.log(gamma)
    if lyap > threshold:
        return HolderPrediction(threshold / lyap, True)
    return HolderPrediction(1.0, False)


# ---------------------------------------------------------------------------------------------
# Lyapunov exponent
# ---------------------------------------------------------------------------------------------
def _jax_starts(task: JaxTask, seed: int, n_starts: int):
    """Initial states, unit tangents and step keys; states are `evaluate`'s episode starts.

    Drawn outside float64 mode so the states equal those `evaluate` simulates, bit for bit.
    """

    def one(key):
        reset_key, tangent_key, step_key = jax.random.split(key, 3)  # evaluation's split
        _, state = task.reset(reset_key)
        v = jax.random.normal(tangent_key, state.shape)
        return state, v / jnp.linalg.norm(v), step_key

    states, tangents, step_keys = jax.vmap(one)(episode_keys(seed, n_starts))
    return np.asarray(states, np.float64), np.asarray(tangents, np.float64), step_keys


@functools.lru_cache(maxsize=16)
def _jax_benettin(task: JaxTask, policy: Policy, steps: int, discard: int):
    """jit((θ, states, tangents, step keys) -> (sum of log growths, counted steps)) per start."""

    def one_start(theta, state, v, step_key):
        layers = policy.layers(theta)
        v = v / jnp.linalg.norm(v)  # unit in float64, not just in float32

        def body(carry, t):
            state, v, alive, total, count = carry
            key_t = jax.random.fold_in(step_key, t)

            def closed_loop(s):
                action = policy.apply_layers(layers, task.observe(s))
                _, new_state, _, done, _ = task.step(key_t, s, action)
                return new_state, done

            new_state, dv, done = jax.jvp(closed_loop, (state,), (v,), has_aux=True)
            norm = jnp.linalg.norm(dv)
            growth = jnp.log(norm)  # −inf if the tangent collapses exactly: λ = −∞ is the answer
            ok = alive & jnp.all(jnp.isfinite(new_state)) & ~jnp.isnan(growth)
            counted = ok & (t >= discard)
            total = total + jnp.where(counted, growth, 0.0)
            count = count + counted
            state = jnp.where(ok, new_state, state)
            v = jnp.where(ok & (norm > 0), dv / jnp.where(norm > 0, norm, 1.0), v)
            alive = ok & ~done & (norm > 0)
            return (state, v, alive, total, count), None

        zero = jnp.zeros((), state.dtype)
        init = (state, v, jnp.array(True), zero, jnp.zeros((), jnp.int32))
        (_, _, _, total, count), _ = jax.lax.scan(body, init, jnp.arange(steps))
        return total, count

    return jax.jit(jax.vmap(one_start, in_axes=(None, 0, 0, 0)))


def _hopper_benettin(task: HopperTask, policy: Policy, theta, steps, discard, seed, seeds):
    """Finite-difference Benettin on native MuJoCo (no jvp): a twin state kept _FD_EPS away in
    (qpos, qvel), advanced with its own policy output, pulled back to _FD_EPS every step."""
    physics = task.physics
    nq, nv = physics.model.nq, physics.model.nv
    qv = slice(physics.qpos.start, physics.qvel.stop)  # qpos then qvel, contiguous
    dt = physics.n_substeps * physics.model.opt.timestep
    n_starts = len(seeds)
    ref, ref_obs = physics.reset(seeds)
    v = np.random.default_rng(seed).standard_normal((n_starts, nq + nv))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    twins = [
        physics.state_from(s[physics.qpos] + _FD_EPS * d[:nq], s[physics.qvel] + _FD_EPS * d[nq:])
        for s, d in zip(ref, v, strict=True)
    ]
    pert, pert_obs = np.stack([p[0] for p in twins]), np.stack([p[1] for p in twins])
    act = jax.jit(lambda obs: policy.apply(theta, obs))

    total = np.zeros(n_starts)
    count = np.zeros(n_starts, dtype=np.int64)
    alive = np.ones(n_starts, dtype=bool)
    for t in range(steps):
        states = np.concatenate([ref, pert])
        controls = np.clip(np.asarray(act(np.concatenate([ref_obs, pert_obs]))), -1.0, 1.0)
        traj, sens = physics.advance(states, controls)
        new = traj[:, -1]
        new_obs = physics.observe(new, sens[:, -1])
        # MuJoCo resets a diverging simulation and carries on; the clock jumping back shows it.
        good = np.all(np.isfinite(new), axis=1) & np.isclose(
            new[:, 0], states[:, 0] + dt, rtol=0, atol=1e-9
        )
        good = good[:n_starts] & good[n_starts:]
        new_ref, new_pert = new[:n_starts], new[n_starts:]
        sep = new_pert[:, qv] - new_ref[:, qv]
        norm = np.linalg.norm(sep, axis=1)
        ok = alive & good
        counted = ok & (t >= discard)
        with np.errstate(divide="ignore"):  # a collapsed separation counts as log 0 = −inf
            growth = np.log(np.where(ok, norm, _FD_EPS) / _FD_EPS)
        total += np.where(counted, growth, 0.0)
        count += counted
        alive = ok & (norm > 0)
        scale = np.where(alive, _FD_EPS / np.where(norm > 0, norm, 1.0), 0.0)[:, None]
        ref = np.where(alive[:, None], new_ref, ref)
        ref_obs = np.where(alive[:, None], new_obs[:n_starts], ref_obs)
        # The twin restarts from the reference's state (same clock) moved by the rescaled
        # separation; its observation is rescaled the same way (linear regime).
        pert = ref.copy()
        pert[:, qv] += scale * sep
        pert_obs = ref_obs + scale * (new_obs[n_starts:] - new_obs[:n_starts])
        if not alive.any():
            break
    return total, count


def lyapunov_per_start(
    task: Task,
    policy: Policy,
    params,
    *,
    steps: int | None = None,
    seed: int = 0,
    n_starts: int = 8,
    discard: int | None = None,
    start: str = "random",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-start exponents (NaN where no step counted) and counted steps; see `lyapunov_exponent`."""
    if isinstance(task, GymnasiumTask):
        raise TaskError(
            "lyapunov: needs a task whose state can be set (built-in tasks); Gymnasium env "
            f"{task.env_id} does not expose one"
        )
    if isinstance(task, LocomotionTask):
        raise TaskError(
            f"lyapunov: not implemented for task {task.name!r} (Gymnasium locomotion, whose "
            "episodes end on falling); use hopper_stand or a pure-JAX task"
        )
    if not isinstance(task, JaxTask | HopperTask):
        raise TaskError(f"lyapunov: unsupported task backend {task.backend!r}")
    if (policy.obs_dim, policy.action_dim) != (task.obs_dim, task.action_dim):
        raise PolicyError(
            f"policy: obs/action dims ({policy.obs_dim}, {policy.action_dim}) do not fit task "
            f"{task.name!r} ({task.obs_dim}, {task.action_dim})"
        )
    steps = max(task.horizon, 500) if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps: must be positive, got {steps}")
    discard = steps // 10 if discard is None else int(discard)
    if not 0 <= discard < steps:
        raise ValueError(f"discard: must be in [0, steps={steps}), got {discard}")
    if int(n_starts) < 1:
        raise ValueError(f"n_starts: must be positive, got {n_starts}")
    n_starts = int(n_starts)

    params = np.asarray(params, dtype=np.float64)
    if params.shape != (policy.n_params,):
        raise PolicyError(f"params: expected shape ({policy.n_params},), got {params.shape}")

    # Starts are drawn in JAX's default precision (so they are evaluate's), the rest in float64:
    # float32 rounding would swamp the small separations.
    if check_start(start) == "fixed":  # one start state for all (tangents still differ)
        task = fixed_start(task)
    if isinstance(task, HopperTask):
        seeds = reset_seeds(seed, n_starts)
        if start == "fixed":
            seeds = np.full_like(seeds, seeds[0])
        with jax.enable_x64(True):
            theta = jnp.asarray(params)
            total, count = _hopper_benettin(task, policy, theta, steps, discard, seed, seeds)
    else:
        states, tangents, step_keys = _jax_starts(task, seed, n_starts)
        with jax.enable_x64(True):
            fn = _jax_benettin(task, policy, steps, discard)
            total, count = fn(
                jnp.asarray(params), jnp.asarray(states), jnp.asarray(tangents), step_keys
            )
    total, count = np.asarray(total, np.float64), np.asarray(count, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return lam, count


def lyapunov_exponent(
    task: Task,
    policy: Policy,
    params,
    *,
    steps: int | None = None,
    seed: int = 0,
    n_starts: int = 8,
    discard: int | None = None,
    start: str = "random",
) -> float:
    """Maximal Lyapunov exponent (per control step, natural log) of s' = f(s, μ_θ(obs(s))).

    Benettin's method in float64: a unit tangent is pushed through the one-step closed-loop map
    (`jax.jvp` for pure-JAX tasks; a twin trajectory _FD_EPS away for the MuJoCo hopper),
    renormalised every step, and the log growths averaged. `n_starts` initial states are the
    resets of `evaluate`'s first episodes for the same seed (key `split(PRNGKey(seed))[e]`; the
    hopper's `reset_seeds`); the initial tangent is random from the same key (hopper:
    `np.random.default_rng(seed)`, in (qpos, qvel)); with `start="fixed"` every start is the
    one `evaluate(..., start="fixed")` uses, only the tangents differ. Same seed, same number. Defaults: steps = max(horizon, 500), the first
    discard = steps // 10 steps (transient) not counted. A start stops counting at termination
    (done: the terminating step counts) or a non-finite state, and is averaged over the steps it
    counted; starts that counted nothing are skipped; if none counted, NaN with a warning. An
    exactly collapsing tangent (singular closed-loop Jacobian) gives −inf. Gymnasium tasks raise
    TaskError: their state cannot be set.
    """
    lam, _ = lyapunov_per_start(
        task,
        policy,
        params,
        steps=steps,
        seed=seed,
        n_starts=n_starts,
        discard=discard,
        start=start,
    )
    usable = lam[~np.isnan(lam)]
    if usable.size == 0:
        warnings.warn(
            "lyapunov: every start terminated before counting a step; returning NaN "
            "(lower discard or check the policy)",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan
    return float(np.mean(usable))
