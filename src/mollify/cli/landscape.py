"""`mollify landscape`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mollify.cli.common import (
    ForceOpt,
    PolicyOpt,
    ResumeOpt,
    SeedOpt,
    TaskOpt,
    command_line,
    console,
    fail,
    input_errors,
    load_task_and_policy,
    parse_floats,
    prepare_out,
    progress_bar,
)


def landscape(
    out: Annotated[Path, typer.Option(help="Output directory (created).")],
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    dims: Annotated[int, typer.Option(help="1 (a line) or 2 (a plane) through θ0.")] = 2,
    grid: Annotated[int, typer.Option(help="Points per axis.")] = 101,
    extent: Annotated[float, typer.Option(help="Half-width of the slice (filter-normalised).")] = (
        1.0
    ),
    sigmas: Annotated[str, typer.Option(help="Comma-separated σ values (0 = unsmoothed).")] = (
        "0,0.1,0.3,1"
    ),
    mode: Annotated[str, typer.Option(help="action (J_σ, stochastic policy) or param (ES).")] = (
        "action"
    ),
    kernel: Annotated[str, typer.Option(help="gaussian, uniform or laplace.")] = "gaussian",
    samples: Annotated[int, typer.Option(help="Noise samples per grid point.")] = 32,
    episodes: Annotated[int, typer.Option(help="param mode: initial states per θ.")] = 8,
    normalization: Annotated[str, typer.Option(help="layer or filter.")] = "layer",
    seed: SeedOpt = 0,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """J on a random slice through θ0, raw and mollified per σ: netCDF, PNGs, spectra, Hölder α."""
    from mollify.instruments import landscape as land

    try:
        config = land.LandscapeConfig(
            dims=dims,
            grid=grid,
            extent=extent,
            sigmas=parse_floats(sigmas, "sigmas"),
            mode=mode,
            kernel=kernel,
            samples=samples,
            episodes=episodes,
            seed=seed,
            normalization=normalization,
        ).validate()
        t, pol, theta = load_task_and_policy(task, policy, seed)
        prepare_out(out, resume, force)
    except input_errors() as exc:
        fail(str(exc))
    bar, update = progress_bar(f"landscape {t.name} {grid}^{dims}")
    with bar:
        ds, summary = land.run(
            t,
            pol,
            theta,
            config,
            out,
            policy_source=policy,
            command=command_line(),
            progress=update,
        )
    holder = summary["grid_holder_alpha"]
    table = Table(
        title=f"{t.name}: {mode}-space landscape, {grid}^{dims}, {summary['seconds']:.1f} s"
    )
    for col in ("σ", "mean J", "min J", "max J", "grid Hölder α", "spectral slope", "−σ²"):
        table.add_column(col)
    for s in config.sigmas:
        j = ds["J"].sel(sigma=s).values
        slope = summary.get("spectral_slope", {}).get(s, float("nan"))
        table.add_row(
            f"{s:g}",
            f"{j.mean():.2f}",
            f"{j.min():.2f}",
            f"{j.max():.2f}",
            f"{holder[s]:.3f}",
            f"{slope:.4g}",
            f"{-(s**2):.4g}",
        )
    console.print(table)
    console.print(f"Wrote {', '.join(summary['files'])} and summary.json to {out}")
