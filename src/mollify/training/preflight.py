"""`prepare(...)`: everything a training command checks before it trains, so that bad input fails
in one line before any work starts (and a front end such as the CLI needs no knowledge of configs,
checkpoints or output directories). Raises ConfigError, TaskError, TypeError, OutputDirError or
CheckpointError with the message the user should see.
"""

from __future__ import annotations

from pathlib import Path

from mollify.training.algorithm import resolve
from mollify.training.checkpoint import CHECKPOINT, check_checkpoint_config
from mollify.training.config import TrainConfig, default_config, load_config_file
from mollify.training.dispatch import make_algorithm


def prepare(
    task: str,
    algo: str,
    *,
    config_file: Path | None = None,
    overrides: dict,
    out: Path | None,
    resume: bool = False,
    force: bool = False,
) -> TrainConfig:
    """The resolved config for training `algo` on `task`: the JSON `config_file`'s options (if
    any; its task and algo are ignored), overlaid with `overrides` (TrainConfig field names), on
    the task's defaults. Builds the algorithm once, so an unsupported task/algorithm pair is
    refused now. With `out`, the output directory is created and proved writable (refused when
    non-empty unless `resume` or `force`), and with `resume` an existing checkpoint there must
    have been written with this same config (else CheckpointError naming the first difference)."""
    from mollify.util.io import prepare_output_dir

    options = load_config_file(config_file) if config_file is not None else {}
    options |= overrides
    options.pop("task", None)
    options.pop("algo", None)
    cfg = default_config(task, algo, **options)
    t = cfg.make_task()
    cfg = resolve(cfg, t)
    make_algorithm(cfg, t)  # refuses unsupported task/algorithm pairs up front
    if out is not None:
        out = Path(out)
        prepare_output_dir(out, resume=resume, force=force)
        if resume and (out / CHECKPOINT).exists():  # refuse a changed config now
            check_checkpoint_config(out / CHECKPOINT, cfg)
    return cfg
