"""Training cost of ``fit`` against a hand-written PyTorch loop with the same nets and math.

The model is a user's own Pyro VAE — a ``GenerativeModel`` subclass holding plain ``nn.Sequential``
nets, as in the README (784-200-200-50 tanh, Bernoulli likelihood, Normal(0, I) prior, diagonal
Normal guide) — trained by ``fit(..., loss=JitTraceMeanField_ELBO())``: analytic KL, the loss
recorded once (infer/compiled.py), progress bar on (into a buffer), ``out=`` set so that every
epoch writes the checkpoint and metrics.json atomically, NaN guard, run lock: everything a user
gets. The hand-written loop trains a copy of the same nets (same initial weights) with the same
math (reparameterised sample, ``binary_cross_entropy_with_logits`` summed, analytic KL), Adam 1e-3,
batch 128, a fresh permutation per epoch and the ragged tail dropped, with no checkpoint or bar.

Runs: a one-epoch run and a ``--long-epochs`` run, each timed from the call (fit: data checks,
step object, recording the loss, optimiser, epochs, checkpoints; hand-written: optimiser and
epochs) — one-time costs included, as a user pays them. Variants alternate in rounds (order
reshuffled each round); each ratio is the median over rounds of the per-round ratio, for process
CPU time (robust to other load on the machine) and wall time (which also holds the checkpoint's
fsync). ``build("vae")`` with its default loss is timed on the one-epoch run too. One torch thread.

``--breakdown`` adds one-epoch runs that peel fit's excess one layer at a time: the hand-written
loop driving pyprogen's step object (``TorchSVI`` + the compiled ELBO), the same with fit's
finite-gradient check, and ``fit`` without bar and files.

Per step (``--steps``): the hand-written step against Pyro's SVI and pyprogen's TorchSVI with
several ELBOs (and the guard), in alternating rounds of CPU time.

    python benchmarks/fit_overhead.py --rounds 5 --long-epochs 5 --breakdown --out docs/results/fit_overhead.json
"""
import argparse
import contextlib
import copy
import io
import os
import random
import statistics
import sys
import tempfile
import time

import pyro
import pyro.distributions as dist
import pyro.optim
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from torch import nn
from torch.nn import functional as F

from pyprogen.data import load_dataset
from pyprogen.infer import JitTraceMeanField_ELBO, TorchSVI
from pyprogen.models import GenerativeModel, build
from pyprogen.train import fit
from pyprogen.train.guard import guard_step
from alternating import paired_ratio, time_steps, write_result  # benchmarks/alternating.py

BATCH = 128


class UserVAE(GenerativeModel):
    """A user's VAE in Pyro syntax (the README's pattern): plain nn.Sequential nets, no pyro.module."""

    def __init__(self, k=50, h=200):
        super().__init__((1, 28, 28), latent_dim=k)
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(),
                                 nn.Linear(h, 2 * k))
        self.dec = nn.Sequential(nn.Linear(k, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 784))

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.zeros(n, self.latent_dim), 1.0).to_event(1))
            obs = None if x is None else x.reshape(n, -1)
            return pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=obs)

    def guide(self, x=None, n=None):
        loc, log_scale = self.enc(x).chunk(2, -1)
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))


def new_user_vae():
    torch.manual_seed(0)
    return UserVAE()


def hand_step(enc, dec):
    """The user VAE's loss and update written by hand (same nets, same math)."""
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)

    def step(x):
        loc, log_scale = enc(x).chunk(2, -1)
        scale = log_scale.exp()
        z = loc + scale * torch.randn_like(loc)
        rec = F.binary_cross_entropy_with_logits(dec(z), x.reshape(len(x), -1), reduction="sum")
        kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1 - 2 * log_scale).sum()
        loss = rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def hand_run(x, epochs, out_dir):
    model = new_user_vae()
    enc, dec = copy.deepcopy(model.enc), copy.deepcopy(model.dec)
    t0, c0 = time.perf_counter(), time.process_time()
    step = hand_step(enc, dec)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            step(x[perm[i:i + BATCH]])
    return time.process_time() - c0, time.perf_counter() - t0


