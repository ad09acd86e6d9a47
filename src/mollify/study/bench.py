"""`mollify bench`: mollify against what a user would otherwise run, on the same work, in one process.

Every comparison reports both rates and their ratio; absolute numbers on shared 2-core machines are
noise, ratios measured back to back are not. Torch is an optional `bench` extra: without it the
competitor side is reported as skipped, with the reason.
"""

from __future__ import annotations

import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from mollify import tasks
from mollify.core.evaluation import evaluate
from mollify.core.policies import make_policy
from mollify.util.host import usable_cpus


def _policies(task, n: int, seed: int = 0) -> tuple:
    policy = make_policy(task)
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    return policy, np.asarray(jax.vmap(policy.init)(keys))


def _mollify_rate(task, policy, thetas, episodes=1) -> float:
    evaluate(task, policy, thetas, episodes=episodes)  # compile
    return evaluate(task, policy, thetas, episodes=episodes).steps_per_second


def _torch_gymnasium_rate(policy, thetas, horizon: int) -> float:
    """Gymnasium `Pendulum-v1` sync vector env, one sub-env per policy, a torch MLP of the same size
    (batched over policies with `torch.bmm`) choosing every action: what a user would write."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(usable_cpus())
    n = thetas.shape[0]
    layers = [
        (torch.from_numpy(np.array(w)), torch.from_numpy(np.array(b)[:, None, :]))
        for w, b in jax.vmap(policy.layers)(thetas)
    ]
    half = float(policy.action_high[0])
    envs = gym.make_vec("Pendulum-v1", num_envs=n, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(horizon):
            x = torch.from_numpy(obs.astype(np.float32)).reshape(n, 1, -1)
            for w, b in layers[:-1]:
                x = torch.tanh(torch.bmm(x, w) + b)
            w, b = layers[-1]
            action = (half * torch.tanh(torch.bmm(x, w) + b)).reshape(n, -1).numpy()
            obs, *_ = envs.step(action)
    seconds = time.perf_counter() - start
    envs.close()
    return n * horizon / seconds


def landscape_evaluation(n_policies: int) -> dict:
    task = tasks.make("pendulum")
    policy, thetas = _policies(task, n_policies)
    out = {
        "work": f"{n_policies} MLP(64x64) policies x {task.horizon} steps, pendulum",
        "mollify_env_steps_per_s": _mollify_rate(task, policy, thetas),
    }
    try:
        rate = _torch_gymnasium_rate(policy, thetas, task.horizon)
        out["competitor"] = (
            f"Gymnasium Pendulum-v1 sync vector env ({n_policies} sub-envs) + torch MLP (bmm)"
        )
        out["competitor_env_steps_per_s"] = rate
        out["ratio"] = out["mollify_env_steps_per_s"] / rate
    except ImportError as exc:
        out["competitor"] = f"skipped: {exc} (install the 'bench' extra)"
        out["competitor_env_steps_per_s"] = None
        out["ratio"] = None
    for name in ("double_pendulum", "planar_quadrotor"):
        t = tasks.make(name)
        p, th = _policies(t, n_policies)
        out[f"mollify_{name}_env_steps_per_s"] = _mollify_rate(t, p, th)
    return out


def dense_matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of float32 `jnp.dot` of two size² matrices on every JAX CPU device at once (one
    product per device, best of `repeats`): the machine's dense-matmul peak, measured here."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    n_dev = jax.device_count()
    mesh = Mesh(np.asarray(jax.devices()), ("d",))
    shard = NamedSharding(mesh, PartitionSpec("d"))
    a = jax.device_put(jax.random.normal(jax.random.PRNGKey(0), (n_dev, size, size)), shard)
    b = jax.device_put(jax.random.normal(jax.random.PRNGKey(1), (n_dev, size, size)), shard)
    dot = jax.jit(jax.vmap(jnp.dot), out_shardings=shard)
    dot(a, b).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        dot(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n_dev * size**3 / best / 1e9


def landscape_workload(grid: int, competitor_rollouts: int = 1024) -> dict:
    """The README figure's landscape (pendulum, 2-D slice, 32 noise samples per point, σ 0, 0.1,
    0.3, 1, fixed start) timed end to end by `compute_landscape` (compiled beforehand), against
    Gymnasium + torch on the same work: its rate measured on `competitor_rollouts` rollouts, its
    time for every rollout of the landscape extrapolated from it.

    Effective GFLOP/s counts the generic path's multiply-adds (2·in·out per layer per env step)
    of the env steps actually simulated (the σ = 0 row runs one episode per point: from a fixed
    start without noise all 32 are the same), next to `dense_matmul_peak` of this run."""
    from mollify.instruments.landscape import LandscapeConfig, compute_landscape

    task = tasks.make("pendulum")
    policy, thetas = _policies(task, 1)
    config = LandscapeConfig(grid=grid, samples=32, sigmas=(0.0, 0.1, 0.3, 1.0))
    # A 23 × 23 grid fills one block: the same compiled shapes as any larger grid.
    warm = LandscapeConfig(**{**config.__dict__, "grid": min(grid, 23)})
    compute_landscape(task, policy, thetas[0], warm)
    start = time.perf_counter()
    compute_landscape(task, policy, thetas[0], config)
    seconds = time.perf_counter() - start
    points, horizon = grid**2, task.horizon
    requested = points * config.samples * len(config.sigmas) * horizon
    simulated = points * (1 + config.samples * (len(config.sigmas) - 1)) * horizon
    flops_per_step = sum(2 * n_in * n_out for (n_in, n_out), _ in policy.layer_shapes)
    effective = simulated * flops_per_step / seconds / 1e9
    peak = dense_matmul_peak()
    out = {
        "work": f"{grid} x {grid} pendulum landscape, 32 samples per point, 4 sigmas (0, 0.1, "
        f"0.3, 1), fixed start: {requested:,} env steps requested, {simulated:,} simulated",
        "seconds": seconds,
        "mollify_env_steps_per_s": requested / seconds,
        "mollify_simulated_env_steps_per_s": simulated / seconds,
        "effective_gflops": effective,
        "dense_matmul_peak_gflops": peak,
        "fraction_of_peak": effective / peak,
        "flops_per_env_step": flops_per_step,
    }
    try:
        rollouts = _policies(task, competitor_rollouts)[1]
        rate = _torch_gymnasium_rate(policy, rollouts, horizon)
        out["competitor"] = (
            "Gymnasium Pendulum-v1 sync vector env + torch MLP (bmm), every requested rollout; "
            f"rate measured on {competitor_rollouts} rollouts, time extrapolated"
        )
        out["competitor_env_steps_per_s"] = rate
        out["competitor_seconds"] = requested / rate
        out["ratio"] = out["competitor_seconds"] / seconds
    except ImportError as exc:
        out["competitor"] = f"skipped: {exc} (install the 'bench' extra)"
        out["competitor_env_steps_per_s"] = out["competitor_seconds"] = out["ratio"] = None
    return out


def hopper_rollouts(n_envs: int, horizon: int) -> dict:
    """Closed loop (batched policy between one `mujoco.rollout` call per control step) against
    `mujoco.rollout` replaying the very same controls open loop in one call: the physics is
    identical, so the ratio is what closing the loop costs."""
    from mollify.core.evaluation import _native_actor
    from mollify.tasks.hopper_stand import run_closed_loop

    task = tasks.make("hopper_stand", horizon=horizon)
    policy, thetas = _policies(task, n_envs)
    physics = task.physics
    states, obs = physics.reset(np.arange(n_envs))
    actor = _native_actor(policy, thetas, np.zeros(4), np.zeros((1, horizon, 4)), 1)
    actor(0, obs)  # compile the batched policy outside the timing
    recorded = []

    def act(t, o):
        a = np.clip(actor(t, o), -1.0, 1.0)
        recorded.append(a)
        return a

    start = time.perf_counter()
    run_closed_loop(physics, act, states, obs, horizon, task.gamma)
    closed = n_envs * horizon / (time.perf_counter() - start)
    controls = np.repeat(np.stack(recorded, axis=1), physics.n_substeps, axis=1)
    start = time.perf_counter()
    physics.pool.rollout(physics.model, physics.datas, states, controls)
    open_rate = n_envs * horizon / (time.perf_counter() - start)
    one_env = _hopper_one_env_rate(physics, policy, thetas, states, horizon, min(n_envs, 16))
    return {
        "work": f"{n_envs} hopper_stand envs x {horizon} control steps, {physics.threads} threads",
        "mollify_closed_loop_env_steps_per_s": closed,
        "mujoco_rollout_open_loop_env_steps_per_s": open_rate,
        "ratio": closed / open_rate,
        "one_env_loop_env_steps_per_s": one_env,
        "ratio_vs_one_env_loop": closed / one_env,
        "note": "open loop replays the closed loop's own controls from the same initial states; "
        "the one-env loop steps one MjData with mj_step and a numpy MLP, env after env "
        "(touch readings left out of its observation: a timing loop, not an evaluator)",
    }


def _hopper_one_env_rate(physics, policy, thetas, states, horizon: int, n_envs: int) -> float:
    """What a user writes without batching: one env at a time, `mj_step` per physics step and a
    numpy forward pass of that env's MLP per control step."""
    import mujoco

    model, data = physics.model, mujoco.MjData(physics.model)
    start = time.perf_counter()
    for i in range(n_envs):
        layers = [(np.asarray(w), np.asarray(b)) for w, b in policy.layers(thetas[i])]
        mujoco.mj_setState(model, data, states[i], physics.state_spec)
        mujoco.mj_forward(model, data)
        for _ in range(horizon):
            obs = np.concatenate([data.qpos[1:], data.qvel, np.zeros(2)])
            x = obs
            for w, b in layers[:-1]:
                x = np.tanh(x @ w + b)
            data.ctrl[:] = np.tanh(x @ layers[-1][0] + layers[-1][1])
            for _ in range(physics.n_substeps):
                mujoco.mj_step(model, data)
    return n_envs * horizon / (time.perf_counter() - start)


