"""Stacked runs vs a loop of single runs, side by side (the stability study's 1-D setting).

Usage: python benchmarks/stability_batching.py [--seeds 5 30] [--steps 50] [--repeats 3] [--methods gan-dp wgan-gp]

For each method and S in --seeds: train S runs (on Beta(2, 5), lr 1e-4, seeds 0..S-1, the study's
4-64-64-1 / 1-64-64-1 MLPs, batch 128) for --steps generator steps
  (a) stacked: one ``RunStack`` of S runs — a ``StackedGAN`` (plate over runs) stepped by
      ``AdversarialSVI``, as the study trains them;
  (b) single:  S ``RunStack``s of one run each, one after another (the same API and code path);
  (c) plain:   S plain PyTorch runs one after another (``nn.Sequential``, the loss's optimiser, a
      hand-written critic/generator alternation as in the loss's paper) — the floor a loop could reach.
The three alternate --repeats times (machine load drifts); reported: median wall and CPU seconds and
the speed-ups single / stacked and plain / stacked. One thread (``torch.set_num_threads(1)``).
"""
import argparse
import os
import statistics
import sys
import time

import torch

from pyprogen.data.targets import parse_target
from pyprogen.experiments.stability import ACTIVATION, make_stack, study_config
from pyprogen.experiments.stacked_runs import training_data
from pyprogen.infer import adversarial_loss
from pyprogen.infer.penalties import interpolation_noise
from pyprogen.nn import mlp

TARGET = "Beta(2, 5)"


def runs(method, seeds):
    return [dict(target=TARGET, method=method, lr=1e-4, seed=s) for s in range(seeds)]


def stacked(cfg, dists, method, seeds, steps):
    stack = make_stack(runs(method, seeds), cfg, dists)
    for _ in range(steps):
        stack.step()


def single(cfg, dists, method, seeds, steps):
    for run in runs(method, seeds):
        stack = make_stack([run], cfg, dists)
        for _ in range(steps):
            stack.step()


def plain(cfg, dists, method, seeds, steps):
    loss = adversarial_loss(method)
    b, k = cfg["batch_size"], cfg["latent_dim"]
    for seed in range(seeds):
        torch.manual_seed(seed)
        G = mlp([k, *cfg["hidden"], 1], ACTIVATION)
        D = mlp([1, *cfg["hidden"], 1], ACTIVATION)
        g_opt, d_opt = loss.make_generator_optimizer(G.parameters(), 1e-4), loss.make_critic_optimizer(D.parameters(), 1e-4)
        data = training_data(dists[TARGET], seed, cfg["train_size"])
        rng = torch.Generator().manual_seed(seed)
        with interpolation_noise(lambda shape, dtype, device: torch.rand(shape, generator=rng, dtype=dtype)):
            for _ in range(steps):
                real = data[torch.randint(len(data), (b,), generator=rng)].unsqueeze(-1)
                for _ in range(loss.critic_steps):
                    fake = G(torch.randn(b, k, generator=rng)).detach()
                    d_opt.zero_grad()
                    loss.critic_loss(D, real, fake)[0].backward()
                    d_opt.step()
                    loss.after_critic_step(D)
                g_opt.zero_grad()
                loss.generator_loss(D, G(torch.randn(b, k, generator=rng))).backward()
                g_opt.step()


def timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 30])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["gan-dp", "wgan-gp"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = study_config()
    dists = {TARGET: parse_target(TARGET)}
    print(f"{TARGET}, lr 1e-4, batch {cfg['batch_size']}, {args.steps} generator steps per run, 1 thread, "
          f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("| method | runs | stacked wall s | single wall s | plain wall s | single/stacked (wall) | "
          "plain/stacked (wall) | stacked CPU s | single CPU s | plain CPU s | single/stacked (CPU) | "
          "plain/stacked (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    kinds = {"stacked": stacked, "single": single, "plain": plain}
    for method in args.methods:
        stacked(cfg, dists, method, 2, 2)  # warm-up
        for s in args.seeds:
            times = {k: [] for k in kinds}
            for _ in range(args.repeats):
                for k, fn in kinds.items():
                    times[k].append(timed(fn, cfg, dists, method, s, args.steps))
            med = {k: [statistics.median(t[i] for t in v) for i in range(2)] for k, v in times.items()}
            w, c = (lambda k: med[k][0]), (lambda k: med[k][1])
            print(f"| {method} | {s} | {w('stacked'):.2f} | {w('single'):.2f} | {w('plain'):.2f} | "
                  f"{w('single') / w('stacked'):.2f}x | {w('plain') / w('stacked'):.2f}x | {c('stacked'):.2f} | "
                  f"{c('single'):.2f} | {c('plain'):.2f} | {c('single') / c('stacked'):.2f}x | "
                  f"{c('plain') / c('stacked'):.2f}x |", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
