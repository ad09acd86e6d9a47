"""Policy landscapes: J along a random 1-D or 2-D slice through θ0, raw and mollified.

A slice is θ(α, β) = θ0 + α d1 + β d2 with random directions rescaled per parameter group to the
norm of that group of θ0 (Li et al. 2018's filter normalisation at layer granularity), so α = 1
moves every layer by its own size and slices of different networks are comparable.

For each σ the landscape is mollified one of two ways, always with common random numbers (the same
initial states and noise draws at every grid point, so the picture is not Monte-Carlo noise):
- `action`: J_σ, the return of the stochastic policy μ_θ(s) + σε (σ relative to the action
  half-range), estimated from `samples` episodes;
- `param`: J̃_σ(α, β) = E_ε J(θ(α + σε₁, β + σε₂)), ES-style smoothing in the slice's own
  coordinates (σ in units of α), so it is an exact convolution of the plotted landscape; each
  perturbed θ is scored on the same `episodes` initial states, and `samples` draws of ε are shared
  by every grid point.

The result is one xarray Dataset (dims sigma, alpha[, beta]); `landscape_analysis` reads it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from mollify.core import noise as noise_lib
from mollify.core.policies import Policy
from mollify.core.slices import evaluate_slice
from mollify.tasks import Task
from mollify.util import io

MODES = ("action", "param")
NORMALIZATIONS = ("layer", "filter")
# Rollouts per evaluate() call; blocks are padded to this so nothing recompiles mid-landscape.
_ROLLOUTS_PER_BLOCK = 16384


@dataclass(frozen=True)
class LandscapeConfig:
    dims: int = 2
    grid: int = 101
    extent: float = 1.0
    sigmas: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0)
    mode: str = "action"
    kernel: str = "gaussian"
    samples: int = 32
    episodes: int = 8  # param mode only: initial states scoring each perturbed θ
    seed: int = 0
    normalization: str = "layer"
    start: str = "fixed"  # "fixed": every episode from one state, so σ = 0 is the raw J

    def __post_init__(self):
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))

    def validate(self) -> LandscapeConfig:
        """Raise ValueError (checks.InputError) naming the first bad field and its value."""
        from mollify.util import checks
        from mollify.util.checks import did_you_mean

        if self.dims not in (1, 2):
            raise checks.InputError(f"dims: must be 1 or 2, got {self.dims}")
        checks.count("grid", self.grid, minimum=3)
        if not (math.isfinite(self.extent) and self.extent > 0):
            raise checks.InputError(f"extent: must be finite and > 0, got {self.extent:g}")
        checks.sigma_grid("sigmas", self.sigmas, allow_zero=True)
        if self.mode not in MODES:
            raise checks.InputError(
                f"mode: unknown mode {self.mode!r}{did_you_mean(self.mode, MODES)}; "
                f"choose from {', '.join(MODES)}"
            )
        noise_lib.check_kernel(self.kernel)
        checks.count("samples", self.samples)
        checks.count("episodes", self.episodes)
        from mollify.tasks import check_start

        check_start(self.start)
        if self.normalization not in NORMALIZATIONS:
            raise checks.InputError(
                f"normalization: unknown normalization {self.normalization!r}"
                f"{did_you_mean(self.normalization, NORMALIZATIONS)}; "
                f"choose from {', '.join(NORMALIZATIONS)}"
            )
        checks.fits_in_memory(
            "grid",
            self.grid,
            memory_estimate(self),
            f"{self.grid}^{self.dims} points × {len(self.sigmas)} σ × 6 float64 result arrays",
        )
        return self

    @property
    def axis(self) -> np.ndarray:
        return np.linspace(-self.extent, self.extent, self.grid)


def memory_estimate(config: LandscapeConfig, n_params: int = 0) -> int:
    """Bytes of the arrays a landscape keeps whole: J, its standard error, the undiscounted J, the
    two half-sample J and the diverged fraction (float64, one per σ and grid point), the grid
    coordinates and the directions. Rollouts run in blocks of bounded size, so they add a
    constant, not a multiple of the grid."""
    points = config.grid**config.dims
    return 8 * (points * (6 * len(config.sigmas) + 2 * config.dims) + config.dims * n_params)


def random_directions(
    policy: Policy, theta0, n: int, seed: int, normalization: str = "layer"
) -> np.ndarray:
    """`n` Gaussian directions (n, P), each rescaled group by group to the norm of θ0's group.

    `layer`: one group per weight matrix and one per bias vector; `filter`: one group per output
    neuron's incoming weights (Li et al.'s filters), biases as in `layer`. A group whose θ0 part is
    zero (biases at initialisation) gets a zero direction, as Li et al. do for biases.
    """
    theta0 = np.asarray(theta0, np.float64)
    raw = np.asarray(
        jax.random.normal(jax.random.PRNGKey(seed), (n, theta0.size)), dtype=np.float64
    )
    groups = _direction_groups(policy, normalization)
    out = np.zeros_like(raw)
    for g in np.unique(groups):
        idx = groups == g
        target = np.linalg.norm(theta0[idx])
        norms = np.linalg.norm(raw[:, idx], axis=1, keepdims=True)
        out[:, idx] = raw[:, idx] * (target / np.maximum(norms, 1e-30))
    return out


def _direction_groups(policy: Policy, normalization: str) -> np.ndarray:
    if normalization == "layer":
        return policy.layer_index()
    groups, next_id = [], 0
    for (n_in, n_out), _ in policy.layer_shapes:
        # θ stores W (in, out) row-major: entry (i, j) belongs to output neuron (filter) j.
        groups.append(next_id + np.tile(np.arange(n_out), n_in))
        next_id += n_out
        groups.append(np.full(n_out, next_id))
        next_id += 1
    return np.concatenate(groups)


def grid_coordinates(config: LandscapeConfig) -> np.ndarray:
    """(M, dims) slice coordinates in C order (alpha slowest)."""
    axis = config.axis
    if config.dims == 1:
        return axis[:, None]
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1)


def compute_landscape(
    task: Task,
    policy: Policy,
    theta0,
    config: LandscapeConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    extra_attrs: dict | None = None,
) -> xr.Dataset:
    """J (discounted, as in SPEC §1) on the slice grid for every σ, with its standard error.

    `progress(done, total)` is called after each block of grid points (the CLI draws a bar).
    """
    config.validate()
    theta0 = np.asarray(theta0, np.float64)
    directions = random_directions(policy, theta0, config.dims, config.seed, config.normalization)
    coords = grid_coordinates(config)
    eps = _slice_noise(config)
    n_points = coords.shape[0]
    per_point = 1 if config.mode == "action" else config.samples
    rollouts_per_point = per_point * (
        config.samples if config.mode == "action" else config.episodes
    )
    block = max(1, _ROLLOUTS_PER_BLOCK // rollouts_per_point)
    block = min(block, n_points)
    shape = (len(config.sigmas), n_points)
    mean, stderr, undiscounted = np.empty(shape), np.empty(shape), np.empty(shape)
    diverged = np.empty(shape)
    halves = np.empty((2, *shape))
    total, done = len(config.sigmas) * n_points, 0
    for i, sigma in enumerate(config.sigmas):
        for start in range(0, n_points, block):
            part = coords[start : start + block]
            m = part.shape[0]
            if m < block:  # pad so every call has the same shape (no recompilation)
                part = np.concatenate([part, np.repeat(part[-1:], block - m, axis=0)])
            per_sample, ju, div = _score_block(
                task, policy, theta0, directions, part, sigma, eps, config
            )
            j, se = _mean_se(per_sample)
            mean[i, start : start + m] = j[:m]
            stderr[i, start : start + m] = se[:m]
            undiscounted[i, start : start + m] = ju[:m]
            diverged[i, start : start + m] = div[:m]
            halves[:, i, start : start + m] = _half_means(per_sample)[:, :m]
            done += m
            if progress is not None:
                progress(done, total)
    return _to_dataset(
        task, policy, theta0, directions, config, mean, stderr, undiscounted, halves, diverged,
        extra_attrs,
    )  # fmt: skip


def run(
    task: Task,
    policy: Policy,
    theta0,
    config: LandscapeConfig,
    out: Path,
    *,
    policy_source: str = "init",
    command: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[xr.Dataset, dict]:
    """What `mollify landscape` does: compute the landscape, then write landscape.nc and .png,
    with a σ = 0 row and another σ also spectra.nc and .png, and summary.json into `out`.
    Returns the dataset and the summary."""
    from mollify.instruments import figures
    from mollify.instruments.landscape_analysis import grid_roughness, spectra
    from mollify.util.io import atomic_write_json

    start = time.perf_counter()
    ds = compute_landscape(
        task,
        policy,
        theta0,
        config,
        progress=progress,
        extra_attrs={"policy_source": policy_source},
    )
    seconds = time.perf_counter() - start
    rough = grid_roughness(ds)
    holder = {s: (None if math.isnan(g.alpha) else g.alpha) for s, g in rough.items()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_dataset(ds, out / "landscape.nc")
    figures.landscape(ds, out / "landscape.png", holder)
    summary = {
        "task": task.name,
        "command": command,
        "mode": config.mode,
        "start": config.start,
        "seconds": seconds,
        "grid_holder_alpha": holder,
        "grid_holder_note": {s: g.note for s, g in rough.items() if g.note},
        # Rollouts whose state diverged (charged the task's failure reward per step left).
        "diverged_rollouts": int(ds.attrs["diverged_rollouts"]),
        "diverged_fraction": float(ds["diverged_fraction"].mean()),
        "failure_reward": task.failure_reward,
        "files": ["landscape.nc", "landscape.png"],
    }
    if 0.0 in config.sigmas and len(config.sigmas) > 1:
        spec = spectra(ds)
        save_dataset(spec, out / "spectra.nc")
        figures.spectra(spec, out / "spectra.png")
        slopes = zip(spec["sigma"].values, spec["slope"].values, spec["note"].values, strict=True)
        summary["spectral_slope"] = {
            float(s): (None if math.isnan(v) else float(v)) for s, v, _ in slopes
        }
        summary["spectral_note"] = {
            float(s): str(n)
            for s, n in zip(spec["sigma"].values, spec["note"].values, strict=True)
            if n
        }
        summary["files"] += ["spectra.nc", "spectra.png"]
    atomic_write_json(out / "summary.json", summary)
    return ds, summary


def _diverged_rollouts(config: LandscapeConfig, fraction: np.ndarray) -> int:
    """How many rollouts diverged in all, from the (σ, point) fractions: a point's J averages
    `samples` episodes (action mode), `episodes` (param mode, σ = 0) or samples × episodes."""
    total = 0.0
    for row, sigma in zip(fraction, config.sigmas, strict=True):
        if config.mode == "action":
            per_point = config.samples
        else:
            per_point = config.episodes * (1 if sigma == 0.0 else config.samples)
        total += float(row.sum()) * per_point
    return round(total)


def _slice_noise(config: LandscapeConfig) -> np.ndarray:
    """Param mode's ε draws (samples, dims), shared by every grid point and every σ."""
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    return np.asarray(
        noise_lib.sample(key, config.kernel, (config.samples, config.dims)), np.float64
    )


