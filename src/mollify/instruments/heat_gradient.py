"""The heat-equation claim as a test: the policy gradient training uses is ∂u/∂μ at t = σ².

At a state s, a Gaussian policy's value as a function of its mean on one action component i is
u(μ, σ²) = E_{a~N(μ, σ²)} Q^π_σ(s, a), where Q^π_σ(s, a) takes a, then follows the policy WITH its
action noise (what training's returns are). Two estimators of ∂u/∂μ at μ = μ_θ(s)_i that share no
random numbers, so the data could disagree:

- B (heat side): Q^π_σ(s, ·) tabulated on a grid of component-i actions spanning the box, M noisy
  continuations per grid action (common random numbers across the grid), u(·, t) by the Gaussian
  convolution of `heat.heat_from_table`, ∂u/∂μ by a central difference of its weights (u is linear
  in the table, so each continuation column gives one value: SE from the columns, CI by bootstrap).
- A (training side): the score-function estimate mean((R_j − b_j)(a_j − μ)/σ²) from N actions
  a_j ~ N(μ, σ²) (unclipped; the task clips), each with its own continuation, leave-one-out
  baseline b_j (independent of a_j, so unbiased).

Per (state, σ) pair: z = (g_A − g_B)/√(se_A² + se_B²), the ratio g_A/g_B and the signs. A short
ascent μ ← μ + η ĝ_A(μ) with fresh samples per step is scored on u from the table, beside the
table's own ascent μ ← μ + η ∂u/∂μ. `time_factor` ≠ 1 builds u at t = factor·σ² from the same
data: the negative control a correct instrument must reject.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtr
from scipy.stats import chi2

from mollify.core import noise as noise_lib
from mollify.core.evaluation import _split_episode_key, episode_keys
from mollify.core.policies import Policy
from mollify.tasks import JaxTask, Task
from mollify.util import checks
from mollify.util.checks import InputError
from mollify.util.io import atomic_write_json

DEFAULTS = {
    "sigmas": (0.1, 0.3, 1.0),
    "n_states": 4,
    "samples": 4096,
    "grid": 41,
    "continuations": 64,
    "ascent_steps": 5,
    "ascent_samples": 512,
    "learning_rate": 0.25,
    "action_index": 0,
    "time_factor": 1.0,
    "bootstrap": 1000,
    "seed": 0,
}
_BLOCK = 1024  # rollouts per compiled call: one shape for every batch (the last block padded)


# ---------------------------------------------------------------------------------------------
# The two estimators (task-free: arrays in, numbers out)
# ---------------------------------------------------------------------------------------------
def score_gradient(actions, returns, mu: float, sigma_abs: float) -> tuple[float, float]:
    """(ĝ, SE) of ∂/∂μ E_{a~N(μ,σ²)} R(a) from samples: mean((R_j − b_j)(a_j − μ)/σ²), b_j the
    mean of the other returns (leave-one-out: independent of a_j, so the estimate is unbiased)."""
    a, r = np.asarray(actions, np.float64), np.asarray(returns, np.float64)
    n = r.size
    if n < 2:
        raise ValueError(f"samples: need at least 2, got {n}")
    baseline = (r.sum() - r) / (n - 1)
    terms = (r - baseline) * (a - mu) / sigma_abs**2
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(n))


def heat_weights(actions, low: float, high: float, mu, t: float) -> np.ndarray:
    """L (P, G) with u(μ_p, t) = L[p] @ q for a table q on `actions`: `heat_from_table`'s formula
    (renormalised trapezoid inside the box, Φ tails at the clipped edges), written as weights."""
    a, mu = np.asarray(actions, np.float64), np.atleast_1d(np.asarray(mu, np.float64))
    s = math.sqrt(t)
    w = np.full(a.size, a[1] - a[0])
    w[[0, -1]] /= 2
    dens = np.exp(-0.5 * ((a[None, :] - mu[:, None]) / s) ** 2) * w
    exact_inside = ndtr((high - mu) / s) - ndtr((low - mu) / s)
    out = dens * (exact_inside / np.maximum(dens.sum(1), 1e-300))[:, None]
    out[:, 0] += ndtr((low - mu) / s)
    out[:, -1] += ndtr((mu - high) / s)
    return out


def heat_derivative_weights(actions, low: float, high: float, mu, t: float) -> np.ndarray:
    """D (P, G) with ∂u/∂μ(μ_p, t) = D[p] @ q: a central difference of the smooth weights."""
    h = 1e-3 * math.sqrt(t)
    mu = np.atleast_1d(np.asarray(mu, np.float64))
    return (
        heat_weights(actions, low, high, mu + h, t) - heat_weights(actions, low, high, mu - h, t)
    ) / (2 * h)


def heat_gradient(actions, table, low, high, mu, t, *, bootstrap=1000, seed=0) -> dict:
    """∂u/∂μ at μ from a table (G, M) of M continuation columns: the estimate, its SE over
    columns and a percentile bootstrap 95 % CI over columns."""
    table = np.asarray(table, np.float64)
    per_column = heat_derivative_weights(actions, low, high, mu, t)[0] @ table  # (M,)
    m = per_column.size
    rng = np.random.default_rng(seed)
    boot = per_column[rng.integers(0, m, (bootstrap, m))].mean(1)
    return {
        "g": float(per_column.mean()),
        "se": float(per_column.std(ddof=1) / math.sqrt(m)),
        "ci": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
    }


# ---------------------------------------------------------------------------------------------
# Rollouts from a given state (pure-JAX tasks)
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _rollout_fn(task: JaxTask, policy: Policy):
    """(θ, obs0, state0, first_action, key, σ_abs) per row -> discounted return per row.

    `make_episode_fn` resets from its key; here the start state is an argument, so one compiled
    program serves every state, σ and action. Action noise as the JAX evaluator draws it (step t
    uses fold_in(noise_key, t)); the action at t = 0 is `first_action` (clipped by the task)."""
    horizon, gamma, dim = task.horizon, task.gamma, task.action_dim
    fail_reward = float(getattr(task, "failure_reward", None) or 0.0)

    def episode(layers, obs, state, first_action, key, sigma_abs):
        noise_key, step_key = jax.random.split(key)

        def body(carry, t):
            obs, state, alive, failed, dret = carry
            eps = noise_lib.sample(jax.random.fold_in(noise_key, t), "gaussian", (dim,))
            action = policy.apply_layers(layers, obs) + sigma_abs * eps
            action = jnp.where(t == 0, first_action, action)
            new_obs, new_state, reward, done, _ = task.step(
                jax.random.fold_in(step_key, t), state, action
            )
            ok = alive & jnp.isfinite(reward) & jnp.all(jnp.isfinite(new_state))
            failed = failed | (alive & ~ok)  # diverged: the task's failure reward from here on
            dret = dret + (gamma**t) * jnp.where(ok, reward, jnp.where(failed, fail_reward, 0.0))
            alive = ok & ~done
            return (jnp.where(alive, new_obs, obs), jnp.where(alive, new_state, state), alive,
                    failed, dret), None  # fmt: skip

        init = (obs, state, jnp.array(True), jnp.array(False), jnp.zeros((), obs.dtype))
        (*_, dret), _ = jax.lax.scan(body, init, jnp.arange(horizon))
        return dret

    def run(theta, obs, state, first_action, keys, sigma_abs):
        layers = policy.layers(theta)
        return jax.vmap(episode, in_axes=(None, 0, 0, 0, 0, 0))(
            layers, obs, state, first_action, keys, sigma_abs
        )

    return jax.jit(run)


def _rollouts(task, policy, theta, parts: list[tuple]) -> np.ndarray:
    """Discounted returns of every row, in fixed-size padded blocks (one compiled shape)."""
    fn = _rollout_fn(task, policy)
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    n = cols[0].shape[0]
    block = _BLOCK
    theta = jnp.asarray(theta, jnp.float32)
    out = []
    for start in range(0, n, block):
        part = [c[start : start + block] for c in cols]
        pad = block - part[0].shape[0]
        if pad:
            part = [np.concatenate([c, np.repeat(c[:1], pad, 0)]) for c in part]
        res = fn(theta, *(jnp.asarray(c) for c in part[:4]), jnp.asarray(part[4], jnp.float32))
        out.append(np.asarray(res, np.float64)[: block - pad])
    return np.concatenate(out)


def _keys(seed: int, stream: int, pair: int, n: int, step: int = 0) -> np.ndarray:
    base = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    key = jax.random.fold_in(jax.random.fold_in(base, pair), step)
    return np.asarray(jax.random.split(key, n))


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """Raw data of one (state, σ): the table, estimator A's samples, A's ascent path."""

    state_index: int
    sigma: float
    sigma_abs: float  # of component i
    mu0: float
    state_action: np.ndarray  # μ_θ(s), (A,)
    obs: np.ndarray
    table: np.ndarray  # (G, M) Q^π_σ(s, a_g) per continuation
    actions_a: np.ndarray  # (N,) estimator A's sampled actions (unclipped)
    returns_a: np.ndarray  # (N,)
    path_a: np.ndarray  # (K + 1,) μ along ĝ_A's ascent
    path_se: np.ndarray  # (K,) SE of each step's ĝ_A
    eta: float | None


@dataclass(frozen=True)
class GradientData:
    task: str
    action_index: int
    grid: np.ndarray  # (G,) component-i actions spanning the box
    low: float
    high: float
    pairs: list[Pair]
    options: dict
    seconds: float
    env_steps: int


def check_options(task: Task, **options) -> dict:
    """Every option checked (one line naming the field) before any rollout; returns them all."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise InputError(f"{sorted(unknown)[0].replace('_', '-')}: unknown option")
    o = DEFAULTS | options
    if not isinstance(task, JaxTask):
        raise InputError(
            f"task: the gradient test needs a pure-JAX task (pendulum, double_pendulum, "
            f"planar_quadrotor), got {task.name!r}"
        )
    o["sigmas"] = checks.sigma_grid("sigmas", o["sigmas"], allow_zero=False)
    for field, minimum in (("n_states", 1), ("samples", 8), ("grid", 16), ("continuations", 4),
                           ("ascent_steps", 0), ("ascent_samples", 8), ("bootstrap", 100)):  # fmt: skip
        name = "states" if field == "n_states" else field.replace("_", "-")  # the CLI's flag
        o[field] = checks.count(name, o[field], minimum=minimum)
    o["learning_rate"] = checks.positive("learning-rate", o["learning_rate"])
    o["time_factor"] = checks.positive("time-factor", o["time_factor"])
    if not (0 <= o["action_index"] < task.action_dim):
        raise InputError(
            f"action-index: must be in [0, {task.action_dim}) for task {task.name!r}, "
            f"got {o['action_index']}"
        )
    spacing = 2.0 / (o["grid"] - 1)  # in units of the half-range
    if o["sigmas"][0] < 2 * spacing:
        raise InputError(
            f"grid: {o['grid']} actions (spacing {spacing:.3g} of the half-range) is too coarse "
            f"for sigma {o['sigmas'][0]:g}; need σ ≥ 2 spacings: use --grid ≥ "
            f"{math.ceil(4 / o['sigmas'][0]) + 1} or a larger sigma"
        )
    rows = o["grid"] * o["continuations"] + o["samples"] + o["ascent_samples"]
    per_row = 8 * (task.obs_dim + 3 * task.action_dim + 4) * len(o["sigmas"]) * o["n_states"]
    checks.fits_in_memory("samples", rows, rows * per_row, f"{rows} rollouts per (state, σ)")
    return o


