"""Roughness: a Gaussian policy mollifies a rough landscape; the predecessor paper's Hölder bound.

Rules (fixed before the full run they judge), per roughness.json, read from its `matched` block:
α(J_σ) and α(J) (raw J, σ = 0, same start, same rays) fitted on the *same* radii, each with a 95 %
bootstrap CI, and their paired difference Δ = α(J_σ) − α(J) with its CI (directions resampled
jointly). SMOOTH = 0.8: an exponent at or above it counts as smooth. The σ judged is the largest
σ > 0 whose matched fit has numbers (largest: the claim predicts the clearest smoothing there, and
one σ fixed in advance is no pick among many); the other σ are listed beside it.

- **mollification at matched scales**, on the radii J_σ's α is fitted on (its 4 smallest resolved):
  holds when α(J_σ)'s CI lies wholly above α(J)'s (lower end > J's upper end) AND α(J)'s CI lies
  wholly below SMOOTH (J rough at those scales); contradicted when J_σ is no smoother than J
  there (Δ's CI at or below 0) or J is already smooth there (α(J)'s CI at or above SMOOTH: nothing
  rough to mollify at those scales); inconclusive otherwise, and when no σ > 0 has a matched fit
  (the row says why: J_σ not resolved above its Monte-Carlo noise, J flat, no matched block).
- **J_σ smooth below δ*(σ) where J is rough**, on the radii where J_σ is resolved and ≤ δ*(σ)
  (same σ): holds when α(J_σ)'s CI lies wholly at or above SMOOTH AND α(J)'s CI wholly below it;
  contradicted when J there is as smooth as J_σ (Δ's CI at or below 0, or α(J)'s CI at or above
  SMOOTH) or J_σ is rough below its own δ* (CI wholly below SMOOTH); inconclusive otherwise, and
  when δ*(σ) is not measured or J_σ is rough at every measured scale (δ* may lie below the noise).
- **Hölder bound** (−log γ/λ when λ > −log γ): holds only when the whole CI of the measured α at
  σ = 0 clears the bound; contradicted when the whole CI lies below it.
"""

from __future__ import annotations

import math
from pathlib import Path

from mollify.instruments.roughness import SMOOTH_ALPHA
from mollify.study.verdicts import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    TEST,
    Row,
    ci_text,
    g,
    load,
    three_way,
)

SMOOTH = SMOOTH_ALPHA  # 0.8: a local exponent at or above it counts as smooth
MATCHED = "A Gaussian policy mollifies a rough landscape: at the same scales J_σ is smoother than J"
BELOW = "J_σ is smooth below δ*(σ), where J at the same scales is rough"


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("roughness.json")):
        r = load(path)
        out += [row for row in (*_mollifies(r), _holder_bound(r)) if row is not None]
    return out


def _alpha_text(s: str, h: dict) -> str:
    return f"α(σ={float(s):g}) = {g(h['alpha'])} [{g(h['ci_low'])}, {g(h['ci_high'])}]"


def _has_fit(b: dict) -> bool:
    return b.get("alpha_sigma") is not None and b.get("alpha_raw") is not None


def _ci(b: dict, key: str) -> tuple[float, float] | None:
    ci = b.get(f"{key}_ci") or [None, None]
    return None if None in ci else (ci[0], ci[1])


def _radii(b: dict) -> str:
    r = b.get("radii_relative") or []
    return f"{g(r[0], 2)}–{g(r[-1], 2)} × ‖θ‖ ({len(r)} radii)" if r else "no radii"


def _pair_text(s: str, b: dict) -> str:
    if not _has_fit(b):
        return f"σ={float(s):g}: no matched fit ({b.get('note') or 'no numbers'})"
    return (
        f"σ={float(s):g} on {_radii(b)}: α(J_σ) = {ci_text(b['alpha_sigma'], *b['alpha_sigma_ci'])}, "
        f"α(J) = {ci_text(b['alpha_raw'], *b['alpha_raw_ci'])}, "
        f"Δ = {ci_text(b['difference'], *b['difference_ci'])}"
    )


