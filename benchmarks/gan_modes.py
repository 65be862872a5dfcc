"""Mode coverage of GANs on ring8 / grid25 (Unrolled GAN / VEEGAN / PacGAN protocol), three jobs:

- ``track``: train recipes (the per-data-set recipe of ``pyprogen.models.gan_recipes`` with
  ``--set key=value`` overrides) with the project's step object, scoring the EMA generator (eval
  mode) and the raw generator every ``--every`` generator steps: how many steps a recipe needs.
- ``defaults``: the per-data-set defaults, several seeds, each run exactly as ``pyprogen train gan
  --data DATA`` trains it (``--via cli`` runs that command; ``--via fit`` builds the model from the
  recipe and calls ``fit`` + ``evaluate_model`` as ``train_run`` does), CPU seconds per run.
- ``table``: every registry loss × {plain, +EMA, +SN} at one generator-step budget.

Scoring: 2,500 samples, high quality within 3σ of the nearest centre, a mode covered with at least
one fifth of its expected share (PacGAN's rule; :func:`pyprogen.metrics.mode_coverage`). CPU seconds
are ``time.process_time`` of the training process (``resource`` children for ``--via cli``), one
torch thread.

    python benchmarks/gan_modes.py track --data ring8 --seeds 1 --steps 25000 --every 2500 --set decay=25000
    python benchmarks/gan_modes.py defaults --data ring8 grid25 --seeds 5 --out docs/results/gan_modes_defaults.json \
        --figures docs/figures
    python benchmarks/gan_modes.py table --data ring8 grid25 --steps 3000 --seeds 1 --out docs/results/gan_loss_table.json
"""
import argparse
import ast
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import pyro
import torch

from pyprogen.data import load_dataset, toy_modes
from pyprogen.infer import ADVERSARIAL_LOSSES, adversarial_loss
from pyprogen.infer.step import make_step
from pyprogen.io import write_json
from pyprogen.metrics import mode_coverage
from pyprogen.models import build
from pyprogen.models.gan_recipes import gan_recipe
from pyprogen.seeding import set_seed
from pyprogen.train.loop import epoch_batches

FIT_KEYS = ("epochs", "batch_size", "lr", "lr_schedule")
#: the paper learning rates of the Wasserstein losses (Arjovsky et al. 2017; Gulrajani et al. 2017); the
#: logistic-type losses use the recipe's
PAPER_LR = {"wgan": 5e-5, "wgan-gp": 1e-4, "wgan-lp": 1e-4}


def score(gan, data, seed, ema=True):
    """Mode coverage of 2,500 samples of the EMA (eval mode) or raw (train mode) generator."""
    centers, std = toy_modes(data)
    mode = gan.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 + seed)
        gan.train(not ema)
        cov = mode_coverage(gan.sample(2500), centers, std=std)
    gan.train(mode)
    return [cov["modes_covered"], round(cov["high_quality_fraction"], 4)]


def cosine_factor(t, total):
    return 0.5 * (1 + math.cos(math.pi * min(t, total) / total)) if total else 1.0


def train_tracked(data, seed, model_kw, *, steps, batch_size, lr, decay, loss=None, every=None):
    """Train with the project's step object (fit's batching; cosine decay of both learning rates
    over ``decay`` generator steps as fit(lr_schedule="cosine") does); returns the score track."""
    x = load_dataset(data).x
    set_seed(seed)
    gan = build("gan", tuple(x.shape[1:]), **model_kw)
    loss = gan.default_loss() if loss is None else adversarial_loss(loss, **gan.loss_kwargs(loss))
    pyro.clear_param_store()
    step = make_step(gan, loss, lr)
    set_seed(seed)
    step.initialise(x[epoch_batches(len(x), batch_size, seed, 0)[0]])
    base = [[g["lr"] for g in s.optimizer.param_groups] for s in step.optimizers()]
    track, done, epoch, cpu = [], 0, 0, 0.0
    gan.train()
    t0 = time.process_time()
    while done < steps:
        for idx in epoch_batches(len(x), batch_size, seed, epoch):
            f = cosine_factor(done, decay)
            for spec, lrs in zip(step.optimizers(), base):
                for g, lr0 in zip(spec.optimizer.param_groups, lrs):
                    g["lr"] = lr0 * f
            step.step(x[idx])
            done += 1
            if done == steps or (every and done % every == 0):
                cpu += time.process_time() - t0
                row = {"step": done, "cpu_s": round(cpu, 1), "raw": score(gan, data, seed, ema=False)}
                if model_kw.get("ema"):
                    row["ema"] = score(gan, data, seed, ema=True)
                track.append(row)
                print(f"  {data} seed {seed} {row}", flush=True)
                t0 = time.process_time()
            if done >= steps:
                break
        epoch += 1
    return track


