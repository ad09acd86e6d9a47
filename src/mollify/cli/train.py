"""`mollify train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mollify.cli.common import console, fail, input_errors


def train(
    out: Annotated[Path, typer.Option(help="Output directory (created).")],
    task: Annotated[str, typer.Option(help="Task name, or gym:ENV_ID (any Box action space).")] = (
        "pendulum"
    ),
    algo: Annotated[str, typer.Option(help="ppo, reinforce, es or npg.")] = "ppo",
    sigma: Annotated[float, typer.Option(help="σ (relative to the action half-range).")] = 0.3,
    sigma_mode: Annotated[
        str, typer.Option(help="fixed, learned, schedule, or rpo (learned + shifted mean).")
    ] = "fixed",
    sigma_final: Annotated[float | None, typer.Option(help="schedule: final σ.")] = None,
    rpo_alpha: Annotated[
        float | None, typer.Option(help="rpo: half-width of the mean's uniform shift.")
    ] = None,
    schedule: Annotated[str, typer.Option(help="schedule: linear or exponential.")] = (
        "exponential"
    ),
    kernel: Annotated[str, typer.Option(help="gaussian or laplace (ES also uniform).")] = (
        "gaussian"
    ),
    steps: Annotated[int | None, typer.Option(help="Env-step budget (default: per task).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of init, collection and updates.")] = 0,
    config: Annotated[Path | None, typer.Option(help="JSON file of TrainConfig fields.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT/checkpoint.npz (same config).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Start over in a non-empty OUT, overwriting.")
    ] = False,
) -> None:
    """Train at a controlled σ; writes config.json, metrics.csv, timing.csv, policy.npz,
    summary.json, learning_curve.png, and checkpoint.npz after every evaluation (for --resume)."""
    from mollify import training

    overrides = {"sigma": sigma, "sigma_mode": sigma_mode, "schedule": schedule}
    overrides |= {"kernel": kernel, "seed": seed}
    if sigma_final is not None:
        overrides["sigma_final"] = sigma_final
    if rpo_alpha is not None:
        overrides["rpo_alpha"] = rpo_alpha
    if steps is not None:
        overrides["total_steps"] = steps
    try:
        cfg = training.prepare(
            task, algo, config_file=config, overrides=overrides, out=out, resume=resume, force=force
        )
    except (*input_errors(), TypeError) as exc:
        fail(str(exc))
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TextColumn("det {task.fields[det]} sto {task.fields[sto]} σ {task.fields[sig]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task_id = bar.add_task(f"{algo} {task}", total=cfg.total_steps, det="…", sto="…", sig="…")

    def progress(row, n_updates):
        bar.update(
            task_id,
            completed=row["env_steps"],
            det=f"{row['eval_deterministic']:.1f}",
            sto=f"{row['eval_stochastic']:.1f}",
            sig=f"{row['sigma']:.3g}",
        )

    try:
        with bar:
            result = training.run(cfg, out, resume=resume, progress=progress)
    except training.CheckpointError as exc:  # a damaged or foreign checkpoint
        fail(str(exc))
    final = result.final
    if result.resumed_from:
        console.print(f"Resumed from the checkpoint after update {result.resumed_from:,}")
    console.print(
        f"[bold]{algo}[/] on {task}, σ {sigma_mode} {sigma:g}: {result.env_steps:,} env steps in "
        f"{result.seconds:.1f} s ({result.env_steps_per_second:,.0f} env-steps/s)"
    )
    console.print(
        f"  final evaluation ({cfg.eval_episodes} fixed-seed episodes): deterministic "
        f"{final.get('eval_deterministic', float('nan')):.2f}, stochastic "
        f"{final.get('eval_stochastic', float('nan')):.2f} at σ {final.get('sigma', float('nan')):.3g}"
    )
    console.print(
        "Wrote config.json, metrics.csv, timing.csv, policy.npz, summary.json, "
        f"learning_curve.png and checkpoint.npz to {out}"
    )
