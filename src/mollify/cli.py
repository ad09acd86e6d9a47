"""The `mollify` command line (Typer + Rich).

Every command answers bad input with one line on stderr naming the field, and exit code 2.
"""

from __future__ import annotations

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


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _input_errors():
    from mollify.noise import NoiseError
    from mollify.policies import PolicyError
    from mollify.tasks import TaskError

    return (TaskError, NoiseError, PolicyError, UsageFailure, ValueError)


def _load_task(name: str):
    from mollify import tasks

    return tasks.make(name)


def _load_policy(task, spec: str, seed: int):
    import jax

    from mollify.policies import load_policy, make_policy

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
    from mollify.evaluation import evaluate as run_eval
    from mollify.noise import check_kernel, check_sigma

    try:
        if episodes < 1:
            raise UsageFailure(f"episodes: must be >= 1, got {episodes}")
        t = _load_task(task)
        check_kernel(kernel)
        check_sigma(sigma, t.action_dim)
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
    from mollify.bench import run_bench

    result = run_bench(quick=quick)
    text = json.dumps(result, indent=2)
    if json_path is not None:
        from mollify.io import atomic_write_text

        atomic_write_text(json_path, text + "\n")
    typer.echo(text)


def main() -> None:  # pragma: no cover - thin wrapper for `python -m mollify`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
