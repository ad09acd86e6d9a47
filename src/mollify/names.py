"""One place for the "did you mean …?" hint that every bad-name error carries."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest valid name, or '' when none is close."""
    near = difflib.get_close_matches(str(name), sorted(choices), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""
