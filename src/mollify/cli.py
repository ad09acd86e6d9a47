"""The `mollify` command line (Typer + Rich).

Every command answers bad input with one line on stderr naming the field, and exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Measure how exploration noise mollifies policy landscapes (Wang, Herbert, Gao 2024).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


class UsageFailure(Exception):
    """Raised for bad input; `main` prints it as one line and exits with code 2."""


COMMAND_LINE: str | None = None  # set by `reproduce` for the commands it runs in-process


def command_line() -> str:
    """The command that regenerates an output, every option spelled out; recorded in its JSON
    for the report."""
    import importlib
    import shlex

    if COMMAND_LINE:
        return COMMAND_LINE
    # Typer runs on click or on its vendored copy; ask whichever its Context comes from.
    click_pkg = typer.Context.__mro__[1].__module__.rsplit(".", 1)[0]
    ctx = importlib.import_module(f"{click_pkg}.globals").get_current_context(silent=True)
    if ctx is None:
        return "mollify " + shlex.join(sys.argv[1:])
    names, c = [], ctx
    while c.parent is not None:
        names.append(c.info_name)
        c = c.parent
    parts = ["mollify", *reversed(names)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None:
            continue
        if param.param_type_name == "argument":
            parts.append(str(value))
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                parts.append(flag)
            continue
        parts += [flag, str(value)]
    return shlex.join(parts)


def fail(message: str) -> None:
    """Print `error: <message>` as one line on stderr and exit with code 2."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code=2)


def _input_errors():
    from mollify.core.noise import NoiseError
    from mollify.core.policies import PolicyError
    from mollify.tasks import TaskError

    return (TaskError, NoiseError, PolicyError, UsageFailure, ValueError)


def _load_task(name: str):
    from mollify import tasks

    return tasks.make(name)


def _load_policy(task, spec: str, seed: int):
    import jax

    from mollify.core.policies import load_policy, make_policy

    if spec == "init":
        policy = make_policy(task)
        return policy, np.asarray(policy.init(jax.random.PRNGKey(seed)))
    return load_policy(spec, task)


