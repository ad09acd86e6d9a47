"""Batched evaluation: equals a plain per-policy loop, common random numbers, streaming, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mollify import evaluate, make_policy, tasks
from mollify.core import noise
from mollify.core.evaluation import episode_keys, noise_table


def _policies(task, n, seed=0):
    pol = make_policy(task)
    return pol, np.asarray(jax.vmap(pol.init)(jax.random.split(jax.random.PRNGKey(seed), n)))


def _reference_loop(task, pol, theta, sigma, kernel, episodes, seed):
    """The same episodes stepped one by one in Python: the definition the batch must reproduce."""
    table = noise_table(task, kernel, seed, episodes)
    half = task.action_half_range
    act, step = jax.jit(pol.apply), jax.jit(task.step)  # one env, one step at a time
    out = []
    for e, key in enumerate(episode_keys(seed, episodes)):
        reset_key, _, _ = jax.random.split(key, 3)
        obs, state = task.reset(reset_key)
        total, _alive = 0.0, True
        for t in range(task.horizon):
            action = act(jnp.asarray(theta), obs) + sigma * half * table[e, t]
            obs, state, reward, done, _ = step(None, state, action.astype(jnp.float32))
            total += float(reward)
            if bool(done):
                break
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("name", ["pendulum", "planar_quadrotor"])
def test_batch_equals_reference_loop(name):
    task = tasks.make(name, horizon=60)
    pol, thetas = _policies(task, 3)
    res = evaluate(task, pol, thetas, sigma=0.2, episodes=2, seed=5)
    for i in range(3):
        ref = _reference_loop(task, pol, thetas[i], 0.2, "gaussian", 2, 5)
        np.testing.assert_allclose(res.undiscounted[i], ref, rtol=1e-4, atol=1e-3)


def test_common_random_numbers_and_determinism():
    task = tasks.make("pendulum")
    pol, thetas = _policies(task, 5)
    a = evaluate(task, pol, thetas, sigma=0.3, episodes=4, seed=1)
    b = evaluate(task, pol, thetas, sigma=0.3, episodes=4, seed=1)
    np.testing.assert_array_equal(a.undiscounted, b.undiscounted)
    # The same θ in two rows of one batch sees the same starts and noise: identical returns.
    dup = evaluate(task, pol, np.stack([thetas[0], thetas[0]]), sigma=0.3, episodes=4, seed=1)
    np.testing.assert_array_equal(dup.undiscounted[0], dup.undiscounted[1])
    np.testing.assert_allclose(dup.undiscounted[0], a.undiscounted[0], rtol=1e-5)
    c = evaluate(task, pol, thetas, sigma=0.3, episodes=4, seed=2)
    assert not np.allclose(a.undiscounted, c.undiscounted)


def test_discounting_and_sigma_zero_is_deterministic():
    task = tasks.make("pendulum", gamma=0.9)
    pol, thetas = _policies(task, 2)
    res = evaluate(task, pol, thetas, sigma=0.0, episodes=2, seed=0)
    assert np.all(res.discounted > res.undiscounted)  # rewards are negative
    g = evaluate(task, pol, thetas, sigma=0.0, kernel="laplace", episodes=2, seed=0)
    # σ = 0 ignores the kernel (up to float rounding of a differently fused program)
    np.testing.assert_allclose(res.undiscounted, g.undiscounted, rtol=1e-5)


def test_streams_blocks_and_pads_any_n(monkeypatch):
    import mollify.core.evaluation as ev

    task = tasks.make("pendulum", horizon=20)
    pol, thetas = _policies(task, 37)
    full = evaluate(task, pol, thetas, sigma=0.1, episodes=3, seed=0)
    monkeypatch.setattr(ev, "_MAX_CHUNKS_PER_BLOCK", 1)
    monkeypatch.setattr(ev, "_TARGET_BATCH", 8)
    ev._jax_block_fn.cache_clear()
    small = evaluate(task, pol, thetas, sigma=0.1, episodes=3, seed=0)
    ev._jax_block_fn.cache_clear()
    assert small.undiscounted.shape == (37, 3)
    np.testing.assert_allclose(small.undiscounted, full.undiscounted, rtol=1e-4, atol=1e-3)


def test_terminated_episodes_stop_accumulating():
    task = tasks.make("planar_quadrotor")
    pol, thetas = _policies(task, 8)
    res = evaluate(task, pol, thetas * 5.0, sigma=1.0, episodes=4, seed=0)
    assert np.all(np.isfinite(res.undiscounted))
    assert res.lengths.min() < task.horizon  # wild policies crash early...
    assert np.all(res.undiscounted <= res.lengths + 1e-4)  # ...and earn at most 1 per step taken


@pytest.mark.parametrize("kernel", noise.KERNELS)
def test_kernels_have_zero_mean_unit_variance(kernel):
    x = np.asarray(noise.sample(jax.random.PRNGKey(0), kernel, (200_000,)))
    assert abs(x.mean()) < 0.01 and abs(x.var() - 1.0) < 0.02


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), [0.1, 0.2, 0.3]])
def test_bad_sigma_is_rejected(bad):
    task = tasks.make("double_pendulum")
    pol, thetas = _policies(task, 1)
    with pytest.raises(ValueError, match="sigma"):
        evaluate(task, pol, thetas, sigma=bad)


def test_per_dimension_sigma_and_bad_kernel():
    task = tasks.make("double_pendulum", horizon=10)
    pol, thetas = _policies(task, 2)
    res = evaluate(task, pol, thetas, sigma=[0.0, 0.5], episodes=2)
    assert res.undiscounted.shape == (2, 2)
    with pytest.raises(ValueError, match="kernel"):
        evaluate(task, pol, thetas, kernel="cauchy")


def test_hopper_batched_equals_single_and_crn():
    task = tasks.make("hopper_stand", horizon=50)
    pol, thetas = _policies(task, 3)
    batch = evaluate(task, pol, thetas, sigma=0.1, episodes=2, seed=4)
    one = evaluate(task, pol, thetas[1:2], sigma=0.1, episodes=2, seed=4)
    np.testing.assert_allclose(batch.undiscounted[1], one.undiscounted[0], atol=1e-9)
    assert batch.lengths.max() == 50


def test_gymnasium_adapter_through_the_same_function():
    import gymnasium as gym

    task = tasks.from_gymnasium("MountainCarContinuous-v0")
    assert (task.obs_dim, task.action_dim, task.horizon) == (2, 1, 999)
    pol, thetas = _policies(task, 2)
    res = evaluate(task, pol, thetas, sigma=0.2, episodes=2, seed=0)
    assert res.undiscounted.shape == (2, 2) and np.all(np.isfinite(res.undiscounted))
    # Reference: one plain Gymnasium episode with the same reset seed and noise.
    from mollify.core.evaluation import reset_seeds

    seeds, table = reset_seeds(0, 2), noise_table(task, "gaussian", 0, 2)
    env = gym.make("MountainCarContinuous-v0")
    obs, _ = env.reset(seed=int(seeds[1]))
    total = 0.0
    for t in range(task.horizon):
        a = np.asarray(pol.apply(jnp.asarray(thetas[0]), jnp.asarray(obs, jnp.float32)))
        a = np.clip(a + 0.2 * table[1, t], -1, 1)
        obs, r, term, trunc, _ = env.step(a.astype(np.float32))
        total += r
        if term or trunc:
            break
    assert res.undiscounted[0, 1] == pytest.approx(total, rel=1e-4, abs=1e-3)


def test_gymnasium_adapter_rejects_discrete_and_unknown():
    with pytest.raises(ValueError, match="Discrete"):
        tasks.from_gymnasium("CartPole-v1")
    with pytest.raises(ValueError, match="task"):
        tasks.from_gymnasium("NoSuchEnv-v9")


@pytest.mark.parametrize("name", ["pendulum", "double_pendulum", "planar_quadrotor"])
def test_fixed_start_makes_sigma_zero_deterministic(name):
    """start="fixed": every episode from one state, so at σ = 0 all episodes agree (the raw J of
    that start); at σ > 0 they differ only by their noise draws. "random" starts differ."""
    task = tasks.make(name, horizon=50)
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(1)))
    fixed = evaluate(task, policy, theta, episodes=4, seed=2, start="fixed").discounted[0]
    assert np.ptp(fixed) == 0.0
    noisy = evaluate(task, policy, theta, sigma=0.3, episodes=4, seed=2, start="fixed")
    assert np.ptp(noisy.discounted[0]) > 0
    random = evaluate(task, policy, theta, episodes=4, seed=2).discounted[0]
    assert np.ptp(random) > 0


def test_fixed_start_is_the_nominal_state():
    pendulum = tasks.fixed_start(tasks.make("pendulum"))
    _, state = pendulum.reset(jax.random.PRNGKey(7))
    np.testing.assert_array_equal(np.asarray(state), [0.0, 0.0])  # upright, at rest
    quad = tasks.fixed_start(tasks.make("planar_quadrotor"))
    np.testing.assert_array_equal(np.asarray(quad.reset(jax.random.PRNGKey(7))[1]), np.zeros(6))
    base = tasks.make("double_pendulum")
    assert tasks.fixed_start(base) is tasks.fixed_start(base)  # cached: compiled code is reused
    with pytest.raises(ValueError, match="start: unknown start 'fix'"):
        evaluate(base, make_policy(base), np.zeros(make_policy(base).n_params), start="fix")


def test_fixed_start_resets_every_native_episode_with_one_seed(monkeypatch):
    """Hopper and Gymnasium envs have no nominal state: a fixed start is the first episode's
    reset, repeated. (Their σ = 0 returns can still differ in the last digits: the batched
    float32 policy rounds differently by batch position, and the closed loop amplifies it.)"""
    task = tasks.make("hopper_stand", horizon=3)
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(1)))
    seen = []
    reset = task.physics.reset
    monkeypatch.setattr(task.physics, "reset", lambda seeds: seen.append(seeds) or reset(seeds))
    evaluate(task, policy, theta, episodes=4, seed=2, start="fixed")
    evaluate(task, policy, theta, episodes=4, seed=2, start="random")
    assert len(set(seen[0].tolist())) == 1 and len(set(seen[1].tolist())) == 4
    assert seen[0][0] == seen[1][0]  # the first episode's own reset
