"""Training, sweeps and advice on any Gymnasium env (`--task gym:ENV_ID`): PPO learns Gymnasium's
own pendulum, MuJoCo and classic-control envs run end to end, checkpoints resume bit for bit, and
the observation normalisation folds exactly into the saved policy."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from mollify import tasks, training
from mollify.cli import app
from mollify.core.evaluation import evaluate
from mollify.core.policies import load_policy, make_policy
from mollify.training import common
from mollify.training.config import default_config
from mollify.training.vec_envs import GymVecEnv

runner = CliRunner()


@pytest.mark.slow  # 45 s; the gym path runs end to end in the default suite below
def test_ppo_learns_gymnasium_pendulum(tmp_path):
    """The issue's acceptance run: 200 k steps of PPO at the defaults end above −400."""
    out = tmp_path / "pendulum"
    res = runner.invoke(
        app,
        ["train", "--task", "gym:Pendulum-v1", "--algo", "ppo", "--steps", "200000",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final"]["eval_deterministic"]
    assert final > -400, final
    rows = [r.split(",") for r in (out / "metrics.csv").read_text().splitlines()[1:]]
    first = next(float(r[3]) for r in rows if r[3] != "nan")
    assert first < -800, first  # it learned: the first evaluation was a random policy's
    # The saved policy (normalisation folded in) is the policy that was evaluated in training.
    config = json.loads((out / "config.json").read_text())
    assert config["norm_obs"] is True
    task = tasks.make("gym:Pendulum-v1")
    policy, theta = load_policy(out / "policy.npz", task)
    again = evaluate(
        task, policy, theta, episodes=config["eval_episodes"], seed=config["eval_seed"]
    )
    assert again.undiscounted.mean() == pytest.approx(final, abs=1e-6)


def test_folded_normalisation_is_the_same_function():
    task = tasks.make("pendulum")
    policy = make_policy(task)
    theta = policy.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    on = common.ObsNorm(
        jnp.asarray(rng.normal(size=3) * 3, jnp.float32),
        jnp.asarray(rng.uniform(0.01, 50, size=3), jnp.float32),
        jnp.float32(100.0),
    )
    obs = jnp.asarray(rng.normal(size=(64, 3)) * 5, jnp.float32)
    direct = policy.apply(theta, common.normalize_obs(on, obs))
    folded = policy.apply(common.fold_obs_norm(policy, theta, on), obs)
    np.testing.assert_allclose(np.asarray(folded), np.asarray(direct), rtol=0, atol=2e-5)
    # Batch statistics merge into the running ones as if computed over all data at once.
    data = rng.normal(size=(2, 50, 3)) * [1, 10, 100] + [0, 5, -7]
    merged = common.update_obs_norm(
        common.update_obs_norm(common.obs_norm_init(3), jnp.asarray(data[0])), jnp.asarray(data[1])
    )
    flat = data.reshape(-1, 3)
    np.testing.assert_allclose(np.asarray(merged.mean), flat.mean(0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(merged.var), flat.var(0), rtol=1e-4)


def test_vec_env_bootstraps_from_the_reached_observation_and_restarts():
    task = tasks.from_gymnasium("Pendulum-v1", horizon=3)
    env = GymVecEnv(task, 4, seed=0)
    start = env.obs.copy()
    for t in range(3):
        reward, done, truncated, reached = env.step(np.zeros((4, 1)))
        assert not done.any() and truncated.all() == (t == 2)
    assert np.all(np.isfinite(reward)) and np.all(reward < 0)
    assert not np.allclose(reached, env.obs)  # the reset observation replaced the reached one
    assert not np.allclose(env.obs, start)  # a fresh draw, not the first reset again
    # A NaN action ends that env only, and never reaches the env.
    reward, done, truncated, reached = env.step(np.array([[np.nan], [0.0], [0.0], [0.0]]))
    assert done.tolist() == [True, False, False, False] and reward[0] == 0.0


def _small(task: str, **overrides):
    base = {"total_steps": 3 * 16 * 64, "n_envs": 16, "n_steps": 64, "n_minibatches": 4}
    base |= {"eval_every": 1, "eval_episodes": 4, "update_epochs": 2}
    base |= {"task_params": {"horizon": 100}}  # auto-resets inside the run, short evaluations
    return default_config(task, "ppo", **(base | overrides))


@pytest.mark.parametrize("task", ["gym:InvertedPendulum-v5", "walker2d"])
def test_mujoco_task_resumes_bit_for_bit_and_reruns_repeat(task, tmp_path):
    """A killed run (it dies after its 2nd checkpoint) resumed equals an uninterrupted run (so
    reruns repeat too): Gymnasium's MuJoCo sub-envs (simulator state and generators) and the
    native locomotion envs are restored from the checkpoint, observation statistics included."""
    config = _small(task)
    full = training.run(config, tmp_path / "full")

    class Died(Exception):
        pass

    def die_after_two(row, n_updates):
        if row["update"] == 2:
            raise Died

    with pytest.raises(Died):
        training.run(config, tmp_path / "killed", progress=die_after_two)
    resumed = training.run(config, tmp_path / "killed", resume=True)
    assert resumed.resumed_from == 2
    assert resumed.metrics == full.metrics
    np.testing.assert_array_equal(resumed.theta, full.theta)
    assert (tmp_path / "full" / "metrics.csv").read_bytes() == (
        tmp_path / "killed" / "metrics.csv"
    ).read_bytes()
    # The saved policy, statistics folded in, scores what training's evaluation scored.
    policy, theta = load_policy(tmp_path / "full" / "policy.npz", config.make_task())
    det = evaluate(
        config.make_task(), policy, theta, episodes=config.eval_episodes, seed=config.eval_seed
    )
    assert det.undiscounted.mean() == pytest.approx(full.final["eval_deterministic"], abs=1e-6)


def test_classic_control_gym_env_trains_from_the_cli(tmp_path):
    out = tmp_path / "car"
    cfg = tmp_path / "cfg.json"
    small = dataclasses.asdict(_small("gym:MountainCarContinuous-v0"))
    keep = ("n_envs", "n_steps", "n_minibatches", "eval_every", "eval_episodes", "update_epochs")
    cfg.write_text(json.dumps({k: small[k] for k in keep}))
    args = ["train", "--task", "gym:MountainCarContinuous-v0", "--steps", "2048"]
    res = runner.invoke(app, [*args, "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    final = json.loads((out / "summary.json").read_text())["final"]
    # 999 steps of small actions: a return in (−100, 0], and no NaN anywhere.
    assert -100 < final["eval_deterministic"] <= 0
    # The saved policy (observation normalisation folded in) is the one evaluated in training.
    config = json.loads((out / "config.json").read_text())
    assert config["norm_obs"] is True
    task = tasks.make("gym:MountainCarContinuous-v0")
    policy, theta = load_policy(out / "policy.npz", task)
    again = evaluate(
        task, policy, theta, episodes=config["eval_episodes"], seed=config["eval_seed"]
    )
    assert again.undiscounted.mean() == pytest.approx(final["eval_deterministic"], abs=1e-5)


def test_sweep_runs_on_a_gym_task(tmp_path):
    out = tmp_path / "sweep"
    res = runner.invoke(
        app,
        ["sweep", "--tasks", "gym:Pendulum-v1", "--sigmas", "0.3,1", "--seeds", "1",
         "--steps", "2048", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    points = stats["gym:Pendulum-v1 / ppo / gaussian / fixed"]["deterministic"]["points"]
    assert [p["sigma"] for p in points] == [0.3, 1.0]
    assert all(-2000 < p["mean"] < 0 and p["n"] == 1 for p in points)
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and all("gym:Pendulum-v1" in r for r in rows[1:])
