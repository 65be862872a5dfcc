"""The VAE family's training recipe on binarized MNIST: what ``pyprogen train vae --data binarized-mnist
--epochs N`` reaches with the default recipe (experiments/recipes.py), or with a variant of it.

    python benchmarks/vae_recipe.py                        # the CLI's defaults, 5 epochs
    python benchmarks/vae_recipe.py --recipe burda --epochs 5
    python benchmarks/vae_recipe.py --batch-size 64 --lr-schedule constant --kl-warmup 0 --hidden 200,200

Each run trains through ``train_run`` (exactly what the CLI does: same seed, same evaluation: the IWAE
bound with K = ``--num-particles`` on the first ``--eval-points`` test images) on one torch thread and
prints one JSON line: the settings, train CPU seconds, the final test NLL and the per-epoch losses. With
``--results FILE`` the same dict, with the command and the machine, is written to FILE (the README's
``vae_recipe`` table reads ``docs/results/vae_recipe.json``):

    OMP_NUM_THREADS=1 nice python benchmarks/vae_recipe.py --results docs/results/vae_recipe.json
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import torch

from dataclasses import replace

from pyprogen.experiments import recipes
from pyprogen.experiments.runs import train_run
from pyprogen.io import read_json, write_json


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vae")
    p.add_argument("--recipe", default="default")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--kl-warmup", type=int)
    p.add_argument("--free-bits", type=float)
    p.add_argument("--lr-schedule")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--hidden", help="comma-separated widths (default: the recipe's)")
    p.add_argument("--num-particles", type=int, default=1000)
    p.add_argument("--eval-points", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="run directory (default: a temporary one)")
    p.add_argument("--results", help="also write the result (with command and machine) to this JSON file")
    p.add_argument("--thread-check", metavar="JSON", help="a result file written with another --threads: add this "
                   "run to it as its 'thread_check' (both rounded as the README shows them: one decimal)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or tempfile.mkdtemp(prefix="vae_recipe_")
    if args.hidden:  # a variant of the recipe's nets, for this process only
        key = (args.recipe, recipes.family_of(args.model))
        old = recipes.RECIPES[key]
        recipes.RECIPES[key] = replace(old, kwargs={**old.kwargs, "hidden": tuple(int(h) for h in args.hidden.split(","))})
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = train_run(args.model, "binarized-mnist", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       latent_dim=args.latent_dim, kl_warmup=args.kl_warmup, free_bits=args.free_bits,
                       lr_schedule=args.lr_schedule, recipe=args.recipe, seed=args.seed, out=out, progress=False,
                       num_particles=args.num_particles, eval_points=args.eval_points)
    history = [e for e in read_json(os.path.join(out, "metrics.json")) if e.get("split") != "test"]
    row = {**{k: v for k, v in vars(args).items() if k not in ("out", "results")}, "out": os.path.abspath(out),
           "total_cpu_s": round(time.process_time() - cpu0, 1), "wall_s": round(time.perf_counter() - wall0, 1),
           "nll_nats": round(result["nll_nats"], 2), "elbo_nats": round(result["elbo_nats"], 2),
           "loss": [round(e["loss"], 2) for e in history]}
    print(json.dumps(row), flush=True)
    if args.thread_check:
        base = read_json(args.thread_check)
        shown = {k: (f"{base[k]:.1f}", f"{row[k]:.1f}") for k in ("nll_nats", "elbo_nats")}
        base["thread_check"] = {"threads": args.threads, "nll_nats": row["nll_nats"], "elbo_nats": row["elbo_nats"],
                                "loss": row["loss"], "identical_at_digits_shown": all(a == b for a, b in shown.values()),
                                "command": f"OMP_NUM_THREADS={args.threads} python benchmarks/vae_recipe.py "
                                           + " ".join(sys.argv[1:])}
        write_json(args.thread_check, base)
    if args.results:
        row.pop("out")
        write_json(args.results, {**row, "eval": f"IWAE bound, K = {args.num_particles}, on {args.eval_points:,} "
                                                 "test images (recipes.evaluation_rows: a fixed random subset)",
                                  "command": "python benchmarks/vae_recipe.py " + " ".join(sys.argv[1:]),
                                  "machine": f"{platform.machine()} CPU, {args.threads} torch thread(s), "
                                             f"torch {torch.__version__}"})


if __name__ == "__main__":
    main()
