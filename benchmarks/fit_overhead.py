"""Training cost of Pyro/pyprogen against a hand-written PyTorch VAE with the same nets and math.

MLP VAE 784-200-200-50 (tanh), Bernoulli likelihood, batch 128, Adam 1e-3, one torch thread unless
--threads. Variants run in alternating short rounds (the order reshuffled every round) and the
report gives the median time of each relative to the hand-written step measured in the same rounds
(absolute step times on these machines swing between regimes; ratios measured side by side don't).

    python benchmarks/fit_overhead.py --rounds 7 --steps 50
"""
import argparse
import contextlib
import io
import json
import random
import statistics
import tempfile
import time

import pyro
import pyro.optim
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from torch.nn import functional as F

from pyprogen.data import load_dataset
from pyprogen.infer import JitTraceMeanField_ELBO, TorchSVI
from pyprogen.models import build
from pyprogen.train import fit

BATCH = 128


def new_model():
    torch.manual_seed(0)
    return build("vae", (1, 28, 28), latent_dim=50, hidden=(200, 200))


def torch_step_fn(model):
    """The same VAE written by hand: reparameterised sample, Bernoulli log-lik, analytic KL."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        loc, scale = model.encoder(x)
        z = loc + scale * torch.randn_like(loc)
        logits = model.decoder(z)
        rec = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="sum")
        kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1 - 2 * scale.log()).sum()
        loss = rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def svi_step_fn(elbo):
    def make(model):
        return SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-3}), elbo()).step
    return make


def torchsvi_step_fn(elbo):
    def make(model):
        return TorchSVI(model.model, model.guide, lambda p: torch.optim.Adam(p, lr=1e-3), elbo(), modules=[model]).step
    return make


STEP_VARIANTS = {
    "torch (hand-written)": torch_step_fn,
    "pyro SVI + Trace_ELBO": svi_step_fn(Trace_ELBO),
    "pyro SVI + TraceMeanField_ELBO": svi_step_fn(TraceMeanField_ELBO),
    "pyro SVI + JitTraceMeanField_ELBO (fixed)": svi_step_fn(JitTraceMeanField_ELBO),
    "TorchSVI + Trace_ELBO": torchsvi_step_fn(Trace_ELBO),
    "TorchSVI + JitTraceMeanField_ELBO (fixed)": torchsvi_step_fn(JitTraceMeanField_ELBO),
}


def time_steps(make, x, steps):
    pyro.clear_param_store()
    model = new_model()
    step = make(model)
    for i in range(5):  # warm-up (JIT compile, optimiser state)
        step(x[i * BATCH:(i + 1) * BATCH])
    t0 = time.perf_counter()
    for i in range(steps):
        j = i % (len(x) // BATCH)
        step(x[j * BATCH:(j + 1) * BATCH])
    return (time.perf_counter() - t0) / steps


EPOCHS = 3  # one-time costs (parameter capture, JIT compile) are paid once per run, as in real use


def hand_epoch(x, out_dir):
    """A hand-written loop with the same shuffling and batch size (no checkpoint, no bar), per epoch."""
    model = new_model()
    step = torch_step_fn(model)
    t0 = time.perf_counter()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            step(x[perm[i:i + BATCH]])
    return (time.perf_counter() - t0) / EPOCHS


def fit_epoch(x, out_dir):
    """pyprogen.train.fit, per epoch of a 3-epoch run: progress bar on, atomic checkpoint + metrics.json
    every epoch, NaN guard, run lock — everything a user gets."""
    model = new_model()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        fit(model, x, epochs=EPOCHS, batch_size=BATCH, out=out_dir, progress=True)
    return (time.perf_counter() - t0) / EPOCHS


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--epoch-points", type=int, default=12800)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = load_dataset("binarized-mnist").x[:args.epoch_points]
    times = {k: [] for k in STEP_VARIANTS}
    epochs = {"hand-written epoch": [], "pyprogen.train.fit epoch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(STEP_VARIANTS)
            random.Random(r).shuffle(order)
            for name in order:
                times[name].append(time_steps(STEP_VARIANTS[name], x, args.steps))
            epochs["hand-written epoch"].append(hand_epoch(x, tmp))
            epochs["pyprogen.train.fit epoch"].append(fit_epoch(x, f"{tmp}/run{r}"))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    base = statistics.median(times["torch (hand-written)"])
    result = {"threads": args.threads, "batch": BATCH, "rounds": args.rounds, "steps": args.steps, "per_step": {},
              "per_epoch": {}}
    print(f"\nper step (median of {args.rounds} rounds x {args.steps} steps, batch {BATCH}):")
    for name, ts in times.items():
        med = statistics.median(ts)
        result["per_step"][name] = {"ms": med * 1e3, "ratio": med / base}
        print(f"  {name:45s} {med * 1e3:7.2f} ms   {med / base:5.2f}x")
    ebase = statistics.median(epochs["hand-written epoch"])
    print(f"per epoch ({args.epoch_points} points, mean of a {EPOCHS}-epoch run):")
    for name, ts in epochs.items():
        med = statistics.median(ts)
        result["per_epoch"][name] = {"s": med, "ratio": med / ebase}
        print(f"  {name:45s} {med:7.2f} s    {med / ebase:5.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
