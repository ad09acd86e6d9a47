"""Mollification at matched scales: α(J_σ) and α(J) fitted on the same radii, and the verdict rules
that read them (issue 25, item 3). Comparing J at its own smallest radii with J_σ at radii far
above the noise compares different scales; these tests pin the comparison to one set of radii."""

import json

import numpy as np
import pytest

from mollify.instruments import lyapunov
from mollify.instruments import policy_roughness as pr
from mollify.instruments.roughness import compare_on_radii, holder_exponent
from mollify.study.verdicts import roughness as verdicts

# --- a synthetic f with known exponents: the Weierstrass sum and its Gaussian mollification ----
W_ALPHA, W_B, W_TERMS, W_DIM, S = 0.4, 2.0, 34, 32, 1e-7
W_X0 = np.random.default_rng(1).uniform(0, 1, W_DIM)
RADII = S * np.geomspace(0.3, 1e5, 14)  # smooth (α = 1) below ≈ S, W's own 0.4 well above


def weierstrass(x, s=0.0):
    """Σ_k W(x_k), W(x) = Σ_n b^{−αn} cos(2π bⁿ x); with s > 0, E W(x + sε) term by term."""
    freq = 2 * np.pi * W_B ** np.arange(W_TERMS)
    amp = W_B ** (-W_ALPHA * np.arange(W_TERMS)) * np.exp(-((freq * s) ** 2) / 2)
    return (amp * np.cos(freq * np.asarray(x)[..., None])).sum(axis=(-1, -2))


def sampled(s, n_samples, seed=0):
    """(N, S) samples W(x + s ε_j), the draws ε_j shared by every point (common random numbers)."""
    eps = np.random.default_rng(seed).standard_normal((n_samples, W_DIM))
    return lambda points: np.stack([weierstrass(p + s * eps) for p in points])


@pytest.fixture(scope="module")
def weierstrass_pair():
    raw = holder_exponent(weierstrass, W_X0, radii=RADII, n_directions=16)
    smooth = holder_exponent(sampled(S, 256), W_X0, radii=RADII, n_directions=16)
    return raw, smooth


def test_matched_comparison_recovers_both_known_exponents(weierstrass_pair):
    raw, smooth = weierstrass_pair
    cmp = compare_on_radii(raw, smooth, smooth.fitted)
    assert cmp["alpha_smooth"] == pytest.approx(smooth.alpha)  # the same fit on the same radii
    assert abs(cmp["alpha_smooth"] - 1.0) < 0.15 and abs(cmp["alpha_rough"] - W_ALPHA) < 0.1
    assert cmp["ci_rough"][0] < W_ALPHA < cmp["ci_rough"][1] + 0.05
    assert cmp["ci_smooth"][0] > cmp["ci_rough"][1] and cmp["ci_difference"][0] > 0
    again = compare_on_radii(raw, smooth, smooth.fitted)
    assert again["ci_difference"] == cmp["ci_difference"]  # same seed, same numbers


def test_matched_block_below_delta_star_is_strict_json():
    """Raw W against W mollified at a scale far above every radius (smooth there, α = 1 on every
    ray) plus Monte-Carlo noise drawn anew at every point, which the estimator removes."""
    radii, tau = np.geomspace(1e-7, 1e-5, 8), 1e-5
    noise = np.random.default_rng(3)

    def smooth_f(points):
        return weierstrass(points, 1e-4)[:, None] + tau * noise.standard_normal((len(points), 64))

    raw = holder_exponent(weierstrass, W_X0, radii=radii, n_directions=16)
    smooth = holder_exponent(smooth_f, W_X0, radii=radii, n_directions=16)
    assert smooth.noise_floor[0] > 1e-3 * smooth.structure[0] and smooth.resolved.all()
    block = pr.matched(raw, smooth, scale=1e-5)
    text = json.dumps(block, allow_nan=False)
    assert block["radii_relative"] == (radii[smooth.fitted] / 1e-5).tolist()
    assert abs(block["alpha_sigma"] - 1) < 0.05
    assert block["alpha_raw_ci"][0] < W_ALPHA < block["alpha_raw_ci"][1]
    low = block["below_delta_star"]
    assert low["delta_star_relative"] is None and "smooth at every measured scale" in text
    assert low["radii_relative"] == (radii / 1e-5).tolist()  # δ* = ∞: every resolved radius
    assert low["alpha_sigma_ci"][0] > 0.8 > low["alpha_raw_ci"][1]  # J_σ smooth, J rough there
    assert low["alpha_raw_ci"][0] < W_ALPHA < low["alpha_raw_ci"][1]
    rows = verdicts._mollifies(_doc({"0.3": block}))
    assert [r.verdict for r in rows] == ["holds", "holds"]