def _numpy_mlp(policy, thetas):
    """The policies' MLP as batched numpy (float32, one `matmul` per layer over all policies):
    the competitor's policy application, so its side pays no per-env Python for the network."""
    layers = [(np.array(w), np.array(b)[:, None, :]) for w, b in jax.vmap(policy.layers)(thetas)]
    low = np.asarray(policy.action_low, np.float32)
    high = np.asarray(policy.action_high, np.float32)
    center, half = (high + low) / 2, (high - low) / 2

    def act(obs):
        x = obs.astype(np.float32)[:, None, :]
        for w, b in layers[:-1]:
            x = np.tanh(x @ w + b)
        w, b = layers[-1]
        return (center + half * np.tanh(x @ w + b))[:, 0, :]

    return act


LOCOMOTION_BENCH = {
    "walker2d": "Walker2d-v5",
    "hopper": "Hopper-v5",
    "half_cheetah": "HalfCheetah-v5",
}


def _locomotion_pair(name: str, n_policies: int, horizon: int, repeats: int) -> dict:
    """mollify `evaluate` of n policies (one episode each, one `mujoco.rollout` call per control
    step) against Gymnasium's own v5 env in a sync vector env (one sub-env per policy, the same
    reset seed) stepped for the same number of env steps; best of `repeats` on each side."""
    import contextlib
    import tempfile

    import gymnasium as gym

    from mollify.core.evaluation import reset_seeds

    task = tasks.make(name, horizon=horizon)
    policy, thetas = _policies(task, n_policies)
    # PPO's initialisation (last layer x 0.01) keeps the robots up for ~100 steps, not ~15.
    n_last = policy.layer_shapes[-1][0][0] * task.action_dim + task.action_dim
    thetas = np.array(thetas)
    thetas[:, -n_last:] *= 0.01
    evaluate(task, policy, thetas, episodes=1)  # compile the batched policy
    runs = [evaluate(task, policy, thetas, episodes=1) for _ in range(repeats)]
    steps = runs[0].env_steps
    mollify_rate = max(r.steps_per_second for r in runs)
    act = _numpy_mlp(policy, thetas)
    # Gymnasium's HalfCheetah XML load appends a deprecation warning to ./MUJOCO_LOG.TXT: load
    # the models from a scratch directory, not the user's.
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        envs = gym.make_vec(
            LOCOMOTION_BENCH[name], num_envs=n_policies, vectorization_mode="sync",
            max_episode_steps=horizon,
        )  # fmt: skip
    n_steps = -(-steps // n_policies)  # the same number of env steps, rounded up
    seeds = [int(reset_seeds(0, 1)[0])] * n_policies
    rates = []
    for _ in range(repeats):
        obs, _ = envs.reset(seed=seeds)
        start = time.perf_counter()
        for _ in range(n_steps):
            obs, *_ = envs.step(act(obs))
        rates.append(n_policies * n_steps / (time.perf_counter() - start))
    envs.close()
    return {
        "env_steps": steps,
        "mollify_env_steps_per_s": mollify_rate,
        "competitor_env_steps_per_s": max(rates),
        "ratio": mollify_rate / max(rates),
    }


def locomotion_evaluation(
    n_policies: int, extra_tasks: bool, repeats: int = 3, horizon: int = 1000
) -> dict:
    """Batched evaluation of many policies on Gymnasium's Walker2d-v5 (mollify's `walker2d`)
    against Gymnasium's own vector env; hopper and half_cheetah (horizon 100) beside it.

    Both sides run the same MuJoCo physics, which dominates (the walker's contacts make it the
    heaviest of the three), so the ratio is about the rollout threads times what Gymnasium's
    per-env Python adds; the tail of long episodes, when few robots are left standing, runs
    small batches. Measured on 2 cores: walker2d 2.0x, hopper 3.4x, half_cheetah 3.3x."""
    threads = tasks.make("walker2d").physics.threads
    main = _locomotion_pair("walker2d", n_policies, horizon, repeats)
    out = {
        "work": f"{n_policies} MLP(64x64) policies x 1 episode of walker2d (Walker2d-v5, ends "
        f"on falling, horizon {horizon}), {main['env_steps']:,} env steps, {threads} rollout "
        "threads",
        **main,
        "competitor": f"Gymnasium Walker2d-v5 sync vector env ({n_policies} sub-envs) stepped "
        "the same number of env steps, batched numpy MLP (float32 matmul over policies)",
        "note": f"best of {repeats} on each side; mollify's rate includes its policy (JAX, "
        "compiled beforehand); the competitor's step count includes its autoreset steps",
    }
    if extra_tasks:  # best of 2: these two add a minute to the full bench as it is
        out["hopper"] = _locomotion_pair("hopper", n_policies, 1000, 2)
        out["half_cheetah_horizon_100"] = _locomotion_pair("half_cheetah", n_policies, 100, 2)
    return out


def _child_run(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of `python -m mollify ARGS` in a fresh process. The peak is
    that child's own (`os.wait4`): `getrusage(RUSAGE_CHILDREN)` is the largest of every child
    waited for so far, so an earlier, bigger one would be reported instead."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mollify", *args], stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"mollify {' '.join(args)} failed: {err.read().strip()[-300:]}")
    return seconds, usage.ru_maxrss * 1024  # KiB on Linux


