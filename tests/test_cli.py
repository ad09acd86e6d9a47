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
