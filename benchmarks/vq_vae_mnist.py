"""VQ-VAE on binarized MNIST, then a PixelCNN prior over its 7x7 code grid (van den Oord et al. 2017):
reconstruction error and the bits/dim of the two-stage model.

Stage 1 trains the VQ-VAE (uniform code prior, straight-through estimator, codebook + β·commitment terms)
with ``pyprogen.train.fit``; stage 2 fits a PixelCNN with the 256-way categorical likelihood to the code
grids of the training images (code k as level k), also with ``fit``, and attaches it as the prior.
Reported on the test images: the reconstruction −log p(x | z_q(x)) in nats, the share of pixels whose
thresholded mean reconstruction is wrong, the number of codes in use, the prior's −log p(k(x)) (uniform:
49·ln K), and the bound −log p(x) <= −log p(x | z_q) − log p(k) in nats and bits/dim, for both priors.

    python benchmarks/vq_vae_mnist.py --epochs 5 --prior-epochs 5 --out docs/results/vq_vae_mnist.json
"""
import argparse
import math
import time

import torch

from pyprogen.data import load_dataset
from pyprogen.io import write_json
from pyprogen.models import PixelCNN, build
from pyprogen.seeding import set_seed
from pyprogen.train import fit


@torch.no_grad()
def evaluate(model, x):
    model.eval()
    recon, prior = model.log_prob_bound(x)
    wrong = torch.cat([(model.reconstruct(x[i:i + 500]) > 0.5).float().ne(x[i:i + 500]).float().mean((1, 2, 3))
                       for i in range(0, len(x), 500)])
    bound = -(recon + prior).mean().item()
    return {"reconstruction_nats": -recon.mean().item(), "pixel_error_rate": wrong.mean().item(),
            "prior_nats": -prior.mean().item(), "bound_nats": bound, "bits_per_dim": bound / (784 * math.log(2))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--prior-epochs", type=int, default=5)
    p.add_argument("--num-codes", type=int, default=64)
    p.add_argument("--code-dim", type=int, default=16)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--prior-channels", type=int, default=64)
    p.add_argument("--prior-depth", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    x = load_dataset("binarized-mnist", "train").x
    xt = load_dataset("binarized-mnist", "test").x
    set_seed(a.seed)
    vq = build("vq-vae", (1, 28, 28), num_codes=a.num_codes, code_dim=a.code_dim, width=a.width)
    cpu0 = time.process_time()
    h1 = fit(vq, x, epochs=a.epochs, batch_size=64, lr=1e-3, seed=a.seed, progress=False)
    stage1_cpu = time.process_time() - cpu0
    uniform = evaluate(vq, xt)
    codes = vq.codes(x)
    used = int(torch.unique(codes).numel())
    set_seed(a.seed)
    prior = PixelCNN((1, *vq.grid), likelihood="categorical", channels=a.prior_channels, depth=a.prior_depth)
    cpu1 = time.process_time()
    h2 = fit(prior, codes[:, None].float() / 255.0, epochs=a.prior_epochs, batch_size=64, lr=1e-3, seed=a.seed,
             progress=False)
    stage2_cpu = time.process_time() - cpu1
    vq.set_prior(prior)
    two_stage = evaluate(vq, xt)
    result = {"config": {k: v for k, v in vars(a).items() if k != "out"}, "data": "binarized-mnist (static)",
              "test_images": len(xt), "codes_used": used, "uniform_prior": uniform, "pixelcnn_prior": two_stage,
              "stage1_losses": [e["loss"] for e in h1], "stage2_losses": [e["loss"] for e in h2],
              "stage1_cpu_minutes": stage1_cpu / 60, "stage2_cpu_minutes": stage2_cpu / 60,
              "total_cpu_minutes": time.process_time() / 60}
    print(f"VQ-VAE K={a.num_codes} ({used} codes used): test reconstruction {uniform['reconstruction_nats']:.2f} nats "
          f"({100 * uniform['pixel_error_rate']:.2f} % pixels wrong); bound with the uniform prior "
          f"{uniform['bound_nats']:.2f} nats ({uniform['bits_per_dim']:.4f} bits/dim), with the PixelCNN prior "
          f"{two_stage['bound_nats']:.2f} nats ({two_stage['bits_per_dim']:.4f} bits/dim; prior {two_stage['prior_nats']:.2f} "
          f"nats); CPU min: stage 1 {stage1_cpu / 60:.1f}, stage 2 {stage2_cpu / 60:.1f}")
    if a.out:
        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
