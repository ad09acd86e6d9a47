"""Roughness of a landscape: the local Hölder exponent of J_σ around a policy.

`holder_exponent` measures how fast |f(x0 + δd) − f(x0)| shrinks with δ: D(δ) ∝ δ^α. α = 1 means a
usable gradient at that scale; α < 1 means the differences shrink more slowly than δ (a fractal
landscape, where finite differences and gradients say little). J_σ is only ever sampled: its
increments carry Monte-Carlo noise that does not vanish as δ → 0 on a chaotic system, and a
straight fit would measure that floor, not J_σ. So sampled functions are paired across points
(common random numbers) and the noise is removed before anything is fitted. The mechanism, a
chaotic closed loop, is measured by `lyapunov`; `policy_roughness` applies both to a policy on a task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RADII = np.geomspace(1e-3, 1e-1, 12)


# ---------------------------------------------------------------------------------------------
# Hölder exponent
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: the array fields have no truth value
class HolderEstimate:
    """Local Hölder exponent of f at x0, with what it rests on.

    `alpha` is the exponent (NaN only when no scale is resolved; `note` then says why). For a
    deterministic f it is today's fit of log D(δ) = α log δ + c over all radii, D the mean
    absolute increment. For paired samples it is the exponent at the smallest resolved scales,
    from the debiased second-order structure function D2(δ) ∝ δ^{2α}. `structure` is D2 per
    radius (debiased), `noise_floor` what Monte-Carlo noise adds to the naive D2 (0 for a
    deterministic f), `resolved` the radii where D2 ≥ RESOLVE_RATIO × floor, `local_alpha` the
    local exponent at each resolved radius, `crossover` δ*: the scale below which f is smooth
    (local α ≥ SMOOTH_ALPHA) and above which rough; 0 when rough at every measured scale, inf
    when smooth at every measured scale.
    """

    alpha: float
    ci_low: float
    ci_high: float
    radii: np.ndarray
    mean_abs_diff: np.ndarray  # deterministic: D(δ); paired: √D2(δ), the debiased RMS increment
    intercept: float
    n_directions: int
    confidence: float
    fitted: np.ndarray  # bool per radius: entered the fit of `alpha`
    n_samples: int = 1
    structure: np.ndarray | None = None
    noise_floor: np.ndarray | None = None
    resolved: np.ndarray | None = None
    local_alpha: np.ndarray | None = None
    crossover: float = math.nan
    crossover_ci: tuple[float, float] = (math.nan, math.nan)
    alpha_below: float = math.nan  # fit over resolved radii ≤ δ*
    alpha_above: float = math.nan  # fit over resolved radii > δ*
    note: str = ""
    # Per-sample increments (n_directions, n_radii, S; S = 1 for a deterministic f), kept so that
    # two estimates on the same rays can be compared on the same radii (`compare_on_radii`).
    increments: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        def listed(x):
            return None if x is None else np.asarray(x).tolist()

        return {
            "alpha": self.alpha,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "intercept": self.intercept,
            "n_directions": self.n_directions,
            "n_samples": self.n_samples,
            "radii": self.radii.tolist(),
            "mean_abs_diff": self.mean_abs_diff.tolist(),
            "fitted": self.fitted.tolist(),
            "structure": listed(self.structure),
            "noise_floor": listed(self.noise_floor),
            "resolved": listed(self.resolved),
            "local_alpha": listed(self.local_alpha),
            "crossover": self.crossover,
            "crossover_ci": list(self.crossover_ci),
            "alpha_below": self.alpha_below,
            "alpha_above": self.alpha_above,
            "note": self.note,
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


RESOLVE_RATIO = (
    4.0  # resolved: D2 ≥ this × its Monte-Carlo floor (the mean |ΔJ| ≳ 2 standard errors)
)
SMOOTH_ALPHA = 0.8  # a local exponent at or above this counts as smooth (a usable gradient)
SMALLEST_SCALES = (
    4  # resolved radii that `alpha`, the exponent at the smallest scales, is fitted on
)


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
    """Local Hölder exponent of `f` at `x0` from how its increments f(x0 + δd) − f(x0) shrink with δ.

    `f` maps a batch (N, d) (a float64 NumPy array; called once, on all n_directions × len(radii)
    + 1 points) either to (N,), a deterministic function, or to (N, S): S samples paired across
    all N points by common random numbers (sample j of every point saw the same noise draw, as
    `evaluate` pairs episodes), whose mean over samples is the function measured, e.g. J_σ (S = 1: one sample, nothing to
    remove; the exponent at the smallest scales of a deterministic f).

    Deterministic f: α is the slope of log D(δ) on log δ over all radii, D = mean_d |increment|.
    Paired samples: an increment's sample mean m has E m² = ΔJ² + Var/S, so the squared
    increment is estimated by m² − s²/S (s² the increments' sample variance): D2(δ) = mean over
    directions, unbiased; the floor mean_d s²/S is what the naive mean of m² would add, the noise
    that a straight-line fit would otherwise measure. Only radii with D2 ≥ RESOLVE_RATIO × floor
    enter a fit (the noise is counted against each increment's own standard error, not against
    the spread over directions, which is the landscape's), and α is the slope of log √D2 over the
    SMALLEST_SCALES smallest resolved radii. Both kinds also give local exponents and the
    crossover δ* below which f is smooth (see HolderEstimate). The CI is a percentile bootstrap
    over directions (and, for paired samples, over samples, resampled together across points).
    Directions are unit Gaussian draws from `np.random.default_rng(seed)`; radii are absolute
    (default `DEFAULT_RADII`). When too few radii are resolved, `alpha` is NaN and `note` says why.
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
    n = batch.shape[0]
    if values.shape != (n,) and not (values.ndim == 2 and values.shape[0] == n):
        raise ValueError(f"f: must map (N, d) to (N,) or (N, S), got {values.shape} for N={n}")
    if not np.all(np.isfinite(values)):
        raise ValueError("f: returned non-finite values")
    if values.ndim == 1:
        return _deterministic(values, radii, n_dir, rng, int(n_bootstrap), confidence)
    diffs = values[1:].reshape(n_dir, n_r, -1) - values[0]  # (n_dir, n_r, S), paired
    return _paired(diffs, radii, rng, int(n_bootstrap), confidence)


def _deterministic(values, radii, n_dir, rng, n_bootstrap, confidence) -> HolderEstimate:
    increments = values[1:].reshape(n_dir, radii.size) - values[0]
    diffs = np.abs(increments)
    mean_abs = diffs.mean(axis=0)
    fitted = mean_abs > 0
    if fitted.sum() < 3:
        raise ValueError(
            f"f is flat at this scale: |f(x0 + δd) − f(x0)| = 0 for all but {fitted.sum()} of "
            f"{radii.size} radii in [{radii[0]:.3g}, {radii[-1]:.3g}]; pass larger radii"
        )
    log_r = np.log(radii[fitted])
    alpha, intercept = _slopes(log_r, np.log(mean_abs[fitted]))

    idx = rng.integers(0, n_dir, size=(n_bootstrap, n_dir))
    boot = diffs[:, fitted][idx].mean(axis=1)  # (n_bootstrap, n_fitted)
    ok = np.all(boot > 0, axis=1)  # a resample of only flat directions has no logarithm
    with np.errstate(divide="ignore"):
        boot_alpha, _ = _slopes(log_r, np.log(np.where(ok[:, None], boot, 1.0)))
    lo, hi = _percentiles(boot_alpha[ok], confidence)
    # Local exponents and δ* from the second-order structure function (no noise to remove).
    d2 = (increments**2).mean(axis=0)
    d2_boot = (increments[:, fitted] ** 2)[idx].mean(axis=1)
    cross = _crossover_fit(radii, d2, fitted, d2_boot[ok], confidence)
    return HolderEstimate(
        alpha=float(alpha),
        ci_low=lo,
        ci_high=hi,
        radii=radii,
        mean_abs_diff=mean_abs,
        intercept=float(intercept),
        n_directions=n_dir,
        confidence=float(confidence),
        fitted=fitted,
        structure=d2,
        noise_floor=np.zeros_like(d2),
        resolved=fitted,
        increments=increments[..., None],
        **cross,
    )


def _paired(diffs, radii, rng, n_bootstrap, confidence) -> HolderEstimate:
    n_dir, n_r, n_samples = diffs.shape
    sq, var = _debiased_squares(diffs)
    d2, floor = sq.mean(axis=0), var.mean(axis=0)
    resolved = (d2 > 0) & (d2 >= RESOLVE_RATIO * floor)
    idx = np.nonzero(resolved)[0]
    common = {
        "radii": radii,
        "mean_abs_diff": np.sqrt(np.maximum(d2, 0.0)),
        "n_directions": n_dir,
        "confidence": float(confidence),
        "n_samples": n_samples,
        "structure": d2,
        "noise_floor": floor,
        "resolved": resolved,
        "increments": diffs,
    }
    if idx.size < 3:
        if not np.any(diffs):
            note = "f is flat here: every increment at every radius is exactly 0 (nothing to fit)"
        else:
            ratio = np.max(d2 / np.maximum(floor, 1e-300))
            note = (
                f"only {idx.size} of {n_r} radii in [{radii[0]:.3g}, {radii[-1]:.3g}] resolve "
                f"the increments above the Monte-Carlo noise (3 needed; best signal/noise "
                f"{ratio:.2g}, needed {RESOLVE_RATIO:g}): use more than {n_samples} samples or "
                "larger radii"
            )
        nan = math.nan
        return HolderEstimate(
            alpha=nan, ci_low=nan, ci_high=nan, intercept=nan,
            fitted=np.zeros(n_r, bool), local_alpha=np.full(n_r, nan), note=note, **common,
        )  # fmt: skip
    small = idx[:SMALLEST_SCALES]
    fitted = np.zeros(n_r, bool)
    fitted[small] = True
    log_r = np.log(radii)
    alpha, intercept = _slopes(log_r[small], 0.5 * np.log(d2[small]))
    # Bootstrap: resample samples (the same columns at every point, keeping the pairing) and
    # directions together, on the radii the estimate used.
    weights = _sample_weights(rng, n_samples, n_bootstrap)
    pick = rng.integers(0, n_dir, size=(n_bootstrap, n_dir))
    d2_b = _resampled_d2(diffs[:, idx], weights, pick)  # (B, k)
    ok = np.all(d2_b > 0, axis=1)
    k = small.size
    boot_alpha, _ = _slopes(log_r[small], 0.5 * np.log(np.where(d2_b[ok, :k] > 0, d2_b[ok, :k], 1)))
    lo, hi = _percentiles(boot_alpha, confidence)
    cross = _crossover_fit(radii, d2, resolved, d2_b[ok], confidence)
    return HolderEstimate(
        alpha=float(alpha), ci_low=lo, ci_high=hi, intercept=float(intercept), fitted=fitted,
        **common, **cross,
    )  # fmt: skip


def _sample_weights(rng, n_samples: int, n_bootstrap: int) -> np.ndarray:
    """Bootstrap counts of S samples, one row per resample (the same columns at every point)."""
    p = np.full(n_samples, 1 / n_samples)
    return rng.multinomial(n_samples, p, size=n_bootstrap).astype(np.float64)


def _resampled_d2(diffs: np.ndarray, weights: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Debiased D2 per resample (B, n_radii): samples reweighted by `weights`, then directions
    resampled by `pick` (B, n_dir)."""
    sq_b, _ = _debiased_squares(diffs, weights)  # (B, n_dir, k)
    return np.take_along_axis(sq_b, pick[:, :, None], axis=1).mean(axis=1)


def _debiased_squares(diffs: np.ndarray, weights: np.ndarray | None = None):
    """(m² − s²/S, s²/S) per increment from its S paired samples (last axis): the unbiased squared
    increment and the Monte-Carlo variance of its mean. With `weights` (B, S), bootstrap counts
    of the samples, one result per resample: (B, …)."""
    s = diffs.shape[-1]
    if weights is None:
        m = diffs.mean(axis=-1)
        var = diffs.var(axis=-1, ddof=1) if s > 1 else np.zeros_like(m)
    else:
        flat = diffs.reshape(-1, s)
        shape = (weights.shape[0], *diffs.shape[:-1])
        m = (weights @ flat.T / s).reshape(shape)
        m2 = (weights @ (flat**2).T / s).reshape(shape)
        var = np.maximum(m2 - m**2, 0.0) * s / (s - 1) if s > 1 else np.zeros_like(m)
    return m**2 - var / s, var / s


def _local_exponents(log_r: np.ndarray, log_rms: np.ndarray) -> np.ndarray:
    """Local α at each radius: slope of log √D2 over it and its neighbours (ends: 2 points)."""
    out = np.empty(log_rms.shape)
    for i in range(log_r.size):
        lo, hi = max(0, i - 1), min(log_r.size, i + 2)
        out[..., i] = _slopes(log_r[lo:hi], log_rms[..., lo:hi])[0]
    return out


def _crossover(log_r: np.ndarray, log_rms: np.ndarray) -> tuple[float, float, float]:
    """(δ*, α below, α above) from the best two-segment fit of log √D2 on log δ.

    Every split into a lower and an upper segment of at least two radii each (sharing none) is
    fitted by two lines; the split with the least squared error wins, and δ* is where its lines
    cross (kept between the segments' neighbouring radii). δ* = 0 when the lower segment is
    already rough (α < SMOOTH_ALPHA: rough at every measured scale), inf when the upper one is
    still smooth (smooth at every measured scale); fewer than 4 radii: one line decides.
    """
    n = log_r.size
    best = None
    for k in range(2, n - 1):  # lower segment: radii [0, k), upper: [k, n)
        sb, cb = _slopes(log_r[:k], log_rms[:k])
        sa, ca = _slopes(log_r[k:], log_rms[k:])
        sse = np.sum((log_rms[:k] - sb * log_r[:k] - cb) ** 2)
        sse += np.sum((log_rms[k:] - sa * log_r[k:] - ca) ** 2)
        if best is None or sse < best[0]:
            best = (sse, k, sb, cb, sa, ca)
    if best is None:
        slope = float(_slopes(log_r, log_rms)[0])
        return (math.inf if slope >= SMOOTH_ALPHA else 0.0), slope, slope
    _, k, sb, cb, sa, ca = best
    if sb < SMOOTH_ALPHA:
        return 0.0, float(sb), float(sa)
    if sa >= SMOOTH_ALPHA:
        return math.inf, float(sb), float(sa)
    cut = (ca - cb) / (sb - sa)  # where the two lines meet
    cut = min(max(cut, log_r[k - 1]), log_r[k])
    return float(math.exp(cut)), float(sb), float(sa)


def _crossover_fit(radii, d2, use, d2_boot, confidence) -> dict:
    """δ* with its bootstrap CI, the exponents below and above it, and local exponents, on the
    radii in `use` (d2_boot: one row per resample, over those radii)."""
    idx = np.nonzero(use)[0]
    log_r, log_rms = np.log(radii[idx]), 0.5 * np.log(d2[idx])
    local = np.full(radii.size, np.nan)
    local[idx] = _local_exponents(log_r, log_rms)
    cross, below, above = _crossover(log_r, log_rms)
    boot = [_crossover(log_r, 0.5 * np.log(row))[0] for row in d2_boot if np.all(row > 0)]
    return {
        "local_alpha": local,
        "crossover": cross,
        "crossover_ci": _percentiles(np.asarray(boot), confidence, method="inverted_cdf"),
        "alpha_below": below,
        "alpha_above": above,
    }


def _percentiles(x: np.ndarray, confidence: float, method: str = "linear") -> tuple[float, float]:
    if x.size == 0:
        return math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(x, [tail, 100 - tail], method=method)
    return float(lo), float(hi)


# ---------------------------------------------------------------------------------------------
# Two estimates on the same radii (mollification at matched scales)
# ---------------------------------------------------------------------------------------------
def compare_on_radii(
    rough: HolderEstimate,
    smooth: HolderEstimate,
    use,
    *,
    seed: int = 0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """α of `rough` (e.g. raw J) and `smooth` (e.g. J_σ) fitted on exactly the radii in `use` (a
    bool mask), each with its bootstrap CI, their paired difference α(smooth) − α(rough) with its
    CI, and both local exponents on those radii. Comparing exponents fitted at different scales
    says nothing about smoothing; this compares them at the same ones.

    Both estimates must come from `holder_exponent` with the same x0, radii, n_directions and seed
    (hence the same rays). Both α's are slopes of log √D2 (the debiased RMS increment, for a
    deterministic f the plain one). The bootstrap is `holder_exponent`'s, paired: directions
    resampled by one shared draw (the same rays), samples by one shared draw when both have S
    samples (common random numbers pair them too), so the difference's CI is a paired one. Values are NaN, with `note` saying why, where an estimate's D2 is not
    positive or not resolved above its noise on some radius in `use`, or `use` has < 3 radii.
    """
    use = np.asarray(use, bool)
    if not np.array_equal(rough.radii, smooth.radii) or rough.n_directions != smooth.n_directions:
        raise ValueError("compare_on_radii: both estimates need the same radii and directions")
    if rough.increments is None or smooth.increments is None:
        raise ValueError(
            "compare_on_radii: estimates without increments (not from holder_exponent)"
        )
    nan2 = (math.nan, math.nan)
    out: dict[str, Any] = {"alpha_smooth": math.nan, "ci_smooth": nan2, "alpha_rough": math.nan}
    out |= {"ci_rough": nan2, "difference": math.nan, "ci_difference": nan2, "note": ""}
    idx = np.nonzero(use)[0]
    log_r = np.log(rough.radii[idx])
    n_r = rough.radii.size
    out["local_smooth"], out["local_rough"] = np.full(n_r, math.nan), np.full(n_r, math.nan)
    for key, est in (("smooth", smooth), ("rough", rough)):
        d2 = np.asarray(est.structure)[idx]
        if idx.size >= 2 and np.all(d2 > 0):
            out[f"local_{key}"][idx] = _local_exponents(log_r, 0.5 * np.log(d2))
    if idx.size < 3:
        out["note"] = f"{idx.size} radii to compare on (3 needed)"
        return out
    for name, est in (("J_σ", smooth), ("J", rough)):
        if not np.all(np.asarray(est.resolved)[idx] & (np.asarray(est.structure)[idx] > 0)):
            out["note"] = f"{name}'s increments are not resolved above its noise on every radius"
            return out
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, smooth.n_directions, size=(n_bootstrap, smooth.n_directions))
    boot, weights = {}, {}
    for key, est in (("smooth", smooth), ("rough", rough)):
        n_s = est.increments.shape[-1]  # equal S: samples paired across both (common numbers)
        if n_s not in weights:
            weights[n_s] = _sample_weights(rng, n_s, n_bootstrap)
        d2_b = _resampled_d2(est.increments[:, idx], weights[n_s], pick)
        ok = np.all(d2_b > 0, axis=1)
        slopes, _ = _slopes(log_r, 0.5 * np.log(np.where(d2_b > 0, d2_b, 1.0)))
        boot[key] = np.where(ok, slopes, math.nan)
        out[f"alpha_{key}"] = float(_slopes(log_r, 0.5 * np.log(est.structure[idx]))[0])
        out[f"ci_{key}"] = _percentiles(slopes[ok], confidence)
    out["difference"] = out["alpha_smooth"] - out["alpha_rough"]
    diff = boot["smooth"] - boot["rough"]
    out["ci_difference"] = _percentiles(diff[np.isfinite(diff)], confidence)
    return out
