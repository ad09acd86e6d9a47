"""Gymnasium's MuJoCo locomotion tasks (`Hopper-v5`, `Walker2d-v5`, `HalfCheetah-v5`), batched.

The model XMLs are read from the installed Gymnasium package, so the physics is Gymnasium's own;
frame skip, reward terms, health ranges, reset noise and observation follow each env's default
constructor arguments and are checked against `gymnasium.make(...)` in the tests.

A batch of environments advances one control step (`frame_skip` physics steps) per
`mujoco.rollout` call on a persistent thread pool; rewards, termination and observations are then
computed for the whole batch in numpy from the states the call returns.

One difference from a single Gymnasium env remains and is measured: Gymnasium's `MjData` carries
the solver's warm start (`qacc_warmstart`) from one control step into the next, and `rollout` does
not return it, so every control step here starts the constraint solver cold (as Gymnasium does
right after a reset). The solver converges to the same accelerations either way; the states agree
to ~1e-13 per control step.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mollify.tasks.base import Task, charge_failures
from mollify.tasks.hopper_stand import RolloutPool
from mollify.util.host import usable_cpus


@dataclass(frozen=True)
class _EnvDefaults:
    """One v5 env's default constructor arguments (the values `gymnasium.make(env_id)` uses)."""

    xml: str
    frame_skip: int
    ctrl_cost_weight: float
    reset_noise_scale: float
    qvel_noise: str  # "uniform" (hopper, walker2d) or "normal" (half_cheetah)
    clip_qvel: bool  # v5 hopper and walker2d clip observed velocities to ±10
    healthy_reward: float = 0.0
    healthy_z: tuple[float, float] | None = None  # None: the env never terminates
    healthy_angle: tuple[float, float] | None = None
    healthy_state: tuple[float, float] | None = None  # hopper: every state entry but x and z


ENVS = {
    "Hopper-v5": _EnvDefaults(
        xml="hopper.xml",
        frame_skip=4,
        ctrl_cost_weight=1e-3,
        reset_noise_scale=5e-3,
        qvel_noise="uniform",
        clip_qvel=True,
        healthy_reward=1.0,
        healthy_z=(0.7, float("inf")),
        healthy_angle=(-0.2, 0.2),
        healthy_state=(-100.0, 100.0),
    ),
    "Walker2d-v5": _EnvDefaults(
        xml="walker2d_v5.xml",
        frame_skip=4,
        ctrl_cost_weight=1e-3,
        reset_noise_scale=5e-3,
        qvel_noise="uniform",
        clip_qvel=True,
        healthy_reward=1.0,
        healthy_z=(0.8, 2.0),
        healthy_angle=(-1.0, 1.0),
    ),
    "HalfCheetah-v5": _EnvDefaults(
        xml="half_cheetah.xml",
        frame_skip=5,
        ctrl_cost_weight=0.1,
        reset_noise_scale=0.1,
        qvel_noise="normal",
        clip_qvel=False,
    ),
}


def failure_reward(env_id: str) -> float:
    """Charged per step left after the physics diverges (a non-finite state, MuJoCo's own reset,
    a NaN action). Hopper and Walker2d: 0, what Gymnasium's healthy-termination pays after a
    fall (their live steps earn the healthy reward 1 and mostly more), so diverging is scored as
    falling. HalfCheetah never terminates and its reward (forward speed − 0.1‖a‖²) is unbounded
    below; we charge −0.6, standing still at full control cost (−0.1 × 6 actuators): a diverged
    cheetah is worth no progress at maximal effort. A policy running backwards can score lower
    still; no bound exists, so this is a choice, not a worst case."""
    d = ENVS[env_id]
    if d.healthy_z is not None:
        return 0.0
    return -d.ctrl_cost_weight * _ACTION_DIMS[env_id]


# Actuators of each model (all with ctrlrange [-1, 1]), known without loading it.
_ACTION_DIMS = {"Hopper-v5": 3, "Walker2d-v5": 6, "HalfCheetah-v5": 6}

# mollify's task names for them.
TASK_ENV_IDS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "half_cheetah": "HalfCheetah-v5"}


@dataclass(frozen=True)
class LocomotionParams:
    env_id: str = "Hopper-v5"  # a key of ENVS; fixed by the task name
    threads: int = 0  # 0: one per usable CPU core


def assets_dir() -> Path:
    spec = importlib.util.find_spec("gymnasium")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the locomotion tasks need the gymnasium package (its MuJoCo XMLs)")
    return Path(next(iter(spec.submodule_search_locations))) / "envs" / "mujoco" / "assets"


def load_model(env_id: str) -> mujoco.MjModel:
    """The model `gymnasium.make(env_id)` simulates, compiled from the same file.

    Through `MjSpec` rather than `MjModel.from_xml_path` (the same model, array for array): the
    half-cheetah XML uses the deprecated `settotalmass`, and the XML loader would print that
    deprecation to stderr and append it to a MUJOCO_LOG.TXT in the working directory on every load.
    """
    spec = mujoco.MjSpec.from_file(str(assets_dir() / ENVS[env_id].xml))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return spec.compile()


