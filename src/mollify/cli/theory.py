"""`mollify theory heat | backward | uncertainty`: the paper's three theoretical claims."""

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
)

theory_app = typer.Typer(
    help="The paper's heat-equation, backward-heat and uncertainty claims.", no_args_is_help=True
)


@theory_app.command("heat")
def theory_heat(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    action_index: Annotated[
        int, typer.Option(help="Action component varied (others: μ_θ(s)).")
    ] = 0,
    sigma_min: Annotated[float, typer.Option(help="Smallest σ (relative), t = σ².")] = 0.05,
    sigma_max: Annotated[float, typer.Option(help="Largest σ (relative).")] = 1.0,
    n_actions: Annotated[int, typer.Option(help="Action grid for Q(s, ·).")] = 801,
    mc_samples: Annotated[int, typer.Option(help="Direct rollouts per Monte-Carlo check.")] = 2048,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for heat.png and heat.json.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """u(μ, t) = E Q(s, μ + √t ε) solves u_t = ½u_μμ: residual against |u_t|, plot of u over (μ, t)."""
    from mollify.instruments import heat

    options = {"sigma_min": sigma_min, "sigma_max": sigma_max, "n_actions": n_actions}
    options |= {"action_index": action_index, "mc_samples": mc_samples}
    try:
        t, pol, theta = load_task_and_policy(
            task, policy, seed, lambda t: heat.check_heat_options(t, **options)
        )
        prepare_out(out, resume, force)
        with console.status(f"tabulating Q(s, a) of {t.name} by rollouts", spinner="dots"):
            report, summary = heat.run_heat(
                t, pol, theta, out, **options, seed=seed, command=command_line()
            )
    except input_errors() as exc:
        fail(str(exc))
    console.print(
        f"[bold]{t.name}[/]: heat equation along action {action_index}, "
        f"t = σ² in [{report.t[0]:.3g}, {report.t[-1]:.3g}]"
    )
    if report.max_abs_u_t == 0:
        console.print(
            "  [yellow]Q(s, ·) is the same for every action at this state (for example a hopper "
            "lying down earns no reward whatever it does): nothing to diffuse; try another --seed.[/]"
        )
    console.print(f"  max |u_t − ½u_μμ| = {report.max_abs_residual:.4g}")
    console.print(f"  max |u_t|          = {report.max_abs_u_t:.4g}")
    console.print(f"  ratio              = {summary['residual_over_u_t']:.3g}")
    console.print(f"  median pointwise |residual|/|u_t| = {report.median_relative_residual:.3g}")
    console.print(
        f"  Gauss–Hermite heat_solution vs table (upper 3/4 of t): "
        f"{report.gauss_hermite_max_diff:.3g} (u varies by {report.u_variation:.3g})"
    )
    for row in report.monte_carlo:
        console.print(
            f"  direct rollouts at t={row['t']:.3g}: u_table {row['u_table']:.4f}, "
            f"Monte Carlo {row['u_monte_carlo']:.4f} ± {row['mc_stderr']:.4f}"
        )
    if out is not None:
        console.print(f"Wrote heat.png and heat.json to {out}")


@theory_app.command("backward")
def theory_backward(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    sigma: Annotated[float, typer.Option(help="σ (relative) of the final time T = σ².")] = 0.1,
    delta: Annotated[
        float, typer.Option(help="RMS of the perturbation of u(·, T), relative to Q's RMS.")
    ] = 1e-6,
    action_index: Annotated[int, typer.Option(help="Action component varied.")] = 0,
    n_actions: Annotated[int, typer.Option(help="Action grid for Q(s, ·).")] = 801,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for backward.png/.json.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Invert u(·, T) + δ back to Q(s, ·): per-frequency amplification against e^{Tξ²/2}."""
    from mollify.instruments import heat

    options = {"sigma": sigma, "delta": delta, "n_actions": n_actions}
    options |= {"action_index": action_index}
    try:
        t, pol, theta = load_task_and_policy(
            task, policy, seed, lambda t: heat.check_backward_options(t, **options)
        )
        prepare_out(out, resume, force)
        with console.status(f"tabulating Q(s, a) of {t.name} by rollouts", spinner="dots"):
            _, summary = heat.run_backward(
                t, pol, theta, out, **options, seed=seed, command=command_line()
            )
    except input_errors() as exc:
        fail(str(exc))
    console.print(
        f"[bold]{t.name}[/]: backward heat from T = {summary['T']:.4g}, δ = {delta:.1e} × RMS(Q) "
        f"= {summary['delta_abs']:.3g}"
    )
    tab = Table()
    for col in ("ξ", "measured amplification", "e^{Tξ²/2}"):
        tab.add_column(col)
    for row in summary["table"]:
        tab.add_row(f"{row['xi']:.4g}", f"{row['measured']:.6g}", f"{row['predicted']:.6g}")
    console.print(tab)
    console.print(
        f"  {summary['n_valid_frequencies']} frequencies above the noise floor, max relative "
        f"error {summary['max_rel_error_valid']:.3g} (largest amplification "
        f"{summary['max_predicted_valid']:.3g})"
    )
    console.print(
        f"  cut-off ξ_c = {summary['cutoff_xi']:.4g} (above it the amplified δ exceeds Q's own "
        f"spectrum); recovered Q relative error {summary['recovered_relative_error']:.3g}"
    )
    if out is not None:
        console.print(f"Wrote backward.png and backward.json to {out}")


@theory_app.command("uncertainty")
def theory_uncertainty(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    drop: Annotated[float, typer.Option(help="Fraction of the advantage lost at the width.")] = 0.5,
    directions: Annotated[int, typer.Option(help="Random directions for the width.")] = 16,
    max_radius: Annotated[float, typer.Option(help="Largest radius (filter-normalised).")] = 2.0,
    param_sigmas: Annotated[str, typer.Option(help="σ for J̃_σ (filter-normalised).")] = (
        "0.01,0.03,0.1,0.3,1,3"
    ),
    action_sigmas: Annotated[str, typer.Option(help="σ for J_σ (relative).")] = "0.03,0.1,0.3,1,3",
    samples: Annotated[int, typer.Option(help="Noise samples per σ.")] = 32,
    episodes: Annotated[int, typer.Option(help="Episodes per θ.")] = 16,
    start: Annotated[
        str,
        typer.Option(
            help="random: starts drawn per episode, the objective a policy is trained on, so w is "
            "the good region training found. fixed: every episode from one state (nominal start; "
            "a seed's reset for hopper and gym:), the region for that start alone."
        ),
    ] = "random",
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for uncertainty.png/.json.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Width w of the good region around θ*, J_σ(θ*) and J̃_σ(θ*) against σ, erasure σ, Heisenberg."""
    from mollify.instruments import uncertainty
    from mollify.tasks import check_start

    try:
        options = {"drop": drop, "directions": directions, "samples": samples}
        options |= {"episodes": episodes, "max_radius": max_radius}
        options |= {
            "param_sigmas": parse_floats(param_sigmas, "param-sigmas"),
            "action_sigmas": parse_floats(action_sigmas, "action-sigmas"),
        }
        uncertainty.check_options(**options)
        check_start(start)
        t, pol, theta = load_task_and_policy(task, policy, seed)
        uncertainty.check_memory(t, pol, directions=directions, samples=samples, episodes=episodes)
        prepare_out(out, resume, force)
        options["n_directions"] = options.pop("directions")
        with console.status("measuring", spinner="dots") as status:
            report, summary = uncertainty.run(
                t,
                pol,
                theta,
                out,
                **options,
                seed=seed,
                start=start,
                policy_source=policy,
                command=command_line(),
                progress=lambda msg: status.update(f"measuring: {msg}"),
            )
    except input_errors() as exc:
        fail(str(exc))
    ps, acs = report.param_sigmas, report.action_sigmas
    console.print(
        f"[bold]{t.name}[/]: J(θ*) = {report.j_star:.3f}, background {report.j_background:.3f}; "
        f"width w = {report.width:.3g} (quartiles {summary['width_quartiles'][0]:.3g}–"
        f"{summary['width_quartiles'][1]:.3g}) for a {drop:.0%} drop"
    )
    tab = Table(title="mollified value at θ*")
    for col in ("σ (param, filter-norm.)", "J̃_σ(θ*) ± 2SE", "σ (action, rel.)", "J_σ(θ*) ± 2SE"):
        tab.add_column(col)
    for i in range(max(len(ps), len(acs))):
        row = []
        for sig, val, se in (
            (report.param_sigmas, report.j_param, report.j_param_se),
            (report.action_sigmas, report.j_action, report.j_action_se),
        ):
            row += [f"{sig[i]:g}", f"{val[i]:.3f} ± {2 * se[i]:.3f}"] if i < len(sig) else ["", ""]
        tab.add_row(*row)
    console.print(tab)
    console.print(
        f"  erased (lost {drop:.0%} of the advantage) at σ_param ≈ {report.erasure_param:.3g} "
        f"(predicted scale w = {report.width:.3g}); action σ ≈ {report.erasure_action:.3g}"
    )
    for h in report.heisenberg:
        console.print(
            f"  Gaussian kernel σ={h['sigma']:g}: Δx·Δξ = {h['dx']:.4g}·{h['dxi']:.4g} = "
            f"{h['product']:.6f} (bound {h['bound']})"
        )
    if out is not None:
        console.print(f"Wrote uncertainty.png and uncertainty.json to {out}")