def test_a_function_against_itself_is_no_smoothing(weierstrass_pair):
    raw, _ = weierstrass_pair
    cmp = compare_on_radii(raw, raw, raw.fitted)
    assert cmp["difference"] == 0 and cmp["ci_difference"] == (0.0, 0.0)
    rows = verdicts._mollifies(_doc({"0.3": pr.matched(raw, raw)}))
    assert rows[0].verdict == "contradicted"


def test_too_few_or_unresolved_radii_give_a_reason():
    raw = holder_exponent(weierstrass, W_X0, radii=RADII[:5], n_directions=4)
    noisy = holder_exponent(sampled(S, 4), W_X0, radii=RADII[:5], n_directions=4)
    cmp = compare_on_radii(raw, noisy, np.ones(5, bool))
    assert np.isnan(cmp["alpha_smooth"]) and "not resolved" in cmp["note"]
    assert "3 needed" in compare_on_radii(raw, raw, np.eye(5, dtype=bool)[0])["note"]
    with pytest.raises(ValueError, match="same radii"):
        compare_on_radii(raw, holder_exponent(weierstrass, W_X0, radii=RADII[1:6]), raw.fitted)


# --- the verdict rules on hand-made roughness.json --------------------------------------------
def _pair(sig, raw, diff, radii=(0.004, 0.007, 0.014, 0.025)):
    return {
        "radii_relative": list(radii),
        "alpha_sigma": sum(sig) / 2, "alpha_sigma_ci": list(sig),
        "alpha_raw": sum(raw) / 2, "alpha_raw_ci": list(raw),
        "difference": sum(diff) / 2, "difference_ci": list(diff), "note": "",
    }  # fmt: skip


def _block(sig, raw, diff, below=None):
    low = {"delta_star_relative": 0.1, "delta_star_text": "0.1 [0.03, above range]"}
    low |= below or _pair(sig, raw, diff)
    return _pair(sig, raw, diff) | {"below_delta_star": low}


def _doc(matched, **extra):
    holder = {"0.0": {"alpha": 0.15, "ci_low": -0.1, "ci_high": 0.35, "note": ""}}
    holder |= {s: {"alpha": 1.0, "ci_low": 0.9, "ci_high": 1.1, "note": ""} for s in matched}
    return {"task": "double_pendulum", "start": "fixed", "command": "mollify roughness",
            "holder": holder, "matched": matched, "lyapunov": 0.36, "gamma": 0.99,
            "predicted_holder": 0.03, "predicted_nontrivial": True} | extra  # fmt: skip


ROUGH, SMOOTH = (0.1, 0.5), (0.85, 1.1)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (_block(SMOOTH, ROUGH, (0.4, 0.9)), ["holds", "holds"]),
        # J_σ smoother than J but not wholly smooth: the first row holds, the δ* row stays open.
        (_block((0.6, 1.0), ROUGH, (0.2, 0.7)), ["holds", "inconclusive"]),
        # overlapping CIs, Δ straddling 0: nothing decided
        (_block((0.4, 0.9), (0.3, 0.7), (-0.1, 0.4)), ["inconclusive", "inconclusive"]),
        # J_σ no smoother than J on the same radii (Δ's CI at or below 0)
        (_block((0.2, 0.5), (0.3, 0.6), (-0.3, 0.0)), ["contradicted", "contradicted"]),
        # J already smooth at J_σ's radii: nothing rough to mollify there
        (_block(SMOOTH, (0.85, 1.05), (-0.2, 0.2)), ["contradicted", "contradicted"]),
        # J_σ rough below its own δ*
        (_block((0.6, 1.0), ROUGH, (0.2, 0.7), _pair((0.3, 0.7), ROUGH, (0.0, 0.4))),
         ["holds", "contradicted"]),
    ],
)  # fmt: skip
def test_verdicts_on_matched_numbers(block, expected):
    rows = verdicts._mollifies(_doc({"0.3": block}))
    assert [r.verdict for r in rows] == expected
    assert "α(J_σ)" in rows[0].measurement and "σ=0.3" in rows[0].measurement


