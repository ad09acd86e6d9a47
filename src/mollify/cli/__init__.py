"""The `mollify` command line (Typer + Rich): one module per command group, each command parsing
its options, validating them through the library's own checks, calling one library function and
printing what it returns.

Every command answers bad input with one line on stderr naming the field, and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from mollify.cli import advise, evaluate, landscape, roughness, study, theory, train

app = typer.Typer(
    help="Measure how exploration noise mollifies policy landscapes (Wang, Herbert, Gao 2024).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(evaluate.tasks)
app.command()(evaluate.evaluate)
app.command()(study.bench)
app.command()(landscape.landscape)
app.add_typer(theory.theory_app, name="theory")
app.command()(roughness.roughness)
app.command()(train.train)
app.command()(study.sweep)
app.command()(study.report)
app.command()(study.reproduce)
app.command()(advise.advise)


def main() -> None:  # pragma: no cover - thin wrapper for `python -m mollify`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
