"""matplotlib without a display, and one atomic PNG writer for every figure mollify draws."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mollify.util.io import atomic_write

__all__ = ["plt", "save_figure"]


def save_figure(fig, path) -> Path:
    """Write `fig` as a PNG atomically (temp file, then rename) and close it."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path
