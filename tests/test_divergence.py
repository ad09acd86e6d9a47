"""Diverged rollouts are counted everywhere and scored as failures (the task's failure reward for
every step left), never as a free zero on a negative-reward task; training never sees NaN."""

from __future__ import annotations

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import mollify.tasks
from mollify import tasks
from mollify.cli import app
from mollify.core.evaluation import evaluate
from mollify.core.policies import make_policy
from mollify.instruments import landscape
from mollify.training import common, vec_envs


def _fragile(task, *, at_step=None, max_action=None):
    """`task` whose state turns NaN at step `at_step` (every episode) or on any action component
    beyond ±`max_action` (before clipping): divergence where and when a test wants it. A step
    counter rides at the end of the state."""
    reset0, step0, observe0 = task.reset_fn, task.step_fn, task.observe_fn

    def reset(key, p):
        obs, state = reset0(key, p)
        return obs, jnp.append(state, 0.0)

    def step(key, state, action, p):
        obs, new, reward, done, info = step0(key, state[:-1], action, p)
        bad = jnp.array(False)
        if at_step is not None:
            bad |= state[-1] == at_step
        if max_action is not None:
            bad |= jnp.any(jnp.abs(action) > max_action)
        new = jnp.where(bad, jnp.nan, new)
        return obs, jnp.append(new, state[-1] + 1), reward, done, info

    return dataclasses.replace(
        task, reset_fn=reset, step_fn=step, observe_fn=lambda s, p: observe0(s[:-1], p)
    )


def _thetas(policy, n, seed=0):
    return np.array(jax.vmap(policy.init)(jax.random.split(jax.random.PRNGKey(seed), n)))


def test_each_task_states_its_failure_reward():
    assert tasks.make("pendulum").failure_reward == pytest.approx(
        -(math.pi**2 + 0.1 * 8**2 + 0.001 * 2**2), rel=1e-12
    )
    speed = 30 + 15 * 10.0  # the stated floor: both joints at 180 rad/s
    assert tasks.make("double_pendulum").failure_reward == pytest.approx(
        -(2 * math.pi**2 + 0.1 * 2 * speed**2 + 0.001 * 2 * 10.0**2), rel=1e-12
    )
    for name in ("planar_quadrotor", "hopper_stand", "hopper", "walker2d"):
        assert tasks.make(name).failure_reward == 0.0
    assert tasks.make("half_cheetah").failure_reward == pytest.approx(-0.6)
    assert tasks.from_gymnasium("Pendulum-v1").failure_reward is None  # the episode's own worst


@pytest.mark.parametrize("name", ["pendulum", "double_pendulum"])
def test_nan_policy_is_counted_and_scores_below_every_survivor(name):
    task = tasks.make(name)
    policy = make_policy(task)
    thetas = _thetas(policy, 9)
    thetas[0] = np.nan  # NaN actions from the first step
    res = evaluate(task, policy, thetas, sigma=0.3, episodes=4, seed=0)
    assert res.diverged.dtype == bool and res.diverged.shape == (9, 4)
    assert res.diverged[0].all() and not res.diverged[1:].any()
    assert np.all(np.isfinite(res.undiscounted)) and np.all(np.isfinite(res.discounted))
    h, g, f = task.horizon, task.gamma, task.failure_reward
    np.testing.assert_allclose(res.undiscounted[0], f * h, rtol=1e-5)
    np.testing.assert_allclose(res.discounted[0], f * (1 - g**h) / (1 - g), rtol=1e-5)
    assert res.undiscounted[0].max() < res.undiscounted[1:].min()
    assert res.discounted[0].max() < res.discounted[1:].min()


def test_divergence_mid_episode_charges_exactly_the_steps_left():
    """Diverging at step k: the first k rewards, then the failure reward for steps k … H−1,
    discounted from k on (checked against the same episodes truncated at k)."""
    k = 37
    base = tasks.make("pendulum")
    task = _fragile(base, at_step=k)
    prefix_task = tasks.make("pendulum", horizon=k)
    policy = make_policy(base)
    thetas = _thetas(policy, 3)
    res = evaluate(task, policy, thetas, sigma=0.5, episodes=4, seed=1)
    prefix = evaluate(prefix_task, policy, thetas, sigma=0.5, episodes=4, seed=1)
    assert res.diverged.all() and np.all(res.lengths == k)
    h, g, f = base.horizon, base.gamma, base.failure_reward
    np.testing.assert_allclose(res.undiscounted, prefix.undiscounted + f * (h - k), rtol=1e-5)
    tail = f * (g**k - g**h) / (1 - g)
    np.testing.assert_allclose(res.discounted, prefix.discounted + tail, rtol=1e-5)


