"""Faults a long sweep meets in real life: the process SIGKILLed, a Ray worker killed. Nothing
finished is lost or recomputed, nothing half-written survives, and the numbers are the ones an
uninterrupted run gives."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mollify.cli import app
from mollify.study import sweep

SWEEP = ["sweep", "--tasks", "pendulum", "--algos", "ppo", "--sigmas", "0.1,0.3", "--seeds", "2",
         "--steps", "8192"]  # fmt: skip


def _rows(out: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("row.json")}


def _assert_every_file_reads(out: Path) -> None:
    """No half-written file: every JSON, CSV and NPZ under `out` parses in full."""
    for path in out.rglob("*"):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            np.genfromtxt(path, delimiter=",", names=True)
        elif path.suffix == ".npz":
            with np.load(path) as data:
                [data[k] for k in data.files]


def _same_summary(a: Path, b: Path) -> None:
    ra, rb = sweep.read_summary(a / "summary.csv"), sweep.read_summary(b / "summary.csv")
    assert len(ra) == len(rb) == 4
    for x, y in zip(ra, rb, strict=True):
        for key in sweep.SUMMARY_FIELDS:
            if key != "wall_time":
                assert x[key] == y[key], key


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same sweep, never interrupted."""
    out = tmp_path_factory.mktemp("reference")
    result = CliRunner().invoke(app, [*SWEEP, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_sweep_killed_with_sigkill_resumes_without_losing_or_redoing_work(reference, tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mollify", *SWEEP, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not list(out.rglob("row.json")):  # kill as soon as the first seed is on disk
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "no seed finished in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = _rows(out)
    assert 1 <= len(finished) < 4, "killed mid-run: some seeds done, not all"
    _assert_every_file_reads(out)
    for row in finished:  # a seed directory is complete or absent
        names = {p.name for p in row.parent.iterdir()}
        assert {"config.json", "metrics.csv", "policy.npz", "row.json"} <= names

    result = CliRunner().invoke(app, [*SWEEP, "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    after = _rows(out)
    assert len(after) == 4
    for row, (mtime, data) in finished.items():  # finished seeds were not recomputed
        assert after[row] == (mtime, data)
    assert not [p for p in out.rglob(f"{sweep.TMP_PREFIX}*")], "no temp directory left"
    _assert_every_file_reads(out)
    _same_summary(reference, out)


def _pids_titled(title: str) -> list[int]:
    """Processes whose title (Ray renames a worker after the task it runs) starts with `title`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(title.encode()):
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray workers through /proc")
@pytest.mark.long
def test_ray_worker_killed_mid_sweep_is_retried_and_gives_the_same_summary(reference, tmp_path):
    pytest.importorskip("ray")
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_worker():
        while not stop.is_set() and not killed:
            for pid in _pids_titled("ray::run_cell"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    out = tmp_path / "ray"
    try:
        spec = sweep.make_spec(tasks=["pendulum"], algos=["ppo"], sigmas=[0.1, 0.3], seeds=2,
                               steps=8192)  # fmt: skip
        sweep.run_sweep(spec, out, engine="ray")
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen running a cell"
    assert not [p for p in out.rglob(f"{sweep.TMP_PREFIX}*")], "no temp directory left"
    _assert_every_file_reads(out)
    _same_summary(reference, out)