def gradient_experiment(task: Task, policy: Policy, theta, **options) -> GradientData:
    """Run every rollout: tables and estimator A for all (state, σ) in one batch, then the ascent
    steps (one batch per step, all pairs together). Same seed, same numbers."""
    o = check_options(task, **options)
    began = time.perf_counter()
    i, seed = o["action_index"], o["seed"]
    low, high = float(task.action_low[i]), float(task.action_high[i])
    half = np.asarray(task.action_half_range, np.float64)
    grid = np.linspace(low, high, o["grid"])
    reset_keys = [_split_episode_key(k)[0] for k in episode_keys(seed, o["n_states"])]
    starts = [tuple(np.asarray(x) for x in task.reset(k)) for k in reset_keys]
    means = [np.asarray(policy.apply(jnp.asarray(theta, jnp.float32), ob), np.float64)
             for ob, _ in starts]  # fmt: skip
    specs = [(k, s) for k in range(o["n_states"]) for s in o["sigmas"]]
    g_, m_, n_ = o["grid"], o["continuations"], o["samples"]
    rows, eps_a = [], []
    for p, (k, s) in enumerate(specs):
        first = np.repeat(means[k][None], g_ * m_, 0)
        first[:, i] = np.repeat(grid, m_)
        rows.append(_rows(starts[k], first, np.tile(_keys(seed, 1, p, m_), (g_, 1)), s * half))
        eps = np.random.default_rng([seed, 2, p]).standard_normal(n_)
        first = np.repeat(means[k][None], n_, 0)
        first[:, i] += s * half[i] * eps
        rows.append(_rows(starts[k], first, _keys(seed, 2, p, n_), s * half))
        eps_a.append(first[:, i])
    returns = _rollouts(task, policy, theta, rows)
    env_steps = returns.size * task.horizon
    tables, ret_a = [], []
    for p in range(len(specs)):
        chunk = returns[p * (g_ * m_ + n_) : (p + 1) * (g_ * m_ + n_)]
        tables.append(chunk[: g_ * m_].reshape(g_, m_))
        ret_a.append(chunk[g_ * m_ :])
    etas = [
        _step_size(grid, tables[p], low, high, s * half[i], o) for p, (_, s) in enumerate(specs)
    ]
    paths = [[means[k][i]] for k, _ in specs]
    path_se = [[] for _ in specs]
    na = o["ascent_samples"]
    for step in range(o["ascent_steps"]):
        rows = []
        eps = [
            np.random.default_rng([seed, 3, p, step]).standard_normal(na) for p in range(len(specs))
        ]
        for p, (k, s) in enumerate(specs):
            first = np.repeat(means[k][None], na, 0)
            first[:, i] = paths[p][-1] + s * half[i] * eps[p]
            rows.append(_rows(starts[k], first, _keys(seed, 3, p, na, step), s * half))
        rets = _rollouts(task, policy, theta, rows).reshape(len(specs), na)
        env_steps += rets.size * task.horizon
        for p, (_, s) in enumerate(specs):
            mu = paths[p][-1]
            g, se = score_gradient(mu + s * half[i] * eps[p], rets[p], mu, s * half[i])
            paths[p].append(mu + (etas[p] or 0.0) * g)
            path_se[p].append(se)
    pairs = [
        Pair(k, float(s), float(s * half[i]), float(means[k][i]), means[k], starts[k][0],
             tables[p], eps_a[p], ret_a[p], np.asarray(paths[p]), np.asarray(path_se[p]), etas[p])
        for p, (k, s) in enumerate(specs)
    ]  # fmt: skip
    return GradientData(task.name, i, grid, low, high, pairs, o, time.perf_counter() - began,
                        int(env_steps))  # fmt: skip


