"""Checkpoints: the whole training state after a chunk, in one .npz written atomically, so a
killed run resumes bit for bit. Kept out of the driver (train) so that callers that only check or
read a checkpoint (the CLI refusing a changed config up front) need not know how training runs.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mollify.training.algorithm import resolve
from mollify.training.config import ConfigError, TrainConfig

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = 1


class CheckpointError(ConfigError):
    """A checkpoint that cannot be resumed (other config, other program, damaged file)."""


def _config_dict(config: TrainConfig) -> dict:
    return json.loads(config.to_json())


def _to_host(state) -> tuple[list[np.ndarray], list[dict], Any]:
    """The state's leaves as numpy arrays (typed PRNG keys as their key data), their specs, and
    the tree structure."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    impls = []
    for k, leaf in enumerate(leaves):
        impl = None
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            impl = str(jax.random.key_impl(leaf))
            leaves[k] = jax.random.key_data(leaf)
        impls.append(impl)
    arrays = [np.array(a) for a in jax.device_get(leaves)]  # one transfer, then owned copies
    specs = [
        {"shape": list(a.shape), "dtype": a.dtype.str, "key_impl": impl}
        for a, impl in zip(arrays, impls, strict=True)
    ]
    return arrays, specs, treedef


def _from_host(arrays: list[np.ndarray], specs: list[dict], treedef) -> Any:
    leaves = []
    for a, spec in zip(arrays, specs, strict=True):
        x = jnp.asarray(a)
        if spec["key_impl"] is not None:
            x = jax.random.wrap_key_data(x, impl=spec["key_impl"])
        leaves.append(x)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save_checkpoint(
    path: Path,
    config: TrainConfig,
    arrays: list[np.ndarray],
    specs: list[dict],
    treedef,
    updates_done: int,
    rows: list[dict],
    timing: list[dict],
    host: dict | None = None,
) -> Path:
    """Write everything a resume needs into one .npz, atomically (temp file, then rename)."""
    from mollify.util.io import atomic_write

    columns = list(rows[0]) if rows else []
    table = np.array([[row[c] for c in columns] for row in rows], np.float64)
    files = {f"leaf_{k}": a for k, a in enumerate(arrays)}
    files["metrics"] = table.reshape(len(rows), len(columns))
    host_json = None
    if host is not None:
        host_json = {}
        for name, value in host.items():
            if isinstance(value, np.ndarray):
                files[f"host_{name}"] = value
            else:
                host_json[name] = value
    meta = {
        "format": CHECKPOINT_FORMAT,
        "config": _config_dict(config),
        "updates_done": updates_done,
        "treedef": str(treedef),
        "leaves": specs,
        "columns": columns,
        "timing": timing,
        "host": host_json,
    }
    files["meta"] = np.array(json.dumps(meta))

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **files)

    return atomic_write(path, write)


@dataclass
class Checkpoint:
    state: Any
    updates_done: int
    rows: list[dict]
    timing: list[dict]
    host: dict | None


def _read_checkpoint(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
        meta = json.loads(str(files["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"resume: cannot read checkpoint {str(path)!r} ({exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"resume: {str(path)!r} has checkpoint format {meta.get('format')!r}")
    return files, meta


def _compare_config(meta: dict, config: TrainConfig, path: Path) -> None:
    saved, wanted = meta["config"], _config_dict(config)
    for name in list(wanted) + [k for k in saved if k not in wanted]:
        if saved.get(name) != wanted.get(name):
            raise CheckpointError(
                f"resume: the checkpoint in {str(path.parent)!r} was trained with "
                f"{name.replace('_', '-')}={saved.get(name)!r}, this run asks for "
                f"{wanted.get(name)!r}; pass --force to start over"
            )


def check_checkpoint_config(path: Path, config: TrainConfig) -> None:
    """Raise CheckpointError (one line, naming the first differing field) unless the checkpoint at
    `path` was written by a run of the same (resolved) config."""
    _compare_config(_read_checkpoint(path)[1], resolve(config, config.make_task()), path)


def load_checkpoint(path: Path, config: TrainConfig, template) -> Checkpoint:
    """Read `path` and check it against this run: the same config (else CheckpointError naming the
    first differing field) and a state of the same structure, shapes and dtypes as `template`."""
    files, meta = _read_checkpoint(path)
    _compare_config(meta, config, path)
    _, specs, treedef = _to_host(template)
    if meta["treedef"] != str(treedef) or len(meta["leaves"]) != len(specs):
        raise CheckpointError(f"resume: {str(path)!r} holds a different training state structure")
    restored = []
    for k, (spec, want) in enumerate(zip(meta["leaves"], specs, strict=True)):
        a = files.get(f"leaf_{k}")
        got = None if a is None else {"shape": list(a.shape), "dtype": a.dtype.str}
        if spec != want or got != {"shape": want["shape"], "dtype": want["dtype"]}:
            raise CheckpointError(
                f"resume: {str(path)!r} leaf {k} is {spec}, this run's state has {want}"
            )
        restored.append(a)
    table = files["metrics"]
    rows = [dict(zip(meta["columns"], map(float, r), strict=True)) for r in table]
    host = None
    if meta["host"] is not None:
        host = dict(meta["host"])
        host |= {k[len("host_") :]: v for k, v in files.items() if k.startswith("host_")}
    return Checkpoint(
        _from_host(restored, specs, treedef), int(meta["updates_done"]), rows, meta["timing"], host
    )
