"""The uncertainty principle as a test across optima (issue 25): erasure σ against width w.

One optimum's σ_erase/w is a constant of its radial profile's shape (`ideal_constants`), so it
tests nothing. Across optima of different widths (trained policies at several σ, tasks, variants)
the fit log σ_erase = a + b·log w can: the principle predicts b ≈ 1 (a good region twice as wide
survives a mollifier twice as wide).

Two erasures per optimum, and why the action-space one carries the test:
- parameter space: J̃_σ(θ*) = E J(θ* + σ|z| d) averages J along random normalised directions at
  radius σ|z|, a functional of the same kind of radial profile w is read from. If the profiles
  of all optima were one shape at different scales, b = 1 exactly; only differing shapes move it.
  A slope ≈ 1 there is near-identity.
- action space: J_σ(θ*) with Gaussian action noise at θ* is what a stochastic policy does (the
  paper's mollifier) and is not read from the parameter-space profile; its units differ from w's,
  so only the exponent b is predicted. Its relation to w is the part the data could lose.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from scipy.optimize import brentq
from scipy.special import erfcx, ndtr, ndtri

from mollify import tasks
from mollify.core.evaluation import evaluate
from mollify.core.policies import load_policy
from mollify.instruments import uncertainty
from mollify.util.io import atomic_write_json

PARAM_SIGMAS = (0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
ACTION_SIGMAS = (0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
N_INIT = 8  # freshly initialised policies that define a task's untrained level
MIN_SE = 3.0  # a selected optimum's gain over the untrained level, in standard errors
ERASURES = ("action", "param")  # the first carries the test

SELECTION_RULE = (
    "Candidates: every policy.npz of a fixed-σ run (runs/<task>/<algo>/<kernel>/fixed/sigma=*/"
    "seed=<s>/) with s in `seeds`. The untrained level U of a task (with its parameters) is the "
    f"mean discounted deterministic return of {N_INIT} freshly initialised policies of the same "
    "architecture; every J here is over the same random starts. A candidate is an optimum when "
    f"its gain J(θ) − U exceeds `min_se` ({MIN_SE:g}) standard errors of the per-start paired difference "
    "and at least `min_gain` of the largest gain among that task's candidates (a run that has not "
    "converged to a good region is not an optimum). An optimum enters a fit when J(θ*) is above "
    "its background and both w and that erasure σ were measured inside their grids (an erasure "
    "outside the σ grid is censored and left out; the count is reported)."
)
NEAR_IDENTITY = (
    "The parameter-space erasure averages J along random normalised directions at radius σ|z|: "
    "a functional of the same kind of radial profile w is read from, so its slope is 1 whenever "
    "the optima's profiles are one shape at different scales (departures come only from differing "
    "shapes). The action-space erasure is not read from that profile and carries the test."
)


# ---------------------------------------------------------------- ideal profiles


def ideal_constants(drop: float = 0.5) -> dict:
    """σ_erase/w of ideal isotropic radial profiles with the instrument's definitions.

    A profile g(r/ℓ) falls from 1 (θ*) to 0 (background); w is where it has lost `drop`, the
    erasure σ where E_z g(σ|z|) (z ~ N(0, 1), the parameter-space J̃_σ(θ*)) has. Scale-free, so
    the ratio is a number of the shape alone: a geometric constant, not a measurement.
    """
    if not 0 < drop < 1:
        raise ValueError(f"drop: must be in (0, 1), got {drop}")
    keep = 1.0 - drop
    k = -math.log(keep)  # exp(-k) = keep: scales chosen so that w = 1

    def mean_linear(c: float) -> float:  # g(r) = max(0, 1 − drop·r)
        a = 1.0 / (drop * c)
        phi0, phia = 1 / math.sqrt(2 * math.pi), math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
        return (2 * ndtr(a) - 1) - 2 * (phi0 - phia) / a

    def solve(mean) -> float:
        return float(brentq(lambda c: mean(c) - keep, 1e-6, 1e6, xtol=1e-14, rtol=1e-14))

    profiles = {
        "step": (
            1.0 / float(ndtri(1 - drop / 2)),
            "g = 1 for r < w, else 0",
            "1/Φ⁻¹(1 − drop/2)",
        ),
        "linear": (solve(mean_linear), "g = max(0, 1 − drop·r/w)", None),
        "gaussian": (
            math.sqrt((keep**-2 - 1) / (2 * k)),
            "g = (1 − drop)^((r/w)²)",
            "√(((1 − drop)⁻² − 1) / (−2 ln(1 − drop)))",
        ),
        "exponential": (
            solve(lambda c: float(erfcx(k * c / math.sqrt(2)))),
            "g = (1 − drop)^(r/w)",
            None,
        ),
    }
    return {
        "what": (
            "σ_erase/w of ideal isotropic radial profiles (background = the profile's limit), "
            "parameter-space erasure, same drop: a geometric constant of each shape, the value a "
            "single optimum's ratio is bound to be near; it tests nothing about the principle"
        ),
        "drop": drop,
        "profiles": {
            name: {
                "sigma_over_w": c,
                "profile": shape,
                "closed_form": form,
                "method": "closed form" if form else "root of the exact Gaussian expectation",
            }
            for name, (c, shape, form) in profiles.items()
        },
    }


# ---------------------------------------------------------------- the fit


def fit_scaling(w, sigma_e, groups=None, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Least squares log σ_e = a_g + b·log w with one intercept per group (task or variant) and a
    shared slope b; 95 % percentile bootstrap CI of b, optima resampled within their group.

    Why per-group intercepts: the action σ is relative to each task's action range and how much
    noise a task tolerates is the task's own, so between tasks the erasure σ moves for reasons
    that have nothing to do with w; pooling them lets the task differences set the slope
    (`pooled_slope` is reported beside it). A group with one optimum carries no slope and is left
    out; `w_ratio` is the widest spread of w inside one group.
    """
    w, s = np.asarray(w, np.float64), np.asarray(sigma_e, np.float64)
    if w.shape != s.shape or w.ndim != 1:
        raise ValueError(f"w: expected one width per erasure σ, got {w.shape} and {s.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("w: widths and erasure σ must be finite and > 0")
    labels = np.zeros(w.size, int) if groups is None else np.asarray(groups)
    if labels.shape != w.shape:
        raise ValueError(f"groups: expected one per optimum, got {labels.shape}")
    names, counts = np.unique(labels, return_counts=True) if w.size else ([], [])
    members = [np.nonzero(labels == g)[0] for g, k in zip(names, counts, strict=True) if k >= 2]
    used = np.concatenate(members) if members else np.zeros(0, int)
    out = {"n": int(used.size), "n_groups": len(members), "n_left_out": int(w.size - used.size),
           "w_min": None, "w_max": None, "w_ratio": None, "slope": None, "slope_ci": [None, None],
           "intercepts": {}, "r2_within": None, "ratio_median": None, "pooled_slope": None,
           "pooled_slope_ci": [None, None], "n_boot": n_boot, "n_boot_used": 0}  # fmt: skip
    if used.size:
        out |= {"w_min": float(w[used].min()), "w_max": float(w[used].max())}
        out |= {"w_ratio": float(max(w[m].max() / w[m].min() for m in members))}
        out |= {"ratio_median": float(np.median(s[used] / w[used]))}
    x, y = np.log(w), np.log(s)
    sxx = sum(float(((x[m] - x[m].mean()) ** 2).sum()) for m in members)
    if used.size < 3 or sxx <= 1e-12:
        return out | {"note": "fewer than 3 optima in groups of 2 or more, or no spread in w"}
    sxy = sum(float(((x[m] - x[m].mean()) * (y[m] - y[m].mean())).sum()) for m in members)
    b = sxy / sxx
    syy = sum(float(((y[m] - y[m].mean()) ** 2).sum()) for m in members)
    r2 = 1 - (syy - b * sxy) / syy if syy > 0 else None
    rng = np.random.default_rng(seed)
    bxx, bxy = np.zeros(n_boot), np.zeros(n_boot)
    for m in members:  # resample inside each group, sum its centred products
        idx = m[rng.integers(0, m.size, size=(n_boot, m.size))]
        xc = x[idx] - x[idx].mean(axis=1, keepdims=True)
        bxx += (xc * xc).sum(axis=1)
        bxy += (xc * (y[idx] - y[idx].mean(axis=1, keepdims=True))).sum(axis=1)
    ok = bxx > 1e-12
    lo, hi = np.quantile(bxy[ok] / bxx[ok], [0.025, 0.975]) if ok.any() else (None, None)
    intercepts = {str(names[0] if groups is None else labels[m[0]]): float(
        y[m].mean() - b * x[m].mean()) for m in members}  # fmt: skip
    out |= {
        "slope": b,
        "slope_ci": [None if lo is None else float(lo), None if hi is None else float(hi)],
        "intercepts": intercepts,
        "r2_within": None if r2 is None else float(r2),
        "n_boot_used": int(ok.sum()),
    }
    if len(members) > 1:
        pooled = fit_scaling(w[used], s[used], n_boot=n_boot, seed=seed)
        out |= {"pooled_slope": pooled["slope"], "pooled_slope_ci": pooled["slope_ci"]}
    else:
        out |= {"pooled_slope": b, "pooled_slope_ci": out["slope_ci"]}
    return out


# ---------------------------------------------------------------- candidates and selection


def _label(task: str, params: dict) -> str:
    from mollify.study.advisor_validation import VARIANTS

    for name, (t, p) in VARIANTS.items():
        if t == task and p == params:
            return name
    return task + ("[" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + "]" if params
                   else "")  # fmt: skip


def find_candidates(sources, *, seeds=(0,), algos=None) -> list[dict]:
    """Every fixed-σ seed policy of the sweep directories; task parameters from each run's
    config.json (parameters given for a directory must equal them; used where there is none)."""
    if not sources:
        raise ValueError("sources: need at least one sweep directory")
    found = []
    for src in sources:
        where, given = (src, {}) if isinstance(src, str | Path) else (src[0], dict(src[1] or {}))
        where = Path(where)
        if not (where / "runs").is_dir():
            raise ValueError(f"sources: {str(where)!r} holds no runs/ (not a sweep directory)")
        for path in sorted(where.glob("runs/*/*/*/fixed/sigma=*/seed=*/policy.npz")):
            run = path.parent
            seed = int(run.name.split("=", 1)[1])
            task, algo, kernel = run.parts[-6:-3]
            if seed not in seeds or (algos is not None and algo not in algos):
                continue
            config = run / "config.json"
            params = given
            if config.exists():  # the run's own parameters; given ones must be the same
                params = json.loads(config.read_text()).get("task_params", {})
                if given and given != params:
                    raise ValueError(
                        f"sources: {str(where)!r} given {given}, its runs say {params}"
                    )
            found.append({"label": _label(task, params), "task": task, "params": params,
                          "algo": algo, "kernel": kernel, "seed": seed, "path": str(path),
                          "train_sigma": float(run.parent.name.split("=", 1)[1])})  # fmt: skip
    found.sort(key=lambda c: (c["label"], c["algo"], c["kernel"], c["train_sigma"], c["seed"]))
    return found


def select_optima(
    candidates: list[dict],
    *,
    episodes: int,
    seed: int = 0,
    min_gain: float = 0.5,
    min_se: float = MIN_SE,
) -> list[dict]:
    """Each candidate with J(θ), the untrained level U, its gain and SE, and `selected` (see
    SELECTION_RULE); `reason` says why a candidate was left out."""
    if not 0 <= min_gain <= 1:
        raise ValueError(f"min_gain: must be in [0, 1], got {min_gain}")
    out = []
    groups: dict[str, list[dict]] = {}
    for c in candidates:
        groups.setdefault(c["label"], []).append(c)
    for group in groups.values():
        task = tasks.make(group[0]["task"], **group[0]["params"])
        loaded = [load_policy(c["path"], task) for c in group]
        policy = loaded[0][0]
        if any(p != policy for p, _ in loaded):
            raise ValueError(f"sources: {group[0]['label']} mixes policy architectures")
        inits = np.stack([np.asarray(policy.init(jax.random.PRNGKey(k))) for k in range(N_INIT)])
        untrained = evaluate(task, policy, inits, episodes=episodes, seed=seed).discounted
        untrained = untrained.mean(axis=0)
        thetas = np.stack([th for _, th in loaded])
        trained = evaluate(task, policy, thetas, episodes=episodes, seed=seed).discounted
        diff = trained - untrained[None, :]
        gains = diff.mean(axis=1)
        ses = diff.std(axis=1, ddof=1) / math.sqrt(episodes)
        best = float(gains.max())
        for c, j, gain, se in zip(group, trained.mean(axis=1), gains, ses, strict=True):
            reason = None
            if not gain > min_se * se:
                reason = f"gain {gain:.4g} over the untrained level is within {min_se:g} SE"
            elif gain < min_gain * best:
                reason = f"gain {gain:.4g} is below {min_gain:g} × the task's best {best:.4g}"
            out.append(c | {"J": float(j), "untrained": float(untrained.mean()),
                            "gain": float(gain), "gain_se": float(se),
                            "selected": reason is None, "reason": reason})  # fmt: skip
    return out


# ---------------------------------------------------------------- the study step


def _measure(c: dict, rep, seconds: float) -> dict:
    """One optimum's row; `excluded` says, per erasure, why it stays out of the fit."""
    s = rep.summary()
    row = {k: c[k] for k in ("label", "task", "params", "algo", "kernel", "train_sigma", "seed",
                             "path")}  # fmt: skip
    row |= {
        "J_star": s["J_star"],
        "J_background": s["J_background"],
        "width_w": s["width_w"] if math.isfinite(rep.width) else None,
        "width_quartiles": [v if math.isfinite(v) else None for v in s["width_quartiles"]],
        "erasure_sigma_param": s["erasure_sigma_param"],
        "erasure_sigma_action": s["erasure_sigma_action"],
        "J_param": s["J_param"],
        "J_action": s["J_action"],
        "seconds": seconds,
    }
    base = None
    if not rep.j_star > rep.j_background:
        base = "θ* not above its background"
    elif not (math.isfinite(rep.width) and rep.width > 0):
        base = f"w not measured: J keeps {1 - rep.drop:.0%} of its advantage to the last radius"
    excluded = {}
    for name, value, grid in (
        ("param", rep.erasure_param, rep.param_sigmas),
        ("action", rep.erasure_action, rep.action_sigmas),
    ):
        if base:
            excluded[name] = base
        elif not math.isfinite(value):
            excluded[name] = f"censored: not erased up to σ = {grid[-1]:g}"
        elif value <= 0:
            excluded[name] = f"censored: erased at or below σ = {grid[0]:g}"
    row["excluded"] = excluded
    return row


def fits(optima: list[dict], *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Both fits over the optima rows, with how many were censored or unusable."""
    out = {}
    for name in ERASURES:
        use = [r for r in optima if name not in r["excluded"]]
        fit = fit_scaling([r["width_w"] for r in use], [r[f"erasure_sigma_{name}"] for r in use],
                          [r["label"] for r in use], n_boot=n_boot, seed=seed)  # fmt: skip
        reasons = [r["excluded"][name] for r in optima if name in r["excluded"]]
        out[name] = fit | {
            "n_optima": len(optima),
            "n_censored": sum(x.startswith("censored") for x in reasons),
            "n_unusable": sum(not x.startswith("censored") for x in reasons),
        }
    return out


def run_scaling(
    sources,
    out: Path,
    *,
    directions: int = 16,
    samples: int = 32,
    episodes: int = 16,
    param_sigmas=PARAM_SIGMAS,
    action_sigmas=ACTION_SIGMAS,
    max_radius: float = 2.0,
    drop: float = 0.5,
    seeds=(0,),
    algos=None,
    min_gain: float = 0.5,
    min_se: float = MIN_SE,
    n_boot: int = 2000,
    seed: int = 0,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Pick optima from sweep directories (`sources`: paths or (path, task params)), measure each
    with `uncertainty.uncertainty_experiment`, fit erasure σ against w; writes
    uncertainty_scaling.json and .png in `out`, returns the JSON's path."""
    say = progress or (lambda _msg: None)
    ps, acs = uncertainty.check_options(
        drop=drop, directions=directions, samples=samples, episodes=episodes,
        max_radius=max_radius, param_sigmas=param_sigmas, action_sigmas=action_sigmas,
    )  # fmt: skip
    if episodes < 2:
        raise ValueError(f"episodes: need at least 2 (a standard error), got {episodes}")
    began = time.perf_counter()
    candidates = find_candidates(sources, seeds=tuple(seeds), algos=algos)
    if not candidates:
        raise ValueError("sources: no fixed-σ policy.npz for the seeds asked")
    say(f"{len(candidates)} candidates: selecting optima")
    chosen = select_optima(
        candidates, episodes=episodes, seed=seed, min_gain=min_gain, min_se=min_se
    )
    optima = []
    for c in (c for c in chosen if c["selected"]):
        say(f"{c['label']} σ = {c['train_sigma']:g} seed {c['seed']}")
        task = tasks.make(c["task"], **c["params"])
        policy, theta = load_policy(c["path"], task)
        t0 = time.perf_counter()
        rep = uncertainty.uncertainty_experiment(
            task, policy, theta, drop=drop, n_directions=directions, max_radius=max_radius,
            param_sigmas=ps, action_sigmas=acs, samples=samples, episodes=episodes, seed=seed,
        )  # fmt: skip
        optima.append(_measure(c, rep, time.perf_counter() - t0))
    seconds = time.perf_counter() - began
    options = dict(
        directions=directions,
        samples=samples,
        episodes=episodes,
        param_sigmas=list(ps),
        action_sigmas=list(acs),
        max_radius=max_radius,
        drop=drop,
        seeds=list(seeds),
        algos=None if algos is None else list(algos),
        min_gain=min_gain,
        min_se=min_se if math.isfinite(min_se) else None,
        n_boot=n_boot,
        seed=seed,
        start="random",
    )  # fmt: skip
    doc = {
        "kind": "uncertainty_scaling",
        "command": command,
        "sources": [str(s if isinstance(s, str | Path) else s[0]) for s in sources],
        "options": options,
        "selection_rule": SELECTION_RULE,
        "test_erasure": ERASURES[0],
        "near_identity": NEAR_IDENTITY,
        "candidates": [{k: v for k, v in c.items() if k != "params"} for c in chosen],
        "optima": optima,
        "fits": fits(optima, n_boot=n_boot, seed=seed),
        "ideal_profiles": ideal_constants(drop),
        "seconds": seconds,
        "seconds_per_optimum": float(np.mean([r["seconds"] for r in optima])) if optima else None,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure(doc, out / "uncertainty_scaling.png")
    return atomic_write_json(out / "uncertainty_scaling.json", doc)


def refit(path) -> Path:
    """Recompute the fits and the figure of an existing uncertainty_scaling.json (no new
    rollouts), e.g. after the fit changed; rewrites both in place."""
    path = Path(path)
    doc = json.loads(path.read_text())
    doc["fits"] = fits(doc["optima"], n_boot=doc["options"]["n_boot"], seed=doc["options"]["seed"])
    figure(doc, path.with_suffix(".png"))
    return atomic_write_json(path, doc)


def figure(doc: dict, path) -> Path:
    """Erasure σ against w on log axes, one panel per erasure, with the fit; the parameter panel
    also shows the ideal profiles' constant lines (σ_e = c·w)."""
    from mollify.util.plotting import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4), layout="constrained")
    labels = sorted({r["label"] for r in doc["optima"]})
    marks = dict(zip(labels, "osD^v<>p*hX", strict=False))
    for ax, name in zip(axes, ERASURES, strict=True):
        fit = doc["fits"][name]
        if not fit["n"]:
            ax.text(0.5, 0.5, f"no optimum with a measured {name}-space erasure", ha="center",
                    transform=ax.transAxes)  # fmt: skip
            continue
        for r in doc["optima"]:
            if name in r["excluded"]:
                continue
            ax.scatter(r["width_w"], r[f"erasure_sigma_{name}"], marker=marks[r["label"]],
                       c=[[math.log(r["train_sigma"])]], cmap="viridis", vmin=-4, vmax=1.5,
                       edgecolors="k", linewidths=0.5)  # fmt: skip
        if fit["slope"] is not None:
            lo, hi = fit["slope_ci"]
            band = "" if lo is None else f" [{lo:.2f}, {hi:.2f}]"
            for i, (label, a) in enumerate(fit["intercepts"].items()):
                own = [r["width_w"] for r in doc["optima"]
                       if r["label"] == label and name not in r["excluded"]]  # fmt: skip
                ws = np.geomspace(min(own), max(own), 20)
                ax.plot(ws, np.exp(a) * ws ** fit["slope"], "k-", lw=1,
                        label=None if i else f"within-task slope {fit['slope']:.2f}{band}, "
                        f"n = {fit['n']}")  # fmt: skip
            ws = np.geomspace(fit["w_min"], fit["w_max"], 20)
            if name == "param":
                for pname, p in doc["ideal_profiles"]["profiles"].items():
                    ax.plot(ws, p["sigma_over_w"] * ws, ":", lw=0.8, label=f"{pname} profile")
        for label in labels:
            ax.scatter([], [], marker=marks[label], c="w", edgecolors="k", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width w of the good region (filter-normalised)")
        unit = "(rel. action half-range)" if name == "action" else "(filter-normalised)"
        ax.set_ylabel(f"erasure σ, {name} space {unit}")
        ax.set_title(("test: " if name == doc["test_erasure"] else "near-identity: ") + name)
        ax.legend(fontsize=7)
    fig.suptitle("Uncertainty principle across optima: erasure σ against w (colour: training σ)")
    return save_figure(fig, path)
