"""Reading a landscape: power spectra of its slices against the heat kernel's law, and the
grid's own Hölder exponent, both with the Monte-Carlo noise of the sampled J removed (two
half-sample landscapes whose noises are independent)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from mollify.instruments.roughness import RESOLVE_RATIO


def _rows(ds: xr.Dataset, sigma) -> np.ndarray:
    """The 1-D slices along alpha at one σ: (rows, grid)."""
    values = np.asarray(ds["J"].sel(sigma=sigma).values, np.float64)
    return values[None, :] if values.ndim == 1 else values.T  # 2-D: one row per beta


def _halves(ds: xr.Dataset, sigma) -> np.ndarray | None:
    """The two half-sample slices at one σ as rows (2, rows, grid), or None when the dataset
    has none (one sample per point, or written before halves were kept)."""
    if "J_halves" not in ds:
        return None
    values = np.asarray(ds["J_halves"].sel(sigma=sigma).values, np.float64)
    if not np.all(np.isfinite(values)):
        return None
    return values[:, None, :] if values.ndim == 2 else np.transpose(values, (0, 2, 1))


def spectra(ds: xr.Dataset, *, band: float = 3.0, skip_lowest: int = 1) -> xr.Dataset:
    """Power spectrum of the slices along alpha per σ, and the fit of log(P_σ/P_0) on ξ².

    Each slice loses its mean and is Hann-windowed (a slice is not periodic). For 2-D landscapes
    the spectra of all rows are averaged. Where the dataset keeps two half-sample landscapes, the
    power is their cross-spectrum Re(F_a F_b*): their Monte-Carlo noises are independent, so it
    has no noise floor, and a bin counts as resolved when it exceeds RESOLVE_RATIO × the noise
    power |F_a − F_b|²/4 of the full mean. The fit uses the resolved frequencies with
    0 < σ²ξ² <= `band` after dropping the `skip_lowest` bins nearest zero that the window's
    leakage dominates. Parameter-space smoothing in slice units predicts slope −σ² exactly; action
    noise only approximately (different units). `note` says, per σ, why there is no slope.
    """
    sigmas = np.asarray(ds["sigma"].values, np.float64)
    if 0.0 not in sigmas:
        raise ValueError("sigmas: spectra need the unsmoothed landscape (sigma 0) as reference")
    alpha = np.asarray(ds["alpha"].values)
    n = alpha.size
    spacing = float(alpha[1] - alpha[0])
    xi = 2 * np.pi * np.fft.rfftfreq(n, spacing)
    window = np.hanning(n)

    def transform(rows):
        return np.fft.rfft((rows - rows.mean(axis=-1, keepdims=True)) * window, axis=-1)

    power, noise = np.empty((sigmas.size, xi.size)), np.zeros((sigmas.size, xi.size))
    for i, s in enumerate(sigmas):
        halves = _halves(ds, s)
        if halves is None:
            power[i] = (np.abs(transform(_rows(ds, s))) ** 2).mean(axis=0)
            continue
        fa, fb = transform(halves[0]), transform(halves[1])
        power[i] = (fa * np.conj(fb)).real.mean(axis=0)
        noise[i] = (np.abs(fa - fb) ** 2).mean(axis=0) / 4
    resolved = (power > 0) & (power >= RESOLVE_RATIO * noise)
    p0, ok0 = power[sigmas == 0.0][0], resolved[sigmas == 0.0][0]
    floor = 1e-12 * p0.max() if p0.max() > 0 else np.inf
    slopes, n_fit = np.full(sigmas.size, np.nan), np.zeros(sigmas.size, dtype=int)
    notes = [""] * sigmas.size
    bins = np.arange(xi.size)
    for i, s in enumerate(sigmas):
        if s == 0.0:
            slopes[i] = 0.0
            continue
        in_band = (bins > skip_lowest) & ((s * xi) ** 2 <= band)
        use = in_band & ok0 & (p0 > floor) & resolved[i]
        n_fit[i] = int(use.sum())
        if n_fit[i] >= 3:
            x, y = xi[use] ** 2, np.log(power[i, use] / p0[use])
            slopes[i] = float(np.polyfit(x, y, 1)[0])
        elif in_band.sum() < 3:
            notes[i] = (
                f"{n} grid points over ±{alpha[-1]:g} resolve ξ in steps of {xi[1]:.3g}; the band "
                f"σ²ξ² ≤ {band:g} ends at ξ = {math.sqrt(band) / s:.3g}, leaving "
                f"{int(in_band.sum())} usable bins (3 needed): use a wider --extent"
            )
        else:
            notes[i] = (
                f"only {n_fit[i]} of the {int(in_band.sum())} frequencies in the band σ²ξ² ≤ "
                f"{band:g} rise above the Monte-Carlo noise in both P_0 and P_σ (3 needed): "
                "use more --samples"
            )
    return xr.Dataset(
        {
            "power": (("sigma", "xi"), power),
            "noise_power": (("sigma", "xi"), noise),
            "slope": (("sigma",), slopes, {"long_name": "fitted d log(P_σ/P_0) / d ξ²"}),
            "predicted_slope": (("sigma",), -(sigmas**2)),
            "n_fit": (("sigma",), n_fit),
            "note": (("sigma",), np.asarray(notes, dtype=object).astype(str)),
        },
        coords={"sigma": sigmas, "xi": xi},
        attrs={"mode": ds.attrs.get("mode", ""), "band": band},
    )


@dataclass(frozen=True, eq=False)
class GridRoughness:
    """The grid's own Hölder exponent at one σ; `alpha` NaN with `note` saying why."""

    alpha: float
    lags: np.ndarray  # in grid steps
    structure: np.ndarray  # D(k) (no halves) or the debiased D2(k) (halves)
    noise_floor: np.ndarray
    resolved: np.ndarray
    note: str = ""


