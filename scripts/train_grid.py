"""Final returns of an algorithm at fixed σ over seeds, per task (the numbers of issue 4's note).

    python scripts/train_grid.py --algo ppo --tasks pendulum,double_pendulum --sigmas 0.03,0.1,0.3,1
        --seeds 3 [--steps N] --out grid.json

Pure-JAX tasks train all seeds of one σ as one program (`jax.vmap(make_train(config))`), compiled
ahead of time so the rate excludes compilation; the hopper runs `training.run` per seed. The vmapped
program hung on planar_quadrotor at 1 M steps (README, "Known problem"); `mollify sweep` runs seeds
one at a time and is the tool for that case.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import numpy as np

from mollify.tasks import JaxTask
from mollify.training import default_config, make_train, run


def jax_cell(config, seeds: int) -> dict:
    train = jax.jit(jax.vmap(make_train(config)))
    keys = jax.random.split(jax.random.PRNGKey(config.seed), seeds)
    compiled = train.lower(keys).compile()
    start = time.perf_counter()
    _, metrics = compiled(keys)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    steps = float(np.asarray(metrics["env_steps"])[0, -1])
    return {
        "deterministic": np.asarray(metrics["eval_deterministic"])[:, -1].tolist(),
        "stochastic": np.asarray(metrics["eval_stochastic"])[:, -1].tolist(),
        "env_steps_per_seed": steps,
        "seconds": seconds,
        "env_steps_per_second": steps * seeds / seconds,
    }


def native_cell(config, seeds: int) -> dict:
    det, sto, seconds, steps = [], [], 0.0, 0
    for s in range(seeds):
        res = run(dataclasses.replace(config, seed=s))
        det.append(res.final["eval_deterministic"])
        sto.append(res.final["eval_stochastic"])
        seconds += res.seconds
        steps = res.env_steps
    return {
        "deterministic": det,
        "stochastic": sto,
        "env_steps_per_seed": steps,
        "seconds": seconds,
        "env_steps_per_second": steps * seeds / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--tasks", default="pendulum,double_pendulum,planar_quadrotor")
    parser.add_argument("--sigmas", default="0.03,0.1,0.3,1.0")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="env steps per seed")
    parser.add_argument("--set", action="append", default=[], help="extra KEY=JSON_VALUE")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    results = []
    for task in args.tasks.split(","):
        for sigma in (float(s) for s in args.sigmas.split(",")):
            options = {"sigma": sigma, **extra}
            if args.steps:
                options["total_steps"] = args.steps
            config = default_config(task, args.algo, **options)
            pure = isinstance(config.make_task(), JaxTask)
            cell = jax_cell(config, args.seeds) if pure else native_cell(config, args.seeds)
            cell |= {"task": task, "algo": args.algo, "sigma": sigma, "seeds": args.seeds}
            results.append(cell)
            det, sto = np.asarray(cell["deterministic"]), np.asarray(cell["stochastic"])
            print(
                f"{task:17s} {args.algo:9s} σ={sigma:<5g} det {det.mean():9.2f} ± {det.std():7.2f}"
                f"  sto {sto.mean():9.2f} ± {sto.std():7.2f}  steps/seed {cell['env_steps_per_seed']:,.0f}"
                f"  {cell['env_steps_per_second']:,.0f} env-steps/s",
                flush=True,
            )
            if args.out:
                with open(args.out, "w") as fh:
                    json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
