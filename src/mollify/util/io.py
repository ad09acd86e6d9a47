"""Writing files so that a crash never leaves one half-written: temp file, then rename."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _read_umask() -> int:
    """The process umask, read once at import (setting it is the only way to read it, and a
    later read could race with another thread creating a file)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` on a temp file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a result should read like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def jsonable(obj):
    """`json.dumps` default for results: arrays become lists, anything else its string."""
    if hasattr(obj, "tolist"):
        return strict(obj.tolist())
    return str(obj)


def strict(obj):
    """`obj` with every non-finite float (NaN, ±Infinity) replaced by None, recursively: strict
    JSON has no NaN. Where a number can be missing, the writer puts the reason beside it."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str):
        return strict(obj.tolist())
    return obj


def dumps(obj, **kwargs) -> str:
    """Strict JSON text (null for NaN/Infinity; `allow_nan=False` proves none is left)."""
    return json.dumps(strict(obj), default=jsonable, allow_nan=False, **kwargs)


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """`obj` as indented strict JSON (arrays as lists, NaN/Infinity as null), written
    atomically."""
    return atomic_write_text(path, dumps(obj, indent=2) + "\n")


def atomic_write_csv(
    path: str | os.PathLike, fieldnames, rows, missing: object = float("nan")
) -> Path:
    """A CSV of `rows` (dicts) with these columns, in order; absent keys are written as `missing`,
    keys outside `fieldnames` are left out."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=list(fieldnames), restval=missing, extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)


class OutputDirError(ValueError):
    """An output directory that cannot be used as asked (exists, or is not writable)."""


def prepare_output_dir(
    path: str | os.PathLike, *, resume: bool = False, force: bool = False, field: str = "out"
) -> Path:
    """Create `path` and prove it writable before any work starts.

    An existing non-empty directory is refused unless the caller says what to do with it:
    `resume` continues what is there (finished work is kept), `force` recomputes and overwrites
    files of the same name (other files are left alone: we never delete a user's directory).
    """
    path = Path(path)
    if resume and force:
        raise OutputDirError(f"{field}: give either --resume or --force, not both")
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{field}: {str(path)!r} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (resume or force):
        raise OutputDirError(
            f"{field}: {str(path)!r} already exists and is not empty; "
            "pass --resume to continue it or --force to overwrite it"
        )
    _probe_writable(path, path, field)
    return path


def _probe_writable(folder: Path, target: Path, field: str) -> None:
    """Create `folder` and write (then remove) a file in it; OutputDirError names `target`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputDirError(
            f"{field}: cannot write to {str(target)!r} ({_why(target, exc)})"
        ) from None


def check_output_file(path: str | os.PathLike, field: str) -> Path:
    """Prove, before any work, that a file can be written at `path` (its folder is created)."""
    path = Path(path)
    if path.is_dir():
        raise OutputDirError(f"{field}: {str(path)!r} is a directory, not a file")
    _probe_writable(path.parent, path, field)
    return path


def _why(path: Path, exc: OSError) -> str:
    """The reason a folder cannot be made or written, naming a file that stands in its way."""
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                return f"{str(parent)!r} is a file, not a directory"
            break
    return exc.strerror or str(exc)
