"""The instruments' PNGs: landscape slices, spectra, heat, backward heat, uncertainty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from mollify.util.plotting import plt, save_figure


def landscape(ds: xr.Dataset, path, holder: dict[float, float | None] | None = None) -> Path:
    """2-D: one heat map per σ on a shared colour scale; 1-D: the slices overlaid with ±2 SE."""
    sigmas = [float(s) for s in ds["sigma"].values]
    title = f"{ds.attrs.get('title', 'landscape')}\nσ {ds.attrs.get('sigma_units', '')}"

    def label(s):
        value = None if holder is None else holder.get(s)
        alpha = "" if value is None else f", Hölder α≈{value:.2f}"
        return f"σ = {s:g}{alpha}"

    if "beta" in ds.dims:
        fig, axes = plt.subplots(1, len(sigmas), figsize=(3.6 * len(sigmas), 3.4), squeeze=False)
        lo, hi = float(ds["J"].min()), float(ds["J"].max())
        for ax, s in zip(axes[0], sigmas, strict=True):
            img = ax.imshow(
                ds["J"].sel(sigma=s).values.T,
                origin="lower",
                extent=[*ds["alpha"].values[[0, -1]], *ds["beta"].values[[0, -1]]],
                vmin=lo,
                vmax=hi,
                cmap="viridis",
                aspect="equal",
            )
            ax.set_title(label(s), fontsize=9)
            ax.set_xlabel("α")
        axes[0, 0].set_ylabel("β")
        fig.colorbar(img, ax=axes[0].tolist(), shrink=0.85, label="J (discounted return)")
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
        alpha = ds["alpha"].values
        for s in sigmas:
            j, se = ds["J"].sel(sigma=s).values, ds["J_stderr"].sel(sigma=s).values
            ax.plot(alpha, j, lw=1, label=label(s))
            if np.all(np.isfinite(se)):
                ax.fill_between(alpha, j - 2 * se, j + 2 * se, alpha=0.2)
        ax.set_xlabel("α (filter-normalised)")
        ax.set_ylabel("J (discounted return)")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def spectra(spec: xr.Dataset, path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xi = spec["xi"].values
    p0 = spec["power"].sel(sigma=0.0).values
    for s in spec["sigma"].values:
        p = spec["power"].sel(sigma=s).values
        ax1.semilogy(xi[1:], np.maximum(p[1:], 1e-300), lw=1, label=f"σ = {s:g}")
        if s > 0:
            ratio = np.log(np.maximum(p[1:], 1e-300) / np.maximum(p0[1:], 1e-300))
            line = ax2.plot(xi[1:] ** 2, ratio, ".", ms=3)[0]
            slope = float(spec["slope"].sel(sigma=s))
            ax2.plot(xi[1:] ** 2, -(s**2) * xi[1:] ** 2, "--", color=line.get_color(), lw=1)
            fit = "no fit (see summary.json)" if np.isnan(slope) else f"fit {slope:.3g}"
            line.set_label(f"σ = {s:g}: {fit}, −σ² = {-(s**2):.3g}")
    ax1.set_xlabel("ξ")
    ax1.set_ylabel("power")
    ax1.legend(fontsize=8)
    ax2.set_xlabel("ξ²")
    ax2.set_ylabel("log(P_σ / P_0)")
    top = (
        float(
            max(float(s) ** -2 * spec.attrs.get("band", 3.0) for s in spec["sigma"].values if s > 0)
        )
        if (spec["sigma"].values > 0).any()
        else 1.0
    )
    ax2.set_xlim(0, min(top * 1.5, float(xi[-1] ** 2)))
    ax2.set_ylim(-10, 2)
    ax2.legend(fontsize=7)
    fig.suptitle(f"Power spectra of landscape slices ({spec.attrs.get('mode', '')} mode)")
    return save_figure(fig, path)


def heat(report, path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    p = report.profile
    ax1.plot(p.actions, p.q, "k", lw=1, label="Q(s, a)  (t = 0)")
    for i in np.linspace(0, len(report.t) - 1, 5).astype(int):
        ax1.plot(report.mu, report.u[i], lw=1, label=f"u(μ, t={report.t[i]:.3g})")
    ax1.set_xlabel(f"action component {p.action_index}")
    ax1.legend(fontsize=7)
    img = ax2.pcolormesh(report.mu, report.t, report.u, shading="auto", cmap="viridis")
    ax2.set_yscale("log")
    ax2.set_xlabel("μ")
    ax2.set_ylabel("t = σ²")
    fig.colorbar(img, ax=ax2, label="u(μ, t)")
    fig.suptitle(
        f"Heat equation: max|u_t − ½u_μμ| = {report.max_abs_residual:.3g} vs "
        f"max|u_t| = {report.max_abs_u_t:.3g}"
    )
    return save_figure(fig, path)


def backward(result, summary: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    xi = result.xi[1:]
    ax.semilogy(xi, result.predicted[1:], "k-", lw=1, label="predicted e^{Tξ²/2}")
    v = result.valid[1:]
    ax.semilogy(xi[v], result.measured[1:][v], ".", ms=4, label="measured (above noise floor)")
    ax.semilogy(xi[~v], result.measured[1:][~v], "x", ms=3, alpha=0.4, label="below floor")
    if np.isfinite(summary["cutoff_xi"]):
        ax.axvline(summary["cutoff_xi"], ls=":", label=f"ξ_c = {summary['cutoff_xi']:.3g}")
    ax.set_xlabel("ξ")
    ax.set_ylabel("amplification")
    ax.set_ylim(0.5, 1e16)
    ax.legend(fontsize=8)
    ax.set_title(f"Backward heat from T = {summary['T']:.3g}, δ = {summary['delta']:.1e}")
    return save_figure(fig, path)


def uncertainty(report, path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for prof in report.radial_profiles:
        ax1.plot(report.radii, prof, lw=0.7, alpha=0.5)
    ax1.axhline(report.j_star - report.drop * (report.j_star - report.j_background), ls=":", c="k")
    ax1.axvline(report.width, ls="--", c="k", label=f"w = {report.width:.3g}")
    ax1.set_xlabel("radius (filter-normalised)")
    ax1.set_ylabel("J(θ* + r d)")
    ax1.legend(fontsize=8)
    ax2.errorbar(
        report.param_sigmas,
        report.j_param,
        2 * report.j_param_se,
        fmt="o-",
        label="J̃_σ(θ*) (parameter)",
    )
    ax2.errorbar(
        report.action_sigmas,
        report.j_action,
        2 * report.j_action_se,
        fmt="s-",
        label="J_σ(θ*) (action, rel. units)",
    )
    ax2.axhline(report.j_background, ls=":", c="gray", label="background")
    ax2.axvline(report.width, ls="--", c="k", label="w")
    ax2.set_xscale("log")
    ax2.set_xlabel("σ")
    ax2.legend(fontsize=8)
    fig.suptitle("Uncertainty principle: the good region against the mollifier's width")
    return save_figure(fig, path)
