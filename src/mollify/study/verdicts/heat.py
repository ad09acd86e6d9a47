"""Heat equation: policy gradient at fixed σ ascends u(μ, t = σ²).

Check of the implementation (an identity): u built from the tabulated Q(s, ·) by Gaussian
convolution satisfies u_t = ½u_μμ; the finite-difference residual measures discretisation only.
Passes when max|u_t − ½u_μμ| < 1 % of max|u_t|.
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import CHECK, FAILS, PASSES, Row, g, load


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("heat.json")):
        out.append(_residual_check(load(path)))
    return out


def _residual_check(h: dict) -> Row:
    ratio = h["residual_over_u_t"]
    text = (
        f"{h['task']}: max|u_t − ½u_μμ| = {g(ratio)} of max|u_t| on t = σ² ∈ "
        f"[{g(h['t_range'][0])}, {g(h['t_range'][1])}] (discretisation of a Gaussian convolution)"
    )
    claim = "u(μ, t) built from the Q table by Gaussian convolution solves u_t = ½u_μμ"
    verdict = PASSES if ratio < 0.01 else FAILS
    return Row(CHECK, claim, text, verdict, h.get("command") or "mollify theory heat")
