"""The learning curve `run` draws for every training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mollify.util.plotting import plt, save_figure


def learning_curve(rows: list[dict], config, path) -> Path:
    steps = np.array([r["env_steps"] for r in rows])
    det = np.array([r["eval_deterministic"] for r in rows])
    sto = np.array([r["eval_stochastic"] for r in rows])
    sig = np.array([r["sigma"] for r in rows])
    ok = np.isfinite(det)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(steps[ok], det[ok], "o-", ms=3, label="deterministic (σ = 0)")
    ax1.plot(steps[ok], sto[ok], "s-", ms=3, label="stochastic (current σ)")
    ax1.set_xlabel("env steps")
    ax1.set_ylabel("mean return (eval seeds)")
    ax1.legend(fontsize=8)
    ax2.plot(steps, sig)
    ax2.set_xlabel("env steps")
    ax2.set_ylabel("σ (relative)")
    fig.suptitle(f"{config.algo} on {config.task}, σ mode {config.sigma_mode}, seed {config.seed}")
    return save_figure(fig, path)
