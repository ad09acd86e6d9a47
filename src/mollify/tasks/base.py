"""What every task looks like to the instruments: dimensions, action box, horizon, discount.

Three backends share this interface. Pure-JAX ODE tasks (`JaxTask`) expose functional
`reset(key)` / `step(key, state, action)` that jit, vmap and scan; the hopper runs on native MuJoCo
and the Gymnasium adapter on a vector env, both evaluated by their own batched loops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class TaskError(ValueError):
    """Bad task name or parameter; the CLI turns it into a one-line message and exit code 2."""


@dataclass(frozen=True, eq=False)  # identity hash: compiled evaluators are cached per task
class Task:
    name: str
    obs_dim: int
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    horizon: int
    gamma: float
    backend: str  # "jax", "mujoco" or "gymnasium"
    # Reward charged for every step left after the rollout diverges (a non-finite state, reward
    # or action): a diverged rollout must score as a failure, never better than surviving. Each
    # task module states its value and why; None (Gymnasium adapter) means the episode's own
    # lowest per-step reward so far, capped at 0.
    failure_reward: float | None = 0.0

    @property
    def action_half_range(self) -> np.ndarray:
        """σ is relative to this: σ = 1 means noise std equal to half the action range."""
        return (self.action_high - self.action_low) / 2.0

    @property
    def action_center(self) -> np.ndarray:
        return (self.action_high + self.action_low) / 2.0

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "horizon": self.horizon,
            "gamma": self.gamma,
            "failure_reward": self.failure_reward,
        }


@dataclass(frozen=True, eq=False)
class JaxTask(Task):
    """A deterministic ODE task in pure JAX; its state is a flat vector.

    `reset_fn(key, params) -> (obs, state)`, `step_fn(key, state, action, params) -> (obs, state,
    reward, done, info)`, `dynamics_fn(state, action, params) -> state_dot` (continuous time, for
    the linearisation checks) and `observe_fn(state, params) -> obs` (for closed-loop maps such as
    the Lyapunov exponent) are the module-level functions of the task's module; `params` is its
    frozen parameter dataclass, closed over (static) when jitted.
    """

    params: Any = None
    reset_fn: Callable = field(default=None, repr=False)
    step_fn: Callable = field(default=None, repr=False)
    dynamics_fn: Callable | None = field(default=None, repr=False)
    observe_fn: Callable | None = field(default=None, repr=False)

    def reset(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.reset_fn(key, self.params)

    def step(self, key: jax.Array, state: jax.Array, action: jax.Array):
        return self.step_fn(key, state, action, self.params)

    def observe(self, state: jax.Array) -> jax.Array:
        """The observation of a state (what the policy sees); closed-loop maps need it."""
        if self.observe_fn is None:
            raise TaskError(f"task {self.name!r} has no observation function")
        return self.observe_fn(state, self.params)

    def dynamics(self, state: jax.Array, action: jax.Array) -> jax.Array:
        if self.dynamics_fn is None:
            raise TaskError(f"task {self.name!r} has no continuous-time dynamics")
        return self.dynamics_fn(state, action, self.params)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["params"] = {k: v for k, v in vars(self.params).items()}
        return out


def rk4(f: Callable[[jax.Array], jax.Array], x: jax.Array, dt: float, substeps: int) -> jax.Array:
    """Classic fourth-order Runge–Kutta for an autonomous x' = f(x), `substeps` steps of dt/substeps."""
    h = dt / substeps

    def one(x, _):
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    x, _ = jax.lax.scan(one, x, None, length=substeps)
    return x


def remaining_discount(horizon: int, gamma: float) -> np.ndarray:
    """(horizon + 1,) float64: entry t is Σ_{k=t}^{H−1} γ^k, the discount weight of the steps a
    rollout diverging at step t does not take (charged `failure_reward` each); entry H is 0."""
    k = np.arange(horizon, dtype=np.float64)
    weights = np.asarray(gamma, np.float64) ** k
    return np.concatenate([np.cumsum(weights[::-1])[::-1], [0.0]])


def charge_failures(dret, ret, steps, diverged, failure_reward, horizon, gamma) -> None:
    """In place: a rollout that diverged at step `steps` (its live steps all counted) is charged
    `failure_reward` (one number, or one per rollout) for that step and each one after,
    discounted from that step on. The native loops call it once, after the episode."""
    if not diverged.any() or not np.any(failure_reward):
        return
    at = np.minimum(steps, horizon)
    fr = np.broadcast_to(np.asarray(failure_reward, np.float64), diverged.shape)
    ret += np.where(diverged, fr * (horizon - at), 0.0)
    dret += np.where(diverged, fr * remaining_discount(horizon, gamma)[at], 0.0)


def wrap_angle(x: jax.Array) -> jax.Array:
    """Angle to [-π, π), the same formula as Gymnasium's pendulum."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def replace_params(params: Any, overrides: dict[str, Any], task_name: str) -> Any:
    """Apply `make(name, **params)` keyword overrides to a frozen params dataclass, naming bad keys."""
    import dataclasses

    from mollify.util.checks import did_you_mean

    known = {f.name for f in dataclasses.fields(params)}
    for key in overrides:
        if key not in known:
            hint = did_you_mean(key, known)
            raise TaskError(f"unknown parameter {key!r} for task {task_name!r}{hint}")
    return dataclasses.replace(params, **overrides)
