"""The paper's claims, each against what a study directory measured: holds, contradicted or
inconclusive, with the number (and its CI where one exists) and the command that made it.

The verdict rules are fixed here, the same for every study directory (written before the study
run that fills the README's table, after earlier sweeps of the same tasks had been read):
- heat equation: the table-built u(μ, t) satisfies u_t = ½u_μμ to 1 % of max |u_t| and agrees
  with direct rollouts within 4 standard errors;
- backward heat: measured amplification matches e^{Tξ²/2} to 5 %;
- mollification: the Hölder exponent's 95 % CI at the largest σ lies above the one at σ = 0
  (contradicted when it lies below);
- Hölder bound (Wang et al.'s predecessor, −log γ/λ when λ > −log γ): J is at least that
  Hölder, so a measured CI wholly below the bound contradicts it;
- best σ: the sweep's inverted-U test (best σ inside the grid, better than both ends with 95 %
  bootstrap CIs of the differences);
- uncertainty principle: the optimum is erased at a parameter σ within a factor 10 of the good
  region's width;
- RPO's extra mollification (CleanRL's hopper-stand contrast): the 95 % bootstrap CI of RPO's
  mean final return minus PPO's (same σ start) excludes 0;
- the paper's quadrotor failure: contradicted where PPO at some σ ≤ 0.3 reaches ≥ 90 % of the
  best return of the sweep.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HEADER = ["claim (paper)", "our measurement", "verdict", "command"]

HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"


def _g(x, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def claims(root: str | Path) -> list[list[str]]:
    """One row per claim that `root` holds evidence for (rows without evidence are left out)."""
    root = Path(root)
    rows: list[list[str]] = []
    for path in sorted(root.rglob("heat.json")):
        rows.append(_heat(_load(path)))
    for path in sorted(root.rglob("backward.json")):
        rows.append(_backward(_load(path)))
    for path in sorted(root.rglob("roughness.json")):
        r = _load(path)
        rows += [row for row in (_mollifies(r), _holder_bound(r)) if row is not None]
    for path in sorted(root.rglob("stats.json")):
        rows += _sweeps(path)
    for path in sorted(root.rglob("summary.csv")):
        rows += _rpo_contrast(path)
    for path in sorted(root.rglob("uncertainty.json")):
        rows.append(_uncertainty(_load(path)))
    return rows


def cell(text) -> str:
    """A markdown table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell(c) for c in r[:3]) + f" | `{r[3]}` |" for r in rows]
    return "\n".join(lines) + "\n"


def _heat(h: dict) -> list[str]:
    ratio = h["residual_over_u_t"]
    z = max(
        (abs(m["u_table"] - m["u_monte_carlo"]) / m["mc_stderr"] for m in h["monte_carlo_check"]
         if m["mc_stderr"] > 0),
        default=math.inf,
    )  # fmt: skip
    verdict = HOLDS if ratio < 0.01 and z < 4 else CONTRADICTED if ratio > 0.1 else INCONCLUSIVE
    text = (
        f"{h['task']}: max|u_t − ½u_μμ| = {_g(ratio)} of max|u_t| on t = σ² ∈ "
        f"[{_g(h['t_range'][0])}, {_g(h['t_range'][1])}]; table vs direct rollouts within "
        f"{_g(z, 2)} SE"
    )
    claim = "Policy gradient at fixed σ ascends a heat-equation solution u(μ, t), t = σ²"
    return [claim, text, verdict, h.get("command") or "mollify theory heat"]


def _backward(b: dict) -> list[str]:
    err = b["max_rel_error_valid"]
    verdict = HOLDS if err < 0.05 else CONTRADICTED
    text = (
        f"{b['task']}: from T = {_g(b['T'])}, {b['n_valid_frequencies']} frequencies amplified as "
        f"e^(Tξ²/2) to {_g(err)} (up to {_g(b['max_predicted_valid'])}×); a 1e-6 perturbation "
        f"swamps Q above ξ = {_g(b['cutoff_xi'])}"
    )
    claim = "Shrinking σ runs the heat equation backwards, which is ill-posed"
    return [claim, text, verdict, b.get("command") or "mollify theory backward"]


