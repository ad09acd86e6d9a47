"""Training configuration: one frozen dataclass and the per-task defaults in one readable table.

σ is relative to the action half-range, as everywhere in mollify. `sigma_mode`:
- `fixed`: σ never changes (the paper's setting: policy gradient on one mollified landscape);
- `learned`: a state-independent log-std trained with the policy (as SB3/CleanRL), floored;
- `schedule`: σ moves from `sigma` to `sigma_final` over training, `linear` or `exponential`;
- `rpo`: σ learned as in `learned`, and inside every PPO update the action mean is shifted by
  uniform noise in ±`rpo_alpha` (Robust Policy Optimization, Rahman & Xue 2022): extra
  mollification of the surrogate on top of the Gaussian's.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

ALGOS = ("ppo", "reinforce", "es", "npg")
SIGMA_MODES = ("fixed", "learned", "schedule", "rpo")
LEARNED_MODES = ("learned", "rpo")  # σ is a trained log-std
SCHEDULES = ("linear", "exponential")
PG_KERNELS = ("gaussian", "laplace")


class ConfigError(ValueError):
    """Bad training configuration; the CLI prints it as one line and exits with code 2."""


@dataclass(frozen=True)
class TrainConfig:
    task: str = "pendulum"
    task_params: dict = field(default_factory=dict)  # make(task, **task_params): horizon, ...
    algo: str = "ppo"
    sigma: float = 0.3
    sigma_mode: str = "fixed"
    sigma_final: float = 0.03
    schedule: str = "exponential"
    sigma_floor: float = 1e-3
    rpo_alpha: float = 0.5  # σ mode rpo: half-width of the mean's shift, in action half-ranges
    kernel: str = "gaussian"
    total_steps: int = 1_000_000
    seed: int = 0
    hidden: tuple[int, ...] = (64, 64)
    # Collection (PPO, REINFORCE, NPG)
    n_envs: int = 16
    n_steps: int = 256
    gamma: float | None = None  # None: the task's own discount
    gae_lambda: float = 0.95
    # Optimisation
    lr: float = 3e-4
    anneal_lr: bool = True
    update_epochs: int = 10
    n_minibatches: int = 8
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    norm_reward: bool = True  # scale rewards by the running std of the discounted return
    # Normalise observations by running statistics (folded into the saved policy). None: the task
    # decides: on for `gym:` envs and the locomotion tasks, whose observation scales differ by
    # orders of magnitude; off for the built-in tasks (observations already O(1)).
    norm_obs: bool | None = None
    # NPG (natural gradient with conjugate gradient and a KL step)
    max_kl: float = 0.01
    cg_iters: int = 10
    cg_damping: float = 0.1
    vf_iters: int = 5
    # ES (parameter-space Gaussian smoothing)
    es_pairs: int = 32
    es_sigma: float = 0.02
    es_episodes: int = 4
    # Evaluation during training
    eval_every: int = 10  # updates
    eval_episodes: int = 16
    eval_seed: int = 12345

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first bad field."""
        from mollify.util.checks import did_you_mean

        for name, value, choices in (
            ("algo", self.algo, ALGOS),
            ("sigma-mode", self.sigma_mode, SIGMA_MODES),
            ("schedule", self.schedule, SCHEDULES),
        ):
            if value not in choices:
                raise ConfigError(
                    f"{name}: unknown value {value!r}{did_you_mean(value, choices)}; "
                    f"choose from {', '.join(choices)}"
                )
        for name in (
            "sigma",
            "sigma_final",
            "sigma_floor",
            "lr",
            "es_sigma",
            "max_kl",
            "rpo_alpha",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name.replace('_', '-')}: must be a number > 0, got {value!r}")
        from mollify.core.noise import KERNELS

        if self.kernel not in KERNELS:
            raise ConfigError(
                f"kernel: unknown kernel {self.kernel!r}{did_you_mean(self.kernel, KERNELS)}; "
                f"choose from {', '.join(KERNELS)}"
            )
        if self.algo != "es" and self.kernel not in PG_KERNELS:
            raise ConfigError(
                f"kernel: {self.kernel!r} cannot be used by policy-gradient algorithms (its score "
                "function is zero almost everywhere); use gaussian or laplace, or --algo es"
            )
        if self.algo == "es" and self.sigma_mode in LEARNED_MODES:
            raise ConfigError(
                "sigma-mode: ES has no policy log-std to learn; use fixed or schedule"
            )
        if self.sigma_mode == "rpo" and self.algo != "ppo":
            raise ConfigError(f"sigma-mode: rpo perturbs PPO's update; algo is {self.algo!r}")
        for name in ("total_steps", "n_envs", "n_steps", "update_epochs", "n_minibatches",
                     "es_pairs", "es_episodes", "eval_every", "eval_episodes", "cg_iters",
                     "vf_iters"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"{name.replace('_', '-')}: must be a positive integer, got {value!r}"
                )
        if (self.n_envs * self.n_steps) % self.n_minibatches:
            raise ConfigError(
                f"n-minibatches: must divide n_envs × n_steps = {self.n_envs * self.n_steps}"
            )
        if self.gamma is not None and not (0 < self.gamma <= 1):
            raise ConfigError(f"gamma: must be in (0, 1], got {self.gamma!r}")
        if not (0 <= self.gae_lambda <= 1):
            raise ConfigError(f"gae-lambda: must be in [0, 1], got {self.gae_lambda!r}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden: layer sizes must be positive, got {self.hidden}")
        return self

    def make_task(self):
        from mollify import tasks

        return tasks.make(self.task, **self.task_params)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