def _rows(start, first_action, keys, sigma_abs) -> tuple:
    """Rollout rows from one start state: (obs, state, first action, key, σ_abs) per row."""
    n = first_action.shape[0]
    rep = lambda x: np.repeat(np.asarray(x)[None], n, 0)  # noqa: E731
    return rep(start[0]), rep(start[1]), first_action.astype(np.float32), keys, rep(sigma_abs)


def _step_size(grid, table, low, high, sigma_abs, o) -> float | None:
    """η such that one step of the table's own ascent moves μ by at most learning_rate·σ: the
    largest |∂u/∂μ| over the box sets the scale (None when u is flat: nothing to ascend)."""
    mu = np.linspace(low, high, 101)
    slope = np.abs(heat_derivative_weights(grid, low, high, mu, sigma_abs**2) @ table.mean(1)).max()
    return float(o["learning_rate"] * sigma_abs / slope) if slope > 0 else None


# ---------------------------------------------------------------------------------------------
# Judging the data against u(·, t): the numbers gradient.json holds
# ---------------------------------------------------------------------------------------------
def summarize(data: GradientData, *, time_factor: float | None = None) -> dict:
    """Per-pair z, ratio, signs and ascent, and the combined χ² over pairs. u is built at
    t = time_factor·σ² (default: the option the data was taken with; 1 is the claim)."""
    o = data.options
    factor = float(o["time_factor"] if time_factor is None else time_factor)
    pairs = [_pair_summary(data, p, factor, n) for n, p in enumerate(data.pairs)]
    z = np.asarray([r["z"] for r in pairs if r["z"] is not None], np.float64)
    stat = float(np.sum(z**2))
    resolved = [r for r in pairs if r["resolved_B"]]
    ascents = [r["ascent"] for r in resolved if r["ascent"]["delta_u_A"] is not None]
    return {
        "task": data.task,
        "action_index": data.action_index,
        "time_factor": factor,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in o.items()},
        "action_box": [data.low, data.high],
        "pairs": pairs,
        "combined": {
            "n_pairs": len(pairs),
            "n_with_z": int(z.size),
            "chi2": stat if z.size else None,
            "p_value": float(chi2.sf(stat, z.size)) if z.size else None,
            "p_value_note": None if z.size else "no pair has a z (no variation in any return)",
            "max_abs_z": float(np.abs(z).max()) if z.size else None,
            "resolved_B": len(resolved),
            "sign_disagreements": sum(r["sign_agree"] is False for r in pairs),
            "ascent_pairs": len(ascents),
            "ascent_rises": sum(a["delta_u_A"] > 0 for a in ascents),
            "paths_agree": sum(bool(a["paths_agree"]) for a in ascents),
        },
        "seconds": data.seconds,
        "env_steps": data.env_steps,
    }