def _score_block(task, policy, theta0, directions, coords, sigma, eps, config):
    """(discounted J per sample (rows, samples), mean undiscounted J, fraction of rollouts that
    diverged) for each coordinate row; a sample is an episode (action mode, or σ = 0) or a draw
    of ε (param mode)."""
    if config.mode == "action" or sigma == 0.0:
        episodes = config.samples if config.mode == "action" else config.episodes
        res = evaluate_slice(
            task,
            policy,
            theta0,
            directions,
            coords,
            sigma=sigma if config.mode == "action" else 0.0,
            kernel=config.kernel,
            episodes=episodes,
            seed=config.seed,
            start=config.start,
        )
        return res.discounted, res.undiscounted.mean(axis=1), res.diverged.mean(axis=1)
    shifted = coords[:, None, :] + sigma * eps[None, :, :]  # (m, samples, dims)
    m, k = shifted.shape[:2]
    res = evaluate_slice(
        task,
        policy,
        theta0,
        directions,
        shifted.reshape(m * k, -1),
        sigma=0.0,
        kernel=config.kernel,
        episodes=config.episodes,
        seed=config.seed,
        start=config.start,
    )
    per_draw = res.discounted.mean(axis=1).reshape(m, k)
    diverged = res.diverged.reshape(m, -1).mean(axis=1)
    return per_draw, res.undiscounted.mean(axis=1).reshape(m, k).mean(axis=1), diverged


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[1]
    se = x.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.full(x.shape[0], np.nan)
    return x.mean(axis=1), se


