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


def _matched(raw, smooth):
    """roughness.json's `matched` block: α(J_σ) and α(J) on the same radii (Δ's CI from the two)."""
    pair = {
        "radii_relative": [0.004, 0.007, 0.014, 0.025],
        "alpha_sigma": smooth["alpha"], "alpha_sigma_ci": [smooth["ci_low"], smooth["ci_high"]],
        "alpha_raw": raw["alpha"], "alpha_raw_ci": [raw["ci_low"], raw["ci_high"]],
        "difference": smooth["alpha"] - raw["alpha"],
        "difference_ci": [smooth["ci_low"] - raw["ci_high"], smooth["ci_high"] - raw["ci_low"]],
        "note": "",
    }  # fmt: skip
    low = {"delta_star_relative": 0.1, "delta_star_text": "0.1 [0.03, above range]"}
    return {"0.3": pair | {"below_delta_star": low | pair}}


def _roughness(raw, smooth, *, bound=0.03, nontrivial=True):
    return {
        "task": "double_pendulum",
        "start": "fixed",
        "command": "mollify roughness --task double_pendulum",
        "holder": {"0.0": raw, "0.3": smooth},
        "matched": _matched(raw, smooth),
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
    assert "α(J)" in moll[1] and moll[3] == "mollify roughness --task double_pendulum"
    assert "same scales" in moll[0]  # α(J_σ) and α(J) compared on the same radii


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
    assert "no interior σ significantly above both ends" in u_rows["double_pendulum"][1]
    assert u_rows["planar_quadrotor"][2] == "holds"
    (quad,) = [r for r in rows if "planar quadrotor" in r[0]]
    assert quad[2] == "contradicted" and "solved = return ≥ 225" in quad[1]


def test_inverted_u_can_be_contradicted_and_needs_three_seeds(tmp_path):
    _sweep(tmp_path / "a", "pendulum", {0.1: -900, 0.3: -500, 1: -300, 3: -140})
    _sweep(tmp_path / "b", "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614}, seeds=2)
    _sweep(tmp_path / "c", "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614}, seeds=1)
    verdicts = [r[2] for r in claims.claims(tmp_path) if r[0].startswith("A best σ exists")]
    assert verdicts == ["contradicted", "inconclusive", "inconclusive"]
    text = " ".join(r[1] for r in claims.claims(tmp_path / "b"))
    assert "fewer than 3 seeds at σ = 0.03, 0.3, 1, 10" in text
    assert "one seed: no interval" in claims.claims(tmp_path / "c")[0][1]


@pytest.mark.parametrize(
    ("means", "verdict"),
    [
        ({0.01: 40, 0.1: 60, 0.3: 80, 1: 20}, "holds"),  # every σ ≤ 0.3 fails
        ({0.01: 150, 0.1: 243, 0.3: 243, 1: 20}, "contradicted"),  # σ = 0.1 solves it
        ({0.01: 40, 0.1: 60, 0.3: 224, 1: 20}, "inconclusive"),  # 0.3 straddles 225
    ],
)
def test_quadrotor_rule_reads_confidence_intervals(tmp_path, means, verdict):
    _sweep(tmp_path, "planar_quadrotor", means, spread=3.0)
    (quad,) = [r for r in claims.claims(tmp_path) if "planar quadrotor" in r[0]]
    assert quad[2] == verdict


def test_checks_of_the_implementation_are_kept_apart(tmp_path):
    _write(
        tmp_path / "theory" / "heat.json",
        {"task": "pendulum", "residual_over_u_t": 0.0035, "t_range": [0.01, 4],
         "command": "mollify theory heat --task pendulum"},
    )  # fmt: skip
    _write(
        tmp_path / "theory" / "backward.json",
        {"task": "pendulum", "T": 0.04, "n_valid_frequencies": 15, "max_rel_error_valid": 0.2,
         "max_predicted_valid": 2e7, "cutoff_xi": 26},
    )  # fmt: skip
    _sweep(tmp_path, "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614})
    assert [r.verdict for r in claims.checks(tmp_path)] == [
        "passes",
        "fails",
    ]  # FFT error 20 % > 5 %
    assert all(r.kind == "test" for r in claims.tests(tmp_path))
    assert len(claims.claims(tmp_path)) == len(claims.tests(tmp_path))  # claims() = tests only
    md = claims.markdown(claims.rows(tmp_path))
    tests_at, checks_at = md.index("### Tests"), md.index("### Checks of the implementation")
    assert tests_at < md.index("A best σ exists") < checks_at < md.index("max\\|u_t")
    assert "| passes |" not in md[:checks_at] and "| holds |" not in md[checks_at:]


def test_report_puts_the_claims_first(tmp_path):
    _sweep(tmp_path, "pendulum", {0.03: -1090, 0.3: -185, 1: -149, 10: -1614})
    report.build(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.index("## The paper's claims, measured") < md.index("## Return against σ")
    assert (tmp_path / "claims.md").read_text().count("| holds |") == 1
    assert "## Checks of the implementation" not in md  # no identity rows in this directory


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
    assert row[2] == "contradicted" and "RPO − PPO = -144" in row[1] and "(Welch)" in row[1]
    report.build(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Final return per σ mode: hopper_stand (modes)" in md and "σ start 1" in md
