"""double_pendulum against closed forms: energy, normal modes, linearisation at upright."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mollify import tasks
from mollify.tasks import double_pendulum as dp


@pytest.fixture(scope="module")
def task():
    return tasks.make("double_pendulum")


def _energy_drift(substeps: int, state, seconds: float = 10.0) -> float:
    """Largest relative energy error over `seconds` of free (zero-torque) motion, in float64."""
    task = tasks.make("double_pendulum", substeps=substeps)
    with jax.enable_x64(True):
        state = jnp.asarray(state, jnp.float64)
        e0 = float(dp.energy(state, task.params))
        step = jax.jit(lambda s: task.step(None, s, jnp.zeros(2))[1])
        worst = 0.0
        for _ in range(round(seconds / task.params.dt)):
            state = step(state)
            worst = max(worst, abs(float(dp.energy(state, task.params)) - e0) / abs(e0))
    return worst


def test_energy_is_conserved_without_torque():
    # A large swing (both links, 1 rad and more): the default integrator holds energy to 1e-4.
    assert _energy_drift(4, [1.2, -1.0, 0.0, 0.0]) < 1e-4
    # Falling from upright is chaotic and fast (|q̇| up to ~8 rad/s): 4 RK4 sub-steps drift
    # ~5e-4 there, and halving the step shrinks it ~2^4-fold, the order of RK4 (so the error is
    # the integrator's, not the equations').
    upright = [np.pi + 0.1, -0.1, 0.05, 0.0]
    coarse, fine = _energy_drift(4, upright), _energy_drift(8, upright)
    assert coarse < 1e-3 and fine < 1e-4
    assert coarse / fine > 12


def test_small_oscillation_frequencies(task):
    """About the downward rest, ω² = (g/l)(2 ± √2) for equal masses and lengths."""
    p = task.params
    jac = jax.jacfwd(lambda s: task.dynamics(s, jnp.zeros(2)))(jnp.zeros(4))
    eig = np.linalg.eigvals(np.asarray(jac, dtype=np.float64))
    omegas_sq = np.sort(np.unique(np.round(eig.imag**2, 4)))
    expected = np.sort(p.g / p.l1 * np.array([2 - np.sqrt(2), 2 + np.sqrt(2)]))
    np.testing.assert_allclose(omegas_sq, expected, rtol=1e-4)
    assert np.abs(eig.real).max() < 1e-4  # undamped: purely imaginary


def test_jacobian_at_upright_matches_analytic_linearisation(task):
    p = task.params
    m, l, g = p.m1, p.l1, p.g
    mass = m * l**2 * np.array([[5.0, 2.0], [2.0, 1.0]])  # M(q2 = 0)
    stiffness = m * g * l * np.array([[3.0, 1.0], [1.0, 1.0]])  # −∂²V/∂q² at upright
    minv = np.linalg.inv(mass)
    a = np.block([[np.zeros((2, 2)), np.eye(2)], [minv @ stiffness, np.zeros((2, 2))]])
    b = np.vstack([np.zeros((2, 2)), minv])
    upright = jnp.array([np.pi, 0.0, 0.0, 0.0])
    ja = jax.jacfwd(lambda s: task.dynamics(s, jnp.zeros(2)))(upright)
    jb = jax.jacfwd(lambda u: task.dynamics(upright, u))(jnp.zeros(2))
    np.testing.assert_allclose(np.asarray(ja), a, atol=1e-4)
    np.testing.assert_allclose(np.asarray(jb), b, atol=1e-5)


def test_single_actuator_variants():
    acrobot = tasks.make("double_pendulum", actuated="elbow")
    assert acrobot.action_dim == 1
    qdd = acrobot.dynamics(jnp.zeros(4), jnp.array([1.0]))[2:]
    minv = np.linalg.inv(np.array([[5.0, 2.0], [2.0, 1.0]]))
    np.testing.assert_allclose(np.asarray(qdd), minv @ np.array([0.0, 1.0]), atol=1e-5)
    with pytest.raises(ValueError, match="actuated"):
        tasks.make("double_pendulum", actuated="knee")


def test_torque_is_clipped_and_reward_is_zero_at_upright(task):
    _, state = task.reset(jax.random.PRNGKey(0))
    big = task.step(None, state, jnp.array([100.0, -100.0]))[1]
    clipped = task.step(None, state, jnp.array([10.0, -10.0]))[1]
    np.testing.assert_allclose(np.asarray(big), np.asarray(clipped))
    _, _, reward, _, _ = task.step(None, jnp.array([np.pi, 0.0, 0.0, 0.0]), jnp.zeros(2))
    assert float(reward) == pytest.approx(0.0, abs=1e-6)