def _half_means(x: np.ndarray) -> np.ndarray:
    """(2, rows): means of two disjoint halves of the samples; NaN with fewer than 2 samples.
    The halves' noises are independent, so products of their increments carry no noise bias."""
    h = x.shape[1] // 2
    if h == 0:
        return np.full((2, x.shape[0]), np.nan)
    return np.stack([x[:, :h].mean(axis=1), x[:, h : 2 * h].mean(axis=1)])


def _json(obj) -> str:
    return io.dumps(obj)


def _to_dataset(
    task, policy, theta0, directions, config, mean, stderr, undiscounted, halves, diverged, extra
):
    axis = config.axis
    dims = ("sigma", "alpha") if config.dims == 1 else ("sigma", "alpha", "beta")
    shape = (len(config.sigmas),) + (config.grid,) * config.dims
    coords = {"sigma": np.asarray(config.sigmas), "alpha": axis}
    if config.dims == 2:
        coords["beta"] = axis
    sigma_units = (
        "relative to the action half-range" if config.mode == "action" else "slice units (alpha)"
    )
    ds = xr.Dataset(
        {
            "J": (dims, mean.reshape(shape), {"long_name": "mean discounted return"}),
            "J_stderr": (dims, stderr.reshape(shape), {"long_name": "standard error of J"}),
            "J_undiscounted": (dims, undiscounted.reshape(shape)),
            "J_halves": (
                ("half", *dims),
                halves.reshape((2, *shape)),
                {"long_name": "J from each of two disjoint halves of the samples"},
            ),
            "diverged_fraction": (
                dims,
                diverged.reshape(shape),
                {"long_name": "fraction of the point's rollouts whose state diverged"},
            ),
            "theta0": (("param",), theta0),
            "directions": (("direction", "param"), directions),
        },
        coords=coords,
        attrs={
            "title": f"mollify landscape: {task.name}, {config.mode}-space mollification",
            "config": _json(asdict(config)),
            "task": _json(task.describe()),
            "policy": _json(policy.to_dict()),
            "seed": config.seed,
            "mode": config.mode,
            "kernel": config.kernel,
            "sigma_units": sigma_units,
            # per step left of a diverged rollout; NaN: the episode's lowest reward, capped at 0
            "failure_reward": np.nan if task.failure_reward is None else task.failure_reward,
            "diverged_rollouts": _diverged_rollouts(config, diverged),
            **(extra or {}),
        },
    )
    ds["sigma"].attrs["units"] = sigma_units
    return ds


def save_dataset(ds: xr.Dataset, path):
    """netCDF, written to a temp file and renamed (never half-written); returns the path."""
    from mollify.util.io import atomic_write

    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4"))


def load_config(ds: xr.Dataset) -> LandscapeConfig:
    cfg = json.loads(ds.attrs["config"])
    cfg.setdefault("start", "random")  # written before starts could be fixed
    cfg["sigmas"] = tuple(cfg["sigmas"])
    return LandscapeConfig(**cfg)
