"""Backward heat: shrinking σ runs the heat equation backwards, which is ill-posed.

Check of the implementation (an identity): the FFT-based forward and backward solvers amplify an
injected perturbation at frequency ξ by e^{Tξ²/2}; passes when the measured amplification matches
the formula to 5 % on every frequency above rounding.
"""

from __future__ import annotations

from pathlib import Path

from mollify.study.verdicts import CHECK, FAILS, PASSES, Row, g, load


def rows(root: Path) -> list[Row]:
    out = []
    for path in sorted(Path(root).rglob("backward.json")):
        out.append(_fft_check(load(path)))
    return out


def _fft_check(b: dict) -> Row:
    err = b["max_rel_error_valid"]
    text = (
        f"{b['task']}: from T = {g(b['T'])}, {b['n_valid_frequencies']} frequencies amplified as "
        f"e^(Tξ²/2) to {g(err)} (up to {g(b['max_predicted_valid'])}×)"
    )
    claim = "The backward solver amplifies frequency ξ by e^(Tξ²/2)"
    verdict = PASSES if err is not None and err < 0.05 else FAILS
    return Row(CHECK, claim, text, verdict, b.get("command") or "mollify theory backward")
