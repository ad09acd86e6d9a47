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
    task_test: Annotated[
        bool,
        typer.Option(
            "--task-test",
            help="Also run the test on task data (needs --out; writes backward_task.json/.png): "
            "J̃_σ₁ measured on a slice by Monte Carlo, run back to σ₀, against J̃_σ₀ measured "
            "directly; the error should follow e^{(σ₁²−σ₀²)ξ²}·N₁ + N₀.",
        ),
    ] = False,
    task_size: Annotated[
        str, typer.Option(help="Sizes of the task test: smoke (≈5 s), quick, full (≤ 2 min).")
    ] = "quick",
    param_sigmas: Annotated[
        str, typer.Option(help="Task test: σ₀ then the σ₁ (parameter space, slice units α).")
    ] = "0.02,0.03,0.04,0.06",
    action_sigmas: Annotated[
        str,
        typer.Option(help="Task test: σ₀ then the σ₁ (action space, relative; reported); 'none'."),
    ] = "0.1,0.2,0.4",
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for backward.png/.json.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Invert u(·, T) + δ back to Q(s, ·): per-frequency amplification against e^{Tξ²/2} (a check
    of the FFT solver). With --task-test, also the test on task data (backward_task.json)."""
    from mollify.instruments import backward_task, heat

    options = {"sigma": sigma, "delta": delta, "n_actions": n_actions}
    options |= {"action_index": action_index}
    try:
        test_options = _backward_task_options(
            task_test, task_size, param_sigmas, action_sigmas, seed, out
        )
        t, pol, theta = load_task_and_policy(
            task, policy, seed, lambda t: heat.check_backward_options(t, **options)
        )
        prepare_out(out, resume, force)
        with console.status(f"tabulating Q(s, a) of {t.name} by rollouts", spinner="dots"):
            _, summary = heat.run_backward(
                t, pol, theta, out, **options, seed=seed, command=command_line()
            )
        if test_options is not None:
            with console.status(f"backward heat on {t.name}'s slice", spinner="dots"):
                path = backward_task.run_backward_task(
                    t, pol, theta, out, command=command_line(), **test_options
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
    if test_options is not None:
        _print_backward_task(path)
    if out is not None:
        console.print(f"Wrote backward.png and backward.json to {out}")


def _backward_task_options(on: bool, size: str, param: str, action: str, seed: int, out):
    """The task test's options, checked before any rollout (None when not asked for)."""
    from mollify.cli.common import UsageFailure
    from mollify.instruments import backward_task

    if not on:
        return None
    if out is None:
        raise UsageFailure("out: --task-test writes backward_task.json: give --out")
    if size not in backward_task.PRESETS:
        raise UsageFailure(f"task-size: unknown size {size!r}; choose from smoke, quick, full")
    sigma0, *sigma1s = parse_floats(param, "param-sigmas")
    acts = () if action.strip().lower() == "none" else parse_floats(action, "action-sigmas")
    opts = {"sigma0": sigma0, "sigma1s": tuple(sigma1s), "action_sigmas": acts, "seed": seed}
    if not sigma1s:
        raise UsageFailure("param-sigmas: need σ₀ and at least one σ₁")
    try:
        backward_task.BackwardTaskConfig(**backward_task.PRESETS[size], **opts).validate()
    except ValueError as exc:  # the config's σ fields are this command's --param-sigmas
        field, _, why = str(exc).partition(": ")
        raise UsageFailure(
            f"param-sigmas: {why}" if field in ("sigma0", "sigma1s") else exc
        ) from None
    return {"preset": size, **opts}


def _print_backward_task(path: Path) -> None:
    import json

    from mollify.study.verdicts.backward import pair_verdict, task_verdict

    r = json.loads(path.read_text())
    console.print(f"  task test ({r['seconds']:.1f} s, {r['slice']['points']} slice points):")
    for p in r["param"]["pairs"]:
        ci = p.get("slope_ci") or [float("nan")] * 2
        console.print(
            f"    σ₁={p['sigma1']:g}: Δt {p['dt']:.4g}, slope {p.get('slope') or float('nan'):.4g} "
            f"[{ci[0]:.4g}, {ci[1]:.4g}], fitted Δt {p.get('dt_fit') or float('nan'):.4g}, "
            f"z {p.get('excess_z') or float('nan'):.2f}, ξ_c {p.get('cutoff_measured')} vs "
            f"{p.get('cutoff_predicted')}: {pair_verdict(p)[0]}"
        )
    console.print(f"  verdict: {task_verdict(r)}; wrote backward_task.json and .png")


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


