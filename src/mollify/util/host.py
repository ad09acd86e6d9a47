"""What this process may use of the machine: how many cores, and the JAX devices that follow.

`os.cpu_count()` is the host's core count. In a container or CI runner it can be far more than the
process is allowed: a CPU affinity mask or a cgroup CPU quota (`docker --cpus`, Kubernetes limits)
caps it. Every thread pool mollify sizes (JAX CPU devices, `mujoco.rollout` threads, Ray workers,
torch in the bench) asks `usable_cpus()` instead.

`configure_jax()` runs when mollify is imported, before JAX's backend starts, and exposes one JAX
CPU device per usable core, so a batch of policies splits across the cores the process may use.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Cores allowed by a cgroup CPU quota (v2 `cpu.max`, else v1 `cfs_quota_us`), rounded down
    (one thread more than the quota gets the whole group throttled); None when there is no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        quota_us, period_us = int(quota), int(period)
    except (OSError, ValueError):
        try:
            quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
            period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            return None
        if quota_us <= 0:
            return None
    if period_us <= 0:
        return None
    return max(1, math.floor(quota_us / period_us))


def env_count(name: str) -> int | None:
    """A positive integer from environment variable `name`; None if unset. A bad value is named in
    one line on stderr and ignored: this runs at import, where raising would leave no usable tool."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        print(f"mollify: {name}: must be a positive integer, got {raw!r}; ignored", file=sys.stderr)
        return None
    return value


def usable_cpus() -> int:
    """Cores this process can actually run on: the affinity mask, capped by a cgroup quota.

    `MOLLIFY_CPUS` overrides it (for sharing a machine, or a test)."""
    override = env_count("MOLLIFY_CPUS")
    if override is not None:
        return override
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(n, quota) if quota else n)


def configure_jax() -> None:
    """One JAX CPU device per usable core, set before JAX's backend starts.

    A device count in the user's XLA_FLAGS wins, as does `MOLLIFY_CPU_DEVICES`. Does nothing once
    the backend is running.
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    import jax

    n = env_count("MOLLIFY_CPU_DEVICES") or usable_cpus()
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except Exception:  # backend already initialised, or an older JAX: keep what is there
        pass
