"""The σ advisor: which fixed σ to train with, measured on the user's task before training.

The paper's trade-off has two ends, and both are measured, never looked up:
- too little smoothing: PPO's ratio clip lets the mean action move only about a constant times σ
  per update (measured: 0.07 σ RMS per update on the pendulum for σ from 0.01 to 1), and J_σ may be
  rough at the scale of one update; so σ must be large enough to *reach* a good region within the
  training budget and to make J_σ *smooth* at the update's scale;
- too much smoothing: a mollifier wider than the good region erases it (uncertainty principle);
  so σ must not *erase* the good region a short pilot run finds.

`advise` runs the pilot (PPO, σ learned from PILOT_SIGMA) and three probes, spending at most
`budget` env steps, and returns the interval [low, high] with low = max(σ_reach, σ_smooth),
high = σ_erase, and the recommendation, their geometric mean: the σ farthest from both failure
modes on the multiplicative scale σ lives on. Every probe's numbers are in `Advice.evidence`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mollify.util.checks import InputError

PILOT_SIGMA = 0.5  # the pilot's starting σ: between SB3's 1.0 and gSDE's exp(−2) ≈ 0.14
PILOT_SHARE = 0.5  # of the budget
BUDGET_RUNS = 1.5  # default budget: this many training runs (a 6 σ × 3 seed sweep is 18)
REACH_FRACTION = 0.9  # the pilot "reached" its good region at 90 % of its final gain
ERASE_FRACTION = 0.5  # σ erases the good region when J_σ(θ_p) keeps less than half the gain
SMOOTH_SIGMAS = (0.01, 0.03, 0.1, 0.3, 1.0)  # scanned upwards until J_σ is smooth
ERASE_SIGMAS = (0.0, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)
SMOOTH_DIRECTIONS = 6
SMOOTH_EPISODES = 8
SMOOTH_EPISODES_MAX = 64
ERASE_EPISODES = 32
CURVE_EPISODES = 8  # per pilot checkpoint, to time the pilot's progress
DEFAULT_TRAIN_STEPS = 300_000  # tasks without a default study budget (gym:)
SIGMA_MIN, SIGMA_MAX = 0.01, 3.0  # the range the advisor can stand behind (the probes' range)


@dataclass(frozen=True)
class Advice:
    """The recommendation, the interval it stands behind, what it spent, and why."""

    task: str
    sigma: float
    low: float
    high: float
    env_steps: int
    budget: int
    train_steps: int
    rule: str
    measured: tuple[str, ...] = ()  # the bounds that rest on a measurement (reach, smooth, erase)
    evidence: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_train_steps(task_name: str) -> int:
    """The training budget the advice is for: the default study's per-run budget of the task."""
    from mollify.training.config import STUDY_STEPS

    return int(STUDY_STEPS.get(task_name, DEFAULT_TRAIN_STEPS))


