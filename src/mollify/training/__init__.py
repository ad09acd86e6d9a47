"""Training at a controlled σ: PPO, REINFORCE, ES and natural policy gradient.

`make_train(config)` returns a jitted `train(key)` for pure-JAX tasks; `run(config, out)` trains
any built-in task and writes config.json, metrics.csv, timing.csv, policy.npz, a learning curve and
checkpoint.npz (`run(config, out, resume=True)` continues a killed run bit for bit).
`prepare(task, algo, ...)` checks a training command's input before any work starts.
"""

from mollify.training.algorithm import resolve
from mollify.training.checkpoint import CheckpointError
from mollify.training.config import (
    ALGOS,
    SIGMA_MODES,
    TASK_DEFAULTS,
    ConfigError,
    TrainConfig,
    default_config,
)
from mollify.training.dispatch import make_algorithm
from mollify.training.preflight import prepare
from mollify.training.train import RunResult, make_train, run

__all__ = [
    "ALGOS",
    "SIGMA_MODES",
    "TASK_DEFAULTS",
    "CheckpointError",
    "ConfigError",
    "RunResult",
    "TrainConfig",
    "default_config",
    "make_algorithm",
    "make_train",
    "prepare",
    "resolve",
    "run",
]