def gym_rng(seed: int | None) -> np.random.Generator:
    """The generator Gymnasium's `Env.reset(seed=seed)` installs as `np_random`."""
    from gymnasium.utils import seeding

    return seeding.np_random(None if seed is None else int(seed))[0]


class LocomotionPhysics(RolloutPool):
    """Batched physics of one env: states are rows of MuJoCo's full-physics state vector
    (time, qpos, qvel); one `step` is one Gymnasium `env.step` for every row."""

    def __init__(self, params: LocomotionParams):
        if params.env_id not in ENVS:
            raise ValueError(f"env_id: expected one of {', '.join(ENVS)}, got {params.env_id!r}")
        self.params = params
        self.defaults = ENVS[params.env_id]
        self.model = load_model(params.env_id)
        self.frame_skip = self.defaults.frame_skip
        self.dt = self.model.opt.timestep * self.frame_skip  # Gymnasium's `env.dt`, same product
        self.threads = params.threads or usable_cpus()
        self.state_spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.state_size = mujoco.mj_stateSize(self.model, self.state_spec)
        nq, nv = self.model.nq, self.model.nv
        if self.state_size != 1 + nq + nv:  # no activations or plugin state in these models
            raise ValueError(f"{params.env_id}: unexpected full-physics state size")
        self.qpos = slice(1, 1 + nq)  # the state vector starts with time
        self.qvel = slice(1 + nq, 1 + nq + nv)
        self.init_qpos = mujoco.MjData(self.model).qpos.copy()  # Gymnasium's `init_qpos`
        self.obs_dim = (nq - 1) + nv  # x position excluded
        self.action_dim = self.model.nu
        ctrlrange = self.model.actuator_ctrlrange
        self.action_low, self.action_high = ctrlrange[:, 0].copy(), ctrlrange[:, 1].copy()
        self.datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = None
        self._models: list[mujoco.MjModel] = []

    # --- reset -------------------------------------------------------------------------------
    def draw_initial(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(qpos, qvel) of `reset_model`, drawn from `rng` in Gymnasium's order and arithmetic."""
        d, m = self.defaults, self.model
        scale = d.reset_noise_scale
        qpos = self.init_qpos + rng.uniform(low=-scale, high=scale, size=m.nq)
        if d.qvel_noise == "normal":
            qvel = np.zeros(m.nv) + scale * rng.standard_normal(m.nv)
        else:
            qvel = np.zeros(m.nv) + rng.uniform(low=-scale, high=scale, size=m.nv)
        return qpos, qvel

    def state_from(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full-physics state and observation of a reset to (qpos, qvel) (time 0, as
        `mj_resetData` leaves it; `mj_forward` changes none of the state)."""
        state = np.concatenate([[0.0], qpos, qvel])
        return state, self.observe(state[None])[0]

    def reset(self, seeds) -> tuple[np.ndarray, np.ndarray]:
        """States and observations of `env.reset(seed=s)` for each seed."""
        pairs = [self.state_from(*self.draw_initial(gym_rng(s))) for s in seeds]
        if not pairs:
            return np.empty((0, self.state_size)), np.empty((0, self.obs_dim))
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    # --- step --------------------------------------------------------------------------------
    def advance(self, states: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """The state after one control step of every row, holding its control (one rollout call).

        Controls go to MuJoCo as given (it clamps them to `ctrlrange`, as in Gymnasium). Shapes
        are checked here once, so the rollout runs with `skip_checks`.
        """
        batch = states.shape[0]
        if states.shape != (batch, self.state_size) or controls.shape != (batch, self.action_dim):
            raise ValueError(f"states/controls: bad shapes {states.shape}, {controls.shape}")
        control = np.ascontiguousarray(
            np.repeat(np.asarray(controls, np.float64)[:, None, :], self.frame_skip, axis=1)
        )
        out = np.empty((batch, self.frame_skip, self.state_size))
        if len(self._models) != batch:  # skip_checks wants one model reference per row
            self._models = [self.model] * batch
        self.pool.rollout(
            self._models,
            self.datas,
            np.ascontiguousarray(states, dtype=np.float64),
            control,
            nstep=self.frame_skip,
            state=out,
            skip_checks=True,
        )
        return out[:, -1]

    def observe(self, states: np.ndarray) -> np.ndarray:
        qvel = states[:, self.qvel]
        if self.defaults.clip_qvel:
            qvel = np.clip(qvel, -10, 10)
        return np.concatenate([states[:, self.qpos][:, 1:], qvel], axis=1)

    def healthy(self, states: np.ndarray) -> np.ndarray:
        """Gymnasium's `is_healthy` of each row (strict inequalities; NaN is unhealthy)."""
        d = self.defaults
        ok = np.ones(states.shape[0], dtype=bool)
        if d.healthy_z is None:
            return ok
        q = states[:, self.qpos]
        z, angle = q[:, 1], q[:, 2]
        ok &= (d.healthy_z[0] < z) & (z < d.healthy_z[1])
        ok &= (d.healthy_angle[0] < angle) & (angle < d.healthy_angle[1])
        if d.healthy_state is not None:  # `state_vector()[2:]`: qpos from index 2, then qvel
            rest = states[:, self.qpos.start + 2 : self.qvel.stop]
            lo, hi = d.healthy_state
            ok &= np.all((lo < rest) & (rest < hi), axis=1)
        return ok

    def reward_terminated(self, before: np.ndarray, after: np.ndarray, actions: np.ndarray):
        """Gymnasium's reward and `terminated` for rows stepped from `before` to `after` with
        `actions` (the control cost is charged on the actions as given)."""
        d = self.defaults
        x_velocity = (after[:, self.qpos.start] - before[:, self.qpos.start]) / self.dt
        ctrl_cost = d.ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        if d.healthy_z is None:
            return x_velocity - ctrl_cost, np.zeros(after.shape[0], dtype=bool)
        healthy = self.healthy(after)
        return (x_velocity + healthy * d.healthy_reward) - ctrl_cost, ~healthy

    def step(self, states: np.ndarray, actions: np.ndarray):
        """One `env.step` of every row: (states, obs, reward, terminated, ok); `ok` is False where
        the physics diverged (a non-finite state, or MuJoCo's own reset after a warning, seen as
        the clock jumping back) or the reward is not finite: no usable transition. The control
        cost is computed in the actions' own dtype, as Gymnasium does (float32 actions: float32)."""
        actions = np.asarray(actions)
        new = self.advance(states, actions)
        reward, terminated = self.reward_terminated(states, new, actions)
        expected_time = states[:, 0] + self.frame_skip * self.model.opt.timestep
        ok = np.all(np.isfinite(new), axis=1) & np.isclose(
            new[:, 0], expected_time, rtol=0, atol=1e-9
        )
        ok &= np.isfinite(reward)
        return new, self.observe(new), reward, terminated, ok


@dataclass(frozen=True, eq=False)
class LocomotionTask(Task):
    """A Gymnasium MuJoCo locomotion env (`params.env_id`) as a mollify task (`tasks.make`)."""

    params: LocomotionParams = field(default_factory=LocomotionParams)
    _physics: list = field(default_factory=list, repr=False)

    @property
    def physics(self) -> LocomotionPhysics:
        """Built on first use (it loads the model and holds a thread pool)."""
        if not self._physics:
            self._physics.append(LocomotionPhysics(self.params))
        return self._physics[0]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "params": vars(self.params)}


def run_closed_loop(
    physics: LocomotionPhysics,
    act,
    init_states,
    init_obs,
    horizon: int,
    gamma: float,
    *,
    failure_reward: float = 0.0,
    return_diverged: bool = False,
):
    """Closed-loop batched episodes: `act(t, obs (B, obs_dim)) -> actions (B, A)`, clipped to the
    action box, between rollout calls.

    Returns (discounted (B,), undiscounted (B,), steps (B,)[, diverged (B,)]). The step that
    terminates an episode earns its reward (as in Gymnasium); a diverged step or a NaN action
    ends the episode and is charged `failure_reward` for it and every step left. Only live
    episodes are simulated, and the loop stops when none is left; `act` still sees every row
    (finished ones keep their last observation).
    """
    batch = init_states.shape[0]
    states = np.array(init_states, dtype=np.float64)
    obs = np.array(init_obs, dtype=np.float64)
    ret, dret = np.zeros(batch), np.zeros(batch)
    steps = np.zeros(batch, dtype=np.int64)
    alive = np.ones(batch, dtype=bool)
    diverged = np.zeros(batch, dtype=bool)
    for t in range(horizon):
        actions = np.asarray(act(t, obs), dtype=np.float64)
        actions = np.clip(actions, physics.action_low, physics.action_high)
        nan_action = alive & np.any(np.isnan(actions), axis=1)
        diverged |= nan_action
        alive &= ~nan_action
        idx = np.nonzero(alive)[0]
        if idx.size:
            new, new_obs, reward, terminated, ok = physics.step(states[idx], actions[idx])
            reward = np.where(ok, reward, 0.0)
            ret[idx] += reward
            dret[idx] += gamma**t * reward
            steps[idx] += ok
            states[idx[ok]] = new[ok]
            obs[idx[ok]] = new_obs[ok]
            alive[idx] = ok & ~terminated
            diverged[idx] = ~ok
        if not alive.any():
            break
    charge_failures(dret, ret, steps, diverged, failure_reward, horizon, gamma)
    return (dret, ret, steps, diverged) if return_diverged else (dret, ret, steps)
