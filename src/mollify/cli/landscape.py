"""`mollify landscape`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
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
    start: Annotated[
        str,
        typer.Option(
            help="fixed: every episode from one state (the nominal start; a seed's reset for "
            "hopper and gym:), so σ = 0 shows the raw J, as rough as it is. random: starts drawn "
            "per episode, an average over starts that already smooths J."
        ),
    ] = "fixed",
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
            start=start,
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
    holder, slopes = summary["grid_holder_alpha"], summary.get("spectral_slope", {})
    table = Table(
        title=f"{t.name}: {mode}-space landscape, {start} start, {grid}^{dims}, "
        f"{summary['seconds']:.1f} s"
    )
    for col in ("σ", "mean J", "min J", "max J", "grid Hölder α", "spectral slope", "−σ²"):
        table.add_column(col)
    for s in config.sigmas:
        j = ds["J"].sel(sigma=s).values
        slope = slopes.get(s)
        table.add_row(
            f"{s:g}",
            f"{j.mean():.2f}",
            f"{j.min():.2f}",
            f"{j.max():.2f}",
            "see below" if holder[s] is None else f"{holder[s]:.3f}",
            ("—" if not slopes else "see below") if slope is None else f"{slope:.4g}",
            f"{-(s**2):.4g}",
        )
    console.print(table)
    for s, note in summary["grid_holder_note"].items():
        console.print(f"  grid Hölder α at σ = {s:g}: {escape(note)}")
    for s, note in summary.get("spectral_note", {}).items():
        console.print(f"  spectral slope at σ = {s:g}: {escape(note)}")
    console.print(f"Wrote {', '.join(summary['files'])} and summary.json to {out}")
