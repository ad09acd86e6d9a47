"""The uncertainty principle across optima: the fit, the ideal constants, a tiny end-to-end run,
and the verdict rule."""

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from mollify.study import sweep
from mollify.study import uncertainty_scaling as us
from mollify.study.verdicts import CONTRADICTED, HOLDS, INCONCLUSIVE, TEST
from mollify.study.verdicts import uncertainty as verdict


def _points(slope: float, n: int = 12, noise: float = 0.1, seed: int = 1):
    rng = np.random.default_rng(seed)
    w = np.exp(rng.uniform(-2.0, 1.0, n))
    return w, 1.5 * w**slope * np.exp(noise * rng.standard_normal(n))


def test_fit_recovers_a_known_slope_and_a_null_does_not_hold():
    w, s = _points(0.7)
    fit = us.fit_scaling(w, s, seed=3)
    lo, hi = fit["slope_ci"]
    assert fit["slope"] == pytest.approx(0.7, abs=0.1) and lo < 0.7 < hi and hi < 1
    assert fit["n"] == 12 and fit["w_ratio"] == pytest.approx(w.max() / w.min())
    assert us.fit_scaling(w, s, seed=3) == fit  # same seed, same numbers
    assert verdict.scaling_verdict(fit)[0] == CONTRADICTED  # σ ∝ w^0.7 is not σ ∝ w
    assert verdict.scaling_verdict(us.fit_scaling(*_points(1.0), seed=3))[0] == HOLDS
    rng = np.random.default_rng(7)
    for trial in range(5):  # no relation at all: never "holds"
        null = np.exp(rng.standard_normal(w.size))
        assert verdict.scaling_verdict(us.fit_scaling(w, null, seed=trial))[0] != HOLDS
    assert us.fit_scaling(w[:2], s[:2])["slope"] is None  # too few for a slope
    # Two tasks with σ_e ∝ w inside each, the wider-w task far less noise-tolerant: one intercept
    # for both reads a falling line, one per task the slope of 1 inside each.
    w2, s2 = _points(1.0, n=6, seed=2)
    both = us.fit_scaling(np.r_[w2, 5 * w2], np.r_[s2, 0.05 * s2], ["a"] * 6 + ["b"] * 6, seed=3)
    assert both["slope"] == pytest.approx(1.0, abs=0.15) and both["pooled_slope"] < 0
    assert both["n_groups"] == 2 and set(both["intercepts"]) == {"a", "b"}
    assert both["w_ratio"] == pytest.approx(w2.max() / w2.min())  # the spread inside one task
    with pytest.raises(ValueError, match=r"^w:"):
        us.fit_scaling([1.0, -1.0, 2.0], [1.0, 1.0, 1.0])


def _expected_keep(g, c: float) -> float:
    """E g(c|z|), z ~ N(0, 1), by direct quadrature (independent of the closed forms)."""
    z = np.linspace(0.0, 14.0, 400_001)
    return float(np.trapezoid(2 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * g(c * z), z))


@pytest.mark.parametrize("drop", [0.5, 0.3])
def test_ideal_profile_constants_match_closed_forms_and_quadrature(drop):
    p = us.ideal_constants(drop)["profiles"]
    keep, k = 1 - drop, -math.log(1 - drop)
    assert p["step"]["sigma_over_w"] == pytest.approx(1 / NormalDist().inv_cdf(1 - drop / 2))
    assert p["gaussian"]["sigma_over_w"] == pytest.approx(
        math.sqrt((keep**-2 - 1) / (2 * k)), rel=1e-12
    )
    shapes = {
        "step": lambda r: (r < 1).astype(float),
        "linear": lambda r: np.maximum(0.0, 1 - drop * r),
        "gaussian": lambda r: np.exp(-k * r * r),
        "exponential": lambda r: np.exp(-k * r),
    }
    for name, g in shapes.items():
        if name != "step":  # w = 1: the profile has lost `drop` there
            assert g(np.array([1.0]))[0] == pytest.approx(keep)
        assert _expected_keep(g, p[name]["sigma_over_w"]) == pytest.approx(keep, abs=2e-5), name
    if drop == 0.5:  # the numbers the CHECK row quotes
        got = [
            round(p[n]["sigma_over_w"], 2) for n in ("linear", "gaussian", "step", "exponential")
        ]
        assert got == [1.36, 1.47, 1.48, 1.57]
    with pytest.raises(ValueError, match=r"^drop:"):
        us.ideal_constants(1.0)


