"""The contract every training algorithm implements: a pair (init, step) plus what the driver
needs around it. It lives on its own so that the algorithms (es, policy_gradient) and the driver
(train) all depend on it and never on each other.

`step(state, i)` performs update i (collection included) and returns per-update metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax

from mollify.tasks import Task
from mollify.training.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class Algorithm:
    init: Callable[[jax.Array], Any]
    step: Callable[[Any, jax.Array], tuple[Any, dict]]  # (state, update index) -> (state, metrics)
    theta: Callable[[Any], jax.Array]  # the actor's flat θ
    sigma: Callable[[Any, jax.Array], jax.Array]  # σ_rel per action dim at progress p
    n_updates: int
    steps_per_update: int
    pure: bool  # step is a pure JAX function (jit/scan/vmap)
    # State kept outside the pytree by a host loop (the hopper's vectorised env), for checkpoints:
    # `save_host()` -> dict of arrays and JSON values, or None; `load_host(dict)` restores it.
    save_host: Callable[[], dict | None] = lambda: None
    load_host: Callable[[dict], None] | None = None


def resolve(config: TrainConfig, task: Task) -> TrainConfig:
    """The config validated, with the task's defaults filled in (γ, observation normalisation)."""
    from mollify.tasks import HopperTask, JaxTask

    config = config.validate()
    if config.gamma is None:
        config = dataclasses.replace(config, gamma=task.gamma)
    if config.norm_obs is None:
        own = isinstance(task, JaxTask | HopperTask) or config.algo == "es"
        config = dataclasses.replace(config, norm_obs=not own)
    if config.norm_obs and isinstance(task, JaxTask):
        raise ConfigError(
            f"norm-obs: observation normalisation runs on native and gym: tasks; {task.name!r} "
            "is a pure-JAX task (its observations are already O(1))"
        )
    if config.norm_obs and config.algo == "es":
        raise ConfigError("norm-obs: ES perturbs raw-observation policies; set it off for es")
    return config