@theory_app.command("gradient")
def theory_gradient(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    sigmas: Annotated[str, typer.Option(help="σ values (relative to the half-range).")] = (
        "0.1,0.3,1"
    ),
    states: Annotated[
        int, typer.Option(help="States: the reset states of this many episodes.")
    ] = 4,
    samples: Annotated[
        int, typer.Option(help="Sampled actions per (state, σ), training side.")
    ] = 4096,
    continuations: Annotated[
        int, typer.Option(help="Noisy continuations per grid action of the Q table.")
    ] = 64,
    grid: Annotated[int, typer.Option(help="Grid actions spanning the box (Q table).")] = 41,
    ascent_steps: Annotated[int, typer.Option(help="Gradient-ascent steps on μ.")] = 5,
    ascent_samples: Annotated[int, typer.Option(help="Sampled actions per ascent step.")] = 512,
    learning_rate: Annotated[
        float, typer.Option(help="Largest table-ascent step, in units of σ.")
    ] = 0.25,
    action_index: Annotated[int, typer.Option(help="Action component varied.")] = 0,
    time_factor: Annotated[
        float,
        typer.Option(help="Build u at t = factor·σ² (1: the claim; ≠ 1: a negative control)."),
    ] = 1.0,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for gradient.json/.png.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Score-function policy gradient against ∂u/∂μ of the heat solution at t = σ² (a test)."""
    import json

    from mollify.instruments import heat_gradient as hg
    from mollify.study.verdicts.heat import gradient_verdict

    options = {"n_states": states, "samples": samples, "continuations": continuations}
    options |= {"grid": grid, "ascent_steps": ascent_steps, "ascent_samples": ascent_samples}
    options |= {"learning_rate": learning_rate, "action_index": action_index}
    options |= {"time_factor": time_factor, "seed": seed}
    try:
        options["sigmas"] = parse_floats(sigmas, "sigmas")
        t, pol, theta = load_task_and_policy(
            task, policy, seed, lambda t: hg.check_options(t, **options)
        )
        prepare_out(out, resume, force)
        with console.status(f"policy gradients of {t.name} by rollouts", spinner="dots"):
            if out is None:
                summary = hg.summarize(hg.gradient_experiment(t, pol, theta, **options))
            else:
                path = hg.run_gradient(t, pol, theta, out, command=command_line(), **options)
                summary = json.loads(path.read_text())
    except input_errors() as exc:
        fail(str(exc))
    tab = Table(title=f"{t.name}: policy gradient vs ∂u/∂μ at t = {time_factor:g}·σ²")
    for col in ("state", "σ", "g_A ± SE (score)", "g_B ± SE (heat)", "z", "g_A/g_B", "Δu ascent"):
        tab.add_column(col)
    for r in summary["pairs"]:
        du = r["ascent"]["delta_u_A"]
        tab.add_row(
            str(r["state_index"]),
            f"{r['sigma']:g}",
            f"{r['g_A']:.4g} ± {r['se_A']:.2g}",
            f"{r['g_B']:.4g} ± {r['se_B']:.2g}",
            "—" if r["z"] is None else f"{r['z']:.2f}",
            "—" if r["ratio"] is None else f"{r['ratio']:.3g}",
            "—" if du is None else f"{du:.3g}",
        )
    console.print(tab)
    verdict, text = gradient_verdict(summary)
    console.print(f"  {text}")
    console.print(f"  verdict: [bold]{verdict}[/] ({summary['seconds']:.1f} s)")
    if out is not None:
        console.print(f"Wrote gradient.json and gradient.png to {out}")
