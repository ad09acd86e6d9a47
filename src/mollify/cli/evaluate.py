"""`mollify tasks` and `mollify evaluate`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mollify.cli.common import console, fail, input_errors, load_task_and_policy
from mollify.util.io import dumps


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
    from mollify.core.noise import check_kernel, check_sigma
    from mollify.core.reporting import policy_returns
    from mollify.util import checks

    try:
        checks.count("episodes", episodes)
        check_kernel(kernel)
        check_sigma(sigma, 1)
        t, pol, theta = load_task_and_policy(
            task, policy, seed, lambda t: check_memory(t, 1, episodes)
        )
    except input_errors() as exc:
        fail(str(exc))
    with console.status(f"evaluating {t.name} ({episodes} episodes × 2)", spinner="dots"):
        out = policy_returns(
            t, pol, theta, sigma=sigma, kernel=kernel, episodes=episodes, seed=seed
        )
    if json_out:
        typer.echo(dumps(out))
        return
    table = Table(title=f"{t.name}: {episodes} episodes, seed {seed}, kernel {kernel}")
    columns = ("policy", "σ", "mean return ± 95% CI", "discounted ± 95% CI", "diverged†")
    for col in (*columns, "env-steps/s*"):
        table.add_column(col)
    for label, s in (("deterministic", 0.0), ("stochastic", sigma)):
        o = out[label]
        table.add_row(
            label,
            f"{s:g}",
            f"{o['mean_return']:.2f} ± {o['ci95']:.2f}",
            f"{o['mean_discounted_return']:.2f} ± {o['discounted_ci95']:.2f}",
            f"{o['diverged']} / {episodes}",
            f"{o['env_steps_per_s']:,.0f}",
        )
    console.print(table)
    console.print("* wall-clock rate of each call; the first call includes JIT compilation.")
    fr = out["failure_reward"]
    charge = "the lowest reward seen, capped at 0," if fr is None else f"{fr:g}"
    console.print(f"† episodes whose state diverged, charged {charge} per step left.")