def step_run(x, epochs, out_dir, guard=False):
    """The hand-written loop driving pyprogen's step object (TorchSVI + the compiled ELBO), optionally with
    fit's finite-gradient check: what the loss and step cost without fit's loop, data checks and files."""
    model = new_user_vae()
    t0, c0 = time.perf_counter(), time.process_time()
    step = TorchSVI.for_model(model, JitTraceMeanField_ELBO(), 1e-3)
    step.initialise(x[:BATCH])
    if guard:
        guard_step(step)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            step.step(x[perm[i:i + BATCH]])
    return time.process_time() - c0, time.perf_counter() - t0


def fit_run(x, epochs, out_dir, make=new_user_vae, loss=JitTraceMeanField_ELBO, files=True):
    """``fit`` with progress bar and per-epoch checkpoint (``files``), or with neither."""
    model = make()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):
        fit(model, x, loss=None if loss is None else loss(), epochs=epochs, batch_size=BATCH,
            out=out_dir if files else None, progress=files)
    return time.process_time() - c0, time.perf_counter() - t0


def build_vae():
    torch.manual_seed(0)
    return build("vae", (1, 28, 28), latent_dim=50, hidden=(200, 200))


# -- per step -----------------------------------------------------------------------------------
def step_variants():
    def hand(model):
        return hand_step(model.enc, model.dec)

    def pyro_svi(elbo):
        def make(model):  # Pyro's SVI trains what pyro.module registers, so the user adds the calls
            def model_fn(x):
                pyro.module("dec", model.dec)
                return model.model(x)

            def guide_fn(x):
                pyro.module("enc", model.enc)
                return model.guide(x)

            return SVI(model_fn, guide_fn, pyro.optim.Adam({"lr": 1e-3}), elbo()).step
        return make

    def torch_svi(elbo):
        return lambda model: TorchSVI(model.model, model.guide, lambda p: torch.optim.Adam(p, lr=1e-3), elbo(),
                                      modules=[model]).step

    def guarded(model):
        step = TorchSVI.for_model(model, JitTraceMeanField_ELBO(), 1e-3)
        step.initialise(torch.zeros(BATCH, 1, 28, 28))
        guard_step(step)
        return step.step

    return {"hand-written": hand,
            "pyro SVI + Trace_ELBO": pyro_svi(Trace_ELBO),
            "pyro SVI + TraceMeanField_ELBO": pyro_svi(TraceMeanField_ELBO),
            "pyro SVI + JitTraceMeanField_ELBO": pyro_svi(JitTraceMeanField_ELBO),
            "TorchSVI + Trace_ELBO": torch_svi(Trace_ELBO),
            "TorchSVI + TraceMeanField_ELBO": torch_svi(TraceMeanField_ELBO),
            "TorchSVI + JitTraceMeanField_ELBO": torch_svi(JitTraceMeanField_ELBO),
            "TorchSVI + JitTraceMeanField_ELBO + guard": guarded}


