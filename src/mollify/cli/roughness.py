"""`mollify roughness`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
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

START_HELP = (
    "fixed: every episode from one state (the nominal start; a seed's reset for hopper and gym:), "
    "so σ = 0 is the raw J whose roughness the paper discusses. random: starts drawn per episode, "
    "an average over starts that is itself a smoothing."
)


def roughness(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    sigmas: Annotated[str, typer.Option(help="Action σ values (relative).")] = "0,0.1,0.3",
    directions: Annotated[int, typer.Option(help="Random directions for the Hölder fit.")] = 16,
    episodes: Annotated[
        int,
        typer.Option(
            help="Episodes per θ at σ > 0, paired across θ (common random numbers); their "
            "Monte-Carlo noise is removed, and more episodes resolve smaller scales."
        ),
    ] = 256,
    start: Annotated[str, typer.Option(help=START_HELP)] = "fixed",
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
    """Hölder exponent α of J_σ at θ per σ (Monte-Carlo noise removed), the scale δ* below which
    J_σ is smooth, and the closed loop's Lyapunov exponent λ with the Hölder exponent −log γ / λ
    it predicts."""
    from mollify.instruments import policy_roughness as rough
    from mollify.util.io import dumps

    try:
        options = {"directions": directions, "episodes": episodes, "steps": steps}
        values = rough.check_options(parse_floats(sigmas, "sigmas"), **options, start=start)
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
            start=start,
            policy_source=policy,
            command=command_line(),
            progress=update,
        )
    if json_out:
        typer.echo(dumps(out))
        return
    radii = np.asarray(out["radii"]) / out["theta_norm"]
    table = Table(
        title=f"{t.name}, {start} start: Hölder exponent of J_σ at θ "
        f"(radii {radii[0]:.2g}–{radii[-1]:.2g} × ‖θ‖, {directions} directions)"
    )
    for col in ("σ", "α (smallest resolved scales)", "95% CI", "δ* / ‖θ‖", "α below / above δ*"):
        table.add_column(col)
    table.add_column("resolved from (× ‖θ‖)")
    table.add_column("noise floor (RMS)")
    for s, h in out["holder"].items():
        if h["n_resolved"] < 3:
            table.add_row(
                f"{s:g}", escape(h["note"]), "", "", "", "", f"{h['noise_floor_rms']:.3g}"
            )
            continue
        table.add_row(
            f"{s:g}",
            f"{h['alpha']:.3f}",
            f"[{h['ci_low']:.3f}, {h['ci_high']:.3f}]",
            escape(h["crossover_text"]),
            f"{h['alpha_below']:.2f} / {h['alpha_above']:.2f}",
            f"{h['smallest_resolved_relative']:.2g}",
            f"{h['noise_floor_rms']:.3g}" if h["samples"] > 1 else "none (deterministic)",
        )
    console.print(table)
    for matched in _matched_tables(out, t.name):
        console.print(matched)
    lam = out["lyapunov"]
    if lam is not None:
        regime = "λ > −log γ: J is Hölder with" if out["predicted_nontrivial"] else "λ ≤ −log γ:"
        console.print(
            f"Lyapunov exponent λ = {lam:.4g} per step; −log γ = {-math.log(t.gamma):.4g}; "
            f"{regime} predicted exponent {out['predicted_holder']:.3g}"
        )
    else:
        reason = out.get("lyapunov_error", "no finite estimate")
        console.print(f"Lyapunov exponent: unavailable ({reason})")


def _ci(b: dict, key: str) -> str:
    lo, hi = b[f"{key}_ci"]
    if b[key] is None:
        return "—"
    return (
        f"{b[key]:.2f} [{'—' if lo is None else f'{lo:.2f}'}, {'—' if hi is None else f'{hi:.2f}'}]"
    )


def _span(b: dict) -> str:
    r = b["radii_relative"]
    return f"{r[0]:.2g}–{r[-1]:.2g} ({len(r)} radii)" if r else "—"


def _matched_tables(out: dict, task: str) -> list[Table]:
    """α(J_σ) beside raw J's α on exactly the same radii: J_σ's fitted ones, then those ≤ δ*."""
    same = Table(title=f"{task}: J_σ against raw J (σ = 0) on the radii J_σ's α is fitted on")
    below = Table(title=f"{task}: J_σ against raw J on the resolved radii at or below δ*(σ)")
    for col in ("σ", "radii × ‖θ‖", "α(J_σ) [95% CI]", "α(J) [95% CI]", "α(J_σ) − α(J)"):
        same.add_column(col)
    for col in ("σ", "δ* / ‖θ‖", "radii × ‖θ‖", "α(J_σ) [95% CI]", "α(J) [95% CI]"):
        below.add_column(col)
    for s, b in out.get("matched", {}).items():
        low = b["below_delta_star"]
        first = [_span(b), _ci(b, "alpha_sigma"), _ci(b, "alpha_raw"), _ci(b, "difference")]
        if b["alpha_sigma"] is None or b["alpha_raw"] is None:
            first = [escape(b["note"]), "", "", ""]
        second = [_span(low), _ci(low, "alpha_sigma"), _ci(low, "alpha_raw")]
        if low["alpha_sigma"] is None or low["alpha_raw"] is None:
            second = [escape(low["note"] if low["radii_relative"] else "no radii ≤ δ*"), "", ""]
        same.add_row(f"{float(s):g}", *first)
        below.add_row(f"{float(s):g}", escape(low["delta_star_text"]), *second)
    return [same, below]