def _alpha_text(s: str, h: dict) -> str:
    return f"α(σ={float(s):g}) = {_g(h['alpha'])} [{_g(h['ci_low'])}, {_g(h['ci_high'])}]"


def _mollifies(r: dict) -> list[str] | None:
    measured = {s: h for s, h in r["holder"].items() if not h.get("note")}
    if "0.0" not in measured or len(measured) < 2:
        return None
    raw = measured["0.0"]
    top_sigma = max(measured, key=float)
    top = measured[top_sigma]
    if top["ci_low"] > raw["ci_high"]:
        verdict = HOLDS
    elif top["ci_high"] < raw["ci_low"]:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    middle = "; ".join(_alpha_text(s, h) for s, h in measured.items() if s not in ("0.0",))
    text = f"{r['task']} ({r.get('start', 'random')} start): {_alpha_text('0', raw)}; {middle}"
    claim = "A Gaussian policy mollifies a rough landscape: J_σ is smoother than J"
    return [claim, text, verdict, r.get("command") or "mollify roughness"]


def _holder_bound(r: dict) -> list[str] | None:
    raw = r["holder"].get("0.0")
    lam, bound = r.get("lyapunov"), r.get("predicted_holder")
    if raw is None or raw.get("note") or lam is None or bound is None:
        return None
    if not r.get("predicted_nontrivial"):
        text = f"{r['task']}: λ = {_g(lam)} ≤ −log γ: the bound predicts a Lipschitz J"
        verdict = INCONCLUSIVE
    else:
        verdict = CONTRADICTED if raw["ci_high"] < bound else HOLDS
        text = (
            f"{r['task']}: λ = {_g(lam)} per step > −log γ = {_g(-math.log(r['gamma']))}; "
            f"bound −log γ/λ = {_g(bound)}, measured {_alpha_text('0', raw)} (the bound is a "
            "lower one: J is at least this smooth)"
        )
    claim = "Chaotic closed loops make J Hölder with exponent −log γ/λ (the predecessor paper)"
    return [claim, text, verdict, r.get("command") or "mollify roughness"]


def _sweeps(path: Path) -> list[list[str]]:
    folder = path.parent
    spec = _load(folder / "sweep.json") if (folder / "sweep.json").exists() else {}
    command = spec.get("command") or f"mollify sweep --out {folder}"
    params = spec.get("options", {}).get("task_params", {})
    variant = " (" + ", ".join(f"{k} = {v:g}" for k, v in params.items()) + ")" if params else ""
    rows = []
    for entry in _load(path).values():
        if entry["sigma_mode"] != "fixed" or entry["algo"] == "es":
            continue
        c = entry["deterministic"]
        points = {p["sigma"]: p for p in c["points"]}
        best = points[c["best_sigma"]]
        ends = [points[min(points)], points[max(points)]]
        curve = ", ".join(f"σ={s:g}: {_g(p['mean'], 4)}" for s, p in sorted(points.items()))
        text = (
            f"{entry['task']}{variant} PPO, {best['n']} seeds: best σ = {c['best_sigma']:g} "
            f"({_g(best['mean'], 4)} [{_g(best['ci_low'], 4)}, {_g(best['ci_high'], 4)}]); {curve}"
        )
        if c["inverted_u"]:
            verdict = HOLDS
        elif not c["peak_inside_grid"]:
            verdict = INCONCLUSIVE
            text += " (best at the grid's edge)"
        else:
            verdict = INCONCLUSIVE
            text += " (an end not significantly worse)"
        spread = max(p["mean"] for p in points.values()) - min(p["mean"] for p in ends)
        if spread <= 0.05 * max(1.0, abs(best["mean"])):
            text += "; return flat in σ at this budget"
        claim = "A best σ exists: final return against σ is an inverted U"
        rows.append([claim, text, verdict, command])
        if entry["task"] == "planar_quadrotor":
            rows.append(_quadrotor(points, command, variant))
    return rows