def grid_roughness(
    ds: xr.Dataset, *, max_lag_fraction: float = 0.125
) -> dict[float, GridRoughness]:
    """Hölder exponent per σ from the landscape itself, by its structure function along alpha (and
    beta for 2-D) at lags k on a geometric range up to `max_lag_fraction` of the axis (at least 3).

    With half-sample landscapes: D2(k) = mean ΔJ_a·ΔJ_b, the product of the two halves'
    increments, whose independent noises leave no bias; the noise floor is mean (ΔJ_a − ΔJ_b)²/4,
    what the naive D2 of the full mean would add; α is half the slope of log D2 on log k over
    the lags with D2 ≥ RESOLVE_RATIO × floor. Without halves (one sample per point, or an older
    file), today's first-order D(k) = mean |ΔJ| and its slope over all lags. It describes
    roughness at the grid's scales (h to ~extent/4); `mollify roughness` probes finer.
    """
    n = ds.sizes["alpha"]
    top = max(3, int(n * max_lag_fraction))
    lags = np.unique(np.geomspace(1, top, 8).astype(int))
    out = {}
    for s in np.asarray(ds["sigma"].values, np.float64):
        halves = _halves(ds, s)
        if halves is None:
            values = np.asarray(ds["J"].sel(sigma=s).values, np.float64)
            arrays = [values] if values.ndim == 1 else [values, values.T]
            d = np.array(
                [
                    np.concatenate([np.abs(a[k:] - a[:-k]).ravel() for a in arrays]).mean()
                    for k in lags
                ]
            )
            floor, ok, power = np.zeros_like(d), d > 0, 1.0
        else:
            a, b = halves[0], halves[1]  # (rows, grid); 2-D: rows along alpha, columns along beta
            pairs = [(a, b)] if ds["J"].ndim == 2 else [(a, b), (a.T, b.T)]

            def incr(x, k):
                return x[..., k:] - x[..., :-k]

            d = np.array(
                [
                    np.mean(np.concatenate([(incr(x, k) * incr(y, k)).ravel() for x, y in pairs]))
                    for k in lags
                ]
            )
            floor = np.array(
                [
                    np.mean(
                        np.concatenate([((incr(x, k) - incr(y, k)) ** 2).ravel() for x, y in pairs])
                    )
                    / 4
                    for k in lags
                ]
            )
            ok, power = (d > 0) & (d >= RESOLVE_RATIO * floor), 0.5
        if ok.sum() >= 3:
            alpha = power * float(np.polyfit(np.log(lags[ok]), np.log(d[ok]), 1)[0])
            out[float(s)] = GridRoughness(alpha, lags, d, floor, ok)
            continue
        if lags.size < 3:
            note = f"{n} grid points give only lags {lags.tolist()} (3 needed): use a larger --grid"
        else:
            note = (
                f"only {int(ok.sum())} of lags {lags.min()}–{lags.max()} resolve the increments "
                "above the Monte-Carlo noise (3 needed): use more --samples"
            )
        out[float(s)] = GridRoughness(math.nan, lags, d, floor, ok, note)
    return out


def grid_holder(ds: xr.Dataset, *, max_lag_fraction: float = 0.125) -> dict[float, float]:
    """{σ: the grid's Hölder exponent} (NaN where `grid_roughness` has a note instead)."""
    return {s: g.alpha for s, g in grid_roughness(ds, max_lag_fraction=max_lag_fraction).items()}
