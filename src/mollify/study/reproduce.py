"""`mollify reproduce`: the whole study, then the report.

Each step is an ordinary `mollify` command run in-process, so the report's table can say, for every
number, the exact command that regenerates it. The default study fits in 30 minutes on 2 cores,
`--quick` in 3 (budgets below; the README states them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

SIGMA_GRID = "0.01,0.03,0.1,0.3,1,3"

STUDIES = {
    "full": {
        "landscape": ["--grid", "101", "--samples", "32", "--sigmas", "0,0.1,0.3,1"],
        "roughness": ["--directions", "64", "--episodes", "32", "--sigmas", "0,0.1,0.3,1"],
        "theory_tasks": ["pendulum", "double_pendulum"],
        "sweep_tasks": "hopper_stand,double_pendulum,planar_quadrotor,pendulum",
        "sweep_sigmas": SIGMA_GRID,
        "seeds": "3",
        "steps": {
            "pendulum": 300_000,
            "double_pendulum": 400_000,
            "planar_quadrotor": 300_000,
            "hopper_stand": 50_000,
        },
        "kernel_sigmas": "0.03,0.1,0.3",
        "kernel_steps": "300000",
        "uncertainty": ["--directions", "16", "--samples", "32", "--episodes", "16"],
    },
    "quick": {
        "landscape": ["--grid", "21", "--samples", "8", "--sigmas", "0,0.1,0.3,1"],
        "roughness": ["--directions", "8", "--episodes", "4", "--sigmas", "0,0.3"],
        "theory_tasks": ["pendulum"],
        "sweep_tasks": "pendulum",
        "sweep_sigmas": "0.03,0.3,3",
        "seeds": "2",
        "steps": {"pendulum": 40_000},
        "kernel_sigmas": "0.03,0.3",
        "kernel_steps": "40000",
        "uncertainty": [
            "--directions",
            "4",
            "--samples",
            "4",
            "--episodes",
            "4",
            "--param-sigmas",
            "0.1,1",
            "--action-sigmas",
            "0.3,3",
        ],
    },
}


def run_study(out: Path, quick: bool, say: Callable[[str], None], *, resume: bool = False) -> Path:
    """Run every step into `out`; returns report.html. The caller has checked `out` (see
    `io.prepare_output_dir`). With `resume` the sweeps keep the seeds they finished; without it
    every step recomputes (each step is passed --resume or --force, as its own output directory
    may already hold an earlier run's files)."""
    from mollify import cli
    from mollify.study import report

    study = STUDIES["quick" if quick else "full"]
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    existing = "--resume" if resume else "--force"

    def step(title: str, args: list[str]) -> None:
        say(f"[{time.perf_counter() - start:6.0f} s] {title}: mollify {' '.join(args)}")
        cli.COMMAND_LINE = "mollify " + " ".join(args)
        try:
            code = cli.app([*args, existing], standalone_mode=False)
        finally:
            cli.COMMAND_LINE = None
        if code:  # the step printed its one-line error; stop with its exit code
            raise cli.typer.Exit(code=code)

    step("Figure 6 analogue", ["landscape", "--task", "pendulum", "--dims", "2",
                               *study["landscape"], "--out", str(out / "landscape")])  # fmt: skip
    step("roughness", ["roughness", "--task", "pendulum", *study["roughness"],
                       "--out", str(out / "roughness")])  # fmt: skip
    for task in study["theory_tasks"]:
        where = str(out / "theory" / task)
        step(f"heat equation ({task})", ["theory", "heat", "--task", task, "--out", where])
        step(f"backward heat ({task})", ["theory", "backward", "--task", task, "--out", where])
    sweep_dir = out / "sigma_sweep"
    toml = sweep_dir / "sweep.toml"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    steps = "\n".join(f"{k} = {v}" for k, v in study["steps"].items())
    tasks = ", ".join(f'"{t}"' for t in study["sweep_tasks"].split(","))
    sigmas = study["sweep_sigmas"].replace(",", ", ")
    toml.write_text(
        f'[sweep]\ntasks = [{tasks}]\nalgos = ["ppo"]\nsigmas = [{sigmas}]\n'
        f'seeds = {study["seeds"]}\nkernels = ["gaussian"]\nsigma_modes = ["fixed"]\n\n'
        f"[sweep.steps]\n{steps}\n"
    )
    step(
        "variance sweep, PPO at fixed σ", ["sweep", "--config", str(toml), "--out", str(sweep_dir)]
    )
    best = _best_policy(sweep_dir, "pendulum")
    if best is not None:
        step("uncertainty principle (pendulum, best PPO policy)",
             ["theory", "uncertainty", "--task", "pendulum", "--policy", str(best),
              *study["uncertainty"], "--out", str(out / "theory" / "pendulum")])  # fmt: skip
    step("kernels: ES with gaussian, laplace, uniform",
         ["sweep", "--tasks", "pendulum", "--algos", "es", "--kernels", "gaussian,laplace,uniform",
          "--sigmas", study["kernel_sigmas"], "--seeds", study["seeds"],
          "--steps", study["kernel_steps"], "--out", str(out / "kernels")])  # fmt: skip
    say(f"[{time.perf_counter() - start:6.0f} s] report")
    html_path, _ = report.build(out)
    (out / "wall_time.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return html_path


def _best_policy(sweep_dir: Path, task: str) -> Path | None:
    """Seed 0's policy at the σ with the best mean final deterministic return."""
    import json

    stats = json.loads((sweep_dir / "stats.json").read_text())
    for entry in stats.values():
        if entry["task"] == task:
            sigma = entry["deterministic"]["best_sigma"]
            path = (
                sweep_dir / "runs" / task / entry["algo"] / entry["kernel"] / entry["sigma_mode"]
                / f"sigma={sigma:g}" / "seed=0" / "policy.npz"
            )  # fmt: skip
            return path if path.exists() else None
    return None
