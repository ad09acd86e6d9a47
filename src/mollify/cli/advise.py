"""`mollify advise`."""

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
    console,
    fail,
    input_errors,
    prepare_out,
)


def advise(
    task: TaskOpt = "pendulum",
    policy: PolicyOpt = "init",
    budget: Annotated[
        int | None,
        typer.Option(help="Env steps the advice may spend (default: 1.5 training runs)."),
    ] = None,
    train_steps: Annotated[
        int | None,
        typer.Option(
            help="Env steps of the training the advice is for (default: the task's budget in "
            "the default study; 300000 for gym: tasks)."
        ),
    ] = None,
    probes: Annotated[
        str, typer.Option(help="full, or half (every probe with half its samples).")
    ] = "full",
    seed: SeedOpt = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Also write advice.json here.")
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Recommend a fixed σ for PPO before training: the smallest σ that reaches a good region in
    the budget and sees a smooth J_σ, the largest that does not erase it, measured by a pilot run
    and three probes."""
    from mollify import tasks
    from mollify.study import advisor
    from mollify.util.io import dumps

    try:
        advisor.check_options(budget, train_steps, probes)
        t = tasks.make(task)
        if policy != "init":
            from mollify.core.policies import load_policy

            load_policy(policy, t)  # a bad file is refused before anything runs
        prepare_out(out_dir, resume, force)
    except input_errors() as exc:
        fail(str(exc))
    with console.status(f"advise {t.name}") as status:
        result = advisor.advise(
            t,
            policy,
            seed=seed,
            budget=budget,
            train_steps=train_steps,
            probes=probes,
            progress=lambda msg: status.update(f"advise {t.name}: {msg}"),
        )
    if out_dir is not None:
        advisor.write(result, out_dir)
    if json_out:
        typer.echo(dumps(result.to_dict()))
        return
    ev = result.evidence
    table = Table(title=f"{t.name}: σ for PPO with {result.train_steps} training env steps")
    for col in ("probe", "bound", "measured"):
        table.add_column(col)
    for name, key, what in (
        ("reach", "reach", "low"),
        ("smooth at one update", "smooth", "low"),
        ("erase the good region", "erase", "high"),
    ):
        s = ev[key].get("sigma")
        text = f"σ = {s:.3g}" if s is not None else ev[key].get("reason", "not measured")
        table.add_row(name, what, escape(text))
    console.print(table)
    console.print(
        f"recommended σ = {result.sigma:.3g}, interval [{result.low:.3g}, {result.high:.3g}], "
        f"{result.env_steps} env steps of {result.budget} ({result.seconds:.0f} s)"
    )
    console.print(escape(result.rule))
    if not result.measured:
        console.print("No bound was measured: the recommendation is the probed range's midpoint.")
