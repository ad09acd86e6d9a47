"""Roughness of a landscape: the local Hölder exponent of J_σ around a policy.

`holder_exponent` measures how fast |f(x0 + δd) − f(x0)| shrinks with δ: D(δ) ∝ δ^α. α = 1 means a
usable gradient at that scale; α < 1 means the differences shrink more slowly than δ (a fractal
landscape, where finite differences and gradients say little). The mechanism, a chaotic closed
loop, is measured by `lyapunov`; `run` (what `mollify roughness` does) prints both side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mollify.core.policies import Policy, PolicyError
from mollify.tasks import Task, TaskError

DEFAULT_RADII = np.geomspace(1e-3, 1e-1, 12)


# ---------------------------------------------------------------------------------------------
# Hölder exponent
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: the array fields have no truth value
class HolderEstimate:
    """Fit of log D(δ) = α log δ + c; `fitted` marks the radii that entered it (D > 0)."""

    alpha: float
    ci_low: float
    ci_high: float
    radii: np.ndarray
    mean_abs_diff: np.ndarray  # D(δ) for every radius, fitted or not
    intercept: float
    n_directions: int
    confidence: float
    fitted: np.ndarray  # bool, per radius

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "intercept": self.intercept,
            "n_directions": self.n_directions,
            "radii": self.radii.tolist(),
            "mean_abs_diff": self.mean_abs_diff.tolist(),
            "fitted": self.fitted.tolist(),
        }


def _check_radii(radii) -> np.ndarray:
    radii = np.asarray(DEFAULT_RADII if radii is None else radii, dtype=np.float64)
    if radii.ndim != 1 or radii.size < 3:
        raise ValueError(f"radii: need at least 3 radii in a 1-D sequence, got shape {radii.shape}")
    bad = ~np.isfinite(radii) | (radii <= 0)
    if bad.any():
        raise ValueError(f"radii: must be finite and > 0, got {radii[bad][0]:g}")
    steps = np.nonzero(np.diff(radii) <= 0)[0]
    if steps.size:
        i = steps[0]
        raise ValueError(
            f"radii: must be strictly increasing, got {radii[i + 1]:g} after {radii[i]:g}"
        )
    return radii


def _slopes(log_r: np.ndarray, log_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of each row of log_d against log_r."""
    xc = log_r - log_r.mean()
    slope = (log_d @ xc) / (xc @ xc)
    return slope, log_d.mean(axis=-1) - slope * log_r.mean()


def check_holder_memory(field: str, n_directions: int, n_radii: int, dim: int) -> None:
    """Refuse an `n_directions` whose probe points (float64, built whole, then copied into one
    batch) cannot fit in memory."""
    from mollify.util import checks

    nbytes = 8 * 2 * (n_directions * n_radii + 1) * dim
    what = f"{n_directions} × {n_radii} radii × {dim} parameters of float64 probe points"
    checks.fits_in_memory(field, n_directions, nbytes, what)


