"""The claims table: each verdict rule on hand-made evidence that must hold, contradict, or leave
the claim open; rows appear only for evidence that exists; the report puts the table first."""

import csv
import json

import pytest

from mollify.study import claims, report


def _write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _holder(alpha, lo, hi):
    return {"alpha": alpha, "ci_low": lo, "ci_high": hi}


def _roughness(raw, smooth, *, bound=0.03, nontrivial=True):
    return {
        "task": "double_pendulum",
        "start": "fixed",
        "command": "mollify roughness --task double_pendulum",
        "holder": {"0.0": raw, "0.3": smooth},
        "lyapunov": 0.36,
        "gamma": 0.99,
        "predicted_holder": bound,
        "predicted_nontrivial": nontrivial,
    }


def _verdicts(root):
    return {row[0].split(":")[0]: row[2] for row in claims.claims(root)}


@pytest.mark.parametrize(
    ("raw", "smooth", "verdict"),
    [
        (_holder(0.1, -0.2, 0.4), _holder(0.98, 0.8, 1.1), "holds"),
        (_holder(0.1, -0.2, 0.4), _holder(0.3, 0.1, 0.5), "inconclusive"),
        (_holder(0.9, 0.8, 1.0), _holder(0.2, 0.1, 0.3), "contradicted"),
    ],
)
def test_mollification_verdict_compares_the_confidence_intervals(tmp_path, raw, smooth, verdict):
    _write(tmp_path / "roughness" / "roughness.json", _roughness(raw, smooth))
    rows = claims.claims(tmp_path)
    (moll,) = [r for r in rows if r[0].startswith("A Gaussian policy mollifies")]
    assert moll[2] == verdict
    assert "α(σ=0)" in moll[1] and moll[3] == "mollify roughness --task double_pendulum"


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [
        (_holder(0.2, 0.1, 0.35), "holds"),  # the whole CI clears the bound 0.03
        (_holder(0.1, -0.09, 0.35), "inconclusive"),  # straddles it: no longer "holds"
        (_holder(0.01, -0.05, 0.02), "contradicted"),  # wholly below
    ],
)
def test_holder_bound_is_three_way(tmp_path, raw, verdict):
    _write(tmp_path / "a" / "roughness.json", _roughness(raw, _holder(0.98, 0.8, 1.1), bound=0.03))
    (row,) = [r for r in claims.claims(tmp_path) if r[0].startswith("Chaotic closed loops")]
    assert row[2] == verdict


def _sweep(tmp_path, task, means, seeds=3, spread=1.0):
    from mollify.study import stats

    rows = [
        {"task": task, "algo": "ppo", "kernel": "gaussian", "sigma_mode": "fixed", "sigma": s,
         "seed": k, "final_deterministic": m + spread * (k - 1), "final_stochastic": m}
        for s, m in means.items() for k in range(seeds)
    ]  # fmt: skip
    folder = tmp_path / f"sweep_{task}"
    _write(folder / "stats.json", stats.analyse(rows))
    with (folder / "summary.csv").open("w", newline="") as fh:
        fields = [*rows[0], "auc_deterministic", "wall_time", "env_steps"]
        writer = csv.DictWriter(fh, fields, restval=1)
        writer.writeheader()
        writer.writerows(rows)
    _write(folder / "sweep.json", {"command": f"mollify sweep --tasks {task}"})


