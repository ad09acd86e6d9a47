"""DeepMind Control Suite `hopper`/`stand` on native MuJoCo, batched with `mujoco.rollout`.

The model XML is read from the installed dm_control package (without importing it), so the physics is
dm_control's own; reward, observation and reset distribution are re-implemented here and checked
against `dm_control.suite.load("hopper", "stand")` in the tests.

One `mujoco.rollout` call per control step steps every environment of the batch `n_substeps`
physics steps on a thread pool; the (batched) policy runs between calls. Two frame-position sensors
are appended to the model so that the torso and foot heights of the reward come back from the same
call (pos-stage sensors are recorded for the state a physics step starts from, so the first
sub-step of the next call reports the heights of the state a control step ended in).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from mollify.tasks.base import charge_failures
from mollify.util.host import usable_cpus

_EXTRA_SENSORS = """
    <framepos name="mollify_torso_com" objtype="body" objname="torso"/>
    <framepos name="mollify_foot_com" objtype="body" objname="foot"/>
  </sensor>"""


# Charged per step left after the physics diverges: 0, the minimum of dm_control's rewards (all in
# [0, 1]), so a diverged hopper earns what a fallen one does.
FAILURE_REWARD = 0.0


@dataclass(frozen=True)
class HopperStandParams:
    control_timestep: float = 0.02
    stand_height: float = 0.6
    threads: int = 0  # 0: one per CPU core


def _dm_control_suite_dir() -> Path:
    spec = importlib.util.find_spec("dm_control")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("hopper_stand needs the dm_control package (its hopper model XML)")
    return Path(next(iter(spec.submodule_search_locations))) / "suite"


def load_model(extra_sensors: bool = True) -> mujoco.MjModel:
    """dm_control's hopper model, with the assets its XML includes."""
    suite = _dm_control_suite_dir()
    xml = (suite / "hopper.xml").read_text()
    common = [p for p in (suite / "common").iterdir() if p.is_file()]
    assets = {f"./common/{p.name}": p.read_bytes() for p in common}
    if extra_sensors:
        xml = xml.replace("</sensor>", _EXTRA_SENSORS, 1)
    return mujoco.MjModel.from_xml_string(xml, assets)


def tolerance(x, bounds=(0.0, 0.0), margin=0.0, value_at_margin=0.1, sigmoid="gaussian"):
    """dm_control's `rewards.tolerance` for the two sigmoids hopper-stand uses."""
    x = np.asarray(x, dtype=np.float64)
    lower, upper = bounds
    in_bounds = (lower <= x) & (x <= upper)
    if margin == 0:
        return np.where(in_bounds, 1.0, 0.0)
    d = np.where(x < lower, lower - x, x - upper) / margin
    if sigmoid == "gaussian":
        scale = np.sqrt(-2 * np.log(value_at_margin))
        value = np.exp(-0.5 * (d * scale) ** 2)
    elif sigmoid == "quadratic":
        scale = np.sqrt(1 - value_at_margin)
        scaled = d * scale
        value = np.where(np.abs(scaled) < 1, 1 - scaled**2, 0.0)
    else:
        raise ValueError(f"unsupported sigmoid {sigmoid!r}")
    return np.where(in_bounds, 1.0, value)


class RolloutPool:
    """A persistent `mujoco.rollout` thread pool of `self.threads` threads, started on first use
    and released with its owner (the batched physics classes of the MuJoCo tasks)."""

    threads: int
    _pool: mj_rollout.Rollout | None = None

    @property
    def pool(self) -> mj_rollout.Rollout:
        if self._pool is None:
            self._pool = mj_rollout.Rollout(nthread=self.threads)
        return self._pool

    def close(self):
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __del__(self):  # the thread pool is native; release it with the task
        try:
            self.close()
        except Exception:
            pass


