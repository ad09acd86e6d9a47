"""The σ advisor: its premise (PPO moves the mean by about kσ per update), its rule, its budget,
and its answer on the pendulum against the default study's best set."""

import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

import mollify
from mollify.cli import app
from mollify.study import advisor, advisor_validation
from mollify.training import common
from mollify.training.algorithm import resolve
from mollify.training.config import default_config
from mollify.training.dispatch import build, make_algorithm

runner = CliRunner()


def _move_per_sigma(sigma: float, updates: int = 3) -> float:
    """Median RMS change of the mean action per PPO update, over σ (pendulum, from init). One
    compiled update for every σ (σ an argument, as the driver does for a fixed-σ sweep)."""
    config = default_config("pendulum", "ppo", sigma=sigma, total_steps=4096 * updates)
    task = config.make_task()
    config = resolve(config, task)
    algo = make_algorithm(config, task)
    nets = common.make_networks(task, config)
    state = algo.init(jax.random.PRNGKey(0))
    obs = jax.vmap(lambda k: task.reset(k)[0])(jax.random.split(jax.random.PRNGKey(1), 256))
    step = _update_at_sigma(config)
    moves = []
    for i in range(updates):
        before = nets.actor.apply(algo.theta(state), obs)
        state, _ = step(state, i, np.float32(sigma))
        after = nets.actor.apply(algo.theta(state), obs)
        rms = float(np.sqrt(np.mean(((after - before) / task.action_half_range) ** 2)))
        moves.append(rms / sigma)
    return float(np.median(moves))


_UPDATES: dict = {}


def _update_at_sigma(config):
    """jit((state, i, σ) -> one PPO update at σ), shared by configs that differ only in σ."""
    name = repr(dataclasses.replace(config, sigma=1.0))
    if name not in _UPDATES:
        task = config.make_task()

        def update(state, i, sigma):
            return build(dataclasses.replace(config, sigma=sigma), task).step(state, i)

        _UPDATES[name] = jax.jit(update)
    return _UPDATES[name]


def test_ppo_moves_the_mean_about_k_sigma_per_update():
    """The reach bound's premise: the clipped ratio limits the mean's move per update to about a
    constant times σ. Measured over a 30× range of σ; without the clip's σ-scaling the ratio
    would change by 30×."""
    k_small, k_large = _move_per_sigma(0.03), _move_per_sigma(1.0)
    assert 0.02 < k_small < 0.2 and 0.02 < k_large < 0.2, (k_small, k_large)
    assert 0.5 < k_small / k_large < 2.0, (k_small, k_large)


def test_decide_takes_the_log_midpoint_and_reports_conflicts():
    ev = {"reach": {"sigma": 0.1}, "smooth": {"sigma": 0.01}, "erase": {"sigma": 1.0}}
    sigma, low, high, rule = advisor._decide(ev)
    assert (low, high) == (0.1, 1.0) and sigma == pytest.approx(math.sqrt(0.1))
    assert "√(low · high)" in rule
    ev["erase"]["sigma"] = 0.05  # reaching needs more σ than the good region survives
    sigma, low, high, rule = advisor._decide(ev)
    assert sigma == 0.05 and (low, high) == (0.05, 0.1) and "conflict" in rule
    ev = {"reach": {"sigma": None}, "smooth": {"sigma": None}}
    ev["erase"] = {"sigma": None, "survived": True}
    sigma, low, high, rule = advisor._decide(ev)
    assert (low, high) == (advisor.SIGMA_MIN, advisor.SIGMA_MAX)
    assert "neither measured" in rule and "survived every σ" in rule
    ev["erase"] = {"sigma": None, "reason": "budget"}
    assert "not measured: budget" in advisor._decide(ev)[3]


@pytest.fixture(scope="module")
def pendulum_advice():
    return mollify.advise("pendulum", seed=0)


STUDY_SWEEP = Path(__file__).resolve().parents[1] / "docs" / "study" / "sigma_sweep"


def test_pendulum_advice_lies_in_the_default_studys_best_set(pendulum_advice):
    """The advice's nearest grid σ is in the best set of the default study's pendulum sweep
    (docs/study/sigma_sweep: 6 σ × 3 seeds × 300 k, the best σ and every σ not significantly
    below it, stats.sigma_curve), within 10 % of that sweep's env steps, every bound measured,
    the interval around the recommendation."""
    from mollify.study import stats
    from mollify.study.sweep import read_summary

    a = pendulum_advice
    rows = [r for r in read_summary(STUDY_SWEEP / "summary.csv") if r["task"] == "pendulum"]
    curve = stats.sigma_curve(rows)
    best_set = {curve["best_sigma"], *curve["indistinguishable_from_best"]}
    grid = [p["sigma"] for p in curve["points"]]
    assert advisor_validation.nearest_grid(a.sigma, grid) in best_set, (a.sigma, best_set)
    assert len(best_set) < len(grid)  # the sweep tells σ apart: the check can fail
    assert a.low < a.sigma < a.high
    assert a.env_steps <= a.budget <= 0.1 * 18 * 300_000
    ev = a.evidence
    assert ev["pilot"]["trained"] and ev["pilot"]["curve"][-1] > -400  # the pilot swings up
    assert ev["reach"]["sigma"] == pytest.approx(a.low)
    assert ev["erase"]["sigma"] == pytest.approx(a.high)
    assert 0.02 < ev["reach"]["move_per_update_per_sigma"] < 0.2
    kept = ev["erase"]["kept"]
    assert kept[0] == 1.0 and kept[-1] < 0.5  # σ = 3 erases the swing-up