def holder_exponent(
    f,
    x0,
    *,
    radii=None,
    n_directions: int = 64,
    seed: int = 0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
) -> HolderEstimate:
    """Local Hölder exponent of `f` at `x0` from D(δ) = mean_d |f(x0 + δd) − f(x0)|.

    `f` maps a batch (N, d) to (N,) (NumPy or JAX; it receives a float64 NumPy array and is called
    once, on all n_directions × len(radii) + 1 points). Directions are Gaussian draws normalised to
    unit length from `np.random.default_rng(seed)`. Radii are absolute distances in x-space
    (default `DEFAULT_RADII`, 12 geometric steps over [1e-3, 1e-1]; not scaled by |x0|, so the
    scale the exponent describes is the one you pass). The CI is a percentile bootstrap over
    directions (resampled with replacement, refitted). Radii with D = 0 (f flat there) are left
    out of the fit; fewer than 3 left raises ValueError.
    """
    x0 = np.atleast_1d(np.asarray(x0, dtype=np.float64))
    if x0.ndim != 1:
        raise ValueError(f"x0: must be a vector (d,), got shape {x0.shape}")
    radii = _check_radii(radii)
    if int(n_directions) < 2:
        raise ValueError(f"n_directions: need at least 2, got {n_directions}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    check_holder_memory("n_directions", int(n_directions), radii.size, x0.size)
    n_dir, n_r, dim = int(n_directions), radii.size, x0.size

    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_dir, dim))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    points = x0 + radii[None, :, None] * dirs[:, None, :]  # (n_dir, n_r, d)
    batch = np.concatenate([x0[None], points.reshape(-1, dim)])
    values = np.asarray(f(batch), dtype=np.float64)
    if values.shape != (batch.shape[0],):
        raise ValueError(f"f: must map (N, d) to (N,), got {values.shape} for N={batch.shape[0]}")
    if not np.all(np.isfinite(values)):
        raise ValueError("f: returned non-finite values")
    diffs = np.abs(values[1:].reshape(n_dir, n_r) - values[0])  # (n_dir, n_r)

    mean_abs = diffs.mean(axis=0)
    fitted = mean_abs > 0
    if fitted.sum() < 3:
        raise ValueError(
            f"f is flat at this scale: |f(x0 + δd) − f(x0)| = 0 for all but {fitted.sum()} of "
            f"{n_r} radii in [{radii[0]:.3g}, {radii[-1]:.3g}]; pass larger radii"
        )
    log_r = np.log(radii[fitted])
    alpha, intercept = _slopes(log_r, np.log(mean_abs[fitted]))

    idx = rng.integers(0, n_dir, size=(int(n_bootstrap), n_dir))
    boot = diffs[:, fitted][idx].mean(axis=1)  # (n_bootstrap, n_fitted)
    ok = np.all(boot > 0, axis=1)  # a resample of only flat directions has no logarithm
    with np.errstate(divide="ignore"):
        boot_alpha, _ = _slopes(log_r, np.log(np.where(ok[:, None], boot, 1.0)))
    boot_alpha = boot_alpha[ok]
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(boot_alpha, [tail, 100 - tail]) if boot_alpha.size else (np.nan,) * 2
    return HolderEstimate(
        alpha=float(alpha),
        ci_low=float(lo),
        ci_high=float(hi),
        radii=radii,
        mean_abs_diff=mean_abs,
        intercept=float(intercept),
        n_directions=n_dir,
        confidence=float(confidence),
        fitted=fitted,
    )


# ---------------------------------------------------------------------------------------------
# The command: α of J_σ per σ beside λ and its predicted exponent
# ---------------------------------------------------------------------------------------------
N_RADII = 10  # radii of the command's fit, geometric over 1e-4…1e-1 × ‖θ‖


def check_options(
    sigmas, *, directions: int, episodes: int, steps: int | None
) -> tuple[float, ...]:
    """Refuse bad `roughness` options (one line naming the field); returns the σ grid."""
    from mollify.util import checks

    values = checks.sigma_grid("sigmas", sigmas, allow_zero=True)
    checks.count("directions", directions, minimum=4)
    checks.count("episodes", episodes)
    if steps is not None:
        checks.count("steps", steps)
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
    directions: int = 32,
    episodes: int = 16,
    steps: int | None = None,
    seed: int = 0,
    policy_source: str = "init",
    command: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Hölder α of J_σ at θ for each σ (discounted return, common random numbers), the closed
    loop's Lyapunov exponent λ and the exponent it predicts; roughness.json in `out`."""
    from mollify.core.evaluation import evaluate
    from mollify.instruments import lyapunov
    from mollify.util.io import atomic_write_json

    sigmas = tuple(float(s) for s in sigmas)
    theta = np.asarray(theta, np.float64)
    radii = np.geomspace(1e-4, 1e-1, N_RADII) * float(np.linalg.norm(theta))
    result = {"task": task.name, "policy": policy_source, "command": command}
    result |= {"radii": radii.tolist(), "holder": {}}
    tick = progress or (lambda _done, _total: None)
    for i, s in enumerate(sigmas):

        def j_sigma(points, s=s):
            res = evaluate(task, policy, points, sigma=s, episodes=episodes, seed=seed)
            return res.discounted.mean(axis=1)

        est = holder_exponent(j_sigma, theta, radii=radii, n_directions=directions, seed=seed)
        result["holder"][s] = {"alpha": est.alpha, "ci_low": est.ci_low, "ci_high": est.ci_high}
        tick(i + 1, len(sigmas) + 1)
    try:
        lam = lyapunov.lyapunov_exponent(
            task, policy, theta, seed=seed, **({"steps": steps} if steps else {})
        )
    except (TaskError, PolicyError, ValueError) as exc:
        lam, result["lyapunov_error"] = float("nan"), str(exc)
    tick(len(sigmas) + 1, len(sigmas) + 1)
    result["lyapunov"] = lam
    result["gamma"] = task.gamma
    if math.isfinite(lam):
        pred = lyapunov.predicted_holder_exponent(lam, task.gamma)
        result["predicted_holder"], result["predicted_nontrivial"] = pred.alpha, pred.nontrivial
    if out is not None:
        atomic_write_json(Path(out) / "roughness.json", result)
    return result
