"""Roughness: a Gaussian policy mollifies a rough landscape; the predecessor paper's Hölder bound.

(Rules as of the second wave; being rewritten to compare matched scales.)
- mollification: the Hölder exponent's 95 % CI at the largest σ lies above the one at σ = 0
  (contradicted when it lies below);
- Hölder bound (−log γ/λ when λ > −log γ): holds only when the whole CI of the measured α at
  σ = 0 clears the bound; contradicted when the whole CI lies below it.
"""

from __future__ import annotations

import math
from pathlib import Path

from mollify.study.verdicts import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    TEST,
    Row,
    g,
    load,
    three_way,
)


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("roughness.json")):
        r = load(path)
        out += [row for row in (_mollifies(r), _holder_bound(r)) if row is not None]
    return out


def _alpha_text(s: str, h: dict) -> str:
    return f"α(σ={float(s):g}) = {g(h['alpha'])} [{g(h['ci_low'])}, {g(h['ci_high'])}]"


def _mollifies(r: dict) -> Row | None:
    measured = {s: h for s, h in r["holder"].items() if not h.get("note")}
    if "0.0" not in measured or len(measured) < 2:
        return None
    raw = measured["0.0"]
    top = measured[max(measured, key=float)]
    if top["ci_low"] > raw["ci_high"]:
        verdict = HOLDS
    elif top["ci_high"] < raw["ci_low"]:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    middle = "; ".join(_alpha_text(s, h) for s, h in measured.items() if s != "0.0")
    text = f"{r['task']} ({r.get('start', 'random')} start): {_alpha_text('0', raw)}; {middle}"
    claim = "A Gaussian policy mollifies a rough landscape: J_σ is smoother than J"
    return Row(TEST, claim, text, verdict, r.get("command") or "mollify roughness")


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
