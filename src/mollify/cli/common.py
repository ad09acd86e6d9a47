"""What every command shares: the one-line error with exit code 2, the recorded command line,
option types, comma-separated lists and the progress bar."""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


class UsageFailure(Exception):
    """Bad input the CLI itself detects (a malformed list); printed like the library's errors."""


def fail(message: str) -> None:
    """Print `error: <message>` as one line on stderr and exit with code 2."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code=2)


def input_errors() -> tuple[type[Exception], ...]:
    """Everything a command turns into a one-line error: the library's checks raise ValueError
    subclasses (InputError, TaskError, NoiseError, PolicyError, ConfigError, OutputDirError)."""
    return (UsageFailure, ValueError)


def command_line() -> str:
    """The running command with every option spelled out; recorded in its JSON for the report."""
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


def parse_floats(text: str, field: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageFailure(f"{field}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageFailure(f"{field}: expected at least one number")
    return values


def split_names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def progress_bar(description: str):
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


def prepare_out(out: Path | None, resume: bool, force: bool, field: str = "out") -> None:
    """Refuse an output directory that exists (without --resume/--force) or cannot be written.
    Called last in a command's checks, so a refused input leaves nothing behind."""
    from mollify.util.io import prepare_output_dir

    if out is None:
        if resume and force:
            raise UsageFailure(f"{field}: give either --resume or --force, not both")
        return
    prepare_output_dir(out, resume=resume, force=force, field=field)


def load_task_and_policy(task: str, policy: str, seed: int, check_task=None):
    """(Task, Policy, θ) for `--task` and `--policy`; `check_task(task)` runs the checks that need
    the task (sizes, memory) before the policy file is read."""
    from mollify import tasks
    from mollify.core.policies import policy_from_spec

    t = tasks.make(task)
    if check_task is not None:
        check_task(t)
    return (t, *policy_from_spec(t, policy, seed))


TaskOpt = Annotated[str, typer.Option(help="Task name, or gym:ENV_ID.")]
PolicyOpt = Annotated[str, typer.Option(help="'init' (random MLP from --seed) or a .npz file.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of directions, policy init, resets and noise.")]
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
