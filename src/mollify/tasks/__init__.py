"""The task registry: `make(name, **params)`, `names()`, `from_gymnasium(env_id)`, and
`fixed_start(task)`, the same task started every episode from its nominal state.

`params` may override any field of the task's parameter dataclass, plus `horizon` and `gamma`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from mollify.tasks import (
    double_pendulum,
    hopper_stand,
    locomotion,
    pendulum,
    planar_quadrotor,
)
from mollify.tasks.base import JaxTask, Task, TaskError, replace_params
from mollify.tasks.gymnasium_adapter import GymnasiumTask, from_gymnasium
from mollify.tasks.hopper_stand import HopperPhysics, HopperStandParams
from mollify.tasks.locomotion import LocomotionParams, LocomotionTask
from mollify.util.checks import did_you_mean

__all__ = [
    "START_MODES",
    "GymnasiumTask",
    "HopperTask",
    "JaxTask",
    "LocomotionTask",
    "Task",
    "TaskError",
    "fixed_start",
    "from_gymnasium",
    "make",
    "names",
]

DEFAULT_GAMMA = 0.99
# How episodes start. "random": each episode from its own draw of the task's reset distribution
# (what training optimises); "fixed": every episode from one state, so that σ = 0 is the raw J of
# that start, not an average over starts (which is itself a smoothing).
START_MODES = ("random", "fixed")
_NOMINAL_START = {
    "pendulum": pendulum.NOMINAL_START,
    "double_pendulum": double_pendulum.NOMINAL_START,
    "planar_quadrotor": planar_quadrotor.NOMINAL_START,
}


@dataclass(frozen=True, eq=False)
class HopperTask(Task):
    params: HopperStandParams = field(default_factory=HopperStandParams)
    _physics: list = field(default_factory=list, repr=False)

    @property
    def physics(self) -> HopperPhysics:
        """Built on first use (it loads the model and holds a thread pool)."""
        if not self._physics:
            self._physics.append(HopperPhysics(self.params))
        return self._physics[0]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "params": vars(self.params)}


def _make_jax(name, module, params_cls, horizon, action_dim, action_bound, overrides):
    horizon = overrides.pop("horizon", horizon)
    gamma = overrides.pop("gamma", DEFAULT_GAMMA)
    params = replace_params(params_cls(), overrides, name)
    dim = action_dim(params) if callable(action_dim) else action_dim
    bound = float(getattr(params, action_bound)) if isinstance(action_bound, str) else action_bound
    obs, _ = module.reset(jax.random.PRNGKey(0), params)  # the observation size
    return JaxTask(
        name=name,
        obs_dim=int(obs.shape[0]),
        action_dim=dim,
        action_low=np.full(dim, -bound),
        action_high=np.full(dim, bound),
        horizon=_check_horizon(horizon),
        gamma=_check_gamma(gamma),
        backend="jax",
        failure_reward=float(module.failure_reward(params)),
        params=params,
        reset_fn=module.reset,
        step_fn=module.step,
        dynamics_fn=module.dynamics,
        observe_fn=module.observe,
    )


def _check_horizon(horizon) -> int:
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise TaskError(f"horizon: must be a positive integer, got {horizon!r}")
    return int(horizon)


def _check_gamma(gamma) -> float:
    gamma = float(gamma)
    if not (0.0 < gamma <= 1.0):
        raise TaskError(f"gamma: must be in (0, 1], got {gamma!r}")
    return gamma


def _make_hopper(overrides):
    horizon = _check_horizon(overrides.pop("horizon", 1000))
    gamma = _check_gamma(overrides.pop("gamma", DEFAULT_GAMMA))
    params = replace_params(HopperStandParams(), overrides, "hopper_stand")
    # Dimensions of dm_control's hopper: 6 positions (rootx dropped), 7 velocities, 2 touch; 4 motors.
    return HopperTask(
        name="hopper_stand",
        obs_dim=15,
        action_dim=4,
        action_low=-np.ones(4),
        action_high=np.ones(4),
        horizon=horizon,
        gamma=gamma,
        backend="mujoco",
        failure_reward=hopper_stand.FAILURE_REWARD,
        params=params,
    )


# (obs, action) dimensions of the locomotion tasks, known without loading their models.
_LOCOMOTION_DIMS = {"hopper": (11, 3), "walker2d": (17, 6), "half_cheetah": (17, 6)}


def _make_locomotion(name, overrides):
    env_id = locomotion.TASK_ENV_IDS[name]
    obs_dim, action_dim = _LOCOMOTION_DIMS[name]
    horizon = _check_horizon(overrides.pop("horizon", 1000))
    gamma = _check_gamma(overrides.pop("gamma", DEFAULT_GAMMA))
    if "env_id" in overrides:
        raise TaskError(f"env_id: fixed by the task name ({name!r} is {env_id})")
    params = replace_params(LocomotionParams(env_id=env_id), overrides, name)
    # Every actuator of the three models has ctrlrange [-1, 1].
    return LocomotionTask(
        name=name,
        obs_dim=obs_dim,
        action_dim=action_dim,
        action_low=-np.ones(action_dim),
        action_high=np.ones(action_dim),
        horizon=horizon,
        gamma=gamma,
        backend="mujoco",
        failure_reward=locomotion.failure_reward(env_id),
        params=params,
    )


_BUILDERS = {
    "pendulum": lambda o: _make_jax(
        "pendulum", pendulum, pendulum.PendulumParams, 200, 1, "max_torque", o
    ),
    "double_pendulum": lambda o: _make_jax(
        "double_pendulum",
        double_pendulum,
        double_pendulum.DoublePendulumParams,
        200,
        double_pendulum.action_dim,
        "max_torque",
        o,
    ),
    "planar_quadrotor": lambda o: _make_jax(
        "planar_quadrotor",
        planar_quadrotor,
        planar_quadrotor.PlanarQuadrotorParams,
        250,
        2,
        1.0,
        o,
    ),
    "hopper_stand": _make_hopper,
    **{name: functools.partial(_make_locomotion, name) for name in locomotion.TASK_ENV_IDS},
}


def names() -> list[str]:
    return list(_BUILDERS)


def check_name(name: str) -> None:
    """Refuse an unknown built-in task name (with the nearest one) without building anything;
    `gym:` names are checked when the env is made."""
    if not name.startswith("gym:") and name not in _BUILDERS:
        hint = did_you_mean(name, names())
        raise TaskError(f"task: unknown task {name!r}{hint}; known: {', '.join(names())}")


def make(name: str, **params) -> Task:
    """Build a task by name; `gym:ENV_ID` wraps a Gymnasium env (see `from_gymnasium`)."""
    if name.startswith("gym:"):
        return from_gymnasium(name[4:], **params)
    check_name(name)
    if name == "double_pendulum" and params.get("actuated", "both") not in double_pendulum.ACTUATED:
        raise TaskError(
            f"actuated: must be one of {', '.join(double_pendulum.ACTUATED)}, "
            f"got {params['actuated']!r}"
        )
    return _BUILDERS[name](dict(params))


def check_start(start: str) -> str:
    if start not in START_MODES:
        hint = did_you_mean(start, START_MODES)
        raise TaskError(
            f"start: unknown start {start!r}{hint}; choose from {', '.join(START_MODES)}"
        )
    return start


@functools.lru_cache(maxsize=64)
def fixed_start(task: Task) -> Task:
    """`task` with its reset distribution collapsed onto the nominal start (pure-JAX tasks: upright
    pendulums, a level hover at the origin). Cached per task, so evaluators compiled for it are
    reused. Native tasks (MuJoCo, Gymnasium) have no nominal state: they are returned unchanged,
    and `evaluate(..., start="fixed")` resets every episode with the first episode's seed."""
    if not isinstance(task, JaxTask) or task.name not in _NOMINAL_START:
        return task
    params = dataclasses.replace(task.params, **_NOMINAL_START[task.name])
    return dataclasses.replace(task, params=params)
