"""Double pendulum: two point masses on massless rods, torque at both joints (or one), RK4.

q1 is the absolute angle of the first rod from the downward vertical, q2 the angle of the second
rod relative to the first. The task is to balance it upright (q1 = π, q2 = 0). Equations are the
manipulator form M(q) q̈ + C(q, q̇) q̇ + ∂V/∂q = B τ − d q̇.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mollify.tasks.base import rk4, wrap_angle

ACTUATED = {"both": (0, 1), "shoulder": (0,), "elbow": (1,)}


@dataclass(frozen=True)
class DoublePendulumParams:
    m1: float = 1.0
    m2: float = 1.0
    l1: float = 1.0
    l2: float = 1.0
    g: float = 9.81
    damping: float = 0.0
    max_torque: float = 10.0
    actuated: str = "both"  # "both", "shoulder" (pendubot) or "elbow" (acrobot)
    dt: float = 0.05
    substeps: int = 4
    init_noise: float = (
        0.2  # reset: upright plus U[-init_noise, init_noise] on angles and velocities
    )


# `start="fixed"`: every episode from the nominal state, both links upright at rest.
NOMINAL_START = {"init_noise": 0.0}


def failure_reward(p: DoublePendulumParams) -> float:
    """Charged per step left after a rollout diverges (RK4 overflow, a NaN action). The reward is
    unbounded below (velocities), so this is a floor: both angles at their worst (π² each), full
    torque on every actuated joint, and both joint speeds at 30 + 15·max_torque rad/s (180 at
    the default 10 N·m), −(2π² + 0.1·2·180² + 0.001·2·10²) ≈ −6499.94 by default. Why that speed:
    falling from upright without torque reaches < 30 rad/s, and torque adds speed at most about
    linearly in max_torque over an episode; at 10 N·m over 200 steps the fastest joint measured
    was 138 rad/s (τ = 10·sign q̇, pumping energy at the highest rate) and 136 rad/s for random
    MLP policies at σ ∈ {0, 0.3, 1, 3} (worst surviving per-step reward ≈ −2313). So a diverged
    rollout scores below any surviving one of 200 steps. Longer horizons may exceed it."""
    speed = 30.0 + 15.0 * p.max_torque
    n_act = len(ACTUATED[p.actuated])
    return -(2 * float(jnp.pi) ** 2 + 0.1 * 2 * speed**2 + 0.001 * n_act * p.max_torque**2)


def action_dim(params: DoublePendulumParams) -> int:
    return len(ACTUATED[params.actuated])


def mass_matrix(q2: jax.Array, p: DoublePendulumParams) -> jax.Array:
    c2 = jnp.cos(q2)
    m11 = (p.m1 + p.m2) * p.l1**2 + p.m2 * p.l2**2 + 2 * p.m2 * p.l1 * p.l2 * c2
    m12 = p.m2 * p.l2**2 + p.m2 * p.l1 * p.l2 * c2
    m22 = p.m2 * p.l2**2
    return jnp.array([[m11, m12], [m12, m22]])


def potential_energy(q: jax.Array, p: DoublePendulumParams) -> jax.Array:
    q1, q2 = q[0], q[1]
    return -(p.m1 + p.m2) * p.g * p.l1 * jnp.cos(q1) - p.m2 * p.g * p.l2 * jnp.cos(q1 + q2)


def energy(state: jax.Array, p: DoublePendulumParams) -> jax.Array:
    q, qd = state[:2], state[2:]
    return 0.5 * qd @ mass_matrix(q[1], p) @ qd + potential_energy(q, p)


def joint_torques(action: jax.Array, p: DoublePendulumParams) -> jax.Array:
    """Clip the action to ±max_torque and place it on the actuated joints."""
    tau = jnp.clip(action, -p.max_torque, p.max_torque)
    return jnp.zeros(2, tau.dtype).at[jnp.array(ACTUATED[p.actuated])].set(tau)


def dynamics(state: jax.Array, action: jax.Array, p: DoublePendulumParams) -> jax.Array:
    q1, q2, qd1, qd2 = state[0], state[1], state[2], state[3]
    h = p.m2 * p.l1 * p.l2 * jnp.sin(q2)
    coriolis = jnp.stack([-h * (2 * qd1 * qd2 + qd2**2), h * qd1**2])
    gravity = jnp.stack(
        [
            (p.m1 + p.m2) * p.g * p.l1 * jnp.sin(q1) + p.m2 * p.g * p.l2 * jnp.sin(q1 + q2),
            p.m2 * p.g * p.l2 * jnp.sin(q1 + q2),
        ]
    )
    qd = jnp.stack([qd1, qd2])
    rhs = joint_torques(action, p) - coriolis - gravity - p.damping * qd
    # Closed-form 2×2 solve: a batched LAPACK call per step would dominate the rollout cost.
    (m11, m12), (_, m22) = mass_matrix(q2, p)
    det = m11 * m22 - m12 * m12
    qdd = jnp.stack([m22 * rhs[0] - m12 * rhs[1], m11 * rhs[1] - m12 * rhs[0]]) / det
    return jnp.concatenate([qd, qdd])


def observe(state: jax.Array, p: DoublePendulumParams) -> jax.Array:
    q1, q2, qd1, qd2 = state[0], state[1], state[2], state[3]
    return jnp.stack([jnp.cos(q1), jnp.sin(q1), jnp.cos(q2), jnp.sin(q2), qd1, qd2])


def reset(key: jax.Array, p: DoublePendulumParams):
    noise = jax.random.uniform(key, (4,), minval=-p.init_noise, maxval=p.init_noise)
    state = jnp.array([jnp.pi, 0.0, 0.0, 0.0]) + noise
    return observe(state, p), state


def step(key: jax.Array, state: jax.Array, action: jax.Array, p: DoublePendulumParams):
    """Reward on the pre-step state and the applied torque (the Gymnasium pendulum convention)."""
    del key
    q1, q2, qd1, qd2 = state[0], state[1], state[2], state[3]
    tau = jnp.clip(action, -p.max_torque, p.max_torque)
    cost = (
        wrap_angle(q1 - jnp.pi) ** 2
        + wrap_angle(q2) ** 2
        + 0.1 * (qd1**2 + qd2**2)
        + 0.001 * jnp.sum(tau**2)
    )
    new_state = rk4(lambda x: dynamics(x, action, p), state, p.dt, p.substeps)
    done = ~jnp.all(jnp.isfinite(new_state))
    return observe(new_state, p), new_state, -cost, done, {}