def test_the_largest_fitted_sigma_is_judged_and_missing_numbers_say_why():
    unresolved = _pair((0, 0), ROUGH, (0, 0)) | {"alpha_sigma": None, "difference": None}
    unresolved |= {"alpha_sigma_ci": [None, None], "difference_ci": [None, None]}
    unresolved["note"] = "J_σ is resolved on no fit"
    doc = _doc({"0.1": _block(SMOOTH, ROUGH, (0.4, 0.9)), "1.0": unresolved})
    rows = verdicts._mollifies(doc)
    assert rows[0].verdict == "holds" and "σ=1: no matched fit (J_σ is resolved on no fit)" in (
        rows[0].measurement
    )
    (none,) = {r.verdict for r in verdicts._mollifies(_doc({"1.0": unresolved}))}
    assert none == "inconclusive"
    old = _doc({"0.3": {}})
    del old["matched"]
    assert "no matched-scale comparison" in verdicts._mollifies(old)[0].measurement
    low = _block(SMOOTH, ROUGH, (0.4, 0.9))
    low["below_delta_star"] |= {"alpha_sigma": None, "note": "J_σ is rough at every measured scale"}
    row = verdicts._mollifies(_doc({"0.3": low}))[1]
    assert row.verdict == "inconclusive" and "rough at every measured scale" in row.measurement


# --- real data: the double pendulum and the pendulum at a fixed start ---------------------------
def _run(task_name, sigmas, **options):
    """`mollify roughness` at small sizes, λ stubbed (not under test; its compile costs seconds)."""
    from mollify.cli.common import load_task_and_policy

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lyapunov, "lyapunov_exponent", lambda *a, **k: 0.0)
        task, policy, theta = load_task_and_policy(task_name, "init", 0)
        out = pr.run(task, policy, theta, None, sigmas=sigmas, **options)
    return out, (task, policy, theta)


@pytest.fixture(scope="module")
def double_pendulum():
    return _run("double_pendulum", (0, 0.3), directions=4, episodes=32)


def test_double_pendulum_matched_block_shares_the_radii(double_pendulum):
    out, _ = double_pendulum
    block, h_sigma, h_raw = out["matched"][0.3], out["holder"][0.3], out["holder"][0.0]
    rel = np.asarray(out["radii"]) / out["theta_norm"]
    fitted = np.isin(rel, block["radii_relative"])
    assert fitted.sum() == len(block["radii_relative"]) >= 3
    assert rel[fitted][0] == pytest.approx(h_sigma["smallest_resolved_relative"])
    # α(J) in the block is raw J's own structure function fitted on exactly J_σ's radii
    log_r, rms = np.log(rel[fitted]), 0.5 * np.log(np.asarray(h_raw["structure"])[fitted])
    assert block["alpha_raw"] == pytest.approx(np.polyfit(log_r, rms, 1)[0])
    assert block["local"]["radii_relative"][: fitted.sum()] == block["radii_relative"]
    json.dumps(out, allow_nan=False)  # strict JSON


def test_double_pendulum_raw_j_against_itself_is_contradicted(double_pendulum):
    """Raw J compared with itself on real data: no smoothing at all, Δ ≡ 0, so the rule must say
    contradicted (the compiled σ = 0 evaluator of the fixture is reused: same shapes)."""
    from mollify.core.evaluation import evaluate

    out, (task, policy, theta) = double_pendulum
    raw = holder_exponent(
        lambda p: evaluate(task, policy, p, sigma=0.0, episodes=1, start="fixed").discounted,
        theta,
        radii=np.asarray(out["radii"]),
        n_directions=4,
    )
    assert raw.structure.tolist() == out["holder"][0.0]["structure"]  # the run's raw J, again
    rows = verdicts._mollifies(json.loads(json.dumps(_doc({"0.3": pr.matched(raw, raw)}))))
    assert rows[0].verdict == "contradicted" and "Δ = 0 [0, 0]" in rows[0].measurement


def test_pendulum_at_a_fixed_start_must_contradict():
    """The pendulum's random-init closed loop contracts (λ < 0, README), so raw J is Lipschitz at
    small scales: on J_σ's radii (all far below raw J's own δ* ≈ 0.09 ‖θ‖) J is already smooth,
    and "J rough where J_σ is smooth" must come out contradicted."""
    out, _ = _run("pendulum", (0, 0.03), directions=4, episodes=32)
    block = out["matched"][0.03]
    assert max(block["radii_relative"]) < 0.09 and block["alpha_raw_ci"][0] >= 0.8
    rows = verdicts._mollifies(json.loads(json.dumps(out)))
    assert rows[0].verdict == "contradicted"
