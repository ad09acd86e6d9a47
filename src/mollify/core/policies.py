"""Deterministic policy means μ_θ(s) over a flat parameter vector θ.

Instruments move θ along directions in R^P, so every policy is a function of one flat vector;
`layers(θ)` gives the per-layer view (for filter normalisation and for reading weights). The output
is mapped to the action box: `center + half_range * tanh(z)` (squashed, the default for MLPs) or
`center + half_range * z` (unsquashed, the default for linear policies; the task clips).
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


class PolicyError(ValueError):
    """Bad policy spec or policy file; the CLI turns it into a one-line message and exit code 2."""


@dataclass(frozen=True)
class Policy:
    obs_dim: int
    action_dim: int
    hidden: tuple[int, ...] = (64, 64)
    action_low: tuple[float, ...] = field(default=())
    action_high: tuple[float, ...] = field(default=())
    squash: bool = True

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "action_low", tuple(float(x) for x in self.action_low))
        object.__setattr__(self, "action_high", tuple(float(x) for x in self.action_high))
        if len(self.action_low) != self.action_dim or len(self.action_high) != self.action_dim:
            raise PolicyError("policy: action bounds must have one value per action dimension")
        if any(h <= 0 for h in self.hidden):
            raise PolicyError(f"hidden: layer sizes must be positive, got {self.hidden}")

    @property
    def kind(self) -> str:
        return "mlp" if self.hidden else "linear"

    @property
    def layer_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        sizes = [self.obs_dim, *self.hidden, self.action_dim]
        return [((a, b), (b,)) for a, b in itertools.pairwise(sizes)]

    @property
    def n_params(self) -> int:
        return sum(w[0] * w[1] + b[0] for w, b in self.layer_shapes)

    def layers(self, theta: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
        """Split a flat θ (P,) into [(W (in, out), b (out,)), ...]; static slices, so vmap-friendly."""
        out, offset = [], 0
        for (n_in, n_out), _ in self.layer_shapes:
            w = theta[offset : offset + n_in * n_out].reshape(n_in, n_out)
            offset += n_in * n_out
            b = theta[offset : offset + n_out]
            offset += n_out
            out.append((w, b))
        return out

    def layer_index(self) -> np.ndarray:
        """For each entry of θ, the index of the parameter group (one per W and one per b)."""
        groups = []
        for i, ((n_in, n_out), _) in enumerate(self.layer_shapes):
            groups += [2 * i] * (n_in * n_out) + [2 * i + 1] * n_out
        return np.asarray(groups)

    def apply(self, theta: jax.Array, obs: jax.Array) -> jax.Array:
        """μ_θ(obs) for one θ; obs may carry leading batch dimensions."""
        return self.apply_layers(self.layers(theta), obs)

    def apply_layers(self, layers: list[tuple[jax.Array, jax.Array]], obs: jax.Array) -> jax.Array:
        """μ from already-split layers: split θ once outside a time loop, not at every step
        (under vmap each split copies every policy's weights)."""
        x = obs
        for w, b in layers[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = layers[-1]
        return self._to_action_box(x @ w + b)

    def slice_basis(self, theta0, directions) -> list[tuple[jax.Array, jax.Array]]:
        """The layers of θ0 and of each direction, stacked: [(W (k+1, in, out), b (k+1, out))].

        On the slice θ0 + Σ c_j d_j every layer's weights are W0 + Σ c_j D_j, so `apply_slice`
        multiplies activations by the k + 1 shared matrices instead of by each point's own."""
        stacked = jnp.concatenate([jnp.asarray(theta0)[None], jnp.asarray(directions)])
        return jax.vmap(self.layers)(stacked.astype(jnp.float32))

    def apply_slice(self, basis, coef: jax.Array, obs: jax.Array) -> jax.Array:
        """μ at the slice point with coefficients `coef` = (1, c_1, …, c_k), for one obs (in,).

        Equal to `apply(θ0 + Σ c_j d_j, obs)` up to float32 rounding. Under `vmap` over points
        and episodes the products with the unbatched basis become one matrix–matrix product per
        layer for every rollout at once (a GEMM with (k + 1)·out columns), instead of one
        matrix–vector product per rollout with that rollout's own weights."""
        x = obs
        for i, (w, b) in enumerate(basis):
            z = coef @ (jnp.einsum("i,kio->ko", x, w) + b)
            x = jnp.tanh(z) if i < len(basis) - 1 else z
        return self._to_action_box(x)

    def _to_action_box(self, z: jax.Array) -> jax.Array:
        low = jnp.asarray(self.action_low, z.dtype)
        high = jnp.asarray(self.action_high, z.dtype)
        center, half = (high + low) / 2, (high - low) / 2
        return center + half * (jnp.tanh(z) if self.squash else z)

    def init(self, key: jax.Array) -> jax.Array:
        """Orthogonal weights (gain √2 hidden, 1 output), zero biases, as one flat vector.

        Jitted (per policy shape): eagerly, `jax.vmap(policy.init)(keys)` compiles each of the
        QR-based init's primitives and loops on its own, per batch size; jitted it is one program
        per batch size (1.2–1.9 s to compile, same numbers), which the persistent compilation
        cache can keep and share between processes."""
        return _jitted_init(self, key)

    def _init(self, key: jax.Array) -> jax.Array:
        parts = []
        n_layers = len(self.layer_shapes)
        keys = jax.random.split(key, n_layers)
        for i, ((n_in, n_out), _) in enumerate(self.layer_shapes):
            gain = 1.0 if i == n_layers - 1 else float(np.sqrt(2.0))
            w = orthogonal_matrix(keys[i], n_in, n_out, gain)
            parts += [w.ravel(), jnp.zeros(n_out, jnp.float32)]
        return jnp.concatenate(parts)

    def to_dict(self) -> dict:
        return asdict(self)


_jitted_init = jax.jit(Policy._init, static_argnums=0)


def orthogonal_matrix(key: jax.Array, n_in: int, n_out: int, gain: float) -> jax.Array:
    """`jax.nn.initializers.orthogonal(gain)` of shape (n_in, n_out), one LAPACK QR at a time.

    Why not plain vmap: jaxlib's CPU QR splits a batch of matrices over XLA's intra-op thread pool
    and waits for the pieces on a thread of that same pool. Two such QRs running at once (the
    layers of a vmapped init are independent) occupy both threads of a 2-core machine and wait
    forever at 0 % CPU (native stacks: two `tf_XLAEigen` threads in `OrthogonalQr` ->
    `ParallelBatchMap` -> `BlockingCounter::Wait`). A single matrix is factorised inline, so under
    vmap we loop over the batch instead; the numbers are those of the unbatched call.
    """

    @jax.custom_batching.custom_vmap
    def draw(k):
        return jax.nn.initializers.orthogonal(gain)(k, (n_in, n_out), jnp.float32)

    @draw.def_vmap
    def _one_at_a_time(axis_size, in_batched, k):
        if not in_batched[0]:
            return draw(k), False
        return jax.lax.map(draw, k), True

    return draw(key)


def make_policy(task, kind: str = "mlp", hidden: tuple[int, ...] = (64, 64), squash=None) -> Policy:
    """The policy family for `task`: "mlp" (tanh hidden layers) or "linear" (no hidden layer)."""
    if kind not in ("mlp", "linear"):
        raise PolicyError(f"policy kind: unknown {kind!r}; choose 'mlp' or 'linear'")
    hidden = tuple(hidden) if kind == "mlp" else ()
    return Policy(
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        hidden=hidden,
        action_low=tuple(np.asarray(task.action_low).tolist()),
        action_high=tuple(np.asarray(task.action_high).tolist()),
        squash=(kind == "mlp") if squash is None else bool(squash),
    )


def save_policy(path: str | os.PathLike, policy: Policy, theta, task_name: str = "") -> Path:
    """Write θ and the policy spec to one .npz, atomically (temp file, then rename)."""
    path = Path(path)
    theta = np.asarray(theta, dtype=np.float32)
    if theta.shape != (policy.n_params,):
        raise PolicyError(f"theta: expected shape ({policy.n_params},), got {theta.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"policy": policy.to_dict(), "task": task_name})
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, theta=theta, meta=np.asarray(meta))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_policy(path: str | os.PathLike, task=None) -> tuple[Policy, np.ndarray]:
    """Read a policy file; if `task` is given, check that its shape fits the task."""
    path = Path(path)
    if path.is_dir():
        raise PolicyError(f"policy: {str(path)!r} is a directory, not a policy file")
    if not path.is_file():
        raise PolicyError(f"policy: file not found: {str(path)!r}")
    try:
        if not zipfile.is_zipfile(path):  # random bytes, a truncated archive, another format
            raise ValueError("not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files") or not {"theta", "meta"} <= set(data.files):
                raise ValueError("not an .npz archive holding 'theta' and 'meta'")
            theta = np.asarray(data["theta"], dtype=np.float32)
            meta = json.loads(str(data["meta"]))
        spec = meta["policy"]
        policy = Policy(**{**spec, "hidden": tuple(spec["hidden"])})
    except Exception as exc:  # any failure to parse means a corrupt or foreign file
        detail = " ".join(str(exc).split())
        raise PolicyError(
            f"policy: cannot read {str(path)!r} as a mollify policy file (corrupt or truncated?): "
            f"{detail}"
        ) from None
    if theta.shape != (policy.n_params,):
        raise PolicyError(
            f"policy: {str(path)!r} holds {theta.shape} parameters, its own spec needs "
            f"({policy.n_params},)"
        )
    if not np.all(np.isfinite(theta)):
        raise PolicyError(f"policy: {str(path)!r} holds non-finite parameters")
    if task is not None and (policy.obs_dim, policy.action_dim) != (task.obs_dim, task.action_dim):
        raise PolicyError(
            f"policy: {str(path)!r} has obs/action dims ({policy.obs_dim}, {policy.action_dim}), "
            f"task {task.name!r} needs ({task.obs_dim}, {task.action_dim})"
        )
    return policy, theta


def policy_from_spec(task, spec: str, seed: int = 0) -> tuple[Policy, np.ndarray]:
    """The policy a command's `--policy` names: "init" is the task's default MLP initialised from
    `seed`; anything else is a policy file checked against `task`."""
    if spec == "init":
        policy = make_policy(task)
        return policy, np.asarray(policy.init(jax.random.PRNGKey(seed)))
    return load_policy(spec, task)