def per_step(x, rounds, steps):
    """Median CPU ms per step and median per-round ratio to the hand-written step."""
    variants = step_variants()
    made = {}
    for name, make in variants.items():
        pyro.clear_param_store()
        made[name] = make(new_user_vae())
        for i in range(5):
            made[name](x[i * BATCH:(i + 1) * BATCH])
    times = time_steps(made, x, BATCH, rounds=rounds, n_steps=steps)
    return {n: {"cpu_ms": statistics.median(t) * 1e3, "ratio": paired_ratio(times, n, "hand-written")}
            for n, t in times.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--points", type=int, default=50000, help="points per epoch (binarized MNIST train has 50,000)")
    p.add_argument("--long-epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=40, help="steps per round of the per-step table (0: skip it)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--breakdown", action="store_true",
                   help="also time the step object in a hand-written loop, with the guard, and fit without bar/files")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = load_dataset("binarized-mnist").x[:args.points]
    runs = {"hand-written, 1 epoch": lambda d: hand_run(x, 1, d),
            "fit (user VAE), 1 epoch": lambda d: fit_run(x, 1, d),
            f"hand-written, {args.long_epochs} epochs": lambda d: hand_run(x, args.long_epochs, d),
            f"fit (user VAE), {args.long_epochs} epochs": lambda d: fit_run(x, args.long_epochs, d),
            "fit (build('vae'), default loss), 1 epoch": lambda d: fit_run(x, 1, d, build_vae, None)}
    pairs = {"fit (user VAE), 1 epoch": "hand-written, 1 epoch",
             f"fit (user VAE), {args.long_epochs} epochs": f"hand-written, {args.long_epochs} epochs",
             "fit (build('vae'), default loss), 1 epoch": "hand-written, 1 epoch"}
    if args.breakdown:  # where fit's excess goes, one layer at a time (one-epoch runs)
        runs.update({"hand loop + TorchSVI step, 1 epoch": lambda d: step_run(x, 1, d),
                     "hand loop + TorchSVI step + guard, 1 epoch": lambda d: step_run(x, 1, d, guard=True),
                     "fit without bar and files, 1 epoch": lambda d: fit_run(x, 1, d, files=False)})
        pairs.update({"hand loop + TorchSVI step, 1 epoch": "hand-written, 1 epoch",
                      "hand loop + TorchSVI step + guard, 1 epoch": "hand loop + TorchSVI step, 1 epoch",
                      "fit without bar and files, 1 epoch": "hand loop + TorchSVI step + guard, 1 epoch",
                      "fit (user VAE), 1 epoch ": "fit without bar and files, 1 epoch"})
    load = [os.getloadavg()]
    cpu, wall = {k: [] for k in runs}, {k: [] for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        hand_run(x[:4 * BATCH], 1, None)  # warm-up: imports and first-use costs of the process, untimed
        fit_run(x[:4 * BATCH], 1, f"{tmp}/warm")
        for r in range(args.rounds):
            order = list(runs)
            random.Random(r).shuffle(order)
            for name in order:
                c, w = runs[name](f"{tmp}/r{r}-{abs(hash(name))}")
                cpu[name].append(c)
                wall[name].append(w)
            load.append(os.getloadavg())
            print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)
    result = {"command": "python " + " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]), "threads": args.threads, "batch": BATCH, "points": args.points, "rounds": args.rounds,
              "loadavg": load, "runs": {}, "ratios": {}}
    print(f"\nruns ({args.points} points per epoch; medians over {args.rounds} rounds):")
    for name in runs:
        result["runs"][name] = {"cpu_s": statistics.median(cpu[name]), "wall_s": statistics.median(wall[name])}
        print(f"  {name:48s} cpu {result['runs'][name]['cpu_s']:7.2f} s   wall {result['runs'][name]['wall_s']:7.2f} s")
    print("ratios (median over rounds of the per-round ratio):")
    for name, base in pairs.items():
        rc = statistics.median(a / b for a, b in zip(cpu[name.strip()], cpu[base]))
        rw = statistics.median(a / b for a, b in zip(wall[name.strip()], wall[base]))
        result["ratios"][f"{name.strip()} / {base}"] = {"cpu": rc, "wall": rw}
        print(f"  {name.strip():44s} / {base:44s} cpu {rc:5.3f}x   wall {rw:5.3f}x")
    if args.steps:
        result["per_step"] = per_step(x, args.rounds, args.steps)
        print(f"per step (CPU, median of {args.rounds} rounds x {args.steps} steps; ratio to hand-written):")
        for name, v in result["per_step"].items():
            print(f"  {name:48s} {v['cpu_ms']:6.2f} ms  {v['ratio']:5.3f}x")
    print(f"load: {os.getloadavg()}")
    write_result(result, args.out)


if __name__ == "__main__":
    main()
