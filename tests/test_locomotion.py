"""hopper, walker2d and half_cheetah must equal Gymnasium's Hopper-v5, Walker2d-v5, HalfCheetah-v5.

Gymnasium carries the constraint solver's warm start from one control step to the next and
`mujoco.rollout` starts it cold, so single steps agree to ~1e-13 rather than bit for bit; the
tolerances below are far above that and far below anything a return would notice.
"""

import gymnasium as gym
import numpy as np
import pytest

import mollify  # noqa: F401  (registers the mollify/ ids)
from mollify import tasks
from mollify.core.evaluation import _native_actor, evaluate, noise_table, reset_seeds
from mollify.core.policies import make_policy
from mollify.tasks.locomotion import run_closed_loop
from mollify.training.vec_envs import LocomotionVecEnv

ENVS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "half_cheetah": "HalfCheetah-v5"}
STEP_TOL = 1e-9  # one control step from the same state (measured ≤ 3e-13)


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Gymnasium's HalfCheetah XML load appends a deprecation warning to ./MUJOCO_LOG.TXT."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def physics():
    return {name: tasks.make(name).physics for name in ENVS}


def _gym_state(env) -> np.ndarray:
    d = env.unwrapped.data
    return np.concatenate([[d.time], d.qpos, d.qvel])


