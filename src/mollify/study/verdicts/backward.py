"""Backward heat: shrinking σ runs the heat equation backwards, which is ill-posed.

Check of the implementation (an identity), per `backward.json`: the FFT-based forward and backward
solvers amplify an injected perturbation at frequency ξ by e^{Tξ²/2}; passes when the measured
amplification matches the formula to 5 % on every frequency above rounding.

Test on task data, per `backward_task.json` (`mollify.instruments.backward_task`; rule fixed before
any full run). On a filter-normalised slice from the fixed start, J̃_σ₁ (parameter-space smoothing,
Monte Carlo) is run back by Δt = σ₁² − σ₀² and compared with J̃_σ₀ measured directly (through the
same Gaussian taper). For every parameter-space σ₁:
  (i) the amplification rate b of the recovery error, fitted as E(ξ) ~ c·e^{bξ²}·N₁(ξ) + N₀(ξ)
      where amplified noise dominates, with its 95 % CI (the wider of the block bootstrap and the
      Fisher interval), SE = CI width / 3.92;
  (ii) z, the mean of error / (e^{Δtξ²}N₁ + N₀) over the resolved frequencies (below), minus 1,
      in standard errors;
  (iii) ρ = measured cut-off / predicted cut-off (first ξ from which the recovery error, resp.
      e^{Δtξ²}N₁ + N₀, stays above J̃_σ₀'s own power);
  (iv) Δt fitted from the data alone (the Δt that makes J̃_σ₁ − G_Δt ∗ J̃_σ₀ most like noise on
      the resolved frequencies), 95 % CI (the wider of block bootstrap and linearised SE),
      SE = CI width / 3.92.
Resolved frequencies: those below the first where J̃_σ₀ sinks under its own noise. Once the data
are run back by Δt, b is set by the noise alone; (ii) and (iv) are where the data can disagree:
(ii) sees a Δt too large, (iv) a Δt wrong either way.
HOLDS when every σ₁ has Δt inside the CIs of b and of the fitted Δt, the CI of b above 0, |z| ≤ 4
and 1/1.5 ≤ ρ ≤ 1.5.
CONTRADICTED when some σ₁ has |b − Δt| > 4 SE, or |fitted Δt − Δt| > 4 SE, or |z| > 4 (the error
where the signal is resolved is not the predicted noise: a systematic failure), or ρ outside
[1/2, 2].
INCONCLUSIVE otherwise, including a σ₁ with no fit (< 8 frequencies where amplified noise
dominates; < 3 resolved for the fitted Δt), fewer than 4 resolved frequencies, or no cut-off
inside the analysed band.
Action-space σ (J_σ of the stochastic policy; its Δt fitted) is reported in the row, not judged: the
law holds there only approximately.
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import (
    CHECK,
    CONTRADICTED,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    PASSES,
    TEST,
    Row,
    g,
    read_rows,
)

TASK_CLAIM = (
    "Running a measured J̃_σ₁ back to σ₀ amplifies its noise by e^((σ₁²−σ₀²)ξ²/2), and recovery "
    "fails above the predicted cut-off"
)
Z_MAX, CUT_HOLDS, CUT_CONTRA = 4.0, 1.5, 2.0


def rows(root: Path) -> list[Row]:
    return read_rows(root, {"backward.json": _fft_check, "backward_task.json": task_row})


def _fft_check(b: dict) -> Row:
    err = b["max_rel_error_valid"]
    text = (
        f"{b['task']}: from T = {g(b['T'])}, {b['n_valid_frequencies']} frequencies amplified as "
        f"e^(Tξ²/2) to {g(err)} (up to {g(b['max_predicted_valid'])}×)"
    )
    claim = "The backward solver amplifies frequency ξ by e^(Tξ²/2)"
    verdict = PASSES if err is not None and err < 0.05 else FAILS
    return Row(CHECK, claim, text, verdict, b.get("command") or "mollify theory backward")


def pair_verdict(p: dict) -> tuple[str, str]:
    """(verdict, why) for one parameter-space σ₁ of a backward_task.json record."""
    dt, b, ci, z = p.get("dt"), p.get("slope"), p.get("slope_ci"), p.get("excess_z")
    fit, fit_ci, rho = p.get("dt_fit"), p.get("dt_fit_ci"), p.get("cutoff_ratio")
    for name, est, band in (("slope", b, ci), ("fitted Δt", fit, fit_ci)):
        if est is not None and band is not None and dt is not None:
            se = (band[1] - band[0]) / 3.92
            if se > 0 and abs(est - dt) > Z_MAX * se:
                return (
                    CONTRADICTED,
                    f"{name} {g(est)} is {abs(est - dt) / se:.1f} SE from Δt {g(dt)}",
                )
    if z is not None and abs(z) > Z_MAX:
        return CONTRADICTED, (
            f"error where J̃_σ₀ is resolved is {g(p['excess_ratio'])}× the predicted noise "
            f"(z {g(z, 2)})"
        )
    if rho is not None and not (1 / CUT_CONTRA <= rho <= CUT_CONTRA):
        return CONTRADICTED, f"cut-off measured/predicted = {g(rho)}"
    needed = (("slope", ci), ("fitted Δt", fit_ci), ("resolved frequencies", z), ("cut-off", rho))
    missing = [k for k, v in needed if v is None]
    if missing or dt is None:
        return INCONCLUSIVE, "no " + ", no ".join(missing or ["Δt"])
    if not (ci[0] <= dt <= ci[1]) or ci[0] <= 0:
        return INCONCLUSIVE, f"slope CI [{g(ci[0])}, {g(ci[1])}] vs Δt {g(dt)}"
    if not (fit_ci[0] <= dt <= fit_ci[1]):
        return INCONCLUSIVE, f"fitted Δt CI [{g(fit_ci[0])}, {g(fit_ci[1])}] vs Δt {g(dt)}"
    if not (1 / CUT_HOLDS <= rho <= CUT_HOLDS):
        return INCONCLUSIVE, f"cut-off measured/predicted = {g(rho)}"
    return HOLDS, "consistent"


def task_verdict(record: dict) -> str:
    """The rule of the module docstring over every parameter-space σ₁."""
    verdicts = [pair_verdict(p)[0] for p in (record.get("param") or {}).get("pairs", [])]
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def task_row(r: dict) -> Row:
    param = r.get("param") or {}
    parts = []
    for p in param.get("pairs", []):
        ci = p.get("slope_ci") or [None, None]
        parts.append(
            f"σ₁={g(p['sigma1'])}: slope {g(p.get('slope'))} [{g(ci[0])}, {g(ci[1])}] vs Δt "
            f"{g(p.get('dt'))} (fitted {g(p.get('dt_fit'))}), error/prediction {g(p.get('excess_ratio'))} (z {g(p.get('excess_z'), 2)}), "
            f"ξ_c {g(p.get('cutoff_measured'))} vs {g(p.get('cutoff_predicted'))} "
            f"({pair_verdict(p)[1]})"
        )
    action = r.get("action") or {}
    acts = [
        f"σ₁={g(p['sigma1'])}: Δt fitted {g(p.get('dt'))}, slope {g(p.get('slope'))}, z "
        f"{g(p.get('excess_z'), 2)}"
        for p in action.get("pairs", [])
    ]
    head = f"{r.get('task', '?')} (fixed start, σ₀ = {g(param.get('sigma0'))} in α): "
    text = head + "; ".join(parts)
    if acts:
        text += f". Action σ (reported, not judged; σ₀ = {g(action.get('sigma0'))}): " + "; ".join(
            acts
        )
    command = r.get("command") or "mollify theory backward"
    return Row(TEST, TASK_CLAIM, text, task_verdict(r), command)