@pytest.mark.slow  # ≈ 40 s of CPU; the default suite runs it through reproduce --smoke
def test_run_scaling_end_to_end_on_a_tiny_sweep(tmp_path):
    """A real (barely trained) sweep, every candidate forced through the instrument: the JSON is
    strict and the claims table gets its TEST row."""
    # test_sweep_report's tiny sweep (its PPO program comes from the suite's compilation cache)
    options = {"eval_episodes": 4, "eval_every": 1}
    spec = sweep.make_spec(
        tasks=["pendulum"], sigmas=[0.3, 1.0], seeds=1, steps=8192, options=options
    )
    sweep.run_sweep(spec, tmp_path / "sweep")
    with pytest.raises(ValueError, match=r"^sources:"):
        us.find_candidates([(tmp_path / "sweep", {"horizon": 41})])  # not how it was trained
    with pytest.raises(ValueError, match=r"^episodes:"):
        us.run_scaling([tmp_path / "sweep"], tmp_path / "x", episodes=1)
    sizes = {"directions": 2, "samples": 2, "episodes": 2}
    sizes |= {"param_sigmas": (0.3, 1.0), "action_sigmas": (0.3, 1.0), "n_boot": 50}
    path = us.run_scaling(
        [(tmp_path / "sweep", {})],
        tmp_path / "out",
        min_gain=0.0,
        min_se=-math.inf,
        **sizes,
    )
    text = path.read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert (tmp_path / "out" / "uncertainty_scaling.png").stat().st_size > 0
    assert [c["train_sigma"] for c in doc["candidates"]] == [0.3, 1.0]
    assert len(doc["optima"]) == 2 and doc["optima"][0]["label"] == "pendulum"
    assert doc["test_erasure"] == "action" and set(doc["fits"]) == {"action", "param"}
    assert doc["options"]["min_se"] is None  # -inf is written as null, not -Infinity
    (row,) = [r for r in verdict.rows(tmp_path) if r.kind == TEST]
    assert row.verdict == INCONCLUSIVE  # at most 2 optima: the rule needs 5


def _doc(n=8, slope=1.0, lo=0.6, hi=1.4, w_ratio=4.0, censored=0):
    fit = {"n": n, "w_min": 0.2, "w_max": 0.2 * w_ratio, "w_ratio": w_ratio, "slope": slope,
           "slope_ci": [lo, hi], "ratio_median": 1.5, "n_optima": n + censored,
           "n_censored": censored, "n_unusable": 0}  # fmt: skip
    return {
        "kind": "uncertainty_scaling",
        "command": None,
        "test_erasure": "action",
        "fits": {"action": fit, "param": dict(fit, slope=1.0, slope_ci=[0.9, 1.1])},
        "optima": [{"label": "pendulum"}],
        "ideal_profiles": us.ideal_constants(),
    }


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({}, HOLDS),
        ({"slope": 0.0, "lo": -0.4, "hi": 0.3}, CONTRADICTED),  # wider not harder to erase
        ({"slope": -0.5, "lo": -0.9, "hi": -0.1}, CONTRADICTED),
        ({"slope": 1.8, "lo": 1.3, "hi": 2.3}, CONTRADICTED),  # excludes 1 from above
        ({"slope": 0.5, "lo": -0.3, "hi": 1.2}, INCONCLUSIVE),  # holds 1 and 0
        ({"n": 4}, INCONCLUSIVE),
        ({"w_ratio": 1.5}, INCONCLUSIVE),
        ({"n": 6, "censored": 4}, INCONCLUSIVE),
        ({"lo": None, "hi": None}, INCONCLUSIVE),
    ],
)
def test_verdict_rule(tmp_path, kw, expected):
    (tmp_path / "uncertainty_scaling.json").write_text(json.dumps(_doc(**kw)))
    (row,) = verdict.rows(tmp_path)
    assert row.kind == TEST and row.verdict == expected
    assert "near-identity" in row.measurement and "step 1.48" in row.measurement
