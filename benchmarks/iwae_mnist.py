"""Binarized MNIST, one stochastic layer (latent 50, encoder/decoder 2x200 tanh, Burda et al. 2016):
train a VAE (Trace_ELBO) or an IWAE (k particles) for a CPU-time budget, then report the test NLL
in nats from ``pyprogen.metrics.log_likelihood`` (importance sampling with the guide as proposal).

    python benchmarks/iwae_mnist.py --loss elbo --cpu-minutes 15
    python benchmarks/iwae_mnist.py --loss iwae --k 50 --cpu-minutes 15

The budget is process CPU time (one torch thread), so other load on the machine stretches the
wall time but not the budget. Reference (Burda et al. 2016, Table 1, after 3,280 passes):
VAE 86.76, IWAE(k=50) 84.78 nats.
"""
import argparse
import json
import os
import time

import torch

from pyprogen.data import load_dataset
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.infer import IWAE
from pyprogen.metrics.likelihood import log_likelihood
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--loss", choices=["elbo", "iwae"], default="elbo")
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--cpu-minutes", type=float, default=15.0)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--eval-particles", type=int, default=5000)
    p.add_argument("--eval-points", type=int, default=10000, help="test images scored (a fixed random subset "
                   "when fewer than 10,000: the test file is sorted by digit)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/bench_iwae")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = os.path.join(args.out, args.loss)
    train = load_dataset("binarized-mnist", "train").x
    test = load_dataset("binarized-mnist", "test").x
    test = test[evaluation_rows(len(test), args.eval_points)]
    set_seed(0)
    model = build("vae", (1, 28, 28), latent_dim=50, hidden=(200, 200))
    loss = IWAE(args.k) if args.loss == "iwae" else None
    cpu0, wall0, epoch = time.process_time(), time.perf_counter(), 0
    while (time.process_time() - cpu0) / 60 < args.cpu_minutes:
        epoch += 1
        history = fit(model, train, loss=loss, epochs=epoch, batch_size=args.batch_size, lr=1e-3, seed=0,
                      out=out, resume=epoch > 1, progress=False)
        print(f"epoch {epoch}: train loss {history[-1]['loss']:.2f} nats/point, "
              f"cpu {(time.process_time() - cpu0) / 60:.1f} min", flush=True)
    train_cpu, train_wall = (time.process_time() - cpu0) / 60, (time.perf_counter() - wall0) / 60
    set_seed(1)
    t0 = time.perf_counter()
    ll = log_likelihood(model.model, model.guide, test, num_particles=args.eval_particles, chunk_size=500)
    result = {"loss": args.loss, "k": args.k if args.loss == "iwae" else 1, "epochs": epoch,
              "train_cpu_minutes": round(train_cpu, 2), "train_wall_minutes": round(train_wall, 2),
              "test_points": len(test), "eval_particles": args.eval_particles,
              "test_nll_nats": float(-ll.mean()), "test_nll_stderr": float(ll.std() / len(ll) ** 0.5),
              "eval_wall_minutes": round((time.perf_counter() - t0) / 60, 2)}
    print(json.dumps(result, indent=2))
    with open(os.path.join(out, "benchmark.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
