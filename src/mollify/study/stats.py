"""Statistics over seeds: CIs, the best σ, the σ not distinguishable from it, and whether return
against σ is an inverted U.

The tests here are calibrated, not assumed: `null_rates` simulates sweeps with no σ effect at
all (normal, heavy-tailed and failure-mixture returns, the study's grid and seed counts) and counts
how often each test speaks; the suite checks that it stays at or below the nominal 5 %.

- Per-σ mean: Student-t 95 % interval (a percentile bootstrap of 3 seeds cannot be wider than
  their range); one seed has no interval (None, and the row says why).
- Inverted U (accounts for choosing the peak on the same seeds): an interior σ_i "peaks" when
  Welch's one-sided tests find it above BOTH ends, each at level α/(K − 2) (intersection-union
  within σ_i, Bonferroni over the K − 2 interior candidates, so the family's false-positive rate
  is at most α whichever σ_i the data favour). Contradicted (on this grid): an end of the grid
  above every other σ, each Welch test at α/2 (Bonferroni over the two ends): a monotone curve
  with both ends resolved. Fewer than 3 seeds at any σ, or fewer than 3 σ: inconclusive.
- Best set: the best σ and every σ whose difference from it is not significant in a two-sided
  Welch test at α / (K(K − 1)/2) (Bonferroni over all pairs, which covers choosing the best).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats as sps

N_BOOT = 10_000
CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MIN_SEEDS = 3  # fewer seeds at any σ: the sweep's verdicts read inconclusive


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


def mean_ci(x) -> tuple[float, float | None, float | None]:
    """(mean, low, high): Student-t interval of the mean; no interval from one value."""
    x = np.asarray(x, np.float64)
    if x.size < 2:
        return float(x.mean()), None, None
    half = sps.t.ppf((1 + CONFIDENCE) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def welch_p_greater(mx, vx, nx, my, vy, ny):
    """One-sided Welch p-value for mean(x) > mean(y), from means, sample variances and counts
    (arrays broadcast). Zero variance on both sides: the difference is exact (p 0 or 1)."""
    mx, vx, nx, my, vy, ny = np.broadcast_arrays(*map(np.asarray, (mx, vx, nx, my, vy, ny)))
    a, b = vx / nx, vy / ny
    se = np.sqrt(a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (a + b) ** 2 / (a**2 / (nx - 1) + b**2 / (ny - 1))
        t = (mx - my) / se
        p = sps.t.sf(t, np.where(np.isfinite(df) & (df > 0), df, 1.0))
    exact = np.where(mx > my, 0.0, 1.0)
    return np.where(se > 0, p, exact)


def _moments(values: list[np.ndarray]):
    m = np.array([v.mean() for v in values])
    var = np.array([v.var(ddof=1) if v.size > 1 else 0.0 for v in values])
    n = np.array([v.size for v in values], np.float64)
    return m, var, n


def u_test(m, var, n, alpha: float = ALPHA) -> dict:
    """The inverted-U test on per-σ means, variances and seed counts (σ ascending; arrays with a
    leading batch axis allowed, for the null simulation). Returns p-values and the verdict."""
    m, var, n = (np.asarray(a, np.float64) for a in (m, var, n))
    k = m.shape[-1]
    first, last = m[..., :1], m[..., -1:]
    interior = slice(1, k - 1)
    p_first = welch_p_greater(m[..., interior], var[..., interior], n[..., interior],
                              first, var[..., :1], n[..., :1])  # fmt: skip
    p_last = welch_p_greater(m[..., interior], var[..., interior], n[..., interior],
                             last, var[..., -1:], n[..., -1:])  # fmt: skip
    p_peak = np.maximum(p_first, p_last)  # intersection-union within each interior σ
    best_interior = np.argmin(p_peak, axis=-1)
    p_u = np.take_along_axis(p_peak, best_interior[..., None], -1)[..., 0]
    holds = p_u < alpha / (k - 2)
    # An end above every other σ (both ends resolved): a monotone curve on this grid.
    ends = []
    for e in (0, k - 1):
        others = [j for j in range(k) if j != e]
        p = welch_p_greater(m[..., e : e + 1], var[..., e : e + 1], n[..., e : e + 1],
                            m[..., others], var[..., others], n[..., others])  # fmt: skip
        ends.append(p.max(axis=-1))
    p_edge = np.minimum(*ends)
    contradicted = (p_edge < alpha / 2) & ~holds
    return {
        "p_peak": p_u,
        "peak_index": best_interior + 1,
        "p_edge": p_edge,
        "edge_index": np.where(ends[0] <= ends[1], 0, k - 1),
        "holds": holds,
        "contradicted": contradicted,
    }


def best_set(m, var, n, best: int, alpha: float = ALPHA) -> list[int]:
    """Indices not significantly below the best (two-sided Welch, Bonferroni over all pairs)."""
    k = len(m)
    level = alpha / (k * (k - 1) / 2)
    p = welch_p_greater(m[best], var[best], n[best], m, var, n)
    return [j for j in range(k) if j == best or not 2 * p[j] < level]


def sigma_curve(rows: list[dict], metric: str = "final_deterministic") -> dict:
    """Return against σ for one (task, algorithm, kernel, σ-mode): per-σ mean and t-interval, the
    best σ, the σ not distinguishable from it, and the inverted-U verdict with its p-values
    (module docstring)."""
    by_sigma: dict[float, list[float]] = {}
    for row in rows:
        by_sigma.setdefault(float(row["sigma"]), []).append(float(row[metric]))
    sigmas = sorted(by_sigma)
    values = [np.asarray(by_sigma[s]) for s in sigmas]
    points = []
    for s, v in zip(sigmas, values, strict=True):
        mean, lo, hi = mean_ci(v)
        points.append({"sigma": s, "mean": mean, "ci_low": lo, "ci_high": hi, "n": int(v.size)})
    m, var, n = _moments(values)
    best = int(np.argmax(m))
    good = best_set(m, var, n, best)
    interior = 0 < best < len(sigmas) - 1
    verdict, why, test = _u_verdict(sigmas, m, var, n)
    return {
        "metric": metric,
        "points": points,
        "best_sigma": sigmas[best],
        "indistinguishable_from_best": [sigmas[j] for j in good if j != best],
        "peak_inside_grid": interior,
        "u_test": test,
        "u_verdict": verdict,
        "u_reason": why,
        "inverted_u": verdict == "holds",
    }


def _u_verdict(sigmas, m, var, n) -> tuple[str, str, dict | None]:
    k = len(sigmas)
    if k < 3:
        return "inconclusive", f"{k} σ: an inverted U needs at least 3", None
    few = [s for s, c in zip(sigmas, n, strict=True) if c < MIN_SEEDS]
    if few:
        listed = ", ".join(f"{s:g}" for s in few)
        return "inconclusive", f"fewer than {MIN_SEEDS} seeds at σ = {listed}", None
    t = u_test(m, var, n)
    test = {
        "p_peak": float(t["p_peak"]),
        "peak_sigma": sigmas[int(t["peak_index"])],
        "level_peak": ALPHA / (k - 2),
        "p_edge": float(t["p_edge"]),
        "edge_sigma": sigmas[int(t["edge_index"])],
        "level_edge": ALPHA / 2,
    }
    if t["holds"]:
        why = (
            f"σ = {test['peak_sigma']:g} above both ends (Welch p = {test['p_peak']:.2g} "
            f"< {test['level_peak']:.3g})"
        )
        return "holds", why, test
    if t["contradicted"]:
        why = (
            f"the grid's end σ = {test['edge_sigma']:g} is above every other σ (Welch p = "
            f"{test['p_edge']:.2g} < {test['level_edge']:.3g}): monotone on this grid"
        )
        return "contradicted", why, test
    why = (
        f"no interior σ significantly above both ends (best p = {test['p_peak']:.2g} at "
        f"σ = {test['peak_sigma']:g}, level {test['level_peak']:.3g})"
    )
    return "inconclusive", why, test


NULL_DISTRIBUTIONS = ("normal", "student_t2", "failure_mixture", "heteroscedastic")


def null_returns(dist: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Returns with no σ effect: every σ draws from the same law. `failure_mixture`: 15 % of
    seeds fail (a return 10 scale units lower), as RL seeds do; `heteroscedastic`: normal with a
    spread that grows 100× across the grid (σ changes the seeds' scatter, not their mean)."""
    if dist == "normal":
        return rng.standard_normal(shape)
    if dist == "student_t2":
        return rng.standard_t(2, shape)
    if dist == "failure_mixture":
        return rng.standard_normal(shape) - 10.0 * (rng.random(shape) < 0.15)
    if dist == "heteroscedastic":
        return rng.standard_normal(shape) * np.geomspace(0.1, 10, shape[-2])[:, None]
    raise ValueError(f"dist: one of {NULL_DISTRIBUTIONS}, got {dist!r}")


