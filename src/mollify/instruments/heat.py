"""The heat-equation claims, measured on a real task.

- `heat_experiment`: a stochastic policy's one-step value u(μ, t) = E_{a~N(μ,t)} Q(s, a) solves the
  heat equation u_t = ½ u_μμ with t = σ²; Q(s, ·) is tabulated by rollouts (take a, then follow the
  policy), u computed from the table, the finite-difference residual set against |u_t|.
- `backward_experiment`: going back from u(·, T) to Q(s, ·) amplifies frequency ξ by e^{Tξ²/2}.

Each returns plain numbers (for the CLI and the closing notes) plus the arrays its figure needs;
`run_heat` and `run_backward` are what `mollify theory heat` and `theory backward` do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from scipy.special import ndtr

from mollify.core.evaluation import _batched_apply, episode_keys, q_values
from mollify.core.policies import Policy
from mollify.instruments import figures, smoothing
from mollify.tasks import JaxTask, Task
from mollify.util import checks
from mollify.util.checks import InputError
from mollify.util.io import atomic_write_json


# ---------------------------------------------------------------------------------------------
# Q(s, ·) along one action dimension
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QProfile:
    """Q(s0, a) with a = μ_θ(s0) except component `action_index`, which runs over `actions`."""

    actions: np.ndarray  # (n,) values of the varied component, spanning the action box
    q: np.ndarray  # (n,)
    policy_action: np.ndarray  # μ_θ(s0), (A,)
    action_index: int
    low: float
    high: float


def q_profile(
    task: Task, policy: Policy, theta, *, action_index: int = 0, n_actions: int = 801, seed=0
) -> QProfile:
    if not (0 <= action_index < task.action_dim):
        raise ValueError(f"action-index: must be in [0, {task.action_dim}), got {action_index}")
    if n_actions < 16:
        raise ValueError(f"n-actions: need at least 16 grid points, got {n_actions}")
    mu0 = _policy_action_at_reset(task, policy, theta, seed)
    low, high = float(task.action_low[action_index]), float(task.action_high[action_index])
    grid = np.linspace(low, high, n_actions)
    actions = np.repeat(mu0[None], n_actions, axis=0)
    actions[:, action_index] = grid
    q = q_values(task, policy, theta, actions, seed=seed)
    return QProfile(grid, q, mu0, action_index, low, high)


def _policy_action_at_reset(task, policy, theta, seed) -> np.ndarray:
    obs = _reset_observation(task, seed)
    layers = [(w[None], b[None]) for w, b in policy.layers(jnp.asarray(theta, jnp.float32))]
    return np.asarray(_batched_apply(policy)(layers, jnp.asarray(obs[None, None], jnp.float32)))[
        0, 0
    ].astype(np.float64)


def _reset_observation(task, seed) -> np.ndarray:
    from mollify.core.evaluation import reset_seeds
    from mollify.tasks import HopperTask, LocomotionTask

    if isinstance(task, JaxTask):
        from mollify.core.evaluation import _split_episode_key

        obs, _ = task.reset(_split_episode_key(episode_keys(seed, 1)[0])[0])
        return np.asarray(obs, np.float64)
    seeds = reset_seeds(seed, 1)
    if isinstance(task, HopperTask | LocomotionTask):
        return task.physics.reset(seeds)[1][0]
    env = task.make_vector_env(1)
    try:
        obs, _ = env.reset(seed=[int(seeds[0])])
    finally:
        env.close()
    return np.asarray(obs[0], np.float64)


def heat_from_table(profile: QProfile, mu: np.ndarray, t: np.ndarray) -> np.ndarray:
    """u(μ, t) = E_{a~N(μ,t)} Q(a) for the tabulated Q, (T, P).

    Inside the box Q is integrated by the trapezoid rule against the Gaussian density; outside it
    Q is exactly its edge value (every task clips actions), which contributes Φ tails. A sum of
    Gaussians of the same t solves the heat equation exactly, so what a finite-difference residual
    shows on top is discretisation only. t = 0 gives the interpolated Q.
    """
    a, q = profile.actions, profile.q
    w = np.full(a.size, a[1] - a[0])
    w[[0, -1]] /= 2
    out = np.empty((t.size, mu.size))
    for i, ti in enumerate(t):
        if ti == 0:
            out[i] = np.interp(mu, a, q)
            continue
        s = math.sqrt(ti)
        dens = np.exp(-0.5 * ((a[None, :] - mu[:, None]) / s) ** 2) / (s * math.sqrt(2 * np.pi))
        inside = dens @ (w * q)
        # Mass the trapezoid rule assigns inside vs the exact Φ(high) − Φ(low): renormalise so a
        # constant Q gives exactly that constant.
        exact_inside = ndtr((profile.high - mu) / s) - ndtr((profile.low - mu) / s)
        inside *= exact_inside / np.maximum(dens @ w, 1e-300)
        out[i] = (
            inside + q[0] * ndtr((profile.low - mu) / s) + q[-1] * ndtr((mu - profile.high) / s)
        )
    return out


@dataclass(frozen=True)
class HeatReport:
    profile: QProfile
    mu: np.ndarray
    t: np.ndarray
    u: np.ndarray
    residual: np.ndarray  # interior (T-2, P-2)
    u_t: np.ndarray  # interior
    max_abs_residual: float
    max_abs_u_t: float
    median_relative_residual: float
    monte_carlo: list[dict]  # direct rollouts at a ~ N(μ, t) against u from the table
    gauss_hermite_max_diff: float  # heat_solution on the interpolated table against u
    u_variation: float  # max u − min u over the grid: the scale the difference is set against

    def summary(self) -> dict:
        return {
            "state_action": self.profile.policy_action.tolist(),
            "action_index": self.profile.action_index,
            "t_range": [float(self.t[0]), float(self.t[-1])],
            "max_abs_residual": self.max_abs_residual,
            "max_abs_u_t": self.max_abs_u_t,
            "residual_over_u_t": self.max_abs_residual / max(self.max_abs_u_t, 1e-300),
            "median_relative_residual": self.median_relative_residual,
            "monte_carlo_check": self.monte_carlo,
            "gauss_hermite_max_diff": self.gauss_hermite_max_diff,
            "u_variation": self.u_variation,
        }


def heat_experiment(
    task: Task,
    policy: Policy,
    theta,
    *,
    sigma_min: float = 0.05,
    sigma_max: float = 1.0,
    n_mu: int = 201,
    n_t: int = 81,
    n_actions: int = 801,
    action_index: int = 0,
    mc_samples: int = 2048,
    seed: int = 0,
) -> HeatReport:
    """σ is relative to the action half-range, as everywhere; t = (σ · half-range)²."""
    if not (0 < sigma_min < sigma_max):
        raise ValueError(f"sigma-min/sigma-max: need 0 < min < max, got {sigma_min}, {sigma_max}")
    profile = q_profile(
        task, policy, theta, action_index=action_index, n_actions=n_actions, seed=seed
    )
    half = (profile.high - profile.low) / 2
    spacing = profile.actions[1] - profile.actions[0]
    if sigma_min * half < 2 * spacing:
        raise ValueError(
            f"n-actions: the action grid ({n_actions} points, spacing {spacing:.3g}) is too coarse "
            f"for sigma-min {sigma_min} (σ·half-range = {sigma_min * half:.3g}); need σ ≥ 2 "
            "spacings: use more actions or a larger sigma-min"
        )
    mu = np.linspace(profile.low, profile.high, n_mu)
    t = np.geomspace((sigma_min * half) ** 2, (sigma_max * half) ** 2, n_t)
    u = heat_from_table(profile, mu, t)
    residual = smoothing.heat_residual(u, mu, t)
    u_t = smoothing.heat_time_derivative(u, mu, t)
    rel = np.abs(residual) / np.maximum(np.abs(u_t), 1e-12 * np.abs(u_t).max())
    gh = smoothing.heat_solution(lambda a: np.interp(a, profile.actions, profile.q), mu, t)
    return HeatReport(
        profile=profile,
        mu=mu,
        t=t,
        u=u,
        residual=residual,
        u_t=u_t,
        max_abs_residual=float(np.abs(residual).max()),
        max_abs_u_t=float(np.abs(u_t).max()),
        median_relative_residual=float(np.median(rel)),
        monte_carlo=_monte_carlo_check(task, policy, theta, profile, mu, t, u, mc_samples, seed),
        gauss_hermite_max_diff=float(np.abs(gh[n_t // 4 :] - u[n_t // 4 :]).max()),
        u_variation=float(u.max() - u.min()),
    )


def _monte_carlo_check(task, policy, theta, profile, mu, t, u, n, seed) -> list[dict]:
    """u at μ = μ_θ(s0) and three t, recomputed by direct rollouts of a ~ N(μ, t) (no table)."""
    rng = np.random.default_rng(seed)
    m = profile.policy_action[profile.action_index]
    j = int(np.argmin(np.abs(mu - m)))
    out = []
    for i in (0, len(t) // 2, len(t) - 1):
        actions = np.repeat(profile.policy_action[None], n, axis=0)
        actions[:, profile.action_index] = mu[j] + math.sqrt(t[i]) * rng.standard_normal(n)
        q = q_values(task, policy, theta, actions, seed=seed)
        out.append(
            {
                "t": float(t[i]),
                "mu": float(mu[j]),
                "u_table": float(u[i, j]),
                "u_monte_carlo": float(q.mean()),
                "mc_stderr": float(q.std(ddof=1) / math.sqrt(n)),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# Backward heat
# ---------------------------------------------------------------------------------------------
def backward_experiment(
    profile: QProfile,
    *,
    sigma: float = 0.1,
    delta: float = 1e-6,
    max_amplification: float = 1e8,
    seed=0,
):
    """Invert u(·, T = (σ·half-range)²) + δ-noise back to time 0 on the tabulated Q(s, ·).

    Q is resampled onto the finest grid whose Nyquist frequency ξ_max keeps e^{Tξ_max²/2} below
    `max_amplification` (a finer grid only adds frequencies whose inversion overflows float64).
    δ is relative to the RMS of Q(s, ·) − mean (Q's scale differs by orders of magnitude between
    tasks). Returns (BackwardHeatResult, summary). The summary gives the cut-off ξ_c above which the
    amplified perturbation δ·e^{Tξ²/2} exceeds Q's own Fourier amplitude (that information is lost)
    and the relative error of the recovered profile.
    """
    half = (profile.high - profile.low) / 2
    T = (sigma * half) ** 2
    width = profile.high - profile.low
    xi_max = math.sqrt(2 * math.log(max_amplification) / T)
    n = int(min(profile.actions.size, max(16, math.floor(width * xi_max / math.pi))))
    grid = np.linspace(profile.low, profile.high, n)
    q = np.interp(grid, profile.actions, profile.q)
    q = q - q.mean()
    dx = float(grid[1] - grid[0])
    scale = float(np.sqrt(np.mean(q**2))) or 1.0
    delta_abs = delta * scale  # δ is relative to Q's own RMS variation
    res = smoothing.backward_heat_amplification(q, T, dx, delta_abs, seed=seed)
    signal = np.abs(np.fft.rfft(q)) / math.sqrt(n)  # same normalisation as δ (RMS per point)
    lost = np.nonzero(delta_abs * res.predicted[1:] > signal[1:])[0]
    xi_c = float(res.xi[1 + lost[0]]) if lost.size else float("inf")
    v = res.valid
    rows = np.nonzero(v)[0]
    rows = rows[:: max(1, rows.size // 8)]
    summary = {
        "T": T,
        "sigma": sigma,
        "delta": delta,
        "delta_abs": delta_abs,
        "grid_points": n,
        "n_frequencies": int(res.xi.size),
        "n_valid_frequencies": int(v.sum()),
        "max_rel_error_valid": res.max_relative_error(),
        "max_predicted_valid": float(res.predicted[v].max()) if v.any() else float("nan"),
        "cutoff_xi": xi_c,
        "recovered_relative_error": _recovered_error(q, T, dx, delta_abs, seed),
        "table": [
            {
                "xi": float(res.xi[i]),
                "measured": float(res.measured[i]),
                "predicted": float(res.predicted[i]),
            }
            for i in rows
        ],
    }
    summary["notes"] = _backward_notes(summary, res)
    return res, summary


def _backward_notes(summary: dict, res) -> dict:
    """Why a number of backward.json is missing: JSON has no NaN/Infinity, so a non-finite value
    is written as null (`atomic_write_json`) and its reason is kept here under the same key."""
    reasons = {
        "cutoff_xi": "no frequency on this grid loses its information: the amplified δ stays "
        f"below Q's own spectrum up to the Nyquist frequency {float(res.xi[-1]):.4g}",
        "recovered_relative_error": "the inversion overflows float64 (e^{Tξ²/2} past 1e308)",
        "max_rel_error_valid": "no frequency's amplification stands above float64 rounding",
        "max_predicted_valid": "no frequency's amplification stands above float64 rounding",
    }
    return {k: why for k, why in reasons.items() if not math.isfinite(summary[k])}


def _recovered_error(q, T, dx, delta, seed) -> float:
    """‖backward(forward(q) + δ-noise) − q‖ / ‖q‖ (periodic, exact Fourier propagators)."""
    xi = 2 * np.pi * np.fft.rfftfreq(q.size, dx)
    forward = np.fft.irfft(np.fft.rfft(q) * np.exp(-T * xi**2 / 2), n=q.size)
    noisy = forward + delta * np.random.default_rng(seed).standard_normal(q.size)
    with np.errstate(over="ignore", invalid="ignore"):
        back = smoothing.backward_heat(noisy, T, dx)
    err = np.linalg.norm(back - q) / max(np.linalg.norm(q), 1e-300)
    return float(err) if np.isfinite(err) else float("inf")


# ---------------------------------------------------------------------------------------------
# The commands: input checks sized to these experiments, then run and write
# ---------------------------------------------------------------------------------------------
HEAT_MU_ROWS = 201  # heat_experiment's n_mu: rows of Gaussian weights per action


def check_action_index(task: Task, action_index: int) -> None:
    if not (0 <= action_index < task.action_dim):
        raise InputError(
            f"action-index: must be in [0, {task.action_dim}) for task {task.name!r}, "
            f"got {action_index}"
        )


def check_q_table_memory(task: Task, n_actions: int, rows: int) -> None:
    """Q(s, ·) on n_actions actions: the action batch and returns (float64), the rollouts' states,
    and, for the heat table, `rows` μ values × n_actions Gaussian weights (three temporaries)."""
    per_action = 8 * (task.action_dim + 2) + 4 * task.obs_dim + 8 * 3 * rows
    checks.fits_in_memory(
        "n-actions", n_actions, per_action * n_actions, f"{n_actions} actions of Q-table arrays"
    )


def check_mc_memory(task: Task, mc_samples: int) -> None:
    per_sample = 8 * (task.action_dim + 2) + 4 * task.obs_dim
    checks.fits_in_memory(
        "mc-samples", mc_samples, per_sample * mc_samples, f"{mc_samples} rollouts' arrays"
    )


def check_heat_options(
    task: Task,
    *,
    sigma_min: float,
    sigma_max: float,
    n_actions: int,
    action_index: int,
    mc_samples: int,
) -> None:
    """Refuse bad `theory heat` input (one line naming the field) before any rollout."""
    smin = checks.positive("sigma-min", sigma_min)
    smax = checks.positive("sigma-max", sigma_max)
    if not smax > smin:
        raise InputError(f"sigma-max: must be > sigma-min ({smin:g}), got {smax:g}")
    checks.count("n-actions", n_actions, minimum=16)
    checks.count("mc-samples", mc_samples, minimum=2)
    check_action_index(task, action_index)
    check_q_table_memory(task, n_actions, rows=HEAT_MU_ROWS)
    check_mc_memory(task, mc_samples)


def check_backward_options(
    task: Task, *, sigma: float, delta: float, n_actions: int, action_index: int
) -> None:
    """Refuse bad `theory backward` input before any rollout."""
    checks.sigma_value("sigma", sigma, allow_zero=False)
    checks.positive("delta", delta)
    checks.count("n-actions", n_actions, minimum=16)
    check_action_index(task, action_index)
    check_q_table_memory(task, n_actions, rows=0)


def run_heat(
    task: Task,
    policy: Policy,
    theta,
    out: Path | None,
    *,
    sigma_min: float = 0.05,
    sigma_max: float = 1.0,
    n_actions: int = 801,
    action_index: int = 0,
    mc_samples: int = 2048,
    seed: int = 0,
    command: str | None = None,
) -> tuple[HeatReport, dict]:
    """What `mollify theory heat` does: the experiment, then heat.png and heat.json in `out`."""
    report = heat_experiment(
        task,
        policy,
        theta,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        n_mu=HEAT_MU_ROWS,
        n_actions=n_actions,
        action_index=action_index,
        mc_samples=mc_samples,
        seed=seed,
    )
    summary = {"task": task.name, "command": command, **report.summary()}
    if out is not None:
        figures.heat(report, Path(out) / "heat.png")
        atomic_write_json(Path(out) / "heat.json", summary)
    return report, summary


def run_backward(
    task: Task,
    policy: Policy,
    theta,
    out: Path | None,
    *,
    sigma: float = 0.1,
    delta: float = 1e-6,
    n_actions: int = 801,
    action_index: int = 0,
    seed: int = 0,
    command: str | None = None,
) -> tuple[smoothing.BackwardHeatResult, dict]:
    """What `mollify theory backward` does: tabulate Q(s, ·), invert u(·, T) + δ, write
    backward.png and backward.json in `out`."""
    profile = q_profile(
        task, policy, theta, action_index=action_index, n_actions=n_actions, seed=seed
    )
    result, summary = backward_experiment(profile, sigma=sigma, delta=delta, seed=seed)
    summary = {"task": task.name, "command": command, **summary}
    if out is not None:
        figures.backward(result, summary, Path(out) / "backward.png")
        atomic_write_json(Path(out) / "backward.json", summary)
    return result, summary