def test_evaluate_json_reports_the_diverged_count(monkeypatch):
    fragile = _fragile(tasks.make("pendulum"), at_step=5)
    monkeypatch.setattr(mollify.tasks, "make", lambda name, **kw: fragile)
    res = CliRunner().invoke(app, ["evaluate", "--task", "pendulum", "--episodes", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["failure_reward"] == pytest.approx(fragile.failure_reward)
    for label in ("deterministic", "stochastic"):
        assert out[label]["diverged"] == 3
        assert out[label]["mean_return"] < fragile.failure_reward * (200 - 5)


def test_landscape_holds_the_diverged_fraction(tmp_path):
    """Actions beyond ±1 diverge: at σ = 1 (noise std 2) nearly every rollout does, at σ = 0
    only some points; the fractions, the file's total and summary.json agree."""
    task = _fragile(tasks.make("pendulum"), max_action=1.0)
    policy = make_policy(task)
    config = landscape.LandscapeConfig(dims=1, grid=7, sigmas=(0.0, 1.0), samples=4, extent=2.0)
    ds, summary = landscape.run(task, policy, _thetas(policy, 1)[0], config, tmp_path)
    frac = ds["diverged_fraction"].values
    assert frac.shape == (2, 7) and np.all((frac >= 0) & (frac <= 1))
    assert frac[1].mean() > 0.5
    np.testing.assert_allclose(frac * 4, np.round(frac * 4))  # whole rollouts of 4
    total = round(float(frac.sum()) * 4)
    assert ds.attrs["diverged_rollouts"] == total == summary["diverged_rollouts"]
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["diverged_rollouts"] == total
    assert "diverged_fraction" in landscape.xr.open_dataset(tmp_path / "landscape.nc")


@pytest.mark.parametrize("name", ["pendulum", "double_pendulum"])
def test_training_step_that_diverges_gets_a_finite_negative_lump(name):
    task = tasks.make(name)
    es = common.env_reset(task, jax.random.PRNGKey(0), 3)
    es = es._replace(t=jnp.array([0, 50, 199], jnp.int32))
    actions = jnp.full((3, task.action_dim), jnp.nan)
    gamma = 0.95  # the run's γ, not the task's
    _, reward, done, truncated, reached = common.env_step(task, es, actions, gamma)
    reward = np.asarray(reward, np.float64)
    assert np.all(np.isfinite(reward)) and np.all(reward < 0) and np.all(np.asarray(done))
    assert not np.any(np.asarray(truncated)) and np.all(np.isfinite(np.asarray(reached)))
    left = task.horizon - np.array([0, 50, 199])
    want = task.failure_reward * (1 - gamma**left) / (1 - gamma)
    np.testing.assert_allclose(reward, want, rtol=1e-5)


def test_native_training_envs_charge_diverged_steps():
    """half_cheetah (failure reward −0.6) and a gym: env (its own lowest reward so far)."""
    cheetah = tasks.make("half_cheetah", horizon=100)
    env = vec_envs.make_vec_env(cheetah, 2, seed=0)
    env.gamma = 0.9
    actions = np.zeros((2, cheetah.action_dim))
    actions[0] = np.nan
    reward, done, _, _ = env.step(actions)
    assert done.tolist() == [True, False]
    assert reward[0] == pytest.approx(-0.6 * (1 - 0.9**100) / 0.1)

    gym_task = tasks.from_gymnasium("Pendulum-v1")
    env = vec_envs.make_vec_env(gym_task, 2, seed=0)
    seen = []
    for _ in range(3):
        r, *_ = env.step(np.ones((2, 1)))
        seen.append(r[0])
    reward, done, _, _ = env.step(np.array([[np.nan], [1.0]]))
    assert done.tolist() == [True, False] and np.all(np.isfinite(reward))
    weight = (1 - 0.99 ** (200 - 3)) / 0.01
    assert reward[0] == pytest.approx(min(seen) * weight) and reward[0] < 0
    snap = env.snapshot()
    assert vec_envs.vec_env_from_snapshot(gym_task, snap).t.tolist() == env.t.tolist()
    env.envs.close()