def parse_sets(items):
    """``["ema=0.99", "hidden=(64,64)"]`` -> dict (Python literals; bare words stay strings)."""
    out = {}
    for item in items or ():
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def summarise(rows, keys):
    table = []
    for key in sorted({tuple(str(r[k]) for k in keys) for r in rows}):
        rs = [r for r in rows if tuple(str(r[k]) for k in keys) == key]
        modes, hq = [r["modes_covered"] for r in rs], [100 * r["high_quality_fraction"] for r in rs]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        table.append({**dict(zip(keys, key)), "seeds": len(rs), "modes_mean": statistics.mean(modes),
                      "modes_sd": sd(modes), "hq_percent_mean": statistics.mean(hq), "hq_percent_sd": sd(hq),
                      "cpu_s_mean": statistics.mean(r["cpu_s"] for r in rs),
                      "cpu_s_max": max(r["cpu_s"] for r in rs)})
    return table


# -- jobs ----------------------------------------------------------------------------------------
def job_track(args):
    runs = []
    sets = parse_sets(args.set)
    for data in args.data:
        recipe = gan_recipe(data)
        model_kw = {**recipe["model"], **{k: v for k, v in sets.items() if k not in ("decay", "steps", "loss")
                                          and k not in FIT_KEYS}}
        fit_kw = {**recipe["fit"], **{k: v for k, v in sets.items() if k in FIT_KEYS}}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            track = train_tracked(data, seed, model_kw, steps=args.steps, batch_size=fit_kw["batch_size"],
                                  lr=fit_kw["lr"], decay=sets.get("decay", args.steps), loss=sets.get("loss"),
                                  every=args.every)
            runs.append({"data": data, "seed": seed, "set": args.set, "model": model_kw, "fit": fit_kw,
                         "decay_steps": sets.get("decay", args.steps), "track": track})
            if args.out:
                previous = json.load(open(args.out)) if os.path.isfile(args.out) else {"runs": []}
                write_json(args.out, {"runs": previous["runs"] + [runs[-1]]})


def run_default_fit(data, seed, out):
    """What ``train_run`` does for ``pyprogen train gan --data DATA`` with the recipe: build, fit with
    a run directory (checkpoints each epoch), evaluate on 2,500 samples."""
    from pyprogen.metrics.evaluate import evaluate_model
    from pyprogen.train import fit

    train, test = load_dataset(data, "train"), load_dataset(data, "test")
    recipe = gan_recipe(train)
    t0 = time.process_time()
    set_seed(seed)
    gan = build("gan", train.data_shape, **recipe["model"])
    fit(gan, train.x, seed=seed, out=out, progress=False, **recipe["fit"])
    set_seed(seed)
    result = evaluate_model(gan, test.x[:1000], modes=toy_modes(data))
    return result, time.process_time() - t0, recipe


def run_default_cli(data, seed, out):
    """``pyprogen train gan --data DATA --seed S --out OUT`` in a child process; its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "pyprogen", "train", "gan", "--data", data, "--seed", str(seed), "--out", out,
           "--no-progress"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    entries = json.load(open(os.path.join(out, "metrics.json")))
    result = next(e for e in reversed(entries) if e.get("split") == "test")
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), {"command": " ".join(cmd[1:])}


def scatter(out, data, path, title):
    """2,500 samples of the trained run in ``out`` (its EMA generator) over the true mode centres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyprogen.io import save_figure
    from pyprogen.train import load

    model = load(out)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000)
        s = model.sample(2500)
    centers, std = toy_modes(data)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(s[:, 0], s[:, 1], s=1, alpha=0.3, label="samples")
    ax.scatter(centers[:, 0], centers[:, 1], s=30, facecolors="none", edgecolors="red", linewidths=0.8,
               label="mode centres")
    lim = centers.abs().max().item() + 1.0
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


