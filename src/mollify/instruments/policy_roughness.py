"""Roughness of a policy's J_σ on a task, what `mollify roughness` reports: per σ the Hölder
exponent at the smallest resolved scales (Monte-Carlo noise removed), the crossover δ* below
which J_σ is smooth, and the noise floor; per σ > 0 the same exponent of raw J (σ = 0) on exactly
J_σ's radii (`matched`: J_σ's resolved radii start far above J's, so comparing each one's own
smallest scales compares different scales); beside them the closed loop's Lyapunov exponent λ and
the exponent −log γ/λ it predicts."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mollify.core.policies import Policy, PolicyError
from mollify.instruments.roughness import (
    HolderEstimate,
    check_holder_memory,
    compare_on_radii,
    holder_exponent,
)
from mollify.tasks import Task, TaskError

N_RADII = 16  # radii of the command's fit, geometric over RADII_RELATIVE × ‖θ‖
RADII_RELATIVE = (1e-4, 1.0)


def check_options(
    sigmas, *, directions: int, episodes: int, steps: int | None, start: str = "fixed"
) -> tuple[float, ...]:
    """Refuse bad `roughness` options (one line naming the field); returns the σ grid."""
    from mollify.tasks import check_start
    from mollify.util import checks

    values = checks.sigma_grid("sigmas", sigmas, allow_zero=True)
    checks.count("directions", directions, minimum=4)
    checks.count("episodes", episodes, minimum=2)
    if steps is not None:
        checks.count("steps", steps)
    check_start(start)
    return values


def check_memory(task: Task, policy: Policy, *, directions: int, episodes: int) -> None:
    """Refuse a `roughness` run whose probe points or rollouts cannot fit in memory."""
    from mollify.core import evaluation

    check_holder_memory("directions", directions, N_RADII, policy.n_params)
    evaluation.check_memory(task, directions * N_RADII + 1, episodes)


def run(
    task: Task,
    policy: Policy,
    theta,
    out: Path | None,
    *,
    sigmas,
    directions: int = 16,
    episodes: int = 256,
    steps: int | None = None,
    seed: int = 0,
    start: str = "fixed",
    radii_relative: tuple[float, float] = RADII_RELATIVE,
    policy_source: str = "init",
    command: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Hölder α of J_σ at θ for each σ (discounted return; `episodes` samples paired across θ by
    common random numbers, their Monte-Carlo noise removed), its crossover scale δ*, and the
    closed loop's Lyapunov exponent λ with the exponent −log γ/λ it predicts; roughness.json in
    `out`. With a fixed start, σ = 0 is deterministic and runs one episode. `matched` holds, per
    σ > 0, α of J_σ and of raw J on the same radii (see `matched`); raw J is measured for it even
    when σ = 0 is not among `sigmas`."""
    from mollify.core.evaluation import evaluate
    from mollify.instruments import lyapunov
    from mollify.util.io import atomic_write_json

    sigmas = tuple(float(s) for s in sigmas)
    theta = np.asarray(theta, np.float64)
    scale = float(np.linalg.norm(theta))
    radii = np.geomspace(*radii_relative, N_RADII) * scale
    result = {"task": task.name, "policy": policy_source, "command": command, "start": start}
    result |= {"episodes": episodes, "directions": directions, "theta_norm": scale}
    result |= {"radii": radii.tolist(), "holder": {}}
    tick = progress or (lambda _done, _total: None)
    # Raw J (σ = 0) is measured on the same rays and radii as every J_σ (same seed ⇒ same
    # directions), also when σ = 0 was not asked for: `matched` compares them there.
    extra = 0.0 not in sigmas and any(s > 0 for s in sigmas)
    todo = (*sigmas, 0.0) if extra else sigmas
    total = len(todo) + 1
    estimates = {}
    for i, s in enumerate(todo):
        n = 1 if (s == 0.0 and start == "fixed") else episodes

        def j_sigma(points, s=s, n=n):
            res = evaluate(task, policy, points, sigma=s, episodes=n, seed=seed, start=start)
            return res.discounted  # (N, n): paired samples

        est = holder_exponent(j_sigma, theta, radii=radii, n_directions=directions, seed=seed)
        estimates[s] = est
        if s in sigmas:
            result["holder"][s] = summarize(est, scale)
        tick(i + 1, total)
    result["matched"] = {
        s: matched(estimates[0.0], est, scale, seed=seed) for s, est in estimates.items() if s > 0
    }
    try:
        lam = lyapunov.lyapunov_exponent(
            task, policy, theta, seed=seed, start=start, **({"steps": steps} if steps else {})
        )
    except (TaskError, PolicyError, ValueError) as exc:
        lam, result["lyapunov_error"] = float("nan"), str(exc)
    tick(total, total)
    result["lyapunov"] = lam if math.isfinite(lam) else None  # JSON has no NaN or infinity
    if lam == -math.inf:
        result["lyapunov_error"] = "λ = −∞: the tangent collapsed (singular closed-loop Jacobian)"
    elif result["lyapunov"] is None and "lyapunov_error" not in result:
        result["lyapunov_error"] = "every start terminated before a step was counted"
    result["gamma"] = task.gamma
    if math.isfinite(lam):
        pred = lyapunov.predicted_holder_exponent(lam, task.gamma)
        result["predicted_holder"], result["predicted_nontrivial"] = pred.alpha, pred.nontrivial
    if out is not None:
        atomic_write_json(Path(out) / "roughness.json", result)
    return result


