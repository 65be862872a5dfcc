"""Train PixelCNN (or PixelRNN) on binarized MNIST for a fixed CPU budget; report the test NLL.

Exact negative log-likelihood in nats per image on the 10,000 test images (van den Oord et al.
2016, Table 4: PixelCNN 81.30, Row LSTM 80.54, Diagonal BiLSTM 79.20). Training is Pyro SVI with
Trace_ELBO and an empty guide, i.e. maximum likelihood. The budget counts this process's CPU
seconds (``time.process_time``), so other load on a shared machine does not shrink it; ``--wall-minutes``
caps the wall-clock time too (the result records both).

    python benchmarks/pixelcnn_mnist.py --minutes 12 --wall-minutes 55 --out results/pixelcnn_mnist
    python benchmarks/pixelcnn_mnist.py --model pixelrnn --minutes 6 --out results/pixelrnn_mnist

Issue 17's gated PixelCNN at 60 CPU-minutes (docs/results/pixelcnn_gated_mnist.json): bf16 autocast for the
convolutions (``--bf16``; see benchmarks/pixelcnn_bf16.py for the step time), batch 32, Adam 3e-3 under cosine:

    OMP_NUM_THREADS=1 python benchmarks/pixelcnn_mnist.py --gated --channels 48 --depth 8 --minutes 60 --cosine \
        --bf16 --batch-size 32 --lr 3e-3 --valid-images 2000 --out results/pixelcnn_gated
"""
import argparse
import math
import platform
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import pyro
import torch
from tqdm.auto import tqdm

import pyprogen
from pyprogen.io import save_figure, write_json
from pyprogen.models import build
from pyprogen.seeding import set_seed

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_split(split):
    """Binarized MNIST ``(N, 1, 28, 28)`` floats in {0, 1}: through ``pyprogen.data`` when present."""
    try:
        from pyprogen.data import load_dataset
        return torch.as_tensor(load_dataset("binarized-mnist", split=split).x).float().reshape(-1, 1, 28, 28)
    except ImportError:
        path = Path(pyprogen.__file__).parent / "data" / "files" / "binarized_mnist.npz"
        with np.load(path) as d:
            return torch.from_numpy(d[split].astype(np.float32)).reshape(-1, 1, 28, 28)