def _pair_summary(data: GradientData, p: Pair, factor: float, n: int) -> dict:
    t = factor * p.sigma_abs**2
    grid, lo, hi = data.grid, data.low, data.high
    a, se_a = score_gradient(p.actions_a, p.returns_a, p.mu0, p.sigma_abs)
    b = heat_gradient(grid, p.table, lo, hi, p.mu0, t, bootstrap=data.options["bootstrap"],
                      seed=data.options["seed"] + n)  # fmt: skip
    scale = math.sqrt(se_a**2 + b["se"] ** 2)
    notes = []
    if scale > 0:
        z = (a - b["g"]) / scale
    else:
        z = None
        notes.append("z: both estimators have zero spread (the returns do not vary)")
    res_a, res_b = abs(a) > 2 * se_a, abs(b["g"]) > 2 * b["se"]
    if b["g"] != 0:
        ratio = a / b["g"]
        ratio_se = abs(ratio) * math.sqrt((se_a / a) ** 2 + (b["se"] / b["g"]) ** 2) if a else None
    else:
        ratio = ratio_se = None
        notes.append("ratio: g_B is exactly 0")
    if res_a and res_b:
        sign_agree = bool(np.sign(a) == np.sign(b["g"]))
    else:
        sign_agree = None
        notes.append("sign_agree: not both estimators resolved (|g| > 2 SE)")
    return {
        "state_index": p.state_index,
        "observation": p.obs.tolist(),
        "state_action": p.state_action.tolist(),
        "sigma": p.sigma,
        "sigma_abs": p.sigma_abs,
        "t": t,
        "mu0": p.mu0,
        "g_A": a,
        "se_A": se_a,
        "ci_A": [a - 1.96 * se_a, a + 1.96 * se_a],
        "g_B": b["g"],
        "se_B": b["se"],
        "ci_B": b["ci"],
        "z": z,
        "ratio": ratio,
        "ratio_se": ratio_se,
        "resolved_A": bool(res_a),
        "resolved_B": bool(res_b),
        "sign_agree": sign_agree,
        "ascent": _ascent(data, p, t),
        "notes": notes,
    }


