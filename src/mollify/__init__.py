"""mollify: measure how a Gaussian policy mollifies a rough policy landscape.

Importing mollify exposes one JAX CPU device per core it may use (`mollify.host`; unless JAX is
already running or the user's XLA_FLAGS set a device count) and registers the Gymnasium ids
`mollify/Pendulum-v0`, `mollify/DoublePendulum-v0`, `mollify/PlanarQuadrotor-v0` and
`mollify/HopperStand-v0`.
"""

import os as _os

_os.environ.setdefault("MUJOCO_GL", "disable")  # no rendering needed; avoids GL probing on import

from mollify.util.host import configure_jax as _configure_jax

_configure_jax()

from mollify import tasks  # noqa: E402
from mollify.core.evaluation import EvalResult, evaluate  # noqa: E402
from mollify.core.noise import KERNELS  # noqa: E402
from mollify.core.policies import Policy, load_policy, make_policy, save_policy  # noqa: E402
from mollify.instruments.lyapunov import lyapunov_exponent  # noqa: E402
from mollify.instruments.roughness import HolderEstimate, holder_exponent  # noqa: E402
from mollify.instruments.smoothing import heat_residual, heat_solution, smooth  # noqa: E402
from mollify.study.advisor import Advice, advise  # noqa: E402
from mollify.tasks.gym_envs import register_envs as _register_envs  # noqa: E402

_register_envs()

__version__ = "0.1.0"
__all__ = [
    "KERNELS",
    "Advice",
    "EvalResult",
    "HolderEstimate",
    "Policy",
    "advise",
    "evaluate",
    "heat_residual",
    "heat_solution",
    "holder_exponent",
    "load_policy",
    "lyapunov_exponent",
    "make_policy",
    "save_policy",
    "smooth",
    "tasks",
]
