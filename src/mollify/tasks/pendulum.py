"""Gymnasium's `Pendulum-v1`, re-expressed as pure JAX (same constants, reward, reset, clipping).

State is (θ, θ̇) with θ = 0 upright. The reward is computed on the state *before* the step, exactly
as Gymnasium does, so the two agree step for step.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mollify.tasks.base import wrap_angle


@dataclass(frozen=True)
class PendulumParams:
    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0
    init_angle: float = jnp.pi  # reset θ ~ start_angle + U[-init_angle, init_angle]
    init_speed: float = 1.0  # reset θ̇ ~ U[-init_speed, init_speed]
    start_angle: float = 0.0  # 0: centred upright (Gymnasium's reset); π: hanging


# `start="fixed"`: every episode from the nominal state, at rest at `start_angle` (upright).
NOMINAL_START = {"init_angle": 0.0, "init_speed": 0.0}


def failure_reward(params: PendulumParams) -> float:
    """Charged per step left after a rollout diverges (a NaN action is the only way: the speed is
    clipped): the task's exact worst per-step reward, θ at ±π, |θ̇| at `max_speed` and full
    torque, −(π² + 0.1·8² + 0.001·2²) ≈ −16.2736 by default, so diverging never beats surviving."""
    return -(float(jnp.pi) ** 2 + 0.1 * params.max_speed**2 + 0.001 * params.max_torque**2)


def observe(state: jax.Array, params: PendulumParams) -> jax.Array:
    theta, theta_dot = state[0], state[1]
    return jnp.stack([jnp.cos(theta), jnp.sin(theta), theta_dot])


def reset(key: jax.Array, params: PendulumParams):
    high = jnp.array([params.init_angle, params.init_speed])
    state = jax.random.uniform(key, (2,), minval=-high, maxval=high)
    state = state.at[0].add(params.start_angle)
    return observe(state, params), state


def dynamics(state: jax.Array, action: jax.Array, params: PendulumParams) -> jax.Array:
    """Continuous-time (θ̇, θ̈); the environment itself uses Gymnasium's semi-implicit Euler step."""
    theta, theta_dot = state[0], state[1]
    u = jnp.clip(action[0], -params.max_torque, params.max_torque)
    acc = 3 * params.g / (2 * params.l) * jnp.sin(theta) + 3.0 / (params.m * params.l**2) * u
    return jnp.stack([theta_dot, acc])


def step(key: jax.Array, state: jax.Array, action: jax.Array, params: PendulumParams):
    del key  # deterministic dynamics
    theta, theta_dot = state[0], state[1]
    u = jnp.clip(action[0], -params.max_torque, params.max_torque)
    cost = wrap_angle(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * u**2
    new_theta_dot = theta_dot + dynamics(state, action, params)[1] * params.dt
    new_theta_dot = jnp.clip(new_theta_dot, -params.max_speed, params.max_speed)
    new_theta = theta + new_theta_dot * params.dt
    new_state = jnp.stack([new_theta, new_theta_dot])
    return observe(new_state, params), new_state, -cost, jnp.array(False), {}