def null_rates(
    n_sigmas: int = 6, seeds: int = 3, *, dist: str = "normal", n_sim: int = 20_000, seed: int = 0
) -> dict:
    """How often the tests speak on simulated sweeps with no σ effect: the inverted U's "holds",
    its "contradicted", and the best set leaving out some σ (all false positives here)."""
    rng = np.random.default_rng(seed)
    x = null_returns(dist, (n_sim, n_sigmas, seeds), rng)
    m, var = x.mean(-1), x.var(-1, ddof=1)
    n = np.full(m.shape, float(seeds))
    t = u_test(m, var, n)
    k = n_sigmas
    best = np.argmax(m, axis=-1)
    take = lambda a: np.take_along_axis(a, best[:, None], -1)  # noqa: E731
    p = welch_p_greater(take(m), take(var), take(n), m, var, n)
    p[np.arange(n_sim), best] = 1.0
    excluded = (2 * p < ALPHA / (k * (k - 1) / 2)).any(-1)
    return {
        "dist": dist,
        "n_sigmas": n_sigmas,
        "seeds": seeds,
        "n_sim": n_sim,
        "inverted_u": float(t["holds"].mean()),
        "contradicted": float(t["contradicted"].mean()),
        "best_set_excludes": float(excluded.mean()),
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
