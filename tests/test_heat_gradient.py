"""Issue 25, item 2: the heat-equation claim as a test. The score-function policy gradient and
∂u/∂μ of the heat solution built from a Q table agree at t = σ², and the same data built at a wrong
time is rejected."""

import json
import math

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from mollify import make_policy, tasks
from mollify.cli import app
from mollify.instruments import heat, heat_gradient
from mollify.study.verdicts import CHECK, CONTRADICTED, HOLDS, PASSES, TEST
from mollify.study.verdicts import heat as heat_verdicts

runner = CliRunner()
# Small sizes that still separate t = σ² from 9σ² on the pendulum (σ ≥ 0.5, where 3σ clips hard).
SMALL = dict(n_states=3, sigmas=(0.5, 1.0), samples=2048, continuations=32, grid=21)
SMALL |= dict(ascent_steps=2, ascent_samples=128)
TINY = dict(n_states=1, sigmas=(1.0,), samples=64, continuations=8, grid=16)
TINY |= dict(ascent_steps=1, ascent_samples=32, bootstrap=100)


@pytest.fixture(scope="module")
def pendulum():
    task = tasks.make("pendulum")
    policy = make_policy(task)
    return task, policy, np.asarray(policy.init(jax.random.PRNGKey(0)))


def test_weights_are_heat_from_table():
    rng = np.random.default_rng(0)
    actions = np.linspace(-2, 2, 41)
    q = rng.standard_normal(41).cumsum()
    profile = heat.QProfile(actions, q, np.zeros(1), 0, -2.0, 2.0)
    mu = np.linspace(-3, 3, 13)
    for t in (0.01, 0.3, 4.0):
        expected = heat.heat_from_table(profile, mu, np.array([t]))[0]
        got = heat_gradient.heat_weights(actions, -2.0, 2.0, mu, t) @ q
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_closed_form_estimators_agree_and_see_the_time():
    """Q(a) = −(a − c)²: ∂u/∂μ = −2(μ − c) at every t. Q(a) = sin(ka): ∂u/∂μ = k e^{−k²t/2}
    cos(kμ), so the heat side at 9t must disagree with the score function."""
    rng = np.random.default_rng(1)
    mu, sigma, c, k = 0.3, 0.5, 0.5, 2.0
    grid = np.linspace(-10, 10, 401)
    for q, exact in (
        (lambda a: -((a - c) ** 2), lambda t: -2 * (mu - c)),
        (lambda a: np.sin(k * a), lambda t: k * math.exp(-(k**2) * t / 2) * math.cos(k * mu)),
    ):
        a = mu + sigma * rng.standard_normal(40_000)
        g_a, se_a = heat_gradient.score_gradient(a, q(a) + rng.standard_normal(a.size), mu, sigma)
        # 64 continuation columns: a common offset per column (common random numbers) plus noise
        table = (
            q(grid)[:, None] + rng.standard_normal(64)[None] + 0.1 * rng.standard_normal((401, 64))
        )
        b = heat_gradient.heat_gradient(grid, table, -10.0, 10.0, mu, sigma**2)
        assert b["g"] == pytest.approx(exact(sigma**2), abs=4 * b["se"] + 1e-6)
        assert b["ci"][0] < b["g"] < b["ci"][1]
        assert abs(g_a - exact(sigma**2)) < 4 * se_a
        assert abs(g_a - b["g"]) / math.hypot(se_a, b["se"]) < 4
    wrong = heat_gradient.heat_gradient(grid, table, -10.0, 10.0, mu, 9 * sigma**2)
    assert abs(g_a - wrong["g"]) / math.hypot(se_a, wrong["se"]) > 10


def test_pendulum_holds_at_sigma_squared_and_is_contradicted_at_nine_sigma_squared(pendulum):
    data = heat_gradient.gradient_experiment(*pendulum, **SMALL)
    right = heat_gradient.summarize(data)
    verdict, text = heat_verdicts.gradient_verdict(right)
    assert verdict == HOLDS, text
    assert right["combined"]["resolved_B"] == 6 and right["combined"]["sign_disagreements"] == 0
    # The same rollouts, u built at the wrong time: the rule must reject it.
    wrong = heat_gradient.summarize(data, time_factor=9.0)
    verdict, text = heat_verdicts.gradient_verdict(wrong)
    assert verdict == CONTRADICTED, text
    assert wrong["combined"]["p_value"] < 0.001


def test_same_seed_same_numbers_and_strict_json(pendulum, tmp_path):
    paths = [
        heat_gradient.run_gradient(*pendulum, tmp_path / d, command="x", figure=d == "a", **TINY)
        for d in ("a", "b")
    ]
    a, b = (json.loads(p.read_text()) for p in paths)
    for x in (a, b):
        x.pop("seconds")
    assert a == b
    assert (tmp_path / "a" / "gradient.png").exists()
    text = paths[0].read_text()
    assert "NaN" not in text and "Infinity" not in text
    pair = a["pairs"][0]
    assert {"g_A", "se_A", "g_B", "se_B", "ci_B", "z", "ratio", "ascent"} <= set(pair)
    assert len(pair["ascent"]["mu_A"]) == 2 and a["combined"]["n_pairs"] == 1
    other = heat_gradient.summarize(
        heat_gradient.gradient_experiment(*pendulum, **TINY | {"seed": 1})
    )
    assert other["pairs"][0]["g_A"] != pair["g_A"]


def test_verdict_rows_test_and_negative_control(pendulum, tmp_path):
    base = {"task": "pendulum", "time_factor": 1.0, "command": "mollify theory gradient"}
    ascent = {"delta_u_A": 0.5}
    good = dict(g_A=1.0, se_A=0.1, g_B=1.05, se_B=0.05, z=-0.45, ratio=0.95, sigma=0.3,
                resolved_A=True, resolved_B=True, ascent=ascent)  # fmt: skip
    flipped = good | {"g_A": -1.0, "z": -18.0}
    for name, pairs, factor in (("t1", [good] * 4, 1.0), ("t9", [good, flipped], 9.0)):
        (tmp_path / name).mkdir()
        summary = base | {"time_factor": factor, "pairs": pairs}
        (tmp_path / name / "gradient.json").write_text(json.dumps(summary))
    rows = heat_verdicts.rows(tmp_path)
    assert [(r.kind, r.verdict) for r in rows] == [(TEST, HOLDS), (CHECK, PASSES)]
    sign_only = base | {"pairs": [good, flipped | {"z": -2.0}]}  # p not small, a sign flips
    assert heat_verdicts.gradient_verdict(sign_only)[0] == CONTRADICTED


@pytest.mark.parametrize(
    "args, field",
    [
        (["--task", "hopper_stand"], "task:"),
        (["--sigmas", "0.01"], "grid:"),
        (["--sigmas", "0.3,0.1"], "sigmas:"),
        (["--sigmas", "x"], "sigmas:"),
        (["--samples", "1"], "samples:"),
        (["--action-index", "3"], "action-index:"),
        (["--time-factor", "0"], "time-factor:"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, field, tmp_path):
    res = runner.invoke(app, ["theory", "gradient", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, (res.output, res.exception)
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), res.output
    assert not (tmp_path / "o").exists()
