"""Heat equation: policy gradient at fixed σ ascends u(μ, t = σ²).

Check of the implementation (an identity), per heat.json: u built from the tabulated Q(s, ·) by
Gaussian convolution satisfies u_t = ½u_μμ; the finite-difference residual measures discretisation
only. Passes when max|u_t − ½u_μμ| < 1 % of max|u_t|.

Test, per gradient.json written with time factor 1 (`mollify theory gradient`): at each (state s,
σ) pair the score-function policy gradient g_A (sampled actions, their own noisy continuations) and
∂u/∂μ = g_B of the heat solution u(·, t = σ²) built from a Q^π_σ(s, ·) table (independent random
numbers) estimate the same number. z = (g_A − g_B)/√(se_A² + se_B²); n = the pairs with a z;
p = P(χ²_n > Σ z²). A pair is resolved on the heat side when |g_B| > 2 se_B, resolved when also
|g_A| > 2 se_A. Δu_A = u(μ_K, σ²) − u(μ_0, σ²) from the table along K steps of μ ← μ + η ĝ_A.
- CONTRADICTED when p < 0.001, or a resolved pair has sign(g_A) ≠ sign(g_B).
- HOLDS when p > 0.01, at least half of the n pairs (n ≥ 1) are resolved on the heat side, no
  resolved pair disagrees in sign, and Δu_A > 0 in more than half of the heat-resolved pairs that
  have an ascent (at least one such pair).
- INCONCLUSIVE otherwise (0.001 ≤ p ≤ 0.01, too few resolved pairs, no ascent, no z at all).
Fixed after one pilot (pendulum, init policy, 2 states × σ 0.1, 0.3, 1: p = 0.99, all resolved) and
before any full run.

Negative control, per gradient.json with time factor f ≠ 1 (u built at t = f·σ² from the same
kind of data): a CHECK that the rule above rejects the wrong time. Passes when it says
CONTRADICTED; fails otherwise (the data then lacks the power to tell t = σ² from f·σ²).
"""

from __future__ import annotations

import math
from pathlib import Path

from scipy.stats import chi2

from mollify.study.verdicts import (
    CHECK,
    CONTRADICTED,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    PASSES,
    TEST,
    Row,
    g,
    read_rows,
)

GRADIENT_CLAIM = (
    "The policy gradient at fixed σ is ∂u/∂μ of the heat solution u(μ, t = σ²) built from Q^π_σ"
)


def rows(root: Path) -> list[Row]:
    return read_rows(root, {"heat.json": _residual_check, "gradient.json": _gradient_row})


def _residual_check(h: dict) -> Row:
    ratio = h["residual_over_u_t"]
    text = (
        f"{h['task']}: max|u_t − ½u_μμ| = {g(ratio)} of max|u_t| on t = σ² ∈ "
        f"[{g(h['t_range'][0])}, {g(h['t_range'][1])}] (discretisation of a Gaussian convolution)"
    )
    claim = "u(μ, t) built from the Q table by Gaussian convolution solves u_t = ½u_μμ"
    verdict = PASSES if ratio < 0.01 else FAILS
    return Row(CHECK, claim, text, verdict, h.get("command") or "mollify theory heat")


def gradient_verdict(summary: dict) -> tuple[str, str]:
    """(verdict, measurement text) of the docstring's rule on a gradient.json summary."""
    pairs = summary["pairs"]
    z = [r["z"] for r in pairs if r.get("z") is not None]
    stat = sum(x * x for x in z)
    p = float(chi2.sf(stat, len(z))) if z else None
    heat_resolved = [r for r in pairs if r["resolved_B"]]
    disagree = [
        r
        for r in pairs
        if r["resolved_A"] and r["resolved_B"] and _sign(r["g_A"]) != _sign(r["g_B"])
    ]
    ascents = [r["ascent"] for r in heat_resolved if r["ascent"].get("delta_u_A") is not None]
    rises = sum(a["delta_u_A"] > 0 for a in ascents)
    if (p is not None and p < 0.001) or disagree:
        verdict = CONTRADICTED
    elif (
        p is not None
        and p > 0.01
        and 2 * len(heat_resolved) >= len(z)
        and ascents
        and 2 * rises > len(ascents)
    ):
        verdict = HOLDS
    else:
        verdict = INCONCLUSIVE
    ratios = sorted(r["ratio"] for r in heat_resolved if r.get("ratio") is not None)
    median = ratios[len(ratios) // 2] if ratios else None
    text = (
        f"{summary['task']} (t = {g(summary.get('time_factor', 1.0))}·σ², σ ∈ "
        f"{sorted({r['sigma'] for r in pairs})}): {len(z)} (state, σ) pairs, Σz² = {g(stat)}, "
        f"p = {g(p)}, max|z| = {g(max((abs(x) for x in z), default=None))}; "
        f"{len(heat_resolved)}/{len(pairs)} resolved (|g_B| > 2 SE), median g_A/g_B = {g(median)}; "
        f"{len(disagree)} sign disagreements; u rose along ĝ_A's ascent in {rises}/{len(ascents)}"
    )
    return verdict, text


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _gradient_row(summary: dict) -> Row:
    verdict, text = gradient_verdict(summary)
    command = summary.get("command") or "mollify theory gradient"
    factor = float(summary.get("time_factor", 1.0))
    if math.isclose(factor, 1.0):
        return Row(TEST, GRADIENT_CLAIM, text, verdict, command)
    claim = (
        f"Negative control: the gradient test rejects u built at the wrong time t = {factor:g}·σ²"
    )
    return Row(CHECK, claim, text, PASSES if verdict == CONTRADICTED else FAILS, command)