@pytest.mark.slow
def test_double_pendulum_advice_lies_in_the_default_studys_best_set():
    a = mollify.advise("double_pendulum", seed=0)
    assert 0.1 <= a.sigma <= 0.3, a.rule
    assert a.env_steps <= 0.1 * 18 * 400_000


def test_budget_is_never_exceeded_same_seed_same_advice_skipped_probes_say_why():
    a = mollify.advise("pendulum", budget=60_000, train_steps=40_000)
    again = mollify.advise("pendulum", budget=60_000, train_steps=40_000)
    assert again.to_dict() | {"seconds": 0} == a.to_dict() | {"seconds": 0}
    assert a.env_steps <= 60_000
    assert a.evidence["pilot"]["trained"]
    skipped = [k for k in ("erase", "smooth") if a.evidence[k]["sigma"] is None]
    assert skipped, a.evidence
    for k in skipped:
        assert "budget" in a.evidence[k]["reason"]
    assert a.low <= a.sigma <= a.high


def test_cli_advise_json_on_a_gym_task(tmp_path):
    """gym: tasks train like the built-in ones: the pilot runs PPO on Gymnasium's vector env, and
    the JSON holds numbers or says which bounds are missing and why."""
    res = runner.invoke(
        app,
        ["advise", "--task", "gym:Pendulum-v1", "--budget", "60000", "--train-steps", "20000",
         "--json", "--out", str(tmp_path / "a")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("sigma", "low", "high", "env_steps"):
        assert isinstance(out[key], int | float), key
    assert 0 < out["env_steps"] <= 60_000
    assert "Infinity" not in res.stdout and "NaN" not in res.stdout
    pilot = out["evidence"]["pilot"]
    assert pilot["trained"] is True and pilot["updates"] >= 1
    reach = out["evidence"]["reach"]
    assert reach["sigma"] is not None or reach["reason"]
    assert json.loads((tmp_path / "a" / "advice.json").read_text())["sigma"] == out["sigma"]


def test_validation_scores_against_the_nearest_grid_sigma():
    grid = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    assert advisor_validation.nearest_grid(0.5, grid) == 0.3
    assert advisor_validation.nearest_grid(0.6, grid) == 1.0
    assert advisor_validation.in_set(0.25, grid, [0.1, 0.3]) is True
    assert advisor_validation.in_set(0.6, grid, [0.1, 0.3]) is False
    assert advisor_validation.in_set(None, grid, [0.1]) is None


def test_report_shows_the_validation_table(tmp_path):
    from mollify.study import report

    row = {
        "row": "pendulum_weak", "task": "pendulum", "params": {"max_torque": 1.0},
        "train_steps": 300_000, "sweep_env_steps": 5_400_000,
        "grid": [0.1, 0.3, 1.0], "means": [-900.0, -240.0, -230.0], "best_sigma": 1.0,
        "good_set": [1.0], "flat": False, "advice_other_seeds": [0.5, 0.9],
        "advice": {"sigma": 0.8, "low": 0.1, "high": 1.5, "env_steps": 400_000, "rule": "r",
                   "fraction_of_sweep": 0.074, "return_at_nearest_grid": -230.0,
                   "regret_fraction": 0.0},
        "advice_half": {"sigma": 0.4, "low": 0.1, "high": 1.5, "env_steps": 200_000,
                        "fraction_of_sweep": 0.037},
        "learned_sigma": None, "learned_sigmas": [], "command": "mollify.advise(...)",
        "hit": {"advice": True, "advice_seeds": [True, False, True], "advice_half": False,
                "sigma_1": True, "learned": None},
    }  # fmt: skip
    advisor_validation.write([row], tmp_path / "advice", command="mollify reproduce")
    _, md_path = report.build(tmp_path)
    md = md_path.read_text()
    assert "The σ advisor against the PPO σ sweep" in md
    assert "| pendulum (max_torque 1) | 1 | none | 0.8 [0.1, 1.5] | ✓ | -230 (0 %) |" in md
    assert "on 1 of 1 rows" in md and "advisor seeds 0–2: 2 of 3" in md
    assert "nan" not in md
    # A sweep that cannot tell σ apart (the old hopper row) is "not measured", never a hit.
    flat = row | {"row": "hopper_stand", "task": "hopper_stand", "params": {}, "flat": True,
                  "good_set": [0.1, 0.3, 1.0], "sample": "in", "not_measured": "flat",
                  "hit": {"advice": None, "advice_seeds": [None, None, None],
                          "advice_half": None, "sigma_1": None, "learned": None}}  # fmt: skip
    out = row | {"row": "pendulum_heavy", "params": {"m": 1.3}, "sample": "out"}
    summary = advisor_validation.summarize([row, flat, out])
    assert summary["advice"] == {"hits": 2, "rows": 2}
    assert summary["advice_out_of_sample"] == {"hits": 1, "rows": 1}
    cells = advisor_validation.table([flat, out])
    assert cells[0][4] == "not measured" and cells[1][0].endswith("[out of sample]")
