"""`mollify reproduce --quick`: the whole study end to end (slow; run with -m slow)."""

import json

import pytest
from typer.testing import CliRunner

from mollify.cli import app


@pytest.mark.slow
def test_quick_study_produces_every_part_of_the_report(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for part in (
        "landscape/landscape.nc",
        "roughness/roughness.json",
        "theory/pendulum/heat.json",
        "theory/pendulum/backward.json",
        "theory/pendulum/uncertainty.json",
        "sigma_sweep/summary.csv",
        "kernels/summary.csv",
        "advice/validation.json",
        "report.html",
        "report.md",
    ):
        assert (tmp_path / part).exists(), part
    stats = json.loads((tmp_path / "sigma_sweep/stats.json").read_text())
    assert "pendulum / ppo / gaussian / fixed" in stats
    kernels = json.loads((tmp_path / "kernels/stats.json").read_text())
    assert kernels == {} or all(v["algo"] == "es" for v in kernels.values())
    md = (tmp_path / "report.md").read_text()
    assert "mollify sweep --config" in md and "mollify theory heat" in md
    assert "The σ advisor against the PPO σ sweep" in md and "mollify advise --task pendulum" in md
    assert "nan" not in md