def check_options(budget, train_steps, probes: str) -> None:
    if probes not in ("full", "half"):
        raise InputError(f"probes: choose full or half, got {probes!r}")
    for name, value in (("budget", budget), ("train-steps", train_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"{name}: must be an integer, got {value!r}")
    if train_steps is not None and train_steps < 1000:
        raise InputError(f"train-steps: must be at least 1000, got {train_steps}")
    if budget is not None and budget < 10_000:
        raise InputError(f"budget: must be at least 10000 env steps, got {budget}")


class _Meter:
    """Counts env steps against the budget; a probe asks before it spends."""

    def __init__(self, budget: int):
        self.budget, self.spent = budget, 0

    def can(self, steps: int) -> bool:
        return self.spent + steps <= self.budget

    def add(self, steps: int) -> None:
        self.spent += int(steps)


def advise(
    task,
    policy=None,
    *,
    seed: int = 0,
    budget: int | None = None,
    train_steps: int | None = None,
    probes: str = "full",
    progress: Callable[[str], None] | None = None,
) -> Advice:
    """Recommend a fixed σ for PPO on `task` (a name or a Task) with a training budget of
    `train_steps` env steps (default: the task's default-study budget), spending at most `budget`
    env steps (default BUDGET_RUNS × train_steps). `policy`: None or "init" to start from PPO's
    initialisation, or a policy file to start from. `probes="half"` halves every probe's samples
    (the validation's ablation)."""
    from mollify import tasks as task_lib

    began = time.perf_counter()
    say = progress or (lambda _msg: None)
    check_options(budget, train_steps, probes)
    t = task_lib.make(task) if isinstance(task, str) else task
    train_steps = train_steps or default_train_steps(t.name)
    budget = budget or int(BUDGET_RUNS * train_steps)
    scale = 0.5 if probes == "half" else 1.0
    meter = _Meter(budget)
    evidence: dict = {"probes": probes}

    pilot = _pilot(t, policy, seed, int(PILOT_SHARE * budget * scale), meter, scale, say)
    evidence["pilot"] = pilot.summary()
    u_train = max(1, train_steps // pilot.steps_per_update) if pilot.trained else None
    evidence["reach"] = _reach(pilot, u_train)
    evidence["erase"] = _erase(t, pilot, seed, meter, scale, say)
    evidence["smooth"] = _smooth(t, pilot, seed, meter, scale, say)
    sigma, low, high, rule = _decide(evidence)
    return Advice(
        task=t.name,
        sigma=sigma,
        low=low,
        high=high,
        env_steps=meter.spent,
        budget=budget,
        train_steps=train_steps,
        rule=rule,
        measured=tuple(
            k
            for k in ("reach", "smooth", "erase")
            if evidence[k].get("sigma") is not None or evidence[k].get("survived")
        ),
        evidence=evidence,
        seconds=time.perf_counter() - began,
    )


# ---------------------------------------------------------------------------------------------
# The pilot: PPO with a learned σ, every update's θ and σ kept
# ---------------------------------------------------------------------------------------------
@dataclass
class _Pilot:
    policy: object
    theta0: np.ndarray
    thetas: list  # θ after each update
    sigmas: list  # mean relative σ used by each update
    steps_per_update: int
    trained: bool
    curve_updates: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_se: np.ndarray = field(default_factory=lambda: np.zeros(0))
    observations: np.ndarray | None = None  # states the pilot visited, for action distances
    half_range: np.ndarray | None = None
    reason: str = ""

    def actions(self, theta: np.ndarray) -> np.ndarray:
        """μ_θ on the pilot's states, in units of the action half-range."""
        mu = self.policy.apply(np.asarray(theta, np.float32), self.observations)
        return np.asarray(mu) / self.half_range

    @property
    def theta(self) -> np.ndarray:
        return self.thetas[-1] if self.thetas else self.theta0

    @property
    def step_sizes(self) -> np.ndarray:
        path = [self.theta0, *self.thetas]
        return np.array([np.linalg.norm(b - a) for a, b in itertools.pairwise(path)])

    def summary(self) -> dict:
        out = {"trained": self.trained, "updates": len(self.thetas)}
        out["env_steps_per_update"] = self.steps_per_update
        if not self.trained:
            return out | {"reason": self.reason}
        out |= {"start_sigma": PILOT_SIGMA, "final_sigma": float(self.sigmas[-1])}
        out |= {"update_step_median": float(np.median(self.step_sizes))}
        out |= {"theta0_norm": float(np.linalg.norm(self.theta0))}
        out |= {"curve_updates": self.curve_updates.tolist(), "curve": self.curve.tolist()}
        out |= {"curve_se": self.curve_se.tolist()}
        return out


def _pilot(task, policy_spec, seed, steps, meter: _Meter, scale, say) -> _Pilot:
    import jax

    from mollify.core.evaluation import evaluate
    from mollify.core.policies import load_policy
    from mollify.tasks import HopperTask
    from mollify.training import common, vec_envs
    from mollify.training.algorithm import resolve
    from mollify.training.config import default_config
    from mollify.training.dispatch import make_algorithm

    given = policy_spec not in (None, "init")
    config = default_config(task.name, "ppo")
    config = dataclasses.replace(
        config, sigma=PILOT_SIGMA, sigma_mode="learned", seed=seed, total_steps=max(steps, 1)
    )
    config = resolve(config, task)
    algo = make_algorithm(config, task)
    nets = common.make_networks(task, config)
    state = algo.init(jax.random.PRNGKey(seed))
    if given:
        _, theta_given = load_policy(policy_spec, task)
        params = dict(state.params) | {"actor": jax.numpy.asarray(theta_given, np.float32)}
        state = state._replace(params=params)
    theta0 = np.asarray(algo.theta(state), np.float64)
    n_updates = max(1, steps // algo.steps_per_update)
    if not meter.can(n_updates * algo.steps_per_update):
        n_updates = max(1, (meter.budget - meter.spent) // algo.steps_per_update)
    step = jax.jit(algo.step) if algo.pure else algo.step
    thetas, sigmas, observations = [], [], []
    for i in range(n_updates):
        sigmas.append(float(np.mean(np.asarray(algo.sigma(state, i / n_updates)))))
        state, _ = step(state, i)
        thetas.append(np.asarray(algo.theta(state), np.float64))
        if state.env is not None:  # the states the pilot's envs stand in: where μ is compared
            observations.append(np.asarray(state.env.obs))
        say(f"pilot update {i + 1}/{n_updates}")
    meter.add(n_updates * algo.steps_per_update)
    if observations:
        obs = np.concatenate(observations)
    elif isinstance(task, HopperTask):  # the envs live outside the state: resets instead
        obs = task.physics.reset(np.arange(256) + seed)[1]
    else:
        obs = vec_envs.sample_observations(task, 256, seed)
    # The pilot's progress in deterministic return, at (up to) 12 points along its path.
    idx = np.unique(np.linspace(0, n_updates, min(n_updates, 12) + 1).round().astype(int))
    n_eps = max(2, int(CURVE_EPISODES * scale))
    points = np.stack([theta0 if k == 0 else thetas[k - 1] for k in idx])
    res = evaluate(task, nets.actor, points, episodes=n_eps, seed=seed + 1)
    meter.add(res.env_steps)
    return _Pilot(
        nets.actor,
        theta0,
        thetas,
        sigmas,
        algo.steps_per_update,
        True,
        curve_updates=idx,
        curve=res.undiscounted.mean(axis=1),
        curve_se=res.undiscounted.std(axis=1, ddof=1) / math.sqrt(n_eps),
        observations=np.asarray(obs, np.float32),
        half_range=np.asarray(task.action_half_range, np.float64),
    )


# ---------------------------------------------------------------------------------------------
# The three probes
# ---------------------------------------------------------------------------------------------
def _reach(pilot: _Pilot, u_train: int | None) -> dict:
    """σ_reach = D / (k · U_train), a necessary condition: PPO moves the mean action by about
    k σ per update (k measured on the pilot's own updates, RMS over its states), and the pilot's
    good region lies an action distance D from θ0 (the pilot's policy when it first had
    REACH_FRACTION of its gain). Below σ_reach even updates that all pointed straight at it would
    not get there in U_train updates."""
    if not pilot.trained:
        return {"sigma": None, "reason": pilot.reason}
    gain = pilot.curve[-1] - pilot.curve[0]
    noise = 2 * math.hypot(pilot.curve_se[0], pilot.curve_se[-1])
    if not gain > noise:
        return {
            "sigma": None,
            "reason": f"the pilot's gain in return ({gain:.3g}) is within its noise "
            f"(2 standard errors: {noise:.3g}): no good region reached to time",
        }
    target = pilot.curve[0] + REACH_FRACTION * gain
    u_reach = int(pilot.curve_updates[int(np.nonzero(pilot.curve >= target)[0][0])])
    mus = [pilot.actions(theta) for theta in (pilot.theta0, *pilot.thetas)]  # once per θ

    def rms(a, b) -> float:
        return float(np.sqrt(np.mean((a - b) ** 2)))

    moves = [rms(b, a) / s for (a, b), s in zip(itertools.pairwise(mus), pilot.sigmas, strict=True)]
    rate = float(np.median(moves))  # per update, per unit σ
    distance = rms(mus[u_reach], mus[0])
    return {
        "sigma": distance / (rate * u_train),
        "distance": distance,
        "move_per_update_per_sigma": rate,
        "updates_to_reach": u_reach,
        "training_updates": u_train,
        "gain": float(gain),
    }


def _erase(task, pilot: _Pilot, seed, meter: _Meter, scale, say) -> dict:
    """J_σ(θ_p) at growing σ; σ_erase is where it keeps ERASE_FRACTION of the pilot's gain over
    J(θ0) (log-interpolated). All σ see the same starts and noise draws."""
    from mollify.core.evaluation import evaluate

    if not pilot.thetas:
        return {"sigma": None, "reason": "no pilot run and no --policy: no good region to erase"}
    episodes = max(4, int(ERASE_EPISODES * scale))
    cost = (len(ERASE_SIGMAS) + 1) * episodes * task.horizon
    if not meter.can(cost):
        return {"sigma": None, "reason": f"budget: the probe needs {cost} env steps"}
    say("erasure probe")
    base = evaluate(task, pilot.policy, pilot.theta0, episodes=episodes, seed=seed + 2)
    meter.add(base.env_steps)
    j0 = float(base.undiscounted.mean())
    j, se = [], []
    for s in ERASE_SIGMAS:
        r = evaluate(task, pilot.policy, pilot.theta, sigma=s, episodes=episodes, seed=seed + 2)
        meter.add(r.env_steps)
        j.append(float(r.undiscounted.mean()))
        se.append(float(r.undiscounted.std(ddof=1) / math.sqrt(episodes)))
    j, se = np.array(j), np.array(se)
    gain = j[0] - j0
    out = {"sigmas": list(ERASE_SIGMAS), "J": j.tolist(), "J_se": se.tolist(), "J_theta0": j0}
    if not gain > 2 * math.hypot(se[0], base.undiscounted.std(ddof=1) / math.sqrt(episodes)):
        return out | {"sigma": None, "reason": "the pilot's policy is not better than θ0"}
    kept = (j - j0) / gain
    out["kept"] = kept.tolist()
    below = np.nonzero(kept < ERASE_FRACTION)[0]
    if below.size == 0:  # JSON has no infinity: no number, a flag and the reason
        return out | {
            "sigma": None,
            "survived": True,
            "reason": f"kept half the gain up to σ = {SIGMA_MAX:g}",
        }
    k = int(below[0])
    lo, hi = max(ERASE_SIGMAS[k - 1], SIGMA_MIN), ERASE_SIGMAS[k]
    frac = (kept[k - 1] - ERASE_FRACTION) / (kept[k - 1] - kept[k])
    return out | {"sigma": float(math.exp(math.log(lo) + frac * math.log(hi / lo)))}


def _smooth(task, pilot: _Pilot, seed, meter: _Meter, scale, say) -> dict:
    """The smallest σ (scanned upwards) at which J_σ at θ0 (fixed start: the roughest view, the
    paper's J) is smooth at the scale of one update: the Hölder exponent over radii r/4 … 2r (r the
    pilot's median update step) is at least SMOOTH_ALPHA. When the increments are below the
    Monte-Carlo noise the probe gives no bound and says so."""
    from mollify.core.evaluation import evaluate
    from mollify.instruments.roughness import SMOOTH_ALPHA, holder_exponent

    if pilot.trained:
        r = float(np.median(pilot.step_sizes))  # the pilot's own updates
        scale_note = "median ‖Δθ‖ of one pilot update"
    else:
        r = 0.02 * float(np.linalg.norm(pilot.theta0))
        scale_note = "2 % of ‖θ0‖ (no pilot update to measure)"
    radii = r * np.array([0.25, 0.5, 1.0, 2.0])  # one update, give or take a factor of 2
    dirs = max(3, int(SMOOTH_DIRECTIONS * scale))
    # What is left of the budget buys episodes (more episodes resolve smaller increments), between
    # SMOOTH_EPISODES and SMOOTH_EPISODES_MAX (both scaled with the probes).
    per_episode = (dirs * radii.size + 1) * task.horizon
    left = (meter.budget - meter.spent) // per_episode
    episodes = int(np.clip(left, SMOOTH_EPISODES * scale, SMOOTH_EPISODES_MAX * scale))
    episodes = max(2, episodes)
    cost = per_episode * episodes
    out = {"radius": r, "radius_is": scale_note, "directions": dirs, "episodes": episodes}
    out["threshold_alpha"] = SMOOTH_ALPHA
    scanned = []
    for s in SMOOTH_SIGMAS:
        if not meter.can(cost):
            out["stopped"] = f"budget: σ = {s:g} would need {cost} more env steps"
            break
        say(f"smoothness probe σ = {s:g}")

        def j_sigma(points, s=s):
            res = evaluate(
                task, pilot.policy, points, sigma=s, episodes=episodes, seed=seed + 3, start="fixed"
            )
            meter.add(res.env_steps)
            return res.discounted

        est = holder_exponent(j_sigma, pilot.theta0, radii=radii, n_directions=dirs, seed=seed)
        if not math.isfinite(est.alpha):  # below the noise: nothing to see at larger σ either
            scanned.append({"sigma": s, "alpha": None, "smooth": None, "note": est.note})
            out["reason"] = (
                f"at σ = {s:g} J_σ's change over one update is below the Monte-Carlo noise of "
                f"{episodes} paired episodes: no roughness visible at this budget, no bound"
            )
            break
        smooth = bool(est.alpha >= SMOOTH_ALPHA)
        scanned.append({"sigma": s, "alpha": float(est.alpha), "smooth": smooth, "note": est.note})
        if smooth:
            out["sigma"] = s
            break
    out["scanned"] = scanned
    out.setdefault("sigma", None)
    if out["sigma"] is None and "reason" not in out:
        out["reason"] = out.get("stopped", f"rough at every σ up to {SMOOTH_SIGMAS[-1]:g}")
    return out


def _decide(ev: dict) -> tuple[float, float, float, str]:
    """low = max(σ_reach, σ_smooth), high = σ_erase, σ = √(low · high), all clipped to the
    probes' range [SIGMA_MIN, SIGMA_MAX]; a bound that could not be measured falls back to the
    range's end and the rule says so."""
    reach, smooth, erase = (ev[k]["sigma"] for k in ("reach", "smooth", "erase"))
    lows = [s for s in (reach, smooth) if s is not None]
    low = min(max(max(lows) if lows else SIGMA_MIN, SIGMA_MIN), SIGMA_MAX)
    high = min(max(SIGMA_MAX if erase is None else erase, SIGMA_MIN), SIGMA_MAX)
    if ev["erase"].get("survived"):
        why = " (the good region survived every σ probed)"
    elif erase is None:
        why = f" (not measured: {ev['erase'].get('reason', 'no probe')}; the probes' upper end)"
    else:
        why = ""
    words = [
        f"low = max(σ_reach, σ_smooth) = {low:.3g}"
        + ("" if lows else " (neither measured: the probes' lower end)"),
        f"high = σ_erase = {high:.3g}{why}",
    ]
    if low <= high:
        sigma = math.sqrt(low * high)
        words.append("σ = √(low · high): farthest from both failure modes on a log scale")
    else:
        sigma, low, high = high, high, low
        words.append(
            "conflict: the σ that reaches and smooths already erases the good region; "
            "σ = σ_erase (the largest σ that keeps it), interval = the two bounds"
        )
    return float(sigma), float(low), float(high), "; ".join(words)


def write(advice: Advice, out: Path) -> Path:
    """advice.json in `out` (atomically)."""
    from mollify.util.io import atomic_write_json

    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(out / "advice.json", advice.to_dict())
