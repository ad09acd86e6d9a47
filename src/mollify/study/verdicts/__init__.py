"""Verdict rules: what each of the paper's claims must show in a study directory to hold.

Two kinds of rows, kept apart everywhere they are shown:
- **tests** (`TEST`): the data could have said no. Verdict `holds`, `contradicted` or
  `inconclusive`; a rule that cannot come out `contradicted` on some possible data is not a test.
- **checks of the implementation** (`CHECK`): identities that hold by construction (a Gaussian
  convolution solves the heat equation; an FFT inverts what it amplified). They show that the code
  computes what it says; they are never counted as the paper's claims holding. Verdict `passes` or
  `fails`.

One module per claim family, each exposing `rows(root) -> list[Row]` and stating its rule in its
docstring. Pre-registration: `REGISTER` below records, for every rule, the commit that fixed it
and the data it had seen; a rule changed after data is listed with that data (see `REGISTER`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

TEST, CHECK = "test", "check"
HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"
PASSES, FAILS = "passes", "fails"


@dataclass(frozen=True)
class Row:
    """One line of the claims table."""

    kind: str  # TEST or CHECK
    claim: str  # the paper's statement (tests) or the identity checked (checks)
    measurement: str  # the numbers, with CIs where they exist, and why there is no number
    verdict: str  # HOLDS / CONTRADICTED / INCONCLUSIVE for tests, PASSES / FAILS for checks
    command: str  # the command that made the evidence

    def __post_init__(self):
        allowed = (HOLDS, CONTRADICTED, INCONCLUSIVE) if self.kind == TEST else (PASSES, FAILS)
        if self.kind not in (TEST, CHECK) or self.verdict not in allowed:
            raise ValueError(f"verdict: {self.kind} rows take {allowed}, got {self.verdict!r}")

    def cells(self) -> list[str]:
        return [self.claim, self.measurement, self.verdict, self.command]


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def g(x, digits: int = 3) -> str:
    """A number for a table cell; a missing one as '—'."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


def ci_text(est: float | None, lo: float | None, hi: float | None, digits: int = 3) -> str:
    return f"{g(est, digits)} [{g(lo, digits)}, {g(hi, digits)}]"


def three_way(lo: float | None, hi: float | None, bound: float, *, above: bool = True) -> str:
    """HOLDS when the whole CI clears `bound` on the predicted side, CONTRADICTED when the whole CI
    lies on the other side, INCONCLUSIVE when it straddles (or is missing)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    if (lo > bound) if above else (hi < bound):
        return HOLDS
    if (hi < bound) if above else (lo > bound):
        return CONTRADICTED
    return INCONCLUSIVE
