import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "disable")

import mollify  # noqa: F401  (configures JAX devices before any test touches JAX)