def job_defaults(args):
    runs, figures = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # seeds outer: every data set has as many
        for data in args.data:
            with tempfile.TemporaryDirectory() as out:
                run = run_default_cli if args.via == "cli" else run_default_fit
                result, cpu, recipe = run(data, seed, out)
                if args.figures and seed == args.first_seed:
                    figures.append(os.path.join(args.figures, f"gan_{data}.png"))
                    scatter(out, data, figures[-1],
                            f"pyprogen train gan --data {data} (seed {seed}): {result['modes_covered']} modes, "
                            f"{100 * result['high_quality_fraction']:.1f} % HQ")
            row = {"data": data, "seed": seed, "via": args.via, "cpu_s": round(cpu, 1),
                   "modes_covered": result["modes_covered"], "high_quality_fraction": result["high_quality_fraction"],
                   "recipe": recipe}
            runs.append(row)
            print(f"{data:7s} seed {seed}: modes {row['modes_covered']:2d}  hq {100 * row['high_quality_fraction']:5.1f}%"
                  f"  {row['cpu_s']:.0f} CPU-s", flush=True)
            write_json(args.out, {"config": {"job": "defaults", "via": args.via, "seeds": args.seeds,
                                             "torch_threads": torch.get_num_threads(),
                                             "command": "python benchmarks/gan_modes.py " + " ".join(sys.argv[1:])},
                                  "runs": runs, "summary": summarise(runs, ("data",)), "figures": figures})
    for row in summarise(runs, ("data",)):
        print(f"{row['data']:7s} modes {row['modes_mean']:.2f} ± {row['modes_sd']:.2f}  hq {row['hq_percent_mean']:.1f} ± "
              f"{row['hq_percent_sd']:.1f}%  CPU-s mean {row['cpu_s_mean']:.0f} max {row['cpu_s_max']:.0f}")


VARIANTS = {"plain": {"ema": 0.0, "spectral_norm": False}, "+EMA": {"ema": 0.999, "spectral_norm": False},
            "+SN": {"ema": 0.0, "spectral_norm": True}}


def job_table(args):
    runs, lrs = [], {}
    for data in args.data:
        recipe = gan_recipe(load_dataset(data))  # with the data: standardised nets, as the default command trains
        lrs[data] = {l: PAPER_LR.get(l, recipe["fit"]["lr"]) for l in args.losses}
        for loss in args.losses:
            for variant in args.variants:
                model_kw = {**recipe["model"], **VARIANTS[variant]}
                lr = PAPER_LR.get(loss, recipe["fit"]["lr"])
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    print(f"{data} {loss} {variant} seed {seed} lr {lr}", flush=True)
                    track = train_tracked(data, seed, model_kw, steps=args.steps, batch_size=recipe["fit"]["batch_size"],
                                          lr=lr, decay=0, loss=loss)
                    last = track[-1]
                    modes, hq = last["ema"] if "ema" in last else last["raw"]
                    runs.append({"data": data, "loss": loss, "variant": variant, "seed": seed, "lr": lr,
                                 "generator_steps": args.steps, "modes_covered": modes, "high_quality_fraction": hq,
                                 "cpu_s": last["cpu_s"]})
                    write_json(args.out, {"config": {"job": "table", "steps": args.steps, "seeds": args.seeds,
                                                     "batch_size": recipe["fit"]["batch_size"],
                                                     "nets": {k: recipe["model"][k] for k in ("latent_dim", "hidden", "activation")},
                                                     "gamma": recipe["model"].get("gamma"), "variants": VARIANTS,
                                                     "lr": lrs,  # per data set: the recipe's, the papers' for WGANs
                                                     "lr_schedule": "constant", "scored": "the EMA generator where EMA is on",
                                                     "standardised": "data_scale" in recipe["model"],
                                                     "command": "python benchmarks/gan_modes.py " + " ".join(sys.argv[1:])},
                                          "runs": runs, "summary": summarise(runs, ("data", "loss", "variant"))})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", choices=["track", "defaults", "table"])
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000, help="generator steps (track, table)")
    p.add_argument("--every", type=int, default=2500, help="score every this many steps (track)")
    p.add_argument("--set", nargs="*", help="recipe overrides KEY=VALUE (track); decay=N: cosine decay steps")
    p.add_argument("--losses", nargs="+", default=sorted(ADVERSARIAL_LOSSES))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--via", choices=["cli", "fit"], default="cli", help="defaults: the CLI command or fit")
    p.add_argument("--out", help="JSON file to write")
    p.add_argument("--figures", help="defaults: directory for the scatter plot of the first seed")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    {"track": job_track, "defaults": job_defaults, "table": job_table}[args.job](args)


if __name__ == "__main__":
    main()
