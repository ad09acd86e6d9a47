"""The uncertainty principle on a real task: a good region of width w around θ* is erased by a
mollifier with σ ≳ w. `run` is what `mollify theory uncertainty` does."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mollify.core import evaluation
from mollify.core.evaluation import evaluate
from mollify.core.policies import Policy
from mollify.instruments import figures, smoothing
from mollify.instruments.landscape import random_directions
from mollify.tasks import Task
from mollify.util import checks
from mollify.util.checks import InputError
from mollify.util.io import atomic_write_json

N_RADII = 41  # points along each radial profile


@dataclass(frozen=True)
class UncertaintyReport:
    radii: np.ndarray
    radial_profiles: np.ndarray  # (directions, radii): J(θ* + r d)
    j_star: float
    j_background: float
    widths: np.ndarray  # per direction
    width: float  # median
    param_sigmas: np.ndarray
    j_param: np.ndarray  # J̃_σ(θ*) (mean), per σ
    j_param_se: np.ndarray
    action_sigmas: np.ndarray
    j_action: np.ndarray  # J_σ(θ*) per σ
    j_action_se: np.ndarray
    erasure_param: float
    erasure_action: float
    heisenberg: list[dict]
    drop: float

    def summary(self) -> dict:
        """JSON-ready numbers; an optimum never erased within the grid is null with its reason
        (never Infinity)."""
        notes = {}
        for name, value, grid in (
            ("erasure_sigma_param", self.erasure_param, self.param_sigmas),
            ("erasure_sigma_action", self.erasure_action, self.action_sigmas),
        ):
            if not math.isfinite(value):
                notes[name] = (
                    f"the mollified J(θ*) keeps more than {1 - self.drop:.0%} of its advantage "
                    f"over the background up to the largest σ measured ({float(grid[-1]):g})"
                )
        finite = math.isfinite(self.erasure_param) and self.width > 0
        return {
            "J_star": self.j_star,
            "J_background": self.j_background,
            "drop_fraction": self.drop,
            "width_w": self.width,
            "width_quartiles": np.quantile(self.widths, [0.25, 0.75]).tolist(),
            "predicted_erasure_scale": self.width,
            "erasure_sigma_param": _finite_or_none(self.erasure_param),
            "erasure_over_width": self.erasure_param / self.width if finite else None,
            "erasure_sigma_action": _finite_or_none(self.erasure_action),
            "erasure_notes": notes,
            "J_param": dict(
                zip(map(float, self.param_sigmas), map(float, self.j_param), strict=True)
            ),
            "J_action": dict(
                zip(map(float, self.action_sigmas), map(float, self.j_action), strict=True)
            ),
            "heisenberg": self.heisenberg,
        }


def uncertainty_experiment(
    task: Task,
    policy: Policy,
    theta,
    *,
    drop: float = 0.5,
    n_directions: int = 16,
    max_radius: float = 2.0,
    n_radii: int = N_RADII,
    param_sigmas=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
    action_sigmas=(0.03, 0.1, 0.3, 1.0, 3.0),
    samples: int = 32,
    episodes: int = 16,
    seed: int = 0,
    start: str = "random",
    progress: Callable[[str], None] | None = None,
) -> UncertaintyReport:
    """Width of the good region around θ* and what mollifiers of growing σ leave of it.

    Distances are in filter-normalised units (1 = each layer moved by its own norm), the same
    units as `landscape --mode param`. w_d is the smallest radius along direction d at which J has
    lost `drop` of its advantage over the background (the median of J on the outermost shell); w is
    the median over directions. J̃_σ(θ*) averages J(θ* + σ z d) over z ~ N(0, 1) and random
    normalised directions d; the erasure σ is where J̃_σ(θ*) (or the action-space J_σ(θ*)) has lost
    `drop` of the advantage. The uncertainty principle predicts erasure at σ of the order of w.
    `start` as in `evaluate`: every J here is taken over the same starts.
    """
    if not 0 < drop < 1:
        raise ValueError(f"drop: must be in (0, 1), got {drop}")
    say = progress or (lambda _msg: None)
    theta = np.asarray(theta, np.float64)
    directions = random_directions(policy, theta, n_directions, seed + 1000)
    radii = np.linspace(0.0, max_radius, n_radii)
    say("radial profiles")
    points = theta + (radii[None, :, None] * directions[:, None, :]).reshape(-1, theta.size)
    j = evaluate(task, policy, points, episodes=episodes, seed=seed, start=start).discounted.mean(
        axis=1
    )
    profiles = j.reshape(n_directions, n_radii)
    j_star = float(profiles[:, 0].mean())
    j_bg = float(np.median(profiles[:, -1]))
    threshold = j_star - drop * (j_star - j_bg)
    widths = np.array([_first_crossing(radii, p, threshold, j_star > j_bg) for p in profiles])

    say("parameter-space mollification")
    rng = np.random.default_rng(seed)
    param_sigmas = np.asarray(param_sigmas, np.float64)
    j_param, j_param_se = [], []
    pert_dirs = random_directions(policy, theta, samples, seed + 2000)
    for s in param_sigmas:
        z = rng.standard_normal(samples)
        pts = theta + s * z[:, None] * pert_dirs
        per = evaluate(
            task, policy, pts, episodes=episodes, seed=seed, start=start
        ).discounted.mean(axis=1)
        j_param.append(per.mean())
        j_param_se.append(per.std(ddof=1) / math.sqrt(samples))
    say("action-space mollification")
    action_sigmas = np.asarray(action_sigmas, np.float64)
    j_action, j_action_se = [], []
    for s in action_sigmas:
        r = evaluate(task, policy, theta, sigma=float(s), episodes=episodes, seed=seed, start=start)
        j_action.append(r.discounted.mean())
        j_action_se.append(r.discounted.std(ddof=1) / math.sqrt(r.discounted.size))
    j_param, j_action = np.asarray(j_param), np.asarray(j_action)
    return UncertaintyReport(
        radii=radii,
        radial_profiles=profiles,
        j_star=j_star,
        j_background=j_bg,
        widths=widths,
        width=float(np.median(widths)),
        param_sigmas=param_sigmas,
        j_param=j_param,
        j_param_se=np.asarray(j_param_se),
        action_sigmas=action_sigmas,
        j_action=j_action,
        j_action_se=np.asarray(j_action_se),
        erasure_param=_first_crossing(param_sigmas, j_param, threshold, j_star > j_bg),
        erasure_action=_first_crossing(action_sigmas, j_action, threshold, j_star > j_bg),
        heisenberg=[
            dict(
                zip(
                    ("sigma", "dx", "dxi", "product"),
                    (float(s), *map(float, smoothing.heisenberg_product(s))),
                    strict=True,
                )
            )
            | {"bound": smoothing.HEISENBERG_BOUND}
            for s in (0.1, 1.0, 10.0)
        ],
        drop=drop,
    )


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _first_crossing(x, y, threshold, above: bool) -> float:
    """Smallest x where y crosses `threshold` (linear interpolation); inf if it never does."""
    bad = y <= threshold if above else y >= threshold
    idx = np.nonzero(bad)[0]
    if idx.size == 0:
        return float("inf")
    k = int(idx[0])
    if k == 0:
        return 0.0
    x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
    return float(x0 + (threshold - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)


def check_options(
    *,
    drop: float,
    directions: int,
    samples: int,
    episodes: int,
    max_radius: float,
    param_sigmas,
    action_sigmas,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Refuse bad `theory uncertainty` options (one line naming the field); returns the two σ
    grids."""
    if not (0 < drop < 1):  # also refuses NaN
        raise InputError(f"drop: must be in (0, 1), got {drop:g}")
    checks.count("directions", directions, minimum=2)
    checks.count("samples", samples, minimum=2)
    checks.count("episodes", episodes)
    checks.positive("max-radius", max_radius)
    ps = checks.sigma_grid("param-sigmas", param_sigmas, allow_zero=False)
    acs = checks.sigma_grid("action-sigmas", action_sigmas, allow_zero=False)
    return ps, acs


def check_memory(
    task: Task, policy: Policy, *, directions: int, samples: int, episodes: int
) -> None:
    """Refuse a run whose radial probe points or rollouts cannot fit in memory."""
    checks.fits_in_memory(
        "directions",
        directions,
        8 * 2 * (directions * N_RADII + directions) * policy.n_params,
        f"{directions} × {N_RADII} radii × {policy.n_params} parameters of float64 points",
    )
    evaluation.check_memory(task, directions * N_RADII, episodes)
    evaluation.check_memory(task, samples, episodes, field="samples")


def run(
    task: Task,
    policy: Policy,
    theta,
    out: Path | None,
    *,
    policy_source: str = "init",
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
    **options,
) -> tuple[UncertaintyReport, dict]:
    """What `mollify theory uncertainty` does: `uncertainty_experiment(**options)`, then
    uncertainty.png and uncertainty.json in `out`."""
    report = uncertainty_experiment(task, policy, theta, progress=progress, **options)
    summary = {"task": task.name, "policy": policy_source, "command": command, **report.summary()}
    summary["start"] = options.get("start", "random")
    if out is not None:
        figures.uncertainty(report, Path(out) / "uncertainty.png")
        atomic_write_json(Path(out) / "uncertainty.json", summary)
    return report, summary
