"""The training driver: `make_train(config)` returns a jitted `train(key)` for pure-JAX tasks (the
whole run is one XLA program, vmappable over seeds); `run(config, out)` drives any task in chunks
of `eval_every` updates, writes metrics.csv, config.json, the final policy and a learning curve.

Every algorithm is a pair (init, step): `step(state, i)` performs update i (collection included)
and returns per-update metrics. Policy-gradient algorithms (PPO, REINFORCE, NPG) share the
collection in `common`; ES scores perturbed parameter vectors instead.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mollify.tasks import HopperTask, JaxTask, Task
from mollify.training import common
from mollify.training.config import ConfigError, TrainConfig

METRICS = (
    "update",
    "env_steps",
    "wall_time",
    "sigma",
    "eval_deterministic",
    "eval_stochastic",
    "train_reward_per_step",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "policy_loss",
    "value_loss",
    "grad_norm",
    "nan_skips",
)


@dataclass(frozen=True)
class Algorithm:
    init: Callable[[jax.Array], Any]
    step: Callable[[Any, jax.Array], tuple[Any, dict]]  # (state, update index) -> (state, metrics)
    theta: Callable[[Any], jax.Array]  # the actor's flat θ
    sigma: Callable[[Any, jax.Array], jax.Array]  # σ_rel per action dim at progress p
    n_updates: int
    steps_per_update: int
    pure: bool  # step is a pure JAX function (jit/scan/vmap)


class PGState(NamedTuple):
    params: dict
    opt_state: Any
    env: Any  # common.EnvState for JAX tasks; None on the native path
    reward_norm: common.RewardNorm
    key: jax.Array


def resolve(config: TrainConfig, task: Task) -> TrainConfig:
    config = config.validate()
    if config.gamma is None:
        config = dataclasses.replace(config, gamma=task.gamma)
    return config


def make_algorithm(config: TrainConfig, task: Task | None = None) -> Algorithm:
    task = task or config.make_task()
    config = resolve(config, task)
    if config.algo == "es":
        from mollify.training import es

        return es.make_algorithm(config, task)
    return _policy_gradient(config, task)


def _policy_gradient(config: TrainConfig, task: Task) -> Algorithm:
    import importlib

    if not isinstance(task, JaxTask | HopperTask):
        raise ConfigError(
            f"task: training runs on the built-in tasks; {task.name!r} (Gymnasium) is evaluation-only"
        )
    module = importlib.import_module(f"mollify.training.{config.algo}")  # ppo, reinforce or npg
    nets = common.make_networks(task, config)
    half = jnp.asarray(task.action_half_range, jnp.float32)
    n_steps = task.horizon if config.algo == "reinforce" else config.n_steps
    per_update = config.n_envs * n_steps
    n_updates = max(1, config.total_steps // per_update)
    optimizer = module.make_optimizer(config, n_updates)
    update = module.make_update(nets, config, optimizer, half)

    def sigma(state, progress):
        return common.sigma_rel(config, state.params["log_std"], progress)

    def init(key):
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = common.init_params(nets, config, k_params)
        env = common.env_reset(task, k_env, config.n_envs) if isinstance(task, JaxTask) else None
        rn = common.reward_norm_init(config.n_envs)
        return PGState(params, optimizer.init(params), env, rn, k_run)

    if isinstance(task, JaxTask):

        def step(state, i):
            progress = i / n_updates
            std_abs = sigma(state, progress) * half
            key, k_col, k_upd = jax.random.split(state.key, 3)
            env = state.env
            if config.algo == "reinforce":  # whole episodes, aligned: restart every env
                env = common.env_reset(task, k_col, config.n_envs)
            env, traj, last_value = common.collect_jax(
                task, nets, config, state.params, env, k_col, std_abs, n_steps
            )
            raw_reward = traj.reward.mean()
            rn = state.reward_norm
            if config.norm_reward:
                rn, traj = common.normalize_rewards(rn, traj, config.gamma)
            params, opt_state, metrics = update(
                state.params, state.opt_state, traj, last_value, progress, k_upd
            )
            metrics["train_reward_per_step"] = raw_reward
            return PGState(params, opt_state, env, rn, key), metrics

        pure = True
    else:
        native = {}
        jit_update = jax.jit(update)
        jit_normalize = jax.jit(lambda rn, traj: common.normalize_rewards(rn, traj, config.gamma))

        def step(state, i):
            progress = float(i) / n_updates
            key, k_col, k_upd = jax.random.split(state.key, 3)
            if "env" not in native or config.algo == "reinforce":
                seed = int(jax.random.randint(k_col, (), 0, 2**31 - 1))
                native["env"] = common.HopperVecEnv(task, config.n_envs, seed)
            std_abs = sigma(state, progress) * half
            traj, last_value, _ = common.collect_native(
                native["env"], nets, config, state.params, k_col, std_abs, n_steps
            )
            raw_reward = float(traj.reward.mean())
            rn = state.reward_norm
            if config.norm_reward:
                rn, traj = jit_normalize(rn, traj)
            params, opt_state, metrics = jit_update(
                state.params, state.opt_state, traj, last_value, progress, k_upd
            )
            metrics["train_reward_per_step"] = raw_reward
            return PGState(params, opt_state, None, rn, key), metrics

        pure = False
    return Algorithm(
        init=init,
        step=step,
        theta=lambda s: s.params["actor"],
        sigma=sigma,
        n_updates=n_updates,
        steps_per_update=per_update,
        pure=pure,
    )


# ---------------------------------------------------------------------------------------------
# Pure-JAX: the whole run as one jitted function
# ---------------------------------------------------------------------------------------------
def _with_eval(algo: Algorithm, config: TrainConfig, task: JaxTask):
    nets = common.make_networks(task, config)
    evaluator = common.make_jax_evaluator(task, nets, config)
    half = jnp.asarray(task.action_half_range, jnp.float32)

    def step(state, i):
        state, metrics = algo.step(state, i)
        progress = (i + 1) / algo.n_updates
        sig = algo.sigma(state, progress)
        due = ((i + 1) % config.eval_every == 0) | (i + 1 == algo.n_updates)
        det, sto = jax.lax.cond(
            due,
            lambda: evaluator(algo.theta(state), sig * half),
            lambda: (jnp.float32(jnp.nan), jnp.float32(jnp.nan)),
        )
        metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
        metrics |= {
            "update": (i + 1).astype(jnp.float32),
            "env_steps": ((i + 1) * algo.steps_per_update).astype(jnp.float32),
            "sigma": sig.mean(),
            "eval_deterministic": det,
            "eval_stochastic": sto,
        }
        return state, metrics

    return step


def make_train(config: TrainConfig):
    """A jitted `train(key) -> (final state, metrics {name: (n_updates,)})` for a pure-JAX task.

    The whole run (collection, updates, periodic evaluation on fixed seeds) is one XLA program:
    `jax.vmap(train)(keys)` trains several seeds at once.
    """
    task = config.make_task()
    if not isinstance(task, JaxTask):
        raise ConfigError(f"task: make_train needs a pure-JAX task; use run() for {task.name!r}")
    config = resolve(config, task)
    algo = make_algorithm(config, task)
    step = _with_eval(algo, config, task)

    def train(key):
        state = algo.init(key)
        return jax.lax.scan(step, state, jnp.arange(algo.n_updates))

    return jax.jit(train)


def train_seeds(
    config: TrainConfig,
    seeds: list[int],
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """One RunResult per seed. Pure-JAX tasks compile `train(key)` once and run it per seed (key
    `PRNGKey(seed)`), not vmapped: a seed's numbers then do not depend on which other seeds share
    the call, so a resumed sweep or another engine reproduces them bit for bit. Per-update wall
    time is not observable inside the program: rows carry NaN except the last (the run's total).
    Other tasks run `run()` per seed. `on_result(result)` is called as each seed finishes, so a
    caller can save it before the next seed starts (a killed sweep then loses one seed, not all)."""
    task = config.make_task()
    config = resolve(config, task)
    if not isinstance(task, JaxTask):
        results = []
        for s in seeds:
            results.append(run(dataclasses.replace(config, seed=s)))
            if on_result is not None:
                on_result(results[-1])
        return results
    algo = make_algorithm(config, task)
    step = _with_eval(algo, config, task)

    def train(key):
        return jax.lax.scan(step, algo.init(key), jnp.arange(algo.n_updates))

    compiled = jax.jit(train).lower(jax.random.PRNGKey(0)).compile()
    results = []
    for s in seeds:
        start = time.perf_counter()
        state, metrics = compiled(jax.random.PRNGKey(s))
        metrics = jax.device_get(metrics)
        seconds = time.perf_counter() - start
        rows = [
            {name: float(v[j]) for name, v in metrics.items()} | {"wall_time": math.nan}
            for j in range(algo.n_updates)
        ]
        rows[-1]["wall_time"] = seconds
        theta = np.asarray(algo.theta(state), np.float32)
        steps = algo.n_updates * algo.steps_per_update
        results.append(
            RunResult(dataclasses.replace(config, seed=s), rows, theta, seconds, steps, None)
        )
        if on_result is not None:
            on_result(results[-1])
    return results


# ---------------------------------------------------------------------------------------------
# Any task: chunks of eval_every updates, metrics to CSV, outputs written atomically
# ---------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    config: TrainConfig
    metrics: list[dict]
    theta: np.ndarray
    seconds: float
    env_steps: int
    out: Path | None

    @property
    def env_steps_per_second(self) -> float:
        return self.env_steps / max(self.seconds, 1e-12)

    @property
    def final(self) -> dict:
        rows = [m for m in self.metrics if math.isfinite(m["eval_deterministic"])]
        return rows[-1] if rows else {}


def run(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    progress: Callable[[dict, int], None] | None = None,
) -> RunResult:
    """Train, evaluating every `eval_every` updates; `progress(last_metrics, n_updates)` after each
    chunk. With `out`, writes config.json, metrics.csv, policy.npz and learning_curve.png there."""
    task = config.make_task()
    config = resolve(config, task)
    algo = make_algorithm(config, task)
    key = jax.random.PRNGKey(config.seed)
    start = time.perf_counter()
    rows: list[dict] = []
    if algo.pure:
        step = _with_eval(algo, config, task)
        chunk_fns = {}

        def run_chunk(state, first, length):
            if length not in chunk_fns:
                chunk_fns[length] = jax.jit(
                    lambda s, f: jax.lax.scan(step, s, f + jnp.arange(length))
                )
            return chunk_fns[length](state, first)

        state = jax.jit(algo.init)(key)
        for first in range(0, algo.n_updates, config.eval_every):
            length = min(config.eval_every, algo.n_updates - first)
            state, metrics = run_chunk(state, jnp.int32(first), length)
            metrics = jax.device_get(metrics)
            wall = time.perf_counter() - start
            for j in range(length):
                rows.append({k: float(v[j]) for k, v in metrics.items()} | {"wall_time": wall})
            if progress is not None:
                progress(rows[-1], algo.n_updates)
    else:
        nets = common.make_networks(task, config)
        state = algo.init(key)
        for i in range(algo.n_updates):
            state, metrics = algo.step(state, i)
            row = {k: float(v) for k, v in jax.device_get(metrics).items()}
            progress_frac = (i + 1) / algo.n_updates
            sig = np.asarray(algo.sigma(state, progress_frac))
            det = sto = math.nan
            if (i + 1) % config.eval_every == 0 or i + 1 == algo.n_updates:
                det, sto = common.evaluate_native(task, nets, config, algo.theta(state), sig)
            row |= {
                "update": float(i + 1),
                "env_steps": float((i + 1) * algo.steps_per_update),
                "sigma": float(sig.mean()),
                "eval_deterministic": det,
                "eval_stochastic": sto,
                "wall_time": time.perf_counter() - start,
            }
            rows.append(row)
            if progress is not None and (math.isfinite(det) or i + 1 == algo.n_updates):
                progress(row, algo.n_updates)
    seconds = time.perf_counter() - start
    theta = np.asarray(algo.theta(state), np.float32)
    result = RunResult(config, rows, theta, seconds, algo.n_updates * algo.steps_per_update, None)
    if out is not None:
        result.out = write_outputs(result, task, Path(out))
    return result


def write_outputs(result: RunResult, task: Task, out: Path) -> Path:
    from mollify import figures
    from mollify.io import atomic_write, atomic_write_text
    from mollify.policies import save_policy

    out.mkdir(parents=True, exist_ok=True)
    config = result.config
    atomic_write_text(out / "config.json", config.to_json() + "\n")

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(METRICS), extrasaction="ignore")
            writer.writeheader()
            for row in result.metrics:
                writer.writerow({k: row.get(k, math.nan) for k in METRICS})

    atomic_write(out / "metrics.csv", write_csv)
    nets = common.make_networks(task, config)
    save_policy(out / "policy.npz", nets.actor, result.theta, task.name)
    summary = {
        "final": result.final,
        "seconds": result.seconds,
        "env_steps": result.env_steps,
        "env_steps_per_second": result.env_steps_per_second,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    figures.learning_curve(result.metrics, config, out / "learning_curve.png")
    return out