def test_inverted_u_and_the_quadrotor_contradiction(tmp_path):
    _sweep(tmp_path, "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614})
    _sweep(tmp_path, "double_pendulum", {0.01: -2600, 0.3: -290, 3: -300}, spread=200)
    _sweep(tmp_path, "planar_quadrotor", {0.01: 233, 0.3: 243, 1: 27.7, 3: 23.6})
    rows = claims.claims(tmp_path)
    u_rows = {r[1].split()[0]: r for r in rows if r[0].startswith("A best σ exists")}
    assert u_rows["pendulum"][2] == "holds" and "best σ = 1" in u_rows["pendulum"][1]
    assert u_rows["double_pendulum"][2] == "inconclusive"  # σ = 3 not significantly worse
    assert u_rows["planar_quadrotor"][2] == "holds"
    (quad,) = [r for r in rows if "planar quadrotor" in r[0]]
    assert quad[2] == "contradicted" and "collapse at σ ≥ 1" in quad[1]


def test_theory_rows_and_report_order(tmp_path):
    _write(
        tmp_path / "theory" / "heat.json",
        {"task": "pendulum", "residual_over_u_t": 0.0035, "t_range": [0.01, 4],
         "monte_carlo_check": [{"u_table": -632.5, "u_monte_carlo": -632.51, "mc_stderr": 0.01}],
         "command": "mollify theory heat --task pendulum"},
    )  # fmt: skip
    _write(
        tmp_path / "theory" / "backward.json",
        {"task": "pendulum", "T": 0.04, "n_valid_frequencies": 15, "max_rel_error_valid": 0.2,
         "max_predicted_valid": 2e7, "cutoff_xi": 26},
    )  # fmt: skip
    verdicts = _verdicts(tmp_path)
    assert verdicts["Policy gradient at fixed σ ascends a heat-equation solution u(μ, t), t = σ²"]
    rows = claims.claims(tmp_path)
    assert [r[2] for r in rows] == ["holds", "contradicted"]  # backward error 20 % > 5 %
    md = claims.markdown(rows)
    assert "max\\|u_t" in md  # a literal | is escaped inside a markdown cell


def test_uncertainty_row_says_why_when_nothing_is_erased(tmp_path):
    base = {"task": "pendulum", "J_star": -150.0, "J_background": -900.0, "width_w": 0.5}
    _write(
        tmp_path / "u1" / "uncertainty.json",
        base | {"erasure_sigma_param": 0.4, "erasure_over_width": 0.8, "erasure_sigma_action": 1.2},
    )
    note = {"erasure_sigma_param": "keeps more than 50% of its advantage up to σ = 1"}
    _write(
        tmp_path / "u2" / "uncertainty.json",
        base | {"erasure_sigma_param": None, "erasure_notes": note},
    )
    _write(tmp_path / "u3" / "uncertainty.json", base | {"J_star": -950.0})
    rows = claims.claims(tmp_path)
    assert [r[2] for r in rows] == ["holds", "inconclusive", "inconclusive"]
    assert "σ/w = 0.8" in rows[0][1] and "keeps more than 50%" in rows[1][1]
    assert "not better than its surroundings" in rows[2][1]
    assert "nan" not in json.dumps(rows) and "inf" not in json.dumps(rows)


def test_report_puts_the_claims_first(tmp_path):
    _sweep(tmp_path, "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614})
    report.build(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.index("## The paper's claims, measured") < md.index("## Return against σ")
    assert (tmp_path / "claims.md").read_text().count("| holds |") == 1


def test_rpo_contrast_compares_the_two_modes_at_the_same_start(tmp_path):
    rows = [
        {"task": "hopper_stand", "algo": "ppo", "kernel": "gaussian", "sigma_mode": mode,
         "sigma": 1.0, "seed": k, "final_deterministic": value + k, "final_stochastic": value,
         "auc_deterministic": value, "env_steps": 2_000_000, "wall_time": 100.0}
        for mode, value in (("learned", 150.0), ("rpo", 6.0)) for k in range(3)
    ]  # fmt: skip
    folder = tmp_path / "hopper" / "modes"
    folder.mkdir(parents=True)
    with (folder / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "stats.json").write_text("{}")  # a sweep with one σ per mode has no σ curve
    (row,) = claims.claims(tmp_path)
    assert row[2] == "contradicted" and "RPO − PPO = -144" in row[1]
    report.build(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Final return per σ mode: hopper_stand (modes)" in md and "σ start 1" in md
