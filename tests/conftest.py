import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "disable")

import mollify  # noqa: F401  (configures JAX devices before any test touches JAX)


def pytest_collection_modifyitems(items):
    """Tests marked `long` run first: with two workers, a 2-minute test collected last would run
    alone at the end while the other worker idles (pytest-xdist hands out tests in this order)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
