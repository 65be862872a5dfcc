"""The disentanglement family on the shipped dSprites: β-VAE, β-TCVAE, DIP-VAE-I, DIP-VAE-II, InfoVAE and
FactorVAE, several seeds, scored by MIG, the β-VAE and FactorVAE scores, SAP and DCI.

Data: ``load_dataset("dsprites")`` (the shipped 20,000-image subset; 18,000 for training), 64x64 binary
images with 5 factor classes (shape, scale, orientation, x, y). Every model is the same conv VAE (the
Higgins et al. 2017 encoder/decoder at ``--width``, 10 latents, Bernoulli pixels) trained with its own
estimator through ``pyprogen.train.fit`` for ``--epochs`` epochs (batch 64, Adam 5e-4); only the
objective differs. Metrics use the encoder means of the first 10,000 training images, as disentanglement_lib
(MIG: 20 bins; β-VAE/FactorVAE scores: its default sizes; SAP: single-code linear classifiers; DCI:
correlation-ratio importances, see ``pyprogen.metrics.sap_dci``). Weights follow disentanglement_lib's
defaults where it has the model (β-VAE β = 4, β-TCVAE β = 6, DIP-VAE-I λ_od = 10, λ_d = 100, DIP-VAE-II
λ_od = λ_d = 10); InfoVAE (not in disentanglement_lib) uses α = 0, λ = 10; FactorVAE γ = 10 (disentanglement_lib
sweeps 10–100) with the paper's discriminator (6x1000 LeakyReLU, Adam 1e-4, β = (0.5, 0.9)), its VAE at the
same Adam 5e-4 as the others. CPU time is measured per run.

    python benchmarks/disentanglement.py --seeds 0 1 2 --epochs 3 --width 16 --jobs 2 \
        --out docs/results/disentanglement.json

``--merge`` re-runs only ``--models`` and keeps the other models' runs already in ``--out`` (FactorVAE was
added that way: ``--models factor-vae --merge``).
"""
import argparse
import json
import multiprocessing
import os
import statistics
import time

import torch

from pyprogen.data import load_dataset
from pyprogen.io import write_json
from pyprogen.metrics import mig
from pyprogen.metrics.latent import active_units, beta_vae_score, encoder_means, factor_vae_score
from pyprogen.metrics.sap_dci import dci, sap
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

MODELS = {"beta-vae": {"beta": 4.0}, "beta-tcvae": {"beta": 6.0}, "dip-vae-i": {"lambda_od": 10.0},
          "dip-vae-ii": {"lambda_od": 10.0}, "info-vae": {"alpha": 0.0, "lam": 10.0}, "factor-vae": {"gamma": 10.0}}
METRICS = ("mig", "beta_vae", "factor_vae", "sap", "dci_disentanglement", "dci_completeness",
           "dci_informativeness", "active_units")


def run(job):
    name, seed, a = job
    torch.set_num_threads(1)
    train = load_dataset("dsprites", "train")
    x, factors = train.x, train.y
    kw = dict(MODELS[name], latent_dim=10, net="conv", width=a["width"])
    if name == "beta-tcvae":
        kw["dataset_size"] = len(x)
    set_seed(seed)
    model = build(name, x.shape[1:], **kw)
    cpu0 = time.process_time()
    history = fit(model, x, epochs=a["epochs"], batch_size=64, lr=5e-4, seed=seed, progress=False)
    train_cpu = time.process_time() - cpu0
    cpu1 = time.process_time()
    codes = encoder_means(model, x[:10000]).numpy()
    f = factors[:10000].numpy()
    d = dci(codes, f)
    row = {"model": name, "seed": seed, "hyperparameters": MODELS[name], "final_loss": history[-1]["loss"],
           "mig": mig(codes, f), "beta_vae": beta_vae_score(codes, f, seed=seed)["eval_accuracy"],
           "factor_vae": factor_vae_score(codes, f, seed=seed)["eval_accuracy"], "sap": sap(codes, f),
           "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
           "dci_informativeness": d["informativeness"], "active_units": active_units(model, x[:2000]),
           "train_cpu_minutes": train_cpu / 60, "metric_cpu_minutes": (time.process_time() - cpu1) / 60}
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def summary(rows):
    out = {}
    for name in MODELS:
        mine = [r for r in rows if r["model"] == name]
        if not mine:
            continue
        out[name] = {"seeds": len(mine)}
        for m in METRICS:
            values = [float(r[m]) for r in mine]
            out[name][m] = statistics.fmean(values)
            out[name][m + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--merge", action="store_true",
                   help="keep the runs of the other models already in --out; re-run only --models")
    a = p.parse_args(argv)
    jobs = [(name, seed, vars(a)) for seed in a.seeds for name in a.models]
    if a.jobs > 1:
        with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
            rows = pool.map(run, jobs, chunksize=1)
    else:
        rows = [run(j) for j in jobs]
    commands = [command_line(a)]
    if a.merge and a.out and os.path.isfile(a.out):
        with open(a.out) as f:
            before = json.load(f)
        rows = [r for r in before["runs"] if r["model"] not in a.models] + rows
        commands = before.get("commands") or [command_line(argparse.Namespace(**before["config"], out=a.out, merge=False))]
        commands = [*commands, command_line(a)]
    table = summary(rows)
    print("| model | " + " | ".join(METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for name, s in table.items():
        cells = [f"{s[m]:.3f} ± {s[m + '_sd']:.3f}" if s[m + "_sd"] is not None else f"{s[m]:.3f}" for m in METRICS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if a.out:
        config = {k: v for k, v in vars(a).items() if k not in ("out", "merge")}
        config["models"] = [m for m in MODELS if any(r["model"] == m for r in rows)]
        write_json(a.out, {"config": config, "commands": commands, "summary": table, "runs": rows,
                           "published": "disentanglement_lib (Locatello et al. 2019) reports these scores on the full "
                                        "dSprites as violin plots over 50 hyperparameter/seed settings per model; "
                                        "they are not transcribed here. This run: shipped 18,000-image subset, "
                                        "one setting per model, a short CPU budget."})
    return rows


def command_line(a):
    """The command that wrote (part of) the results, as run from the repository root."""
    parts = ["python benchmarks/disentanglement.py", "--models", *a.models, "--seeds", *map(str, a.seeds),
             "--epochs", str(a.epochs), "--width", str(a.width), "--jobs", str(a.jobs)]
    return " ".join(parts + (["--out", a.out] if a.out else []) + (["--merge"] if a.merge else []))


if __name__ == "__main__":
    main()
