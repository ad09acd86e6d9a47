"""`mollify reproduce`: the whole study end to end. The default suite runs it at the hidden smoke
sizes (every step and the report, on work too small to mean anything); `--quick`, the smallest
study that shows the effects (an inverted U over σ), is checked in the slow suite."""

import json

import pytest
from typer.testing import CliRunner

from mollify.cli import app

PARTS = (
    "landscape/landscape.nc",
    "roughness/roughness.json",
    "theory/pendulum/heat.json",
    "theory/pendulum/backward.json",
    "theory/pendulum/backward_task.json",
    "theory/pendulum/gradient.json",
    "theory/scaling/uncertainty_scaling.json",
    "provenance.json",
    "theory/pendulum/uncertainty.json",
    "sigma_sweep/summary.csv",
    "slice/landscape.nc",
    "advice/validation.json",
    "report.html",
    "report.md",
)


_NON_STRICT = ("NaN", "Infinity")  # json.dumps writes these; strict JSON has no such words


@pytest.mark.long
def test_every_step_and_the_report_run_end_to_end(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "--smoke", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for part in PARTS:
        assert (tmp_path / part).exists(), part
    md = (tmp_path / "report.md").read_text()
    assert md.index("## The paper's claims, measured") < md.index("## Landscape")
    assert (tmp_path / "claims.md").exists() and "## Where the time went" in md
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings[0]["step"] == "Figure 6 analogue" and all(t["seconds"] >= 0 for t in timings)
    assert "mollify sweep --config" in md and "mollify advise --task pendulum" in md
    assert "nan" not in md  # even where tiny budgets leave a claim without a number
    # The verdict rules run on this real (tiny) data: tests and checks in their own sections,
    # every test row with a verdict, and every JSON strict.
    from mollify.study import claims

    tests, checks = claims.tests(tmp_path), claims.checks(tmp_path)
    families = {r.claim.split(":")[0] for r in tests}
    assert len(families) >= 5 and checks, families
    assert all(r.verdict in ("holds", "contradicted", "inconclusive") for r in tests)
    assert "## Checks of the implementation" in md
    bad = [p for p in tmp_path.rglob("*.json") if any(w in p.read_text() for w in _NON_STRICT)]
    assert not bad, bad


@pytest.mark.slow
def test_quick_study_produces_every_part_of_the_report(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for part in PARTS:
        assert (tmp_path / part).exists(), part
    stats = json.loads((tmp_path / "sigma_sweep/stats.json").read_text())
    curve = stats["pendulum / ppo / gaussian / fixed"]["deterministic"]
    assert curve["inverted_u"] and min(p["n"] for p in curve["points"]) >= 2
    assert not (tmp_path / "kernels").exists()  # ES learns nothing on the quick budget
    md = (tmp_path / "report.md").read_text()
    assert md.index("## The paper's claims, measured") < md.index("## Landscape")
    assert "| holds |" in md and (tmp_path / "claims.md").exists()
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings[0]["step"] == "Figure 6 analogue" and all(t["seconds"] >= 0 for t in timings)
    assert "## Where the time went" in md
    assert "mollify sweep --config" in md and "mollify theory heat" in md
    assert "The σ advisor against the PPO σ sweep" in md and "mollify advise --task pendulum" in md
    assert "nan" not in md
