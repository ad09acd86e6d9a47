"""`mollify roughness`."""

from __future__ import annotations

import json
import math
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


def roughness(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    sigmas: Annotated[str, typer.Option(help="Action σ values (relative).")] = "0,0.1,0.3",
    directions: Annotated[int, typer.Option(help="Random directions for the Hölder fit.")] = 32,
    episodes: Annotated[int, typer.Option(help="Episodes per θ (common random numbers).")] = 16,
    steps: Annotated[
        int | None, typer.Option(help="Lyapunov steps (default: the roughness module's).")
    ] = None,
    seed: SeedOpt = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Also write roughness.json here.")
    ] = (None),
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Hölder exponent α of J_σ at θ per σ, and the closed loop's Lyapunov exponent λ with the
    Hölder exponent −log γ / λ it predicts."""
    from mollify.instruments import roughness as rough
    from mollify.util.io import jsonable

    try:
        options = {"directions": directions, "episodes": episodes, "steps": steps}
        values = rough.check_options(parse_floats(sigmas, "sigmas"), **options)
        t, pol, theta = load_task_and_policy(task, policy, seed)
        rough.check_memory(t, pol, directions=directions, episodes=episodes)
        prepare_out(out_dir, resume, force)
    except input_errors() as exc:
        fail(str(exc))
    bar, update = progress_bar(f"roughness {t.name}")
    with bar:
        out = rough.run(
            t,
            pol,
            theta,
            out_dir,
            sigmas=values,
            **options,
            seed=seed,
            policy_source=policy,
            command=command_line(),
            progress=update,
        )
    if json_out:
        typer.echo(json.dumps(out, default=jsonable))
        return
    radii = out["radii"]
    table = Table(
        title=f"{t.name}: Hölder exponent of J_σ at θ (radii {radii[0]:.2g}–{radii[-1]:.2g})"
    )
    for col in ("σ", "α", "95% CI"):
        table.add_column(col)
    for s, h in out["holder"].items():
        table.add_row(f"{s:g}", f"{h['alpha']:.3f}", f"[{h['ci_low']:.3f}, {h['ci_high']:.3f}]")
    console.print(table)
    lam = out["lyapunov"]
    if math.isfinite(lam):
        regime = "λ > −log γ: J is Hölder with" if out["predicted_nontrivial"] else "λ ≤ −log γ:"
        console.print(
            f"Lyapunov exponent λ = {lam:.4g} per step; −log γ = {-math.log(t.gamma):.4g}; "
            f"{regime} predicted exponent {out['predicted_holder']:.3g}"
        )
    else:
        reason = out.get("lyapunov_error", "no finite estimate")
        console.print(f"Lyapunov exponent: unavailable ({reason})")
