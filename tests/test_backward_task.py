"""Backward heat as a test on task data: closed form, real slices, the rule saying no, strict JSON."""

import json
import math

import numpy as np
import pytest

from mollify import tasks
from mollify.core.policies import policy_from_spec
from mollify.instruments import backward_task as bt
from mollify.instruments import heat
from mollify.study.verdicts import CONTRADICTED, HOLDS
from mollify.study.verdicts import backward as verdicts

# Small enough for a 2-core machine: 289 slice points, 16 draws, one σ₁.
SMALL = {"sigma0": 0.02, "sigma1s": (0.04,), "draws": 16, "taper": 6.0, "action_sigmas": ()}
SMALL |= {"bootstrap": 100}


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_closed_form_error_follows_the_amplified_noise():
    """A smooth function with an exact Gaussian smoothing, plus independent noise per half."""
    cfg = bt.BackwardTaskConfig(sigma0=0.02, sigma1s=(0.05,), taper=6.0)
    alpha = cfg.alpha
    rng = np.random.default_rng(3)
    k = rng.uniform(1, 300, 400)
    amp = 50 * k**-1.0 * rng.standard_normal(400)
    phase = rng.uniform(0, 2 * np.pi, 400)

    def smoothed(s):  # E sin(k(α + σz)) = e^{−σ²k²/2} sin(kα)
        return (amp * np.exp(-0.5 * (s * k) ** 2) * np.sin(np.outer(alpha, k) + phase)).sum(1)

    halves0 = smoothed(0.02) + 0.3 * rng.standard_normal((2, alpha.size))
    halves1 = smoothed(0.05) + 0.3 * rng.standard_normal((2, alpha.size))
    dt = 0.05**2 - 0.02**2
    rec, _ = bt.analyse_pair(alpha, halves0, halves1, dt, taper_width=cfg.taper_width)
    lo, hi = rec["slope_ci"]
    assert lo <= dt <= hi and lo > 0
    assert rec["dt_fit_ci"][0] <= dt <= rec["dt_fit_ci"][1]
    assert abs(rec["excess_z"]) < 4 and 0.5 < rec["level"] < 2
    assert 1 / 1.5 < rec["cutoff_ratio"] < 1.5
    # Compared without the taper correction, the taper's own bias shows where the signal is big.
    assert rec["uncorrected_excess_ratio"] > rec["excess_ratio"]
    assert verdicts.pair_verdict(rec | {"dt": dt})[0] == HOLDS
    wrong, _ = bt.analyse_pair(alpha, halves0, halves1, 4 * dt, taper_width=cfg.taper_width)
    assert verdicts.pair_verdict(wrong)[0] == CONTRADICTED


@pytest.fixture(scope="module")
def pendulum_slice():
    task = tasks.make("pendulum")
    policy, theta = policy_from_spec(task, "init", 0)
    cfg = bt.BackwardTaskConfig(**SMALL)
    return task, policy, theta, cfg, bt.measure(task, policy, theta, cfg)


def test_real_slice_holds_with_the_true_dt_and_is_contradicted_with_a_wrong_one(pendulum_slice):
    *_, cfg, data = pendulum_slice
    right = bt.analyse(data, cfg)
    (pair,) = right["param"]["pairs"]
    assert verdicts.task_verdict(right) == HOLDS, verdicts.pair_verdict(pair)
    # The same data, run back by 4 Δt: the recovered J̃_σ₀ is far off where it is resolved.
    wrong = bt.analyse(data, cfg, dt_scale=4.0)
    assert verdicts.task_verdict(wrong) == CONTRADICTED
    row = verdicts.task_row(wrong)
    assert row.kind == "test" and row.verdict == CONTRADICTED


def test_same_seed_same_numbers(pendulum_slice):
    task, policy, theta, cfg, data = pendulum_slice
    again = bt.measure(task, policy, theta, cfg)
    for sigma, halves in data.param.items():
        np.testing.assert_array_equal(halves, again.param[sigma])
    a, b = bt.analyse(data, cfg), bt.analyse(again, cfg)
    a.pop("_arrays"), b.pop("_arrays")
    assert json.dumps(a, default=str) == json.dumps(b, default=str)


def test_files_are_strict_json(pendulum_slice, tmp_path):
    task, _, _, cfg, data = pendulum_slice
    path = bt.write_record(task, data, cfg, tmp_path, command="test")
    record = _strict(path.read_text())
    assert record["param"]["pairs"][0]["dt"] == pytest.approx(0.04**2 - 0.02**2)
    assert (tmp_path / "backward_task.png").exists()
    assert verdicts.task_row(record).verdict in (HOLDS, CONTRADICTED, "inconclusive")
    # backward.json: a grid too coarse to lose anything has no cut-off: null plus the reason.
    profile = heat.QProfile(
        np.linspace(-2, 2, 64), np.sin(np.linspace(-2, 2, 64)), np.zeros(1), 0, -2.0, 2.0
    )
    _, summary = heat.backward_experiment(profile, sigma=1e-3, delta=1e-12)
    assert not math.isfinite(summary["cutoff_xi"]) and "cutoff_xi" in summary["notes"]
    from mollify.util.io import atomic_write_json

    back = _strict(atomic_write_json(tmp_path / "backward.json", summary).read_text())
    assert back["cutoff_xi"] is None and back["notes"]["cutoff_xi"]


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match=r"^sigma1s"):
        bt.BackwardTaskConfig(sigma0=0.05, sigma1s=(0.04,)).validate()
    with pytest.raises(ValueError, match=r"^draws"):
        bt.BackwardTaskConfig(draws=7).validate()
    with pytest.raises(ValueError, match=r"^action-sigmas"):
        bt.BackwardTaskConfig(action_sigmas=(0.1,)).validate()
