"""planar_quadrotor: hover is an equilibrium, symmetric thrust never rotates, linearisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mollify import tasks


@pytest.fixture(scope="module")
def task():
    return tasks.make("planar_quadrotor")


def test_zero_action_holds_hover_exactly(task):
    state = jnp.zeros(6)
    step = jax.jit(task.step)  # one compiled step, 250 calls (eager dispatch took 48 s)
    for _ in range(250):
        _, state, reward, done, _ = step(None, state, jnp.zeros(2))
    assert float(jnp.abs(state).max()) == 0.0
    assert float(reward) == 1.0 and not bool(done)


def test_symmetric_thrust_gives_no_rotation(task):
    state = jnp.zeros(6)
    for a in (0.3, -0.2, 0.7):
        state = task.step(None, state, jnp.array([a, a]))[1]
        assert float(state[2]) == 0.0 and float(state[5]) == 0.0 and float(state[0]) == 0.0
    assert float(state[1]) != 0.0  # but it climbs or sinks


def test_linearisation_at_hover(task):
    p = task.params
    a = np.zeros((6, 6))
    a[:3, 3:] = np.eye(3)
    a[3, 2] = -p.g  # ẍ ≈ −g φ
    b = np.zeros((6, 2))
    b[4] = p.g / 2  # z̈ = (g/2)(a1 + a2)
    b[5] = [p.arm * p.mass * p.g / (2 * p.inertia), -p.arm * p.mass * p.g / (2 * p.inertia)]
    ja = jax.jacfwd(lambda s: task.dynamics(s, jnp.zeros(2)))(jnp.zeros(6))
    jb = jax.jacfwd(lambda u: task.dynamics(jnp.zeros(6), u))(jnp.zeros(2))
    np.testing.assert_allclose(np.asarray(ja), a, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jb), b, rtol=1e-5)


def test_crash_ends_episode_with_no_reward(task):
    tilted = jnp.array([0.0, 0.0, 1.5, 0.0, 0.0, 5.0])
    _, _state, reward, done, _ = task.step(None, tilted, jnp.array([1.0, -1.0]))
    assert bool(done) and float(reward) == 0.0
    _, _, reward, done, _ = task.step(None, jnp.array([0.0, 2.5, 0, 0, 0, 0]), jnp.zeros(2))
    assert bool(done) and float(reward) == 0.0


def test_reset_ranges(task):
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    s = np.asarray(jax.vmap(lambda k: task.reset(k)[1])(keys))
    np.testing.assert_allclose(np.abs(s).max(0), [0.5, 0.5, 0.3, 0.2, 0.2, 0.2], atol=0.01)
