"""Issue 7: numerical faults, kill-and-resume, determinism.

- A real `mollify train` process is SIGKILLed right after its second checkpoint (test hook
  MOLLIFY_TEST_DIE_AFTER_CHUNK), resumed with --resume, and compared byte for byte with an
  uninterrupted run; the native hopper path is crashed and resumed in-process.
- Same seed and config give byte-identical metrics.csv; another seed gives other numbers.
- NaN gradients are injected into PPO, NPG and ES updates: the update is skipped, counted in the
  `nan_skips` column, parameters stay finite and training goes on.
- Huge, infinite and NaN actions, policies with huge weights, a quadrotor that flips and a double
  pendulum that blows up end episodes with finite rewards and returns.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from mollify import evaluate, make_policy, tasks
from mollify.cli import app
from mollify.training import common, default_config, make_algorithm, run, vec_envs
from mollify.training.checkpoint import CHECKPOINT
from mollify.training.train import DIE_AFTER_CHUNK_ENV, METRICS

runner = CliRunner()

# 6 PPO updates of 4 envs × 64 steps, a checkpoint every 2 updates: 3 chunks.
SMALL = {
    "n_envs": 4,
    "n_steps": 64,
    "hidden": [16],
    "eval_every": 2,
    "eval_episodes": 2,
    "update_epochs": 2,
    "n_minibatches": 2,
    "task_params": {"horizon": 64},
}
STEPS = 6 * 4 * 64


def _params(path: Path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _assert_same_policy(a: Path, b: Path):
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


# ---------------------------------------------------------------------------------------------
# Killed and resumed (a real process, SIGKILL)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Real `mollify train` processes on one small config: an uninterrupted run, one SIGKILLed
    right after its 2nd checkpoint and then resumed, and a finished run restarted with --force and
    another seed. They share compiled programs through the run's persistent XLA cache (conftest;
    speed only: the chunk program does not depend on the seed)."""
    root = tmp_path_factory.mktemp("kill")
    cfg = root / "cfg.json"
    cfg.write_text(json.dumps(SMALL))
    env = os.environ.copy()
    env.pop(DIE_AFTER_CHUNK_ENV, None)

    def train(out, *extra, die_after=None):
        e = env if die_after is None else env | {DIE_AFTER_CHUNK_ENV: str(die_after)}
        args = ["train", "--task", "pendulum", "--steps", str(STEPS), "--config", str(cfg)]
        return subprocess.run(
            [sys.executable, "-m", "mollify", *args, "--out", str(out), *extra],
            env=e,
            capture_output=True,
            text=True,
            timeout=300,
        )

    runs = {"cfg": cfg, "root": root}
    res = train(root / "full")
    assert res.returncode == 0, res.stderr
    runs["kill"] = train(root / "killed", die_after=2)
    with np.load(root / "killed" / CHECKPOINT) as data:
        runs["meta_at_kill"] = json.loads(str(data["meta"]))
    runs["files_at_kill"] = sorted(p.name for p in (root / "killed").iterdir())
    runs["resume"] = train(root / "killed", "--resume")
    shutil.copytree(root / "killed", root / "forced")
    runs["force"] = train(root / "forced", "--seed", "1", "--force")
    return runs