def _judge(b: dict, *, below: bool) -> str:
    """The two rows' three-way rules (module docstring) on one block of matched numbers."""
    sig, raw, diff = _ci(b, "alpha_sigma"), _ci(b, "alpha_raw"), _ci(b, "difference")
    if sig is None or raw is None:
        return INCONCLUSIVE
    if (diff is not None and diff[1] <= 0) or raw[0] >= SMOOTH or (below and sig[1] < SMOOTH):
        return CONTRADICTED
    smoothed = sig[0] >= SMOOTH if below else sig[0] > raw[1]
    return HOLDS if smoothed and raw[1] < SMOOTH else INCONCLUSIVE


def _mollifies(r: dict) -> list[Row]:
    sigmas = [s for s in r.get("holder", {}) if float(s) > 0]
    if not sigmas:
        return []  # no σ > 0 measured: nothing to test
    cmd = r.get("command") or "mollify roughness"
    head = f"{r['task']} ({r.get('start', 'random')} start)"
    matched = r.get("matched")
    if not matched:
        why = (
            f"{head}: no matched-scale comparison in this roughness.json (rerun mollify roughness)"
        )
        return [
            Row(TEST, MATCHED, why, INCONCLUSIVE, cmd),
            Row(TEST, BELOW, why, INCONCLUSIVE, cmd),
        ]
    fits = [s for s in matched if _has_fit(matched[s])]
    if not fits:
        notes = "; ".join(_pair_text(s, b) for s, b in matched.items())
        why = f"{head}: no σ > 0 has a matched fit: {notes}"
        return [
            Row(TEST, MATCHED, why, INCONCLUSIVE, cmd),
            Row(TEST, BELOW, why, INCONCLUSIVE, cmd),
        ]
    top = max(fits, key=float)
    block, others = matched[top], [s for s in matched if s != top]
    rest = "; ".join(_pair_text(s, matched[s]) for s in others)
    rule = (
        f" (judged at the largest σ with a fit; holds when J_σ's CI lies above J's and J's below "
        f"{SMOOTH:g}, contradicted when Δ ≤ 0 or J's CI ≥ {SMOOTH:g})"
    )
    text = f"{head}: {_pair_text(top, block)}{rule}" + (f". Others: {rest}" if rest else "")
    first = Row(TEST, MATCHED, text, _judge(block, below=False), cmd)

    low = block.get("below_delta_star") or {}
    where = (
        f"δ*(σ={float(top):g}) = {low.get('delta_star_text') or g(low.get('delta_star_relative'))}"
    )
    if _has_fit(low):
        verdict = _judge(low, below=True)
        text = f"{head}: {where}; below it, {_pair_text(top, low)} (holds when J_σ's CI ≥ {SMOOTH:g} and J's < {SMOOTH:g})"
    else:
        verdict = INCONCLUSIVE
        text = f"{head}: {where}; no fit below it: {low.get('note') or 'no numbers'}"
    return [first, Row(TEST, BELOW, text, verdict, cmd)]


def _holder_bound(r: dict) -> Row | None:
    raw = r["holder"].get("0.0")
    lam, bound = r.get("lyapunov"), r.get("predicted_holder")
    if raw is None or raw.get("note") or lam is None or bound is None:
        return None
    claim = "Chaotic closed loops make J Hölder with exponent −log γ/λ (the predecessor paper)"
    cmd = r.get("command") or "mollify roughness"
    if not r.get("predicted_nontrivial"):
        text = f"{r['task']}: λ = {g(lam)} ≤ −log γ: the bound predicts a Lipschitz J"
        return Row(TEST, claim, text, INCONCLUSIVE, cmd)
    verdict = three_way(raw["ci_low"], raw["ci_high"], bound)
    text = (
        f"{r['task']}: λ = {g(lam)} per step > −log γ = {g(-math.log(r['gamma']))}; "
        f"bound −log γ/λ = {g(bound)}, measured {_alpha_text('0', raw)} (holds only when the "
        "whole CI clears the bound: J at least this smooth)"
    )
    return Row(TEST, claim, text, verdict, cmd)
