"""Sweeps of PPO at fixed σ: a best σ exists (inverted U); the quadrotor failure; RPO's contrast.

Rules (the tests and their calibration are in `mollify.study.stats`):
- **Best σ (inverted U)**: `stats.sigma_curve`'s u-test. Holds when some interior σ is above both
  ends of the grid (Welch, one-sided, each at α/(K − 2)); contradicted when an end of the grid is
  above every other σ (Welch at α/2: return monotone on this grid, both ends resolved);
  inconclusive otherwise, and always with fewer than 3 seeds at some σ or fewer than 3 σ. Its
  false-positive rate on simulated null sweeps (no σ effect) is at most 0.5 % for 6 σ × 3 seeds
  (normal, Student-t₂, failure-mixture and heteroscedastic returns; `stats.null_rates`, checked
  by the test suite).
- **The paper's quadrotor failure** ("policy gradient fails: the good region is too small"): a run
  solves the planar quadrotor when its final deterministic return is at least 90 % of the task's
  maximum (per-step reward ≤ 1, so 0.9 × horizon). Contradicted when some σ ≤ 0.3 has the lower
  end of its 95 % t-interval at or above that (PPO solves it reliably); holds when every σ ≤ 0.3
  has the upper end below it; inconclusive otherwise or with fewer than 3 seeds.
- **RPO's extra mollification** (CleanRL's hopper-stand contrast): Welch's two-sided 95 % interval
  of RPO's mean final return minus PPO's (σ learned from the same start); holds when it lies
  above 0, contradicted when below, inconclusive otherwise or with fewer than 3 seeds a mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats as sps

from mollify.study import stats
from mollify.study.verdicts import CONTRADICTED, HOLDS, INCONCLUSIVE, TEST, Row, g, load

SOLVED_FRACTION = 0.9  # of the quadrotor's maximum return
SMALL_SIGMA = 0.3  # the paper's "small σ" for the quadrotor rule


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("stats.json")):
        out += _sweeps(path)
    for path in sorted(Path(root).rglob("summary.csv")):
        out += _rpo_contrast(path)
    return out


def _command_and_variant(folder: Path) -> tuple[str, str, dict]:
    spec = load(folder / "sweep.json") if (folder / "sweep.json").exists() else {}
    command = spec.get("command") or f"mollify sweep --out {folder}"
    params = spec.get("options", {}).get("task_params", {})
    variant = " (" + ", ".join(f"{k} = {v:g}" for k, v in params.items()) + ")" if params else ""
    return command, variant, params


def _interval(p: dict) -> str:
    if p["ci_low"] is None:
        return f"{g(p['mean'], 4)} (one seed: no interval)"
    return f"{g(p['mean'], 4)} [{g(p['ci_low'], 4)}, {g(p['ci_high'], 4)}]"


def _sweeps(path: Path) -> list[Row]:
    command, variant, params = _command_and_variant(path.parent)
    out = []
    for entry in load(path).values():
        if entry["sigma_mode"] != "fixed" or entry["algo"] == "es":
            continue
        c = entry["deterministic"]
        points = {p["sigma"]: p for p in c["points"]}
        best = points[c["best_sigma"]]
        seeds = sorted({p["n"] for p in points.values()})
        curve = ", ".join(f"σ={s:g}: {g(p['mean'], 4)}" for s, p in sorted(points.items()))
        text = (
            f"{entry['task']}{variant} PPO, {'/'.join(map(str, seeds))} seeds a σ: best σ = "
            f"{c['best_sigma']:g} ({_interval(best)}); {curve}; {c.get('u_reason', '')}"
        )
        verdict = c.get("u_verdict") or (HOLDS if c["inverted_u"] else INCONCLUSIVE)
        claim = "A best σ exists: final return against σ is an inverted U"
        out.append(Row(TEST, claim, text, verdict, command))
        if entry["task"] == "planar_quadrotor":
            out.append(_quadrotor(points, command, variant, params))
    return out


def _quadrotor(points: dict, command: str, variant: str, params: dict) -> Row:
    from mollify import tasks

    target = SOLVED_FRACTION * tasks.make("planar_quadrotor", **params).horizon
    small = {s: p for s, p in sorted(points.items()) if s <= SMALL_SIGMA}
    text = ", ".join(f"σ={s:g}: {_interval(p)}" for s, p in small.items())
    text = f"planar_quadrotor{variant} PPO, solved = return ≥ {target:g}: {text}"
    claim = "Policy gradient fails on the planar quadrotor: its good region is too small"
    if not small or any(p["n"] < stats.MIN_SEEDS for p in small.values()):
        return Row(
            TEST, claim, text + f" (fewer than {stats.MIN_SEEDS} seeds)", INCONCLUSIVE, command
        )
    solved = [s for s, p in small.items() if p["ci_low"] >= target]
    if solved:
        text += f"; σ = {', '.join(f'{s:g}' for s in solved)} solves it (whole CI above)"
        return Row(TEST, claim, text, CONTRADICTED, command)
    if all(p["ci_high"] < target for p in small.values()):
        return Row(TEST, claim, text + "; every σ ≤ 0.3 fails", HOLDS, command)
    return Row(TEST, claim, text + "; an interval straddles the target", INCONCLUSIVE, command)


def welch_interval(x, y) -> tuple[float, float | None, float | None]:
    """mean(x) − mean(y) and Welch's two-sided 95 % interval (None with fewer than 2 values)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return diff, None, None
    a, b = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = float(np.sqrt(a + b))
    if se == 0:
        return diff, diff, diff
    df = (a + b) ** 2 / (a**2 / (x.size - 1) + b**2 / (y.size - 1))
    half = float(sps.t.ppf((1 + stats.CONFIDENCE) / 2, df)) * se
    return diff, diff - half, diff + half


def _rpo_contrast(path: Path) -> list[Row]:
    from mollify.study.sweep import read_summary

    summary = [r for r in read_summary(path) if r["sigma_mode"] in ("learned", "rpo")]
    out = []
    for (task, sigma), members in stats.group(summary, ("task", "sigma")).items():
        by_mode = stats.group(members, ("sigma_mode",))
        if set(by_mode) != {("learned",), ("rpo",)}:
            continue
        rpo, ppo = ([r["final_deterministic"] for r in by_mode[(m,)]] for m in ("rpo", "learned"))
        diff, lo, hi = welch_interval(rpo, ppo)
        few = min(len(rpo), len(ppo)) < stats.MIN_SEEDS
        if few or lo is None:
            verdict = INCONCLUSIVE
        else:
            verdict = HOLDS if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE
        text = (
            f"{task}, σ learned from {sigma:g}, {len(ppo)}/{len(rpo)} seeds: PPO "
            f"{g(float(np.mean(ppo)), 4)}, RPO {g(float(np.mean(rpo)), 4)}; RPO − PPO = "
            f"{g(diff, 4)} [{g(lo, 4)}, {g(hi, 4)}] (Welch)"
            + (f"; fewer than {stats.MIN_SEEDS} seeds a mode" if few else "")
        )
        command, _, _ = _command_and_variant(path.parent)
        claim = (
            "Extra mollification (RPO's shifted mean) lifts hopper-stand where PPO fails "
            "(CleanRL, 8 M steps: PPO 3.1 ± 1.6, RPO 408 ± 203)"
        )
        out.append(Row(TEST, claim, text, verdict, command))
    return out
