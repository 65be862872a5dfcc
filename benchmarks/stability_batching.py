"""Batched seeds vs a loop of separate runs, side by side (the stability study's 1-D GAN-DP setting).

Usage: python benchmarks/stability_batching.py [--seeds 5 30] [--steps 50] [--repeats 3]

For each S in --seeds: train S runs (GAN-DP on Beta(2, 5), lr 1e-4, seeds 0..S-1, the study's
4-64-64-1 / 1-64-64-1 MLPs, batch 128) for --steps generator steps
  (a) batched: one ``RunStack`` of S networks (stacked weights, ``torch.baddbmm``);
  (b) loop:    S plain PyTorch runs one after another (``nn.Sequential`` + ``torch.optim.Adam``).
The two alternate --repeats times (machine load drifts); reported: median wall and CPU seconds
and the speed-up loop / batched. One thread (``torch.set_num_threads(1)``).
"""
import argparse
import statistics
import time

import torch

from pyprogen.data.targets import parse_target
from pyprogen.experiments.stability import ACTIVATION, RunStack, study_config, training_data
from pyprogen.infer import adversarial_loss
from pyprogen.nn import mlp


def batched(cfg, dists, loss, seeds, steps):
    runs = [dict(target="Beta(2, 5)", method="gan-dp", lr=1e-4, seed=s) for s in range(seeds)]
    stack = RunStack(runs, {"gan-dp": loss}, dists, cfg)
    for _ in range(steps):
        stack.step()


def loop(cfg, dists, loss, seeds, steps):
    b, k = cfg["batch_size"], cfg["latent_dim"]
    for seed in range(seeds):
        torch.manual_seed(seed)
        G = mlp([k, *cfg["hidden"], 1], ACTIVATION)
        D = mlp([1, *cfg["hidden"], 1], ACTIVATION)
        g_opt, d_opt = loss.make_generator_optimizer(G.parameters(), 1e-4), loss.make_critic_optimizer(D.parameters(), 1e-4)
        data = training_data(dists["Beta(2, 5)"], seed, cfg["train_size"])
        rng = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            real = data[torch.randint(len(data), (b,), generator=rng)].unsqueeze(-1)
            fake = G(torch.randn(b, k, generator=rng)).detach()
            d_opt.zero_grad()
            loss.critic_loss(D, real, fake)[0].backward()
            d_opt.step()
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
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = study_config()
    dists = {"Beta(2, 5)": parse_target("Beta(2, 5)")}
    loss = adversarial_loss("gan-dp")
    batched(cfg, dists, loss, 2, 2)  # warm-up
    print(f"GAN-DP, Beta(2, 5), batch {cfg['batch_size']}, {args.steps} generator steps per run, 1 thread")
    print("| seeds | batched wall s | loop wall s | speed-up (wall) | batched CPU s | loop CPU s | speed-up (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for s in args.seeds:
        times = {"batched": [], "loop": []}
        for _ in range(args.repeats):
            times["batched"].append(timed(batched, cfg, dists, loss, s, args.steps))
            times["loop"].append(timed(loop, cfg, dists, loss, s, args.steps))
        med = {k: [statistics.median(t[i] for t in v) for i in range(2)] for k, v in times.items()}
        print(f"| {s} | {med['batched'][0]:.2f} | {med['loop'][0]:.2f} | {med['loop'][0] / med['batched'][0]:.2f}x | "
              f"{med['batched'][1]:.2f} | {med['loop'][1]:.2f} | {med['loop'][1] / med['batched'][1]:.2f}x |")


if __name__ == "__main__":
    main()