class HopperPhysics(RolloutPool):
    """Batched hopper physics: states are rows of MuJoCo's full-physics state vector."""

    def __init__(self, params: HopperStandParams):
        self.params = params
        self.model = load_model()
        self.n_substeps = round(params.control_timestep / self.model.opt.timestep)
        if not math.isclose(self.n_substeps * self.model.opt.timestep, params.control_timestep):
            raise ValueError("control_timestep must be a multiple of the physics timestep 0.005")
        self.threads = params.threads or usable_cpus()
        self.state_spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.state_size = mujoco.mj_stateSize(self.model, self.state_spec)
        nq, nv = self.model.nq, self.model.nv
        self.qpos = slice(1, 1 + nq)  # the state vector starts with time
        self.qvel = slice(1 + nq, 1 + nq + nv)
        sensor = {
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_SENSOR, i): i
            for i in range(self.model.nsensor)
        }
        adr = self.model.sensor_adr
        self.touch_index = np.array([adr[sensor["touch_toe"]], adr[sensor["touch_heel"]]])
        self.torso_z = adr[sensor["mollify_torso_com"]] + 2
        self.foot_z = adr[sensor["mollify_foot_com"]] + 2
        self._torso_body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "torso")
        self._foot_body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "foot")
        self.datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = None
        self._models: list[mujoco.MjModel] = []
        self.obs_dim = (nq - 1) + nv + 2
        self.action_dim = self.model.nu

    # --- reset -------------------------------------------------------------------------------
    def initial_qpos(self, seed: int) -> np.ndarray:
        """dm_control's `randomize_limited_and_rotational_joints` with `RandomState(seed)`, same order
        of draws, so `seed` here equals `suite.load(..., task_kwargs={"random": seed})`."""
        rng = np.random.RandomState(seed)
        m = self.model
        qpos = m.qpos0.copy()
        hinge, slide = int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)
        for j in range(m.njnt):
            adr, jtype, limited = m.jnt_qposadr[j], int(m.jnt_type[j]), bool(m.jnt_limited[j])
            if limited and jtype in (hinge, slide):
                qpos[adr] = rng.uniform(*m.jnt_range[j])
            elif not limited and jtype == hinge:
                qpos[adr] = rng.uniform(-np.pi, np.pi)
        return qpos

    def state_from(
        self, qpos: np.ndarray, qvel: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full-physics state and the observation of a reset to (qpos, qvel), as dm_control does it
        (`mj_resetData`, set positions, `mj_forward` so the touch sensors are current)."""
        data = self.datas[0]
        mujoco.mj_resetData(self.model, data)
        data.qpos[:] = qpos
        if qvel is not None:
            data.qvel[:] = qvel
        mujoco.mj_forward(self.model, data)
        state = np.empty(self.state_size)
        mujoco.mj_getState(self.model, data, state, self.state_spec)
        obs = np.concatenate(
            [data.qpos[1:], data.qvel, np.log1p(data.sensordata[self.touch_index])]
        )
        return state, obs

    def reset(self, seeds) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.state_from(self.initial_qpos(int(s))) for s in seeds]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    # --- step --------------------------------------------------------------------------------
    def advance(self, states: np.ndarray, controls: np.ndarray, nstep: int | None = None):
        """Step every row `nstep` physics steps (default: one control step) holding its control.

        Shapes are checked here once, so the rollout runs with `skip_checks` (its Python-side
        validation costs as much as the physics for small batches).
        """
        nstep = nstep or self.n_substeps
        batch = states.shape[0]
        if states.shape != (batch, self.state_size) or controls.shape != (batch, self.action_dim):
            raise ValueError(f"states/controls: bad shapes {states.shape}, {controls.shape}")
        control = np.ascontiguousarray(
            np.repeat(np.asarray(controls, np.float64)[:, None, :], nstep, axis=1)
        )
        out_state = np.empty((batch, nstep, self.state_size))
        sensordata = np.empty((batch, nstep, self.model.nsensordata))
        if len(self._models) != batch:  # skip_checks wants one model reference per row
            self._models = [self.model] * batch
        self.pool.rollout(
            self._models,
            self.datas,
            np.ascontiguousarray(states, dtype=np.float64),
            control,
            nstep=nstep,
            state=out_state,
            sensordata=sensordata,
            skip_checks=True,
        )
        return out_state, sensordata

    def height_of_state(self, state: np.ndarray) -> float:
        """Torso minus foot height of one full-physics state (kinematics only)."""
        data = self.datas[0]
        mujoco.mj_setState(self.model, data, state, self.state_spec)
        mujoco.mj_kinematics(self.model, data)
        return float(data.xipos[self._torso_body, 2] - data.xipos[self._foot_body, 2])

    def observe(self, states: np.ndarray, sensordata_last: np.ndarray) -> np.ndarray:
        touch = np.log1p(sensordata_last[:, self.touch_index])
        return np.concatenate([states[:, self.qpos][:, 1:], states[:, self.qvel], touch], axis=1)

    def height(self, sensordata_first: np.ndarray) -> np.ndarray:
        """Torso minus foot centre-of-mass height of the state the physics step started from."""
        return sensordata_first[:, self.torso_z] - sensordata_first[:, self.foot_z]

    def reward(self, height: np.ndarray, controls: np.ndarray) -> np.ndarray:
        standing = tolerance(height, (self.params.stand_height, 2.0))
        small_control = tolerance(controls, margin=1, value_at_margin=0, sigmoid="quadratic")
        return standing * (small_control.mean(axis=-1) + 4) / 5


def run_closed_loop(
    physics: HopperPhysics,
    act,
    init_states,
    init_obs,
    horizon: int,
    gamma: float,
    *,
    failure_reward: float = FAILURE_REWARD,
    return_diverged: bool = False,
):
    """Closed-loop batched episodes: `act(t, obs (B, obs_dim)) -> controls (B, nu)` between calls.

    Returns (discounted (B,), undiscounted (B,), steps (B,)[, diverged (B,)]); hopper-stand never
    terminates early, but a non-finite state (diverged physics) or a NaN control ends that episode,
    charged `failure_reward` for each step left. A NaN control never reaches MuJoCo.
    """
    batch = init_states.shape[0]
    states, obs = init_states, init_obs
    ret = np.zeros(batch)
    dret = np.zeros(batch)
    alive = np.ones(batch, dtype=bool)
    steps = np.zeros(batch, dtype=np.int64)
    prev_controls = None
    for t in range(horizon + 1):
        if t < horizon:
            controls = np.clip(np.asarray(act(t, obs), dtype=np.float64), -1.0, 1.0)
            nstep = None
        else:  # one extra physics step only to read the heights of the final state
            controls = np.zeros_like(prev_controls)
            nstep = 1
        sane = ~np.any(np.isnan(controls), axis=1)
        traj, sens = physics.advance(
            states, np.where((alive & sane)[:, None], controls, 0.0), nstep
        )
        if t > 0:
            r = physics.reward(physics.height(sens[:, 0]), prev_controls)
            ok = alive & np.isfinite(r)
            ret += np.where(ok, r, 0.0)
            dret += np.where(ok, gamma ** (t - 1) * r, 0.0)
            steps += ok
            alive = ok
        if t == horizon:
            break
        new_states = traj[:, -1]
        # MuJoCo resets a diverging simulation to its initial state and carries on; the clock
        # jumping back to zero is how that shows in a rollout.
        expected_time = states[:, 0] + physics.n_substeps * physics.model.opt.timestep
        finite = np.all(np.isfinite(new_states), axis=1) & np.isclose(
            new_states[:, 0], expected_time, rtol=0, atol=1e-9
        )
        alive = alive & finite & sane
        states = np.where(alive[:, None], new_states, states)
        obs = np.where(alive[:, None], physics.observe(new_states, sens[:, -1]), obs)
        prev_controls = controls
    diverged = ~alive  # the hopper never terminates: only divergence ends an episode early
    charge_failures(dret, ret, steps, diverged, failure_reward, horizon, gamma)
    return (dret, ret, steps, diverged) if return_diverged else (dret, ret, steps)
