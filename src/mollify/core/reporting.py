"""What `mollify evaluate` reports of one policy: mean returns with 95 % confidence intervals and
the number of diverged episodes, on top of `evaluation.evaluate`."""

from __future__ import annotations

import math

import numpy as np

from mollify.core.evaluation import evaluate
from mollify.core.policies import Policy
from mollify.tasks import Task


def mean_ci95(x) -> tuple[float, float]:
    """Mean and half-width of a normal-approximation 95 % confidence interval (nan below 2)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(1.96 * x.std(ddof=1) / math.sqrt(x.size))


def policy_returns(
    task: Task, policy: Policy, theta, *, sigma: float, kernel: str, episodes: int, seed: int
) -> dict:
    """What `mollify evaluate` reports: the deterministic (σ = 0) and stochastic (σ) mean return
    of one policy on the same episodes, each with its 95 % CI, how many diverged (their returns
    charged the task's failure reward) and the wall-clock rate."""
    out = {"task": task.name, "sigma": sigma, "kernel": kernel, "episodes": episodes, "seed": seed}
    out["failure_reward"] = task.failure_reward  # per step left, charged to a diverged episode
    for label, s in (("deterministic", 0.0), ("stochastic", sigma)):
        res = evaluate(task, policy, theta, sigma=s, kernel=kernel, episodes=episodes, seed=seed)
        m, h = mean_ci95(res.undiscounted)
        dm, dh = mean_ci95(res.discounted)
        out[label] = {
            "mean_return": m,
            "ci95": h,
            "mean_discounted_return": dm,
            "discounted_ci95": dh,
            "diverged": int(res.diverged.sum()),
            "env_steps_per_s": res.steps_per_second,
        }
    return out
