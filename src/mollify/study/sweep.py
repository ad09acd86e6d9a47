"""Variance sweeps: tasks × σ grid × seeds × algorithm × kernel × σ-mode, each run in its own
directory, resumable, on the local machine or a Ray cluster.

A sweep is cut into *cells* (one task, algorithm, kernel, σ-mode and σ; all its seeds). A cell is
the unit of work for every engine: pure-JAX tasks compile one program per cell (shared by cells
that differ only in a fixed σ, which it takes as an argument) and run it seed by seed, the hopper
runs `run()` per seed, and the local and Ray engines call the same `run_cell`, so a seed's
numbers depend neither on the engine nor on which seeds share the cell. Each seed's
directory is written to a temp directory and renamed into place; a rerun skips seeds whose
directory exists and redoes the rest. For ES the sweep's σ is the parameter-space smoothing std
(`es_sigma`), its mollifier.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mollify.training.config import (
    ALGOS,
    LEARNED_MODES,
    SIGMA_MODES,
    ConfigError,
    default_config,
)
from mollify.util.host import usable_cpus
from mollify.util.io import dumps

SUMMARY_FIELDS = (
    "task",
    "algo",
    "kernel",
    "sigma_mode",
    "sigma",
    "seed",
    "final_deterministic",
    "final_stochastic",
    "auc_deterministic",
    "env_steps",
    "wall_time",
)


@dataclass(frozen=True)
class SweepSpec:
    tasks: tuple[str, ...] = ("pendulum",)
    algos: tuple[str, ...] = ("ppo",)
    sigmas: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    kernels: tuple[str, ...] = ("gaussian",)
    sigma_modes: tuple[str, ...] = ("fixed",)
    steps: dict = field(default_factory=dict)  # task -> env steps per run ("*" for all)
    options: dict = field(default_factory=dict)  # TrainConfig overrides for every run

    def validate(self) -> SweepSpec:
        from mollify import tasks as task_lib
        from mollify.core.noise import check_kernel
        from mollify.util import checks
        from mollify.util.checks import did_you_mean

        for name in ("tasks", "algos", "sigmas", "seeds", "kernels", "sigma_modes"):
            if not getattr(self, name):
                raise ConfigError(f"{name.replace('_', '-')}: need at least one value")
        for t in self.tasks:
            task_lib.make(t)  # unknown names raise TaskError naming the task
        for a in self.algos:
            if a not in ALGOS:
                raise ConfigError(
                    f"algos: unknown algorithm {a!r}{did_you_mean(a, ALGOS)}; "
                    f"choose from {', '.join(ALGOS)}"
                )
        try:
            for k in self.kernels:
                check_kernel(k)
            checks.sigma_grid("sigmas", self.sigmas, allow_zero=False)
        except ValueError as exc:  # one error type for a bad sweep
            raise ConfigError(str(exc)) from None
        for m in self.sigma_modes:
            if m not in SIGMA_MODES:
                raise ConfigError(
                    f"sigma-modes: unknown mode {m!r}{did_you_mean(m, SIGMA_MODES)}; "
                    f"choose from {', '.join(SIGMA_MODES)}"
                )
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"seeds: every seed must be an integer >= 0, got {seed!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: must be distinct, got {self.seeds}")
        for task, n in self.steps.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"steps: {task} must be an integer >= 1, got {n!r}")
        for cell in self.cells():  # every combination must make a valid training config
            cell.config()
        return self

    def steps_for(self, task: str) -> int | None:
        return self.steps.get(task, self.steps.get("*"))

    def cells(self) -> list[Cell]:
        out = []
        for task in self.tasks:
            for algo in self.algos:
                for kernel in self.kernels:
                    if algo != "es" and kernel == "uniform":
                        continue  # no score function: ES only (stated in the summary)
                    for mode in self.sigma_modes:
                        if (algo == "es" and mode in LEARNED_MODES) or (
                            mode == "rpo" and algo != "ppo"
                        ):
                            continue  # no log-std to learn (ES) / RPO is a PPO update
                        for sigma in self.sigmas:
                            out.append(Cell(self, task, algo, kernel, mode, float(sigma)))
        return out


@dataclass(frozen=True)
class Cell:
    spec: SweepSpec
    task: str
    algo: str
    kernel: str
    sigma_mode: str
    sigma: float

    @property
    def path(self) -> Path:
        return Path(self.task) / self.algo / self.kernel / self.sigma_mode / f"sigma={self.sigma:g}"

    def config(self, seed: int = 0):
        options = dict(self.spec.options) | {"kernel": self.kernel, "seed": seed}
        options |= {"sigma_mode": self.sigma_mode, "sigma": self.sigma}
        if self.algo == "es":
            options["es_sigma"] = self.sigma
        steps = self.spec.steps_for(self.task)
        if steps:
            options["total_steps"] = int(steps)
        return default_config(self.task, self.algo, **options).validate()

    def label(self) -> str:
        return f"{self.task} {self.algo} {self.kernel} {self.sigma_mode} σ={self.sigma:g}"


TOML_TABLES = ("sweep", "options")


def load_spec(path: str | Path) -> SweepSpec:
    """A sweep from TOML: a [sweep] table (tasks, algos, sigmas, seeds (list or count), kernels,
    sigma_modes, steps (number or per-task table)) and an optional [options] table."""
    import re

    from mollify.util.checks import did_you_mean

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {str(path)!r}") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: cannot read {str(path)!r}: {type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if where:
            msg = msg[: where.start()].strip()
            raise ConfigError(
                f"config: {path}: line {where[1]}, column {where[2]}: {msg} (not valid TOML)"
            ) from None
        raise ConfigError(f"config: {path}: not valid TOML: {msg}") from None
    for key in data:
        if key not in TOML_TABLES:
            raise ConfigError(
                f"{key}: unknown table in {path}{did_you_mean(key, TOML_TABLES)}; "
                f"known: {', '.join(TOML_TABLES)}"
            )
    for key in TOML_TABLES:
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{key}: must be a table ([{key}]) in {path}, got {data[key]!r}")
    sweep = dict(data.get("sweep", {}))
    known = {f.name for f in dataclasses.fields(SweepSpec)} - {"options"}
    for key in sweep:
        if key not in known:
            raise ConfigError(
                f"{key}: unknown sweep key in {path}{did_you_mean(key, known)}; "
                f"known: {', '.join(sorted(known))}"
            )
    return make_spec(**sweep, options=data.get("options", {}))


def make_spec(**kw) -> SweepSpec:
    """Normalise user values: seeds as a count or a list, steps as a number or a table."""
    seeds = kw.get("seeds", 3)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"seeds: must be >= 1 (a count) or a list, got {seeds}")
        kw["seeds"] = tuple(range(seeds))
    steps = kw.get("steps", {})
    if isinstance(steps, int | float) and not isinstance(steps, bool):
        if not (math.isfinite(steps) and steps >= 1):
            raise ConfigError(f"steps: must be >= 1, got {steps}")
        kw["steps"] = {"*": int(steps)}
    elif not isinstance(steps, dict):
        raise ConfigError(f"steps: expected a number or a per-task table, got {steps!r}")
    for name in ("tasks", "algos", "sigmas", "seeds", "kernels", "sigma_modes"):
        if name in kw:
            value = kw[name]
            kw[name] = tuple(value) if isinstance(value, list | tuple) else (value,)
    return SweepSpec(**kw)


def spec_from_options(
    config: str | Path | None = None,
    *,
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    sigmas: tuple[float, ...] | None = None,
    kernels: tuple[str, ...] | None = None,
    sigma_modes: tuple[str, ...] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
) -> SweepSpec:
    """What `mollify sweep` runs: the TOML file's sweep (or the default one) with every given
    option replacing its key (`seeds` a count 0..N-1, `steps` for every task); validated."""
    from mollify.util.checks import InputError

    spec = load_spec(config) if config is not None else make_spec()
    given = {"tasks": tasks, "algos": algos, "sigmas": sigmas}
    given |= {"kernels": kernels, "sigma_modes": sigma_modes}
    kw = {k: v for k, v in given.items() if v is not None}
    if seeds is not None:
        if seeds < 1:
            raise InputError(f"seeds: must be >= 1, got {seeds}")
        kw["seeds"] = tuple(range(seeds))
    if steps is not None:
        if steps < 1:
            raise InputError(f"steps: must be >= 1, got {steps}")
        kw["steps"] = {"*": steps}
    return dataclasses.replace(spec, **kw).validate()


# ---------------------------------------------------------------------------------------------
# One cell: train its seeds, write each seed's directory atomically
# ---------------------------------------------------------------------------------------------
TMP_PREFIX = ".tmp-"  # seed directories are written under this name, then renamed
RAY_RETRIES = 3  # a cell whose Ray worker died is rerun up to this many times


def seed_dir(out: Path, cell: Cell, seed: int) -> Path:
    return out / "runs" / cell.path / f"seed={seed}"


def run_cell(cell: Cell, out: str, seeds: list[int]) -> list[dict]:
    """Train `seeds` of one cell, writing each seed's directory as soon as that seed finishes;
    returns their summary rows. Engine-independent: the Ray engine calls exactly this."""
    from mollify.training.train import train_seeds, write_outputs

    out = Path(out)
    rows = []

    def save(res) -> None:
        final = seed_dir(out, cell, res.config.seed)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f"{TMP_PREFIX}{final.name}."))
        try:
            write_outputs(res, res.config.make_task(), tmp)
            row = summary_row(cell, res)
            (tmp / "row.json").write_text(dumps(row) + "\n")
            if final.exists():  # a retried Ray task redoing a seed: same seed, same numbers
                shutil.rmtree(final)
            os.rename(tmp, final)  # atomic: a seed directory is complete or absent
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        rows.append(row)

    train_seeds(cell.config(), seeds, on_result=save)
    return rows


def remove_leftovers(out: Path) -> list[Path]:
    """Temp directories of seeds that were being written when a sweep was killed (SIGKILL gives
    no chance to clean up). Only this sweep writes under `out`, so at its start they are garbage."""
    runs = out / "runs"
    found = sorted(runs.rglob(f"{TMP_PREFIX}*")) if runs.is_dir() else []
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return found


def summary_row(cell: Cell, res) -> dict:
    evals = [(m["env_steps"], m["eval_deterministic"]) for m in res.metrics]
    evals = [(s, d) for s, d in evals if math.isfinite(d)]
    steps, det = (np.asarray(x, np.float64) for x in zip(*evals, strict=True))
    # Area under the deterministic learning curve, normalised by the budget: the mean return over
    # training (trapezoid over env steps), rewarding fast learning as well as the final value.
    auc = float(np.trapezoid(det, steps) / (steps[-1] - steps[0])) if len(steps) > 1 else det[-1]
    final = res.final
    return {
        "task": cell.task,
        "algo": cell.algo,
        "kernel": cell.kernel,
        "sigma_mode": cell.sigma_mode,
        "sigma": cell.sigma,
        "seed": res.config.seed,
        "final_deterministic": final["eval_deterministic"],
        "final_stochastic": final["eval_stochastic"],
        "auc_deterministic": auc,
        "env_steps": res.env_steps,
        "wall_time": res.seconds,
    }


# ---------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------
def pending(spec: SweepSpec, out: Path, force: bool = False) -> list[tuple[Cell, list[int]]]:
    """Cells with the seeds whose directory is missing (a finished seed has row.json); with
    `force`, every seed."""
    work = []
    for cell in spec.cells():
        todo = [
            s for s in spec.seeds if force or not (seed_dir(out, cell, s) / "row.json").exists()
        ]
        if todo:
            work.append((cell, todo))
    return work


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    command: str | None = None,
    force: bool = False,
) -> Path:
    """Run what is not finished yet (with `force`, every seed again, replacing its directory),
    then write summary.csv and stats.json. Returns summary.csv."""
    spec.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_spec(spec, out, command)
    remove_leftovers(out)
    work = pending(spec, out, force)
    total = len(spec.cells())
    done = total - len(work)
    if progress is not None:
        progress(done, total, "")
    if engine == "local":
        for cell, seeds in work:
            run_cell(cell, str(out), seeds)
            done += 1
            if progress is not None:
                progress(done, total, cell.label())
    elif engine == "ray":
        _run_ray(work, out, ray_address, lambda label: progress and progress(done, total, label))
    else:
        raise ConfigError(f"engine: must be local or ray, got {engine!r}")
    remove_leftovers(out)  # a retried Ray worker may have died mid-write
    return write_summary(spec, out)


def _run_ray(work, out: Path, address: str | None, note) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "ray-address: Ray is not installed; pip install 'mollify[ray]' (or use the local engine)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(num_cpus=usable_cpus(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        # One CPU-hungry cell per worker; JAX inside each worker uses the worker's cores. A worker
        # that dies (killed, node lost) is retried: run_cell is idempotent (same seed, same numbers;
        # seed directories renamed into place), so a retry can only redo work, never corrupt it.
        remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(run_cell)
        refs = {remote.remote(cell, str(out.resolve()), seeds): cell for cell, seeds in work}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            cell = refs.pop(ready[0])
            ray.get(ready[0])
            note(cell.label())
    finally:
        if started_here:
            ray.shutdown()


def _write_spec(spec: SweepSpec, out: Path, command: str | None) -> None:
    from mollify.util.io import atomic_write_text

    data = dataclasses.asdict(spec) | {"command": command}
    atomic_write_text(out / "sweep.json", dumps(data, indent=2) + "\n")


def collect_rows(spec: SweepSpec, out: Path) -> list[dict]:
    rows = []
    for cell in spec.cells():
        for s in spec.seeds:
            path = seed_dir(out, cell, s) / "row.json"
            if path.exists():
                rows.append(json.loads(path.read_text()))
    return rows


def write_summary(spec: SweepSpec, out: Path) -> Path:
    from mollify.study import stats
    from mollify.util.io import atomic_write_csv, atomic_write_text

    rows = collect_rows(spec, out)
    path = atomic_write_csv(out / "summary.csv", SUMMARY_FIELDS, rows)
    atomic_write_text(out / "stats.json", dumps(stats.analyse(rows), indent=2) + "\n")
    return path


def read_summary(path: str | Path) -> list[dict]:
    with Path(path).open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for k in ("sigma", "final_deterministic", "final_stochastic", "auc_deterministic",
                  "wall_time"):  # fmt: skip
            row[k] = float(row[k])
        for k in ("seed", "env_steps"):
            row[k] = int(float(row[k]))
    return rows
