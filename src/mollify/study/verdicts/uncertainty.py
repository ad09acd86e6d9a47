"""Uncertainty principle: too large a σ erases a good region narrower than σ.

Check of the implementation (not a test of the claim): for one optimum, the erasure σ and the
width w are read off the same radial profile, so σ/w is a geometric constant of that profile's
shape (≈ 1.4–1.6 for step, linear, Gaussian or exponential profiles). The row states the ratio as
what it is and passes when both numbers were measured.
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import CHECK, FAILS, PASSES, Row, g, load


def rows(root: Path) -> list[Row]:
    return [_one_profile(load(p)) for p in sorted(Path(root).rglob("uncertainty.json"))]


def _one_profile(u: dict) -> Row:
    claim = "One optimum's erasure σ over its width w (a constant of the profile's shape)"
    cmd = u.get("command") or "mollify theory uncertainty"
    head = (
        f"{u['task']}: J(θ*) = {g(u['J_star'], 4)} against a background of "
        f"{g(u['J_background'], 4)}, width w = {g(u['width_w'])}"
    )
    sigma, ratio = u.get("erasure_sigma_param"), u.get("erasure_over_width")
    if u["J_star"] <= u["J_background"] or sigma is None or ratio is None:
        why = u.get("erasure_notes", {}).get("erasure_sigma_param", "θ* not above its surroundings")
        return Row(CHECK, claim, f"{head}; no ratio: {why}", FAILS, cmd)
    text = f"{head}; half the advantage gone at parameter σ = {g(sigma)} (σ/w = {g(ratio, 2)})"
    return Row(CHECK, claim, text, PASSES, cmd)