@torch.no_grad()
def test_nll(model, x, batch_size=100):
    """Mean exact -log p(x) in nats per image."""
    return -torch.cat([model.log_prob(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).mean().item()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pixelcnn", choices=["pixelcnn", "pixelrnn"])
    p.add_argument("--minutes", type=float, default=12.0, help="CPU-minute training budget")
    p.add_argument("--wall-minutes", type=float, default=None,
                   help="also stop at this wall-clock time (a shared machine may give less CPU than asked)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--depth", type=int, default=None, help="blocks (pixelcnn, default 5) or LSTM layers (default 2)")
    p.add_argument("--gated", action="store_true")
    p.add_argument("--cosine", action="store_true",
                   help="decay the learning rate to 0 over the CPU budget (lr * (1 + cos(pi * used / budget)) / 2)")
    p.add_argument("--bf16", action="store_true",
                   help="train under torch.autocast(bfloat16) (convolutions in bf16, weights, loss and the test NLL in fp32)")
    p.add_argument("--test-images", type=int, default=None,
                   help="score only the first N test images (a quick look; the default is all 10,000; to choose "
                        "between runs use --valid-images, not the test set)")
    p.add_argument("--valid-images", type=int, default=0,
                   help="also score N evenly spaced validation images (to choose between runs without the test set)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="directory for result.json and samples.png")
    a = p.parse_args(argv)
    if a.test_images is not None and not 1 <= a.test_images <= 10000:
        p.error(f"--test-images: expected 1..10000, got {a.test_images}")
    if not 0 <= a.valid_images <= 10000:
        p.error(f"--valid-images: expected 0..10000, got {a.valid_images}")

    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    train, test = load_split("train"), load_split("test")
    kw = {"channels": a.channels, "likelihood": "bernoulli"}
    if a.depth is not None:
        kw["depth"] = a.depth
    if a.gated:
        kw["gated"] = True
    model = build(a.model, (1, 28, 28), **kw)
    if a.test_images is not None:
        test = test[:a.test_images]
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": a.lr}), model.default_loss())
    budget, cpu0, wall0 = 60 * a.minutes, time.process_time(), time.time()
    steps, epochs, history = 0, 0.0, []
    bar = tqdm(total=int(budget), desc=f"{a.model} CPU s", unit="s")
    done = False
    while not done:
        perm = torch.randperm(len(train))
        running = []
        for b in range(0, len(train), a.batch_size):
            batch = train[perm[b:b + a.batch_size]]
            if a.cosine:
                frac = min(1.0, (time.process_time() - cpu0) / budget)
                for opt in svi.optim.optim_objs.values():
                    for g in opt.param_groups:
                        g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * frac))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                running.append(svi.step(batch) / len(batch))
            steps += 1
            epochs += len(batch) / len(train)
            used = time.process_time() - cpu0
            bar.n = min(int(used), int(budget))
            bar.set_postfix(nll=f"{np.mean(running[-50:]):.2f}", epoch=f"{epochs:.2f}")
            if used >= budget or (a.wall_minutes is not None and time.time() - wall0 >= 60 * a.wall_minutes):
                done = True
                break
        history.append({"epochs": round(epochs, 4), "train_nll_last50": float(np.mean(running[-50:]))})
    bar.close()
    train_cpu, train_wall = time.process_time() - cpu0, time.time() - wall0
    t0 = time.process_time()
    nll = test_nll(model, test)
    eval_cpu = time.process_time() - t0
    valid_nll = None
    if a.valid_images:
        valid = load_split("valid")
        valid_nll = test_nll(model, valid[::len(valid) // a.valid_images][:a.valid_images])
    result = {"model": a.model, "config": vars(a), "parameters": sum(q.numel() for q in model.parameters()),
              "epochs": round(epochs, 3), "steps": steps, "train_cpu_minutes": train_cpu / 60,
              "train_wall_minutes": train_wall / 60, "test_nll_nats": nll, "test_images": len(test),
              "valid_nll_nats": valid_nll, "valid_images": a.valid_images,
              "test_bits_per_dim": nll / (784 * math.log(2)), "eval_cpu_seconds": eval_cpu, "history": history,
              "reference_nats": {"PixelCNN": 81.30, "Row LSTM": 80.54, "Diagonal BiLSTM": 79.20},
              "machine": f"shared 2-core CPU ({platform.machine()}), {a.threads} torch thread(s), torch {torch.__version__}",
              "command": f"OMP_NUM_THREADS={a.threads} python benchmarks/pixelcnn_mnist.py " + " ".join(sys.argv[1:])}
    print(f"{a.model}: {result['parameters']} parameters, {epochs:.2f} epochs ({steps} steps) in "
          f"{train_cpu / 60:.1f} CPU min ({train_wall / 60:.1f} wall min); test NLL {nll:.2f} nats "
          f"({result['test_bits_per_dim']:.4f} bits/dim); van den Oord 2016: PixelCNN 81.30, Row LSTM 80.54")
    if a.out:
        t0 = time.time()
        images = model.sample(16)
        result["sample_seconds_16"] = time.time() - t0
        write_json(f"{a.out}/result.json", result)
        torch.save(model.net.state_dict(), f"{a.out}/net.pt")
        fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
        for ax, img in zip(axes.flat, images):
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
        fig.suptitle(f"{a.model}, test NLL {nll:.1f} nats after {epochs:.2f} epochs (cached sampler)")
        save_figure(fig, f"{a.out}/samples.png")
    return result


if __name__ == "__main__":
    main()
