"""Sweeps: a best σ exists (inverted U); the quadrotor failure; RPO's extra mollification.

(Rules being rewritten: calibrated by simulated nulls.)
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import CONTRADICTED, HOLDS, INCONCLUSIVE, TEST, Row, load
from mollify.study.verdicts import g as _g

_load = load


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("stats.json")):
        out += _sweeps(path)
    for path in sorted(Path(root).rglob("summary.csv")):
        out += _rpo_contrast(path)
    return [Row(TEST, *r) for r in out]


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
