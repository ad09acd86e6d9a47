"""The study's PNGs: final return against σ per task, learning curves per σ."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mollify.util.plotting import plt, save_figure


def sigma_curves(entries: dict, task: str, path) -> Path:
    """Final return against σ per (algorithm, kernel, σ-mode): deterministic solid, stochastic
    dashed, shaded 95% bootstrap CI over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for ax, kind in zip(axes, ("deterministic", "stochastic"), strict=True):
        for name, entry in entries.items():
            pts = entry[kind]["points"]
            s = np.array([p["sigma"] for p in pts])
            m = np.array([p["mean"] for p in pts])
            lo = np.array([np.nan if p["ci_low"] is None else p["ci_low"] for p in pts])
            hi = np.array([np.nan if p["ci_high"] is None else p["ci_high"] for p in pts])
            label = " / ".join(name.split(" / ")[1:])
            line = ax.plot(s, m, "o-" if kind == "deterministic" else "s--", label=label)[0]
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(s[ok], lo[ok], hi[ok], color=line.get_color(), alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("σ")
        ax.set_ylabel(f"final {kind} return")
        ax.set_title(kind)
        ax.legend(fontsize=7)
    fig.suptitle(f"{task}: return against σ (mean, 95% CI over seeds)")
    return save_figure(fig, path)


def learning_curves_by_sigma(task_dir: Path, task: str, path) -> bool:
    """Mean deterministic evaluation over seeds against env steps, one line per σ, one panel per
    (algorithm, kernel, σ-mode). Returns False when there is nothing to draw."""
    import csv

    task_dir = Path(task_dir)
    groups: dict[tuple[str, float], list[tuple[np.ndarray, np.ndarray]]] = {}
    for metrics in sorted(task_dir.glob("*/*/*/sigma=*/seed=*/metrics.csv")):
        rel = metrics.relative_to(task_dir).parts
        variant, sigma = "/".join(rel[:3]), float(rel[3].split("=", 1)[1])
        with metrics.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["eval_deterministic"] not in ("nan", "")]
        if rows:
            steps = np.array([float(r["env_steps"]) for r in rows])
            det = np.array([float(r["eval_deterministic"]) for r in rows])
            groups.setdefault((variant, sigma), []).append((steps, det))
    if not groups:
        return False
    variants = sorted({v for v, _ in groups})
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 3.8), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        for (v, sigma), runs in sorted(groups.items()):
            if v != variant:
                continue
            n = min(len(r[0]) for r in runs)
            steps = runs[0][0][:n]
            mean = np.mean([r[1][:n] for r in runs], axis=0)
            ax.plot(steps, mean, lw=1.2, label=f"σ = {sigma:g} ({len(runs)} seeds)")
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("deterministic return")
        ax.legend(fontsize=7)
    fig.suptitle(f"{task}: learning curves per σ")
    save_figure(fig, path)
    return True
