"""Planar quadrotor balancing at a hover point: two rotors, thrust T_i = (1 + a_i) m g / 2.

State (x, z, φ, ẋ, ż, φ̇) relative to the hover target at the origin. The episode ends with no
further reward once the vehicle tilts past ±π/2 or leaves the ±2 m box, so a policy that crashes
early collects less: the good region of policy space is small, which is the paper's point.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mollify.tasks.base import rk4


@dataclass(frozen=True)
class PlanarQuadrotorParams:
    mass: float = 0.486
    arm: float = 0.25
    inertia: float = 0.00383
    g: float = 9.81
    dt: float = 0.02
    substeps: int = 2
    init_position: float = 0.5  # reset: U[-, +] on x and z (m)
    init_angle: float = 0.3  # reset: U[-, +] on φ (rad)
    init_velocity: float = 0.2  # reset: U[-, +] on ẋ, ż, φ̇
    max_angle: float = jnp.pi / 2
    max_position: float = 2.0


# `start="fixed"`: every episode from the nominal state, hovering level at the origin.
NOMINAL_START = {"init_position": 0.0, "init_angle": 0.0, "init_velocity": 0.0}


def failure_reward(p: PlanarQuadrotorParams) -> float:
    """Charged per step left after a rollout diverges: 0, the task's minimum per-step reward, the
    same as a crash (which ends the episode with no further reward), so both are consistent."""
    del p
    return 0.0


def thrusts(action: jax.Array, p: PlanarQuadrotorParams) -> jax.Array:
    a = jnp.clip(action, -1.0, 1.0)
    return (1.0 + a) * p.mass * p.g / 2.0


def dynamics(state: jax.Array, action: jax.Array, p: PlanarQuadrotorParams) -> jax.Array:
    # Written through (a1 + a2) and (a1 − a2) so that hover (a = 0) and symmetric thrust are exact
    # equilibria in floating point: (T1 + T2)/m = g (1 + (a1 + a2)/2), T1 − T2 = m g (a1 − a2)/2.
    phi = state[2]
    a = jnp.clip(action, -1.0, 1.0)
    thrust_acc = p.g * (1.0 + 0.5 * (a[0] + a[1]))
    xdd = -thrust_acc * jnp.sin(phi)
    zdd = thrust_acc * jnp.cos(phi) - p.g
    phidd = p.arm * p.mass * p.g * 0.5 * (a[0] - a[1]) / p.inertia
    return jnp.concatenate([state[3:], jnp.stack([xdd, zdd, phidd])])


def observe(state: jax.Array, p: PlanarQuadrotorParams) -> jax.Array:
    return state


def reset(key: jax.Array, p: PlanarQuadrotorParams):
    high = jnp.array(
        [p.init_position, p.init_position, p.init_angle] + [p.init_velocity] * 3,
    )
    state = jax.random.uniform(key, (6,), minval=-high, maxval=high)
    return observe(state, p), state


def crashed(state: jax.Array, p: PlanarQuadrotorParams) -> jax.Array:
    out = (
        (jnp.abs(state[2]) > p.max_angle)
        | (jnp.abs(state[0]) > p.max_position)
        | (jnp.abs(state[1]) > p.max_position)
    )
    return out | ~jnp.all(jnp.isfinite(state))


def step(key: jax.Array, state: jax.Array, action: jax.Array, p: PlanarQuadrotorParams):
    """Reward 1 − min(1, c) on the post-step state; a step that crashes earns 0 and ends it."""
    del key
    a = jnp.clip(action, -1.0, 1.0)
    new_state = rk4(lambda x: dynamics(x, a, p), state, p.dt, p.substeps)
    x, z, phi = new_state[0], new_state[1], new_state[2]
    cost = x**2 + z**2 + phi**2 + 0.1 * jnp.sum(new_state[3:] ** 2) + 0.01 * jnp.sum(a**2)
    done = crashed(new_state, p)
    reward = jnp.where(done, 0.0, 1.0 - jnp.minimum(1.0, cost))
    return observe(new_state, p), new_state, reward, done, {}
