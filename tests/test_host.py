"""The machine-facing pieces: how many cores a process may use, and vmapped weight initialisation
that cannot deadlock XLA's CPU thread pool."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mollify import tasks
from mollify.core.policies import make_policy
from mollify.util import host


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000\n"}, 2),
        ({"cpu.max": "150000 100000\n"}, 1),  # 1.5 cores: round down, never oversubscribe
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert host.cgroup_cpu_quota(tmp_path) == expected


def test_usable_cpus_is_affinity_capped_by_quota(monkeypatch):
    monkeypatch.delenv("MOLLIFY_CPUS", raising=False)
    monkeypatch.setattr(host.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(host, "cgroup_cpu_quota", lambda: 2)
    assert host.usable_cpus() == 2
    monkeypatch.setattr(host, "cgroup_cpu_quota", lambda: None)
    assert host.usable_cpus() == 64
    monkeypatch.setattr(host.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(host, "cgroup_cpu_quota", lambda: 8)
    assert host.usable_cpus() == 3
    monkeypatch.setenv("MOLLIFY_CPUS", "5")
    assert host.usable_cpus() == 5


@pytest.mark.parametrize("raw", ["abc", "0", "-2", ""])
def test_bad_cpu_override_is_named_and_ignored(monkeypatch, capsys, raw):
    monkeypatch.setenv("MOLLIFY_CPUS", raw)
    monkeypatch.setattr(host.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(host, "cgroup_cpu_quota", lambda: None)
    assert host.usable_cpus() == 3
    err = capsys.readouterr().err.strip()
    assert err == f"mollify: MOLLIFY_CPUS: must be a positive integer, got {raw!r}; ignored"


def test_vmapped_init_is_bitwise_the_unbatched_init():
    policy = make_policy(tasks.make("planar_quadrotor"))
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    batched = np.asarray(jax.jit(jax.vmap(policy.init))(keys))
    one_by_one = np.stack([np.asarray(policy.init(k)) for k in keys])
    np.testing.assert_array_equal(batched, one_by_one)
    # ...and each weight matrix is what jax.nn.initializers.orthogonal draws.
    w0 = one_by_one[0, : 6 * 64].reshape(6, 64)
    k0 = jax.random.split(keys[0], len(policy.layer_shapes))[0]
    expected = jax.nn.initializers.orthogonal(np.sqrt(2.0))(k0, (6, 64), jnp.float32)
    np.testing.assert_array_equal(w0, np.asarray(expected))
    np.testing.assert_allclose(w0 @ w0.T, 2.0 * np.eye(6), atol=1e-5)


def test_vmapped_init_compiles_to_unbatched_qr_only():
    """A batched LAPACK QR fans out over XLA's intra-op pool and waits on it from a pool thread;
    two at once deadlock a 2-core machine. Every QR in a vmapped init must be one 2-D matrix."""
    policy = make_policy(tasks.make("planar_quadrotor"))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    hlo = jax.jit(jax.vmap(policy.init)).lower(keys).compile().as_text()
    lapack = [line for line in hlo.splitlines() if 'custom_call_target="lapack_' in line]
    assert len(lapack) == 2 * len(policy.layer_shapes)  # geqrf + orgqr per layer
    for line in lapack:
        assert 'num_batch_dims="0"' in line, line
