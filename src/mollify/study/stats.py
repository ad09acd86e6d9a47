"""Statistics over seeds: bootstrap CIs, the best σ, and whether return against σ is an inverted U.

With a handful of seeds a percentile bootstrap is crude (it cannot be wider than the spread of the
seeds it resamples); the tool says how many seeds each number rests on.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

N_BOOT = 10_000
CONFIDENCE = 0.95


def bootstrap_mean_ci(x, *, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean."""
    x = np.asarray(x, np.float64)
    if x.size == 1:
        return float(x[0]), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (N_BOOT, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return float(x.mean()), float(lo), float(hi)


def bootstrap_diff_ci(x, y, *, seed: int = 0) -> tuple[float, float, float]:
    """(mean(x) − mean(y), low, high), resampling both groups independently."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    rng = np.random.default_rng(seed)
    mx = x[rng.integers(0, x.size, (N_BOOT, x.size))].mean(axis=1)
    my = y[rng.integers(0, y.size, (N_BOOT, y.size))].mean(axis=1)
    lo, hi = np.quantile(mx - my, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return float(x.mean() - y.mean()), float(lo), float(hi)


def sigma_curve(rows: list[dict], metric: str = "final_deterministic") -> dict:
    """Return against σ for one (task, algorithm, kernel, σ-mode): per-σ mean and CI, the best σ,
    the σ not distinguishable from it (CI of the difference contains 0), and the inverted-U
    verdict: the best σ lies strictly inside the grid and beats both ends significantly."""
    by_sigma: dict[float, list[float]] = {}
    for row in rows:
        by_sigma.setdefault(float(row["sigma"]), []).append(float(row[metric]))
    sigmas = sorted(by_sigma)
    points = []
    for s in sigmas:
        mean, lo, hi = bootstrap_mean_ci(by_sigma[s])
        points.append(
            {"sigma": s, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(by_sigma[s])}
        )
    best = max(range(len(sigmas)), key=lambda i: points[i]["mean"])
    tied = []
    for i, s in enumerate(sigmas):
        if i == best:
            continue
        _, lo, _ = bootstrap_diff_ci(by_sigma[sigmas[best]], by_sigma[s])
        if not lo > 0:
            tied.append(s)
    ends = {}
    for name, i in (("low_end", 0), ("high_end", len(sigmas) - 1)):
        if i != best:
            ends[name] = bootstrap_diff_ci(by_sigma[sigmas[best]], by_sigma[sigmas[i]])
    interior = 0 < best < len(sigmas) - 1
    inverted_u = interior and all(lo > 0 for _, lo, _ in ends.values())
    return {
        "metric": metric,
        "points": points,
        "best_sigma": sigmas[best],
        "indistinguishable_from_best": tied,
        "peak_inside_grid": interior,
        "best_minus_ends": {
            k: {"diff": d, "ci_low": lo, "ci_high": hi} for k, (d, lo, hi) in ends.items()
        },
        "inverted_u": bool(inverted_u),
    }


def analyse(rows: list[dict]) -> dict:
    """Per (task, algo, kernel, σ-mode) with at least two σ: the σ curves of the deterministic and
    stochastic final returns."""
    out = {}
    for key, members in group(rows, ("task", "algo", "kernel", "sigma_mode")).items():
        if len({r["sigma"] for r in members}) < 2:
            continue
        out[" / ".join(map(str, key))] = {
            "task": key[0],
            "algo": key[1],
            "kernel": key[2],
            "sigma_mode": key[3],
            "deterministic": sigma_curve(members, "final_deterministic"),
            "stochastic": sigma_curve(members, "final_stochastic"),
        }
    return out


def group(rows: Iterable[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Rows keyed by the values of `keys`, in first-seen order."""
    out: dict[tuple, list[dict]] = {}
    for row in rows:
        out.setdefault(tuple(row[k] for k in keys), []).append(row)
    return out
