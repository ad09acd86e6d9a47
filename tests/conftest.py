import os
import shutil
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "disable")
# One persistent XLA compilation cache for the whole run, shared by both pytest workers (they
# inherit the environment of the process that imported this first) and every `mollify` child
# process the tests start: a program compiled once (a training loop, an evaluator) is loaded, not
# recompiled, by the next test that builds the same one. A fresh directory per run, so a clean
# checkout's suite still pays every compilation once; removed when the run ends.
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mollify-test-xla-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import mollify  # noqa: E402, F401  (configures JAX devices before any test touches JAX)


def pytest_collection_modifyitems(items):
    """Tests marked `long` run first: with two workers, a 2-minute test collected last would run
    alone at the end while the other worker idles (pytest-xdist hands out tests in this order)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_unconfigure(config):
    """The run's compilation cache goes with the process that made it (the xdist controller,
    after its workers have finished)."""
    if _OWN_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
