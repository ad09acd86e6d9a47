"""`mollify bench --quick` runs and emits one well-formed JSON object with every field.

Never a timing assertion: speed is a ratio measured by `mollify bench`, not a unit test."""

import json

import pytest
from typer.testing import CliRunner

from mollify.cli import app

FIELDS = {
    "landscape_evaluation": {
        "work",
        "mollify_env_steps_per_s",
        "competitor",
        "competitor_env_steps_per_s",
        "ratio",
        "mollify_double_pendulum_env_steps_per_s",
        "mollify_planar_quadrotor_env_steps_per_s",
    },
    "landscape_workload": {
        "work",
        "seconds",
        "mollify_env_steps_per_s",
        "mollify_simulated_env_steps_per_s",
        "effective_gflops",
        "dense_matmul_peak_gflops",
        "fraction_of_peak",
        "competitor",
        "competitor_env_steps_per_s",
        "ratio",
    },
    "hopper": {
        "work",
        "mollify_closed_loop_env_steps_per_s",
        "mujoco_rollout_open_loop_env_steps_per_s",
        "ratio",
        "one_env_loop_env_steps_per_s",
        "ratio_vs_one_env_loop",
    },
    "locomotion": {
        "work",
        "env_steps",
        "mollify_env_steps_per_s",
        "competitor",
        "competitor_env_steps_per_s",
        "ratio",
    },
    "hopper_training": {
        "work",
        "mollify_env_steps_per_s",
        "env_steps_per_s_without_evaluation",
        "goal_env_steps_per_s",
        "ratio",
    },
    "training": {
        "work",
        "mollify_env_steps_per_s",
        "mollify_final_return",
        "competitor",
        "competitor_env_steps_per_s",
        "competitor_final_return",
        "ratio",
    },
    "time_to_return": {
        "work",
        "mollify_config",
        "mollify_runs",
        "mollify_seconds",
        "competitor",
        "competitor_seconds",
        "ratio",
    },
    "memory_and_end_to_end": {
        "landscape_seconds",
        "landscape_peak_rss_bytes",
        "reproduce_quick_seconds",
    },
}


@pytest.mark.long
def test_bench_emits_every_field(tmp_path):
    """At the smoke sizes (every comparison, tiny work): the fields `--quick` and the full bench
    emit are the same, only the sizes differ."""
    path = tmp_path / "bench.json"
    res = CliRunner().invoke(app, ["bench", "--smoke", "--json", str(path)])
    assert res.exit_code == 0, res.output
    out = json.loads(path.read_text())
    assert out["quick"] is True and out["smoke"] is True and out["machine"]["cpu_count"] >= 1
    for section, fields in FIELDS.items():
        assert fields <= set(out[section]), (section, fields - set(out[section]))
        if section == "memory_and_end_to_end":
            assert out[section]["landscape_peak_rss_bytes"] > 0
            continue
        if section == "time_to_return":  # 8 k steps reach no target: no seconds, no ratio
            runs = out[section]["mollify_runs"]
            assert len(runs) == 1 and runs[0]["seconds"] is None and out[section]["ratio"] is None
            continue
        if section == "landscape_workload":
            w = out[section]
            assert 0 < w["fraction_of_peak"] < 1 and w["dense_matmul_peak_gflops"] > 1
            # 12² points x (1 + 3 x 32) episodes x 200 steps simulated (128 requested)
            assert w["mollify_simulated_env_steps_per_s"] * w["seconds"] == pytest.approx(
                12**2 * 97 * 200
            )
        rate = out[section].get("mollify_env_steps_per_s") or out[section].get(
            "mollify_closed_loop_env_steps_per_s"
        )
        assert rate > 0
        ratio = out[section]["ratio"]
        assert ratio is None or ratio > 0  # None: the competitor is not installed (bench extra)