def memory_and_end_to_end(quick: bool, smoke: bool = False) -> dict:
    import tempfile

    grid = 12 if smoke else 51 if quick else 201  # smoke: the grid landscape_workload compiled
    with tempfile.TemporaryDirectory() as tmp:
        land_s, rss = _child_run(
            ["landscape", "--task", "pendulum", "--grid", str(grid), "--samples", "32",
             "--sigmas", "0,0.1,0.3,1", "--out", f"{tmp}/land"]
        )  # fmt: skip
        if smoke:  # tests/test_reproduce.py runs `reproduce --quick` end to end instead
            e2e_s = None
        else:
            e2e_s, _ = _child_run(["reproduce", "--quick", "--out", f"{tmp}/study"])
    return {
        "landscape_work": f"{grid} x {grid} pendulum landscape, 32 noise samples, 4 sigmas",
        "landscape_seconds": land_s,
        "landscape_peak_rss_bytes": rss,
        "landscape_peak_rss_goal_bytes": 2 * 1024**3,
        "reproduce_quick_seconds": e2e_s,
        "reproduce_quick_goal_seconds": 180,
    }


def run_bench(quick: bool = False, smoke: bool = False) -> dict:
    """Every comparison at the full sizes, `quick` ones (about ten minutes with the bench extra),
    or `smoke` ones: the smallest work that still produces every field (for the test suite; its
    numbers mean nothing, and `reproduce --quick` is not run)."""
    from mollify.study.bench_training import hopper_training, ppo_training, time_to_return

    quick = quick or smoke
    n = 64 if smoke else 1024 if quick else 4096
    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "usable_cpus": usable_cpus(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "processor": platform.processor() or platform.machine(),
            "jax_devices": [str(d) for d in jax.devices()],
            "python": platform.python_version(),
        },
        "quick": quick,
        "smoke": smoke,
        "landscape_evaluation": landscape_evaluation(n),
        "landscape_workload": landscape_workload(*((12, 64) if smoke else (51 if quick else 101,))),
        "hopper": hopper_rollouts(*((32, 20) if smoke else (256, 100) if quick else (1024, 200))),
        "locomotion": locomotion_evaluation(
            *((8, False, 1, 50) if smoke else (64, False, 2) if quick else (256, True, 3))
        ),
        "hopper_training": hopper_training(
            *((16_384, 2) if smoke else (65_536,) if quick else (2_000_000,))
        ),
        "training": ppo_training(
            *((8_192, 1, False) if smoke else (100_000, 3) if quick else (1_000_000, 3))
        ),
        "time_to_return": time_to_return(*((1, 8_192) if smoke else (3, 300_000))),
        "memory_and_end_to_end": memory_and_end_to_end(quick, smoke),
    }
