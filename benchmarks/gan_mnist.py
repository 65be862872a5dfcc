"""MNIST GAN (DCGAN nets) against the VAE in the same run, in the project's classifier features.

- ``track``: train a GAN recipe (``pyprogen.models.gan_recipes`` "mnist" with ``--set key=value``
  overrides) with the project's step object; every ``--every`` generator steps score 2,000 samples
  of the EMA generator (and the raw one) against 2,000 test images: Fréchet distance, precision,
  recall (Kynkäänniemi et al. 2019, k = 3), classes covered (PacGAN's one-fifth rule).
- ``defaults``: the "mnist" recipe exactly as ``fit`` runs it, then the VAE of ``pyprogen compare
  --data mnist`` (latent 32, 10 epochs, batch 128, lr 1e-3) on the same data; the same metrics for
  both, CPU seconds for each, and a sample grid of the GAN.

Data as ``pyprogen compare`` uses them: the shipped 10,000-image subset binarised at 0.5, the
test split's first 2,000 images as the real sample, the cached feature classifier (5 epochs).

    python benchmarks/gan_mnist.py track --steps 10000 --every 2000 --set spectral_norm=True
    python benchmarks/gan_mnist.py defaults --seeds 1 --out docs/results/gan_mnist.json \
        --figure docs/figures/gan_mnist_samples.png
"""
import argparse
import ast
import json
import math
import os
import sys
import time

import pyro
import torch

from pyprogen.data import load_dataset
from pyprogen.experiments.compare import _binary
from pyprogen.infer import adversarial_loss
from pyprogen.infer.step import make_step
from pyprogen.io import write_json
from pyprogen.metrics.features import feature_classifier, sample_metrics
from pyprogen.models import build
from pyprogen.models.gan_recipes import gan_recipe
from pyprogen.seeding import set_seed
from pyprogen.train.loop import epoch_batches

N_REAL = 2000
VAE = {"model": {"latent_dim": 32, "likelihood": "bernoulli"}, "fit": {"epochs": 10, "batch_size": 128, "lr": 1e-3}}


def setup():
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    clf, info = feature_classifier(_binary(train.x), train.y, x_test=_binary(test.x), y_test=test.y, epochs=5,
                                   progress=False)
    return _binary(train.x), _binary(test.x[:N_REAL]), clf, info


def metrics(clf, real, model, seed, ema=True):
    mode = model.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 + seed)
        model.train(not ema)
        fake = model.sample(N_REAL).float().clamp(0, 1)
    model.train(mode)
    m = sample_metrics(clf, real, fake)
    return {"fid": round(m["fid"], 2), "precision": round(m["precision"], 4), "recall": round(m["recall"], 4),
            "classes_covered": m["classes_covered"], "class_counts": m.get("class_counts")}, fake


def parse_sets(items):
    out = {}
    for item in items or ():
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def job_track(args):
    x, real, clf, info = setup()
    sets = parse_sets(args.set)
    if not sets.get("binary", True):  # train on the grey-level images (as pyprogen train does)
        x = load_dataset("mnist", "train").x
    recipe = gan_recipe("mnist")
    fit_kw = {**recipe["fit"], **{k: v for k, v in sets.items() if k in ("batch_size", "lr")}}
    model_kw = {**recipe["model"], **{k: v for k, v in sets.items()
                                      if k not in ("batch_size", "lr", "loss", "epochs", "decay", "binary")}}
    decay = sets.get("decay", 0)  # cosine decay of both learning rates over this many steps (0: constant)
    runs = json.load(open(args.out))["runs"] if args.out and os.path.isfile(args.out) else []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        set_seed(seed)
        gan = build("gan", (1, 28, 28), **model_kw)
        name = sets.get("loss")
        loss = gan.default_loss() if name is None else adversarial_loss(name, **gan.loss_kwargs(name))
        pyro.clear_param_store()
        step = make_step(gan, loss, fit_kw["lr"])
        set_seed(seed)
        bs = fit_kw["batch_size"]
        step.initialise(x[epoch_batches(len(x), bs, seed, 0)[0]])
        base = [[g["lr"] for g in s.optimizer.param_groups] for s in step.optimizers()]
        track, done, epoch, cpu = [], 0, 0, 0.0
        gan.train()
        t0 = time.process_time()
        while done < args.steps:
            for idx in epoch_batches(len(x), bs, seed, epoch):
                f = 0.5 * (1 + math.cos(math.pi * min(done, decay) / decay)) if decay else 1.0
                for spec, lrs in zip(step.optimizers(), base):
                    for g, lr0 in zip(spec.optimizer.param_groups, lrs):
                        g["lr"] = lr0 * f
                step.step(x[idx])
                done += 1
                if done % args.every == 0 or done == args.steps:
                    cpu += time.process_time() - t0
                    row = {"step": done, "epoch": round(done * bs / len(x), 2), "cpu_s": round(cpu, 1)}
                    if model_kw.get("ema"):
                        row["ema"] = metrics(clf, real, gan, seed, ema=True)[0]
                    row["raw"] = metrics(clf, real, gan, seed, ema=False)[0]
                    track.append(row)
                    print(seed, args.set, {k: (v if not isinstance(v, dict) else {a: b for a, b in v.items()
                                                                                    if a != "class_counts"})
                                           for k, v in row.items()}, flush=True)
                    t0 = time.process_time()
                if done >= args.steps:
                    break
            epoch += 1
        runs.append({"seed": seed, "set": args.set, "model": model_kw, "fit": fit_kw, "decay_steps": decay,
                     "track": track})
        if args.save:
            torch.save(gan.state_dict(), args.save)
        if args.out:
            write_json(args.out, {"classifier": info, "runs": runs})


def job_defaults(args):
    from pyprogen.plotting import plot_samples
    from pyprogen.train import fit

    x, real, clf, info = setup()
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = {"seed": seed}
        for name, recipe in (("gan", gan_recipe(load_dataset("mnist"))), ("vae", VAE)):
            t0 = time.process_time()
            set_seed(seed)
            model = build(name, (1, 28, 28), **recipe["model"])
            fit(model, x, seed=seed, progress=False, **recipe["fit"])
            cpu = time.process_time() - t0
            m, fake = metrics(clf, real, model, seed)
            row[name] = {"cpu_s": round(cpu, 1), **m, "recipe": recipe}
            print(f"seed {seed} {name}: {({k: v for k, v in row[name].items() if k not in ('class_counts', 'recipe')})}",
                  flush=True)
            if name == "gan" and seed == args.first_seed and args.figure:
                plot_samples(fake[:64], args.figure, title="pyprogen train gan --data mnist (EMA generator)")
        runs.append(row)
        write_json(args.out, {"config": {"data": "mnist (shipped subset), binarised at 0.5", "n_real": N_REAL,
                                         "classifier": info, "torch_threads": torch.get_num_threads(),
                                         "command": "python benchmarks/gan_mnist.py " + " ".join(sys.argv[1:])},
                              "runs": runs})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", choices=["track", "defaults"])
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--every", type=int, default=2000)
    p.add_argument("--set", nargs="*")
    p.add_argument("--out")
    p.add_argument("--figure")
    p.add_argument("--save", help="track: save the last model's state_dict here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    {"track": job_track, "defaults": job_defaults}[args.job](args)


if __name__ == "__main__":
    main()
