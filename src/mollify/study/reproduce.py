"""`mollify reproduce`: the whole study, then the report.

Each step calls the library function behind one `mollify` command and records that command's line
(every option the step sets), so the report's last table says, for every number, the command that
regenerates it. The default study fits in 60 minutes on 2 cores (measured 58 min 27 s; each
step's time goes to timings.json), `--quick` in 3 (106–142 s); budgets below, the README states them.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from mollify.training.config import STUDY_STEPS
from mollify.util.io import atomic_write_json, atomic_write_text

SIGMA_GRID = (0.01, 0.03, 0.1, 0.3, 1, 3)

STUDIES = {
    "full": {
        "landscape": {"grid": 101, "samples": 32, "sigmas": (0, 0.1, 0.3, 1)},
        "slice": {"grid": 401, "samples": 32, "sigmas": (0, 0.03, 0.1, 0.3)},
        "roughness": {"directions": 16, "episodes": 256, "sigmas": (0, 0.03, 0.1, 0.3, 1)},
        "theory_tasks": ("pendulum", "double_pendulum"),
        # The heat test: score-function gradient against ∂u/∂μ (4 states × 3 σ; `theory gradient`'s
        # defaults: 30 s on the pendulum, ≈ 3 min on the chaotic double pendulum).
        "gradient": {},
        "backward_task": "full",  # BackwardTaskConfig preset: 35 s pendulum, 85 s double pendulum
        "sweep_tasks": ("double_pendulum", "planar_quadrotor", "pendulum"),
        "sweep_sigmas": SIGMA_GRID,
        "seeds": 3,
        "steps": STUDY_STEPS,
        # hopper_stand on its own budget (2.5 M env steps a run, 2.5–3 min on 2 cores): PPO at
        # fixed σ (seed 0 at 2 M: σ 0.3 stays on the floor at 1.5, σ 1 reaches 96, σ 3 2.5),
        # and PPO with σ learned from 1 with and without RPO's shifted mean (CleanRL's contrast).
        "hopper": {"sigmas": (0.3, 1, 3), "seeds": 2, "modes": ("learned", "rpo")},
        "kernel_sigmas": (0.03, 0.1, 0.3),
        "kernel_steps": 300_000,
        "uncertainty": {"directions": 16, "samples": 32, "episodes": 16},
        # Erasure σ against width w over the sweeps' optima (seed 0 of every fixed σ that learned;
        # ≈ 10–15 s an optimum); the radial profiles reach 4 so the quadrotor's wide optima see
        # their background.
        "scaling": {"directions": 16, "samples": 32, "episodes": 16, "max_radius": 4.0},
        # The σ advisor against the sweep: its tasks, the variants (their own sweeps), and PPO
        # with a learned σ from 1 (SB3/CleanRL's start) as a baseline.
        "advisor": {"variants": True, "learned": True, "other_seeds": ()},
    },
    # Every effect on the smallest budgets that still show it (measured on 2 cores, ≈ 2 min):
    # PPO learns the pendulum at 150 k env steps for σ ≥ 0.3 (−185 at 0.3, −149 at 1) and fails
    # at both ends of the grid in every seed (−1090 at 0.03, −1614 at 10), so the U is
    # significant with 3 seeds; ES at 40 k steps learns nothing, so the kernel sweep is left out.
    "quick": {
        "landscape": {"grid": 21, "samples": 8, "sigmas": (0, 0.1, 0.3, 1)},
        "slice": {"grid": 201, "samples": 16, "sigmas": (0, 0.03, 0.3)},
        "roughness": {"directions": 8, "episodes": 64, "sigmas": (0, 0.03, 0.3)},
        "theory_tasks": ("pendulum",),
        "gradient": {
            "states": 3,
            "sigmas": (0.5, 1),
            "samples": 2048,
            "continuations": 32,
            "grid": 21,
            "ascent_steps": 2,
            "ascent_samples": 128,
        },
        "backward_task": "quick",
        "sweep_tasks": ("pendulum",),
        "sweep_sigmas": (0.03, 0.3, 1, 10),
        "seeds": 3,
        "steps": {"pendulum": 150_000},
        "kernel_sigmas": (),
        "kernel_steps": 0,
        "hopper": None,
        "uncertainty": {
            "directions": 8,
            "samples": 8,
            "episodes": 8,
            "param_sigmas": (0.1, 0.3, 1, 3),
            "action_sigmas": (0.1, 0.3, 1, 3),
        },
        "advisor": {"variants": False, "learned": False, "other_seeds": ()},
        "scaling": {"directions": 8, "samples": 16, "episodes": 8, "seeds": (0, 1, 2)},
    },
}
# Every step and the report on the smallest work that runs them (hidden `--smoke`, for the test
# suite's end-to-end run; its numbers mean nothing: the quick study is the smallest that shows
# the effects, and its test is marked slow).
STUDIES["smoke"] = {
    **STUDIES["quick"],
    "landscape": {"grid": 5, "samples": 2, "sigmas": (0, 0.3)},
    "slice": {"grid": 21, "samples": 2, "sigmas": (0, 0.3)},
    "roughness": {"directions": 2, "episodes": 4, "sigmas": (0, 0.3)},
    "gradient": {
        "states": 2,
        "sigmas": (0.5, 1),
        "samples": 256,
        "continuations": 16,
        "grid": 21,
        "ascent_steps": 1,
        "ascent_samples": 128,
    },
    "backward_task": "smoke",
    "sweep_sigmas": (0.3, 1),
    "seeds": 2,
    "steps": {"pendulum": 32_768},  # the advisor needs its 10 k-step minimum budget
    "uncertainty": {
        "directions": 2,
        "samples": 2,
        "episodes": 2,
        "param_sigmas": (0.3, 1),
        "action_sigmas": (0.3, 1),
    },
}
STUDIES["smoke"]["scaling"] = {**STUDIES["smoke"]["uncertainty"], "n_boot": 50}


def command_line(*words: str, **options) -> str:
    """`mollify WORDS --opt value …` in the order given; tuples as comma-separated numbers."""
    parts = ["mollify", *words]
    for name, value in options.items():
        if isinstance(value, tuple):
            value = ",".join(f"{v:g}" if isinstance(v, float | int) else str(v) for v in value)
        parts += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def run_study(
    out: Path,
    quick: bool,
    say: Callable[[str], None],
    *,
    resume: bool = False,
    smoke: bool = False,
) -> Path:
    """Run every step into `out`; returns report.html. The caller has checked `out` (see
    `io.prepare_output_dir`). With `resume` the sweeps keep the seeds they finished; without it
    every step recomputes; one-go steps (landscape, roughness, theory) always recompute."""
    from mollify import tasks
    from mollify.core.policies import policy_from_spec
    from mollify.instruments import (
        backward_task,
        heat,
        heat_gradient,
        landscape,
        policy_roughness,
        uncertainty,
    )
    from mollify.study import report, sweep

    study = STUDIES["smoke" if smoke else "quick" if quick else "full"]
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    here = provenance()
    if resume and (out / "provenance.json").exists():  # what the kept sweeps ran at stays on record
        earlier = json.loads((out / "provenance.json").read_text())
        here["earlier_runs"] = [*earlier.pop("earlier_runs", []), earlier]
    atomic_write_json(out / "provenance.json", here)

    marks: list[tuple[str, float]] = []  # (step, its start): where the time went

    def step(title: str, command: str) -> str:
        marks.append((title, time.perf_counter() - start))
        say(f"[{marks[-1][1]:6.0f} s] {title}: {command}")
        return command

    def task_and_policy(name: str, policy: str = "init"):
        task = tasks.make(name)
        return (task, *policy_from_spec(task, policy, seed=0))

    where = out / "landscape"
    opts = {"dims": 2, **study["landscape"]}
    cmd = step("Figure 6 analogue", command_line("landscape", task="pendulum", **opts, out=where))
    config = landscape.LandscapeConfig(**opts).validate()
    landscape.run(*task_and_policy("pendulum"), config, where, command=cmd)

    # The chaotic task at a fixed start: raw J fractal, J_σ smooth (the paper's central claim),
    # first seen on a 1-D slice, then measured by the roughness estimator.
    where = out / "slice"
    opts = {"dims": 1, **study["slice"]}
    cmd = command_line("landscape", task="double_pendulum", **opts, out=where)
    config = landscape.LandscapeConfig(**opts).validate()
    landscape.run(*task_and_policy("double_pendulum"), config, where, command=step("slice", cmd))

    where, opts = out / "roughness", study["roughness"]
    cmd = command_line("roughness", task="double_pendulum", **opts, out=where)
    step("roughness, fixed start", cmd)
    where.mkdir(parents=True, exist_ok=True)
    policy_roughness.run(*task_and_policy("double_pendulum"), where, **opts, command=cmd)

    for name in study["theory_tasks"]:
        where = out / "theory" / name
        where.mkdir(parents=True, exist_ok=True)
        cmd = step(f"heat equation ({name})", command_line("theory", "heat", task=name, out=where))
        heat.run_heat(*task_and_policy(name), where, command=cmd)
        opts = study["gradient"]
        cmd = command_line("theory", "gradient", task=name, **opts, out=where)
        cmd = step(f"policy gradient against the heat solution ({name})", cmd)
        options = {("n_states" if k == "states" else k): v for k, v in opts.items()}
        heat_gradient.run_gradient(*task_and_policy(name), where, command=cmd, **options)
        cmd = command_line("theory", "backward", task=name, out=where)
        heat.run_backward(
            *task_and_policy(name), where, command=step(f"backward heat ({name})", cmd)
        )
        size = study["backward_task"]
        cmd = command_line(
            "theory", "backward", "--task-test", task=name, task_size=size, out=where
        )
        cmd = step(f"backward heat on the task's slice ({name})", cmd)
        backward_task.run_backward_task(*task_and_policy(name), where, command=cmd, preset=size)

    sweep_dir = out / "sigma_sweep"
    toml = write_sweep_toml(sweep_dir, study["sweep_tasks"], study, study["sweep_sigmas"])
    cmd = step("variance sweep, PPO at fixed σ", command_line("sweep", config=toml, out=sweep_dir))
    sweep.run_sweep(sweep.load_spec(toml), sweep_dir, command=cmd, force=not resume)

    best = _best_policy(sweep_dir, "pendulum")
    if best is not None:
        where, opts = out / "theory" / "pendulum", study["uncertainty"]
        where.mkdir(parents=True, exist_ok=True)
        cmd = command_line("theory", "uncertainty", task="pendulum", policy=best, **opts, out=where)
        cmd = step("uncertainty principle (pendulum, best PPO policy)", cmd)
        options = {("n_directions" if k == "directions" else k): v for k, v in opts.items()}
        task, policy, theta = task_and_policy("pendulum", str(best))
        uncertainty.run(task, policy, theta, where, policy_source=str(best), command=cmd, **options)

    if study["hopper"]:
        _hopper_study(out / "hopper", study, step, resume)

    _advisor_validation(out / "advice", sweep_dir, study, step, resume)

    # The uncertainty principle as a test: erasure σ against width w over every optimum the
    # sweeps trained (the variants' sweeps too, where the study ran them).
    from mollify.study import advisor_validation, uncertainty_scaling

    sources = [(sweep_dir, {})]
    if study["advisor"]["variants"]:
        for label, (_, params) in advisor_validation.VARIANTS.items():
            sources.append((out / "advice" / "sweeps" / label, params))
    where = out / "theory" / "scaling"
    cmd = step(
        "uncertainty principle across optima (erasure σ against width)",
        "mollify.study.uncertainty_scaling.run_scaling("
        + ", ".join(str(p) for p, _ in sources)
        + f", out={where})",
    )
    uncertainty_scaling.run_scaling(sources, where, command=cmd, **study["scaling"])

    if study["kernel_sigmas"]:
        where = out / "kernels"
        opts = {"tasks": ("pendulum",), "algos": ("es",)}
        opts |= {"kernels": ("gaussian", "laplace", "uniform"), "sigmas": study["kernel_sigmas"]}
        opts |= {"seeds": study["seeds"], "steps": study["kernel_steps"]}
        cmd = command_line("sweep", **opts, out=where)
        step("kernels: ES with gaussian, laplace, uniform", cmd)
        sweep.run_sweep(sweep.spec_from_options(**opts), where, command=cmd, force=not resume)

    step("report", "mollify report")
    ends = [t for _, t in marks[1:]] + [time.perf_counter() - start]
    timings = [
        {"step": m[0], "seconds": round(e - m[1], 1)} for m, e in zip(marks, ends, strict=True)
    ]
    atomic_write_text(out / "timings.json", json.dumps(timings[:-1], indent=1) + "\n")
    html_path, _ = report.build(out)
    (out / "wall_time.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return html_path


def provenance() -> dict:
    """Which code (and so which verdict rules) a study ran with: the git commit of the source tree
    when there is one, whether it had uncommitted changes, and when the run started."""
    import datetime
    import subprocess

    here = Path(__file__).resolve().parent
    info = {"started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    try:
        git = ["git", "-C", str(here)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True
        )
        if commit.returncode == 0:
            info |= {
                "commit": commit.stdout.strip(),
                "uncommitted_changes": bool(dirty.stdout.strip()),
            }
    except OSError:
        pass
    if "commit" not in info:
        info |= {"commit": None, "why_no_commit": "the source is not a git checkout"}
    return info


def write_sweep_toml(
    where: Path, tasks, study: dict, sigmas, *, modes=("fixed",), task_params=None
) -> Path:
    """where/sweep.toml: PPO on `tasks` at `sigmas` in σ modes `modes`, the study's seeds and
    per-task budgets."""
    where.mkdir(parents=True, exist_ok=True)
    steps = "\n".join(f"{t} = {study['steps'][t]}" for t in tasks)
    names = ", ".join(f'"{t}"' for t in tasks)
    grid = ", ".join(f"{s:g}" for s in sigmas)
    mode_list = ", ".join(f'"{m}"' for m in modes)
    text = (
        f'[sweep]\ntasks = [{names}]\nalgos = ["ppo"]\nsigmas = [{grid}]\n'
        f'seeds = {study["seeds"]}\nkernels = ["gaussian"]\nsigma_modes = [{mode_list}]\n\n'
        f"[sweep.steps]\n{steps}\n"
    )
    if task_params:
        inline = ", ".join(f"{k} = {v!r}" for k, v in task_params.items())
        text += f"\n[options]\ntask_params = {{{inline}}}\n"
    (where / "sweep.toml").write_text(text)
    return where / "sweep.toml"


def _hopper_study(where: Path, study: dict, step, resume: bool) -> None:
    """hopper_stand: return against fixed σ, then σ learned from 1 with and without RPO."""
    from mollify.study import sweep

    plan = study["hopper"]
    hopper = {"seeds": plan["seeds"], "steps": {"hopper_stand": STUDY_STEPS["hopper_stand"]}}
    for name, sigmas, modes in (
        ("sigma", plan["sigmas"], ("fixed",)),
        ("modes", (1.0,), plan["modes"]),
    ):
        toml = write_sweep_toml(where / name, ("hopper_stand",), hopper, sigmas, modes=modes)
        cmd = step(f"hopper_stand ({name})", command_line("sweep", config=toml, out=where / name))
        sweep.run_sweep(sweep.load_spec(toml), where / name, command=cmd, force=not resume)


def _advisor_validation(where: Path, sweep_dir: Path, study: dict, step, resume: bool) -> None:
    """`mollify advise` on every swept task (and, in the full study, the variants, each with its
    own sweep), scored against the sweep; PPO's learned σ as a baseline. validation.json/.md."""
    from mollify.study import advisor_validation as validation
    from mollify.study import sweep

    def run_sweep(dest: Path, tasks, sigmas, mode="fixed", params=None) -> Path:
        toml = write_sweep_toml(dest, tasks, study, sigmas, modes=(mode,), task_params=params)
        cmd = step(
            f"sweep for the advisor ({dest.name})", command_line("sweep", config=toml, out=dest)
        )
        sweep.run_sweep(sweep.load_spec(toml), dest, command=cmd, force=not resume)
        return dest

    rows_in = [(t, t, {}, sweep_dir) for t in study["sweep_tasks"]]
    if study["advisor"]["variants"]:
        for label, (task, params) in validation.VARIANTS.items():
            dest = run_sweep(
                where / "sweeps" / label, (task,), study["sweep_sigmas"], params=params
            )
            rows_in.append((label, task, params, dest))
    rows = []
    for label, task, params, swept in rows_in:
        learned = None
        if study["advisor"]["learned"]:
            learned = run_sweep(where / "learned" / label, (task,), (1.0,), "learned", params)
        entry, steps = validation.sweep_entry(swept, task)
        run = validation.run_steps(entry["deterministic"], steps)
        step(f"σ advisor ({label})", validation.advise_command(task, params, run))
        others = study["advisor"]["other_seeds"]
        rows.append(
            validation.validate_row(
                label, task, params, swept, learned_dir=learned, other_seeds=others
            )
        )
    validation.write(rows, where, command="mollify reproduce (its σ advisor step)")


def _best_policy(sweep_dir: Path, task: str) -> Path | None:
    """Seed 0's policy at the σ with the best mean final deterministic return."""
    import json

    stats = json.loads((sweep_dir / "stats.json").read_text())
    for entry in stats.values():
        if entry["task"] == task:
            sigma = entry["deterministic"]["best_sigma"]
            path = (
                sweep_dir / "runs" / task / entry["algo"] / entry["kernel"] / entry["sigma_mode"]
                / f"sigma={sigma:g}" / "seed=0" / "policy.npz"
            )  # fmt: skip
            return path if path.exists() else None
    return None