def mean_ci95(x: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of a normal-approximation 95 % confidence interval."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(1.96 * x.std(ddof=1) / math.sqrt(x.size))


@app.command()
def tasks() -> None:
    """List the built-in tasks with their dimensions, horizon and discount."""
    from mollify import tasks as task_lib

    table = Table(title="mollify tasks")
    for col in ("name", "backend", "obs dim", "action dim", "horizon", "gamma"):
        table.add_column(col)
    for name in task_lib.names():
        t = task_lib.make(name)
        table.add_row(
            name, t.backend, str(t.obs_dim), str(t.action_dim), str(t.horizon), str(t.gamma)
        )
    console.print(table)
    console.print("Any Gymnasium env with a Box action space: --task gym:ENV_ID")


@app.command()
def evaluate(
    task: Annotated[str, typer.Option(help="Task name, or gym:ENV_ID.")] = "pendulum",
    sigma: Annotated[
        float, typer.Option(help="Noise std relative to the action half-range.")
    ] = 0.1,
    kernel: Annotated[str, typer.Option(help="gaussian, uniform or laplace.")] = "gaussian",
    episodes: Annotated[int, typer.Option(help="Episodes per policy.")] = 32,
    policy: Annotated[str, typer.Option(help="'init' (random MLP from --seed) or a .npz file.")] = (
        "init"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the policy init, resets and noise.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deterministic (σ = 0) and stochastic (σ) mean return of one policy, with 95 % CIs."""
    from mollify.core.evaluation import check_memory
    from mollify.core.evaluation import evaluate as run_eval
    from mollify.core.noise import check_kernel, check_sigma
    from mollify.util import checks

    try:
        checks.count("episodes", episodes)
        check_kernel(kernel)
        check_sigma(sigma, 1)
        t = _load_task(task)
        check_memory(t, 1, episodes)
        pol, theta = _load_policy(t, policy, seed)
    except _input_errors() as exc:
        fail(str(exc))
    with console.status(f"evaluating {t.name} ({episodes} episodes × 2)", spinner="dots"):
        det = run_eval(t, pol, theta, sigma=0.0, kernel=kernel, episodes=episodes, seed=seed)
        sto = run_eval(t, pol, theta, sigma=sigma, kernel=kernel, episodes=episodes, seed=seed)
    out = {"task": t.name, "sigma": sigma, "kernel": kernel, "episodes": episodes, "seed": seed}
    for label, res in (("deterministic", det), ("stochastic", sto)):
        m, h = mean_ci95(res.undiscounted)
        dm, dh = mean_ci95(res.discounted)
        out[label] = {
            "mean_return": m,
            "ci95": h,
            "mean_discounted_return": dm,
            "discounted_ci95": dh,
            "env_steps_per_s": res.steps_per_second,
        }
    if json_out:
        typer.echo(json.dumps(out))
        return
    table = Table(title=f"{t.name}: {episodes} episodes, seed {seed}, kernel {kernel}")
    for col in ("policy", "σ", "mean return ± 95% CI", "discounted ± 95% CI", "env-steps/s*"):
        table.add_column(col)
    for label, s in (("deterministic", 0.0), ("stochastic", sigma)):
        o = out[label]
        table.add_row(
            label,
            f"{s:g}",
            f"{o['mean_return']:.2f} ± {o['ci95']:.2f}",
            f"{o['mean_discounted_return']:.2f} ± {o['discounted_ci95']:.2f}",
            f"{o['env_steps_per_s']:,.0f}",
        )
    console.print(table)
    console.print("* wall-clock rate of each call; the first call includes JIT compilation.")


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Smaller batches (about a minute).")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the JSON here.")] = (
        None
    ),
) -> None:
    """Speed against what a user would use instead, measured side by side in this run."""
    from mollify.study.bench import run_bench

    if json_path is not None:
        from mollify.util.io import check_output_file

        try:
            check_output_file(json_path, "json")
        except _input_errors() as exc:
            fail(str(exc))
    result = run_bench(quick=quick)
    text = json.dumps(result, indent=2)
    if json_path is not None:
        from mollify.util.io import atomic_write_text

        atomic_write_text(json_path, text + "\n")
    typer.echo(text)


def _parse_floats(text: str, field: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageFailure(f"{field}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageFailure(f"{field}: expected at least one number")
    return values


def _progress(description: str):
    """A Rich progress bar; `update(done, total)` drives it. Invisible when output is not a TTY."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task_id = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task_id, completed=done, total=total)

    return bar, update


def _write_json(path: Path, obj) -> None:
    from mollify.util.io import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return str(o)


TaskOpt = Annotated[str, typer.Option(help="Task name, or gym:ENV_ID.")]
_ONE_GO = (
    "this command computes its result in one go, so there is nothing partial to keep: "
    "--resume is the same as --force"
)
ResumeOpt = Annotated[
    bool,
    typer.Option("--resume", help=f"Use an existing, non-empty output directory; {_ONE_GO}."),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Recompute and overwrite files of the same name in an existing output directory "
        "(other files are left alone).",
    ),
]


def _prepare_out(out: Path | None, resume: bool, force: bool, field: str = "out") -> None:
    """Refuse an output directory that exists (without --resume/--force) or cannot be written;
    raises OutputDirError. Called last in a command's checks, so a refused input leaves nothing."""
    from mollify.util.io import prepare_output_dir

    if out is None:
        if resume and force:
            raise UsageFailure(f"{field}: give either --resume or --force, not both")
        return
    prepare_output_dir(out, resume=resume, force=force, field=field)


PolicyOpt = Annotated[str, typer.Option(help="'init' (random MLP from --seed) or a .npz file.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of directions, policy init, resets and noise.")]


@app.command()
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
    import time

    from mollify import figures
    from mollify.instruments import landscape as land

    try:
        config = land.LandscapeConfig(
            dims=dims,
            grid=grid,
            extent=extent,
            sigmas=_parse_floats(sigmas, "sigmas"),
            mode=mode,
            kernel=kernel,
            samples=samples,
            episodes=episodes,
            seed=seed,
            normalization=normalization,
        ).validate()
        t = _load_task(task)
        pol, theta = _load_policy(t, policy, seed)
        _prepare_out(out, resume, force)
    except _input_errors() as exc:
        fail(str(exc))
    start = time.perf_counter()
    bar, update = _progress(f"landscape {t.name} {grid}^{dims}")
    with bar:
        ds = land.compute_landscape(
            t, pol, theta, config, progress=update, extra_attrs={"policy_source": policy}
        )
    seconds = time.perf_counter() - start
    holder = land.grid_holder(ds)
    out.mkdir(parents=True, exist_ok=True)
    land.save_dataset(ds, out / "landscape.nc")
    figures.landscape(ds, out / "landscape.png", holder)
    summary = {
        "task": t.name,
        "command": command_line(),
        "mode": mode,
        "seconds": seconds,
        "grid_holder_alpha": holder,
        "files": ["landscape.nc", "landscape.png"],
    }
    if 0.0 in config.sigmas and len(config.sigmas) > 1:
        spec = land.spectra(ds)
        land.save_dataset(spec, out / "spectra.nc")
        figures.spectra(spec, out / "spectra.png")
        summary["spectral_slope"] = {
            float(s): float(v)
            for s, v in zip(spec["sigma"].values, spec["slope"].values, strict=True)
        }
        summary["files"] += ["spectra.nc", "spectra.png"]
    _write_json(out / "summary.json", summary)
    table = Table(title=f"{t.name}: {mode}-space landscape, {grid}^{dims}, {seconds:.1f} s")
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


theory_app = typer.Typer(
    help="The paper's heat-equation, backward-heat and uncertainty claims.", no_args_is_help=True
)
app.add_typer(theory_app, name="theory")


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
    from mollify import figures
    from mollify.instruments import theory
    from mollify.util import checks

    try:
        smin = checks.positive("sigma-min", sigma_min)
        smax = checks.positive("sigma-max", sigma_max)
        if not smax > smin:
            raise UsageFailure(f"sigma-max: must be > sigma-min ({smin:g}), got {smax:g}")
        checks.count("n-actions", n_actions, minimum=16)
        checks.count("mc-samples", mc_samples, minimum=2)
        t = _load_task(task)
        _check_action_index(action_index, t)
        _check_q_table_memory(t, n_actions, rows=201)  # heat_experiment's n_mu
        _check_mc_memory(t, mc_samples)
        pol, theta = _load_policy(t, policy, seed)
        _prepare_out(out, resume, force)
        with console.status(f"tabulating Q(s, a) of {t.name} by rollouts", spinner="dots"):
            report = theory.heat_experiment(
                t,
                pol,
                theta,
                sigma_min=sigma_min,
                sigma_max=sigma_max,
                n_actions=n_actions,
                action_index=action_index,
                mc_samples=mc_samples,
                seed=seed,
            )
    except _input_errors() as exc:
        fail(str(exc))
    summary = {"task": t.name, "command": command_line(), **report.summary()}
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
        figures.heat(report, out / "heat.png")
        _write_json(out / "heat.json", summary)
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
    from mollify import figures
    from mollify.instruments import theory
    from mollify.util import checks

    try:
        checks.sigma_value("sigma", sigma, allow_zero=False)
        checks.positive("delta", delta)
        checks.count("n-actions", n_actions, minimum=16)
        t = _load_task(task)
        _check_action_index(action_index, t)
        _check_q_table_memory(t, n_actions, rows=0)
        pol, theta = _load_policy(t, policy, seed)
        _prepare_out(out, resume, force)
        with console.status(f"tabulating Q(s, a) of {t.name} by rollouts", spinner="dots"):
            profile = theory.q_profile(
                t, pol, theta, action_index=action_index, n_actions=n_actions, seed=seed
            )
        result, summary = theory.backward_experiment(profile, sigma=sigma, delta=delta, seed=seed)
    except _input_errors() as exc:
        fail(str(exc))
    summary = {"task": t.name, "command": command_line(), **summary}
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
        figures.backward(result, summary, out / "backward.png")
        _write_json(out / "backward.json", summary)
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
    episodes: Annotated[int, typer.Option(help="Initial states per θ.")] = 16,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for uncertainty.png/.json.")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Width w of the good region around θ*, J_σ(θ*) and J̃_σ(θ*) against σ, erasure σ, Heisenberg."""
    from mollify import figures
    from mollify.core.evaluation import check_memory
    from mollify.instruments import theory
    from mollify.util import checks

    try:
        if not (0 < drop < 1):  # also refuses NaN
            raise UsageFailure(f"drop: must be in (0, 1), got {drop:g}")
        checks.count("directions", directions, minimum=2)
        checks.count("samples", samples, minimum=2)
        checks.count("episodes", episodes)
        checks.positive("max-radius", max_radius)
        ps = checks.sigma_grid(
            "param-sigmas", _parse_floats(param_sigmas, "param-sigmas"), allow_zero=False
        )
        acs = checks.sigma_grid(
            "action-sigmas", _parse_floats(action_sigmas, "action-sigmas"), allow_zero=False
        )
        t = _load_task(task)
        pol, theta = _load_policy(t, policy, seed)
        n_radii = 41  # uncertainty_experiment's default
        checks.fits_in_memory(
            "directions",
            directions,
            8 * 2 * (directions * n_radii + directions) * pol.n_params,
            f"{directions} × {n_radii} radii × {pol.n_params} parameters of float64 points",
        )
        check_memory(t, directions * n_radii, episodes)
        check_memory(t, samples, episodes, field="samples")
        _prepare_out(out, resume, force)
        with console.status("measuring", spinner="dots") as status:
            report = theory.uncertainty_experiment(
                t,
                pol,
                theta,
                drop=drop,
                n_directions=directions,
                max_radius=max_radius,
                param_sigmas=ps,
                action_sigmas=acs,
                samples=samples,
                episodes=episodes,
                seed=seed,
                progress=lambda msg: status.update(f"measuring: {msg}"),
            )
    except _input_errors() as exc:
        fail(str(exc))
    summary = {"task": t.name, "policy": policy, "command": command_line(), **report.summary()}
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
        figures.uncertainty(report, out / "uncertainty.png")
        _write_json(out / "uncertainty.json", summary)
        console.print(f"Wrote uncertainty.png and uncertainty.json to {out}")


@app.command()
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
    from mollify.core.evaluation import check_memory
    from mollify.core.evaluation import evaluate as run_eval
    from mollify.instruments import roughness as rough
    from mollify.util import checks

    n_radii = 10
    try:
        values = checks.sigma_grid("sigmas", _parse_floats(sigmas, "sigmas"), allow_zero=True)
        checks.count("directions", directions, minimum=4)
        checks.count("episodes", episodes)
        if steps is not None:
            checks.count("steps", steps)
        t = _load_task(task)
        pol, theta = _load_policy(t, policy, seed)
        rough.check_holder_memory("directions", directions, n_radii, pol.n_params)
        check_memory(t, directions * n_radii + 1, episodes)
        _prepare_out(out_dir, resume, force)
    except _input_errors() as exc:
        fail(str(exc))
    theta = np.asarray(theta, np.float64)
    scale = float(np.linalg.norm(theta))
    radii = np.geomspace(1e-4, 1e-1, n_radii) * scale
    out = {"task": t.name, "policy": policy, "command": command_line(), "radii": radii.tolist()}
    out["holder"] = {}
    bar, update = _progress(f"roughness {t.name}")
    with bar:
        for i, s in enumerate(values):

            def j_sigma(points, s=s):
                res = run_eval(t, pol, points, sigma=s, episodes=episodes, seed=seed)
                return res.discounted.mean(axis=1)

            est = rough.holder_exponent(
                j_sigma, theta, radii=radii, n_directions=directions, seed=seed
            )
            out["holder"][s] = {"alpha": est.alpha, "ci_low": est.ci_low, "ci_high": est.ci_high}
            update(i + 1, len(values) + 1)
        try:
            lam = rough.lyapunov_exponent(
                t, pol, theta, seed=seed, **({"steps": steps} if steps else {})
            )
        except _input_errors() as exc:
            lam, out["lyapunov_error"] = float("nan"), str(exc)
        update(len(values) + 1, len(values) + 1)
    out["lyapunov"] = lam
    out["gamma"] = t.gamma
    if math.isfinite(lam):
        pred = rough.predicted_holder_exponent(lam, t.gamma)
        out["predicted_holder"], out["predicted_nontrivial"] = pred.alpha, pred.nontrivial
    if out_dir is not None:
        _write_json(out_dir / "roughness.json", out)
    if json_out:
        typer.echo(json.dumps(out, default=_jsonable))
        return
    table = Table(
        title=f"{t.name}: Hölder exponent of J_σ at θ (radii {radii[0]:.2g}–{radii[-1]:.2g})"
    )
    for col in ("σ", "α", "95% CI"):
        table.add_column(col)
    for s, h in out["holder"].items():
        table.add_row(f"{s:g}", f"{h['alpha']:.3f}", f"[{h['ci_low']:.3f}, {h['ci_high']:.3f}]")
    console.print(table)
    if math.isfinite(lam):
        regime = "λ > −log γ: J is Hölder with" if out["predicted_nontrivial"] else "λ ≤ −log γ:"
        console.print(
            f"Lyapunov exponent λ = {lam:.4g} per step; −log γ = {-math.log(t.gamma):.4g}; "
            f"{regime} predicted exponent {out['predicted_holder']:.3g}"
        )
    else:
        reason = out.get("lyapunov_error", "no finite estimate")
        console.print(f"Lyapunov exponent: unavailable ({reason})")


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Output directory (created).")],
    task: Annotated[str, typer.Option(help="Built-in task name.")] = "pendulum",
    algo: Annotated[str, typer.Option(help="ppo, reinforce, es or npg.")] = "ppo",
    sigma: Annotated[float, typer.Option(help="σ (relative to the action half-range).")] = 0.3,
    sigma_mode: Annotated[str, typer.Option(help="fixed, learned or schedule.")] = "fixed",
    sigma_final: Annotated[float | None, typer.Option(help="schedule: final σ.")] = None,
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
    from mollify.util.io import OutputDirError, prepare_output_dir

    try:
        options = training.config.load_config_file(config) if config is not None else {}
        options |= {"sigma": sigma, "sigma_mode": sigma_mode, "schedule": schedule}
        options |= {"kernel": kernel, "seed": seed}
        if sigma_final is not None:
            options["sigma_final"] = sigma_final
        if steps is not None:
            options["total_steps"] = steps
        options.pop("task", None)
        options.pop("algo", None)
        cfg = training.default_config(task, algo, **options)
        t = cfg.make_task()
        cfg = training.train.resolve(cfg, t)
        training.make_algorithm(cfg, t)  # refuses unsupported task/algorithm pairs up front
        prepare_output_dir(out, resume=resume, force=force)
        if resume and (out / training.train.CHECKPOINT).exists():  # refuse a changed config now
            training.train.check_checkpoint_config(out / training.train.CHECKPOINT, cfg)
    except (*_input_errors(), training.ConfigError, TypeError, OutputDirError) as exc:
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
    except training.train.CheckpointError as exc:  # a damaged or foreign checkpoint
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


def _check_action_index(action_index: int, task) -> None:
    if not (0 <= action_index < task.action_dim):
        raise UsageFailure(
            f"action-index: must be in [0, {task.action_dim}) for task {task.name!r}, "
            f"got {action_index}"
        )


def _check_q_table_memory(task, n_actions: int, rows: int) -> None:
    """Q(s, ·) on n_actions actions: the action batch and returns (float64), the rollouts' states,
    and, for the heat table, `rows` μ values × n_actions Gaussian weights (three temporaries)."""
    from mollify.util import checks

    per_action = 8 * (task.action_dim + 2) + 4 * task.obs_dim + 8 * 3 * rows
    checks.fits_in_memory(
        "n-actions", n_actions, per_action * n_actions, f"{n_actions} actions of Q-table arrays"
    )


def _check_mc_memory(task, mc_samples: int) -> None:
    from mollify.util import checks

    per_sample = 8 * (task.action_dim + 2) + 4 * task.obs_dim
    checks.fits_in_memory(
        "mc-samples", mc_samples, per_sample * mc_samples, f"{mc_samples} rollouts' arrays"
    )


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


@app.command()
def sweep(
    out: Annotated[
        Path,
        typer.Option(help="Sweep directory (created; an existing one needs --resume/--force)."),
    ],
    config: Annotated[Path | None, typer.Option(help="sweep.toml ([sweep] and [options]).")] = None,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task names.")] = None,
    algos: Annotated[
        str | None, typer.Option(help="ppo, reinforce, es, npg (comma-separated).")
    ] = (None),
    sigmas: Annotated[str | None, typer.Option(help="σ grid, comma-separated.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds 0..N-1 per cell.")] = None,
    kernels: Annotated[str | None, typer.Option(help="gaussian, laplace, uniform (ES only).")] = (
        None
    ),
    sigma_modes: Annotated[str | None, typer.Option(help="fixed, learned, schedule.")] = None,
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
    from mollify.training import ConfigError

    try:
        spec = sweep_lib.load_spec(config) if config is not None else sweep_lib.make_spec()
        overrides = {
            "tasks": _split(tasks),
            "algos": _split(algos),
            "sigmas": _parse_floats(sigmas, "sigmas") if sigmas is not None else None,
            "kernels": _split(kernels),
            "sigma_modes": _split(sigma_modes),
        }
        kw = {k: v for k, v in overrides.items() if v is not None}
        if seeds is not None:
            if seeds < 1:
                raise UsageFailure(f"seeds: must be >= 1, got {seeds}")
            kw["seeds"] = tuple(range(seeds))
        if steps is not None:
            if steps < 1:
                raise UsageFailure(f"steps: must be >= 1, got {steps}")
            kw["steps"] = {"*": steps}
        spec = dataclasses.replace(spec, **kw).validate()
        if ray_address is not None and ray_local:
            raise UsageFailure("ray-address: give either --ray-address or --ray-local, not both")
        _prepare_out(out, resume, force)
    except (*_input_errors(), ConfigError, TypeError) as exc:
        fail(str(exc))
    engine = "ray" if (ray_local or ray_address) else "local"
    bar, update = _progress(f"sweep ({engine})")
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
            for col in ("σ", "mean", "95% CI (bootstrap over seeds)", "seeds"):
                table.add_column(col)
            for p in curve["points"]:
                table.add_row(
                    f"{p['sigma']:g}",
                    f"{p['mean']:.2f}",
                    f"[{p['ci_low']:.2f}, {p['ci_high']:.2f}]",
                    str(p["n"]),
                )
            console.print(table)
            tied = ", ".join(f"{s:g}" for s in curve["indistinguishable_from_best"]) or "none"
            console.print(
                f"  best σ = {curve['best_sigma']:g}; not distinguishable from it: {tied}; "
                f"inverted U: {'yes' if curve['inverted_u'] else 'no'}"
            )


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A directory of mollify results.")],
) -> None:
    """One self-contained report.html (figures embedded) and report.md from DIR's results."""
    from mollify.study import report as report_lib

    try:
        html_path, md_path = report_lib.build(directory)
    except (*_input_errors(), OSError) as exc:
        fail(str(exc))
    console.print(f"Wrote {html_path} and {md_path}")


@app.command()
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
) -> None:
    """The whole study: landscapes, theory checks, σ sweeps, kernels, then the report."""
    from mollify.study.reproduce import run_study

    try:
        _prepare_out(out, resume, force)
    except _input_errors() as exc:
        fail(str(exc))
    html_path = run_study(
        out, quick, lambda msg: console.print(f"[bold cyan]{msg}[/]"), resume=resume
    )
    seconds = float((out / "wall_time.txt").read_text())
    console.print(f"Study finished in {seconds:.0f} s. Report: {html_path.resolve()}")


def main() -> None:  # pragma: no cover - thin wrapper for `python -m mollify`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