def test_killed_run_resumes_to_the_same_bytes(cli_runs):
    root = cli_runs["root"]
    assert cli_runs["kill"].returncode == -signal.SIGKILL
    # Died right after the 2nd checkpoint: 4 of 6 updates saved, no final outputs yet.
    assert cli_runs["files_at_kill"] == [CHECKPOINT]
    assert cli_runs["meta_at_kill"]["updates_done"] == 4
    assert len(cli_runs["meta_at_kill"]["timing"]) == 2
    resumed = cli_runs["resume"]
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed from the checkpoint after update 4" in resumed.stdout
    full, killed = root / "full", root / "killed"
    assert (full / "metrics.csv").read_bytes() == (killed / "metrics.csv").read_bytes()
    _assert_same_policy(full / "policy.npz", killed / "policy.npz")
    rows = list(csv.DictReader((killed / "metrics.csv").open()))
    assert [float(r["update"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "wall_time" not in rows[0]  # wall time is in timing.csv: metrics.csv is deterministic
    timing = list(csv.DictReader((killed / "timing.csv").open()))
    assert [int(r["update"]) for r in timing] == [2, 4, 6]


def test_same_seed_same_bytes_other_seed_differs(cli_runs):
    """Same seed, same bytes: the killed-and-resumed run above is a second run of seed 0 (equal
    to the uninterrupted one byte for byte); here another seed gives other numbers."""
    root = cli_runs["root"]
    full = root / "full"
    # --force restarted a finished run in place with seed 1: other numbers, all finite.
    forced = cli_runs["force"]
    assert forced.returncode == 0, forced.stderr
    assert "Resumed" not in forced.stdout
    out = root / "forced"
    assert json.loads((out / "config.json").read_text())["seed"] == 1
    with np.load(out / CHECKPOINT) as data:
        meta = json.loads(str(data["meta"]))
    assert meta["config"]["seed"] == 1 and meta["updates_done"] == 6
    seed0 = list(csv.DictReader((full / "metrics.csv").open()))
    seed1 = list(csv.DictReader((out / "metrics.csv").open()))
    for column in ("policy_loss", "value_loss", "train_reward_per_step"):
        a = np.array([float(r[column]) for r in seed0])
        b = np.array([float(r[column]) for r in seed1])
        assert np.all(np.isfinite(b)) and not np.array_equal(a, b), column
    assert not np.array_equal(
        _params(out / "policy.npz")["theta"], _params(full / "policy.npz")["theta"]
    )


def test_resume_refuses_another_config(cli_runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(cli_runs["root"] / "killed", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    base = ["train", "--task", "pendulum", "--config", str(cli_runs["cfg"]), "--out", str(out)]
    for extra, field in [
        (["--steps", str(STEPS)], "not empty"),
        (["--steps", str(STEPS), "--resume", "--seed", "1"], "seed"),
        (["--steps", str(2 * STEPS), "--resume"], "total-steps"),
        (["--steps", str(STEPS), "--resume", "--sigma", "0.5"], "sigma"),
        (["--steps", str(STEPS), "--resume", "--force"], "not both"),
    ]:
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 2, (extra, res.output)
        lines = [line for line in res.output.strip().splitlines() if line]
        assert len(lines) == 1 and field in lines[0], lines
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched


def test_hopper_crashed_and_resumed_in_process(tmp_path):
    """The native path keeps its vectorised MuJoCo env outside the JAX state: the checkpoint
    carries it (physics states, observations, step counters, the reset RNG)."""
    config = default_config(
        "hopper_stand",
        "ppo",
        task_params={"horizon": 10},
        n_envs=2,
        n_steps=8,
        n_minibatches=2,
        update_epochs=1,
        hidden=(8,),
        total_steps=2 * 16,
        eval_every=1,
        eval_episodes=1,
    )

    class Crash(Exception):
        pass

    def crash(row, n_updates):
        if row["update"] == 1:
            raise Crash

    with pytest.raises(Crash):
        run(config, tmp_path / "b", progress=crash)
    with np.load(tmp_path / "b" / CHECKPOINT) as data:
        assert "host_states" in data.files and "host_obs" in data.files
    resumed = run(config, tmp_path / "b", resume=True)
    full = run(config, tmp_path / "a")
    assert resumed.resumed_from == 1 and full.resumed_from == 0
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (
        tmp_path / "b" / "metrics.csv"
    ).read_bytes()
    np.testing.assert_array_equal(full.theta, resumed.theta)


# ---------------------------------------------------------------------------------------------
# NaN gradients: skipped, counted, parameters finite, training goes on
# ---------------------------------------------------------------------------------------------
def _poison_rewards_at(module, monkeypatch, update: int, n_updates: int):
    """Make the rewards of update `update` NaN inside the algorithm's update (after collection and
    reward normalisation), so every gradient of that update is NaN."""
    original = module.make_update

    def make_update(nets, config, optimizer, half):
        inner = original(nets, config, optimizer, half)

        def update_fn(params, opt_state, traj, last_value, progress, key):
            hit = jnp.abs(progress - update / n_updates) < 1e-6
            traj = traj._replace(reward=jnp.where(hit, jnp.nan, traj.reward))
            return inner(params, opt_state, traj, last_value, progress, key)

        return update_fn

    monkeypatch.setattr(module, "make_update", make_update)


@pytest.mark.parametrize(
    "algo, skips_per_update",
    [("ppo", 2 * 2), ("npg", 1 + 1 * 1)],  # PPO: epochs × minibatches; NPG: policy + critic
)
def test_nan_gradient_update_is_skipped_and_counted(algo, skips_per_update, monkeypatch):
    from mollify.training import npg, ppo

    overrides = {"vf_iters": 1, "n_minibatches": 1} if algo == "npg" else {}
    config = default_config(
        "pendulum", algo, **(SMALL | {"hidden": (16,), "total_steps": 3 * 256} | overrides)
    )
    _poison_rewards_at({"ppo": ppo, "npg": npg}[algo], monkeypatch, 1, 3)
    alg = make_algorithm(config)
    step = jax.jit(alg.step)
    state = alg.init(jax.random.PRNGKey(0))
    params, skips = [state.params], []
    for i in range(3):
        state, metrics = step(state, jnp.int32(i))
        params.append(state.params)
        skips.append(float(metrics["nan_skips"]))
        assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(state)), i
        finite = {k: bool(np.isfinite(float(v))) for k, v in metrics.items()}
        if i == 1:  # the poisoned batch's own loss diagnostics are NaN: that is why it was skipped
            assert not finite["grad_norm"]
            assert finite["train_reward_per_step"] and finite["entropy"], metrics
        else:
            assert all(finite.values()), (i, metrics)
    assert set(metrics) <= set(METRICS)  # every diagnostic, the skip count too, reaches the CSV
    assert skips == [0, skips_per_update, skips_per_update]
    # Update 1 left every parameter exactly where it was; updates 0 and 2 moved them.
    for k in ("actor", "critic"):
        np.testing.assert_array_equal(params[2][k], params[1][k])
        assert not np.array_equal(params[1][k], params[0][k])
        assert not np.array_equal(params[3][k], params[2][k])


def test_es_nan_update_is_skipped_and_counted(monkeypatch):
    from mollify.training import es

    original = es.parameter_sigma

    def poisoned(config, progress):  # a NaN parameter noise on update 1 of 3: θ ± NaN
        return jnp.where(jnp.abs(progress - 1 / 3) < 1e-6, jnp.nan, original(config, progress))

    monkeypatch.setattr(es, "parameter_sigma", poisoned)
    config = default_config(
        "pendulum", "es", task_params={"horizon": 32}, hidden=(8,), es_pairs=2,
        total_steps=3 * 2 * 2 * 32,
    )  # fmt: skip
    alg = make_algorithm(config)
    step = jax.jit(alg.step)
    state = alg.init(jax.random.PRNGKey(0))
    thetas, skips = [state.theta], []
    for i in range(3):
        state, metrics = step(state, jnp.int32(i))
        thetas.append(state.theta)
        skips.append(float(metrics["nan_skips"]))
        assert np.all(np.isfinite(state.theta))
        assert np.isfinite(float(metrics["grad_norm"])) != (i == 1)  # NaN only when injected
        assert np.isfinite(float(metrics["train_reward_per_step"]))
    # The NaN candidates' episodes diverge at once and end with return 0 (finite: no return is
    # replaced); the NaN gradient (÷ σ_p) skips the step: 1, cumulative.
    assert skips == [0, 1, 1]
    np.testing.assert_array_equal(thetas[2], thetas[1])
    assert not np.array_equal(thetas[3], thetas[2])
    assert np.all(np.isfinite(thetas[3]))


# ---------------------------------------------------------------------------------------------
# Diverging dynamics end the episode; returns stay finite
# ---------------------------------------------------------------------------------------------
JAX_TASKS = ["pendulum", "double_pendulum", "planar_quadrotor"]
# A state the dynamics cannot come back from: the quadrotor upside down and spinning, the double
# pendulum at 1e30 rad/s (RK4 overflows); the pendulum clips its speed, so it has none.
WILD = {
    "double_pendulum": [0.0, 0.0, 1e30, -1e30],
    "planar_quadrotor": [0.0, 0.0, 3.0, 0.0, 0.0, 50.0],
}


@pytest.mark.parametrize("name", JAX_TASKS)
def test_diverging_dynamics_end_episodes_with_finite_rewards(name):
    """Five envs: actions 1e30, +∞, −∞, NaN, and 0 from a wild state where the task has one."""
    task = tasks.make(name)
    es = common.env_reset(task, jax.random.PRNGKey(0), 5)
    if name in WILD:
        wild = jnp.array(WILD[name], jnp.float32)
        es = es._replace(state=es.state.at[4].set(wild), obs=es.obs.at[4].set(task.observe(wild)))
    values = jnp.array([1e30, jnp.inf, -jnp.inf, jnp.nan, 0.0])
    actions = jnp.broadcast_to(values[:, None], (5, task.action_dim))
    es2, reward, done, _, reached = jax.jit(lambda e, a: common.env_step(task, e, a))(es, actions)
    assert np.all(np.isfinite(reward)) and np.all(np.isfinite(reached))
    assert np.all(np.isfinite(es2.state)) and np.all(np.isfinite(es2.obs))
    done = np.asarray(done)
    # A NaN action diverges: ended, charged the task's failure reward for all 200 steps left
    # (never 0 on the pendulums, whose rewards are negative).
    lump = float(common.failure_lump(task)[0])
    assert lump == 0.0 if task.failure_reward == 0.0 else lump < 0.0
    assert done[3] and float(reward[3]) == pytest.approx(lump, rel=1e-6)
    assert int(es2.t[3]) == 0  # and that env restarted
    if name in WILD:
        assert done[4] and float(reward[4]) == pytest.approx(lump, rel=1e-6)
        assert int(es2.t[4]) == 0
    # ±∞ and 1e30 are clipped to the action box: finite, the episode goes on (full thrust can
    # crash the quadrotor, which also ends it).
    if name != "planar_quadrotor":
        assert not np.any(done[:3])


def test_hopper_nonfinite_actions_end_episodes_with_finite_rewards(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where MuJoCo would write MUJOCO_LOG.TXT had it seen the NaN
    env = vec_envs.HopperVecEnv(tasks.make("hopper_stand", horizon=20), 3, seed=0)
    actions = np.empty((3, env.physics.action_dim))
    actions[0], actions[1], actions[2] = 1e30, [np.inf, -np.inf] * 2, np.nan
    reward, done, _, reached = env.step(actions)
    assert np.all(np.isfinite(reward)) and np.all(np.isfinite(reached))
    assert np.all(np.isfinite(env.states)) and np.all(np.isfinite(env.obs))
    assert done.tolist() == [False, False, True] and reward[2] == 0.0 and env.t[2] == 0
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


@pytest.mark.parametrize("name", [*JAX_TASKS, "hopper_stand"])
def test_huge_policies_and_noise_give_finite_returns(name):
    task = tasks.make(name, horizon=20) if name == "hopper_stand" else tasks.make(name)
    pol = make_policy(task, "linear", squash=False)  # unbounded actions
    thetas = np.full((2, pol.n_params), 1e30, np.float32)  # actions of order ±1e30
    thetas[1] *= -1
    for sigma in (0.0, 1e6):  # and noise a million half-ranges wide
        res = evaluate(task, pol, thetas, sigma=sigma, episodes=2, seed=0)
        assert np.all(np.isfinite(res.undiscounted)) and np.all(np.isfinite(res.discounted))
        if name == "planar_quadrotor":
            assert np.all(np.asarray(res.lengths) < task.horizon)  # full thrust crashes it early


def test_training_with_huge_action_noise_stays_finite():
    """PPO on the quadrotor at σ = 1000 (actions far outside the box, crashes everywhere)."""
    config = default_config(
        "planar_quadrotor", "ppo", sigma=1000.0, n_envs=4, n_steps=64, hidden=(8,),
        update_epochs=1, n_minibatches=1, total_steps=2 * 256,
    )  # fmt: skip
    alg = make_algorithm(config)
    step = jax.jit(alg.step)
    state = alg.init(jax.random.PRNGKey(0))
    for i in range(2):
        state, metrics = step(state, jnp.int32(i))
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
        assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(state))
        assert 0.0 <= float(metrics["train_reward_per_step"]) <= 1.0


def test_checkpoint_round_trip_typed_keys_and_refusals(tmp_path):
    """save/load restore every leaf exactly (new-style typed keys via their key data) and refuse a
    state of another shape, another config, or a damaged file with one line."""
    from mollify.training.checkpoint import (
        CheckpointError,
        _to_host,
        load_checkpoint,
        save_checkpoint,
    )

    config = default_config("pendulum", "ppo")
    state = {
        "key": jax.random.key(7),
        "old_key": jax.random.PRNGKey(3),
        "w": jnp.arange(6.0).reshape(2, 3),
        "n": jnp.int32(5),
    }
    rows = [{"update": 1.0, "eval_deterministic": float("nan")}]
    path = tmp_path / CHECKPOINT
    save_checkpoint(path, config, *_to_host(state), 1, rows, [{"update": 1, "wall_time": 0.5}])
    back = load_checkpoint(path, config, state)
    assert back.updates_done == 1 and back.timing == [{"update": 1, "wall_time": 0.5}]
    assert back.rows[0]["update"] == 1.0 and np.isnan(back.rows[0]["eval_deterministic"])
    assert jax.dtypes.issubdtype(back.state["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        jax.random.key_data(back.state["key"]), jax.random.key_data(state["key"])
    )
    for k in ("old_key", "w", "n"):
        np.testing.assert_array_equal(back.state[k], state[k])
        assert back.state[k].dtype == state[k].dtype
    refusals = [
        (config, state | {"w": jnp.zeros((3, 2))}, "leaf"),
        (config, {"w": state["w"]}, "structure"),
        (default_config("pendulum", "ppo", lr=1e-4), state, "lr"),
    ]
    for cfg, template, word in refusals:
        with pytest.raises(CheckpointError, match=word) as info:
            load_checkpoint(path, cfg, template)
        assert "\n" not in str(info.value)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(path, config, state)
