"""Evaluation on an affine slice θ0 + Σ c_j d_j: the points' returns from shared layer products.

A landscape evaluates many points of one slice. There every layer's weights are W0 + Σ c_j D_j, so
the products of all points' activations with the k + 1 shared matrices can be one GEMM per layer,
combined per point after; see `evaluate_slice` for when that is faster than evaluating each point
with its own weights (`evaluation.evaluate`). The roughness probes' radial points θ + δ d would
need one basis per direction, and at σ > 0 each has 256 episodes, where the plain path is faster:
they stay on `evaluate`.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from mollify.core.evaluation import (
    EvalResult,
    _block_shape,
    _checked,
    _identical_episodes,
    _result,
    _run_blocks,
    _tiled,
    check_memory,
    episode_keys,
    evaluate,
    make_episode_fn,
    sharded_block_fn,
)
from mollify.core.policies import Policy
from mollify.tasks import JaxTask, Task

# Rollouts per vmapped step on a slice: they share the layer products, so bigger is better
# (one GEMM of this many rows per layer).
_SLICE_ROWS = 2048
_SLICE_MAX_EPISODES = 2  # the auto choice, measured (see `evaluate_slice`)


def evaluate_slice(
    task: Task,
    policy: Policy,
    theta0,
    directions,
    coords,
    *,
    sigma=0.0,
    kernel: str = "gaussian",
    episodes: int = 8,
    seed: int = 0,
    start: str = "random",
    method: str = "auto",
) -> EvalResult:
    """`evaluate` of the points θ0 + coords @ directions ((M, k) coords, (k, P) directions) of
    one affine slice: the same returns up to float32 rounding.

    On a slice every layer's weights are W0 + Σ c_j D_j, so `method="slice"` multiplies all
    points' rollouts by the k + 1 shared matrices in one dense product per layer and combines
    them per point: (k + 1)× the multiply-adds of `method="points"` (each rollout by its own
    weights), but as one large GEMM. Measured on 2 cores, pendulum, 2-D slice: with one episode
    per point (σ = 0 from a fixed start) the slice path is 1.7× faster for a 64 × 64 MLP and 8×
    for 256 × 256; at two episodes the two tie, and from four on the points' own episodes already
    share their weights in a small GEMM and `points` wins (2× at 32). `auto` takes the slice path
    for at most two episodes on the pure-JAX tasks; the native backends (MuJoCo, Gymnasium) are
    physics-bound and always evaluate the points.
    """
    theta0 = np.asarray(theta0, np.float64)
    directions = np.atleast_2d(np.asarray(directions, np.float64))
    coords = np.asarray(coords, np.float64)
    if theta0.shape != (policy.n_params,):
        raise ValueError(f"theta0: expected shape ({policy.n_params},), got {theta0.shape}")
    if directions.shape[1] != policy.n_params:
        raise ValueError(
            f"directions: expected shape (k, {policy.n_params}), got {directions.shape}"
        )
    if coords.ndim != 2 or coords.shape[1] != directions.shape[0] or coords.shape[0] == 0:
        raise ValueError(
            f"coords: expected shape (M ≥ 1, {directions.shape[0]}), got {coords.shape}"
        )
    if method not in ("auto", "slice", "points"):
        raise ValueError(f"method: must be 'auto', 'slice' or 'points', got {method!r}")
    if _identical_episodes(start, sigma, episodes):
        one = evaluate_slice(task, policy, theta0, directions, coords, sigma=sigma, kernel=kernel,
                             episodes=1, seed=seed, start=start, method=method)  # fmt: skip
        return _tiled(one, episodes)
    if method == "auto":
        method = "slice" if episodes <= _SLICE_MAX_EPISODES else "points"
    if not isinstance(task, JaxTask) or method == "points":
        thetas = theta0 + coords @ directions
        return evaluate(
            task, policy, thetas, sigma=sigma, kernel=kernel, episodes=episodes, seed=seed,
            start=start,
        )  # fmt: skip
    task, sigma_abs = _checked(task, sigma, kernel, episodes, start)
    check_memory(task, coords.shape[0], int(episodes))
    began = time.perf_counter()
    out = _evaluate_slice_jax(
        task, policy, theta0, directions, coords, sigma_abs, kernel, episodes, seed
    )
    return _result(*out, began)


@functools.lru_cache(maxsize=16)
def _jax_slice_block_fn(task: JaxTask, policy: Policy, kernel: str, chunk: int, n_chunks: int):
    """Compiled evaluator of one block of n_dev × n_chunks × chunk slice points: the points'
    coefficients are sharded, the slice's basis (θ0's and the directions' layers) is shared."""

    def episode_of(coef, key, sigma_abs, basis):
        episode = make_episode_fn(task, policy, kernel, slice_basis=basis, report_diverged=True)
        return episode(coef, key, sigma_abs)

    return sharded_block_fn(episode_of, chunk, n_chunks, shared=1)


def _evaluate_slice_jax(
    task, policy, theta0, directions, coords, sigma_abs, kernel, episodes, seed
):
    n = coords.shape[0]
    chunk, n_chunks = _block_shape(n, episodes, _SLICE_ROWS)
    fn = _jax_slice_block_fn(task, policy, kernel, chunk, n_chunks)
    basis = policy.slice_basis(theta0, directions)
    coefs = np.concatenate([np.ones((n, 1), np.float32), coords.astype(np.float32)], axis=1)
    keys = episode_keys(seed, episodes)
    sigma = jnp.asarray(sigma_abs, jnp.float32)
    block = jax.device_count() * n_chunks * chunk
    dret, ret, steps, diverged = _run_blocks(fn, coefs, block, basis, keys, sigma)
    return dret, ret, steps, diverged, n * episodes * task.horizon