# Per-task defaults. Everything not listed takes the dataclass default above.
# Pendulum/double pendulum/quadrotor: short rollouts of many envs (the JAX path is cheap per step);
# hopper: 256 envs per `mujoco.rollout` call (measured on 2 cores: 32 envs collect at 11 k
# env-steps/s, 256 at 24 k; the per-call Python and policy cost is shared by the batch), 64 steps
# each, so one update sees 16 k transitions; evaluated every 25 updates (400 k env steps), because
# one evaluation (2 × 16 episodes of 1000 steps) costs as much as ≈ 40 k steps of training.
TASK_DEFAULTS: dict[str, dict] = {
    "pendulum": {"n_envs": 16, "n_steps": 256, "total_steps": 1_000_000, "lr": 1e-3,
                 "gae_lambda": 0.95, "update_epochs": 10, "n_minibatches": 8},
    "double_pendulum": {"n_envs": 16, "n_steps": 256, "total_steps": 2_000_000, "lr": 3e-4},
    "planar_quadrotor": {"n_envs": 16, "n_steps": 256, "total_steps": 2_000_000, "lr": 3e-4},
    "hopper_stand": {"n_envs": 256, "n_steps": 64, "total_steps": 2_000_000, "lr": 3e-4,
                     "eval_every": 25},
}  # fmt: skip
# `gym:` envs: Gymnasium's own Pendulum-v1 is our pendulum (same dynamics, reward and horizon), so
# it takes the pendulum's row; any other env a row sized like SB3's PPO defaults (16 envs of 128).
GYM_DEFAULTS: dict[str, dict] = {"Pendulum-v1": TASK_DEFAULTS["pendulum"]}
GYM_DEFAULT_ROW: dict = {"n_envs": 16, "n_steps": 128, "total_steps": 1_000_000, "lr": 3e-4}


def task_defaults(task: str) -> dict:
    """The defaults row of a task name (built-in or `gym:ENV_ID`)."""
    if task.startswith("gym:"):
        return GYM_DEFAULTS.get(task[4:], GYM_DEFAULT_ROW)
    return TASK_DEFAULTS.get(task, {})


# The env-step budget of one run in the default study (`mollify reproduce`): what the σ sweep and
# the σ advisor assume a user trains with unless told otherwise.
STUDY_STEPS: dict[str, int] = {
    "pendulum": 300_000,
    "double_pendulum": 400_000,
    "planar_quadrotor": 300_000,
    "hopper_stand": 2_500_000,  # PPO at σ ≈ 1 lifts the hopper off the floor after ≈ 1 M
}
ALGO_DEFAULTS: dict[str, dict] = {
    "ppo": {},
    "reinforce": {"lr": 1e-3, "update_epochs": 1, "n_minibatches": 1},
    "npg": {"n_minibatches": 1},
    # Many cheap updates beat few precise ones on pendulum: 8 antithetic pairs of one episode,
    # parameter noise 0.1 (measured: mean final return −212 over 8 seeds at 1 M steps).
    "es": {"lr": 0.1, "es_pairs": 8, "es_episodes": 1, "es_sigma": 0.1},
}


def default_config(task: str, algo: str = "ppo", **overrides) -> TrainConfig:
    """Dataclass defaults, then the task's row, then the algorithm's, then `overrides`; validated
    (a bad name or value raises ConfigError naming the field) before anything is built."""
    base = task_defaults(task) | ALGO_DEFAULTS.get(algo, {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in overrides:
        if key not in known:
            from mollify.util.checks import did_you_mean

            raise ConfigError(f"{key}: unknown training option{did_you_mean(key, known)}")
    from mollify import tasks

    tasks.check_name(task)
    return TrainConfig(**(base | {"task": task, "algo": algo} | overrides)).validate()


def load_config_file(path: str | Path) -> dict:
    """Options from a JSON file (keys are TrainConfig fields)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must hold one JSON object")
    if "hidden" in data:
        data["hidden"] = tuple(data["hidden"])
    return data
