"""The training driver: `make_train(config)` returns a jitted `train(key)` for pure-JAX tasks (the
whole run is one XLA program, vmappable over seeds); `run(config, out)` drives any task in chunks
of `eval_every` updates, writes metrics.csv, timing.csv, config.json, the final policy and a
learning curve, and a checkpoint after every chunk from which `run(..., resume=True)` continues
bit for bit.

The driver only knows the `Algorithm` contract (algorithm.py); `make_algorithm` (dispatch.py) picks
the builder, checkpoints live in checkpoint.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mollify.tasks import JaxTask, Task
from mollify.training import common
from mollify.training.algorithm import Algorithm, resolve
from mollify.training.checkpoint import (
    CHECKPOINT,
    _from_host,
    _to_host,
    load_checkpoint,
    save_checkpoint,
)
from mollify.training.config import ConfigError, TrainConfig
from mollify.training.dispatch import build, make_algorithm

METRICS = (
    "update",
    "env_steps",
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


# Test hook, never set in normal use: with MOLLIFY_TEST_DIE_AFTER_CHUNK=k, `run(..., out=...)`
# sends itself SIGKILL right after writing the checkpoint of chunk k (counted from the start of
# training, 1-based), so the tests can kill a real run at a known point and resume it.
DIE_AFTER_CHUNK_ENV = "MOLLIFY_TEST_DIE_AFTER_CHUNK"


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
    """One RunResult per seed. Pure-JAX tasks compile `train(key)` once (at a fixed σ, once for
    every σ of the same config: `_seed_program`) and run it per seed (key `PRNGKey(seed)`), not
    vmapped: a seed's numbers then do not depend on which other seeds share
    the call, so a resumed sweep or another engine reproduces them bit for bit. Per-update wall
    time is not observable inside the program: `timing` has one row, the run's total. Other tasks
    run `run()` per seed. `on_result(result)` is called as each seed finishes, so a caller can
    save it before the next seed starts (a killed sweep then loses one seed, not all)."""
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
    compiled = _seed_program(config, task)
    results = []
    for s in seeds:
        start = time.perf_counter()
        state, metrics = compiled(jax.random.PRNGKey(s))
        metrics = jax.device_get(metrics)
        seconds = time.perf_counter() - start
        rows = [{name: float(v[j]) for name, v in metrics.items()} for j in range(algo.n_updates)]
        timing = [{"update": algo.n_updates, "wall_time": seconds}]
        theta = np.asarray(algo.theta(state), np.float32)
        steps = algo.n_updates * algo.steps_per_update
        results.append(
            RunResult(
                dataclasses.replace(config, seed=s), rows, theta, seconds, steps, None, timing
            )
        )
        if on_result is not None:
            on_result(results[-1])
    return results


# Compiled `train(key, σ)` programs of fixed-σ configs, keyed by the config with σ set aside:
# the cells of a sweep that differ only in σ share one program (compiling it is most of a short
# run). A handful per process; each holds one compiled executable.
_FIXED_SIGMA_PROGRAMS: dict[str, Callable] = {}


def _seed_program(config: TrainConfig, task: JaxTask) -> Callable:
    """`train(key) -> (state, metrics)` for one resolved config, compiled. At a fixed σ the
    program takes σ as an argument and is shared with every other σ of the same config; other σ
    modes (learned: log σ starts the log-std; schedule) compile their own."""
    if config.sigma_mode != "fixed":
        algo = build(config, task)
        step = _with_eval(algo, config, task)

        def train(key):
            return jax.lax.scan(step, algo.init(key), jnp.arange(algo.n_updates))

        return jax.jit(train).lower(jax.random.PRNGKey(0)).compile()
    name = json.dumps(dataclasses.asdict(dataclasses.replace(config, sigma=1.0, seed=0)))
    if name not in _FIXED_SIGMA_PROGRAMS:

        def train_at(key, sigma):
            at_sigma = dataclasses.replace(config, sigma=sigma)
            algo = build(at_sigma, task)
            step = _with_eval(algo, at_sigma, task)
            return jax.lax.scan(step, algo.init(key), jnp.arange(algo.n_updates))

        args = (jax.random.PRNGKey(0), jnp.float32(1.0))
        if len(_FIXED_SIGMA_PROGRAMS) >= 8:
            _FIXED_SIGMA_PROGRAMS.pop(next(iter(_FIXED_SIGMA_PROGRAMS)))
        _FIXED_SIGMA_PROGRAMS[name] = jax.jit(train_at).lower(*args).compile()
    program, sigma = _FIXED_SIGMA_PROGRAMS[name], jnp.float32(config.sigma)
    return lambda key: program(key, sigma)


# ---------------------------------------------------------------------------------------------
# Any task: chunks of eval_every updates, metrics to CSV, outputs written atomically
# ---------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    config: TrainConfig
    metrics: list[dict]  # one row per update: the columns of METRICS, all deterministic
    theta: np.ndarray
    seconds: float
    env_steps: int
    out: Path | None
    timing: list[dict] = dataclasses.field(default_factory=list)  # {update, wall_time} per chunk
    resumed_from: int = 0  # updates restored from a checkpoint (0: trained from the start)

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
    resume: bool = False,
    progress: Callable[[dict, int], None] | None = None,
) -> RunResult:
    """Train, evaluating every `eval_every` updates; `progress(last_metrics, n_updates)` after each
    chunk. With `out`, writes config.json, metrics.csv, timing.csv, policy.npz, summary.json and
    learning_curve.png there, and `checkpoint.npz` after every chunk (kept at the end).

    `resume=True` continues from `out/checkpoint.npz` when there is one (a finished run's
    checkpoint resumes to no work and rewrites the same outputs); a checkpoint written with another
    config raises CheckpointError. Without `resume` an old checkpoint there is deleted first.

    After every chunk the state goes through host memory, as a resume restores it, so a run killed
    and resumed feeds the next chunk exactly what an uninterrupted run does: the final parameters
    and metrics.csv are bit-identical (wall time lives in timing.csv, not metrics.csv)."""
    task = config.make_task()
    config = resolve(config, task)
    algo = make_algorithm(config, task)
    key = jax.random.PRNGKey(config.seed)
    start = time.perf_counter()
    ckpt = Path(out) / CHECKPOINT if out is not None else None
    state = jax.jit(algo.init)(key) if algo.pure else algo.init(key)
    rows: list[dict] = []
    timing: list[dict] = []
    done, before = 0, 0.0
    if ckpt is not None and resume and ckpt.exists():
        restored = load_checkpoint(ckpt, config, state)
        state, done, rows, timing = (
            restored.state,
            restored.updates_done,
            restored.rows,
            restored.timing,
        )
        before = timing[-1]["wall_time"] if timing else 0.0
        if restored.host is not None and algo.load_host is not None:
            algo.load_host(restored.host)
    elif ckpt is not None:
        ckpt.unlink(missing_ok=True)  # a fresh start never resumes a stale checkpoint later
    resumed_from = done
    die_after = int(os.environ.get(DIE_AFTER_CHUNK_ENV, "0") or 0)

    if algo.pure:
        step = _with_eval(algo, config, task)
        chunk_fns = {}

        def run_chunk(state, first, length):
            if length not in chunk_fns:
                chunk_fns[length] = jax.jit(
                    lambda s, f: jax.lax.scan(step, s, f + jnp.arange(length))
                )
            state, metrics = chunk_fns[length](state, jnp.int32(first))
            metrics = jax.device_get(metrics)
            return state, [{k: float(v[j]) for k, v in metrics.items()} for j in range(length)]

    else:
        nets = common.make_networks(task, config)

        def run_chunk(state, first, length):
            chunk_rows = []
            for i in range(first, first + length):
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
                }
                chunk_rows.append(row)
            return state, chunk_rows

    for first in range(done, algo.n_updates, config.eval_every):
        length = min(config.eval_every, algo.n_updates - first)
        state, chunk_rows = run_chunk(state, first, length)
        rows += chunk_rows
        timing.append({"update": first + length, "wall_time": before + time.perf_counter() - start})
        arrays, specs, treedef = _to_host(state)
        if ckpt is not None:
            save_checkpoint(
                ckpt, config, arrays, specs, treedef, first + length, rows, timing, algo.save_host()
            )
            if die_after and -(-(first + length) // config.eval_every) == die_after:
                os.kill(os.getpid(), signal.SIGKILL)  # the test hook above
        # The next chunk starts from the host copy, exactly as a resumed run does.
        state = _from_host(arrays, specs, treedef)
        if progress is not None:
            progress(rows[-1], algo.n_updates)
    seconds = before + time.perf_counter() - start
    theta = np.asarray(algo.theta(state), np.float32)
    steps = algo.n_updates * algo.steps_per_update
    result = RunResult(config, rows, theta, seconds, steps, None, timing, resumed_from)
    if out is not None:
        result.out = write_outputs(result, task, Path(out))
    return result


def write_outputs(result: RunResult, task: Task, out: Path) -> Path:
    from mollify.core.policies import save_policy
    from mollify.training import figures
    from mollify.util.io import atomic_write_csv, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    config = result.config
    atomic_write_text(out / "config.json", config.to_json() + "\n")

    atomic_write_csv(out / "metrics.csv", METRICS, result.metrics)
    atomic_write_csv(out / "timing.csv", ("update", "wall_time"), result.timing)
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
