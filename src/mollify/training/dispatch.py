"""`make_algorithm(config)`: the one place that picks an algorithm's builder (ES or the
policy-gradient family). It sits above both builders, and below the driver, so no two training
modules import each other.
"""

from __future__ import annotations

from mollify.tasks import Task
from mollify.training import es, policy_gradient
from mollify.training.algorithm import Algorithm, resolve
from mollify.training.config import TrainConfig


def make_algorithm(config: TrainConfig, task: Task | None = None) -> Algorithm:
    """The (init, step) pair for `config.algo` on `task` (default: the config's task), after
    resolving the config; raises ConfigError for a task the algorithm cannot train on."""
    task = task or config.make_task()
    return build(resolve(config, task), task)


def build(config: TrainConfig, task: Task) -> Algorithm:
    """`make_algorithm` for a config already resolved: no checks, so `config.sigma` may be a
    traced value (the driver compiles one program for every σ of a fixed-σ sweep)."""
    if config.algo == "es":
        return es.make_algorithm(config, task)
    return policy_gradient.make_algorithm(config, task)