@pytest.mark.parametrize("name", sorted(ENVS))
@pytest.mark.parametrize("seed", [0, 7, 123456])
def test_reset_equals_gymnasium(physics, name, seed):
    env = gym.make(ENVS[name])
    obs, _ = env.reset(seed=seed)
    states, mine = physics[name].reset([seed])
    np.testing.assert_allclose(mine[0], obs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(states[0], _gym_state(env))
    assert mine.shape == (1, tasks.make(name).obs_dim) and obs.shape == env.observation_space.shape


@pytest.mark.parametrize("name", sorted(ENVS))
def test_each_step_equals_gymnasium_from_the_same_state(physics, name):
    """200 steps of random actions; before each, ours starts from Gymnasium's state. The unwrapped
    env keeps stepping after a fall, so hopper and walker2d are compared lying down too."""
    p, env = physics[name], gym.make(ENVS[name]).unwrapped
    env.reset(seed=1)
    actions = np.random.default_rng(1).uniform(-1, 1, (200, p.action_dim))
    terminations = []
    for a in actions:
        state = _gym_state(env)[None]
        obs, reward, terminated, _, _ = env.step(a)
        _, mine, r, term, ok = p.step(state, a[None])
        assert ok[0]
        np.testing.assert_allclose(mine[0], obs, rtol=0, atol=STEP_TOL)
        assert abs(r[0] - reward) <= STEP_TOL
        assert term[0] == terminated
        terminations.append(terminated)
    if name == "half_cheetah":
        assert not any(terminations)
    else:  # both outcomes were compared
        assert any(terminations) and not all(terminations)


@pytest.mark.parametrize("name", ["hopper", "walker2d"])
def test_falling_episode_terminates_at_the_same_step(physics, name):
    """Never resynchronised: random actions until the robot falls, through `run_closed_loop`."""
    p, env = physics[name], gym.make(ENVS[name])
    obs, _ = env.reset(seed=2)
    actions = np.random.default_rng(2).uniform(-1, 1, (1000, p.action_dim))
    gym_obs, total, discounted = [obs], 0.0, 0.0
    for t, a in enumerate(actions):
        obs, reward, terminated, truncated, _ = env.step(a)
        gym_obs.append(obs)
        total, discounted = total + reward, discounted + 0.99**t * reward
        if terminated or truncated:
            break
    assert terminated and 10 < len(gym_obs) - 1 < 200
    seen = []

    def act(t, o):
        seen.append(o[0].copy())
        return actions[t][None]

    states, first = p.reset([2])
    dret, ret, steps = run_closed_loop(p, act, states, first, 1000, 0.99)
    assert steps[0] == len(gym_obs) - 1  # terminated at the same step
    np.testing.assert_allclose(np.array(seen), np.array(gym_obs[:-1]), rtol=0, atol=1e-6)
    assert abs(ret[0] - total) <= 1e-6 and abs(dret[0] - discounted) <= 1e-6


def test_half_cheetah_trajectory_agrees_until_chaos_separates_it(physics):
    """The cheetah never terminates; its closed loop is chaotic, so the cold warm start's 1e-13
    grows: the un-resynchronised trajectory must agree to 1e-6 for at least 40 steps."""
    p, env = physics["half_cheetah"], gym.make("HalfCheetah-v5")
    env.reset(seed=0)
    states, _ = p.reset([0])
    agreed = 0
    for a in np.random.default_rng(0).uniform(-1, 1, (200, 6)):
        obs, reward, *_ = env.step(a)
        states, mine, r, _, _ = p.step(states, a[None])
        if np.abs(mine[0] - obs).max() > 1e-6 or abs(r[0] - reward) > 1e-6:
            break
        agreed += 1
    assert agreed >= 40


def _policies(task, n, scale_last):
    """MLP(64,64) policies; scaling the last layer down keeps the walker up for a while."""
    import jax

    policy = make_policy(task)
    thetas = np.array(jax.vmap(policy.init)(jax.random.split(jax.random.PRNGKey(0), n)))
    n_last = 64 * task.action_dim + task.action_dim
    thetas[:, -n_last:] *= np.asarray(scale_last, np.float32)[:, None]
    return policy, thetas


def test_evaluate_equals_a_gymnasium_vector_loop():
    """evaluate (σ > 0, 2 policies × 2 episodes, horizon 50) against Gymnasium's own sync vector
    env stepped by the same batched actor with the same reset seeds and noise draws."""
    task = tasks.make("walker2d", horizon=50)
    policy, thetas = _policies(task, 2, [1.0, 0.01])  # one falls fast, one lasts the horizon
    episodes, seed, sigma = 2, 4, 0.1
    res = evaluate(task, policy, thetas, sigma=sigma, episodes=episodes, seed=seed)
    seeds = reset_seeds(seed, episodes)
    noise = noise_table(task, "gaussian", seed, episodes)
    act = _native_actor(policy, thetas, sigma * task.action_half_range, noise, episodes)
    envs = gym.make_vec("Walker2d-v5", num_envs=4, vectorization_mode="sync", max_episode_steps=50)
    obs, _ = envs.reset(seed=[int(s) for s in np.tile(seeds, 2)])
    ret, dret = np.zeros(4), np.zeros(4)
    steps, alive = np.zeros(4, dtype=int), np.ones(4, dtype=bool)
    for t in range(50):
        obs, reward, terminated, truncated, _ = envs.step(np.clip(act(t, obs), -1, 1))
        ret += np.where(alive, reward, 0.0)
        dret += np.where(alive, 0.99**t * reward, 0.0)
        steps += alive
        alive &= ~(terminated | truncated)
    envs.close()
    np.testing.assert_array_equal(res.lengths.ravel(), steps)
    assert steps.min() < 50 and steps.max() == 50  # a fall and a time limit were compared
    np.testing.assert_allclose(res.undiscounted.ravel(), ret, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.discounted.ravel(), dret, rtol=0, atol=1e-6)
    assert res.env_steps == steps.sum()


def test_vec_env_snapshot_continues_bit_for_bit():
    task = tasks.make("walker2d", horizon=30)
    env = LocomotionVecEnv(task, 6, seed=3)
    expected = task.physics.reset(np.random.default_rng(3).integers(0, 2**31 - 1, 6))[1]
    np.testing.assert_array_equal(env.obs, expected)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (70, 6, 6)) * 0.05
    actions[5, 2] = np.nan  # ends env 2's episode without reaching MuJoCo
    snap = None
    for t in range(40):
        if t == 20:
            snap = env.snapshot()
        reward, done, truncated, reached = env.step(actions[t])
        if t == 5:
            assert done[2] and reward[2] == 0.0 and np.all(np.isfinite(reached))
            assert env.t[2] == 0  # auto-reset
        if t == 29:
            assert truncated.any()  # the horizon ends the episodes started at t = 0
    after = [env.step(a) for a in actions[40:]]
    restored = LocomotionVecEnv.from_snapshot(task, snap)
    for t in range(20, 40):
        restored.step(actions[t])
    again = [restored.step(a) for a in actions[40:]]
    for x, y in zip(after, again, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(env.states, restored.states)


def test_registered_env_equals_gymnasium():
    ours, ref = gym.make("mollify/Walker2d-v0"), gym.make("Walker2d-v5")
    assert ours.spec.max_episode_steps == 1000
    o1, _ = ours.reset(seed=5)
    o2, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(o1, o2)
    for a in np.random.default_rng(5).uniform(-1, 1, (1000, 6)).astype(np.float32):
        o1, r1, te1, tr1, _ = ours.step(a)
        o2, r2, te2, tr2, _ = ref.step(a)
        np.testing.assert_allclose(o1, o2, rtol=0, atol=1e-6)
        assert abs(r1 - r2) <= 1e-6 and (te1, tr1) == (te2, tr2)
        if te2 or tr2:
            break
    assert te2


def test_vector_entry_point_equals_gymnasium_sync_vector_env():
    """One rollout call per step for all sub-envs; same seeds, autoresets and time limit as
    Gymnasium's sync vector env of Walker2d-v5 (next-step autoreset)."""
    kw = {"num_envs": 6, "max_episode_steps": 40}
    ours = gym.make_vec("mollify/Walker2d-v0", vectorization_mode="vector_entry_point", **kw)
    ref = gym.make_vec("Walker2d-v5", vectorization_mode="sync", **kw)
    assert isinstance(ours.unwrapped, gym.vector.VectorEnv)
    assert ours.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    o1, _ = ours.reset(seed=11)
    o2, _ = ref.reset(seed=11)
    np.testing.assert_array_equal(o1, o2)
    physics = tasks.make("walker2d").physics
    states, _ = physics.reset([11 + i for i in range(6)])
    ends = 0
    rng = np.random.default_rng(11)
    for t in range(100):
        a = (rng.uniform(-1, 1, (6, 6)) * (0.1 if t < 50 else 1.0)).astype(np.float32)
        o1, r1, te1, tr1, _ = ours.step(a)
        o2, r2, te2, tr2, _ = ref.step(a)
        if t == 0:  # the native physics, stepped directly
            _, native, rn, _, _ = physics.step(states, a)
            np.testing.assert_array_equal(o1, native)
            np.testing.assert_array_equal(r1, rn)
        np.testing.assert_allclose(o1, o2, rtol=0, atol=STEP_TOL)
        np.testing.assert_allclose(r1, r2, rtol=0, atol=STEP_TOL)
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        ends += int(te1.sum() + tr1.sum())
    assert ends >= 6  # autoresets happened and were compared
    ours.close()
    ref.close()


def test_lyapunov_names_the_task():
    from mollify.instruments.lyapunov import lyapunov_exponent
    from mollify.tasks import TaskError

    task = tasks.make("hopper")
    policy = make_policy(task)
    with pytest.raises(TaskError, match="'hopper'"):
        lyapunov_exponent(task, policy, np.zeros(policy.n_params))


def test_env_id_is_fixed_by_the_name():
    from mollify.tasks import TaskError

    with pytest.raises(TaskError, match="env_id"):
        tasks.make("hopper", env_id="Walker2d-v5")
    assert tasks.make("half_cheetah", horizon=50, gamma=0.9).horizon == 50
    for name, env_id in ENVS.items():  # the dimensions `make` states without loading the model
        task, env = tasks.make(name), gym.make(env_id)
        assert (task.obs_dim, task.action_dim) == (
            env.observation_space.shape[0],
            len(task.action_low),
        )
        np.testing.assert_array_equal(task.action_low, env.action_space.low)
        np.testing.assert_array_equal(task.action_high, env.action_space.high)


@pytest.mark.parametrize("name", sorted(ENVS))
def test_observation_and_health_of_extreme_states_equal_gymnasium(physics, name):
    """States a short random run rarely reaches: velocities past the ±10 observation clip and the
    hopper's ±100 state range, heights and angles on both sides of the healthy ranges."""
    p, env = physics[name], gym.make(ENVS[name]).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        qpos = p.init_qpos + rng.uniform(-1.5, 1.5, p.model.nq)
        qvel = rng.uniform(-150, 150, p.model.nv) * rng.integers(0, 2, p.model.nv)
        env.set_state(qpos, qvel)
        state = np.concatenate([[0.0], qpos, qvel])[None]
        np.testing.assert_array_equal(p.observe(state)[0], env._get_obs())
        healthy = env.is_healthy if name != "half_cheetah" else True
        assert p.healthy(state)[0] == healthy
