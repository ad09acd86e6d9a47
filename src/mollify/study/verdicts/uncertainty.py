"""Uncertainty principle: too large a σ erases a good region narrower than σ.

Check of the implementation (not a test of the claim), one row per uncertainty.json: for one
optimum, the erasure σ and the width w are read off the same radial profile, so σ/w is a geometric
constant of that profile's shape (1.36 linear, 1.47 Gaussian, 1.48 step, 1.57 exponential at
drop ½; `uncertainty_scaling.ideal_constants`). The row states the ratio as what it is and passes
when both numbers were measured.

Test, one row per uncertainty_scaling.json: over optima of different widths w, the least-squares
slope b of log σ_erase on log w with one intercept per task or variant (the action σ's units and a
task's noise tolerance are the task's own, so only the slope is compared; a task with one optimum
is left out), with its 95 % bootstrap CI [lo, hi] (optima resampled within their task), for the
ACTION-space erasure (J_σ(θ*) with Gaussian action noise: the mollifier a stochastic policy applies,
and not read from the radial profile w comes from; the parameter-space erasure is a functional of
that profile, slope 1 for any scale family of profiles, so it is only reported). The principle
predicts erasure σ ∝ w, b = 1.
- inconclusive unless at least 5 optima are in the fit, w spans at least a factor 2 inside one
  task, and at most a third of the measured optima are censored (erased outside the σ grid);
- holds when lo > 0 and lo ≤ 1 ≤ hi (wider optima are harder to erase, consistent with σ ∝ w);
- contradicted when the CI excludes 1 (hi < 1 or lo > 1), which includes a CI at or below 0
  (wider optima not harder to erase);
- inconclusive otherwise (the CI holds 1 and reaches 0 or below).
History: written before any full run with one intercept for all tasks; changed to one intercept
per task after the first measurement (pendulum and planar_quadrotor, 16 optima), where the pooled
slope (−0.91 [−1.38, −0.27]) was set by the two tasks' different action-noise tolerance. Both
read "contradicted" on that data (per-task slope 0.36 [−0.19, 0.77]).
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import (
    CHECK,
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURED,
    PASSES,
    TEST,
    Row,
    ci_text,
    g,
    read_rows,
)

MIN_OPTIMA, MIN_W_RATIO, MAX_CENSORED = 5, 2.0, 1 / 3
SCALING_CLAIM = (
    "A stochastic policy erases a good region of width w at action σ ∝ w (log–log slope 1 across "
    "optima)"
)


def rows(root: Path) -> list[Row]:
    return read_rows(
        root, {"uncertainty.json": _one_profile, "uncertainty_scaling.json": scaling_row}
    )


def _one_profile(u: dict) -> Row:
    claim = "One optimum's erasure σ over its width w (a constant of the profile's shape)"
    cmd = u.get("command") or "mollify theory uncertainty"
    head = (
        f"{u['task']}: J(θ*) = {g(u['J_star'], 4)} against a background of "
        f"{g(u['J_background'], 4)}, width w = {g(u['width_w'])}"
    )
    sigma, ratio = u.get("erasure_sigma_param"), u.get("erasure_over_width")
    if u["J_star"] <= u["J_background"] or sigma is None or ratio is None:
        why = u.get("erasure_notes", {}).get("erasure_sigma_param", "θ* not above its surroundings")
        return Row(CHECK, claim, f"{head}; no ratio: {why}", NOT_MEASURED, cmd)
    text = (
        f"{head}; half the advantage gone at parameter σ = {g(sigma)} (σ/w = {g(ratio, 2)}; "
        "ideal profiles give 1.36–1.57 by geometry alone)"
    )
    return Row(CHECK, claim, text, PASSES, cmd)


def scaling_verdict(fit: dict) -> tuple[str, str]:
    """(verdict, why) for one fit of uncertainty_scaling.json, by the module's rule."""
    n, ratio = fit.get("n", 0), fit.get("w_ratio")
    measured = fit.get("n_optima", n)
    censored = fit.get("n_censored", 0)
    lo, hi = fit.get("slope_ci", [None, None])
    if n < MIN_OPTIMA:
        return INCONCLUSIVE, f"{n} optima in the fit (the rule needs {MIN_OPTIMA})"
    if ratio is None or ratio < MIN_W_RATIO:
        return INCONCLUSIVE, f"w spans ×{g(ratio, 2)} (the rule needs ×{MIN_W_RATIO:g})"
    if measured and censored / measured > MAX_CENSORED:
        return INCONCLUSIVE, f"{censored} of {measured} optima censored (the rule allows a third)"
    if lo is None or hi is None:
        return INCONCLUSIVE, "no bootstrap CI"
    if hi < 1 or lo > 1:
        side = "at or below 0: wider optima not harder to erase" if hi <= 0 else "excludes 1"
        return CONTRADICTED, f"the CI {side}"
    if lo > 0:
        return HOLDS, "the CI excludes 0 and contains 1"
    return INCONCLUSIVE, "the CI contains 1 and reaches 0"


def scaling_row(doc: dict) -> Row:
    """The TEST row of one uncertainty_scaling.json (action-space erasure); the parameter-space
    fit and the ideal constants go into its text."""
    test = doc.get("test_erasure", "action")
    other = "param" if test == "action" else "action"
    fit, near = doc["fits"][test], doc["fits"][other]
    verdict, why = scaling_verdict(fit)
    labels = sorted({r["label"] for r in doc.get("optima", [])})
    consts = ", ".join(
        f"{k} {g(p['sigma_over_w'], 3)}" for k, p in doc["ideal_profiles"]["profiles"].items()
    )
    text = (
        f"{test}-space erasure σ against w over {fit['n']} optima ({', '.join(labels) or 'none'}; "
        f"{fit.get('n_censored', 0)} censored, {fit.get('n_unusable', 0)} unusable), "
        f"w {g(fit.get('w_min'))}–{g(fit.get('w_max'))} (×{g(fit.get('w_ratio'), 2)} inside one "
        f"task): slope with one intercept per task "
        f"{ci_text(fit.get('slope'), *fit.get('slope_ci', [None, None]))} ({why}); one intercept "
        f"for all {ci_text(fit.get('pooled_slope'), *fit.get('pooled_slope_ci', [None, None]))}. "
        f"{other}-space erasure (near-identity: would be 1 for any scale family of profiles): slope "
        f"{ci_text(near.get('slope'), *near.get('slope_ci', [None, None]))}, median σ/w "
        f"{g(near.get('ratio_median'), 3)}; ideal profiles' σ/w (geometry, not evidence): {consts}"
    )
    cmd = doc.get("command") or "mollify.study.uncertainty_scaling.run_scaling"
    return Row(TEST, SCALING_CLAIM, text, verdict, cmd)