def summarize(est: HolderEstimate, scale: float = 1.0) -> dict:
    """The numbers a table shows for one estimate, JSON-safe (no NaN, no infinity: null, with the
    reason in `note` or `crossover_text`); radii and δ* also relative to `scale` (‖θ‖)."""
    resolved = np.asarray(est.resolved)
    floor = np.asarray(est.noise_floor)

    def num(x):
        return float(x) if math.isfinite(x) else None

    entry = {
        "alpha": num(est.alpha),
        "ci_low": num(est.ci_low),
        "ci_high": num(est.ci_high),
        "alpha_below": num(est.alpha_below),
        "alpha_above": num(est.alpha_above),
        "crossover": num(est.crossover),
        "crossover_relative": num(est.crossover / scale),
        "crossover_ci_relative": [num(c / scale) for c in est.crossover_ci],
        "noise_floor_rms": float(np.sqrt(np.median(floor))),
        "n_resolved": int(resolved.sum()),
        "smallest_resolved_relative": (
            float(est.radii[resolved][0] / scale) if resolved.any() else None
        ),
        "samples": est.n_samples,
        "note": est.note,
        "structure": np.asarray(est.structure).tolist(),
        "noise_floor": floor.tolist(),
        "local_alpha": [num(x) for x in np.asarray(est.local_alpha)],
    }
    entry["crossover_text"] = _crossover_words(
        est.crossover / scale, [c / scale for c in est.crossover_ci], entry["n_resolved"]
    )
    return entry


def matched(raw: HolderEstimate, est: HolderEstimate, scale: float = 1.0, *, seed: int = 0) -> dict:
    """α(J_σ) and α(J) on the same radii, JSON-safe (null plus `note`, never NaN): on the radii
    J_σ's α is fitted on (its smallest resolved ones), local exponents of both on every radius
    where J_σ is resolved, and both α's on the resolved radii at or below δ*(σ), where J_σ is
    said to be smooth (`below_delta_star`). Radii relative to `scale` (‖θ‖)."""
    fitted, resolved = np.asarray(est.fitted, bool), np.asarray(est.resolved, bool)
    entry = _pair(compare_on_radii(raw, est, fitted, seed=seed), est.radii[fitted] / scale)
    if not fitted.any():
        entry["note"] = f"J_σ is resolved on no fit: {est.note}"
    local = compare_on_radii(raw, est, resolved, seed=seed)
    entry["local"] = {
        "radii_relative": (est.radii[resolved] / scale).tolist(),
        "alpha_sigma": [_num(x) for x in local["local_smooth"][resolved]],
        "alpha_raw": [_num(x) for x in local["local_rough"][resolved]],
    }
    cross = est.crossover
    below = resolved & (est.radii <= cross)  # δ* = ∞: all resolved radii; NaN: none
    if resolved.sum() < 3 or math.isnan(cross):
        why = "δ*(σ) not measured (fewer than 3 resolved radii)"
    elif cross == 0.0:
        why = "J_σ is rough at every measured scale (δ*(σ) below the smallest resolved radius)"
    else:
        why = ""
    block = _pair(compare_on_radii(raw, est, below, seed=seed), est.radii[below] / scale)
    block["note"] = why or block["note"]
    words = _crossover_words(cross / scale, [c / scale for c in est.crossover_ci], resolved.sum())
    entry["below_delta_star"] = {
        "delta_star_relative": _num(cross / scale),
        "delta_star_text": words,
    }
    entry["below_delta_star"] |= block
    return entry


def _pair(cmp: dict, radii_relative: np.ndarray) -> dict:
    return {
        "radii_relative": radii_relative.tolist(),
        "alpha_sigma": _num(cmp["alpha_smooth"]),
        "alpha_sigma_ci": [_num(x) for x in cmp["ci_smooth"]],
        "alpha_raw": _num(cmp["alpha_rough"]),
        "alpha_raw_ci": [_num(x) for x in cmp["ci_rough"]],
        "difference": _num(cmp["difference"]),  # α(J_σ) − α(J), paired bootstrap CI
        "difference_ci": [_num(x) for x in cmp["ci_difference"]],
        "note": cmp["note"],
    }


def _num(x) -> float | None:
    """JSON has no NaN or infinity: null (the reason goes beside it)."""
    return float(x) if math.isfinite(x) else None


def _crossover_words(c: float, ci, n_resolved: int) -> str:
    """δ* (relative) with its CI, in words where it is not a number."""
    if n_resolved < 3 or math.isnan(c):
        return "not measured (too few resolved radii)"
    if c == 0.0:
        return "below the smallest resolved radius (rough at every measured scale)"
    if math.isinf(c):
        return "above the largest radius (smooth at every measured scale)"

    def bound(x):
        if math.isnan(x):
            return "?"
        return "below range" if x == 0.0 else ("above range" if math.isinf(x) else f"{x:.2g}")

    return f"{c:.3g} [{bound(ci[0])}, {bound(ci[1])}]"
