"""Mode coverage of GAN losses on ring8 / grid25 (Unrolled GAN / VEEGAN / PacGAN protocol).

For each data set, loss and seed: train ``GAN((2,))`` (MLP generator and critic, 2x128) with
``pyprogen.train.fit``, draw 2500 samples and score them with
:func:`pyprogen.metrics.mode_coverage` (high quality within 3σ; a mode counts with at least
1/5 of its expected share, PacGAN's rule). Writes ``OUT/gan_modes.json`` (every run and the
mean ± sd per data set and loss) and ``OUT/gan_modes.png`` (samples of seed 0).

    python benchmarks/gan_modes.py --data ring8 grid25 --losses ns-gan wgan-gp gan-dp --seeds 5 \
        --epochs 40 --out /work/notes/gan
"""
import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from pyprogen.data import load_dataset, toy_modes  # noqa: E402
from pyprogen.io import save_figure, write_json  # noqa: E402
from pyprogen.metrics import mode_coverage  # noqa: E402
from pyprogen.models import build  # noqa: E402
from pyprogen.seeding import set_seed  # noqa: E402
from pyprogen.infer import adversarial_loss  # noqa: E402
from pyprogen.train import fit  # noqa: E402


def parse_loss(spec):
    """``"gan-dp:gamma=0.1"`` -> ``adversarial_loss("gan-dp", gamma=0.1)``."""
    name, _, rest = spec.partition(":")
    kwargs = {k: float(v) for k, v in (item.split("=") for item in rest.split(",") if item)}
    return adversarial_loss(name, **kwargs)


def run_one(data, loss, seed, args):
    x = load_dataset(data).x
    centers, std = toy_modes(data)
    set_seed(seed)
    gan = build("gan", (2,), latent_dim=args.latent_dim)
    lr = args.lr.get(loss.partition(":")[0], args.default_lr)
    t0 = time.perf_counter()
    fit(gan, x, loss=parse_loss(loss), epochs=args.epochs, batch_size=args.batch_size, lr=lr, seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    set_seed(10_000 + seed)
    samples = gan.sample(2500)
    cov = mode_coverage(samples, centers, std=std)
    return {"data": data, "loss": loss, "seed": seed, "lr": lr, "seconds": seconds,
            "generator_steps": args.epochs * (len(x) // args.batch_size), **cov}, samples


def summarise(runs):
    table = []
    for key in sorted({(r["data"], r["loss"]) for r in runs}):
        rs = [r for r in runs if (r["data"], r["loss"]) == key]
        modes = [r["modes_covered"] for r in rs]
        hq = [100 * r["high_quality_fraction"] for r in rs]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        table.append({"data": key[0], "loss": key[1], "seeds": len(rs),
                      "modes_mean": statistics.mean(modes), "modes_sd": sd(modes),
                      "hq_percent_mean": statistics.mean(hq), "hq_percent_sd": sd(hq),
                      "seconds_mean": statistics.mean(r["seconds"] for r in rs)})
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--losses", nargs="+", default=["ns-gan", "wgan-gp", "gan-dp"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--default-lr", type=float, default=1e-3)
    p.add_argument("--lr", nargs="*", default=["wgan-gp=1e-4"], help="per-loss learning rates, NAME=LR")
    # losses may carry keywords: gan-dp:gamma=0.1
    p.add_argument("--out", default="gan_modes_out")
    args = p.parse_args(argv)
    args.lr = {k: float(v) for k, v in (item.split("=") for item in args.lr)}
    torch.set_num_threads(1)
    runs, first = [], {}
    for data in args.data:
        for loss in args.losses:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                result, samples = run_one(data, loss, seed, args)
                runs.append(result)
                first.setdefault((data, loss), samples)
                print(f"{data:7s} {loss:8s} seed {seed}: modes {result['modes_covered']:2d}  "
                      f"hq {100 * result['high_quality_fraction']:5.1f}%  {result['seconds']:.0f}s", flush=True)
                write_json(f"{args.out}/gan_modes.json", {"config": {k: v for k, v in vars(args).items()},
                                                          "runs": runs, "summary": summarise(runs)})
    for row in summarise(runs):
        print(f"{row['data']:7s} {row['loss']:8s} modes {row['modes_mean']:.1f} ± {row['modes_sd']:.1f}  "
              f"hq {row['hq_percent_mean']:.1f} ± {row['hq_percent_sd']:.1f}%")
    fig, axes = plt.subplots(len(args.data), len(args.losses), figsize=(3 * len(args.losses), 3 * len(args.data)),
                             squeeze=False)
    for i, data in enumerate(args.data):
        centers, _ = toy_modes(data)
        for j, loss in enumerate(args.losses):
            ax, s = axes[i][j], first[(data, loss)]
            ax.scatter(s[:, 0], s[:, 1], s=1, alpha=0.4)
            ax.scatter(centers[:, 0], centers[:, 1], s=12, c="red", marker="x")
            ax.set_title(f"{data} {loss} (seed 0)", fontsize=9)
            lim = centers.abs().max().item() + 1.5
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
    save_figure(fig, f"{args.out}/gan_modes.png")


if __name__ == "__main__":
    main()
