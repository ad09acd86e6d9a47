"""Up-front checks of user input shared by the CLI and the Python API.

Every check raises `InputError` (a ValueError) with one line that starts with the field's name and
shows the offending value, so the CLI can print it as `error: …` and exit with code 2.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
from collections.abc import Iterable, Sequence


class InputError(ValueError):
    """Bad user input: one line naming the field and the value."""


def sigma_value(field: str, value, *, allow_zero: bool = True) -> float:
    """One σ: a finite number, >= 0 (or > 0 where σ = 0 means nothing)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field}: expected a number, got {value!r}") from None
    bound = ">= 0" if allow_zero else "> 0"
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{field}: must be finite and {bound}, got {v:g}")
    return v


def sigma_grid(field: str, values: Sequence, *, allow_zero: bool = True) -> tuple[float, ...]:
    """A σ grid: at least one value, each finite and >= 0 (> 0), strictly increasing."""
    values = tuple(values)
    if not values:
        raise InputError(f"{field}: need at least one value")
    grid = tuple(sigma_value(field, v, allow_zero=allow_zero) for v in values)
    for a, b in itertools.pairwise(grid):
        if not b > a:
            raise InputError(
                f"{field}: must be strictly increasing, got {b:g} after {a:g} in "
                f"{','.join(f'{v:g}' for v in grid)}"
            )
    return grid


def count(field: str, value, minimum: int = 1) -> int:
    """A size or count: an integer >= minimum."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise InputError(f"{field}: expected an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise InputError(f"{field}: must be >= {minimum}, got {value}")
    return value


def positive(field: str, value) -> float:
    """A finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field}: expected a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{field}: must be finite and > 0, got {v:g}")
    return v


def memory_bytes() -> int:
    """Physical memory of this machine (the ceiling no estimate may exceed)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**63


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def fits_in_memory(field: str, value, nbytes: float, what: str) -> None:
    """Refuse a size whose arrays (`what`, estimated at `nbytes`) cannot fit in physical memory."""
    limit = memory_bytes()
    if nbytes > limit:
        raise InputError(
            f"{field}: {value} needs {what} ≈ {human_bytes(nbytes)}, more than this machine's "
            f"memory ({human_bytes(limit)}); reduce {field}"
        )


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest valid name, or '' when none is close."""
    near = difflib.get_close_matches(str(name), sorted(choices), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""
