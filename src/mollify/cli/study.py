"""`mollify sweep`, `report`, `reproduce` and `bench`: the commands that run studies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mollify.cli.common import (
    command_line,
    console,
    fail,
    input_errors,
    parse_floats,
    prepare_out,
    progress_bar,
    split_names,
)


def bench(
    quick: Annotated[bool, typer.Option(help="Smaller batches (about ten minutes).")] = False,
    smoke: Annotated[
        bool, typer.Option(hidden=True, help="Tiny sizes for the test suite: fields, no meaning.")
    ] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the JSON here.")] = (
        None
    ),
) -> None:
    """Speed against what a user would use instead, measured side by side in this run."""
    from mollify.study.bench import run_bench
    from mollify.util.io import atomic_write_text, check_output_file, dumps

    if json_path is not None:
        try:
            check_output_file(json_path, "json")
        except input_errors() as exc:
            fail(str(exc))
    result = run_bench(quick=quick, smoke=smoke)
    text = dumps(result, indent=2)
    if json_path is not None:
        atomic_write_text(json_path, text + "\n")
    typer.echo(text)


def sweep(
    out: Annotated[
        Path,
        typer.Option(help="Sweep directory (created; an existing one needs --resume/--force)."),
    ],
    config: Annotated[
        Path | None, typer.Option(help=r"sweep.toml (\[sweep] and \[options] tables).")
    ] = None,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task names.")] = None,
    algos: Annotated[
        str | None, typer.Option(help="ppo, reinforce, es, npg (comma-separated).")
    ] = (None),
    sigmas: Annotated[str | None, typer.Option(help="σ grid, comma-separated.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds 0..N-1 per cell.")] = None,
    kernels: Annotated[str | None, typer.Option(help="gaussian, laplace, uniform (ES only).")] = (
        None
    ),
    sigma_modes: Annotated[str | None, typer.Option(help="fixed, learned, schedule, rpo.")] = None,
    steps: Annotated[int | None, typer.Option(help="Env steps per run (all tasks).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Run on an existing Ray cluster: auto or HOST:PORT.")
    ] = None,
    ray_local: Annotated[bool, typer.Option(help="Start a local Ray instance for this sweep.")] = (
        False
    ),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue a sweep in an existing OUT: seeds that finished (their row.json "
            "exists) are kept, the rest are run.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Use an existing OUT but recompute every seed, replacing its directory "
            "(other files are left alone).",
        ),
    ] = False,
) -> None:
    """Tasks × σ × seeds × algorithm × kernel × σ-mode; summary.csv and stats.json in OUT."""
    from mollify.study import sweep as sweep_lib
    from mollify.util.checks import InputError

    try:
        spec = sweep_lib.spec_from_options(
            config,
            tasks=split_names(tasks),
            algos=split_names(algos),
            sigmas=parse_floats(sigmas, "sigmas") if sigmas is not None else None,
            kernels=split_names(kernels),
            sigma_modes=split_names(sigma_modes),
            seeds=seeds,
            steps=steps,
        )
        if ray_address is not None and ray_local:
            raise InputError("ray-address: give either --ray-address or --ray-local, not both")
        prepare_out(out, resume, force)
    except (*input_errors(), TypeError) as exc:
        fail(str(exc))
    engine = "ray" if (ray_local or ray_address) else "local"
    bar, update = progress_bar(f"sweep ({engine})")
    with bar:
        summary = sweep_lib.run_sweep(
            spec,
            out,
            engine=engine,
            ray_address=ray_address,
            progress=lambda d, t, _: update(d, t),
            command=command_line(),
            force=force,
        )
    _print_stats(json.loads((out / "stats.json").read_text()))
    console.print(f"Wrote {summary} and {out / 'stats.json'}")


def _print_stats(stats: dict) -> None:
    for name, entry in stats.items():
        for kind in ("deterministic", "stochastic"):
            curve = entry[kind]
            table = Table(title=f"{name}: final {kind} return against σ")
            for col in ("σ", "mean", "95% CI (t-interval over seeds)", "seeds"):
                table.add_column(col)
            for p in curve["points"]:
                table.add_row(
                    f"{p['sigma']:g}",
                    f"{p['mean']:.2f}",
                    "one seed: no CI"
                    if p["ci_low"] is None
                    else f"[{p['ci_low']:.2f}, {p['ci_high']:.2f}]",
                    str(p["n"]),
                )
            console.print(table)
            tied = ", ".join(f"{s:g}" for s in curve["indistinguishable_from_best"]) or "none"
            console.print(
                f"  best σ = {curve['best_sigma']:g}; not distinguishable from it: {tied}; "
                f"inverted U: {curve['u_verdict']} ({curve['u_reason']})"
            )


def report(
    directory: Annotated[Path, typer.Argument(help="A directory of mollify results.")],
) -> None:
    """One self-contained report.html (figures embedded) and report.md from DIR's results."""
    from mollify.study import report as report_lib

    try:
        html_path, md_path = report_lib.build(directory)
    except (*input_errors(), OSError) as exc:
        fail(str(exc))
    console.print(f"Wrote {html_path} and {md_path}")


def reproduce(
    out: Annotated[
        Path,
        typer.Option(help="Study directory (created; an existing one needs --resume/--force)."),
    ] = Path("runs/reproduce"),
    quick: Annotated[bool, typer.Option(help="Scaled-down study (under 3 minutes on 2 cores).")] = (
        False
    ),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue a study in an existing OUT: the sweeps keep their finished seeds; "
            "landscapes and theory checks (one-go steps) are recomputed.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Use an existing OUT but recompute every step, sweeps included (other files are "
            "left alone).",
        ),
    ] = False,
    smoke: Annotated[
        bool, typer.Option(hidden=True, help="Tiny sizes for the test suite: steps, no meaning.")
    ] = False,
) -> None:
    """The whole study: landscapes, theory checks, σ sweeps, kernels, then the report."""
    from mollify.study.reproduce import run_study

    try:
        prepare_out(out, resume, force)
        html_path = run_study(
            out,
            quick,
            lambda msg: console.print(f"[bold cyan]{msg}[/]"),
            resume=resume,
            smoke=smoke,
        )
    except input_errors() as exc:
        fail(str(exc))
    seconds = float((out / "wall_time.txt").read_text())
    console.print(f"Study finished in {seconds:.0f} s. Report: {html_path.resolve()}")
