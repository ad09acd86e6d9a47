"""Sweeps (resume, atomic run directories, engines), statistics, the report in a real browser."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mollify.cli import app
from mollify.study import stats, sweep
from mollify.training import ConfigError

runner = CliRunner()
TINY = {"eval_episodes": 4, "eval_every": 1}


def _tiny_spec(**kw):
    base = {"tasks": ["pendulum"], "sigmas": [0.03, 0.3], "seeds": 2, "steps": 8192}
    return sweep.make_spec(**(base | kw), options=TINY)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    sweep.run_sweep(_tiny_spec(), out)
    return out


def test_sweep_writes_one_directory_per_seed_and_a_summary(tiny_sweep):
    rows = sweep.read_summary(tiny_sweep / "summary.csv")
    assert [(r["sigma"], r["seed"]) for r in rows] == [(0.03, 0), (0.03, 1), (0.3, 0), (0.3, 1)]
    for r in rows:
        assert r["env_steps"] == 8192 and np.isfinite(r["final_deterministic"])
        assert r["final_deterministic"] < 0 and r["wall_time"] > 0
    run = tiny_sweep / "runs/pendulum/ppo/gaussian/fixed/sigma=0.3/seed=1"
    for name in ("config.json", "metrics.csv", "policy.npz", "row.json", "learning_curve.png"):
        assert (run / name).exists()
    assert json.loads((run / "config.json").read_text())["sigma"] == 0.3
    assert not list(tiny_sweep.rglob(".*tmp*")), "no temp directory left behind"
    st = json.loads((tiny_sweep / "stats.json").read_text())
    assert set(st) == {"pendulum / ppo / gaussian / fixed"}


def test_rerun_skips_finished_seeds_and_redoes_missing_ones(tiny_sweep):
    run = tiny_sweep / "runs/pendulum/ppo/gaussian/fixed/sigma=0.03/seed=1"
    kept = tiny_sweep / "runs/pendulum/ppo/gaussian/fixed/sigma=0.3/seed=0/row.json"
    before = kept.stat().st_mtime_ns
    old_row = json.loads((run / "row.json").read_text())
    shutil.rmtree(run)  # an interrupted sweep: this seed never finished
    assert [(c.sigma, s) for c, s in sweep.pending(_tiny_spec(), tiny_sweep)] == [(0.03, [1])]
    sweep.run_sweep(_tiny_spec(), tiny_sweep)
    assert kept.stat().st_mtime_ns == before  # finished seeds are not rerun
    new_row = json.loads((run / "row.json").read_text())
    assert new_row["final_deterministic"] == old_row["final_deterministic"]  # same seed, same run
    assert sweep.pending(_tiny_spec(), tiny_sweep) == []


def test_cli_resume_keeps_finished_seeds_and_force_redoes_them(tiny_sweep, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(tiny_sweep, out)
    rows = (out / "summary.csv").read_text()
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        '[sweep]\ntasks = ["pendulum"]\nsigmas = [0.03, 0.3]\nseeds = 2\nsteps = 8192\n'
        "[options]\n" + "".join(f"{k} = {v!r}\n" for k, v in TINY.items())
    )
    res = runner.invoke(app, ["sweep", "--config", str(toml), "--out", str(out)])
    assert res.exit_code == 2 and "--resume" in res.stderr  # an existing sweep is not rerun blindly
    res = runner.invoke(app, ["sweep", "--config", str(toml), "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "summary.csv").read_text() == rows  # every seed was finished: nothing rerun
    spec = sweep.load_spec(toml)
    assert sweep.pending(spec, out) == []
    assert sum(len(s) for _, s in sweep.pending(spec, out, force=True)) == 4  # --force: all


def test_sweep_toml_and_bad_values(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[sweep]\ntasks = ["pendulum", "double_pendulum"]\nalgos = ["ppo", "es"]\n'
        'sigmas = [0.1, 1]\nseeds = [3, 4]\nkernels = ["gaussian", "uniform"]\n'
        "[sweep.steps]\npendulum = 1000\n[options]\neval_episodes = 2\n"
    )
    spec = sweep.load_spec(path).validate()
    assert spec.seeds == (3, 4) and spec.steps_for("pendulum") == 1000
    cells = spec.cells()
    # uniform has no score function: it only pairs with ES
    assert {(c.algo, c.kernel) for c in cells} == {
        ("ppo", "gaussian"),
        ("es", "gaussian"),
        ("es", "uniform"),
    }
    assert len(cells) == 2 * 3 * 2
    es_cell = next(c for c in cells if c.algo == "es")
    assert es_cell.config().es_sigma == es_cell.sigma  # ES's σ is its parameter noise
    with pytest.raises(ConfigError, match="sigmas"):
        _tiny_spec(sigmas=[0.1, -1]).validate()
    with pytest.raises(ConfigError, match="algos"):
        _tiny_spec(algos=["sac"]).validate()
    with pytest.raises(ValueError, match="task"):
        _tiny_spec(tasks=["pendulm"]).validate()
    path.write_text("[sweep]\ntask = ['pendulum']\n")
    with pytest.raises(ConfigError, match="task"):
        sweep.load_spec(path)


def test_sweep_cli_bad_input_is_one_line(tmp_path):
    res = runner.invoke(app, ["sweep", "--out", str(tmp_path / "x"), "--sigmas", "0.1,zero"])
    assert res.exit_code == 2
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and "sigmas" in lines[0]
    assert not (tmp_path / "x").exists()


def test_statistics_find_the_peak_and_the_inverted_u():
    rows = []
    for sigma, mean in ((0.01, -900), (0.1, -300), (0.3, -150), (1.0, -151), (3.0, -800)):
        for offset in (-6.0, -3.0, 0.0, 3.0, 6.0):
            rows.append({"sigma": sigma, "v": mean + offset})
    curve = stats.sigma_curve(rows, "v")
    assert curve["best_sigma"] == 0.3
    assert curve["indistinguishable_from_best"] == [1.0]
    assert curve["inverted_u"] is True and curve["u_verdict"] == "holds"
    assert curve["u_test"]["peak_sigma"] == 0.3 and curve["u_test"]["p_peak"] < 0.05 / 3
    monotone = [{"sigma": s, "v": 100 * s + k} for s in (0.01, 0.1, 0.3, 1, 3) for k in range(5)]
    assert stats.sigma_curve(monotone, "v")["u_verdict"] == "contradicted"
    mean, lo, hi = stats.bootstrap_mean_ci([1.0, 2.0, 3.0, 4.0])
    assert lo < mean == 2.5 < hi


@pytest.mark.slow  # the default suite's Ray run: test_crash_safety's killed-worker sweep
def test_ray_engine_gives_the_same_summary(tiny_sweep, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    sweep.run_sweep(_tiny_spec(), out, engine="ray")
    local = sweep.read_summary(tiny_sweep / "summary.csv")
    remote = sweep.read_summary(out / "summary.csv")
    for a, b in zip(local, remote, strict=True):
        for key in sweep.SUMMARY_FIELDS:
            if key != "wall_time":
                assert a[key] == b[key], key


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_is_self_contained_and_renders_in_headless_chromium(tiny_sweep, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(tiny_sweep, study / "sweep")
    res = runner.invoke(
        app,
        ["landscape", "--grid", "7", "--samples", "2", "--sigmas", "0,0.5", "--out",
         str(study / "landscape")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(study)])
    assert res.exit_code == 0, res.output
    page = (study / "report.html").read_text()
    assert "src='data:image/png;base64," in page and "<img" in page
    # No link out of the page; base64 image data is left out of the search (it can spell "http").
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page.split("<body>")[1])
    assert "src='report_files" not in page and "http" not in text
    md = (study / "report.md").read_text()
    assert "| quantity | value | command |" in md and "mollify landscape" in md
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (make test installs it where apt-get can)")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto((study / "report.html").resolve().as_uri())
        tab.wait_for_load_state("load")
        images = tab.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        shot = Path(os.environ.get("MOLLIFY_SCREENSHOT_DIR", tmp_path)) / "report_screenshot.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert len(images) >= 3 and all(ok and width > 100 for ok, width in images)
    assert shot.stat().st_size > 20_000


def test_report_of_an_empty_directory_is_a_one_line_error(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "no mollify results" in res.output