def _ascent(data: GradientData, p: Pair, t: float) -> dict:
    """u(μ_k, t) from the table along ĝ_A's path and along the table's own ascent."""
    grid, lo, hi, q = data.grid, data.low, data.high, p.table
    k = p.path_a.size - 1
    if p.eta is None or k == 0:
        why = "no steps asked" if k == 0 else "u is flat over the box: nothing to ascend"
        empty = ("mu_B", "u_A", "u_B", "delta_u_A", "delta_u_A_se", "delta_u_B", "path_gap",
                 "path_noise", "paths_agree")  # fmt: skip
        return {"eta": p.eta, "mu_A": p.path_a.tolist(), **dict.fromkeys(empty), "note": why}
    path_b = [p.mu0]
    for _ in range(k):
        path_b.append(
            path_b[-1]
            + p.eta * float(heat_derivative_weights(grid, lo, hi, path_b[-1], t)[0] @ q.mean(1))
        )
    u_a = heat_weights(grid, lo, hi, p.path_a, t) @ q  # (K + 1, M)
    u_b = heat_weights(grid, lo, hi, np.asarray(path_b), t) @ q.mean(1)
    rise = u_a[-1] - u_a[0]
    noise = p.eta * math.sqrt(float(np.sum(p.path_se**2)))
    gap = abs(p.path_a[-1] - path_b[-1])
    return {
        "eta": p.eta,
        "mu_A": p.path_a.tolist(),
        "mu_B": path_b,
        "u_A": u_a.mean(1).tolist(),
        "u_B": u_b.tolist(),
        "delta_u_A": float(rise.mean()),
        "delta_u_A_se": float(rise.std(ddof=1) / math.sqrt(rise.size)),
        "delta_u_B": float(u_b[-1] - u_b[0]),
        "path_gap": gap,
        "path_noise": noise,
        "paths_agree": bool(gap <= 2 * noise),
        "note": "paths agree when the final gap is within 2 × η·√Σ SE(ĝ_A)² (the step noise)",
    }


