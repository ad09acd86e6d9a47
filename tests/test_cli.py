"""The CLI: real output on good input; one line and exit code 2 on bad input."""

import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from mollify import make_policy, save_policy, tasks
from mollify.cli import app

runner = CliRunner()


def test_tasks_lists_all_four():
    res = runner.invoke(app, ["tasks"])
    assert res.exit_code == 0
    for name in tasks.names():
        assert name in res.output


def test_evaluate_json_with_saved_policy(tmp_path):
    task = tasks.make("pendulum")
    pol = make_policy(task)
    path = save_policy(tmp_path / "p.npz", pol, pol.init(jax.random.PRNGKey(0)), "pendulum")
    res = runner.invoke(
        app, ["evaluate", "--task", "pendulum", "--policy", str(path), "--episodes", "4", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["deterministic"]["mean_return"] < 0
    assert np.isfinite(out["stochastic"]["ci95"])


def test_evaluate_gymnasium_task():
    res = runner.invoke(
        app, ["evaluate", "--task", "gym:Pendulum-v1", "--episodes", "2", "--sigma", "0.5"]
    )
    assert res.exit_code == 0, res.output
    assert "stochastic" in res.output


@pytest.mark.parametrize(
    "args, field",
    [
        (["--task", "pendulm"], "task"),
        (["--sigma", "-1"], "sigma"),
        (["--sigma", "nan"], "sigma"),
        (["--kernel", "cauchy"], "kernel"),
        (["--episodes", "0"], "episodes"),
        (["--policy", "/no/such/file.npz"], "policy"),
        (["--task", "gym:CartPole-v1"], "task"),
    ],
)
def test_evaluate_bad_input(args, field):
    res = runner.invoke(app, ["evaluate", *args])
    assert res.exit_code == 2
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and field in lines[0]
    assert "Traceback" not in res.output


def test_wrong_shape_and_corrupt_policy_files(tmp_path):
    quad = tasks.make("planar_quadrotor")
    pol = make_policy(quad)
    path = save_policy(tmp_path / "quad.npz", pol, pol.init(jax.random.PRNGKey(0)))
    res = runner.invoke(app, ["evaluate", "--task", "pendulum", "--policy", str(path)])
    assert res.exit_code == 2 and "obs/action dims" in res.output
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    res = runner.invoke(app, ["evaluate", "--policy", str(bad)])
    assert res.exit_code == 2 and "cannot read" in res.output


def test_landscape_writes_dataset_figures_and_summary(tmp_path):
    """At the report test's sizes (grid 7, 2 samples): one compiled evaluator for both."""
    out = tmp_path / "land"
    res = runner.invoke(
        app,
        ["landscape", "--grid", "7", "--extent", "0.5", "--samples", "2", "--sigmas", "0,0.5",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("landscape.nc", "landscape.png", "spectra.nc", "spectra.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["grid_holder_alpha"]) == {"0.0", "0.5"}


@pytest.mark.parametrize(
    "args, field",
    [
        (["--dims", "3"], "dims"),
        (["--sigmas", "0,abc"], "sigmas"),
        (["--sigmas", "0,-1"], "sigmas"),
        (["--mode", "weights"], "mode"),
        (["--grid", "1"], "grid"),
        (["--task", "nope"], "task"),
    ],
)
def test_landscape_bad_input(args, field, tmp_path):
    res = runner.invoke(app, ["landscape", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and field in lines[0]
    assert not (tmp_path / "x").exists(), "nothing written on bad input"


def test_theory_commands_print_their_numbers(tmp_path):
    res = runner.invoke(app, ["theory", "heat", "--n-actions", "201", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    heat = json.loads((tmp_path / "heat.json").read_text())
    assert heat["residual_over_u_t"] < 0.02
    # heat's files are already there: a second command into the same directory needs --force
    res = runner.invoke(
        app, ["theory", "backward", "--n-actions", "201", "--out", str(tmp_path), "--force"]
    )
    assert res.exit_code == 0, res.output
    back = json.loads((tmp_path / "backward.json").read_text())
    assert back["max_rel_error_valid"] < 1e-6
    assert (tmp_path / "heat.png").exists() and (tmp_path / "backward.png").exists()
    res = runner.invoke(app, ["theory", "backward", "--delta", "0"])
    assert res.exit_code == 2 and "delta" in res.output


def test_roughness_reports_holder_per_sigma_and_lyapunov():
    res = runner.invoke(
        app, ["roughness", "--sigmas", "0,0.3", "--directions", "8", "--episodes", "4", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)  # strict JSON: no NaN or Infinity tokens
    assert set(out["holder"]) == {"0.0", "0.3"} and out["start"] == "fixed"
    raw, smoothed = out["holder"]["0.0"], out["holder"]["0.3"]
    assert raw["samples"] == 1 and raw["ci_low"] <= raw["alpha"] <= raw["ci_high"]
    # Four episodes hide J_0.3's small increments under the Monte-Carlo noise: only coarser radii
    # are resolved (the deterministic raw J is resolved from the smallest radius on).
    assert smoothed["noise_floor_rms"] > 0 and smoothed["samples"] == 4
    assert raw["smallest_resolved_relative"] == pytest.approx(1e-4)
    assert smoothed["smallest_resolved_relative"] > 10 * raw["smallest_resolved_relative"]
    assert np.isfinite(out["lyapunov"]) and out["predicted_holder"] <= 1.0
    res = runner.invoke(app, ["roughness", "--task", "gym:Pendulum-v1", "--sigmas", "x"])
    assert res.exit_code == 2 and "sigmas" in res.output


def test_train_writes_a_policy_every_instrument_loads(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--steps", "8192", "--seed", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("config.json", "metrics.csv", "timing.csv", "policy.npz", "learning_curve.png",
                 "summary.json", "checkpoint.npz"):  # fmt: skip
        assert (out / name).exists(), name
    res = runner.invoke(app, ["evaluate", "--policy", str(out / "policy.npz"), "--episodes", "2"])
    assert res.exit_code == 0, res.output
    # A finished run's directory is not overwritten without --resume or --force.
    res = runner.invoke(app, ["train", "--steps", "8192", "--seed", "1", "--out", str(out)])
    assert res.exit_code == 2 and "--resume" in res.output


@pytest.mark.parametrize(
    "args, field",
    [
        (["--algo", "sac"], "algo"),
        (["--kernel", "uniform"], "kernel"),
        (["--sigma", "-0.1"], "sigma"),
        (["--sigma-mode", "drift"], "sigma-mode"),
        (["--task", "gym:CartPole-v1"], "task"),
        (["--steps", "0"], "total-steps"),
    ],
)
def test_train_bad_input(args, field, tmp_path):
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and field in lines[0], lines
    assert not (tmp_path / "x").exists()
