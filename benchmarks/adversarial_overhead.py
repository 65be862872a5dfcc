"""Cost of one ``AdversarialSVI`` step of GAN-DP against hand-written PyTorch with the same nets and penalty.

``build("gan", (1, 28, 28))``: the DCGAN generator and critic (width 32, latent 64), MNIST images
in [0, 1], batch 128, GAN-DP (non-saturating loss + γ/2·E_data‖∇D‖², γ = 10; Adam(0.5, 0.999)), one
critic step per generator step, one torch thread. Variants (each a full step: critic update, then
generator update, loss values read back with ``.item()``):

- ``hand-written (one pass on real)``: the real batch's scores serve both the loss and R1 (what a
  hand-written R1 step usually does, and what pyprogen's ``gan-dp`` computes, infer/gan_dp.py);
- ``hand-written (R1 on its own pass)``: the critic scores the real batch once for the loss and once
  more, on a copy that requires grad, for R1 (the same values, one critic forward more);
- ``AdversarialSVI``: fakes drawn through the Pyro model's trace, the registered ``gan-dp`` loss;
- ``AdversarialSVI + guard``: with fit's finite-gradient check (global norm of each optimiser's
  gradients before its update), as ``fit`` runs it.

Variants alternate in rounds (order reshuffled each round); per variant the median CPU time per
step, and the median over rounds of its per-round ratio to each hand-written step.

    python benchmarks/adversarial_overhead.py --rounds 7 --steps 10 --out docs/results/adversarial_overhead.json
"""
import argparse
import os
import statistics
import sys

import pyro
import torch
from torch.nn import functional as F

from pyprogen.data import load_dataset
from pyprogen.infer import AdversarialSVI
from pyprogen.infer.gan_dp import GANDPLoss
from pyprogen.models import build
from pyprogen.train.guard import guard_step
from alternating import paired_ratio, time_steps, write_result  # benchmarks/alternating.py

BATCH, GAMMA, LR = 128, 10.0, 2e-4


def new_gan():
    torch.manual_seed(0)
    return build("gan", (1, 28, 28), net="conv", latent_dim=64, width=32)


def adam(params):
    return torch.optim.Adam(params, lr=LR, betas=(0.5, 0.999))


def hand_written(one_pass):
    def make():
        gan = new_gan()
        G, D = gan.generator, gan.critic
        opt_g, opt_d = adam(G.parameters()), adam(D.parameters())
        d_params = list(D.parameters())

        def scores(x):
            out = D(x)
            return out.squeeze(-1) if out.dim() >= 2 and out.shape[-1] == 1 else out

        def step(real):
            with torch.no_grad():
                fake = G(torch.randn(len(real), 64))
            if one_pass:
                real = real.detach().requires_grad_(True)
                real_scores = scores(real)
                (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
            else:
                real_scores = scores(real)
                xr = real.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(scores(xr).sum(), xr, create_graph=True)
            penalty = GAMMA / 2 * grad.flatten(1).pow(2).sum(-1).mean()
            critic_loss = F.softplus(-real_scores).mean() + F.softplus(scores(fake)).mean() + penalty
            opt_d.zero_grad(set_to_none=True)
            critic_loss.backward()
            opt_d.step()
            for p in d_params:
                p.requires_grad_(False)
            gen_loss = F.softplus(-scores(G(torch.randn(len(real), 64)))).mean()
            opt_g.zero_grad(set_to_none=True)
            gen_loss.backward()
            opt_g.step()
            for p in d_params:
                p.requires_grad_(True)
            return gen_loss.item(), critic_loss.item(), penalty.item()

        return step

    return make


def pyprogen_step(guard):
    def make():
        pyro.clear_param_store()
        step = AdversarialSVI.for_model(new_gan(), GANDPLoss(gamma=GAMMA), LR)
        step.initialise(torch.zeros(BATCH, 1, 28, 28))
        if guard:
            guard_step(step)
        return step.step

    return make


VARIANTS = {"hand-written (one pass on real)": hand_written(True),
            "hand-written (R1 on its own pass)": hand_written(False),
            "AdversarialSVI": pyprogen_step(False),
            "AdversarialSVI + guard": pyprogen_step(True)}
BASES = ("hand-written (one pass on real)", "hand-written (R1 on its own pass)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = load_dataset("mnist").x[:BATCH * 8]
    steps = {name: make() for name, make in VARIANTS.items()}
    for step in steps.values():
        for i in range(3):  # warm-up: optimiser state, first-use costs
            step(x[i * BATCH:(i + 1) * BATCH])
    load = [os.getloadavg()]
    times = time_steps(steps, x, BATCH, rounds=args.rounds, n_steps=args.steps,
                       after_round=lambda r: load.append(os.getloadavg()))
    result = {"command": "python " + " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]), "batch": BATCH, "threads": args.threads, "rounds": args.rounds, "steps": args.steps, "loadavg": load,
              "per_step": {}}
    print(f"one GAN-DP step, DCGAN nets, batch {BATCH} (CPU ms, median of {args.rounds} rounds x {args.steps} steps; "
          f"median per-round ratios):")
    for name in VARIANTS:
        entry = {"cpu_ms": statistics.median(times[name]) * 1e3}
        for base in BASES:
            entry[f"ratio to {base}"] = paired_ratio(times, name, base)
        result["per_step"][name] = entry
        ratios = "  ".join(f"{entry[f'ratio to {b}']:5.3f}x" for b in BASES)
        print(f"  {name:40s} {entry['cpu_ms']:7.2f} ms   vs one-pass / own-pass: {ratios}")
    print(f"load: {os.getloadavg()}")
    write_result(result, args.out)


if __name__ == "__main__":
    main()