def run_gradient(
    task: Task, policy: Policy, theta, out_dir, *, command: str | None = None, figure=True,
    **options,
) -> Path:  # fmt: skip
    """What `mollify theory gradient` does: the experiment, gradient.json (and gradient.png)."""
    data = gradient_experiment(task, policy, theta, **options)
    summary = {"command": command, **summarize(data)}
    out = Path(out_dir)
    path = atomic_write_json(out / "gradient.json", summary)
    if figure:
        _figure(summary, out / "gradient.png")
    return path


def _figure(summary: dict, path) -> Path:
    """Left: g_A against g_B with 2-SE bars (the line y = x is the claim). Right: u along the
    two ascents, relative to its start."""
    from mollify.util.plotting import plt, save_figure

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    pairs = summary["pairs"]
    for sigma in sorted({r["sigma"] for r in pairs}):
        rs = [r for r in pairs if r["sigma"] == sigma]
        ax1.errorbar([r["g_B"] for r in rs], [r["g_A"] for r in rs],
                     xerr=[2 * r["se_B"] for r in rs], yerr=[2 * r["se_A"] for r in rs],
                     fmt="o", ms=4, label=f"σ = {sigma:g}")  # fmt: skip
    lim = max([abs(r["g_A"]) + 2 * r["se_A"] for r in pairs] + [1e-12])
    ax1.plot([-lim, lim], [-lim, lim], "k:", lw=1)
    ax1.axhline(0, c="gray", lw=0.5)
    ax1.axvline(0, c="gray", lw=0.5)
    ax1.set_xlabel("∂u/∂μ from the Q table (heat side)")
    ax1.set_ylabel("score-function gradient (training side)")
    ax1.legend(fontsize=8)
    for r in pairs:
        asc = r["ascent"]
        if asc["u_A"] is None:
            continue
        line = ax2.plot(np.asarray(asc["u_A"]) - asc["u_A"][0], lw=1)[0]
        ax2.plot(np.asarray(asc["u_B"]) - asc["u_B"][0], "--", lw=1, color=line.get_color())
    ax2.set_xlabel("step")
    ax2.set_ylabel("u(μ_k, t) − u(μ_0, t)  (solid: ĝ_A, dashed: table)")
    c = summary["combined"]
    p = "—" if c["p_value"] is None else f"{c['p_value']:.3g}"
    fig.suptitle(f"{summary['task']}: policy gradient vs ∂u/∂μ at t = {summary['time_factor']:g}·σ²"
                 f"  (χ² p = {p})")  # fmt: skip
    return save_figure(fig, path)