def _quadrotor(points: dict, command: str, variant: str = "") -> list[str]:
    best = max(p["mean"] for p in points.values())
    small = {s: p for s, p in points.items() if s <= 0.3}
    solved = {s: p for s, p in small.items() if p["mean"] >= 0.9 * best}
    big = {s: p for s, p in points.items() if s >= 1}
    text = ", ".join(f"σ={s:g}: {_g(p['mean'], 4)}" for s, p in sorted(points.items()))
    verdict = CONTRADICTED if solved else HOLDS
    if big:
        text += f"; collapse at σ ≥ 1 ({_g(max(p['mean'] for p in big.values()), 4)} at best)"
    claim = "Policy gradient fails on the planar quadrotor: its good region is too small"
    return [claim, f"planar_quadrotor{variant} PPO: " + text, verdict, command]


def _uncertainty(u: dict) -> list[str]:
    claim = "Too large a σ erases a good region narrower than σ (uncertainty principle)"
    cmd = u.get("command") or "mollify theory uncertainty"
    gain = u["J_star"] - u["J_background"]
    head = (
        f"{u['task']}: J(θ*) = {_g(u['J_star'], 4)} against a background of "
        f"{_g(u['J_background'], 4)}, width w = {_g(u['width_w'])}"
    )
    if gain <= 0:
        return [claim, head + "; θ* is not better than its surroundings", INCONCLUSIVE, cmd]
    sigma = u.get("erasure_sigma_param")
    if sigma is None:
        why = u.get("erasure_notes", {}).get("erasure_sigma_param", "no crossing measured")
        return [claim, f"{head}; not erased: {why}", INCONCLUSIVE, cmd]
    ratio = u["erasure_over_width"]
    verdict = HOLDS if 0.1 <= ratio <= 10 else CONTRADICTED
    text = f"{head}; half the advantage gone at parameter σ = {_g(sigma)} (σ/w = {_g(ratio, 2)})"
    if u.get("erasure_sigma_action") is not None:
        text += f", at action σ = {_g(u['erasure_sigma_action'])}"
    return [claim, text, verdict, cmd]


def _rpo_contrast(path: Path) -> list[list[str]]:
    from mollify.study import stats
    from mollify.study.sweep import read_summary

    rows = [r for r in read_summary(path) if r["sigma_mode"] in ("learned", "rpo")]
    out = []
    for (task, sigma), members in stats.group(rows, ("task", "sigma")).items():
        by_mode = stats.group(members, ("sigma_mode",))
        if set(by_mode) != {("learned",), ("rpo",)}:
            continue
        rpo, ppo = ([r["final_deterministic"] for r in by_mode[(m,)]] for m in ("rpo", "learned"))
        diff, lo, hi = stats.bootstrap_diff_ci(rpo, ppo)
        verdict = HOLDS if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE
        text = (
            f"{task}, σ learned from {sigma:g}, {len(ppo)} seeds: PPO {_g(sum(ppo) / len(ppo), 4)}, "
            f"RPO {_g(sum(rpo) / len(rpo), 4)}; RPO − PPO = {_g(diff, 4)} [{_g(lo, 4)}, {_g(hi, 4)}]"
        )
        spec = path.parent / "sweep.json"
        cmd = _load(spec).get("command") if spec.exists() else None
        claim = (
            "Extra mollification (RPO's shifted mean) lifts hopper-stand where PPO fails "
            "(CleanRL, 8 M steps: PPO 3.1 ± 1.6, RPO 408 ± 203)"
        )
        out.append([claim, text, verdict, cmd or f"mollify sweep --out {path.parent}"])
    return out
