"""The claims table: the paper's claims against what a study directory measured.

Rows come from the verdict rules in `mollify.study.verdicts`, one module per claim family; each
states its rule in its docstring. Two sections, kept apart: **tests** (the data could have said
no: holds, contradicted, inconclusive) and **checks of the implementation** (identities: passes or
fails, never counted as a claim holding).
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import CHECK, TEST, Row, backward, heat, roughness, sweeps, uncertainty

HEADER = ["claim (paper)", "our measurement", "verdict", "command"]
CHECK_HEADER = ["identity checked", "our measurement", "verdict", "command"]
FAMILIES = (heat, backward, roughness, sweeps, uncertainty)


def rows(root: str | Path) -> list[Row]:
    """Every row `root` holds evidence for (claims without evidence are left out)."""
    return [row for family in FAMILIES for row in family.rows(Path(root))]


def tests(root: str | Path) -> list[Row]:
    return [r for r in rows(root) if r.kind == TEST]


def checks(root: str | Path) -> list[Row]:
    return [r for r in rows(root) if r.kind == CHECK]


def claims(root: str | Path) -> list[list[str]]:
    """The tests' rows as table cells (claim, measurement, verdict, command)."""
    return [r.cells() for r in tests(root)]


def cell(text) -> str:
    """A markdown table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


def table(rows: list, header: list[str] = HEADER) -> str:
    """Rows (Row or cell lists) as a Markdown table."""
    cells = [r.cells() if isinstance(r, Row) else r for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r[:3]) + f" | `{r[3]}` |" for r in cells]
    return "\n".join(lines) + "\n"


def markdown(rows: list) -> str:
    """Both sections: tests first, then the checks of the implementation (never counted as the
    paper's claims holding)."""
    rows = [r if isinstance(r, Row) else Row(TEST, *r) for r in rows]
    t = [r for r in rows if r.kind == TEST]
    c = [r for r in rows if r.kind == CHECK]
    out = "### Tests (the data could have said no)\n\n" + (table(t) if t else "No test rows.\n")
    if c:
        out += (
            "\n### Checks of the implementation (identities: they test the code, not the claim)"
            "\n\n" + table(c, CHECK_HEADER)
        )
    return out
