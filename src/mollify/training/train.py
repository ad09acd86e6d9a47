"""The training driver: `make_train(config)` returns a jitted `train(key)` for pure-JAX tasks (the
whole run is one XLA program, vmappable over seeds); `run(config, out)` drives any task in chunks
of `eval_every` updates, writes metrics.csv, timing.csv, config.json, the final policy and a
learning curve, and a checkpoint after every chunk from which `run(..., resume=True)` continues
bit for bit.

Every algorithm is a pair (init, step): `step(state, i)` performs update i (collection included)
and returns per-update metrics. Policy-gradient algorithms (PPO, REINFORCE, NPG) share the
collection in `common`; ES scores perturbed parameter vectors instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
import zipfile
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
    # State kept outside the pytree by a host loop (the hopper's vectorised env), for checkpoints:
    # `save_host()` -> dict of arrays and JSON values, or None; `load_host(dict)` restores it.
    save_host: Callable[[], dict | None] = lambda: None
    load_host: Callable[[dict], None] | None = None


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

        def save_host():
            return native["env"].snapshot() if "env" in native else None

        def load_host(snap):
            native["env"] = common.HopperVecEnv.from_snapshot(task, snap)

        pure = False
    return Algorithm(
        init=init,
        step=step,
        theta=lambda s: s.params["actor"],
        sigma=sigma,
        n_updates=n_updates,
        steps_per_update=per_update,
        pure=pure,
        **({} if pure else {"save_host": save_host, "load_host": load_host}),
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


# ---------------------------------------------------------------------------------------------
# Checkpoints: the whole training state after a chunk, so a killed run resumes bit for bit
# ---------------------------------------------------------------------------------------------
CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = 1
# Test hook, never set in normal use: with MOLLIFY_TEST_DIE_AFTER_CHUNK=k, `run(..., out=...)`
# sends itself SIGKILL right after writing the checkpoint of chunk k (counted from the start of
# training, 1-based), so the tests can kill a real run at a known point and resume it.
DIE_AFTER_CHUNK_ENV = "MOLLIFY_TEST_DIE_AFTER_CHUNK"


class CheckpointError(ConfigError):
    """A checkpoint that cannot be resumed (other config, other program, damaged file)."""


def _config_dict(config: TrainConfig) -> dict:
    return json.loads(config.to_json())


def _to_host(state) -> tuple[list[np.ndarray], list[dict], Any]:
    """The state's leaves as numpy arrays (typed PRNG keys as their key data), their specs, and
    the tree structure."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    impls = []
    for k, leaf in enumerate(leaves):
        impl = None
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            impl = str(jax.random.key_impl(leaf))
            leaves[k] = jax.random.key_data(leaf)
        impls.append(impl)
    arrays = [np.array(a) for a in jax.device_get(leaves)]  # one transfer, then owned copies
    specs = [
        {"shape": list(a.shape), "dtype": a.dtype.str, "key_impl": impl}
        for a, impl in zip(arrays, impls, strict=True)
    ]
    return arrays, specs, treedef


def _from_host(arrays: list[np.ndarray], specs: list[dict], treedef) -> Any:
    leaves = []
    for a, spec in zip(arrays, specs, strict=True):
        x = jnp.asarray(a)
        if spec["key_impl"] is not None:
            x = jax.random.wrap_key_data(x, impl=spec["key_impl"])
        leaves.append(x)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save_checkpoint(
    path: Path,
    config: TrainConfig,
    arrays: list[np.ndarray],
    specs: list[dict],
    treedef,
    updates_done: int,
    rows: list[dict],
    timing: list[dict],
    host: dict | None = None,
) -> Path:
    """Write everything a resume needs into one .npz, atomically (temp file, then rename)."""
    from mollify.util.io import atomic_write

    columns = list(rows[0]) if rows else []
    table = np.array([[row[c] for c in columns] for row in rows], np.float64)
    files = {f"leaf_{k}": a for k, a in enumerate(arrays)}
    files["metrics"] = table.reshape(len(rows), len(columns))
    host_json = None
    if host is not None:
        host_json = {}
        for name, value in host.items():
            if isinstance(value, np.ndarray):
                files[f"host_{name}"] = value
            else:
                host_json[name] = value
    meta = {
        "format": CHECKPOINT_FORMAT,
        "config": _config_dict(config),
        "updates_done": updates_done,
        "treedef": str(treedef),
        "leaves": specs,
        "columns": columns,
        "timing": timing,
        "host": host_json,
    }
    files["meta"] = np.array(json.dumps(meta))

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **files)

    return atomic_write(path, write)


@dataclass
class Checkpoint:
    state: Any
    updates_done: int
    rows: list[dict]
    timing: list[dict]
    host: dict | None


def _read_checkpoint(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
        meta = json.loads(str(files["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"resume: cannot read checkpoint {str(path)!r} ({exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"resume: {str(path)!r} has checkpoint format {meta.get('format')!r}")
    return files, meta


def _compare_config(meta: dict, config: TrainConfig, path: Path) -> None:
    saved, wanted = meta["config"], _config_dict(config)
    for name in list(wanted) + [k for k in saved if k not in wanted]:
        if saved.get(name) != wanted.get(name):
            raise CheckpointError(
                f"resume: the checkpoint in {str(path.parent)!r} was trained with "
                f"{name.replace('_', '-')}={saved.get(name)!r}, this run asks for "
                f"{wanted.get(name)!r}; pass --force to start over"
            )


def check_checkpoint_config(path: Path, config: TrainConfig) -> None:
    """Raise CheckpointError (one line, naming the first differing field) unless the checkpoint at
    `path` was written by a run of the same (resolved) config."""
    _compare_config(_read_checkpoint(path)[1], resolve(config, config.make_task()), path)


def load_checkpoint(path: Path, config: TrainConfig, template) -> Checkpoint:
    """Read `path` and check it against this run: the same config (else CheckpointError naming the
    first differing field) and a state of the same structure, shapes and dtypes as `template`."""
    files, meta = _read_checkpoint(path)
    _compare_config(meta, config, path)
    _, specs, treedef = _to_host(template)
    if meta["treedef"] != str(treedef) or len(meta["leaves"]) != len(specs):
        raise CheckpointError(f"resume: {str(path)!r} holds a different training state structure")
    restored = []
    for k, (spec, want) in enumerate(zip(meta["leaves"], specs, strict=True)):
        a = files.get(f"leaf_{k}")
        got = None if a is None else {"shape": list(a.shape), "dtype": a.dtype.str}
        if spec != want or got != {"shape": want["shape"], "dtype": want["dtype"]}:
            raise CheckpointError(
                f"resume: {str(path)!r} leaf {k} is {spec}, this run's state has {want}"
            )
        restored.append(a)
    table = files["metrics"]
    rows = [dict(zip(meta["columns"], map(float, r), strict=True)) for r in table]
    host = None
    if meta["host"] is not None:
        host = dict(meta["host"])
        host |= {k[len("host_") :]: v for k, v in files.items() if k.startswith("host_")}
    return Checkpoint(
        _from_host(restored, specs, treedef), int(meta["updates_done"]), rows, meta["timing"], host
    )


# ---------------------------------------------------------------------------------------------
# Any task: chunks of eval_every updates, metrics to CSV, outputs written atomically
# ---------------------------------------------------------------------------------------------
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
