"""Issue 7, item 1: the bad-input matrix. Every row is a bad input to one CLI command or public
function; each must be refused with one line naming the field and the value (exit code 2 on the
CLI), no traceback, and nothing left in the output directory."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mollify import make_policy, save_policy, tasks
from mollify.cli import app

runner = CliRunner()
HUGE = "10000000000000"  # 1e13: no machine holds the arrays this size needs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs shared by the rows: policy files good and bad, config files, directories."""
    d = tmp_path_factory.mktemp("inputs")
    pend = tasks.make("pendulum")
    pol = make_policy(pend)
    good = save_policy(d / "pendulum.npz", pol, np.full(pol.n_params, 0.01), "pendulum")
    dp = tasks.make("double_pendulum")
    dpol = make_policy(dp)
    save_policy(d / "double.npz", dpol, np.full(dpol.n_params, 0.01), "double_pendulum")
    (d / "random.npz").write_bytes(np.random.default_rng(0).bytes(300))
    (d / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (d / "bad.toml").write_text('[sweep]\ntasks = ["pendulum"\nsigmas = [0.1]\n')
    (d / "unknown_key.toml").write_text('[sweep]\ntasks = ["pendulum"]\nsigmaz = [0.1]\n')
    (d / "unknown_option.toml").write_text("[sweep]\nsigmas = [0.1]\n[options]\nlrr = 0.1\n")
    (d / "unknown_table.toml").write_text("[sweeps]\nsigmas = [0.1]\n")
    (d / "bad.json").write_text('{"sigma": 0.3,,}')
    (d / "unknown_key.json").write_text('{"sgma": 0.3}')
    (d / "a_file").write_text("not a directory\n")
    (d / "full").mkdir()
    (d / "full" / "keep.txt").write_text("earlier results\n")
    (d / "empty_study").mkdir()
    return d


def _fill(argv, files, out):
    return [a.format(d=files, out=out) for a in argv]


# (argv, substrings the one error line must hold). {d}: the inputs folder, {out}: a fresh path.
CLI_ROWS = [
    # evaluate
    (["evaluate", "--sigma", "-0.5"], ["sigma", "-0.5"]),
    (["evaluate", "--sigma", "nan"], ["sigma", "nan"]),
    (["evaluate", "--sigma", "inf"], ["sigma", "inf"]),
    (["evaluate", "--episodes", "0"], ["episodes", "0"]),
    (["evaluate", "--episodes", "-3"], ["episodes", "-3"]),
    (["evaluate", "--episodes", HUGE], ["episodes", HUGE, "memory"]),
    (["evaluate", "--task", "pendulm"], ["task", "pendulm", "did you mean 'pendulum'"]),
    (["evaluate", "--kernel", "gausian"], ["kernel", "gausian", "did you mean 'gaussian'"]),
    (["evaluate", "--policy", "{d}/missing.npz"], ["policy", "missing.npz", "not found"]),
    (["evaluate", "--policy", "{d}/random.npz"], ["policy", "random.npz", "corrupt"]),
    (["evaluate", "--policy", "{d}/truncated.npz"], ["policy", "truncated.npz", "corrupt"]),
    (["evaluate", "--policy", "{d}/double.npz"], ["policy", "double.npz", "'pendulum' needs"]),
    (["evaluate", "--policy", "{d}"], ["policy", "is a directory"]),
    (["evaluate", "--task", "gym:NoSuchEnv-v0"], ["task", "NoSuchEnv-v0", "is registered"]),
    (["evaluate", "--task", "gym:Pendulum-v9"], ["task", "Pendulum-v9", "'Pendulum-v1'"]),
    (["evaluate", "--task", "gym:CartPole-v1"], ["task", "CartPole-v1", "Discrete"]),
    (["evaluate", "--sigma", "abc"], ["--sigma", "Invalid value"]),  # Typer's type error
    # landscape
    (["landscape", "--sigmas", "0,-0.1"], ["sigmas", "-0.1"]),
    (["landscape", "--sigmas", "0,nan"], ["sigmas", "nan"]),
    (["landscape", "--sigmas", "0,inf"], ["sigmas", "inf"]),
    (["landscape", "--sigmas", "0,0.3,0.1"], ["sigmas", "0.1 after 0.3", "increasing"]),
    (["landscape", "--sigmas", "0,0.3,0.3"], ["sigmas", "0.3 after 0.3", "increasing"]),
    (["landscape", "--sigmas", "0,x"], ["sigmas", "0,x"]),
    (["landscape", "--grid", "0"], ["grid", "0"]),
    (["landscape", "--grid", "-5"], ["grid", "-5"]),
    (["landscape", "--grid", "100000"], ["grid", "100000", "TB", "memory"]),
    (["landscape", "--dims", "3"], ["dims", "3"]),
    (["landscape", "--extent", "nan"], ["extent", "nan"]),
    (["landscape", "--mode", "acton"], ["mode", "acton", "did you mean 'action'"]),
    (["landscape", "--kernel", "lapalce"], ["kernel", "lapalce", "did you mean 'laplace'"]),
    (["landscape", "--normalization", "layr"], ["normalization", "layr", "'layer'"]),
    (["landscape", "--samples", "0"], ["samples", "0"]),
    (["landscape", "--task", "pendulm"], ["task", "pendulm", "'pendulum'"]),
    (["landscape", "--policy", "{d}/double.npz"], ["policy", "double.npz"]),
    (["landscape", "--task", "gym:CartPole-v1"], ["task", "CartPole-v1", "Discrete"]),
    (["landscape", "--out", "{d}/full"], ["out", "full", "--resume", "--force"]),
    (["landscape", "--out", "{d}/a_file"], ["out", "a_file", "not a directory"]),
    (["landscape", "--out", "{d}/a_file/sub"], ["out", "a_file/sub", "is a file"]),
    (["landscape", "--resume", "--force"], ["out", "--resume or --force"]),
    (["landscape", "--start", "fixd"], ["start", "fixd", "did you mean 'fixed'"]),
    # roughness
    (["roughness", "--sigmas", "0,-1"], ["sigmas", "-1"]),
    (["roughness", "--sigmas", "0.3,0.1"], ["sigmas", "0.1 after 0.3"]),
    (["roughness", "--sigmas", "inf"], ["sigmas", "inf"]),
    (["roughness", "--directions", "2"], ["directions", "2"]),
    (["roughness", "--directions", HUGE], ["directions", HUGE, "memory"]),
    (["roughness", "--episodes", "0"], ["episodes", "0"]),
    (["roughness", "--steps", "-5"], ["steps", "-5"]),
    (["roughness", "--episodes", "1"], ["episodes", "1", ">= 2"]),
    (["roughness", "--start", "randm"], ["start", "randm", "did you mean 'random'"]),
    (["roughness", "--policy", "{d}/random.npz"], ["policy", "random.npz"]),
    (["roughness", "--out", "{d}/full"], ["out", "full", "--resume"]),
    # theory heat
    (["theory", "heat", "--sigma-min", "-0.1"], ["sigma-min", "-0.1"]),
    (["theory", "heat", "--sigma-min", "nan"], ["sigma-min", "nan"]),
    (["theory", "heat", "--sigma-max", "inf"], ["sigma-max", "inf"]),
    (["theory", "heat", "--sigma-max", "0.01"], ["sigma-max", "0.01"]),
    (["theory", "heat", "--n-actions", "0"], ["n-actions", "0"]),
    (["theory", "heat", "--n-actions", HUGE], ["n-actions", HUGE, "memory"]),
    (["theory", "heat", "--mc-samples", "1"], ["mc-samples", "1"]),
    (["theory", "heat", "--mc-samples", HUGE], ["mc-samples", HUGE, "memory"]),
    (["theory", "heat", "--action-index", "5"], ["action-index", "5"]),
    (["theory", "heat", "--task", "hoper_stand"], ["task", "hoper_stand", "'hopper_stand'"]),
    (["theory", "heat", "--out", "{d}/full"], ["out", "full", "--force"]),
    # theory backward
    (["theory", "backward", "--sigma", "-1"], ["sigma", "-1"]),
    (["theory", "backward", "--sigma", "nan"], ["sigma", "nan"]),
    (["theory", "backward", "--sigma", "inf"], ["sigma", "inf"]),
    (["theory", "backward", "--delta", "0"], ["delta", "0"]),
    (["theory", "backward", "--n-actions", "-1"], ["n-actions", "-1"]),
    (["theory", "backward", "--action-index", "-1"], ["action-index", "-1"]),
    (["theory", "backward", "--policy", "{d}/truncated.npz"], ["policy", "truncated.npz"]),
    (["theory", "backward", "--out", "{d}/full"], ["out", "full"]),
    # theory uncertainty
    (["theory", "uncertainty", "--drop", "1.5"], ["drop", "1.5"]),
    (["theory", "uncertainty", "--directions", "1"], ["directions", "1"]),
    (["theory", "uncertainty", "--directions", HUGE], ["directions", HUGE, "memory"]),
    (["theory", "uncertainty", "--samples", "1"], ["samples", "1"]),
    (["theory", "uncertainty", "--episodes", "0"], ["episodes", "0"]),
    (["theory", "uncertainty", "--max-radius", "-1"], ["max-radius", "-1"]),
    (["theory", "uncertainty", "--param-sigmas", "0.1,-1"], ["param-sigmas", "-1"]),
    (["theory", "uncertainty", "--param-sigmas", "1,0.1"], ["param-sigmas", "0.1 after 1"]),
    (["theory", "uncertainty", "--action-sigmas", "0,1"], ["action-sigmas", "0"]),
    (["theory", "uncertainty", "--action-sigmas", "nan"], ["action-sigmas", "nan"]),
    (["theory", "uncertainty", "--start", "nominal"], ["start", "nominal", "random, fixed"]),
    (["theory", "uncertainty", "--out", "{d}/full"], ["out", "full"]),
    # sweep
    (["sweep", "--sigmas", "0.1,-0.3"], ["sigmas", "-0.3"]),
    (["sweep", "--sigmas", "0.1,nan"], ["sigmas", "nan"]),
    (["sweep", "--sigmas", "inf"], ["sigmas", "inf"]),
    (["sweep", "--sigmas", "0.3,0.1"], ["sigmas", "0.1 after 0.3"]),
    (["sweep", "--sigmas", "0"], ["sigmas", "0", "> 0"]),
    (["sweep", "--tasks", "pendulm"], ["task", "pendulm", "'pendulum'"]),
    (["sweep", "--algos", "ppoo"], ["algos", "ppoo", "did you mean 'ppo'"]),
    (["sweep", "--kernels", "gausian"], ["kernel", "gausian", "'gaussian'"]),
    (["sweep", "--sigma-modes", "fixd"], ["sigma-modes", "fixd", "'fixed'"]),
    (["sweep", "--seeds", "0"], ["seeds", "0"]),
    (["sweep", "--steps", "-1"], ["steps", "-1"]),
    (["sweep", "--config", "{d}/bad.toml"], ["config", "bad.toml", "line 3"]),
    (["sweep", "--config", "{d}/unknown_key.toml"], ["sigmaz", "did you mean 'sigmas'"]),
    (["sweep", "--config", "{d}/unknown_option.toml"], ["lrr", "did you mean 'lr'"]),
    (["sweep", "--config", "{d}/unknown_table.toml"], ["sweeps", "did you mean 'sweep'"]),
    (["sweep", "--config", "{d}/missing.toml"], ["config", "missing.toml", "not found"]),
    (["sweep", "--out", "{d}/full"], ["out", "full", "--resume"]),
    (["sweep", "--out", "{d}/a_file/sub"], ["out", "a_file/sub", "cannot write"]),
    (["sweep", "--resume", "--force"], ["out", "--resume or --force"]),
    # report (writes into an existing study directory: exempt from --resume/--force)
    (["report", "{d}/missing"], ["directory", "missing", "not found"]),
    (["report", "{d}/a_file"], ["directory", "a_file", "not a directory"]),
    (["report", "{d}/empty_study"], ["directory", "empty_study", "no mollify results"]),
    # reproduce
    (["reproduce", "--out", "{d}/full"], ["out", "full", "--resume", "--force"]),
    (["reproduce", "--resume", "--force"], ["out", "--resume or --force"]),
    # bench
    (["bench", "--json", "{d}/a_file/bench.json"], ["json", "a_file/bench.json", "is a file"]),
    # train (its --out checks belong to the checkpoint work, issue 7 item 2)
    (["train", "--sigma", "-1"], ["sigma", "-1"]),
    (["train", "--sigma", "nan"], ["sigma", "nan"]),
    (["train", "--task", "pendulm"], ["task", "pendulm", "'pendulum'"]),
    (["train", "--config", "{d}/unknown_key.json"], ["sgma", "did you mean 'sigma'"]),
    (["train", "--config", "{d}/bad.json"], ["config", "bad.json", "JSON"]),
    (["train", "--config", "{d}/missing.json"], ["config", "missing.json", "not found"]),
]

CLI_ROWS += [
    # advise
    (["advise", "--budget", "5"], ["budget", "5", "at least"]),
    (["advise", "--budget", "-1"], ["budget", "-1"]),
    (["advise", "--train-steps", "10"], ["train-steps", "10"]),
    (["advise", "--probes", "quarter"], ["probes", "quarter", "full or half"]),
    (["advise", "--task", "pendulm"], ["task", "pendulm", "'pendulum'"]),
    (["advise", "--task", "gym:CartPole-v1"], ["task", "CartPole-v1", "Discrete"]),
    (["advise", "--policy", "{d}/random.npz"], ["policy", "random.npz", "corrupt"]),
    (["advise", "--policy", "{d}/double.npz"], ["policy", "double.npz", "'pendulum' needs"]),
    (["advise", "--out", "{d}/full"], ["out", "full", "--resume"]),
    (["advise", "--resume", "--force"], ["out", "--resume or --force"]),
    (["advise", "--budget", "abc"], ["--budget", "Invalid value"]),
    (["train", "--algo", "ppoo"], ["algo", "ppoo", "did you mean 'ppo'"]),
    (["train", "--kernel", "gausian"], ["kernel", "gausian", "did you mean 'gaussian'"]),
    (["train", "--sigma-mode", "fixd"], ["sigma-mode", "fixd", "did you mean 'fixed'"]),
]

OUT_COMMANDS = {"landscape", "sweep", "train", "reproduce", "roughness", "heat", "backward",
                "uncertainty", "advise"}  # fmt: skip


def _log(what: str, message: str, code) -> None:
    """With MOLLIFY_BAD_INPUT_LOG=FILE, append each row's input and message (for release notes)."""
    if path := os.environ.get("MOLLIFY_BAD_INPUT_LOG"):
        with open(path, "a") as fh:
            fh.write(f"{what}\t{message}\t{code}\n")


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv, needles", CLI_ROWS, ids=lambda v: " ".join(v)[:60])
def test_cli_bad_input(argv, needles, files, tmp_path):
    out = tmp_path / "out"
    argv = _fill(argv, files, out)
    command = argv[1] if argv[0] == "theory" else argv[0]
    if command in OUT_COMMANDS and "--out" not in argv:
        argv += ["--out", str(out)]
    before = _snapshot(files)
    res = runner.invoke(app, argv)
    err = res.stderr
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if err.startswith("error:"):
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        line = lines[0]
    else:  # Typer's usage-error block (a value of the wrong type)
        assert "Invalid value" in err, err
        line = " ".join(err.split())
    _log(" ".join(argv).replace(str(files), "D").replace(str(out), "OUT"), line, res.exit_code)
    for needle in needles:
        assert _fill([needle], files, out)[0] in line, (needle, line)
    assert not out.exists() or not any(out.rglob("*")), "a refused input left files behind"
    assert _snapshot(files) == before, "a refused input changed an existing directory"


@pytest.fixture(scope="module")
def pendulum():
    task = tasks.make("pendulum")
    pol = make_policy(task)
    return task, pol, np.full(pol.n_params, 0.01)


def _api_rows():
    import mollify
    from mollify import training
    from mollify.instruments import landscape as land

    quad = lambda x: (np.asarray(x) ** 2).sum(axis=-1)  # noqa: E731
    grid = np.linspace(-1, 1, 5)
    u = np.zeros((3, 5))

    def ev(**kw):
        return lambda task, pol, theta: mollify.evaluate(task, pol, theta, **kw)

    def cfg(**kw):
        return lambda *_: land.LandscapeConfig(**kw).validate()

    rows = [
        ("evaluate sigma<0", ev(sigma=-1.0), ["sigma", "-1"]),
        ("evaluate sigma nan", ev(sigma=math.nan), ["sigma", "nan"]),
        ("evaluate sigma inf", ev(sigma=math.inf), ["sigma", "inf"]),
        ("evaluate episodes 0", ev(episodes=0), ["episodes", "0"]),
        ("evaluate episodes huge", ev(episodes=10**13), ["episodes", str(10**13), "memory"]),
        ("evaluate kernel", ev(kernel="gausian"), ["kernel", "gausian", "'gaussian'"]),
        ("smooth sigma<0", lambda *_: mollify.smooth(quad, [0.0], -0.1), ["sigma", "-0.1"]),
        ("smooth sigma nan", lambda *_: mollify.smooth(quad, [0.0], math.nan), ["sigma", "nan"]),
        ("smooth n_samples", lambda *_: mollify.smooth(quad, [0.0], 0.1, n_samples=0),
         ["n_samples", "0"]),
        ("smooth kernel", lambda *_: mollify.smooth(quad, [0.0], 0.1, kernel="cauchy"),
         ["kernel", "cauchy"]),
        ("heat_solution t<0", lambda *_: mollify.heat_solution(quad, grid, [-1.0, 0.5]),
         ["t", "-1"]),
        ("heat_solution t inf", lambda *_: mollify.heat_solution(quad, grid, [0.0, math.inf]),
         ["t", "inf"]),
        ("heat_solution n_nodes", lambda *_: mollify.heat_solution(quad, grid, [0.1], n_nodes=0),
         ["n_nodes", "0"]),
        ("heat_residual t order", lambda *_: mollify.heat_residual(u, grid, [0.3, 0.2, 0.1]),
         ["t", "0.2 after 0.3"]),
        ("holder radii<0",
         lambda *_: mollify.holder_exponent(quad, [0.0], radii=[-1e-3, 1e-2, 1e-1]),
         ["radii", "-0.001"]),
        ("holder radii order",
         lambda *_: mollify.holder_exponent(quad, [0.0], radii=[1e-2, 1e-3, 1e-1]),
         ["radii", "0.001 after 0.01"]),
        ("holder n_directions huge",
         lambda *_: mollify.holder_exponent(quad, np.zeros(100), n_directions=10**12),
         ["n_directions", str(10**12), "memory"]),
        ("lyapunov steps<0", lambda t, p, th: mollify.lyapunov_exponent(t, p, th, steps=-3),
         ["steps", "-3"]),
        ("lyapunov n_starts 0", lambda t, p, th: mollify.lyapunov_exponent(t, p, th, n_starts=0),
         ["n_starts", "0"]),
        ("landscape grid 0", cfg(grid=0), ["grid", "0"]),
        ("landscape grid huge", cfg(grid=100000), ["grid", "100000", "memory"]),
        ("landscape sigmas order", cfg(sigmas=(0.0, 0.3, 0.1)), ["sigmas", "0.1 after 0.3"]),
        ("landscape sigma nan", cfg(sigmas=(0.0, math.nan)), ["sigmas", "nan"]),
        ("landscape mode", cfg(mode="parm"), ["mode", "parm", "'param'"]),
        ("compute_landscape sigma<0",
         lambda t, p, th: land.compute_landscape(t, p, th, land.LandscapeConfig(sigmas=(-1.0,))),
         ["sigmas", "-1"]),
        ("tasks.make", lambda *_: tasks.make("pendulm"), ["task", "pendulm", "'pendulum'"]),
        ("tasks.make gym discrete", lambda *_: tasks.make("gym:CartPole-v1"),
         ["task", "CartPole-v1", "Discrete"]),
        ("load_policy missing", lambda *_: mollify.load_policy("/no/such/p.npz"),
         ["policy", "/no/such/p.npz"]),
        ("default_config option", lambda *_: training.default_config("pendulum", sgma=0.3),
         ["sgma", "'sigma'"]),
        ("default_config task", lambda *_: training.default_config("pendulm"),
         ["task", "pendulm", "'pendulum'"]),
        ("default_config algo", lambda *_: training.default_config("pendulum", "ppoo"),
         ["algo", "ppoo", "'ppo'"]),
        ("default_config sigma", lambda *_: training.default_config("pendulum", sigma=-1.0),
         ["sigma", "-1"]),
        ("advise task", lambda *_: mollify.advise("pendulm"), ["task", "pendulm", "'pendulum'"]),
        ("advise budget", lambda *_: mollify.advise("pendulum", budget=5), ["budget", "5"]),
        ("advise budget type", lambda *_: mollify.advise("pendulum", budget=1e6),
         ["budget", "1000000.0", "integer"]),
    ]  # fmt: skip
    return [pytest.param(*r, id=r[0]) for r in rows]


@pytest.mark.parametrize("name, call, needles", _api_rows())
def test_api_bad_input(name, call, needles, pendulum):
    with pytest.raises(ValueError) as info:
        call(*pendulum)
    message = str(info.value)
    _log(name, f"{type(info.value).__name__}: {message}", "raises")
    assert "\n" not in message, message
    assert message.startswith(needles[0] + ":") or message.startswith("task:"), message
    for needle in needles:
        assert needle in message, (needle, message)


def test_api_load_policy_rows(files):
    from mollify import load_policy

    pend, dp = tasks.make("pendulum"), tasks.make("double_pendulum")
    for path, task, needle in [
        (files / "random.npz", pend, "corrupt"),
        (files / "truncated.npz", pend, "corrupt"),
        (files / "pendulum.npz", dp, "'double_pendulum' needs"),
    ]:
        with pytest.raises(ValueError) as info:
            load_policy(path, task)
        message = str(info.value)
        assert message.startswith("policy:") and str(path) in message and needle in message
        assert "\n" not in message


SUBPROCESS_ROWS = [
    (["landscape", "--grid", "100000", "--out", "{out}"], ["error: grid: 100000", "memory"]),
    (["evaluate", "--task", "gym:CartPole-v1"], ["error: task:", "CartPole-v1"]),
    (["sweep", "--config", "{d}/bad.toml", "--out", "{out}"], ["error: config:", "line 3"]),
]


@pytest.mark.parametrize("argv, needles", SUBPROCESS_ROWS, ids=lambda v: " ".join(v)[:40])
def test_subprocess_no_traceback(argv, needles, files, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "mollify", *_fill(argv, files, out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert _fill([needle], files, out)[0] in lines[0]
    assert not out.exists()
